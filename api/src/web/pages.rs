//! The landing page and the Quickstart: public, with the signed-in person's
//! navigation when there is one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use maud::html;

use super::layout::{pipeline_diagram, Page};
use super::{MaybeWebUser, WebError};
use crate::api::ApiState;

pub async fn landing(MaybeWebUser(user): MaybeWebUser) -> Result<Response, WebError> {
    let page = Page {
        title: "Browser recordings to training data",
        path: "/",
        user: user.as_ref(),
    };
    Ok(page.render(html! {
        h1 { "Browser recordings in, tool-call training data out" }
        p class="lead" {
            "Tracepipe turns recordings of people using web apps into conversations of MCP tool calls, "
            "ready to train and evaluate AI agents: no manual labelling, one canonical action map, JSONL out."
        }
        (pipeline_diagram())
        div class="actions" {
            @if user.is_some() {
                a class="button" href="/keys" { "Your API keys" }
                a class="button secondary" href="/quickstart" { "Quickstart" }
            } @else {
                a class="button" href="/register" { "Create an account" }
                a class="button secondary" href="/sign-in" { "Sign in" }
            }
        }
        h2 { "Why Tracepipe" }
        ul {
            li { strong { "No manual labelling: " } "every click and keystroke is classified into an action automatically." }
            li { strong { "Canonical action mapping: " } "actions map onto the MCP tools of the app's suite." }
            li { strong { "Production-ready JSONL: " } "one conversation per recording, with the model and configuration used." }
            li { strong { "Pay only for what you use: " } "tokens of AI processing and storage, billed monthly; no tiers." }
            li { strong { "API-first: " } "everything the pages do, the " a href="/v1/docs" { "API" } " does too." }
        }
    }))
}

/// The base URL people reach this deployment at: the configured one, or the
/// request's own host when none is configured.
fn base_url(state: &ApiState, headers: &HeaderMap) -> String {
    let configured = state
        .web
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    if state.web.base_url_configured() {
        return configured;
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|host| format!("{}://{host}", state.web.base_url().scheme()))
        .unwrap_or(configured)
}

pub async fn quickstart(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    MaybeWebUser(user): MaybeWebUser,
) -> Result<Response, WebError> {
    let base = base_url(&state, &headers);
    let page = Page {
        title: "Quickstart",
        path: "/quickstart",
        user: user.as_ref(),
    };
    let upload = format!(
        "curl -sS {base}/v1/sessions \\\n  -H \"X-API-Key: $TRACEPIPE_API_KEY\" \\\n  -F suite_id=gmail \\\n  -F input_events=@recording.trace.json.gz"
    );
    let find = format!(
        "curl -sS \"{base}/v1/examples?session_id=$SESSION_ID\" \\\n  -H \"X-API-Key: $TRACEPIPE_API_KEY\""
    );
    let poll = format!(
        "curl -sS {base}/v1/examples/$EXAMPLE_ID \\\n  -H \"X-API-Key: $TRACEPIPE_API_KEY\""
    );
    let download = format!(
        "curl -sS {base}/v1/examples/$EXAMPLE_ID/messages \\\n  -H \"X-API-Key: $TRACEPIPE_API_KEY\" -o messages.jsonl"
    );
    let usage = format!("curl -sS {base}/v1/usage \\\n  -H \"X-API-Key: $TRACEPIPE_API_KEY\"");
    Ok(page.render(html! {
        h1 { "Quickstart" }
        p class="lead" { "From a browser recording to training data in a few requests to " code { (base) } "." }
        h2 { "1. Create an API key" }
        p {
            @if user.is_some() {
                "Create a key on the " a href="/keys" { "API keys" } " page and keep it in an environment variable:"
            } @else {
                a href="/register" { "Create an account" } ", then a key on the API keys page, and keep it in an environment variable:"
            }
        }
        pre { code { "export TRACEPIPE_API_KEY=tp_live_…" } }
        h2 { "2. Upload a recording" }
        p {
            "Record a session with the capture script or extension (see the "
            a href="/capture" { "capture how-to" } "), then upload it for a suite. "
            "The answer is the stored session; keep its id:"
        }
        pre { code { (upload) } }
        pre { code { "export SESSION_ID=…   # \"id\" of the answer" } }
        p { "An Example (the training data of the session) is made at once; find its id:" }
        pre { code { (find) } }
        pre { code { "export EXAMPLE_ID=…   # items[0].id of the answer" } }
        h2 { "3. Wait for the Example" }
        p { "Processing is automatic. Ask until " code { "status" } " is " code { "COMPLETED" } " (or " code { "FAILED" } ", with the reason):" }
        pre { code { (poll) } }
        h2 { "4. Download the training data" }
        p { "The conversation of MCP tool calls, one JSON message per line:" }
        pre { code { (download) } }
        h2 { "Check usage and cost" }
        pre { code { (usage) } }
        p {
            "Every route is in the API reference: " a href="/v1/docs" { "Swagger UI" } " or "
            a href="/v1/redoc" { "ReDoc" } ", from the " a href="/v1/openapi.json" { "OpenAPI document" } "."
        }
    }))
}
