//! The capture contract's mark detail: what was clicked, typed or pressed.

use serde::Deserialize;
use std::collections::BTreeMap;
use tracepipe_schemas::{Event, EventKind, Target, ViewItem, ViewSnapshot};

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
        "view" => EventKind::View,
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

/// The bounds the capture contract sets on a `tracepipe:view` mark
/// (docs/recording.md), applied again on reading: a recording is not
/// trusted to have been made by a script that kept them.
pub mod view_limits {
    /// The largest detail read at all; the script writes at most 16 KiB.
    pub const MAX_DETAIL_BYTES: usize = 64 * 1024;
    pub const MAX_ITEMS: usize = 50;
    /// Characters of a name, a role, a `data-*` value or a field's key.
    pub const MAX_NAME_CHARS: usize = 200;
    pub const MAX_DATA: usize = 8;
    pub const MAX_FIELDS: usize = 12;
    pub const MAX_FIELD_CHARS: usize = 2_000;
}

/// The `detail` of a `tracepipe:view` mark.
#[derive(Debug, Deserialize)]
struct ViewDetail {
    #[serde(default)]
    items: Vec<ViewDetailItem>,
    #[serde(default)]
    open: Option<ViewDetailItem>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ViewDetailItem {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    fields: BTreeMap<String, serde_json::Value>,
}

/// Why a `tracepipe:view` mark was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewMarkError {
    #[error("the detail is {0} bytes, more than the {max} a view mark may hold", max = view_limits::MAX_DETAIL_BYTES)]
    TooLarge(usize),
    #[error("the detail is not a view snapshot: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// `text` cut to at most `max` characters; whether it was cut.
fn cut(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (text[..at].to_string(), true),
        None => (text.to_string(), false),
    }
}

/// A string map's string entries, at most `max` of them, keys and values
/// cut to their limits; whether anything was left out or cut.
fn bounded_map(
    map: BTreeMap<String, serde_json::Value>,
    max: usize,
    value_chars: usize,
    lowercase_keys: bool,
) -> (BTreeMap<String, String>, bool) {
    let mut out = BTreeMap::new();
    let mut truncated = false;
    for (key, value) in map {
        let serde_json::Value::String(value) = value else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        if out.len() == max {
            truncated = true;
            break;
        }
        let (key, key_cut) = cut(key, view_limits::MAX_NAME_CHARS);
        let key = if lowercase_keys {
            key.to_lowercase()
        } else {
            key
        };
        let (value, value_cut) = cut(&value, value_chars);
        truncated |= key_cut || value_cut;
        out.insert(key, value);
    }
    (out, truncated)
}

fn bounded_item(item: ViewDetailItem, truncated: &mut bool) -> ViewItem {
    let mut text = |s: Option<String>| {
        let s = s.filter(|v| !v.trim().is_empty())?;
        let (s, was_cut) = cut(s.trim(), view_limits::MAX_NAME_CHARS);
        *truncated |= was_cut;
        Some(s)
    };
    let role = text(item.role);
    let name = text(item.name);
    let (data, data_cut) = bounded_map(
        item.data,
        view_limits::MAX_DATA,
        view_limits::MAX_NAME_CHARS,
        false,
    );
    let (fields, fields_cut) = bounded_map(
        item.fields,
        view_limits::MAX_FIELDS,
        view_limits::MAX_FIELD_CHARS,
        true,
    );
    *truncated |= data_cut || fields_cut;
    ViewItem {
        role,
        name,
        data,
        fields,
    }
}

/// Builds a [`EventKind::View`] event (absolute time, not yet scrubbed)
/// from a `tracepipe:view` mark's detail text, within
/// [`view_limits`]: whatever lies beyond them is left out and the
/// snapshot marked `truncated`.
pub fn view_event_from_mark(ts: i64, detail: &str) -> Result<Event, ViewMarkError> {
    if detail.len() > view_limits::MAX_DETAIL_BYTES {
        return Err(ViewMarkError::TooLarge(detail.len()));
    }
    let detail: ViewDetail = serde_json::from_str(detail)?;
    let mut truncated = detail.truncated || detail.items.len() > view_limits::MAX_ITEMS;
    let items = detail
        .items
        .into_iter()
        .take(view_limits::MAX_ITEMS)
        .map(|item| bounded_item(item, &mut truncated))
        .collect();
    let open = detail.open.map(|item| bounded_item(item, &mut truncated));
    let mut e = Event::new(EventKind::View, ts);
    e.url = detail.url;
    e.view = Some(ViewSnapshot {
        items,
        open,
        truncated,
    });
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn a_view_mark_is_read_into_a_view_event() {
        let detail = json!({
            "items": [
                {"role": "row", "name": "Alice  Quarterly report", "data": {"data-message-id": "18c2"}},
                {"role": "link", "name": "Work", "data": {"data-label-id": "Label_1", "data-count": 3}}
            ],
            "open": {"role": "article", "data": {"data-message-id": "18c3"},
                     "fields": {"Heading": "Lunch?", "text": "Bob\nLunch?", "n": 1}},
            "truncated": false,
            "url": "http://localhost/#inbox/18c3"
        });
        let e = view_event_from_mark(5, &detail.to_string()).unwrap();
        assert_eq!(e.kind, EventKind::View);
        assert_eq!(e.url.as_deref(), Some("http://localhost/#inbox/18c3"));
        let view = e.view.unwrap();
        assert_eq!(view.items.len(), 2);
        assert_eq!(view.items[0].data["data-message-id"], "18c2");
        // Only strings are kept: a number is not what the contract writes.
        assert_eq!(view.items[1].data.len(), 1);
        let open = view.open.unwrap();
        assert_eq!(open.fields["heading"], "Lunch?");
        assert_eq!(open.fields.len(), 2);
        assert!(!view.truncated);
    }

    #[test]
    fn a_view_mark_beyond_the_limits_is_cut_and_marked_truncated() {
        let long = "x".repeat(view_limits::MAX_FIELD_CHARS + 10);
        let items: Vec<_> = (0..view_limits::MAX_ITEMS + 5)
            .map(|i| json!({"name": "n".repeat(300), "data": {"data-id": i.to_string()}}))
            .collect();
        let fields: serde_json::Map<_, _> = (0..20)
            .map(|i| (format!("f{i:02}"), json!(long.clone())))
            .collect();
        let detail = json!({"items": items, "open": {"fields": fields}});
        let view = view_event_from_mark(0, &detail.to_string())
            .unwrap()
            .view
            .unwrap();
        assert!(view.truncated);
        assert_eq!(view.items.len(), view_limits::MAX_ITEMS);
        assert!(view
            .items
            .iter()
            .all(|i| i.name.as_ref().unwrap().chars().count() == view_limits::MAX_NAME_CHARS));
        let open = view.open.unwrap();
        assert_eq!(open.fields.len(), view_limits::MAX_FIELDS);
        assert!(open
            .fields
            .values()
            .all(|v| v.chars().count() == view_limits::MAX_FIELD_CHARS));
    }

    #[test]
    fn a_malformed_or_oversized_view_mark_is_an_error_not_a_panic() {
        for detail in [
            "",
            "3",
            "{\"items\": 3}",
            "{\"items\": [1]}",
            "{\"open\": \"x\"",
        ] {
            assert!(view_event_from_mark(0, detail).is_err(), "{detail}");
        }
        let huge = format!("{{\"items\": [], \"pad\": \"{}\"}}", "p".repeat(70_000));
        assert!(matches!(
            view_event_from_mark(0, &huge),
            Err(ViewMarkError::TooLarge(_))
        ));
    }
}
