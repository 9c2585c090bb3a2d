//! Reading Chrome's Trace Event Format into a Session.
//!
//! Of the tens of thousands of events in a performance recording only a few kinds
//! matter: the capture script's `tracepipe:*` marks, input dispatches and
//! interactions, network requests, navigations, screenshots, and the metadata that
//! says which process and frames belong to the recorded page. Every other event is
//! recognised by its name alone and skipped without being parsed.

mod perfetto;
mod scan;

pub use perfetto::looks_like_perfetto;

use crate::builder::SessionBuilder;
use crate::decode::PlainReader;
use crate::error::Location;
use crate::marks::{event_from_mark, kind_of_mark, view_event_from_mark, MarkDetail};
use crate::redact::{
    redact_jpeg, ScreenPrivacy, ScreenshotGuard, SensitiveSnapshot, Verdict, SENSITIVE_MARK,
};
use crate::{screenshot_key, IngestError, Limits, ScreenshotSink};
use base64::Engine;
use scan::{Splitter, TopLevel};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::LazyLock;
use tracepipe_schemas::{
    Event, EventKind, InputDispatch, Navigation, NetworkRequest, ScreenshotRef, SourceFormat,
};

/// Event names worth parsing. Everything else is noise to Tracepipe.
const WANTED: &[&str] = &[
    "EventDispatch",
    "EventTiming",
    "ResourceSendRequest",
    "ResourceReceiveResponse",
    "ResourceFinish",
    "Screenshot",
    "TracingStartedInBrowser",
    "TracingStartedInPage",
    "FrameCommittedInBrowser",
    "FrameLoader:state_snapshot",
    "navigationStart",
    "CommitLoad",
    "SoftNavigationHeuristics::SameDocumentNavigationCommitted",
    "SoftNavigation",
    "process_name",
];
const MARK_PREFIX: &str = "tracepipe:";

/// DOM event types kept from `EventDispatch`/`EventTiming`: what a person does,
/// not pointer motion or focus churn.
const INPUT_TYPES: &[&str] = &[
    "click",
    "dblclick",
    "contextmenu",
    "keydown",
    "input",
    "change",
    "submit",
    "paste",
    "cut",
    "copy",
    "drop",
    "wheel",
    "touchstart",
];

/// Whether the raw event may be one Tracepipe keeps, judged from its `"name"`
/// members without parsing it. Generous on purpose: a false positive costs one
/// parse, a false negative would lose data.
fn may_be_wanted(raw: &[u8]) -> bool {
    may_be_named(raw, |name| {
        name.starts_with(MARK_PREFIX.as_bytes()) || WANTED.iter().any(|w| w.as_bytes() == name)
    })
}

/// Whether a `"name"` member of the raw event satisfies `wanted`, or has
/// escapes that only a parse can judge.
fn may_be_named(raw: &[u8], wanted: impl Fn(&[u8]) -> bool) -> bool {
    static NAME_KEY: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"name\""));
    for at in NAME_KEY.find_iter(raw) {
        let mut i = at + 6;
        while i < raw.len() && matches!(raw[i], b' ' | b'\t' | b'\n' | b'\r' | b':') {
            i += 1;
        }
        if raw.get(i) != Some(&b'"') {
            continue;
        }
        let rest = &raw[i + 1..];
        let Some(end) = memchr::memchr(b'"', rest) else {
            continue;
        };
        let name = &rest[..end];
        if memchr::memchr(b'\\', name).is_some() || wanted(name) {
            return true;
        }
    }
    false
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    cat: Cow<'a, str>,
    #[serde(borrow, default)]
    ph: Cow<'a, str>,
    #[serde(default)]
    ts: Option<f64>,
    #[serde(default)]
    pid: Option<i64>,
    #[serde(borrow, default)]
    args: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct DataArgs<T> {
    #[serde(default = "Option::default")]
    data: Option<T>,
}

#[derive(Deserialize)]
struct MarkData<'a> {
    #[serde(borrow, default)]
    detail: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct DispatchData<'a> {
    #[serde(borrow, rename = "type", default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default, rename = "interactionId")]
    interaction_id: Option<i64>,
    #[serde(default)]
    duration: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendRequestData {
    request_id: String,
    url: String,
    #[serde(default)]
    request_method: Option<String>,
    #[serde(default)]
    frame: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseData {
    request_id: String,
    #[serde(default)]
    status_code: Option<i32>,
    #[serde(default)]
    mime_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FinishData {
    request_id: String,
    #[serde(default)]
    did_fail: bool,
    #[serde(default)]
    finish_time: Option<f64>,
    #[serde(default)]
    encoded_data_length: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FrameInfo {
    #[serde(default)]
    frame: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    process_id: Option<i64>,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Deserialize)]
struct TracingStartedData {
    #[serde(default)]
    frames: Vec<FrameInfo>,
    /// `TracingStartedInPage` (Chrome 69 and older): the main frame's id.
    #[serde(default)]
    page: Option<String>,
}

/// `navigationStart` (a `blink.user_timing` mark of every document load):
/// the frame is at the top level; `data` with the URL since about Chrome 75.
#[derive(Deserialize)]
struct NavigationStartArgs {
    #[serde(default)]
    frame: Option<String>,
    #[serde(default)]
    data: Option<NavigationStartData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NavigationStartData {
    #[serde(default, rename = "documentLoaderURL")]
    document_loader_url: Option<String>,
    #[serde(default)]
    is_loading_main_frame: Option<bool>,
}

/// `CommitLoad`: a frame committed a document load (`page` instead of
/// `isMainFrame` before Chrome 70).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitLoadData {
    #[serde(default)]
    frame: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    is_main_frame: Option<bool>,
    #[serde(default)]
    page: Option<String>,
}

/// `SoftNavigation` (soft-navigation heuristics, Chrome 110 and later behind
/// the origin trial or flag): a same-document navigation an interaction caused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SoftNavigationData {
    #[serde(default, rename = "mostRecentURL")]
    most_recent_url: Option<String>,
    #[serde(default, rename = "initialURL")]
    initial_url: Option<String>,
}

/// `FrameLoader:state_snapshot`: the frame's document URL after a load or a
/// same-document (fragment or history) navigation.
#[derive(Deserialize)]
struct StateSnapshotArgs {
    snapshot: Option<StateSnapshot>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateSnapshot {
    #[serde(default, rename = "documentLoaderURL")]
    document_loader_url: Option<String>,
    #[serde(default)]
    is_loading_main_frame: Option<bool>,
    #[serde(default)]
    frame: Option<FrameRef>,
}

#[derive(Deserialize)]
struct FrameRef {
    #[serde(default)]
    id_ref: Option<String>,
}

/// The soft-navigation heuristics' record of a same-document navigation.
#[derive(Deserialize)]
struct SoftNavigationArgs {
    context: Option<SoftNavigationContext>,
}

#[derive(Deserialize)]
struct SoftNavigationContext {
    #[serde(default, rename = "URL")]
    url: Option<String>,
}

#[derive(Deserialize)]
struct ProcessNameArgs {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ScreenshotArgs<'a> {
    #[serde(borrow, default)]
    snapshot: Option<Cow<'a, str>>,
}

/// Chrome's `trace-capture-datetime` as RFC 3339. Chrome writes it in UTC, to
/// the second, when tracing starts, unpadded (`2016-8-18 22:28:10`, the
/// pattern `y-M-d H:m:s`); padded values read the same. Anything else is not
/// a time this reader can vouch for: `None`.
fn capture_datetime_rfc3339(text: &str) -> Option<String> {
    let at = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(
        at.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// URLs of the browser's own pages, never of the recorded app.
fn is_browser_url(url: &str) -> bool {
    const INTERNAL: &[&str] = &[
        "chrome:",
        "chrome-extension:",
        "chrome-untrusted:",
        "devtools:",
        "chrome-search:",
        "edge:",
        "about:",
    ];
    INTERNAL.iter().any(|p| url.starts_with(p))
}

/// An event kept while reading, with what decides at the end whether it belongs
/// to the recorded page.
struct Pending {
    event: Event,
    pid: Option<i64>,
    frame: Option<String>,
    /// A navigation from an event of older Chrome (`navigationStart`,
    /// `CommitLoad`, `FrameCommittedInBrowser`): used only when the trace has
    /// no `FrameLoader:state_snapshot` navigation, which says the same and
    /// more (same-document changes too).
    fallback: bool,
}

struct Reader<'s> {
    builder: SessionBuilder,
    pending: Vec<Pending>,
    requests: HashMap<String, usize>,
    /// Renderer processes that host the recorded page.
    page_pids: HashSet<i64>,
    /// Frames showing the browser's own pages.
    browser_frames: HashSet<String>,
    browser_pids: HashSet<i64>,
    /// Main frames of the recorded page, and frames known to be inside one.
    main_frames: HashSet<String>,
    sub_frames: HashSet<String>,
    /// Whether a `FrameLoader:state_snapshot` gave a navigation.
    snapshot_navigations: bool,
    /// `metadata.startTime` and `metadata.trace-capture-datetime`, RFC 3339.
    start_time: Option<String>,
    capture_datetime: Option<String>,
    screenshots: &'s mut dyn ScreenshotSink,
    guard: &'s ScreenshotGuard,
    screenshot_count: usize,
}

/// How a Chrome trace is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// The Trace Event Format: JSON, an object or a bare array.
    Json,
    /// Perfetto's protobuf `Trace`.
    Perfetto,
}

/// What hands out a trace's events one at a time, whatever its encoding.
trait Items {
    fn next_item(&mut self) -> Result<Option<TopLevel<'_>>, IngestError>;
}

impl<R: Read> Items for Splitter<R> {
    fn next_item(&mut self) -> Result<Option<TopLevel<'_>>, IngestError> {
        Splitter::next_item(self)
    }
}

impl<R: Read> Items for perfetto::PacketReader<R> {
    fn next_item(&mut self) -> Result<Option<TopLevel<'_>>, IngestError> {
        perfetto::PacketReader::next_item(self)
    }
}

/// Whether an event of this name is one Tracepipe keeps (for encodings where
/// the name is known before the event is decoded).
fn wanted_name(name: &str) -> bool {
    name.starts_with(MARK_PREFIX) || WANTED.contains(&name)
}

fn items<'r, R: Read + 'r>(
    input: PlainReader<R>,
    encoding: Encoding,
    limits: Limits,
    wanted: fn(&str) -> bool,
) -> Box<dyn Items + 'r> {
    match encoding {
        Encoding::Json => Box::new(Splitter::new(input, limits)),
        Encoding::Perfetto => Box::new(perfetto::PacketReader::new(input, limits, wanted)),
    }
}

/// Reads a Chrome trace (plain or gzipped, already wrapped) into a builder.
pub(crate) fn read<R: Read>(
    input: PlainReader<R>,
    encoding: Encoding,
    limits: Limits,
    guard: &ScreenshotGuard,
    screenshots: &mut dyn ScreenshotSink,
) -> Result<SessionBuilder, IngestError> {
    let mut splitter = items(input, encoding, limits, wanted_name);
    let mut reader = Reader {
        builder: SessionBuilder::new(SourceFormat::ChromeTrace),
        pending: Vec::new(),
        requests: HashMap::new(),
        page_pids: HashSet::new(),
        browser_frames: HashSet::new(),
        browser_pids: HashSet::new(),
        main_frames: HashSet::new(),
        sub_frames: HashSet::new(),
        snapshot_navigations: false,
        start_time: None,
        capture_datetime: None,
        screenshots,
        guard,
        screenshot_count: 0,
    };
    while let Some(item) = splitter.next_item()? {
        match item {
            TopLevel::Event(raw, at) => {
                if may_be_wanted(raw) {
                    reader.event(raw, at)?;
                    // Checked as events are kept, so that memory stops growing
                    // at the limit rather than after the whole trace is read.
                    if reader.pending.len() + reader.builder.len() > limits.max_events {
                        return Err(IngestError::TooManyEvents {
                            limit: limits.max_events,
                        });
                    }
                }
            }
            TopLevel::Metadata(key, raw, at) => reader.metadata(key, raw, at)?,
        }
    }
    Ok(reader.finish())
}

/// The first pass for screenshot redaction: the `tracepipe:sensitive` marks and
/// the times of the screenshots, whatever their order in the file. Nothing
/// else is parsed, and no image is decoded.
pub(crate) fn scan_privacy<R: Read>(
    input: PlainReader<R>,
    encoding: Encoding,
    limits: Limits,
) -> Result<ScreenPrivacy, IngestError> {
    let mut splitter = items(input, encoding, limits, |name| {
        name == SENSITIVE_MARK || name == "Screenshot"
    });
    let mut privacy = ScreenPrivacy::default();
    while let Some(item) = splitter.next_item()? {
        let TopLevel::Event(raw, at) = item else {
            continue;
        };
        if !may_be_named(raw, |name| {
            name == SENSITIVE_MARK.as_bytes() || name == b"Screenshot"
        }) {
            continue;
        }
        let ev: RawEvent =
            serde_json::from_slice(raw).map_err(|e| shape_error(at, "trace event", e))?;
        let Some(ts) = ev.ts.map(|t| t as i64) else {
            continue;
        };
        if ev.name == "Screenshot" && ev.cat.contains("screenshot") {
            privacy.add_screenshot(ts);
        } else if ev.name == SENSITIVE_MARK
            && ev.cat == "blink.user_timing"
            && !matches!(ev.ph.as_ref(), "e" | "E")
        {
            let args = ev.args.map(RawValue::get).unwrap_or("{}");
            let data: DataArgs<MarkData> = serde_json::from_str(args)
                .map_err(|e| shape_error(at, &format!("`{SENSITIVE_MARK}` args"), e))?;
            let detail = data.data.and_then(|d| d.detail).unwrap_or_default();
            let snapshot = SensitiveSnapshot::parse(ts, &detail)
                .map_err(|m| IngestError::shape(Location::Byte(at), m))?;
            privacy
                .add_snapshot(snapshot)
                .map_err(|m| IngestError::shape(Location::Byte(at), m))?;
        }
    }
    Ok(privacy)
}

fn shape_error(at: u64, what: &str, err: serde_json::Error) -> IngestError {
    IngestError::shape(Location::Byte(at), format!("{what}: {err}"))
}

impl Reader<'_> {
    /// One member of the trace's `metadata` (one of [`scan::METADATA_KEYS`]).
    fn metadata(&mut self, key: &str, raw: &[u8], at: u64) -> Result<(), IngestError> {
        let value: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|e| shape_error(at, &format!("trace `metadata.{key}`"), e))?;
        // Tools write what they like here; only text is understood.
        let Some(value) = value.as_str().map(str::to_owned) else {
            return Ok(());
        };
        match key {
            "user-agent" => self.builder.set_user_agent(value),
            // `startTime` (DevTools' saved recordings) is RFC 3339 already and
            // wins over Chrome's own `trace-capture-datetime`, written as
            // tracing starts, whichever comes first in the file.
            "startTime" => {
                if chrono::DateTime::parse_from_rfc3339(&value).is_ok() {
                    self.start_time = Some(value);
                }
            }
            _ => self.capture_datetime = capture_datetime_rfc3339(&value),
        }
        Ok(())
    }

    fn event(&mut self, raw: &[u8], at: u64) -> Result<(), IngestError> {
        let ev: RawEvent =
            serde_json::from_slice(raw).map_err(|e| shape_error(at, "trace event", e))?;
        let ts = ev.ts.map(|t| t as i64);
        let args = ev.args.map(RawValue::get).unwrap_or("{}");
        let parse_err =
            |what: &str, e: serde_json::Error| shape_error(at, &format!("`{}` {what}", ev.name), e);
        if let Some(mark_type) = ev.name.strip_prefix(MARK_PREFIX) {
            // User Timing marks come as instants, or as a begin/end pair of which
            // only the begin carries the detail.
            if ev.cat != "blink.user_timing" || matches!(ev.ph.as_ref(), "e" | "E") {
                return Ok(());
            }
            let Some(kind) = kind_of_mark(mark_type) else {
                return Ok(());
            };
            let data: DataArgs<MarkData> =
                serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
            if kind == EventKind::View {
                // What the page showed is an addition to the recording, not
                // part of what was done: a view that cannot be read is left
                // out, the recording still read.
                let (Some(text), Some(ts)) = (data.data.and_then(|d| d.detail), ts) else {
                    tracing::warn!(
                        at,
                        "a tracepipe:view mark without a detail or a time: left out"
                    );
                    return Ok(());
                };
                match view_event_from_mark(ts, &text) {
                    Ok(view) => {
                        if let Some(pid) = ev.pid {
                            self.page_pids.insert(pid);
                        }
                        self.keep(view, ev.pid, None);
                    }
                    Err(error) => {
                        tracing::warn!(at, %error, "a tracepipe:view mark could not be read: left out");
                    }
                }
                return Ok(());
            }
            let detail = match data.data.and_then(|d| d.detail) {
                Some(text) => {
                    serde_json::from_str::<MarkDetail>(&text).map_err(|e| parse_err("detail", e))?
                }
                None => MarkDetail::default(),
            };
            if let Some(pid) = ev.pid {
                self.page_pids.insert(pid);
            }
            let ts = ts.ok_or_else(|| {
                IngestError::shape(Location::Byte(at), "a capture mark has no `ts`")
            })?;
            self.keep(event_from_mark(kind, ts, detail), ev.pid, None);
            return Ok(());
        }
        match ev.name.as_ref() {
            "process_name" => {
                let args: ProcessNameArgs =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                if let (Some(pid), Some("Browser")) = (ev.pid, args.name.as_deref()) {
                    self.browser_pids.insert(pid);
                }
            }
            "TracingStartedInBrowser" => {
                let data: DataArgs<TracingStartedData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                if let Some(t) = ts {
                    self.builder.set_origin(t);
                }
                for f in data.data.map(|d| d.frames).unwrap_or_default() {
                    self.frame_seen(f);
                }
            }
            "TracingStartedInPage" => {
                // Chrome 69 and older: logged by the page's renderer itself.
                let data: DataArgs<TracingStartedData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                if let Some(t) = ts {
                    self.builder.set_origin(t);
                }
                if let Some(pid) = ev.pid {
                    self.page_pids.insert(pid);
                }
                if let Some(d) = data.data {
                    if let Some(page) = d.page {
                        self.main_frames.insert(page);
                    }
                    for f in d.frames {
                        self.frame_seen(f);
                    }
                }
            }
            "FrameCommittedInBrowser" => {
                let data: DataArgs<FrameInfo> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let Some(f) = data.data else { return Ok(()) };
                let main_frame = f.parent.is_none()
                    && !f
                        .frame
                        .as_ref()
                        .is_some_and(|id| self.sub_frames.contains(id));
                if let (true, Some(ts), Some(url)) = (main_frame, ts, f.url.as_ref()) {
                    if !url.is_empty() && !is_browser_url(url) {
                        self.fallback_navigation(ts, url.clone(), ev.pid, f.frame.clone());
                    }
                }
                self.frame_seen(f);
            }
            "navigationStart" => {
                if ev.cat != "blink.user_timing" {
                    return Ok(());
                }
                let args: NavigationStartArgs =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(data), Some(ts)) = (args.data, ts) else {
                    return Ok(());
                };
                let main_frame = match data.is_loading_main_frame {
                    Some(main) => main,
                    None => args
                        .frame
                        .as_ref()
                        .is_some_and(|f| self.main_frames.contains(f)),
                };
                if let Some(url) = data
                    .document_loader_url
                    .filter(|u| main_frame && !u.is_empty())
                {
                    if let Some(pid) = ev.pid {
                        self.page_pids.insert(pid);
                    }
                    self.fallback_navigation(ts, url, ev.pid, args.frame);
                }
            }
            "CommitLoad" => {
                let data: DataArgs<CommitLoadData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(d), Some(ts)) = (data.data, ts) else {
                    return Ok(());
                };
                let main_frame = d.is_main_frame.unwrap_or_else(|| {
                    d.page.is_some() && d.page == d.frame
                        || d.frame
                            .as_ref()
                            .is_some_and(|f| self.main_frames.contains(f))
                });
                if let Some(url) = d.url.filter(|u| main_frame && !u.is_empty()) {
                    if !is_browser_url(&url) {
                        if let Some(pid) = ev.pid {
                            self.page_pids.insert(pid);
                        }
                        if let Some(frame) = &d.frame {
                            self.main_frames.insert(frame.clone());
                        }
                    }
                    self.fallback_navigation(ts, url, ev.pid, d.frame);
                }
            }
            "SoftNavigation" => {
                let data: DataArgs<SoftNavigationData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(d), Some(ts)) = (data.data, ts) else {
                    return Ok(());
                };
                if let Some(url) = d
                    .most_recent_url
                    .or(d.initial_url)
                    .filter(|u| !u.is_empty())
                {
                    self.navigation(ts, url, ev.pid, None);
                }
            }
            "FrameLoader:state_snapshot" => {
                if ev.ph != "I" {
                    return Ok(());
                }
                let args: StateSnapshotArgs =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(snap), Some(ts)) = (args.snapshot, ts) else {
                    return Ok(());
                };
                if snap.is_loading_main_frame == Some(false) {
                    return Ok(());
                }
                if let Some(url) = snap.document_loader_url.filter(|u| !u.is_empty()) {
                    self.snapshot_navigations = true;
                    self.navigation(ts, url, ev.pid, snap.frame.and_then(|f| f.id_ref));
                }
            }
            "SoftNavigationHeuristics::SameDocumentNavigationCommitted" => {
                let args: SoftNavigationArgs =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(ctx), Some(ts)) = (args.context, ts) else {
                    return Ok(());
                };
                if let Some(url) = ctx.url.filter(|u| !u.is_empty()) {
                    self.navigation(ts, url, ev.pid, None);
                }
            }
            "EventDispatch" | "EventTiming" => {
                if ev.name == "EventTiming" && !matches!(ev.ph.as_ref(), "b" | "X" | "B") {
                    return Ok(());
                }
                let data: DataArgs<DispatchData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(d), Some(ts)) = (data.data, ts) else {
                    return Ok(());
                };
                let Some(input_type) = d.event_type.filter(|t| INPUT_TYPES.contains(&t.as_ref()))
                else {
                    return Ok(());
                };
                let interaction_id = d.interaction_id.filter(|&i| i > 0);
                if ev.name == "EventTiming" && interaction_id.is_none() {
                    return Ok(());
                }
                let mut e = Event::new(EventKind::Input, ts);
                e.input = Some(InputDispatch {
                    input_type: input_type.into_owned(),
                    interaction_id,
                    duration_us: d.duration.map(|ms| (ms * 1000.0) as i64),
                });
                self.keep(e, ev.pid, None);
            }
            "ResourceSendRequest" => {
                let data: DataArgs<SendRequestData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let (Some(d), Some(ts)) = (data.data, ts) else {
                    return Ok(());
                };
                if is_browser_url(&d.url) || d.url.starts_with("data:") {
                    return Ok(());
                }
                let mut e = Event::new(EventKind::NetworkRequest, ts);
                e.network = Some(NetworkRequest {
                    request_id: d.request_id.clone(),
                    method: d.request_method.unwrap_or_else(|| "GET".into()),
                    status: None,
                    mime_type: None,
                    end_us: None,
                    failed: false,
                    encoded_bytes: None,
                });
                e.url = Some(d.url);
                // A redirect re-sends under the same id; the first send is the request.
                if !self.requests.contains_key(&d.request_id) {
                    self.requests.insert(d.request_id, self.pending.len());
                    self.keep(e, ev.pid, d.frame);
                }
            }
            "ResourceReceiveResponse" => {
                let data: DataArgs<ResponseData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let Some(d) = data.data else { return Ok(()) };
                if let Some((_, n)) = self.request(&d.request_id) {
                    n.status = d.status_code.or(n.status);
                    n.mime_type = d.mime_type.filter(|m| !m.is_empty()).or(n.mime_type.take());
                }
            }
            "ResourceFinish" => {
                let data: DataArgs<FinishData> =
                    serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                let Some(d) = data.data else { return Ok(()) };
                if let Some((start, n)) = self.request(&d.request_id) {
                    n.failed = d.did_fail;
                    // finishTime is in seconds on the trace clock; 0 means unknown.
                    // A document request is logged by the renderer only once the
                    // browser has fetched it, so its finishTime can precede the
                    // send; then the finish event's own time is the honest end.
                    let finish = d.finish_time.filter(|t| *t > 0.0).map(|t| (t * 1e6) as i64);
                    n.end_us = finish.filter(|&f| f >= start).or(ts);
                    n.encoded_bytes = d.encoded_data_length.map(|b| b as i64);
                }
            }
            "Screenshot" => {
                if !ev.cat.contains("screenshot") {
                    return Ok(());
                }
                let Some(ts) = ts else { return Ok(()) };
                let b64: Cow<str> = match snapshot_text(args) {
                    Some(text) => Cow::Borrowed(text),
                    None => {
                        let shot: ScreenshotArgs =
                            serde_json::from_str(args).map_err(|e| parse_err("args", e))?;
                        match shot.snapshot {
                            Some(text) => text,
                            None => return Ok(()),
                        }
                    }
                };
                let bad_base64 = |e: base64::DecodeError| {
                    IngestError::shape(
                        Location::Byte(at),
                        format!("screenshot is not valid base64: {e}"),
                    )
                };
                let index = self.screenshot_count;
                self.screenshot_count += 1;
                let verdict = self.guard.verdict(ts);
                if let Verdict::Drop(_) = verdict {
                    self.builder.screenshot_dropped();
                    return Ok(());
                }
                let (blob, bytes, dims) = if self.screenshots.needs_images() {
                    let mut jpeg = base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .map_err(bad_base64)?;
                    if let Verdict::Redact(regions) = &verdict {
                        match redact_jpeg(&jpeg, regions) {
                            Ok(redacted) => jpeg = redacted,
                            Err(_) => {
                                // What cannot be painted over is not kept; the
                                // count of dropped screenshots reports it.
                                self.builder.screenshot_dropped();
                                return Ok(());
                            }
                        }
                        self.builder.screenshot_redacted();
                    }
                    let blob = self
                        .screenshots
                        .store(index, &jpeg)
                        .map_err(|message| IngestError::Screenshot { index, message })?;
                    (blob, jpeg.len(), jpeg_dimensions(&jpeg))
                } else {
                    // Only the header is decoded: enough for the size and the
                    // dimensions, which is all a counting sink records.
                    let head_len = (b64.len().min(8192) / 4) * 4;
                    let head = base64::engine::general_purpose::STANDARD
                        .decode(&b64.as_bytes()[..head_len])
                        .map_err(bad_base64)?;
                    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
                    (
                        screenshot_key(index),
                        (b64.len() / 4 * 3).saturating_sub(padding),
                        jpeg_dimensions(&head),
                    )
                };
                let (width, height) = dims.unzip();
                let mut e = Event::new(EventKind::Screenshot, ts);
                e.screenshot = Some(ScreenshotRef {
                    blob,
                    bytes: bytes as i64,
                    width,
                    height,
                });
                // Screenshots come from the browser process and show the page.
                self.builder.push(e);
            }
            _ => {}
        }
        Ok(())
    }

    /// A navigation of the page; whether it stayed in the same document is
    /// decided once the events are in order.
    fn navigation(&mut self, ts: i64, url: String, pid: Option<i64>, frame: Option<String>) {
        self.pending.push(Pending {
            event: navigation_event(ts, url),
            pid,
            frame,
            fallback: false,
        });
    }

    /// A navigation from an event that only older traces need (see
    /// [`Pending::fallback`]).
    fn fallback_navigation(
        &mut self,
        ts: i64,
        url: String,
        pid: Option<i64>,
        frame: Option<String>,
    ) {
        self.pending.push(Pending {
            event: navigation_event(ts, url),
            pid,
            frame,
            fallback: true,
        });
    }

    /// A request seen earlier, with the time it was sent.
    fn request(&mut self, id: &str) -> Option<(i64, &mut NetworkRequest)> {
        let i = *self.requests.get(id)?;
        let e = &mut self.pending[i].event;
        Some((e.t_us, e.network.as_mut()?))
    }

    fn frame_seen(&mut self, f: FrameInfo) {
        if let Some(frame) = &f.frame {
            if f.parent.is_some() {
                self.sub_frames.insert(frame.clone());
            } else if f.url.as_deref().is_some_and(|u| !is_browser_url(u)) {
                self.main_frames.insert(frame.clone());
            }
        }
        match (f.url.as_deref(), f.frame) {
            (Some(url), Some(frame)) if is_browser_url(url) && !url.starts_with("about:blank") => {
                self.browser_frames.insert(frame);
            }
            (Some(url), _) if !is_browser_url(url) && f.parent.is_none() => {
                if let Some(pid) = f.process_id {
                    self.page_pids.insert(pid);
                }
            }
            _ => {}
        }
    }

    fn keep(&mut self, event: Event, pid: Option<i64>, frame: Option<String>) {
        self.pending.push(Pending {
            event,
            pid,
            frame,
            fallback: false,
        });
    }

    /// Drops what belongs to the browser's own pages and processes.
    fn finish(mut self) -> SessionBuilder {
        if let Some(start) = self.start_time.take().or(self.capture_datetime.take()) {
            self.builder.set_started_at(start);
        }
        for p in self.pending {
            if p.fallback && self.snapshot_navigations {
                continue;
            }
            if p.frame
                .as_ref()
                .is_some_and(|f| self.browser_frames.contains(f))
            {
                continue;
            }
            if p.event.url.as_deref().is_some_and(is_browser_url) {
                continue;
            }
            let from_page = match p.pid {
                // Requests a page makes may be logged by the browser process on
                // the page's behalf, with the page's frame.
                Some(pid) if self.browser_pids.contains(&pid) => {
                    p.frame.is_some() || p.event.kind == EventKind::Navigation
                }
                Some(pid) => self.page_pids.is_empty() || self.page_pids.contains(&pid),
                None => true,
            };
            if from_page {
                self.builder.push(p.event);
            }
        }
        self.builder
    }
}

fn navigation_event(ts: i64, url: String) -> Event {
    let mut e = Event::new(EventKind::Navigation, ts);
    e.navigation = Some(Navigation {
        same_document: false,
        from_url: None,
    });
    e.url = Some(url);
    e
}

/// The `snapshot` member of screenshot args, found without parsing the args
/// when it is a plain string (base64 needs no escapes); None sends the caller
/// to the full parser.
fn snapshot_text(args: &str) -> Option<&str> {
    static KEY: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"snapshot\":\""));
    let start = KEY.find(args.as_bytes())? + 12;
    let len = memchr::memchr2(b'"', b'\\', &args.as_bytes()[start..])?;
    (args.as_bytes()[start + len] == b'"').then(|| &args[start..start + len])
}

/// Width and height from a JPEG's start-of-frame marker, without decoding it.
fn jpeg_dimensions(jpeg: &[u8]) -> Option<(i32, i32)> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]) as i32;
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]) as i32;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod capture_datetime_tests {
    use super::capture_datetime_rfc3339;

    #[test]
    fn chromes_unpadded_utc_capture_time_becomes_rfc3339() {
        assert_eq!(
            capture_datetime_rfc3339("2016-8-18 22:28:10").as_deref(),
            Some("2016-08-18T22:28:10Z")
        );
        assert_eq!(
            capture_datetime_rfc3339("2026-11-25 16:59:23").as_deref(),
            Some("2026-11-25T16:59:23Z")
        );
        assert_eq!(
            capture_datetime_rfc3339("2026-1-5 3:4:5").as_deref(),
            Some("2026-01-05T03:04:05Z")
        );
        assert_eq!(capture_datetime_rfc3339("yesterday"), None);
        assert_eq!(capture_datetime_rfc3339("2026-13-40 25:00:00"), None);
    }
}
