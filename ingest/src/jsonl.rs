//! Reading the capture extension's `input_events.jsonl`.
//!
//! One JSON object per line: `suite`, `tab`, `url`, `timestamp` (RFC 3339),
//! `action`, `selector` (the element) and `additional_info` (what the action
//! carries: a value, a key, scroll offsets). Screenshot lines name an image file
//! uploaded beside the events.

use crate::builder::SessionBuilder;
use crate::decode::PlainReader;
use crate::error::Location;
use crate::redact::{ScreenshotGuard, Verdict};
use crate::{IngestError, Limits, ScreenshotSink};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use tracepipe_schemas::{
    Event, EventKind, InputDispatch, Navigation, ScreenshotRef, SourceFormat, Target,
};

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    suite: Option<String>,
    #[serde(default)]
    url: Option<String>,
    timestamp: String,
    action: String,
    #[serde(default)]
    selector: Option<Selector>,
    #[serde(default)]
    additional_info: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    viewport: Option<Viewport>,
    #[serde(default)]
    user_agent: Option<String>,
}

#[derive(Deserialize, Default)]
struct Selector {
    tag: Option<String>,
    id: Option<String>,
    class: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    input_type: Option<String>,
    role: Option<String>,
    #[serde(alias = "aria_label", alias = "aria-label")]
    label: Option<String>,
    text: Option<String>,
    href: Option<String>,
    #[serde(alias = "css")]
    selector: Option<String>,
    autocomplete: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Viewport {
    width: Option<i32>,
    height: Option<i32>,
}

fn info_str(info: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    match info.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn target_of(sel: Selector, info: &serde_json::Map<String, serde_json::Value>) -> Target {
    let css = sel.selector.or_else(|| {
        let tag = sel.tag.clone()?;
        Some(match (&sel.id, &sel.class) {
            (Some(id), _) if !id.is_empty() => format!("{tag}#{id}"),
            (_, Some(class)) if !class.trim().is_empty() => {
                format!(
                    "{tag}.{}",
                    class.split_whitespace().collect::<Vec<_>>().join(".")
                )
            }
            _ => tag,
        })
    });
    let mut data: BTreeMap<String, String> = sel
        .data
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    if let Some(serde_json::Value::Object(extra)) = info.get("data") {
        for (k, v) in extra {
            data.entry(k.clone())
                .or_insert_with(|| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        }
    }
    Target {
        tag: sel.tag.map(|t| t.to_ascii_lowercase()),
        role: sel.role.or_else(|| info_str(info, "role")),
        label: sel
            .label
            .or_else(|| info_str(info, "label"))
            .or_else(|| info_str(info, "aria_label")),
        id: sel.id.filter(|s| !s.is_empty()),
        name: sel.name.or_else(|| info_str(info, "name")),
        input_type: sel
            .input_type
            .or_else(|| info_str(info, "input_type"))
            .map(|t| t.to_ascii_lowercase()),
        text: sel.text.or_else(|| info_str(info, "text")),
        href: sel.href.or_else(|| info_str(info, "href")),
        selector: css,
        autocomplete: sel.autocomplete.or_else(|| info_str(info, "autocomplete")),
        data,
    }
}

pub(crate) fn read<R: Read>(
    mut input: PlainReader<R>,
    limits: Limits,
    guard: &ScreenshotGuard,
    screenshots: &mut dyn ScreenshotSink,
) -> Result<SessionBuilder, IngestError> {
    let mut builder = SessionBuilder::new(SourceFormat::InputEventsJsonl);
    let mut chunk = vec![0u8; 256 << 10];
    let mut line = Vec::<u8>::new();
    let mut line_no = 0u64;
    let mut shots = 0usize;
    loop {
        let n = input.read_chunk(&mut chunk)?;
        let mut rest = &chunk[..n];
        let at_end = n == 0;
        loop {
            let (piece, complete) = match memchr::memchr(b'\n', rest) {
                Some(k) => (&rest[..k], true),
                None => (rest, at_end),
            };
            if line.len() + piece.len() > limits.max_line_bytes {
                return Err(IngestError::EventTooLarge {
                    at: Location::Line(line_no + 1),
                    limit: limits.max_line_bytes,
                });
            }
            line.extend_from_slice(piece);
            if !complete {
                break;
            }
            line_no += 1;
            handle_line(&line, line_no, &mut builder, guard, screenshots, &mut shots)?;
            if builder.len() > limits.max_events {
                return Err(IngestError::TooManyEvents {
                    limit: limits.max_events,
                });
            }
            line.clear();
            if piece.len() == rest.len() {
                break;
            }
            rest = &rest[piece.len() + 1..];
        }
        if at_end {
            break;
        }
    }
    if builder.is_empty() {
        return Err(IngestError::Empty);
    }
    Ok(builder)
}

fn handle_line(
    raw: &[u8],
    line_no: u64,
    builder: &mut SessionBuilder,
    guard: &ScreenshotGuard,
    screenshots: &mut dyn ScreenshotSink,
    shots: &mut usize,
) -> Result<(), IngestError> {
    let at = Location::Line(line_no);
    let text = std::str::from_utf8(raw).map_err(|_| IngestError::Utf8 { at })?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(());
    }
    let line: Line = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            IngestError::syntax(at, e.to_string())
        } else {
            IngestError::shape(at, e.to_string())
        }
    })?;
    let when = chrono::DateTime::parse_from_rfc3339(&line.timestamp).map_err(|e| {
        IngestError::shape(
            at,
            format!("`timestamp` {:?} is not RFC 3339: {e}", line.timestamp),
        )
    })?;
    let ts = when.timestamp_micros();
    builder.set_started_at(line.timestamp.clone());
    if let Some(s) = line.suite {
        builder.set_suite(s);
    }
    if let Some(ua) = line.user_agent {
        builder.set_user_agent(ua);
    }
    let info = line.additional_info.unwrap_or_default();
    let kind = match line.action.as_str() {
        "click" | "dblclick" => EventKind::Click,
        "change" | "input" => EventKind::Change,
        "submit" => EventKind::Submit,
        "keydown" | "keypress" | "key" => EventKind::Key,
        "scroll" => EventKind::Scroll,
        "navigate" | "navigation" | "page_load" | "load" | "hashchange" | "url_change" => {
            EventKind::Navigation
        }
        "screenshot" => EventKind::Screenshot,
        _ => EventKind::Input,
    };
    let mut e = Event::new(kind, ts);
    e.url = line.url;
    match kind {
        EventKind::Screenshot => {
            let filename = line
                .filename
                .ok_or_else(|| IngestError::shape(at, "a screenshot line has no `filename`"))?;
            let index = *shots;
            // The image files are not in the recording: none can be painted
            // over here, so only a screenshot kept as it is gets referenced.
            if guard.verdict(ts) != Verdict::Keep {
                *shots += 1;
                builder.screenshot_dropped();
                return Ok(());
            }
            let (blob, bytes) = screenshots
                .reference(index, &filename)
                .map_err(|message| IngestError::Screenshot { index, message })?;
            *shots += 1;
            let (width, height) = line.viewport.map_or((None, None), |v| (v.width, v.height));
            e.screenshot = Some(ScreenshotRef {
                blob,
                bytes,
                width,
                height,
            });
        }
        EventKind::Navigation => {
            e.navigation = Some(Navigation {
                same_document: false,
                from_url: None,
            })
        }
        EventKind::Input => {
            e.input = Some(InputDispatch {
                input_type: line.action.clone(),
                interaction_id: None,
                duration_us: None,
            })
        }
        _ => {}
    }
    if let Some(sel) = line.selector {
        e.target = Some(target_of(sel, &info));
    }
    e.value = info_str(&info, "value");
    e.masked = info
        .get("masked")
        .and_then(|m| m.as_bool())
        .unwrap_or(false);
    e.key = info_str(&info, "key");
    if let Some(serde_json::Value::Array(mods)) = info.get("modifiers") {
        e.modifiers = mods
            .iter()
            .filter_map(|m| m.as_str().map(str::to_ascii_lowercase))
            .collect();
    }
    builder.push(e);
    Ok(())
}
