//! What a demonstration offers as evidence: its marks (clicks, committed
//! values, meaningful keys, submits, navigations) and where a labelled value
//! can be found among them. Only what the capture contract promises is read:
//! accessible names, tags, keys, `data-*` attributes and the URL fragment.

use serde_json::Value;
use std::collections::BTreeMap;
use tracepipe_processors::classify::normalize_label;
use tracepipe_schemas::{Event, EventKind, Session};

/// One user-visible step of a demonstration.
#[derive(Debug)]
pub(crate) struct Mark<'s> {
    pub event: &'s Event,
    /// The accessible name, normalised as the classifier compares names.
    pub label: Option<String>,
    /// The URL fragment (`#inbox/…`), or "".
    pub fragment: &'s str,
}

impl<'s> Mark<'s> {
    pub fn kind(&self) -> EventKind {
        self.event.kind
    }

    pub fn raw_label(&self) -> Option<&'s str> {
        self.event.label()
    }

    pub fn data(&self, attr: &str) -> Option<&'s str> {
        self.event
            .target
            .as_ref()
            .and_then(|t| t.data.get(attr))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn tag(&self) -> Option<&'s str> {
        self.event.target.as_ref().and_then(|t| t.tag.as_deref())
    }

    fn data_all(&self) -> impl Iterator<Item = (&'s String, &'s String)> {
        self.event.target.iter().flat_map(|t| t.data.iter())
    }
}

pub(crate) fn marks(session: &Session) -> Vec<Mark<'_>> {
    session
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Click
                    | EventKind::Change
                    | EventKind::Key
                    | EventKind::Submit
                    | EventKind::Navigation
            )
        })
        .map(|e| Mark {
            event: e,
            label: e.label().map(normalize_label),
            fragment: fragment(e.url.as_deref()),
        })
        .collect()
}

fn fragment(url: Option<&str>) -> &str {
    url.and_then(|u| u.find('#').map(|i| &u[i..])).unwrap_or("")
}

/// Percent-decoding; with `plus_is_space`, `+` is a space as in form-encoded
/// search routes.
pub(crate) fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' && plus_is_space {
            out.push(b' ');
        } else if b == b'%' && i + 2 < bytes.len() {
            let byte = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = byte {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(b);
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A URL fragment's shape: its `/`-separated segments, one of which may be
/// the value a route group captures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RouteShape {
    /// `None` is the captured segment.
    pub segments: Vec<Option<String>>,
    /// The group's name (a parameter name), when a segment is captured.
    pub group: Option<String>,
    /// The segment decodes with `+` as a space.
    pub query: bool,
    /// The captured value was all digits (an issue's number): the group
    /// takes digits only, so that a sibling route (`#issues/new` beside
    /// `#issues/12`) is not taken for it.
    pub digits: bool,
}

impl RouteShape {
    pub fn literal(fragment: &str) -> Option<RouteShape> {
        let body = fragment.strip_prefix('#')?;
        if body.is_empty() {
            return None;
        }
        Some(RouteShape {
            segments: body.split('/').map(|s| Some(s.to_string())).collect(),
            group: None,
            query: false,
            digits: false,
        })
    }

    /// The name the rules file gives this route.
    pub fn name(&self) -> String {
        let mut parts: Vec<String> = self
            .segments
            .iter()
            .map(|s| match s {
                Some(lit) => lit
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect(),
                None => self.group.clone().unwrap_or_default(),
            })
            .collect();
        parts.retain(|p| !p.is_empty());
        parts.join("_")
    }

    /// The regular expression over the fragment.
    pub fn pattern(&self) -> String {
        let body: Vec<String> = self
            .segments
            .iter()
            .map(|s| match s {
                Some(lit) => regex::escape(lit),
                None => format!(
                    "(?P<{}>{})",
                    self.group.as_deref().unwrap_or("value"),
                    if self.digits { "[0-9]+" } else { "[^/?#]+" }
                ),
            })
            .collect();
        format!("^#{}$", body.join("/"))
    }
}

/// Where a value was found in a demonstration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Found {
    /// The committed value of a field (a `change` mark) with this name.
    Field { label: String },
    /// A list written comma-separated into one field.
    FieldSplit { label: String },
    /// A `data-*` attribute of a mark's target.
    Data { attr: String },
    /// A segment of a mark's URL fragment.
    Route { shape: RouteShape },
    /// Items ticked with per-item checkboxes that share one name (a list's
    /// "Select" boxes): the selection.
    Selection { label: String, attr: String },
    /// Ids of checkable items ticked (or, `remove`, explicitly unticked).
    Toggle { attr: String, remove: bool },
}

/// A finding at a mark (position in the mark list).
#[derive(Debug, Clone)]
pub(crate) struct At {
    pub found: Found,
    pub pos: usize,
    /// Positions of every mark that contributed (toggles, selections).
    pub marks: Vec<usize>,
}

/// `(label, attr)` groups that behave like a list's per-item selection boxes:
/// the same name on two or more items, ticked with a checkbox change.
pub(crate) fn selection_groups(marks: &[Mark]) -> Vec<(String, String)> {
    let mut ids: BTreeMap<(String, String), (Vec<String>, bool)> = BTreeMap::new();
    for m in marks {
        if !matches!(m.kind(), EventKind::Click | EventKind::Change) {
            continue;
        }
        let Some(label) = &m.label else { continue };
        for (attr, value) in m.data_all() {
            let entry = ids
                .entry((label.clone(), attr.clone()))
                .or_insert_with(|| (Vec::new(), false));
            if !entry.0.contains(value) {
                entry.0.push(value.clone());
            }
            entry.1 |= m.kind() == EventKind::Change;
        }
    }
    ids.into_iter()
        .filter(|(_, (values, changed))| values.len() >= 2 && *changed)
        .map(|(k, _)| k)
        .collect()
}

pub(crate) fn in_selection_group(m: &Mark, groups: &[(String, String)]) -> bool {
    groups
        .iter()
        .any(|(label, attr)| m.label.as_deref() == Some(label) && m.data(attr).is_some())
}

/// The ticked and explicitly unticked ids after `marks`, as the classifier
/// tracks checkboxes: a click flips, a change stating true/false settles, a
/// click on a `<label>` is forwarded to its control and not counted.
/// Ticked (`true`) or not after a click, from the state the capture script
/// recorded (`checked`, `aria-checked`, `aria-pressed`); `None` when the click
/// recorded none or the control is mixed.
fn state_after_click(mark: &Mark) -> Option<bool> {
    ["checked", "aria-checked", "aria-pressed"]
        .iter()
        .find_map(
            |name| match mark.event.state.get(*name).map(String::as_str) {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
        )
}

fn checks(marks: &[Mark], positions: &[usize], attr: &str) -> (Vec<String>, Vec<String>) {
    let mut state: Vec<(String, bool, Option<bool>)> = Vec::new();
    for &p in positions {
        let m = &marks[p];
        let Some(id) = m.data(attr) else { continue };
        if m.kind() == EventKind::Click && m.tag() == Some("label") {
            continue;
        }
        let k = match state.iter().position(|(i, _, _)| i == id) {
            Some(k) => k,
            None => {
                state.push((id.to_string(), false, None));
                state.len() - 1
            }
        };
        match m.kind() {
            EventKind::Change => {
                let said = m.event.value.as_deref().and_then(|v| {
                    match v.trim().to_ascii_lowercase().as_str() {
                        "true" | "checked" => Some(true),
                        "false" | "unchecked" => Some(false),
                        _ => None,
                    }
                });
                if let Some(s) = said {
                    state[k].1 = s;
                    state[k].2 = Some(s);
                }
            }
            // A click that recorded its control's state afterwards says
            // whether the item is now ticked (a menu toggle fires no
            // `change`); one without it flips the item.
            _ => match state_after_click(m) {
                Some(s) => {
                    state[k].1 = s;
                    state[k].2 = Some(s);
                }
                None => state[k].1 = !state[k].1,
            },
        }
    }
    let ticked = state.iter().filter(|s| s.1).map(|s| s.0.clone()).collect();
    let unticked = state
        .iter()
        .filter(|s| !s.1 && s.2 == Some(false))
        .map(|s| s.0.clone())
        .collect();
    (ticked, unticked)
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// Every place in `marks[lo..hi]` where `value` can be read.
pub(crate) fn find(
    value: &Value,
    marks: &[Mark],
    lo: usize,
    hi: usize,
    selection: &[(String, String)],
    group: &str,
) -> Vec<At> {
    let mut out = Vec::new();
    match value {
        Value::String(s) => find_text(s, marks, lo, hi, selection, group, &mut out),
        Value::Number(_) | Value::Bool(_) => find_text(
            &value.to_string(),
            marks,
            lo,
            hi,
            selection,
            group,
            &mut out,
        ),
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if texts.len() != items.len() || texts.is_empty() {
                return out;
            }
            find_list(&texts, marks, lo, hi, selection, &mut out);
            if let [one] = texts.as_slice() {
                find_text(one, marks, lo, hi, selection, group, &mut out);
            }
        }
        _ => {}
    }
    out
}

fn find_text(
    text: &str,
    marks: &[Mark],
    lo: usize,
    hi: usize,
    selection: &[(String, String)],
    group: &str,
    out: &mut Vec<At>,
) {
    if text.is_empty() {
        return;
    }
    for (pos, m) in marks.iter().enumerate().take(hi).skip(lo) {
        if in_selection_group(m, selection) {
            continue;
        }
        if m.kind() == EventKind::Change && m.event.value.as_deref() == Some(text) {
            if let Some(label) = &m.label {
                out.push(At {
                    found: Found::Field {
                        label: label.clone(),
                    },
                    pos,
                    marks: vec![pos],
                });
            }
        }
        for (attr, v) in m.data_all() {
            if v == text {
                out.push(At {
                    found: Found::Data { attr: attr.clone() },
                    pos,
                    marks: vec![pos],
                });
            }
        }
        if let Some(shape) = route_of(m.fragment, text, group) {
            out.push(At {
                found: Found::Route { shape },
                pos,
                marks: vec![pos],
            });
        }
    }
}

/// The fragment's shape with the segment that decodes to `text` captured.
fn route_of(fragment: &str, text: &str, group: &str) -> Option<RouteShape> {
    let literal = RouteShape::literal(fragment)?;
    for (i, seg) in literal.segments.iter().enumerate() {
        let Some(seg) = seg else { continue };
        for query in [false, true] {
            if decode(seg, query) == text {
                let mut shape = literal.clone();
                shape.segments[i] = None;
                shape.group = Some(group.to_string());
                shape.query = query && seg.contains('+');
                shape.digits = text.bytes().all(|b| b.is_ascii_digit());
                return Some(shape);
            }
        }
    }
    None
}

fn find_list(
    items: &[String],
    marks: &[Mark],
    lo: usize,
    hi: usize,
    selection: &[(String, String)],
    out: &mut Vec<At>,
) {
    // A comma-separated field.
    for (pos, m) in marks.iter().enumerate().take(hi).skip(lo) {
        if m.kind() != EventKind::Change {
            continue;
        }
        let Some(v) = m.event.value.as_deref() else {
            continue;
        };
        let parts: Vec<String> = v
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > 1 && parts == items {
            if let Some(label) = &m.label {
                out.push(At {
                    found: Found::FieldSplit {
                        label: label.clone(),
                    },
                    pos,
                    marks: vec![pos],
                });
            }
        }
    }
    // The attributes that carry every item somewhere in the window.
    let mut attrs: Vec<String> = Vec::new();
    for m in marks.iter().take(hi).skip(lo) {
        for (attr, v) in m.data_all() {
            if items.contains(v) && !attrs.contains(attr) {
                attrs.push(attr.clone());
            }
        }
    }
    for attr in attrs {
        for (label, sel_attr) in selection.iter().filter(|(_, a)| *a == attr) {
            let positions: Vec<usize> = (lo..hi)
                .filter(|&p| {
                    matches!(marks[p].kind(), EventKind::Click | EventKind::Change)
                        && marks[p].label.as_deref() == Some(label)
                        && marks[p].data(sel_attr).is_some()
                })
                .collect();
            let (ticked, _) = checks(marks, &positions, sel_attr);
            if same_set(&ticked, items) {
                if let Some(&last) = positions.last() {
                    out.push(At {
                        found: Found::Selection {
                            label: label.clone(),
                            attr: attr.clone(),
                        },
                        pos: last,
                        marks: positions.clone(),
                    });
                }
            }
        }
        let positions: Vec<usize> = (lo..hi)
            .filter(|&p| {
                matches!(marks[p].kind(), EventKind::Click | EventKind::Change)
                    && marks[p].data(&attr).is_some()
                    && !in_selection_group(&marks[p], selection)
            })
            .collect();
        let (ticked, unticked) = checks(marks, &positions, &attr);
        for (ids, remove) in [(ticked, false), (unticked, true)] {
            if same_set(&ids, items) {
                let used: Vec<usize> = positions
                    .iter()
                    .copied()
                    .filter(|&p| {
                        marks[p]
                            .data(&attr)
                            .is_some_and(|v| items.iter().any(|i| i == v))
                    })
                    .collect();
                if let Some(&last) = used.last() {
                    out.push(At {
                        found: Found::Toggle {
                            attr: attr.clone(),
                            remove,
                        },
                        pos: last,
                        marks: used,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_capture_the_segment_that_decodes_to_the_value() {
        let shape =
            route_of("#search/from%3Aalice+report", "from:alice report", "query").expect("found");
        assert!(shape.query);
        assert_eq!(shape.pattern(), "^#search/(?P<query>[^/?#]+)$");
        assert_eq!(shape.name(), "search_query");
        let shape = route_of("#inbox/18c2", "18c2", "message_id").expect("found");
        assert!(!shape.query);
        assert_eq!(shape.name(), "inbox_message_id");
        let shape = route_of("#issues/12", "12", "issue_number").expect("found");
        assert_eq!(shape.pattern(), "^#issues/(?P<issue_number>[0-9]+)$");
        assert_eq!(decode("Zo%C3%AB", false), "Zoë");
        assert_eq!(decode("100%", true), "100%");
    }
}
