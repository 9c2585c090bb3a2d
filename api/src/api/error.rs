//! Errors: what goes wrong inside the server ([`ServiceError`]) and what a client
//! is told ([`ApiError`], always a JSON body).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failure inside the server: the database, the object store, a task.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("sink: {0}")]
    Sink(#[from] tracepipe_sinks::SinkError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("catalog: {0}")]
    Catalog(#[from] tracepipe_processors::catalog::CatalogError),
    #[error("no catalog at {path} (it has no suites/ folder): pass --catalog DIR or set TRACEPIPE_CATALOG", path = .0.display())]
    NoCatalog(std::path::PathBuf),
    #[error("rules: {0}")]
    Rules(#[from] tracepipe_processors::classify::RulesError),
    #[error("pipeline: {0}")]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error("random number generator: {0}")]
    Random(String),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error(transparent)]
    WebConfig(#[from] crate::web::WebConfigError),
    #[error("pricing: {0}")]
    Pricing(#[from] crate::invoicing::pricing::PricingError),
    #[error("billing: {0}")]
    Stripe(#[from] tracepipe_billing::StripeError),
}

impl ServiceError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ServiceError::Io {
            what: what.into(),
            source,
        }
    }
}

/// The JSON error body: `{"error": {"code", "message", "field"?, "at"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ErrorDetail<'a> {
    /// short and stable, for programs
    code: &'a str,
    /// what is wrong and what to do
    message: &'a str,
    /// the request field at fault
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    field: Option<&'a str>,
    /// where inside the field (byte 1042, line 3)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    at: Option<&'a str>,
}

/// An answer other than success. `code` is short and stable, for programs;
/// `message` says what is wrong and what to do, for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The request field at fault (`input_events`, `page`, `model_id`).
    pub field: Option<String>,
    /// Where inside the field (`byte 1042`, `line 3`).
    pub at: Option<String>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            at: None,
            retry_after_secs: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn at(mut self, at: impl Into<String>) -> Self {
        self.at = Some(at.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only administrators may change the catalog or create users",
        )
    }

    /// Also the answer for another user's session or example: a client cannot
    /// tell "not yours" from "not there".
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn busy() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the processing queue is full; retry later",
        );
        e.retry_after_secs = Some(5);
        e
    }

    pub fn timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took longer than the server allows",
        )
    }

    pub fn invalid_id(field: &str) -> Self {
        Self::unprocessable("validation_error", format!("`{field}` is not a UUID")).field(field)
    }
}

/// The `Retry-After` of an upload refused because the object store did not
/// answer: about the time an S3 outage of the usual kind (a restart, a
/// failover) takes.
const STORAGE_RETRY_AFTER_SECS: u64 = 10;

impl From<ServiceError> for ApiError {
    /// Internal details go to the log, not to the client.
    fn from(err: ServiceError) -> Self {
        use crate::control::ControlError;
        let database_full = matches!(&err, ServiceError::Control(ControlError::StorageFull(_)));
        if database_full || crate::admission::is_storage_full(&err) {
            ::tracing::warn!("out of storage: {err}");
            let mut refusal = ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the server has no room to store the upload; nothing of it was kept. Try again later",
            );
            refusal.retry_after_secs = Some(60);
            return refusal;
        }
        if let ServiceError::Pipeline(
            crate::pipeline::PipelineError::Store { .. }
            | crate::pipeline::PipelineError::Upload { .. },
        ) = &err
        {
            // The object store failed within its bounds (S3 unreachable): the
            // upload was not acknowledged, and the same request can succeed
            // once it is back.
            ::tracing::warn!("{err}");
            let mut refusal = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the object store did not answer; nothing of the upload was kept. Try again later",
            );
            refusal.retry_after_secs = Some(STORAGE_RETRY_AFTER_SECS);
            return refusal;
        }
        if let ServiceError::Control(ControlError::Unavailable(_)) = &err {
            ::tracing::warn!("{err}");
            let mut refusal = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a backing service failed; try again",
            );
            refusal.retry_after_secs = Some(1);
            return refusal;
        }
        let reference = uuid::Uuid::new_v4();
        ::tracing::error!("internal error {reference}: {err}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("internal error (reference {reference})"),
        )
    }
}

impl From<crate::control::ControlError> for ApiError {
    fn from(err: crate::control::ControlError) -> Self {
        ServiceError::from(err).into()
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ServiceError::from(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages and field names may quote the request: cut, so that an
        // error never grows with what a client sent.
        let field = self
            .field
            .as_deref()
            .map(|f| crate::admission::truncated(f, crate::text::MAX_FIELD_CHARS));
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &crate::text::capped_message(&self.message),
                field: field.as_deref(),
                at: self.at.as_deref(),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        // For the request metrics: rejections are counted by code.
        response
            .extensions_mut()
            .insert(crate::telemetry::http::ErrorCode(self.code));
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
