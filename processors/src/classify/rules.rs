//! The rules file: declarative action signatures for one Suite, and their
//! compilation into matchers.
//!
//! A signature speaks only of what the capture and suite contracts promise:
//! accessible names, roles, keys, `data-*` ids, routes (in the URL fragment),
//! the order of marks and, for corroboration, network methods. Compilation
//! checks every name against the Suite, so a typo fails at load time, not as a
//! silently missing action.

use crate::catalog::Suite;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use tracepipe_schemas::EventKind;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    #[error("{file}: not a valid rules file: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: the rules are for suite `{found}`, not `{expected}`")]
    WrongSuite {
        file: String,
        expected: String,
        found: String,
    },
    #[error("{file}: route `{route}` is not a valid regular expression: {message}")]
    BadRoute {
        file: String,
        route: String,
        message: String,
    },
    #[error("{file}: {place} names route `{route}`, which `routes` does not define")]
    UnknownRoute {
        file: String,
        place: String,
        route: String,
    },
    #[error("{file}: {place} names action `{action}`, which suite `{suite}` does not have")]
    UnknownAction {
        file: String,
        place: String,
        suite: String,
        action: String,
    },
    #[error("{file}: {place} sets parameter `{parameter}`, which action `{action}` does not have")]
    UnknownParameter {
        file: String,
        place: String,
        action: String,
        parameter: String,
    },
    #[error("{file}: {place}: {message}")]
    Invalid {
        file: String,
        place: String,
        message: String,
    },
}

// ---- The file as written ----------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    pub suite: String,
    pub model: ModelFile,
    /// Named regular expressions over the URL fragment (`#inbox/…`).
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    #[serde(default)]
    pub selection: Option<SelectionFile>,
    #[serde(default)]
    pub flows: Vec<FlowFile>,
    #[serde(default)]
    pub triggers: Vec<TriggerFile>,
    /// Identical actions this close together are one action seen twice (for
    /// example a search seen as Enter in the box and as the new route).
    #[serde(default = "default_merge_window_ms")]
    pub merge_window_ms: i64,
    /// How long after a committing event a state-changing request still
    /// corroborates it.
    #[serde(default = "default_corroboration_ms")]
    pub corroboration_window_ms: i64,
}

fn default_merge_window_ms() -> i64 {
    3000
}

fn default_corroboration_ms() -> i64 {
    3000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelFile {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatcherFile {
    #[serde(default)]
    pub kind: Vec<KindName>,
    /// Accessible names, any of them.
    #[serde(default)]
    pub label: Vec<String>,
    #[serde(default)]
    pub label_prefix: Option<String>,
    #[serde(default)]
    pub role: Vec<String>,
    /// Tag names of the target, any of them.
    #[serde(default)]
    pub tag: Vec<String>,
    /// A regular expression the committed value must match.
    #[serde(default)]
    pub value_pattern: Option<String>,
    #[serde(default)]
    pub key: Vec<String>,
    #[serde(default)]
    pub modifiers_any: Vec<String>,
    /// A `data-*` attribute the target must carry.
    #[serde(default)]
    pub has_data: Option<String>,
    /// The route the event's URL must be on (for navigations: arrive at).
    #[serde(default)]
    pub route: Option<String>,
    /// HTTP methods, for network requests.
    #[serde(default)]
    pub method: Vec<String>,
    /// Completes an outcome only on the outcome's nth matching event inside
    /// the flow (1-based), counting matches of all its matchers: a two-step
    /// form ends on its second step, however the first was taken.
    #[serde(default)]
    pub occurrence: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KindName {
    Click,
    Change,
    Submit,
    Key,
    Navigation,
    NetworkRequest,
    Scroll,
}

impl From<KindName> for EventKind {
    fn from(k: KindName) -> Self {
        match k {
            KindName::Click => EventKind::Click,
            KindName::Change => EventKind::Change,
            KindName::Submit => EventKind::Submit,
            KindName::Key => EventKind::Key,
            KindName::Navigation => EventKind::Navigation,
            KindName::NetworkRequest => EventKind::NetworkRequest,
            KindName::Scroll => EventKind::Scroll,
        }
    }
}

/// Where a parameter's value comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum SourceFile {
    /// The event's committed value.
    Value,
    /// A `data-*` attribute of the event's target.
    Data(String),
    /// A named group of a route, matched against the event's URL.
    Route {
        route: String,
        group: String,
        #[serde(default)]
        decode: Decode,
    },
    /// The messages currently selected.
    Selection,
    /// A fixed value.
    Const(serde_json::Value),
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Decode {
    /// Percent-decoding only.
    #[default]
    Path,
    /// Percent-decoding, and `+` as a space, as Gmail writes search routes.
    Query,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaptureFile {
    /// Parameter name; `object.field` for a field of an OBJECT parameter.
    pub set: String,
    /// Sources tried in order; the first that yields a value wins.
    pub from: Vec<SourceFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldFile {
    pub on: MatcherFile,
    /// Sets a parameter from this event (the last one wins).
    #[serde(default)]
    pub set: Option<String>,
    #[serde(default)]
    pub from: Vec<SourceFile>,
    /// A checkable id (a label in a menu): ticked ids end up in `add`, ids
    /// explicitly unticked in `remove`.
    #[serde(default)]
    pub toggle: Option<ToggleFile>,
    /// A checkbox that, when ticked at the end, appends `value` to `param`.
    #[serde(default)]
    pub flag: Option<FlagFile>,
    /// A single-choice control (a `<select>`): its latest choice is added.
    #[serde(default)]
    pub choose: Option<ChooseFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChooseFile {
    pub id: SourceFile,
    pub add: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToggleFile {
    pub id: SourceFile,
    pub add: String,
    #[serde(default)]
    pub remove: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagFile {
    pub param: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionFile {
    #[serde(default)]
    pub selection: Option<SelectionState>,
    #[serde(default)]
    pub route: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SelectionState {
    Empty,
    NonEmpty,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutcomeFile {
    pub on: Vec<MatcherFile>,
    #[serde(default)]
    pub when: Option<ConditionFile>,
    /// The action this outcome completes; null for an abandoned flow.
    pub action: Option<String>,
    #[serde(default)]
    pub capture: Vec<CaptureFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlowFile {
    pub name: String,
    pub start: Vec<MatcherFile>,
    #[serde(default)]
    pub capture: Vec<CaptureFile>,
    #[serde(default)]
    pub fields: Vec<FieldFile>,
    pub outcomes: Vec<OutcomeFile>,
    #[serde(default)]
    pub cancel: Vec<MatcherFile>,
    /// Leaving the route the flow started on abandons it (menus, dialogs tied
    /// to a view).
    #[serde(default)]
    pub cancel_on_route_change: bool,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerFile {
    pub action: String,
    pub on: MatcherFile,
    #[serde(default)]
    pub when: Option<ConditionFile>,
    #[serde(default)]
    pub capture: Vec<CaptureFile>,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
}

fn default_confidence() -> f64 {
    0.9
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectionFile {
    /// The per-item checkbox ("Select").
    pub toggle: MatcherFile,
    pub id: SourceFile,
}

// ---- Compiled ---------------------------------------------------------------

#[derive(Debug)]
pub(crate) struct Matcher {
    pub kinds: Vec<EventKind>,
    pub labels: Vec<String>,
    pub label_prefix: Option<String>,
    pub roles: Vec<String>,
    pub tags: Vec<String>,
    pub value_pattern: Option<Regex>,
    pub keys: Vec<String>,
    pub modifiers_any: Vec<String>,
    pub has_data: Option<String>,
    pub route: Option<usize>,
    pub methods: Vec<String>,
    pub occurrence: Option<usize>,
}

#[derive(Debug)]
pub(crate) enum Source {
    Value,
    Data(String),
    Route {
        route: usize,
        group: String,
        decode: Decode,
    },
    Selection,
    Const(serde_json::Value),
}

#[derive(Debug)]
pub(crate) struct Capture {
    pub path: ParamPath,
    pub from: Vec<Source>,
}

/// A parameter, or a field of an OBJECT parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamPath {
    pub param: String,
    pub field: Option<String>,
}

#[derive(Debug)]
pub(crate) enum FieldOp {
    Set {
        path: ParamPath,
        from: Vec<Source>,
    },
    Toggle {
        id: Source,
        add: ParamPath,
        remove: Option<ParamPath>,
    },
    Flag {
        path: ParamPath,
        value: String,
    },
    Choose {
        id: Source,
        add: ParamPath,
    },
}

#[derive(Debug)]
pub(crate) struct Field {
    pub on: Matcher,
    pub op: FieldOp,
}

#[derive(Debug)]
pub(crate) struct Condition {
    pub selection: Option<SelectionState>,
    pub route: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct Outcome {
    pub on: Vec<Matcher>,
    pub when: Option<Condition>,
    /// Index into the suite's actions; None abandons the flow.
    pub action: Option<usize>,
    pub capture: Vec<Capture>,
}

#[derive(Debug)]
pub(crate) struct Flow {
    pub start: Vec<Matcher>,
    pub capture: Vec<Capture>,
    pub fields: Vec<Field>,
    pub outcomes: Vec<Outcome>,
    pub cancel: Vec<Matcher>,
    pub cancel_on_route_change: bool,
    pub confidence: f64,
}

#[derive(Debug)]
pub(crate) struct Trigger {
    pub action: usize,
    pub on: Matcher,
    pub when: Option<Condition>,
    pub capture: Vec<Capture>,
    pub confidence: f64,
}

#[derive(Debug)]
pub(crate) struct Selection {
    pub toggle: Matcher,
    pub id: Source,
}

#[derive(Debug)]
pub(crate) struct CompiledRules {
    pub model_name: String,
    pub model_version: String,
    pub routes: Vec<Regex>,
    pub selection: Option<Selection>,
    pub flows: Vec<Flow>,
    pub triggers: Vec<Trigger>,
    pub merge_window_us: i64,
    pub corroboration_window_us: i64,
}

/// Lower-case, without bidi marks, a trailing keyboard hint ("(Ctrl-Enter)"),
/// a trailing colon or ellipsis, and with single spaces: how two clients'
/// renderings of the same accessible name are compared.
pub fn normalize_label(label: &str) -> String {
    let cleaned: String = label
        .chars()
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
        .collect();
    let mut s = cleaned
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if s.ends_with(')') {
        if let Some(open) = s.rfind('(') {
            let hint = &s[open + 1..s.len() - 1];
            const KEYS: &[&str] = &[
                "ctrl", "cmd", "⌘", "meta", "alt", "shift", "enter", "esc", "del", "+",
            ];
            if KEYS.iter().any(|k| hint.contains(k)) {
                s.truncate(open);
                s = s.trim_end().to_string();
            }
        }
    }
    for suffix in [":", "…", "..."] {
        if let Some(stripped) = s.strip_suffix(suffix) {
            s = stripped.trim_end().to_string();
        }
    }
    s
}

struct Compiler<'a> {
    file: &'a str,
    suite: &'a Suite,
    route_names: Vec<String>,
}

impl Compiler<'_> {
    fn invalid(&self, place: &str, message: impl Into<String>) -> RulesError {
        RulesError::Invalid {
            file: self.file.into(),
            place: place.into(),
            message: message.into(),
        }
    }

    fn route(&self, name: &str, place: &str) -> Result<usize, RulesError> {
        self.route_names
            .iter()
            .position(|r| r == name)
            .ok_or_else(|| RulesError::UnknownRoute {
                file: self.file.into(),
                place: place.into(),
                route: name.into(),
            })
    }

    fn matcher(&self, m: MatcherFile, place: &str) -> Result<Matcher, RulesError> {
        if m.occurrence == Some(0) {
            return Err(self.invalid(place, "`occurrence` counts from 1"));
        }
        Ok(Matcher {
            kinds: m.kind.into_iter().map(EventKind::from).collect(),
            labels: m.label.iter().map(|l| normalize_label(l)).collect(),
            label_prefix: m.label_prefix.map(|p| normalize_label(&p)),
            roles: m.role.iter().map(|r| r.to_lowercase()).collect(),
            tags: m.tag.iter().map(|r| r.to_lowercase()).collect(),
            value_pattern: m
                .value_pattern
                .map(|p| {
                    Regex::new(&p)
                        .map_err(|e| self.invalid(place, format!("bad `value_pattern`: {e}")))
                })
                .transpose()?,
            keys: m.key,
            modifiers_any: m.modifiers_any.iter().map(|r| r.to_lowercase()).collect(),
            has_data: m.has_data,
            route: m.route.map(|r| self.route(&r, place)).transpose()?,
            methods: m.method.iter().map(|r| r.to_uppercase()).collect(),
            occurrence: m.occurrence,
        })
    }

    fn source(&self, s: SourceFile, place: &str) -> Result<Source, RulesError> {
        Ok(match s {
            SourceFile::Value => Source::Value,
            SourceFile::Data(attr) => Source::Data(attr),
            SourceFile::Route {
                route,
                group,
                decode,
            } => {
                let index = self.route(&route, place)?;
                // Regex is compiled per route below; group existence is checked there.
                Source::Route {
                    route: index,
                    group,
                    decode,
                }
            }
            SourceFile::Selection => Source::Selection,
            SourceFile::Const(v) => Source::Const(v),
        })
    }

    /// Checks that `path` names a parameter of `action` (an OBJECT one when it
    /// has a field).
    fn path(
        &self,
        action: Option<usize>,
        path: &str,
        place: &str,
    ) -> Result<ParamPath, RulesError> {
        let (param, field) = match path.split_once('.') {
            Some((p, f)) => (p.to_string(), Some(f.to_string())),
            None => (path.to_string(), None),
        };
        if let Some(a) = action {
            let action = &self.suite.actions[a];
            if action.parameter(&param).is_none() {
                return Err(RulesError::UnknownParameter {
                    file: self.file.into(),
                    place: place.into(),
                    action: action.name.clone(),
                    parameter: param,
                });
            }
        }
        Ok(ParamPath { param, field })
    }

    fn action(&self, name: &str, place: &str) -> Result<usize, RulesError> {
        self.suite
            .actions
            .iter()
            .position(|a| a.name == name)
            .ok_or_else(|| RulesError::UnknownAction {
                file: self.file.into(),
                place: place.into(),
                suite: self.suite.name.clone(),
                action: name.into(),
            })
    }

    fn condition(
        &self,
        c: Option<ConditionFile>,
        place: &str,
    ) -> Result<Option<Condition>, RulesError> {
        c.map(|c| {
            Ok(Condition {
                selection: c.selection,
                route: c.route.map(|r| self.route(&r, place)).transpose()?,
            })
        })
        .transpose()
    }

    fn captures(
        &self,
        list: Vec<CaptureFile>,
        actions: &[usize],
        place: &str,
    ) -> Result<Vec<Capture>, RulesError> {
        list.into_iter()
            .map(|c| {
                let mut path = None;
                for &a in actions {
                    path = Some(self.path(Some(a), &c.set, place)?);
                }
                let path = match path {
                    Some(p) => p,
                    None => self.path(None, &c.set, place)?,
                };
                if c.from.is_empty() {
                    return Err(
                        self.invalid(place, format!("capture of `{}` has no source", c.set))
                    );
                }
                let from = c
                    .from
                    .into_iter()
                    .map(|s| self.source(s, place))
                    .collect::<Result<_, _>>()?;
                Ok(Capture { path, from })
            })
            .collect()
    }
}

/// Parses and compiles a rules file for `suite`.
pub(crate) fn compile(
    file: &str,
    contents: &str,
    suite: &Suite,
) -> Result<CompiledRules, RulesError> {
    let parsed: RulesFile = serde_json::from_str(contents).map_err(|e| RulesError::Parse {
        file: file.into(),
        message: e.to_string(),
    })?;
    if parsed.suite != suite.name {
        return Err(RulesError::WrongSuite {
            file: file.into(),
            expected: suite.name.clone(),
            found: parsed.suite,
        });
    }
    let mut routes = Vec::new();
    let mut route_names = Vec::new();
    for (name, pattern) in &parsed.routes {
        let re = Regex::new(pattern).map_err(|e| RulesError::BadRoute {
            file: file.into(),
            route: name.clone(),
            message: e.to_string(),
        })?;
        routes.push(re);
        route_names.push(name.clone());
    }
    let c = Compiler {
        file,
        suite,
        route_names,
    };
    let check_groups = |sources: &[Source], place: &str| -> Result<(), RulesError> {
        for s in sources {
            if let Source::Route { route, group, .. } = s {
                if !routes[*route].capture_names().flatten().any(|n| n == group) {
                    return Err(c.invalid(
                        place,
                        format!("route `{}` has no group `{group}`", c.route_names[*route]),
                    ));
                }
            }
        }
        Ok(())
    };

    let selection = parsed
        .selection
        .map(|s| -> Result<Selection, RulesError> {
            Ok(Selection {
                toggle: c.matcher(s.toggle, "selection")?,
                id: c.source(s.id, "selection")?,
            })
        })
        .transpose()?;

    let mut flows = Vec::new();
    for f in parsed.flows {
        let place = format!("flow `{}`", f.name);
        let mut outcome_actions = Vec::new();
        let mut outcomes = Vec::new();
        for (k, o) in f.outcomes.into_iter().enumerate() {
            let oplace = format!("{place} outcome {}", k + 1);
            let action = o
                .action
                .as_deref()
                .map(|a| c.action(a, &oplace))
                .transpose()?;
            if let Some(a) = action {
                outcome_actions.push(a);
            }
            if o.on.is_empty() {
                return Err(c.invalid(&oplace, "an outcome needs at least one `on` matcher"));
            }
            let on =
                o.on.into_iter()
                    .map(|m| c.matcher(m, &oplace))
                    .collect::<Result<_, _>>()?;
            let capture = c.captures(o.capture, action.as_slice(), &oplace)?;
            for cap in &capture {
                check_groups(&cap.from, &oplace)?;
            }
            outcomes.push(Outcome {
                on,
                when: c.condition(o.when, &oplace)?,
                action,
                capture,
            });
        }
        if f.start.is_empty() {
            return Err(c.invalid(&place, "a flow needs at least one `start` matcher"));
        }
        // Parameters a flow collects must exist on every action it can end in
        // that uses them; checking against the union keeps one flow (compose)
        // able to end in actions with the same parameters.
        let check_path = |path: &str, fplace: &str| -> Result<ParamPath, RulesError> {
            let (param, _) = path.split_once('.').unwrap_or((path, ""));
            if !outcome_actions.is_empty()
                && !outcome_actions
                    .iter()
                    .any(|&a| suite.actions[a].parameter(param).is_some())
            {
                return Err(RulesError::UnknownParameter {
                    file: file.into(),
                    place: fplace.into(),
                    action: outcome_actions
                        .iter()
                        .map(|&a| suite.actions[a].name.as_str())
                        .collect::<Vec<_>>()
                        .join("|"),
                    parameter: param.into(),
                });
            }
            c.path(None, path, fplace)
        };
        let capture = {
            let mut list = Vec::new();
            for cap in f.capture {
                let path = check_path(&cap.set, &place)?;
                let from: Vec<Source> = cap
                    .from
                    .into_iter()
                    .map(|s| c.source(s, &place))
                    .collect::<Result<_, _>>()?;
                check_groups(&from, &place)?;
                list.push(Capture { path, from });
            }
            list
        };
        let mut fields = Vec::new();
        for (k, field) in f.fields.into_iter().enumerate() {
            let fplace = format!("{place} field {}", k + 1);
            let on = c.matcher(field.on, &fplace)?;
            let op = match (field.set, field.toggle, field.flag, field.choose) {
                (Some(set), None, None, None) => {
                    let from = if field.from.is_empty() {
                        vec![Source::Value]
                    } else {
                        field
                            .from
                            .into_iter()
                            .map(|s| c.source(s, &fplace))
                            .collect::<Result<_, _>>()?
                    };
                    check_groups(&from, &fplace)?;
                    FieldOp::Set {
                        path: check_path(&set, &fplace)?,
                        from,
                    }
                }
                (None, Some(t), None, None) => FieldOp::Toggle {
                    id: c.source(t.id, &fplace)?,
                    add: check_path(&t.add, &fplace)?,
                    remove: t.remove.map(|r| check_path(&r, &fplace)).transpose()?,
                },
                (None, None, Some(flag), None) => FieldOp::Flag {
                    path: check_path(&flag.param, &fplace)?,
                    value: flag.value,
                },
                (None, None, None, Some(choose)) => FieldOp::Choose {
                    id: c.source(choose.id, &fplace)?,
                    add: check_path(&choose.add, &fplace)?,
                },
                _ => {
                    return Err(c.invalid(
                        &fplace,
                        "a field has exactly one of `set`, `toggle`, `flag`, `choose`",
                    ))
                }
            };
            fields.push(Field { on, op });
        }
        flows.push(Flow {
            start: f
                .start
                .into_iter()
                .map(|m| c.matcher(m, &place))
                .collect::<Result<_, _>>()?,
            capture,
            fields,
            outcomes,
            cancel: f
                .cancel
                .into_iter()
                .map(|m| c.matcher(m, &place))
                .collect::<Result<_, _>>()?,
            cancel_on_route_change: f.cancel_on_route_change,
            confidence: check_confidence(&c, f.confidence, &place)?,
        });
    }

    let mut triggers = Vec::new();
    for (k, t) in parsed.triggers.into_iter().enumerate() {
        let place = format!("trigger {} (`{}`)", k + 1, t.action);
        let action = c.action(&t.action, &place)?;
        let capture = c.captures(t.capture, &[action], &place)?;
        for cap in &capture {
            check_groups(&cap.from, &place)?;
        }
        triggers.push(Trigger {
            action,
            on: c.matcher(t.on, &place)?,
            when: c.condition(t.when, &place)?,
            capture,
            confidence: check_confidence(&c, t.confidence, &place)?,
        });
    }

    Ok(CompiledRules {
        model_name: parsed.model.name,
        model_version: parsed.model.version,
        routes,
        selection,
        flows,
        triggers,
        merge_window_us: parsed.merge_window_ms * 1000,
        corroboration_window_us: parsed.corroboration_window_ms * 1000,
    })
}

fn check_confidence(c: &Compiler, value: f64, place: &str) -> Result<f64, RulesError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(c.invalid(place, format!("confidence {value} is outside [0, 1]")))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_label;

    #[test]
    fn labels_compare_across_client_renderings() {
        assert_eq!(normalize_label("Send \u{202A}(Ctrl-Enter)\u{202C}"), "send");
        assert_eq!(normalize_label("  Send   (⌘Enter) "), "send");
        assert_eq!(
            normalize_label("Skip the Inbox (Archive it)"),
            "skip the inbox (archive it)"
        );
        assert_eq!(
            normalize_label("Please enter a new label name:"),
            "please enter a new label name"
        );
        assert_eq!(normalize_label("Label as…"), "label as");
        assert_eq!(normalize_label("SAVE & CLOSE"), "save & close");
    }
}
