//! The session review page, `/sessions/{id}`: the recording's time axis with
//! its events and the classified actions (coloured, patterned and labelled by
//! confidence), the screenshot strip in step with it, each action's tool call
//! and evidence, the conversation as a chat and the browser-level transcript.
//!
//! The server renders what is small and fixed (the session, its Examples, the
//! actions, the conversation); the page's script (assets/review.js) fetches
//! the timeline and the screenshots a page at a time from the `/v1` review
//! routes, so a 100 k-event recording is never put into one page. Masked
//! values never reach the page: the events route withholds them
//! ([`crate::review::EventView::value`]) and the conversation is made from
//! the redacted session.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use serde::Deserialize;
use serde_json::Value;
use tracepipe_processors::synth::ToolDefinition;
use uuid::Uuid;

use super::console::{human_bytes, session_title, short_time, status_badge, suite_name};
use super::layout::Page;
use super::{WebError, WebUser};
use crate::api::{corrections, ApiState};
use crate::control::{ExampleFilter, ExampleRecord, Page as ListPage, SessionRecord, Status};
use crate::pipeline::SESSION_OBJECT;
use crate::review::{self, ActionView, PageQuery, ACTIONS_OBJECT, MAX_EVENTS_LIMIT};

const REVIEW_JS_ROUTE: &str = "/static/console/review.js";
const REVIEW_JS: &str = include_str!("assets/review.js");
const CONTROLS_JS_ROUTE: &str = "/static/console/review-controls.js";
const CONTROLS_JS: &str = include_str!("assets/review-controls.js");
const QUEUE_JS_ROUTE: &str = "/static/console/review-queue.js";
const QUEUE_JS: &str = include_str!("assets/review-queue.js");
/// Examples of one session the page offers to switch between.
const EXAMPLES_SHOWN: u32 = 20;
/// Evidence indices handed to the script per action; an action's evidence
/// beyond this is still shown as its range.
const EVIDENCE_SHOWN: usize = 2000;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/sessions/{session_id}", get(show))
        .route(
            "/sessions/{session_id}/timeline.jsonl",
            get(timeline_download),
        )
        .route(
            REVIEW_JS_ROUTE,
            get(|| async { super::asset("text/javascript; charset=utf-8", REVIEW_JS) }),
        )
        .route("/review", get(queue_page))
        .route(
            CONTROLS_JS_ROUTE,
            get(|| async { super::asset("text/javascript; charset=utf-8", CONTROLS_JS) }),
        )
        .route(
            QUEUE_JS_ROUTE,
            get(|| async { super::asset("text/javascript; charset=utf-8", QUEUE_JS) }),
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct ReviewQuery {
    example: Option<String>,
}

/// The signed-in user's session `raw_id`, or a 404 page.
async fn own_session(
    state: &ApiState,
    user: &WebUser,
    raw_id: &str,
) -> Result<SessionRecord, WebError> {
    let id = Uuid::parse_str(raw_id).map_err(|_| WebError::NotFound)?;
    state
        .control
        .get_session(user.user.id, id)
        .await?
        .ok_or(WebError::NotFound)
}

/// How sure the classifier was, in three steps the page draws differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfidenceLevel {
    High,
    Medium,
    Low,
}

impl ConfidenceLevel {
    /// The classifier's own low-confidence flag wins; otherwise below 0.5 is
    /// low and below 0.8 medium.
    pub fn of(action: &ActionView) -> ConfidenceLevel {
        if action.low_confidence || action.confidence < 0.5 {
            ConfidenceLevel::Low
        } else if action.confidence < 0.8 {
            ConfidenceLevel::Medium
        } else {
            ConfidenceLevel::High
        }
    }

    fn class(self) -> &'static str {
        match self {
            ConfidenceLevel::High => "high",
            ConfidenceLevel::Medium => "medium",
            ConfidenceLevel::Low => "low",
        }
    }

    fn word(self) -> &'static str {
        match self {
            ConfidenceLevel::High => "High",
            ConfidenceLevel::Medium => "Medium",
            ConfidenceLevel::Low => "Low",
        }
    }
}

fn confidence_badge(action: &ActionView) -> Markup {
    let level = ConfidenceLevel::of(action);
    html! {
        span class=(format!("badge conf-{}", level.class())) {
            @if level == ConfidenceLevel::Low { span aria-hidden="true" { "⚠ " } }
            (level.word()) " " (format!("{:.2}", action.confidence))
        }
    }
}

/// `12.3 s` from milliseconds.
fn seconds(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

/// One message of `messages.jsonl`, as far as the chat needs it.
struct ChatMessage {
    role: String,
    content: Option<String>,
    tool_calls: Vec<ChatCall>,
    tool_call_id: Option<String>,
}

struct ChatCall {
    id: String,
    name: String,
    arguments: Value,
}

fn parse_messages(jsonl: &str) -> Vec<ChatMessage> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|m| ChatMessage {
            role: m["role"].as_str().unwrap_or("unknown").to_owned(),
            content: m["content"].as_str().map(str::to_owned),
            tool_call_id: m["tool_call_id"].as_str().map(str::to_owned),
            tool_calls: m["tool_calls"]
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .map(|c| ChatCall {
                            id: c["id"].as_str().unwrap_or_default().to_owned(),
                            name: c["function"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            // The arguments travel as a JSON string.
                            arguments: c["function"]["arguments"]
                                .as_str()
                                .and_then(|a| serde_json::from_str(a).ok())
                                .unwrap_or(Value::Null),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// Where an action's tool call sits in the conversation.
#[derive(Debug, Clone, PartialEq)]
struct CallPlace {
    call_id: String,
    /// 1-based, among the conversation's tool calls.
    ordinal: usize,
    /// 1-based, among its messages.
    message: usize,
}

/// Each action's tool call in the conversation: the synthesiser numbers the
/// calls of the kept actions in order (`call_1`, …), so an action takes the
/// first call after the previous action's with its tool and arguments (its
/// arguments may have been normalised, so failing that, its tool alone).
fn place_calls(actions: &[ActionView], messages: &[ChatMessage]) -> Vec<Option<CallPlace>> {
    let calls: Vec<(usize, &ChatCall)> = messages
        .iter()
        .enumerate()
        .flat_map(|(m, msg)| msg.tool_calls.iter().map(move |c| (m, c)))
        .collect();
    let mut next = 0;
    actions
        .iter()
        .map(|action| {
            let rest = calls.get(next..).unwrap_or_default();
            let found = rest
                .iter()
                .position(|(_, c)| c.name == action.tool && c.arguments == action.arguments)
                .or_else(|| rest.iter().position(|(_, c)| c.name == action.tool))?;
            let at = next + found;
            next = at + 1;
            let (message, call) = calls[at];
            Some(CallPlace {
                call_id: call.id.clone(),
                ordinal: at + 1,
                message: message + 1,
            })
        })
        .collect()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn message_anchor(index: usize) -> String {
    format!("msg-{}", index + 1)
}

fn chat(messages: &[ChatMessage]) -> Markup {
    html! {
        ol class="chat" id="chat" {
            @for (i, message) in messages.iter().enumerate() {
                @match message.role.as_str() {
                    "system" => {
                        li class="msg system" id=(message_anchor(i)) {
                            details {
                                summary { "System prompt" }
                                p class="content" { (message.content.as_deref().unwrap_or_default()) }
                            }
                        }
                    }
                    "user" => {
                        li class="msg user" id=(message_anchor(i)) {
                            div class="who" { "Request" }
                            p class="content" { (message.content.as_deref().unwrap_or_default()) }
                        }
                    }
                    "assistant" => {
                        li class="msg assistant" id=(message_anchor(i)) {
                            @if let Some(text) = &message.content { p class="content" { (text) } }
                            @for call in &message.tool_calls {
                                div class="call" id=(format!("call-{}", call.id)) data-call-id=(call.id) {
                                    div class="who" { "Tool call " code { (call.name) } }
                                    pre { code { (pretty(&call.arguments)) } }
                                }
                            }
                        }
                    }
                    "tool" => {
                        li class="msg tool" id=(message_anchor(i)) data-result-of=[message.tool_call_id.as_deref()] {
                            div class="who" { "Result" }
                            @let content = message.content.as_deref().unwrap_or_default();
                            @match serde_json::from_str::<Value>(content) {
                                Ok(value) if value.is_object() || value.is_array() => { pre { code { (pretty(&value)) } } }
                                _ => { p class="content" { (content) } }
                            }
                        }
                    }
                    other => {
                        li class="msg" id=(message_anchor(i)) {
                            div class="who" { (other) }
                            p class="content" { (message.content.as_deref().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn evidence_list(action: &ActionView) -> String {
    action
        .evidence
        .iter()
        .take(EVIDENCE_SHOWN)
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The actions as a list of buttons (one selected at a time) and each one's
/// details, shown when selected. The details end with an empty
/// `.review-controls` box per action, where the correction controls go.
fn actions_panel(
    actions: &[ActionView],
    places: &[Option<CallPlace>],
    calls_total: usize,
) -> Markup {
    html! {
        div class="actions-col" {
            h2 id="actions-title" { "Actions " span class="count" data-testid="action-count" { (actions.len()) } }
            p class="hint" id="actions-help" { "Select an action to see its evidence and tool call. Up and down arrows move between actions." }
            @if actions.is_empty() {
                p { "No actions were classified in this recording." }
            } @else {
                ol class="action-list" id="action-list" aria-labelledby="actions-title" aria-describedby="actions-help" {
                    @for (i, action) in actions.iter().enumerate() {
                        @let level = ConfidenceLevel::of(action);
                        li {
                            button type="button" class=(format!("action conf-{}", level.class()))
                                id=(format!("action-{i}"))
                                aria-pressed="false"
                                aria-controls="action-detail"
                                data-index=(i)
                                data-start-ms=(action.start_ms)
                                data-end-ms=(action.end_ms)
                                data-evidence=(evidence_list(action))
                                data-evidence-start=[action.evidence_start]
                                data-evidence-end=[action.evidence_end]
                                data-confidence=(action.confidence)
                                data-level=(level.class())
                                data-tool=(action.tool)
                                data-call=[places.get(i).and_then(|p| p.as_ref()).map(|p| p.call_id.as_str())] {
                                span class="ordinal" { (i + 1) "." }
                                span class="tool" { (action.tool) }
                                (confidence_badge(action))
                                span class="when" { (seconds(action.start_ms)) }
                            }
                        }
                    }
                }
            }
        }
        div class="detail-col" id="action-detail" aria-live="polite" {
            h2 { "Selected action" }
            p class="hint" id="no-action" { "None selected." }
            @for (i, action) in actions.iter().enumerate() {
                div class="action-detail" id=(format!("action-detail-{i}")) hidden {
                    h3 { "Action " (i + 1) ": " (action.action) }
                    dl class="facts" {
                        dt { "Tool" } dd { code { (action.tool) } }
                        dt { "Confidence" } dd { (confidence_badge(action)) }
                        dt { "Time" } dd { (seconds(action.start_ms)) " to " (seconds(action.end_ms)) }
                        dt { "Evidence" } dd {
                            @match (action.evidence_start, action.evidence_end) {
                                (Some(first), Some(last)) => {
                                    (action.evidence.len()) @if action.evidence.len() == 1 { " event, #" } @else { " events, #" }
                                    (first) " to #" (last)
                                }
                                _ => { "none" }
                            }
                        }
                        dt { "In the conversation" } dd {
                            @match places.get(i).and_then(|p| p.as_ref()) {
                                Some(place) => {
                                    a href=(format!("#call-{}", place.call_id)) data-jump-call=(place.call_id) {
                                        "Tool call " (place.ordinal) " of " (calls_total)
                                    }
                                    " (message " (place.message) ")"
                                }
                                None => { "left out of the conversation" }
                            }
                        }
                        dt { "Result" } dd {
                            @if action.result_grounded {
                                "what the page showed after the action"
                            } @else {
                                "not shown in the recording"
                            }
                        }
                    }
                    h4 { "Tool call" }
                    pre class="arguments" { code { (action.tool) "(" (pretty(&action.arguments)) ")" } }
                    div class="review-controls" data-action-index=(i) {}
                }
            }
        }
    }
}

/// The review of a COMPLETED Example: its state and the added actions (the
/// script fills them in from `GET /v1/examples/{id}/review`), the form that
/// adds a missed action over a time range, completing the review, and the
/// label file. `tools` are what its map calls: the choices of every tool
/// select, their input schemas a template for the arguments.
fn review_work(example: &ExampleRecord, tools: &[ToolDefinition]) -> Markup {
    let schemas: serde_json::Map<String, Value> = tools
        .iter()
        .map(|t| (t.function.name.clone(), t.function.parameters.clone()))
        .collect();
    html! {
        section class="review-work" id="review-work" aria-labelledby="review-title"
            data-example-id=(example.id)
            data-tools=(Value::Object(schemas)) {
            h2 id="review-title" { "Review" }
            p id="review-state" role="status" { "Loading the review…" }
            div class="review-add" {
                h3 id="add-title" { "Add a missed action" }
                p class="hint" id="add-help" {
                    "Set the time range: move the time (the slider above, or a screenshot) to where the action starts and choose "
                    em { "Mark start" } ", then to its end and choose " em { "Mark end" } ", or type the seconds. Then pick the tool and its arguments."
                }
                form id="add-form" class="review-form" aria-labelledby="add-title" aria-describedby="add-help" novalidate {
                    div class="range" {
                        label for="add-start" { "From (s)" }
                        input type="number" id="add-start" name="start" min="0" step="0.001" required;
                        button type="button" class="secondary" id="mark-start" { "Mark start" }
                        label for="add-end" { "To (s)" }
                        input type="number" id="add-end" name="end" min="0" step="0.001" required;
                        button type="button" class="secondary" id="mark-end" { "Mark end" }
                    }
                    label for="add-tool" { "Tool" }
                    select id="add-tool" name="tool" {
                        @for tool in tools { option value=(tool.function.name) { (tool.function.name) } }
                    }
                    label for="add-arguments" { "Arguments (JSON)" }
                    textarea id="add-arguments" name="arguments" rows="4" spellcheck="false" aria-describedby="add-error" { "{}" }
                    p class="field-error" id="add-error" role="alert" hidden {}
                    button type="submit" { "Add action" }
                }
            }
            h3 id="added-title" { "Added actions" }
            ol class="added-list" id="added-list" aria-labelledby="added-title" {}
            p class="hint" id="added-none" { "None yet." }
            div class="actions" {
                button type="button" id="complete-review" aria-describedby="complete-help" { "Complete review" }
                a class="button secondary" id="labels-download"
                    href=(format!("/v1/examples/{}/review/labels", example.id))
                    download { "Download label file (.expected.json)" }
            }
            p class="hint" id="complete-help" { "Completing re-synthesises the conversation from the reviewed actions; the review then no longer changes." }
            div class="new-conversation" id="new-conversation" hidden {
                h3 id="new-chat-title" tabindex="-1" { "Conversation after the review" }
                ol class="chat" id="new-chat" tabindex="0" aria-labelledby="new-chat-title" {}
            }
        }
    }
}

/// `GET /review`: the signed-in user's review queue, low-confidence actions
/// first; the script pages through `GET /v1/review-queue`.
pub async fn queue_page(user: WebUser) -> Result<Response, WebError> {
    let page = Page {
        title: "Review queue",
        path: "/review",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Review queue" }
        p { "Actions waiting for review across your sessions: the ones the classifier flagged as low-confidence first, then the least confident." }
        table class="list" id="review-queue" {
            caption class="visually-hidden" { "Actions waiting for review" }
            thead { tr {
                th scope="col" { "Action" }
                th scope="col" { "Tool" }
                th scope="col" { "Confidence" }
                th scope="col" { "Time" }
                th scope="col" { "Review" }
            } }
            tbody id="queue-rows" {}
        }
        p id="queue-status" role="status" { "Loading the queue…" }
        button type="button" class="secondary" id="queue-more" hidden { "More" }
        script src=(QUEUE_JS_ROUTE) defer {}
    }))
}

async fn read_object(state: &ApiState, key: &str) -> Result<Option<bytes::Bytes>, WebError> {
    let path = ObjectPath::parse(key).map_err(|e| WebError::Internal(format!("{key}: {e}")))?;
    match state.objects.get(&path).await {
        Ok(got) => {
            Ok(Some(got.bytes().await.map_err(|e| {
                WebError::Internal(format!("reading {key}: {e}"))
            })?))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(WebError::Internal(format!("reading {key}: {e}"))),
    }
}

/// What the page shows of a COMPLETED Example.
struct Reviewed {
    actions: Vec<ActionView>,
    messages: Vec<ChatMessage>,
}

async fn reviewed(state: &ApiState, example: &ExampleRecord) -> Result<Option<Reviewed>, WebError> {
    let (Status::Completed, Some(path)) = (example.status, &example.storage_path) else {
        return Ok(None);
    };
    let key = ObjectPath::from(format!("examples/{}/{ACTIONS_OBJECT}", example.id));
    let actions = match review::load_actions(state.objects.as_ref(), &key).await {
        Ok(actions) => actions,
        // Made before actions were kept: the conversation alone.
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(WebError::Internal(e.to_string())),
    };
    let messages = match read_object(state, path).await? {
        Some(bytes) => parse_messages(&String::from_utf8_lossy(&bytes)),
        None => Vec::new(),
    };
    Ok(Some(Reviewed { actions, messages }))
}

pub async fn show(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Path(raw_id): Path<String>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, WebError> {
    let session = own_session(&state, &user, &raw_id).await?;
    if session.is_unread() {
        return Ok(unread(&session, &user, StatusCode::OK));
    }
    // The page's script asks for the timeline and the screenshots next, which
    // decode the stored session: start now, and they wait for this decoding.
    let objects = state.objects.clone();
    let key = ObjectPath::from(format!("sessions/{}/{SESSION_OBJECT}", session.id));
    tokio::spawn(async move {
        if let Err(error) = review::load_session_shared(objects.as_ref(), &key).await {
            tracing::debug!(%error, "decoding a session ahead of its review page's requests");
        }
    });
    let filter = ExampleFilter {
        session_id: Some(session.id),
        ..ExampleFilter::default()
    };
    let (examples, _) = state
        .control
        .list_examples(
            user.user.id,
            &filter,
            ListPage {
                page: 1,
                per_page: EXAMPLES_SHOWN,
            },
        )
        .await?;
    let asked = q.example.as_deref().and_then(|e| Uuid::parse_str(e).ok());
    let example = asked
        .and_then(|id| examples.iter().find(|e| e.id == id))
        .or_else(|| examples.iter().find(|e| e.status == Status::Completed))
        .or_else(|| examples.first());
    let reviewed = match example {
        Some(example) => reviewed(&state, example).await?,
        None => None,
    };
    let title = session_title(&session);
    let page = Page {
        title: &title,
        path: "/sessions",
        user: Some(&user),
    };
    let (actions, messages) = reviewed
        .as_ref()
        .map(|r| (r.actions.as_slice(), r.messages.as_slice()))
        .unwrap_or_default();
    let places = place_calls(actions, messages);
    let calls_total = messages.iter().map(|m| m.tool_calls.len()).sum();
    Ok(page.render(html! {
        div class="review" id="review"
            data-session-id=(session.id)
            data-example-id=[example.map(|e| e.id)]
            data-events-total=(session.event_count)
            data-page-limit=(MAX_EVENTS_LIMIT.min(250)) {
            p class="crumbs" { a href="/sessions" { "Sessions" } " / " (title) }
            h1 { "Review: " (title) }
            dl class="facts summary" {
                dt { "Suite" } dd { (suite_name(&state, session.suite_id)) }
                dt { "Uploaded" } dd { (short_time(&session.created_at)) " UTC" }
                dt { "Events" } dd { (session.event_count) }
                dt { "Size" } dd { (human_bytes(session.size_bytes)) }
                dt { "Example" } dd {
                    @match example {
                        Some(e) => { (status_badge(e.status)) " " span class="id" { (e.id) } }
                        None => { "none" }
                    }
                }
            }
            @if examples.len() > 1 {
                form method="get" class="filters" {
                    label { "Example "
                        select name="example" {
                            @for e in &examples {
                                option value=(e.id) selected[Some(e.id) == example.map(|x| x.id)] {
                                    (short_time(&e.created_at)) " · " (e.status.as_str().to_lowercase())
                                }
                            }
                        }
                    }
                    button type="submit" class="secondary" { "Show" }
                }
            }
            div class="actions downloads" {
                @if let Some(e) = example.filter(|e| e.status == Status::Completed) {
                    a class="button secondary" href=(format!("/v1/examples/{}/messages", e.id)) download=(format!("{}.messages.jsonl", e.id)) { "Download messages (JSONL)" }
                    a class="button secondary" href=(format!("/v1/examples/{}/actions", e.id)) download=(format!("{}.actions.json", e.id)) { "Download actions (JSON)" }
                }
                a class="button secondary" href=(format!("/sessions/{}/timeline.jsonl", session.id)) download=(format!("{}.timeline.jsonl", session.id)) { "Download session timeline (JSONL)" }
            }
            @if let Some(e) = example.filter(|e| e.status != Status::Completed) {
                p class="notice" role="status" {
                    "The Example is " (e.status.as_str().to_lowercase()) "; its actions and conversation appear here once it is completed."
                    @if let Some(error) = &e.error { " " (error.message) }
                }
            }

            section class="timeline" aria-labelledby="timeline-title" {
                h2 id="timeline-title" { "Timeline" }
                div class="stage" {
                    figure class="frame" {
                        img id="frame" alt="No screenshot at this time" hidden;
                        p id="no-frame" class="hint" { "Loading screenshots…" }
                        figcaption id="frame-caption" {}
                    }
                    div class="lanes" {
                        svg id="overview" class="lane" role="img" aria-labelledby="overview-label" viewBox="0 0 1000 64" preserveAspectRatio="none" {}
                        p class="visually-hidden" id="overview-label" { "The whole recording: the actions as segments by confidence, the screenshots as ticks, the shown events as a band." }
                        div class="scrub" {
                            label for="scrub" { "Time" }
                            input type="range" id="scrub" min="0" max="0" value="0" step="100" aria-describedby="scrub-help";
                            output id="time-readout" for="scrub" { "0.0 s" }
                        }
                        p class="hint" id="scrub-help" { "Arrow keys step 0.1 s, Page Up and Page Down a tenth of the recording. The frame and the events follow." }
                        svg id="detail-lane" class="lane detail" role="img" aria-labelledby="detail-label" viewBox="0 0 1000 120" preserveAspectRatio="none" {}
                        p class="visually-hidden" id="detail-label" { "The shown events by kind over their time span, with the actions over them." }
                        ul class="legend" aria-label="Legend" {
                            li { span class="swatch conf-high" {} "High confidence (solid)" }
                            li { span class="swatch conf-medium" {} "Medium (striped)" }
                            li { span class="swatch conf-low" {} "Low (cross-hatched, ⚠)" }
                            li { span class="swatch evidence" {} "Evidence of the selected action" }
                        }
                    }
                }
                div class="strip" id="strip" tabindex="0" role="region" aria-label="Screenshots (click one to go to its time)" {
                    p class="hint" { "Screenshots load here." }
                }
            }

            div class="review-grid" {
                (actions_panel(actions, &places, calls_total))
            }
            @if let Some(e) = example.filter(|e| e.status == Status::Completed && !actions.is_empty()) {
                @match corrections::tool_definitions(&state, e) {
                    Ok(tools) => { (review_work(e, &tools)) }
                    Err(error) => {
                        p class="notice" role="status" { "This Example cannot be reviewed: " (error.message) }
                    }
                }
            }
            div class="review-grid" {
                section class="transcript" aria-labelledby="transcript-title" {
                    h2 id="transcript-title" { "Browser transcript" }
                    div class="pager" {
                        button type="button" class="secondary" id="events-earlier" disabled { "Earlier events" }
                        span id="events-range" role="status" { "Loading events…" }
                        button type="button" class="secondary" id="events-later" disabled { "Later events" }
                    }
                    ol id="events" class="events" tabindex="0" aria-label="Events" {}
                }
                section class="conversation" aria-labelledby="chat-title" {
                    h2 id="chat-title" { "Conversation" }
                    @if messages.is_empty() {
                        p { "No conversation yet." }
                    } @else {
                        (chat(messages))
                    }
                }
            }
            p class="visually-hidden" id="announce" aria-live="polite" {}
        }
        script src=(REVIEW_JS_ROUTE) defer {}
        script src=(CONTROLS_JS_ROUTE) defer {}
    }))
}

/// The review page of a session stored but not read yet (the distributed
/// gateway leaves reading to its processors): nothing to show but what the
/// upload said, and when to look again.
fn unread(session: &SessionRecord, user: &WebUser, status: StatusCode) -> Response {
    let title = session_title(session);
    let page = Page {
        title: &title,
        path: "/sessions",
        user: Some(user),
    };
    page.render_with(status, html! {
        p class="crumbs" { a href="/sessions" { "Sessions" } " / " (title) }
        h1 { "Review: " (title) }
        dl class="facts summary" {
            dt { "Uploaded" } dd { (short_time(&session.created_at)) " UTC" }
            dt { "Size" } dd { (human_bytes(session.size_bytes)) }
        }
        p class="notice" role="status" {
            "The recording is stored and waits for a processor to read it. Its timeline, "
            "screenshots and actions appear here once it has been read, usually within seconds: "
            a href=(format!("/sessions/{}", session.id)) { "reload this page" } "."
        }
    })
}

/// `GET /sessions/{id}/timeline.jsonl`: the normalised timeline as the
/// events route gives it (masked values withheld), one event a line.
pub async fn timeline_download(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Path(raw_id): Path<String>,
) -> Result<Response, WebError> {
    let record = own_session(&state, &user, &raw_id).await?;
    if record.is_unread() {
        // Nothing to download yet: the page that says so, not a file.
        return Ok(unread(&record, &user, StatusCode::CONFLICT));
    }
    let key = ObjectPath::from(format!("sessions/{}/{SESSION_OBJECT}", record.id));
    let session = review::load_session_shared(state.objects.as_ref(), &key)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let mut out = Vec::new();
    let mut query = PageQuery {
        limit: Some(MAX_EVENTS_LIMIT as u32),
        ..PageQuery::default()
    };
    loop {
        let page =
            review::events_page(&session, &query).map_err(|e| WebError::Internal(e.message))?;
        for event in &page.items {
            serde_json::to_writer(&mut out, event)
                .map_err(|e| WebError::Internal(e.to_string()))?;
            out.push(b'\n');
        }
        match page.next_cursor {
            Some(next) => query.cursor = Some(next as u64),
            None => break,
        }
    }
    let mut response = (StatusCode::OK, out).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(tool: &str, arguments: Value) -> ActionView {
        ActionView {
            index: 0,
            action: tool.to_owned(),
            tool: tool.to_owned(),
            arguments,
            confidence: 0.9,
            low_confidence: false,
            evidence: vec![],
            evidence_start: None,
            evidence_end: None,
            start_ms: 0.0,
            end_ms: 0.0,
            result_grounded: false,
        }
    }

    #[test]
    fn actions_find_their_calls_in_order_and_a_left_out_one_finds_none() {
        let jsonl = concat!(
            r#"{"role":"system","content":"s"}"#,
            "\n",
            r#"{"role":"user","content":"do it"}"#,
            "\n",
            r#"{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read_email","arguments":"{\"messageId\":\"a\"}"}}]}"#,
            "\n",
            r#"{"role":"tool","tool_call_id":"call_1","content":"{}"}"#,
            "\n",
            r#"{"role":"assistant","content":null,"tool_calls":[{"id":"call_2","type":"function","function":{"name":"read_email","arguments":"{\"messageId\":\"b\"}"}}]}"#,
            "\n",
        );
        let messages = parse_messages(jsonl);
        let actions = [
            action("read_email", serde_json::json!({"messageId": "b"})),
            action("send_email", serde_json::json!({})),
            action("read_email", serde_json::json!({"messageId": "a"})),
        ];
        let places = place_calls(&actions, &messages);
        assert_eq!(
            places,
            vec![
                Some(CallPlace {
                    call_id: "call_2".into(),
                    ordinal: 2,
                    message: 5
                }),
                None,
                // Before the previous action's call: the conversation keeps
                // the actions' order, so no earlier call is taken.
                None,
            ]
        );
    }

    #[test]
    fn the_low_confidence_flag_wins_over_the_figure() {
        let mut a = action("t", Value::Null);
        assert_eq!(ConfidenceLevel::of(&a), ConfidenceLevel::High);
        a.confidence = 0.6;
        assert_eq!(ConfidenceLevel::of(&a), ConfidenceLevel::Medium);
        a.confidence = 0.95;
        a.low_confidence = true;
        assert_eq!(ConfidenceLevel::of(&a), ConfidenceLevel::Low);
    }
}
