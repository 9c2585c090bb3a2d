//! Admission control shared by both deployments' HTTP APIs (`tracepipe serve`
//! and `tracepipe gateway`): what a client may ask of the server before any
//! handler runs, so that one client cannot take the service from the others.
//!
//! - [`listener`]: the accept loop, with a cap on open connections and a
//!   deadline for a request's headers (a connection that never finishes its
//!   headers is closed instead of holding a file descriptor forever).
//! - [`keys`]: per-API-key request rate and concurrent uploads, answered with
//!   `429`, `Retry-After` and the `X-RateLimit-*` headers.
//! - [`body`]: an upload's body must keep a minimum rate (`408` otherwise) and
//!   its multipart part headers stay under a byte cap (`413`), checked while
//!   the body streams, before the multipart parser buffers anything.
//! - [`is_storage_full`]: a full disk is told to the client as `507`.

pub mod body;
pub mod keys;
pub mod listener;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The `[admission]` section of `config/serve.toml` and `config/gateway.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Requests per minute per API key (a bucket of this many requests,
    /// refilled continuously); 0 turns the limit off.
    pub requests_per_minute: u32,
    /// Uploads one API key may have in flight at once; 0 turns the limit off.
    pub max_concurrent_uploads_per_key: u32,
    /// Seconds a connection may take to send a request's headers.
    pub header_read_timeout_secs: u64,
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// An upload slower than this over `min_upload_rate_window_secs` is cut
    /// with 408; 0 turns the check off.
    pub min_upload_bytes_per_sec: u64,
    pub min_upload_rate_window_secs: u64,
    /// Largest header block of one multipart part (and preamble): larger
    /// answers 413.
    pub max_part_header_bytes: usize,
}

/// Smallest sensible part-header cap: a `Content-Disposition` with a file name
/// and a `Content-Type` fit easily.
const MIN_PART_HEADER_BYTES: usize = 256;

impl AdmissionConfig {
    /// Checks the values; the error names the key under `section`.
    pub fn validate(&self) -> Result<(), String> {
        let at_least = |key: &str, value: u64, min: u64| {
            if value < min {
                Err(format!("admission.{key} must be at least {min}"))
            } else {
                Ok(())
            }
        };
        at_least("header_read_timeout_secs", self.header_read_timeout_secs, 1)?;
        at_least("max_connections", self.max_connections as u64, 1)?;
        at_least(
            "min_upload_rate_window_secs",
            self.min_upload_rate_window_secs,
            1,
        )?;
        at_least(
            "max_part_header_bytes",
            self.max_part_header_bytes as u64,
            MIN_PART_HEADER_BYTES as u64,
        )?;
        if u32::try_from(self.max_connections).is_err() {
            return Err("admission.max_connections must be below 2^32".into());
        }
        Ok(())
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }
}

/// What the middleware of both deployments share: the configuration and the
/// per-key counters.
pub struct Admission {
    pub config: AdmissionConfig,
    pub keys: Arc<keys::KeyLimits>,
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Arc<Admission> {
        Arc::new(Admission {
            keys: Arc::new(keys::KeyLimits::new(
                config.requests_per_minute,
                config.max_concurrent_uploads_per_key,
            )),
            config,
        })
    }
}

/// A refusal in the error shape both APIs use:
/// `{"error": {"code", "message"}}`, with the code left for the metrics.
pub(crate) fn refusal(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    let mut response = (status, axum::Json(body)).into_response();
    response
        .extensions_mut()
        .insert(crate::telemetry::http::ErrorCode(code));
    response
}

/// Adds `Retry-After` in whole seconds (at least 1).
pub(crate) fn retry_after(response: &mut Response, secs: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}

/// Whether `err`, or any error it was caused by, is a full disk or an
/// exhausted quota (ENOSPC, EDQUOT).
pub fn is_storage_full(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                return true;
            }
            // An I/O error wrapping another error (object_store's writer
            // does this) reports the wrapped error's source, not the
            // wrapped error itself: look inside.
            if let Some(inner) = io.get_ref() {
                if is_storage_full(inner) {
                    return true;
                }
            }
        }
        current = e.source();
    }
    false
}

/// At most `max` characters of a client-supplied name, for an error message:
/// a form field's name can be as long as its part header.
pub fn truncated(name: &str, max: usize) -> String {
    match name.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("storing: {source}")]
    struct Wrapped {
        source: std::io::Error,
    }

    #[test]
    fn a_full_disk_is_found_through_the_error_chain() {
        let full = Wrapped {
            source: std::io::Error::from_raw_os_error(28), // ENOSPC
        };
        assert!(is_storage_full(&full));
        let quota = std::io::Error::from_raw_os_error(122); // EDQUOT
        assert!(is_storage_full(&quota));
        let other = Wrapped {
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(!is_storage_full(&other));
        // As object_store's writer reports a store error: an I/O error of
        // kind Other around an error whose source is the full disk.
        let wrapped = std::io::Error::other(Wrapped {
            source: std::io::Error::from_raw_os_error(28),
        });
        assert!(is_storage_full(&wrapped));
    }

    #[test]
    fn names_are_truncated_on_character_boundaries() {
        assert_eq!(truncated("suite_id", 64), "suite_id");
        let long = "é".repeat(1000);
        let short = truncated(&long, 64);
        assert_eq!(short.chars().count(), 65);
        assert!(short.ends_with('…'));
    }
}
