//! Tracepipe's data contracts.
//!
//! A [`Session`] is what the gateway publishes once an upload has been read and
//! normalised: metadata plus the interaction events that matter, in time order, on
//! one clock (microseconds since the session began). The Avro schema in
//! `avro/session.avsc` is the wire contract; the Rust types here mirror it field for
//! field so that `serde` drives both the Avro and the JSON encodings.

mod avro;
// The Kafka topics' values carry the analyst-table rows (tracepipe-sinks),
// which only the distributed services need: hence a feature.
#[cfg(feature = "kafka-events")]
pub mod events;

pub use avro::{
    decode_session, decode_session_head, encode_session, session_schema, AvroError,
    SESSION_SCHEMA_JSON,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kind of recording a session was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceFormat {
    ChromeTrace,
    InputEventsJsonl,
}

/// A normalised session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    pub source: SourceFormat,
    pub suite: Option<String>,
    /// RFC 3339 wall-clock start, when the recording carries one.
    pub started_at: Option<String>,
    pub duration_us: i64,
    pub user_agent: Option<String>,
    /// The recording's file name as given or uploaded (provenance: which
    /// recording became which Session), when known. Placed before `events` in
    /// the Avro schema, so that a truncated value fails to decode rather than
    /// losing a trailing optional field.
    #[serde(default)]
    pub source_name: Option<String>,
    /// SHA-256 of the recording's bytes as given or uploaded, lowercase hex.
    #[serde(default)]
    pub source_sha256: Option<String>,
    /// Distinct page URLs in order of first appearance.
    pub pages: Vec<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    Click,
    Change,
    Submit,
    Key,
    Navigation,
    NetworkRequest,
    Screenshot,
    /// A raw input dispatch (`EventDispatch`/`EventTiming`): the type only, no target.
    Input,
    Scroll,
    /// What the page showed once an action had completed (`view` is set).
    View,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Click,
        EventKind::Change,
        EventKind::Submit,
        EventKind::Key,
        EventKind::Navigation,
        EventKind::NetworkRequest,
        EventKind::Screenshot,
        EventKind::Input,
        EventKind::Scroll,
        EventKind::View,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Click => "click",
            EventKind::Change => "change",
            EventKind::Submit => "submit",
            EventKind::Key => "key",
            EventKind::Navigation => "navigation",
            EventKind::NetworkRequest => "network_request",
            EventKind::Screenshot => "screenshot",
            EventKind::Input => "input",
            EventKind::Scroll => "scroll",
            EventKind::View => "view",
        }
    }
}

/// One interaction event. Which optional parts are set depends on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Microseconds since the session began.
    pub t_us: i64,
    pub kind: EventKind,
    /// The page URL at that moment; for navigations the new URL, for requests the
    /// request URL.
    pub url: Option<String>,
    pub target: Option<Target>,
    pub value: Option<String>,
    /// The value was withheld because the field holds a secret.
    pub masked: bool,
    pub key: Option<String>,
    pub modifiers: Vec<String>,
    pub navigation: Option<Navigation>,
    pub network: Option<NetworkRequest>,
    pub screenshot: Option<ScreenshotRef>,
    pub input: Option<InputDispatch>,
    /// For a click, the target's state after the click's own handlers ran,
    /// keyed by the capture contract's names (`checked`, `aria-checked`,
    /// `aria-pressed`, `aria-selected`, `aria-expanded`), each `true`,
    /// `false` or `mixed`. Empty for other events and for recordings made
    /// before the contract carried it: a toggle's new state then is unknown.
    #[serde(default)]
    pub state: BTreeMap<String, String>,
    /// For a [`EventKind::View`] event, what the page showed. `None` for
    /// other events and for recordings made before the contract carried it.
    #[serde(default)]
    pub view: Option<ViewSnapshot>,
}

impl Event {
    /// An event of `kind` at `t_us` with every optional part empty.
    pub fn new(kind: EventKind, t_us: i64) -> Self {
        Event {
            t_us,
            kind,
            url: None,
            target: None,
            value: None,
            masked: false,
            key: None,
            modifiers: Vec::new(),
            navigation: None,
            network: None,
            screenshot: None,
            input: None,
            state: BTreeMap::new(),
            view: None,
        }
    }

    /// The target's accessible name, if any.
    pub fn label(&self) -> Option<&str> {
        self.target.as_ref().and_then(|t| t.label.as_deref())
    }
}

/// What the page showed once an action had completed: the capture contract's `tracepipe:view` mark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewSnapshot {
    /// Visible entries that carry a `data-*` id (message rows, label entries, filters, search results…), in page order.
    #[serde(default)]
    pub items: Vec<ViewItem>,
    /// The opened item (e.g. an open message), when the page shows one.
    #[serde(default)]
    pub open: Option<ViewItem>,
    /// The script left entries or fields out to stay within its limits.
    #[serde(default)]
    pub truncated: bool,
}

/// One entry of a [`ViewSnapshot`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewItem {
    #[serde(default)]
    pub role: Option<String>,
    /// The accessible name.
    #[serde(default)]
    pub name: Option<String>,
    /// `data-*` attributes keyed by their full name (`data-message-id`).
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Labelled fields the item shows (e.g. "from", "subject", "date", "body"), keys lowercase.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// What the user acted on, as the capture contract describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub tag: Option<String>,
    pub role: Option<String>,
    /// The accessible name.
    pub label: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// The element's `type` attribute.
    pub input_type: Option<String>,
    pub text: Option<String>,
    pub href: Option<String>,
    pub selector: Option<String>,
    pub autocomplete: Option<String>,
    /// `data-*` attributes keyed by their full name.
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Navigation {
    /// A history or fragment change within the same document (hash routes).
    pub same_document: bool,
    pub from_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRequest {
    pub request_id: String,
    pub method: String,
    pub status: Option<i32>,
    pub mime_type: Option<String>,
    /// When the response finished, on the session clock.
    pub end_us: Option<i64>,
    pub failed: bool,
    pub encoded_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreenshotRef {
    /// Object key of the JPEG, relative to the session's folder.
    pub blob: String,
    pub bytes: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDispatch {
    /// The DOM event type (`mousedown`, `keydown`, `click`, …).
    pub input_type: String,
    pub interaction_id: Option<i64>,
    pub duration_us: Option<i64>,
}
