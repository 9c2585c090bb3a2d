//! Whether a recording was made with the capture script, and what a recording
//! made without it still holds.
//!
//! The script's `tracepipe:` marks are what name the button clicked and the
//! text typed. A trace recorded without it is still read (its requests,
//! navigations and bare input dispatches are real), but it classifies into an
//! Example with no actions, and every place that reports on a session says why
//! ([`CaptureReport::missing_script_line`]).

use tracepipe_schemas::{EventKind, Session, SourceFormat};

/// How the actions of a recording were captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capture {
    /// By the capture script or extension: actions with their targets.
    Script,
    /// Without it: inputs have no targets, so no action can be named.
    None,
}

impl Capture {
    /// The name the API and stored records use: `script` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capture::Script => "script",
            Capture::None => "none",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(text: &str) -> Option<Capture> {
        match text {
            "script" => Some(Capture::Script),
            "none" => Some(Capture::None),
            _ => None,
        }
    }
}

/// What a session says about how it was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureReport {
    pub capture: Capture,
    /// Input dispatches (`click`, `keydown` …) known only by their type.
    pub inputs_without_targets: usize,
    pub requests: usize,
    pub navigations: usize,
}

/// Where recording with the script is explained.
pub const RECORDING_DOCS: &str = "docs/recording.md";

impl CaptureReport {
    /// Reads it off a normalised session. A session has the script's actions
    /// when any click, change, submit, key or scroll came from a capture
    /// mark, or when it is the capture extension's `input_events.jsonl`
    /// (which only the script writes).
    pub fn of(session: &Session) -> CaptureReport {
        let count = |kind: EventKind| session.events.iter().filter(|e| e.kind == kind).count();
        let scripted = session.source == SourceFormat::InputEventsJsonl
            || session.events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Click
                        | EventKind::Change
                        | EventKind::Submit
                        | EventKind::Key
                        | EventKind::Scroll
                )
            });
        CaptureReport {
            capture: if scripted {
                Capture::Script
            } else {
                Capture::None
            },
            inputs_without_targets: count(EventKind::Input),
            requests: count(EventKind::NetworkRequest),
            navigations: count(EventKind::Navigation),
        }
    }

    /// The line that summaries print for a recording made without the
    /// script; None when it was made with it.
    pub fn missing_script_line(&self) -> Option<String> {
        (self.capture == Capture::None).then(|| {
            format!(
                "recorded without the capture script: no `tracepipe:` marks, so no action could be named; \
                 found {} inputs without targets, {} requests, {} navigations. \
                 {RECORDING_DOCS} says how to record with the script",
                self.inputs_without_targets, self.requests, self.navigations
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_session, DiscardScreenshots, Limits};

    fn read(events: serde_json::Value) -> Session {
        let bytes = serde_json::to_vec(&serde_json::json!({ "traceEvents": events })).unwrap();
        read_session(
            &bytes[..],
            "s".into(),
            &Limits::default(),
            &mut DiscardScreenshots,
        )
        .unwrap()
    }

    #[test]
    fn a_trace_without_marks_says_what_it_found_and_where_to_read_on() {
        let s = read(serde_json::json!([
            {"args": {"frame": "F1", "data": {"documentLoaderURL": "http://localhost/#inbox", "isLoadingMainFrame": true}},
             "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 2, "ts": 1},
            {"args": {"data": {"type": "click"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "pid": 2, "ts": 5},
            {"args": {"data": {"type": "keydown"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "pid": 2, "ts": 6},
            {"args": {"data": {"requestId": "1", "url": "http://localhost/api/x"}}, "cat": "devtools.timeline", "name": "ResourceSendRequest", "ph": "I", "pid": 2, "ts": 7}
        ]));
        let report = CaptureReport::of(&s);
        assert_eq!(
            report,
            CaptureReport {
                capture: Capture::None,
                inputs_without_targets: 2,
                requests: 1,
                navigations: 1
            }
        );
        let line = report.missing_script_line().unwrap();
        assert!(
            line.starts_with("recorded without the capture script"),
            "{line}"
        );
        assert!(
            line.contains("2 inputs without targets, 1 requests, 1 navigations"),
            "{line}"
        );
        assert!(line.contains(RECORDING_DOCS), "{line}");
        assert_eq!(Capture::parse(report.capture.as_str()), Some(Capture::None));
    }

    #[test]
    fn a_trace_with_marks_was_made_with_the_script() {
        let detail = serde_json::json!({"target": {"tag": "button", "label": "Compose"}, "url": "http://localhost/#inbox"});
        let s = read(serde_json::json!([
            {"args": {"data": {"detail": detail.to_string()}}, "cat": "blink.user_timing", "name": "tracepipe:click", "ph": "I", "pid": 2, "ts": 1}
        ]));
        let report = CaptureReport::of(&s);
        assert_eq!(report.capture, Capture::Script);
        assert_eq!(report.missing_script_line(), None);
        assert_eq!(Capture::parse("script"), Some(Capture::Script));
        assert_eq!(Capture::parse("other"), None);
    }
}
