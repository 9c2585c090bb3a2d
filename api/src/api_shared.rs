//! JSON views of the catalog that both deployments answer with, so that
//! `tracepipe serve` and `tracepipe gateway` give the same shapes for the same
//! routes (`/suites`, `/mcp-servers`, the period of `/usage`), and what both
//! record of an upload.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use tracepipe_processors::catalog::{McpServer, ServerInfo, Suite};

/// A suite in a list: its actions are counted, not shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuiteSummary {
    id: Uuid,
    name: String,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    action_count: usize,
}

impl SuiteSummary {
    pub fn of(s: &Suite) -> SuiteSummary {
        SuiteSummary {
            id: s.id,
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            description: s.description.clone(),
            action_count: s.actions.len(),
        }
    }
}

/// An MCP server in a list: its tools are counted, not shown.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = McpServerSummary)]
pub struct ServerSummary {
    id: Uuid,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_info: Option<ServerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<String>,
    tool_count: usize,
}

impl ServerSummary {
    pub fn of(s: &McpServer) -> ServerSummary {
        ServerSummary {
            id: s.id,
            name: s.name.clone(),
            server_info: s.server_info.clone(),
            protocol_version: s.protocol_version.clone(),
            tool_count: s.tools.len(),
        }
    }
}

/// The calendar month (UTC) holding `now`, as [start, end): the period
/// `GET /usage` reports on.
pub fn month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    (start, end)
}

/// `Idempotency-Key` on `POST /sessions`, the same in both deployments: a
/// client that retries an upload (after a `503`, a timeout or a dropped
/// connection) with the same key gets the Session the first attempt made
/// instead of a second one. A key names one upload of one user for good; the
/// same key with another suite, description or recording is refused.
pub mod idempotency {
    use std::io::Read;
    use std::path::Path;

    use axum::http::HeaderMap;
    use sha2::{Digest, Sha256};
    use uuid::Uuid;

    pub const HEADER: &str = "idempotency-key";
    pub const MAX_KEY_CHARS: usize = 255;
    /// The error code of a key reused for another upload (answered `422`).
    pub const REUSED_CODE: &str = "idempotency_key_reused";
    /// The error code of a malformed key (answered `400`).
    pub const INVALID_CODE: &str = "invalid_idempotency_key";

    #[derive(Debug, thiserror::Error, PartialEq, Eq)]
    pub enum IdempotencyError {
        #[error("the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} visible ASCII characters (a UUID is a good key)")]
        InvalidKey,
        #[error("Idempotency-Key `{0}` was used before for a different upload (another suite, description or recording); send a new key for a new upload")]
        Reused(String),
    }

    /// The request's key, if it sent one.
    pub fn key(headers: &HeaderMap) -> Result<Option<String>, IdempotencyError> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let text = value.to_str().map_err(|_| IdempotencyError::InvalidKey)?;
        if text.is_empty()
            || text.len() > MAX_KEY_CHARS
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(IdempotencyError::InvalidKey);
        }
        Ok(Some(text.to_owned()))
    }

    /// What a retry must repeat, as hex SHA-256: the suite, the description
    /// and the recording's bytes, each delimited so that no two different
    /// uploads hash alike. Reads the file: call it on a blocking thread.
    pub fn fingerprint(
        suite_id: Uuid,
        description: Option<&str>,
        recording: &Path,
    ) -> std::io::Result<String> {
        let mut hash = Sha256::new();
        hash.update(b"tracepipe upload v1\0");
        hash.update(suite_id.as_bytes());
        match description {
            None => hash.update([0u8]),
            Some(text) => {
                hash.update([1u8]);
                hash.update((text.len() as u64).to_be_bytes());
                hash.update(text.as_bytes());
            }
        }
        let mut file = std::fs::File::open(recording)?;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hash.update(&buffer[..read]);
        }
        Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether a stored key may answer this request: only for the very same
    /// upload.
    pub fn check_replay(key: &str, stored: &str, request: &str) -> Result<(), IdempotencyError> {
        if stored == request {
            Ok(())
        } else {
            Err(IdempotencyError::Reused(key.to_owned()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn keys_are_visible_ascii_of_bounded_length() {
            let mut headers = HeaderMap::new();
            assert_eq!(key(&headers), Ok(None));
            headers.insert(HEADER, "0b5e2b1c-retry".parse().expect("header"));
            assert_eq!(key(&headers), Ok(Some("0b5e2b1c-retry".into())));
            for bad in ["", "has space", &"k".repeat(MAX_KEY_CHARS + 1)] {
                headers.insert(HEADER, bad.parse().expect("header"));
                assert_eq!(key(&headers), Err(IdempotencyError::InvalidKey), "{bad:?}");
            }
        }

        #[test]
        fn the_fingerprint_changes_with_suite_description_and_bytes_only() {
            let dir = tempfile::tempdir().expect("tempdir");
            let (a, b) = (dir.path().join("a"), dir.path().join("b"));
            std::fs::write(&a, b"{\"traceEvents\": []}").expect("write");
            std::fs::write(&b, b"{\"traceEvents\": [1]}").expect("write");
            let suite = Uuid::new_v4();
            let base = fingerprint(suite, Some("d"), &a).expect("hash");
            assert_eq!(base, fingerprint(suite, Some("d"), &a).expect("hash"));
            assert_ne!(
                base,
                fingerprint(Uuid::new_v4(), Some("d"), &a).expect("hash")
            );
            assert_ne!(base, fingerprint(suite, None, &a).expect("hash"));
            assert_ne!(base, fingerprint(suite, Some(""), &a).expect("hash"));
            assert_ne!(base, fingerprint(suite, Some("d"), &b).expect("hash"));
            assert!(check_replay("k", &base, &base).is_ok());
            let reused = check_replay("k", &base, "other").expect_err("refused");
            assert!(reused.to_string().contains("`k`"), "{reused}");
        }
    }
}

/// The name a Session records for an upload: the last component of the file
/// name the client sent (browsers may send a path), at most 255 characters.
/// It is recorded, never used as a path.
pub fn upload_file_name(sent: &str) -> Option<String> {
    let name = sent.rsplit(['/', '\\']).next().unwrap_or(sent).trim();
    (!name.is_empty()).then(|| name.chars().take(255).collect())
}

#[cfg(test)]
mod upload_file_name_tests {
    use super::upload_file_name;

    #[test]
    fn keeps_the_last_path_component_within_255_characters() {
        assert_eq!(
            upload_file_name("send.trace.json.gz").as_deref(),
            Some("send.trace.json.gz")
        );
        assert_eq!(
            upload_file_name("C:\\fakepath\\a.json").as_deref(),
            Some("a.json")
        );
        assert_eq!(
            upload_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(upload_file_name(" / "), None);
        assert_eq!(
            upload_file_name(&"é".repeat(300)).map(|n| n.chars().count()),
            Some(255)
        );
    }
}
