//! The console: the signed-in dashboard, the upload page and the sessions and
//! Examples lists. Every figure and row comes from the control-plane methods
//! the `/v1` handlers use, scoped to the signed-in user; the upload page's
//! script posts each file to `POST /v1/sessions` with the session cookie and
//! the CSRF header, the API's one cookie path (src/api/auth.rs).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::Page;
use super::{WebError, WebUser};
use crate::api::usage::this_period;
use crate::api::ApiState;
use crate::control::{ExampleFilter, ExampleRecord, Page as ListPage, SessionRecord, Status};

/// Rows of a list page.
const PER_PAGE: u32 = 20;
/// Sessions on the dashboard.
const RECENT_SESSIONS: u32 = 5;
/// A session's Examples shown in its row of the sessions list.
const EXAMPLES_PER_ROW: u32 = 5;

pub const UPLOAD_JS_ROUTE: &str = "/static/console/upload.js";
const UPLOAD_JS: &str = include_str!("assets/upload.js");

/// The console's own routes, merged into [`super::routes`].
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/console", get(dashboard))
        .route("/upload", get(upload))
        .route("/sessions", get(sessions))
        .route("/examples", get(examples))
        .route(UPLOAD_JS_ROUTE, get(upload_script))
        .merge(super::review_page::routes())
        .merge(super::usage_chart::routes())
}

async fn upload_script() -> Response {
    super::asset("text/javascript; charset=utf-8", UPLOAD_JS)
}

/// A status as a badge: a symbol and the word, so that it never rests on
/// colour alone.
pub fn status_badge(status: Status) -> Markup {
    let (class, symbol, word) = match status {
        Status::Pending => ("badge pending", "…", "Pending"),
        Status::Processing => ("badge processing", "⟳", "Processing"),
        Status::Completed => ("badge completed", "✓", "Completed"),
        Status::Failed => ("badge failed", "✕", "Failed"),
    };
    html! { span class=(class) { span aria-hidden="true" { (symbol) " " } (word) } }
}

/// `12.3 MB`: a size as people read it.
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2026-12-04 20:31` from a stored timestamp.
pub fn short_time(stored: &str) -> String {
    match (stored.get(..10), stored.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => stored.to_owned(),
    }
}

/// The suite's name, or its id when the catalog no longer has it.
pub fn suite_name(state: &ApiState, suite_id: Uuid) -> String {
    state
        .catalog
        .snapshot()
        .catalog
        .suite_by_id(suite_id)
        .map_or_else(|| suite_id.to_string(), |s| s.name.clone())
}

/// The session's name as its list shows it: the uploaded file's name.
pub fn session_title(session: &SessionRecord) -> String {
    session
        .source_name
        .clone()
        .unwrap_or_else(|| format!("Session {}", session.id))
}

async fn session_examples(
    state: &ApiState,
    user: &WebUser,
    session_id: Uuid,
) -> Result<Vec<ExampleRecord>, WebError> {
    let filter = ExampleFilter {
        session_id: Some(session_id),
        ..ExampleFilter::default()
    };
    let (examples, _) = state
        .control
        .list_examples(
            user.user.id,
            &filter,
            ListPage {
                page: 1,
                per_page: EXAMPLES_PER_ROW,
            },
        )
        .await?;
    Ok(examples)
}

/// The sessions table of the dashboard and the sessions list.
async fn sessions_table(
    state: &ApiState,
    user: &WebUser,
    sessions: &[SessionRecord],
) -> Result<Markup, WebError> {
    let mut rows = Vec::with_capacity(sessions.len());
    for session in sessions {
        rows.push((session, session_examples(state, user, session.id).await?));
    }
    Ok(html! {
        table class="list" {
            thead { tr {
                th scope="col" { "Recording" }
                th scope="col" { "Suite" }
                th scope="col" { "Uploaded (UTC)" }
                th scope="col" class="num" { "Events" }
                th scope="col" class="num" { "Size" }
                th scope="col" { "Examples" }
            } }
            tbody {
                @for (session, examples) in &rows {
                    tr {
                        td { a href=(format!("/sessions/{}", session.id)) { (session_title(session)) } }
                        td { (suite_name(state, session.suite_id)) }
                        td { (short_time(&session.created_at)) }
                        td class="num" {
                            @if session.is_unread() { span class="hint" { "being read" } }
                            @else { (session.event_count) }
                        }
                        td class="num" { (human_bytes(session.size_bytes)) }
                        td {
                            @if examples.is_empty() { span class="hint" { "none" } }
                            @for example in examples { (status_badge(example.status)) " " }
                        }
                    }
                }
            }
        }
    })
}

pub async fn dashboard(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
) -> Result<Response, WebError> {
    let usage = this_period(&state, user.user.id, None).await?;
    let (recent, total) = state
        .control
        .list_sessions(
            user.user.id,
            None,
            ListPage {
                page: 1,
                per_page: RECENT_SESSIONS,
            },
        )
        .await?;
    let table = sessions_table(&state, &user, &recent).await?;
    let stored_bytes = (usage.storage.current_gb * 1e9).round() as i64;
    let page = Page {
        title: "Dashboard",
        path: "/console",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Dashboard" }
        p { "This period: " (usage.billing_period.start.get(..10).unwrap_or_default()) " to "
            (usage.billing_period.end.get(..10).unwrap_or_default()) " (UTC). "
            a href="/usage" { "Usage and charts" } }
        div class="cards" {
            div class="card" { div class="hint" { "Tokens" } div class="figure" data-testid="tokens" { (usage.tokens.total) } }
            div class="card" { div class="hint" { "Storage" } div class="figure" data-testid="storage" { (human_bytes(stored_bytes)) } }
            div class="card" { div class="hint" { "Sessions uploaded" } div class="figure" data-testid="sessions-uploaded" { (usage.sessions_uploaded) } }
            div class="card" { div class="hint" { "Examples generated" } div class="figure" data-testid="examples-generated" { (usage.examples_generated) } }
        }
        h2 { "Quick actions" }
        div class="actions" {
            a class="button" href="/upload" { "Upload recordings" }
            a class="button secondary" href="/keys" { "API keys" }
            a class="button secondary" href="/quickstart" { "Quickstart" }
            a class="button secondary" href="/v1/docs" { "API reference" }
        }
        h2 { "Recent sessions" }
        @if recent.is_empty() {
            p { "No sessions yet. " a href="/upload" { "Upload a recording" } " to make one." }
        } @else {
            (table)
            p { a href="/sessions" { "All " (total) " sessions" } }
        }
    }))
}

pub async fn upload(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
) -> Result<Response, WebError> {
    let snapshot = state.catalog.snapshot();
    let suites: Vec<_> = snapshot.catalog.suites().collect();
    let page = Page {
        title: "Upload recordings",
        path: "/upload",
        user: Some(&user),
    };
    let max_upload = human_bytes(i64::try_from(state.limits.max_upload_bytes).unwrap_or(i64::MAX));
    Ok(page.render(html! {
        h1 { "Upload recordings" }
        p {
            "Chrome traces (" code { ".json" } " or " code { ".json.gz" } ") or "
            code { "input_events.jsonl" } " files, up to " (max_upload) " each. "
            "Each file becomes a session, and its suite's default model makes an Example of it."
        }
        noscript { p class="notice error" { "The upload page needs JavaScript. Without it, upload with the API: see the " a href="/quickstart" { "Quickstart" } "." } }
        form id="upload-form" class="stack upload" data-endpoint="/v1/sessions" {
            label {
                "Suite"
                select name="suite_id" id="suite" required {
                    @for suite in &suites {
                        option value=(suite.name) { (suite.display_name) " (" (suite.name) ")" }
                    }
                }
            }
            label {
                "Description " span class="hint" { "(optional, given to every file)" }
                input type="text" name="description" id="description" maxlength="2000";
            }
            label class="check" {
                input type="checkbox" name="screenshots_safe" id="screenshots-safe" value="true";
                span {
                    "Keep the screenshots of recordings made without the capture script "
                    span class="hint" { "(they carry no marks of sensitive fields, so nothing was painted over: tick only when no password or card number shows on screen)" }
                }
            }
            div class="dropzone" id="dropzone" {
                label for="files" { strong { "Choose files" } " or drop them here" }
                input type="file" id="files" name="input_events" multiple
                    accept=".json,.gz,.jsonl,application/json,application/gzip";
                p class="hint" id="chosen" aria-live="polite" { "No files chosen." }
            }
            div { button type="submit" id="upload-button" { "Upload" } }
        }
        h2 { "Uploads" }
        p class="hint" id="upload-status" role="status" { "Nothing uploaded yet on this page." }
        ol id="upload-list" class="uploads" {}
        script src=(UPLOAD_JS_ROUTE) defer {}
    }))
}

/// `?suite=&status=&page=` of the lists; a value that does not parse is
/// ignored rather than refused, as a page would.
#[derive(Debug, Default, Deserialize)]
pub struct ListFilterQuery {
    suite: Option<String>,
    status: Option<String>,
    page: Option<String>,
}

struct ListFilter {
    suite: Option<(Uuid, String)>,
    status: Option<Status>,
    page: u32,
}

impl ListFilter {
    fn of(state: &ApiState, q: &ListFilterQuery) -> ListFilter {
        let snapshot = state.catalog.snapshot();
        let suite = q
            .suite
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| snapshot.suite_by_name_or_id(s))
            .map(|s| (s.id, s.name.clone()));
        ListFilter {
            suite,
            status: q.status.as_deref().and_then(Status::parse),
            page: q
                .page
                .as_deref()
                .and_then(|p| p.parse().ok())
                .filter(|p| (1..=1_000_000).contains(p))
                .unwrap_or(1),
        }
    }

    fn list_page(&self) -> ListPage {
        ListPage {
            page: self.page,
            per_page: PER_PAGE,
        }
    }

    /// The list's address with this filter at `page`.
    fn href(&self, path: &str, page: u32) -> String {
        let mut query = vec![];
        if let Some((_, name)) = &self.suite {
            query.push(format!("suite={name}"));
        }
        if let Some(status) = self.status {
            query.push(format!("status={}", status.as_str()));
        }
        query.push(format!("page={page}"));
        format!("{path}?{}", query.join("&"))
    }
}

const STATUSES: [Status; 4] = [
    Status::Pending,
    Status::Processing,
    Status::Completed,
    Status::Failed,
];

fn filter_form(state: &ApiState, path: &str, filter: &ListFilter, status_label: &str) -> Markup {
    let snapshot = state.catalog.snapshot();
    let chosen_suite = filter.suite.as_ref().map(|(_, n)| n.as_str());
    html! {
        form method="get" action=(path) class="filters" {
            label {
                "Suite "
                select name="suite" {
                    option value="" { "Every suite" }
                    @for suite in snapshot.catalog.suites() {
                        option value=(suite.name) selected[chosen_suite == Some(suite.name.as_str())] { (suite.display_name) }
                    }
                }
            }
            label {
                (status_label) " "
                select name="status" {
                    option value="" { "Any status" }
                    @for status in STATUSES {
                        option value=(status.as_str()) selected[filter.status == Some(status)] { (status.as_str().to_lowercase()) }
                    }
                }
            }
            button type="submit" class="secondary" { "Filter" }
        }
    }
}

fn pager(path: &str, filter: &ListFilter, total: i64) -> Markup {
    let pages = u32::try_from((total + i64::from(PER_PAGE) - 1) / i64::from(PER_PAGE))
        .unwrap_or(u32::MAX)
        .max(1);
    html! {
        nav class="pager" aria-label="Pages" {
            @if filter.page > 1 {
                a href=(filter.href(path, filter.page - 1)) rel="prev" { "← Newer" }
            }
            span { "Page " (filter.page) " of " (pages) " (" (total) " in all)" }
            @if filter.page < pages {
                a href=(filter.href(path, filter.page + 1)) rel="next" { "Older →" }
            }
        }
    }
}

pub async fn sessions(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Query(q): Query<ListFilterQuery>,
) -> Result<Response, WebError> {
    let filter = ListFilter::of(&state, &q);
    let suite = filter.suite.as_ref().map(|(id, _)| *id);
    // Sessions have no status of their own: with one asked for, the list
    // pages through the Examples in it and shows each one's session.
    let (sessions, total) = match filter.status {
        None => {
            state
                .control
                .list_sessions(user.user.id, suite, filter.list_page())
                .await?
        }
        Some(status) => {
            let examples_filter = ExampleFilter {
                suite_id: suite,
                status: Some(status),
                ..ExampleFilter::default()
            };
            let (examples, total) = state
                .control
                .list_examples(user.user.id, &examples_filter, filter.list_page())
                .await?;
            let mut sessions: Vec<SessionRecord> = Vec::new();
            for example in examples {
                if sessions.iter().any(|s| s.id == example.session_id) {
                    continue;
                }
                if let Some(session) = state
                    .control
                    .get_session(user.user.id, example.session_id)
                    .await?
                {
                    sessions.push(session);
                }
            }
            (sessions, total)
        }
    };
    let table = sessions_table(&state, &user, &sessions).await?;
    let page = Page {
        title: "Sessions",
        path: "/sessions",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Sessions" }
        p { "Your uploaded recordings, newest first. Open one to review its timeline, screenshots and actions. "
            a href="/upload" { "Upload more" } }
        (filter_form(&state, "/sessions", &filter, "Example status"))
        @if sessions.is_empty() {
            p data-testid="empty" { "No sessions match." }
        } @else {
            (table)
        }
        (pager("/sessions", &filter, total))
    }))
}

pub async fn examples(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Query(q): Query<ListFilterQuery>,
) -> Result<Response, WebError> {
    let filter = ListFilter::of(&state, &q);
    let examples_filter = ExampleFilter {
        suite_id: filter.suite.as_ref().map(|(id, _)| *id),
        status: filter.status,
        ..ExampleFilter::default()
    };
    let (examples, total) = state
        .control
        .list_examples(user.user.id, &examples_filter, filter.list_page())
        .await?;
    let mut rows = Vec::with_capacity(examples.len());
    for example in &examples {
        let session = state
            .control
            .get_session(user.user.id, example.session_id)
            .await?;
        rows.push((example, session.map(|s| session_title(&s))));
    }
    let snapshot = state.catalog.snapshot();
    let model_name = crate::api::usage::model_namer(&snapshot);
    let page = Page {
        title: "Examples",
        path: "/examples",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Examples" }
        p { "The training conversations made of your sessions, newest first." }
        (filter_form(&state, "/examples", &filter, "Status"))
        @if examples.is_empty() {
            p data-testid="empty" { "No Examples match." }
        } @else {
            table class="list" {
                thead { tr {
                    th scope="col" { "Recording" }
                    th scope="col" { "Status" }
                    th scope="col" { "Suite" }
                    th scope="col" { "Model" }
                    th scope="col" class="num" { "Tool calls" }
                    th scope="col" { "Created (UTC)" }
                    th scope="col" { "Download" }
                } }
                tbody {
                    @for (example, recording) in &rows {
                        tr {
                            td {
                                a href=(format!("/sessions/{}?example={}", example.session_id, example.id)) {
                                    (recording.as_deref().unwrap_or("Session"))
                                }
                                div class="id" { "Example " (example.id.to_string().get(..8).unwrap_or_default()) }
                            }
                            td {
                                (status_badge(example.status))
                                @if let Some(error) = &example.error { div class="hint" { (error.message) } }
                            }
                            td { (suite_name(&state, example.suite_id)) }
                            td { code { (model_name(example.model_id)) } }
                            td class="num" { (example.tool_calls.map(|n| n.to_string()).unwrap_or_else(|| "–".to_owned())) }
                            td { (short_time(&example.created_at)) }
                            td {
                                @if example.status == Status::Completed {
                                    a href=(format!("/v1/examples/{}/messages", example.id)) download=(format!("{}.messages.jsonl", example.id)) { "messages.jsonl" }
                                } @else { span class="hint" { "not yet" } }
                            }
                        }
                    }
                }
            }
        }
        (pager("/examples", &filter, total))
    }))
}
