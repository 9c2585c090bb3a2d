//! The configuration of every command, loaded by the same rules: the
//! command's defaults (a TOML file of this repository, compiled in), then a
//! file given with `--config`, then `TRACEPIPE_<SECTION>_<KEY>` environment
//! variables, then the command's flags (applied by the command). A key the
//! defaults do not have is refused, with its full name, wherever it comes
//! from; an environment value takes the type of the default it replaces.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::{Table, Value};

const ENV_PREFIX: &str = "TRACEPIPE";

/// A value that must never reach a log: its `Debug` and `Display` mask it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What is wrong with a configuration, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("reading {path}: {source}", path = path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name}: unknown key `{key}`")]
    UnknownKey { source_name: String, key: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// Loads `T` from `defaults` (named `defaults_name` in errors), then `file`,
/// then the `env` (name, value) pairs whose names the defaults have.
pub fn load<T: DeserializeOwned>(
    defaults_name: &str,
    defaults: &str,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut table = parse(defaults_name, defaults)?;
    let mut last_source = defaults_name.to_owned();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let source_name = path.display().to_string();
        let overlay = parse(&source_name, &text)?;
        overlay_onto(&mut table, overlay, "", &source_name)?;
        last_source = source_name;
    }
    let env: Vec<(String, String)> = env.into_iter().collect();
    apply_env(&mut table, ENV_PREFIX, &env)?;
    T::deserialize(Value::Table(table)).map_err(|e| ConfigError::Parse {
        source_name: last_source,
        message: e.to_string(),
    })
}

fn parse(source_name: &str, text: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::Parse {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })
}

/// Overlays `overlay` onto `base`; a key `base` lacks is refused here, with
/// its full name, before serde would say it less precisely.
fn overlay_onto(
    base: &mut Table,
    overlay: Table,
    at: &str,
    source_name: &str,
) -> Result<(), ConfigError> {
    // A table the defaults leave empty is a map whose keys are the file's
    // (`[pricing.models]`, keyed by model); serde checks its values.
    let open = base.is_empty();
    for (key, value) in overlay {
        let name = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(Value::Table(inner)), Value::Table(value)) => {
                overlay_onto(inner, value, &name, source_name)?
            }
            (Some(slot), value) if !slot.is_table() => *slot = value,
            (Some(_), _) => {
                return Err(ConfigError::Parse {
                    source_name: source_name.to_owned(),
                    message: format!("`{name}` must be a table"),
                })
            }
            (None, value) if open => {
                base.insert(key, value);
            }
            (None, _) => {
                return Err(ConfigError::UnknownKey {
                    source_name: source_name.to_owned(),
                    key: name,
                })
            }
        }
    }
    Ok(())
}

/// Sets every key whose `PREFIX_<PATH>` variable is present, parsed as the
/// default's type.
fn apply_env(table: &mut Table, prefix: &str, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        let name = format!("{prefix}_{}", key.to_ascii_uppercase());
        if let Value::Table(inner) = value {
            apply_env(inner, &name, env)?;
            continue;
        }
        let Some((_, text)) = env.iter().find(|(k, _)| *k == name) else {
            continue;
        };
        let bad = |what: &str| ConfigError::Env {
            name: name.clone(),
            message: format!("expected {what}"),
        };
        if text.contains('\0') {
            return Err(bad("text without NUL"));
        }
        *value = match value {
            Value::String(_) => Value::String(text.clone()),
            Value::Integer(_) => {
                Value::Integer(text.trim().parse().map_err(|_| bad("an integer"))?)
            }
            Value::Float(_) => Value::Float(
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| bad("a number"))?,
            ),
            Value::Boolean(_) => {
                Value::Boolean(text.trim().parse().map_err(|_| bad("true or false"))?)
            }
            // A list of text (hosts, say): comma-separated, as a deployment's
            // environment can give it.
            Value::Array(items) if items.iter().all(Value::is_str) => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
            _ => return Err(bad("a value this key cannot take from the environment")),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        limits: Limits,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        max: u64,
        ratio: f64,
        strict: bool,
    }

    const DEFAULTS: &str = "name = \"a\"\n[limits]\nmax = 1\nratio = 0.5\nstrict = false\n";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "name = \"b\"\n[limits]\nmax = 2\n").expect("write");
        let loaded: Sample = load(
            "defaults",
            DEFAULTS,
            Some(&file),
            env(&[("TRACEPIPE_LIMITS_MAX", "3"), ("TRACEPIPE_OTHER", "x")]),
        )
        .expect("loads");
        assert_eq!(
            loaded,
            Sample {
                name: "b".into(),
                limits: Limits {
                    max: 3,
                    ratio: 0.5,
                    strict: false
                }
            }
        );
    }

    #[test]
    fn lists_of_text_come_from_the_environment_comma_separated() {
        #[derive(Debug, serde::Deserialize)]
        struct Hosts {
            hosts: Vec<String>,
        }
        let loaded: Hosts = load(
            "defaults",
            "hosts = []\n",
            None,
            env(&[("TRACEPIPE_HOSTS", " 127.0.0.1, ::1 ,,")]),
        )
        .expect("loads");
        assert_eq!(loaded.hosts, ["127.0.0.1", "::1"]);
        let empty: Hosts = load(
            "defaults",
            "hosts = [\"a\"]\n",
            None,
            env(&[("TRACEPIPE_HOSTS", "")]),
        )
        .expect("loads");
        assert!(empty.hosts.is_empty());
    }

    #[test]
    fn unknown_keys_and_mistyped_environment_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[limits]\nmaximum = 2\n").expect("write");
        let err = load::<Sample>("defaults", DEFAULTS, Some(&file), env(&[])).expect_err("refused");
        assert!(
            err.to_string().contains("unknown key `limits.maximum`"),
            "{err}"
        );
        let err = load::<Sample>(
            "defaults",
            DEFAULTS,
            None,
            env(&[("TRACEPIPE_LIMITS_STRICT", "yes")]),
        )
        .expect_err("refused");
        assert!(
            err.to_string()
                .contains("TRACEPIPE_LIMITS_STRICT: expected true or false"),
            "{err}"
        );
        let err = load::<Sample>(
            "defaults",
            DEFAULTS,
            None,
            env(&[("TRACEPIPE_LIMITS_RATIO", "NaN")]),
        )
        .expect_err("refused");
        assert!(err.to_string().contains("a number"), "{err}");
    }
}
