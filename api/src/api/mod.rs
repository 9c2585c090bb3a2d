//! The HTTP API under `/v1`, written once for both deployments: routes, body
//! limits, timeouts and the JSON answers for unknown routes and methods, over
//! [`ApiState`], whose parts differ between `tracepipe serve` (SQLite, an
//! in-process queue, a local folder) and `tracepipe gateway` (PostgreSQL,
//! Kafka through the outbox, S3).

pub mod account;
pub mod auth;
pub(crate) mod billing;
mod catalog;
pub mod catalog_store;
pub mod corrections;
mod deposits;
pub mod error;
mod examples;
mod extract;
pub mod learn;
mod mcp_endpoint;
pub mod models;
pub mod openapi;
mod review;
mod sessions;
pub mod usage;
pub mod usage_daily;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use object_store::ObjectStore;
use uuid::Uuid;

use self::catalog_store::CatalogStore;
use self::error::ApiError;
use crate::admission::{self, Admission};
use crate::control::accounts::AccountStore;
use crate::control::billing::BillingStore;
use crate::control::ControlPlane;
use crate::pipeline::Pipeline;
use crate::serve::config::{BillingConfig, LimitsConfig, PricingConfig};

/// Everything a request handler shares.
pub struct ApiState {
    pub limits: LimitsConfig,
    pub pricing: PricingConfig,
    pub control: Arc<dyn ControlPlane>,
    /// The deployment's object store, its keys as the pipeline writes them
    /// (`sessions/<id>/…`, `examples/<id>/…`).
    pub objects: Arc<dyn ObjectStore>,
    /// Stores and normalises uploads into `objects`.
    pub pipeline: Pipeline,
    /// Whether an upload's recording is read in the request or later.
    pub reading: UploadReading,
    /// Uploads stream here, one folder each, before the pipeline reads them.
    pub uploads_dir: PathBuf,
    /// Where `objects` keeps its files when it is a local folder, for removing
    /// a failed upload's unfinished staging files the store does not list.
    pub local_objects_dir: Option<PathBuf>,
    pub catalog: Arc<CatalogStore>,
    /// Hands accepted Examples to the processors.
    pub dispatch: Arc<dyn Dispatch>,
    /// Per-key limits and the upload guard (src/admission).
    pub admission: Arc<Admission>,
    /// Web accounts and sessions (tracepipe_control::accounts).
    pub accounts: Arc<dyn AccountStore>,
    /// The web pages' cookie, CSRF key, sign-in throttle and OpenID client.
    pub web: Arc<crate::web::WebAuth>,
    /// The billing ledger, in the control plane's database.
    pub billing: Arc<dyn BillingStore>,
    /// Stripe, when `[billing] stripe_secret_key` is set.
    pub stripe: Option<tracepipe_billing::StripeClient>,
    pub billing_config: BillingConfig,
    /// Status callbacks: which hosts a `callback_url` may name (crate::callbacks).
    pub callbacks: crate::callbacks::CallbacksConfig,
    /// The time deposits are taken, expire and are settled at
    /// (`/ap2/examples`): [`crate::clock::SystemClock`] but in tests.
    pub clock: Arc<dyn crate::clock::Clock>,
}

/// Where an upload's recording is read: normalised, its screenshots stored
/// (painted over where it says secrets were on screen) and its Session written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadReading {
    /// In the request, before the answer: a recording that cannot be read is
    /// refused in the response (`serve`, whose processing shares the process).
    #[default]
    InRequest,
    /// By the processor of its first Example: the request stores the upload
    /// as sent after a cheap check of its first bytes (JSON Lines: its lines
    /// are counted too), and what reading it finds wrong later ends its
    /// Example FAILED with the reason. What the distributed gateway does, so
    /// that the heavy work runs on the partitioned processors.
    Later,
}

/// How accepted Examples reach the processors. The Example is already stored
/// as PENDING when it is dispatched, so a dispatch lost to a crash is found
/// again by the deployment's recovery (serve's requeue at start, the
/// gateway's outbox relay).
pub trait Dispatch: Send + Sync + 'static {
    /// Room for one more Example, taken before anything is stored; None when
    /// the processors are saturated and the client should retry later.
    fn reserve(&self) -> Option<Box<dyn Reservation>>;
}

/// A place in the processors' queue.
pub trait Reservation: Send {
    fn send(self: Box<Self>, example_id: Uuid);
}

pub fn router(state: Arc<ApiState>) -> Router {
    let limits = &state.limits;
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
        .route("/ap2/examples", post(deposits::create))
        .route("/ap2/examples/{example_id}", get(deposits::get))
        .route("/examples/{example_id}/messages", get(examples::messages))
        .route("/examples/{example_id}/actions", get(review::actions))
        .route(
            "/examples/{example_id}/review",
            get(corrections::get_review),
        )
        .route(
            "/examples/{example_id}/review/items",
            post(corrections::post_item),
        )
        .route(
            "/examples/{example_id}/review/items/{index}",
            axum::routing::put(corrections::put_item),
        )
        .route(
            "/examples/{example_id}/review/complete",
            post(corrections::post_complete),
        )
        .route(
            "/examples/{example_id}/review/labels",
            get(corrections::get_labels),
        )
        .route("/review-queue", get(corrections::get_queue))
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
        .route("/suites/{suite_id}/learn", post(learn::learn_suite))
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
        .route(
            "/account/callback-secret",
            post(account::create_callback_secret).delete(account::delete_callback_secret),
        )
        .route("/usage", get(usage::get))
        .route("/usage/daily", get(usage_daily::get))
        .route("/invoices", get(billing::list_invoices))
        .route("/billing/payment-method", get(billing::payment_method))
        .route("/billing/setup", post(billing::setup))
        .route("/billing/portal", post(billing::portal))
        .route("/billing/webhooks", post(billing::webhook))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(limits.max_json_body_bytes))
        .layer(middleware::from_fn_with_state(request_timeout, timeout));

    let v1 = uploads
        .merge(rest)
        .merge(mcp_endpoint::routes(limits))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            admission.clone(),
            admission::body::guard_body_rate,
        ))
        .layer(middleware::from_fn_with_state(
            admission,
            admission::keys::limit_rate,
        ))
        .layer(middleware::from_fn(mcp_endpoint::bearer_as_api_key));
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
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "get_openapi_document",
    tag = "meta",
    summary = "This document",
    security(()),
    responses((status = 200, description = "the OpenAPI document", body = Object))
)]
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}
