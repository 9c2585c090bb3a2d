//! The HTTP API under `/v1`: routes, body limits, timeouts and the JSON
//! answers for unknown routes and methods.

pub mod account;
mod catalog;
mod examples;
mod review;
mod sessions;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::error::ApiError;
use super::AppState;
use crate::admission;

pub fn router(state: Arc<AppState>) -> Router {
    let limits = &state.config.limits;
    let request_timeout = Duration::from_secs(limits.request_timeout_secs);
    let upload_timeout = Duration::from_secs(limits.upload_timeout_secs);
    // Multipart framing and the small text fields ride on top of the file.
    let upload_body =
        usize::try_from(limits.max_upload_bytes.saturating_add(1 << 20)).unwrap_or(usize::MAX);

    let admission = state.admission.clone();
    let uploads = Router::new()
        .route("/sessions", post(sessions::create))
        .layer(DefaultBodyLimit::max(upload_body))
        .layer(middleware::from_fn_with_state(upload_timeout, timeout))
        .layer(middleware::from_fn_with_state(
            admission.clone(),
            admission::body::guard_upload,
        ));

    let rest = Router::new()
        .route("/sessions", get(sessions::list))
        .route("/sessions/{session_id}", get(sessions::get))
        .route("/sessions/{session_id}/events", get(review::events))
        .route(
            "/sessions/{session_id}/screenshots",
            get(review::screenshots),
        )
        .route(
            "/sessions/{session_id}/screenshots/{name}",
            get(review::screenshot),
        )
        .route("/examples", get(examples::list).post(examples::create))
        .route("/examples/{example_id}", get(examples::get))
        .route("/examples/{example_id}/messages", get(examples::messages))
        .route("/examples/{example_id}/actions", get(review::actions))
        .route("/models", get(examples::models))
        .route(
            "/suites",
            get(catalog::list_suites).post(catalog::create_suite),
        )
        .route(
            "/suites/{suite_id}",
            get(catalog::get_suite)
                .put(catalog::put_suite)
                .delete(catalog::delete_suite),
        )
        .route(
            "/suites/{suite_id}/actions",
            get(catalog::list_actions).post(catalog::create_action),
        )
        .route(
            "/suites/{suite_id}/actions/{action_id}",
            get(catalog::get_action)
                .put(catalog::put_action)
                .delete(catalog::delete_action),
        )
        .route(
            "/mcp-servers",
            get(catalog::list_servers).post(catalog::create_server),
        )
        .route(
            "/mcp-servers/{mcp_server_id}",
            get(catalog::get_server)
                .put(catalog::put_server)
                .delete(catalog::delete_server),
        )
        .route(
            "/mcp-servers/{mcp_server_id}/tools",
            get(catalog::list_tools).post(catalog::create_tool),
        )
        .route(
            "/mcp-servers/{mcp_server_id}/tools/{tool_id}",
            get(catalog::get_tool)
                .put(catalog::put_tool)
                .delete(catalog::delete_tool),
        )
        .route(
            "/action-tool-maps",
            get(catalog::list_maps).post(catalog::create_map),
        )
        .route(
            "/action-tool-maps/{action_tool_map_id}",
            get(catalog::get_map)
                .put(catalog::put_map)
                .delete(catalog::delete_map),
        )
        .route("/users", post(account::create_user))
        .route("/users/me", get(account::me))
        .route(
            "/api-keys",
            get(account::list_keys).post(account::create_key),
        )
        .route(
            "/api-keys/{api_key_id}",
            axum::routing::delete(account::revoke_key),
        )
        .route("/usage", get(usage::get))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(limits.max_json_body_bytes))
        .layer(middleware::from_fn_with_state(request_timeout, timeout));

    let v1 = uploads
        .merge(rest)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            admission.clone(),
            admission::body::guard_body_rate,
        ))
        .layer(middleware::from_fn_with_state(
            admission,
            admission::keys::limit_rate,
        ));
    Router::new().nest("/v1", v1).fallback(not_found)
}

/// Answers 408 with a JSON body when a request runs over its time.
async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no_route",
        "no such route; the API is under /v1",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// The OpenAPI document, public like any API description.
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
}
