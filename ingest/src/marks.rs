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
    e.key = detail.key;
    e.modifiers = detail
        .modifiers
        .into_iter()
        .map(|m| m.to_ascii_lowercase())
        .collect();
    e
}
