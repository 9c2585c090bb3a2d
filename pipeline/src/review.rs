//! What the review routes of both deployments answer with: a session's
//! timeline a page at a time, its screenshots, and an Example's classified
//! actions. `tracepipe serve` and `tracepipe gateway` read the same objects
//! (`session.avro`, `screenshots/…`, `actions.json`) from their object stores
//! and give the same shapes.

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use tracepipe_processors::synth::Synthesis;
use tracepipe_schemas::{
    decode_session, decode_session_head, AvroError, Event, EventKind, Session,
};

/// The classified actions' name in an Example's folder, beside `messages.jsonl`.
pub const ACTIONS_OBJECT: &str = "actions.json";
/// Events in a timeline page when the client does not say.
pub const DEFAULT_EVENTS_LIMIT: usize = 200;
/// The most events or screenshots one page holds: a 100 k-event session is
/// never sent whole.
pub const MAX_EVENTS_LIMIT: usize = 1000;
/// The longest screenshot name the routes accept.
const MAX_SCREENSHOT_NAME: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("reading {key}: {source}")]
    Store {
        key: String,
        source: object_store::Error,
    },
    #[error("the stored session {key} does not decode: {source}")]
    Decode { key: String, source: AvroError },
    #[error("the stored actions {key} do not parse: {source}")]
    Actions {
        key: String,
        source: serde_json::Error,
    },
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl ReviewError {
    /// The object is not there (an Example finished before actions were kept).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ReviewError::Store {
                source: object_store::Error::NotFound { .. },
                ..
            }
        )
    }
}

/// Paging of `/events` and `/screenshots`: `cursor` (the `next_cursor` of the
/// previous page) and/or `after_ms` (the first item at or after that time),
/// and `limit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// the previous page's next_cursor
    #[param(minimum = 0, maximum = 4_294_967_295_u64)]
    pub cursor: Option<u64>,
    /// start at the first item at or after this time (with cursor: whichever is later)
    #[param(minimum = 0)]
    pub after_ms: Option<f64>,
    /// items per page
    #[param(minimum = 1, maximum = 1000, default = 200)]
    pub limit: Option<u32>,
}

/// A query value out of range, with the parameter's name.
#[derive(Debug)]
pub struct BadQuery {
    pub field: &'static str,
    pub message: String,
}

impl PageQuery {
    fn limit(&self) -> Result<usize, BadQuery> {
        match self.limit {
            None => Ok(DEFAULT_EVENTS_LIMIT),
            Some(n) if (1..=MAX_EVENTS_LIMIT as u32).contains(&n) => Ok(n as usize),
            Some(_) => Err(BadQuery {
                field: "limit",
                message: format!("`limit` must be from 1 to {MAX_EVENTS_LIMIT}"),
            }),
        }
    }

    /// The index of the first item among `times_us` (sorted) to answer with:
    /// from `cursor` on, and at or after `after_ms`, when given.
    fn start(&self, times_us: impl Iterator<Item = i64>) -> Result<usize, BadQuery> {
        let from_cursor = self
            .cursor
            .map_or(0, |c| usize::try_from(c).unwrap_or(usize::MAX));
        let from_time = match self.after_ms {
            None => 0,
            Some(ms) if ms.is_finite() && ms >= 0.0 => {
                // Saturates for a time beyond any session: an empty page.
                let after_us = (ms * 1000.0).ceil() as i64;
                times_us.take_while(|&t| t < after_us).count()
            }
            Some(_) => {
                return Err(BadQuery {
                    field: "after_ms",
                    message: "`after_ms` must be a number of milliseconds, 0 or more".to_owned(),
                })
            }
        };
        Ok(from_cursor.max(from_time))
    }
}

/// One page of a session's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    pub total: usize,
    /// milliseconds from the session's first event to its last
    pub duration_ms: f64,
    pub items: Vec<EventView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<usize>,
}

/// An event as a reviewer reads it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    /// The event's position in the session: actions' evidence names it.
    pub index: usize,
    /// milliseconds since the session began
    pub t_ms: f64,
    #[schema(
        value_type = String,
        pattern = "^(click|change|submit|key|navigation|network_request|screenshot|input|scroll|view)$"
    )]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetView>,
    /// Never set when `masked`: a secret field's value was withheld at ingest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub masked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// The screenshot's name, for `/screenshots/{name}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
}

/// What an event acted on, in brief.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EventTarget)]
pub struct TargetView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_type: Option<String>,
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// The name of a screenshot under `screenshots/`, if `event` points at a
/// stored one.
fn screenshot_name(event: &Event) -> Option<String> {
    let blob = &event.screenshot.as_ref().filter(|s| s.bytes > 0)?.blob;
    blob.strip_prefix("screenshots/").map(str::to_owned)
}

fn event_view(index: usize, event: &Event) -> EventView {
    EventView {
        index,
        t_ms: ms(event.t_us),
        kind: event.kind.as_str(),
        label: event.label().map(str::to_owned),
        target: event.target.as_ref().map(|t| TargetView {
            tag: t.tag.clone(),
            role: t.role.clone(),
            id: t.id.clone(),
            name: t.name.clone(),
            input_type: t.input_type.clone(),
        }),
        // Ingest withholds a secret's value; never show one that slipped through.
        value: if event.masked {
            None
        } else {
            event.value.clone()
        },
        masked: event.masked,
        key: event.key.clone(),
        url: event.url.clone(),
        method: event.network.as_ref().map(|n| n.method.clone()),
        status: event.network.as_ref().and_then(|n| n.status),
        screenshot: screenshot_name(event),
    }
}

/// One page of `session`'s events.
pub fn events_page(session: &Session, query: &PageQuery) -> Result<EventsPage, BadQuery> {
    let limit = query.limit()?;
    let start = query
        .start(session.events.iter().map(|e| e.t_us))?
        .min(session.events.len());
    let end = start.saturating_add(limit).min(session.events.len());
    let items = session.events[start..end]
        .iter()
        .enumerate()
        .map(|(offset, event)| event_view(start + offset, event))
        .collect();
    Ok(EventsPage {
        total: session.events.len(),
        duration_ms: ms(session.duration_us),
        items,
        next_cursor: (end < session.events.len()).then_some(end),
    })
}

/// One page of a session's screenshots.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScreenshotsPage {
    pub total: usize,
    pub items: Vec<ScreenshotView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<usize>,
}

/// A stored screenshot and when it was taken.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Screenshot)]
pub struct ScreenshotView {
    pub name: String,
    pub t_ms: f64,
    /// The index of the screenshot's event in the timeline.
    pub event_index: usize,
    pub bytes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    /// Where to fetch the JPEG, relative to the server.
    pub url: String,
}

/// One page of `session`'s stored screenshots (a named file that was not
/// uploaded beside an `input_events.jsonl` is left out).
pub fn screenshots_page(
    session: &Session,
    route_prefix: &str,
    query: &PageQuery,
) -> Result<ScreenshotsPage, BadQuery> {
    let limit = query.limit()?;
    let shots: Vec<(usize, &Event)> = session
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.kind == EventKind::Screenshot && e.screenshot.as_ref().is_some_and(|s| s.bytes > 0)
        })
        .collect();
    let start = query
        .start(shots.iter().map(|(_, e)| e.t_us))?
        .min(shots.len());
    let end = start.saturating_add(limit).min(shots.len());
    let items = shots[start..end]
        .iter()
        .filter_map(|&(index, event)| {
            let shot = event.screenshot.as_ref()?;
            let name = screenshot_name(event)?;
            Some(ScreenshotView {
                url: format!("{route_prefix}/{name}"),
                name,
                t_ms: ms(event.t_us),
                event_index: index,
                bytes: shot.bytes,
                width: shot.width,
                height: shot.height,
            })
        })
        .collect();
    Ok(ScreenshotsPage {
        total: shots.len(),
        items,
        next_cursor: (end < shots.len()).then_some(end),
    })
}

/// Whether `name` may be a screenshot's name: a plain file name (no path, no
/// `..`), as the pipeline stores them, so no request leaves the folder.
pub fn valid_screenshot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SCREENSHOT_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '))
}

/// One classified action of an Example, as stored in `actions.json` and
/// answered by `/examples/{id}/actions`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ClassifiedAction)]
pub struct ActionView {
    pub index: usize,
    pub action: String,
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    pub confidence: f64,
    pub low_confidence: bool,
    /// The events it was classified from, by timeline index.
    pub evidence: Vec<usize>,
    #[schema(required)]
    pub evidence_start: Option<usize>,
    #[schema(required)]
    pub evidence_end: Option<usize>,
    pub start_ms: f64,
    pub end_ms: f64,
    /// The tool message carries what the recording showed of the call's
    /// result; false when it says the recording does not show it (and for
    /// Examples made before results were grounded).
    #[serde(default)]
    pub result_grounded: bool,
}

/// The per-action records of `synthesis` as `actions.json` bytes.
pub fn actions_json(synthesis: &Synthesis) -> Result<Vec<u8>, serde_json::Error> {
    let actions: Vec<ActionView> = synthesis
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| ActionView {
            index,
            action: record.action.clone(),
            tool: record.tool.clone(),
            arguments: record.arguments.clone(),
            confidence: record.confidence,
            low_confidence: record.low_confidence,
            evidence: record.evidence.clone(),
            evidence_start: record.evidence.first().copied(),
            evidence_end: record.evidence.last().copied(),
            start_ms: ms(record.start_us),
            end_ms: ms(record.end_us),
            result_grounded: record.result_grounded,
        })
        .collect();
    serde_json::to_vec(&actions)
}

async fn read(store: &dyn ObjectStore, key: &Path) -> Result<bytes::Bytes, ReviewError> {
    let error = |source| ReviewError::Store {
        key: key.to_string(),
        source,
    };
    store
        .get(key)
        .await
        .map_err(error)?
        .bytes()
        .await
        .map_err(error)
}

/// The normalised Session stored at `key`, decoded off the async workers.
pub async fn load_session(store: &dyn ObjectStore, key: &Path) -> Result<Session, ReviewError> {
    let avro = read(store, key).await?;
    let decoded = tokio::task::spawn_blocking(move || decode_session(&avro)).await?;
    decoded.map_err(|source| ReviewError::Decode {
        key: key.to_string(),
        source,
    })
}

/// Sessions kept decoded: a review opens with several requests on one
/// session (a timeline page, the screenshot pages), then pages through it.
const CACHED_SESSIONS: usize = 3;

/// The sessions the review routes read most recently, decoded. A stored
/// session never changes, so an entry is never stale; requests for a session
/// being decoded wait for that one decoding.
struct DecodedSessions {
    /// Most recent last, by the store and key; each slot is filled by the
    /// first request for it.
    entries: std::sync::Mutex<Vec<(String, SessionSlot)>>,
}

type SessionSlot = Arc<OnceCell<Arc<Session>>>;

static DECODED: DecodedSessions = DecodedSessions {
    entries: std::sync::Mutex::new(Vec::new()),
};

impl DecodedSessions {
    fn slot(&self, name: String) -> SessionSlot {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let slot = match entries.iter().position(|(n, _)| *n == name) {
            Some(at) => entries.remove(at).1,
            None => Arc::new(OnceCell::new()),
        };
        entries.push((name, slot.clone()));
        if entries.len() > CACHED_SESSIONS {
            entries.remove(0);
        }
        slot
    }
}

/// The normalised Session stored at `key`, decoded once for the review
/// routes' successive requests (see [`DecodedSessions`]).
pub async fn load_session_shared(
    store: &dyn ObjectStore,
    key: &Path,
) -> Result<Arc<Session>, ReviewError> {
    // The store's own description keeps two stores' equal keys apart.
    let slot = DECODED.slot(format!("{store}/{key}"));
    slot.get_or_try_init(|| async { load_session(store, key).await.map(Arc::new) })
        .await
        .cloned()
}

/// The session stored at `key` if the review routes have it decoded already.
pub fn decoded_session(store: &dyn ObjectStore, key: &Path) -> Option<Arc<Session>> {
    let name = format!("{store}/{key}");
    let entries = DECODED.entries.lock().unwrap_or_else(|p| p.into_inner());
    entries
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, slot)| slot.get().cloned())
}

/// The header and first `max_events` events of the session stored at `key`,
/// decoded off the async workers: a timeline's first page long before the
/// whole of a big session is decoded.
pub async fn load_session_head(
    store: &dyn ObjectStore,
    key: &Path,
    max_events: usize,
) -> Result<Session, ReviewError> {
    let avro = read(store, key).await?;
    let decoded =
        tokio::task::spawn_blocking(move || decode_session_head(&avro, max_events)).await?;
    decoded.map_err(|source| ReviewError::Decode {
        key: key.to_string(),
        source,
    })
}

/// The actions stored at `key`.
pub async fn load_actions(
    store: &dyn ObjectStore,
    key: &Path,
) -> Result<Vec<ActionView>, ReviewError> {
    let bytes = read(store, key).await?;
    serde_json::from_slice(&bytes).map_err(|source| ReviewError::Actions {
        key: key.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracepipe_schemas::SourceFormat;

    fn session(times_us: &[i64]) -> Session {
        Session {
            session_id: "s".to_owned(),
            source: SourceFormat::InputEventsJsonl,
            suite: None,
            started_at: None,
            duration_us: 10_000,
            user_agent: None,
            source_name: None,
            source_sha256: None,
            pages: Vec::new(),
            events: times_us
                .iter()
                .map(|&t| Event::new(EventKind::Click, t))
                .collect(),
        }
    }

    #[test]
    fn pages_by_cursor_and_time_cover_every_event_once() {
        let s = session(&[0, 1000, 1000, 2500, 4000]);
        let mut query = PageQuery {
            limit: Some(2),
            ..PageQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = events_page(&s, &query).expect("valid query");
            seen.extend(page.items.iter().map(|e| e.index));
            match page.next_cursor {
                Some(next) => query.cursor = Some(next as u64),
                None => break,
            }
        }
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        let from_time = PageQuery {
            after_ms: Some(1.0),
            ..PageQuery::default()
        };
        let page = events_page(&s, &from_time).expect("valid query");
        assert_eq!(page.items.first().map(|e| e.index), Some(1));
        let too_many = PageQuery {
            limit: Some(MAX_EVENTS_LIMIT as u32 + 1),
            ..PageQuery::default()
        };
        assert_eq!(
            events_page(&s, &too_many).map(|_| ()).unwrap_err().field,
            "limit"
        );
    }

    #[test]
    fn masked_values_stay_masked() {
        let mut s = session(&[0]);
        s.events[0].masked = true;
        s.events[0].value = Some("hunter2".to_owned());
        let page = events_page(&s, &PageQuery::default()).expect("valid query");
        assert_eq!(page.items[0].value, None);
        assert!(page.items[0].masked);
    }

    #[test]
    fn screenshot_names_are_plain() {
        assert!(valid_screenshot_name("000001.jpg"));
        for bad in ["", "..", "../session.avro", "a/b.jpg", ".hidden", "a\\b"] {
            assert!(!valid_screenshot_name(bad), "{bad:?}");
        }
    }
}
