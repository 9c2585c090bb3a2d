//! The capture contract's mark detail: what was clicked, typed or pressed.

use serde::Deserialize;
use std::collections::BTreeMap;
use tracepipe_schemas::{Event, EventKind, Target};

/// The `detail` object of a `tracepipe:<type>` mark, as the capture script
/// writes it. Unknown members are ignored so that newer scripts stay readable.
#[derive(Debug, Default, Deserialize)]
pub struct MarkDetail {
    #[serde(default)]
    pub target: Option<MarkTarget>,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub modifiers: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub masked: bool,
    /// A click's target state after the click's handlers ran (absent in
    /// recordings made before the contract carried it).
    #[serde(default)]
    pub state: BTreeMap<String, serde_json::Value>,
}

/// The state members the capture contract defines; others are ignored.
const STATE_NAMES: [&str; 5] = [
    "checked",
    "aria-checked",
    "aria-pressed",
    "aria-selected",
    "aria-expanded",
];

/// A state value as `true`, `false` or `mixed`: the script writes a
/// property as a boolean and an ARIA attribute as its text. Anything else
/// (an attribute set to a value ARIA does not define) says nothing.
fn state_value(value: &serde_json::Value) -> Option<&'static str> {
    match value {
        serde_json::Value::Bool(true) => Some("true"),
        serde_json::Value::Bool(false) => Some("false"),
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some("true"),
            "false" => Some("false"),
            "mixed" => Some("mixed"),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MarkTarget {
    pub tag: Option<String>,
    pub role: Option<String>,
    pub label: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub input_type: Option<String>,
    pub text: Option<String>,
    pub href: Option<String>,
    pub selector: Option<String>,
    pub autocomplete: Option<String>,
    #[serde(default)]
    pub data: BTreeMap<String, serde_json::Value>,
}

impl From<MarkTarget> for Target {
    fn from(t: MarkTarget) -> Self {
        let blank_is_none = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
        Target {
            tag: t.tag.map(|s| s.to_ascii_lowercase()),
            role: blank_is_none(t.role),
            label: blank_is_none(t.label).map(|l| l.trim().to_string()),
            id: blank_is_none(t.id),
            name: blank_is_none(t.name),
            input_type: blank_is_none(t.input_type).map(|s| s.to_ascii_lowercase()),
            text: blank_is_none(t.text),
            href: blank_is_none(t.href),
            selector: blank_is_none(t.selector),
            autocomplete: blank_is_none(t.autocomplete),
            data: t
                .data
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    serde_json::Value::Null => None,
                    other => Some((k, other.to_string())),
                })
                .collect(),
        }
    }
}

/// The event kind a mark type stands for, or None for types this version of
/// Tracepipe does not know (they are skipped, not fatal).
pub fn kind_of_mark(mark_type: &str) -> Option<EventKind> {
    Some(match mark_type {
        "click" => EventKind::Click,
        "change" => EventKind::Change,
        "submit" => EventKind::Submit,
        "keydown" | "key" => EventKind::Key,
        _ => return None,
    })
}

/// Builds an event (absolute time, not yet scrubbed) from a mark.
pub fn event_from_mark(kind: EventKind, ts: i64, detail: MarkDetail) -> Event {
    let mut e = Event::new(kind, ts);
    e.url = detail.url;
    e.target = detail.target.map(Target::from);
    e.value = match detail.value {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    e.masked = detail.masked;
    e.state = detail
        .state
        .iter()
        .filter(|(name, _)| STATE_NAMES.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.clone(), state_value(value)?.to_string())))
        .collect();
    e.key = detail.key;
    e.modifiers = detail
        .modifiers
        .into_iter()
        .map(|m| m.to_ascii_lowercase())
        .collect();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(detail: &str) -> Event {
        let detail: MarkDetail = serde_json::from_str(detail).expect("test detail is JSON");
        event_from_mark(EventKind::Click, 0, detail)
    }

    #[test]
    fn after_click_state_is_read_and_normalised() {
        let e = click(
            r#"{"target":{"tag":"div","role":"menuitemcheckbox"},
                "state":{"aria-checked":"false","checked":true,"aria-expanded":" True ","aria-pressed":"mixed"}}"#,
        );
        assert_eq!(
            e.state.get("aria-checked").map(String::as_str),
            Some("false")
        );
        assert_eq!(e.state.get("checked").map(String::as_str), Some("true"));
        assert_eq!(
            e.state.get("aria-expanded").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            e.state.get("aria-pressed").map(String::as_str),
            Some("mixed")
        );
    }

    #[test]
    fn unknown_state_names_and_values_are_dropped() {
        let e = click(r#"{"state":{"aria-checked":"maybe","open":"true","aria-selected":1}}"#);
        assert!(e.state.is_empty());
    }

    #[test]
    fn a_mark_without_state_has_none() {
        let e = click(r#"{"target":{"tag":"button","label":"Apply"}}"#);
        assert!(e.state.is_empty());
    }
}
