//! `tracepipe serve` configuration: one typed struct whose defaults live in the
//! checked-in `config/serve.toml`, loaded by the rules every command shares
//! (tracepipe_telemetry::config: defaults, file, `TRACEPIPE_…` environment), then
//! command-line flags. Environment variables are derived from the keys of the
//! defaults, so only known keys have one; other `TRACEPIPE_*` variables belong
//! to other tools and are ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::admission::AdmissionConfig;
pub use crate::config::Secret;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The defaults, compiled in so that the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../../../config/serve.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Empty: the platform's data directory (see [`ServeConfig::resolved_data_dir`]).
    pub data_dir: PathBuf,
    pub catalog: PathBuf,
    pub admin_display_name: String,
    pub processing: ProcessingConfig,
    pub limits: LimitsConfig,
    pub admission: AdmissionConfig,
    pub tables: TablesConfig,
    pub pricing: PricingConfig,
    pub web: crate::web::WebConfig,
    pub billing: BillingConfig,
    pub callbacks: crate::callbacks::CallbacksConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfig {
    pub workers: usize,
    pub queue_capacity: usize,
    pub browser_mcp_server: String,
    pub shutdown_grace_secs: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_upload_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_json_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub upload_timeout_secs: u64,
    pub max_events: usize,
    pub max_actions: usize,
    pub max_output_bytes: usize,
    /// The MCP endpoint's `upload_session`: largest recording sent inline
    /// (base64), decoded.
    pub mcp_max_inline_upload_bytes: u64,
    /// Hosts `upload_session` may fetch a recording from by URL; none by
    /// default.
    pub mcp_fetch_allowed_hosts: Vec<String>,
    /// Whether an allowed host may resolve to a loopback, private or
    /// link-local address (off: no requests into the operator's network).
    pub mcp_fetch_private_addresses: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablesConfig {
    pub flush_interval_secs: u64,
}

/// The one price list (no tiers): what `GET /usage` estimates and the
/// month's invoice bills, through [`crate::invoicing::pricing`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    pub usd_per_gb_hour: f64,
    /// Tokens of a model not listed in `models`, per 1 000.
    pub usd_per_1k_tokens: f64,
    /// Per model, keyed `provider/name` as usage is.
    #[serde(default)]
    pub models: BTreeMap<String, ModelPrice>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub usd_per_1k_tokens: f64,
}

/// Billing through Stripe: off while `stripe_secret_key` is empty (then
/// invoices are computed from the price list and marked not billed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    pub stripe_secret_key: Secret,
    /// Stripe's API; stripe-mock's address in tests.
    pub stripe_api_base: String,
    /// The signing secret of the webhook endpoint (`whsec_…`).
    pub webhook_secret: Secret,
    pub webhook_tolerance_secs: u64,
    /// Where Stripe's Checkout and portal send the browser back; empty: the
    /// payment page at the address the request came to.
    pub return_url: String,
    /// Closes the previous month once it has ended, once.
    pub scheduled_close: bool,
    /// Pay-per-Example purchases: the deposit taken, in cents.
    pub deposit_cents: i64,
    /// What a COMPLETED purchased Example costs of its deposit, in cents.
    pub example_price_cents: i64,
    /// How long after its purchase an Example is handed out.
    pub deposit_hold_secs: u64,
}

impl BillingConfig {
    pub fn stripe_enabled(&self) -> bool {
        !self.stripe_secret_key.expose().is_empty()
    }
}

pub use crate::config::ConfigError;

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub catalog: Option<PathBuf>,
}

impl ServeConfig {
    /// Builds the configuration from the defaults, `file` (if any), the given
    /// environment and the command-line overrides.
    pub fn load<I>(file: Option<&Path>, env: I, overrides: &Overrides) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut config: ServeConfig =
            crate::config::load("config/serve.toml (built in)", DEFAULTS, file, env)?;
        if let Some(l) = overrides.listen {
            config.listen = l;
        }
        if let Some(d) = &overrides.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(c) = &overrides.catalog {
            config.catalog = c.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    key: key.into(),
                    message: "must be at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("processing.workers", self.processing.workers as u64)?;
        positive(
            "processing.queue_capacity",
            self.processing.queue_capacity as u64,
        )?;
        positive("limits.max_upload_bytes", self.limits.max_upload_bytes)?;
        positive(
            "limits.max_decompressed_bytes",
            self.limits.max_decompressed_bytes,
        )?;
        positive(
            "limits.max_json_body_bytes",
            self.limits.max_json_body_bytes as u64,
        )?;
        positive(
            "limits.request_timeout_secs",
            self.limits.request_timeout_secs,
        )?;
        positive(
            "limits.upload_timeout_secs",
            self.limits.upload_timeout_secs,
        )?;
        positive("limits.max_events", self.limits.max_events as u64)?;
        positive("limits.max_actions", self.limits.max_actions as u64)?;
        positive(
            "limits.max_output_bytes",
            self.limits.max_output_bytes as u64,
        )?;
        positive(
            "processing.max_attempts",
            u64::from(self.processing.max_attempts),
        )?;
        positive(
            "tables.flush_interval_secs",
            self.tables.flush_interval_secs,
        )?;
        crate::invoicing::pricing::check(&self.pricing).map_err(|(key, message)| {
            ConfigError::Invalid {
                key: key.into(),
                message,
            }
        })?;
        self.admission
            .validate()
            .map_err(|message| ConfigError::Invalid {
                key: "admission".into(),
                message,
            })?;
        if self.admin_display_name.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "admin_display_name".into(),
                message: "is empty".into(),
            });
        }
        Ok(())
    }

    /// `data_dir`, or `$XDG_DATA_HOME/tracepipe`, or `$HOME/.local/share/tracepipe`.
    pub fn resolved_data_dir<F>(&self, var: F) -> Result<PathBuf, ConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        if !self.data_dir.as_os_str().is_empty() {
            return Ok(self.data_dir.clone());
        }
        if let Some(xdg) = var("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(xdg).join("tracepipe"));
        }
        match var("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".local/share/tracepipe")),
            None => Err(ConfigError::Invalid {
                key: "data_dir".into(),
                message: "no data directory: set TRACEPIPE_DATA_DIR (neither XDG_DATA_HOME nor HOME is set)".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("serve.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).expect("write config");
        }
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        ServeConfig::load(file.map(|_| path.as_path()), env, &Overrides::default())
    }

    #[test]
    fn defaults_load() {
        let c = load(None, &[]).expect("defaults are valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.processing.workers, 2);
        assert!(c.data_dir.as_os_str().is_empty());
    }

    #[test]
    fn file_then_env_then_flags() {
        let file = "listen = \"127.0.0.1:9000\"\n[limits]\nmax_upload_bytes = 10\n";
        let c = load(
            Some(file),
            &[
                ("TRACEPIPE_LIMITS_MAX_UPLOAD_BYTES", "20"),
                ("TRACEPIPE_DATA_DIR", "/tmp/x"),
            ],
        )
        .expect("valid");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.max_upload_bytes, 20);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        // Sibling keys of an overridden section keep their defaults.
        assert_eq!(c.limits.request_timeout_secs, 30);

        let flags = Overrides {
            listen: Some("127.0.0.1:1".parse().expect("addr")),
            ..Overrides::default()
        };
        let c = ServeConfig::load(None, std::iter::empty(), &flags).expect("valid");
        assert_eq!(c.listen.port(), 1);
    }

    #[test]
    fn models_are_priced_from_a_file_and_the_stripe_key_from_the_environment() {
        let c = load(None, &[]).expect("defaults");
        assert!(!c.billing.stripe_enabled(), "billing is off by default");
        assert!(c.pricing.models.is_empty());
        let file = "[pricing.models]\n\"openai/gpt-4o\" = { usd_per_1k_tokens = 0.005 }\n";
        let c = load(
            Some(file),
            &[(
                "TRACEPIPE_BILLING_STRIPE_SECRET_KEY",
                "sk_test_abcdefMUSTNOTLEAK",
            )],
        )
        .expect("valid");
        assert_eq!(c.pricing.models["openai/gpt-4o"].usd_per_1k_tokens, 0.005);
        assert!(c.billing.stripe_enabled());
        assert!(
            !format!("{c:?}").contains("MUSTNOTLEAK"),
            "the key is masked"
        );
        let bad = "[pricing.models]\n\"x/y\" = { usd_per_1k_tokens = -1 }\n";
        assert!(load(Some(bad), &[]).is_err());
    }

    #[test]
    fn admission_limits_are_on_by_default_and_set_like_any_key() {
        let c = load(None, &[]).expect("defaults");
        assert!(c.admission.requests_per_minute > 0);
        assert!(c.admission.max_concurrent_uploads_per_key > 0);
        assert!(c.admission.min_upload_bytes_per_sec > 0);
        let c = load(
            Some("[admission]\nrequests_per_minute = 5\n"),
            &[("TRACEPIPE_ADMISSION_HEADER_READ_TIMEOUT_SECS", "3")],
        )
        .expect("valid");
        assert_eq!(c.admission.requests_per_minute, 5);
        assert_eq!(c.admission.header_read_timeout_secs, 3);
        let err = load(None, &[("TRACEPIPE_ADMISSION_MAX_PART_HEADER_BYTES", "10")])
            .expect_err("too small a part header cap");
        assert!(err.to_string().contains("max_part_header_bytes"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = load(Some("[limits]\nmax_upload_byte = 1\n"), &[]).expect_err("typo");
        assert!(err.to_string().contains("max_upload_byte"), "{err}");
        let err = load(Some("colour = \"blue\"\n"), &[]).expect_err("unknown");
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn foreign_env_is_ignored_and_bad_env_is_an_error() {
        load(
            None,
            &[
                ("TRACEPIPE_API_KEY", "tp_live_x"),
                ("TRACEPIPE_CACHE", "/c"),
            ],
        )
        .expect("ignored");
        let err =
            load(None, &[("TRACEPIPE_PROCESSING_WORKERS", "many")]).expect_err("not a number");
        assert!(
            err.to_string()
                .contains("TRACEPIPE_PROCESSING_WORKERS: expected an integer"),
            "{err}"
        );
        let err = load(None, &[("TRACEPIPE_PROCESSING_WORKERS", "0")]).expect_err("zero");
        assert!(err.to_string().contains("processing.workers"), "{err}");
    }

    #[test]
    fn data_dir_falls_back_to_xdg_then_home() {
        let c = load(None, &[]).expect("defaults");
        let xdg = c.resolved_data_dir(|k| (k == "XDG_DATA_HOME").then(|| "/xdg".to_string()));
        assert_eq!(xdg.expect("xdg"), PathBuf::from("/xdg/tracepipe"));
        let home = c.resolved_data_dir(|k| (k == "HOME").then(|| "/home/u".to_string()));
        assert_eq!(
            home.expect("home"),
            PathBuf::from("/home/u/.local/share/tracepipe")
        );
        let err = c.resolved_data_dir(|_| None).expect_err("no home");
        assert!(err.to_string().contains("TRACEPIPE_DATA_DIR"), "{err}");
    }
}
