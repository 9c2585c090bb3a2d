//! The control-plane database: users, API keys, sessions, examples, the catalog
//! and the analyst-table outbox, in one SQLite file.
//!
//! One connection behind a mutex, used only from blocking threads
//! ([`Db::call`]): SQLite serialises writers anyway, and the embedded server's
//! load is one person's uploads. Every query that touches a user's data takes
//! the user's id, so no handler can read across users by forgetting a filter.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use async_trait::async_trait;
use std::collections::HashSet;

use super::callbacks::{self, CallbackOutcome, DueCallback};
use super::deposits::{self, Deposit};
use super::reviews::{self, DailyRows, QueueEntry, Review, ReviewItem, ReviewOutcome};
use super::{
    now, ApiKey, CatalogFile, ControlError, ControlPlane, ControlResult, ExampleError,
    ExampleFilter, ExampleRecord, KeyOwner, NewUpload, Page, SessionRecord, Status, StoredCatalog,
    StoredObject, UploadOutcome, UsageRows, User,
};

/// `PRAGMA user_version` of the schema this build writes. A database from a
/// newer build is refused rather than misread.
const SCHEMA_VERSION: i64 = 12;

const SCHEMA_V1: &str = r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_keys_user ON api_keys(user_id, created_at);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    suite_id TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    storage_path TEXT NOT NULL,
    source_format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    event_count INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id, created_at);
CREATE TABLE examples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    suite_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    action_tool_map_id TEXT,
    model_configuration TEXT NOT NULL,
    storage_path TEXT,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    tool_calls INTEGER,
    rejected_calls INTEGER,
    tokens INTEGER NOT NULL DEFAULT 0,
    messages_bytes INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX examples_user ON examples(user_id, created_at);
CREATE INDEX examples_status ON examples(status);
CREATE TABLE catalog_files (
    kind TEXT NOT NULL,
    suite TEXT NOT NULL,
    name TEXT NOT NULL,
    contents TEXT NOT NULL,
    PRIMARY KEY (kind, suite, name)
);
CREATE TABLE table_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    example_row TEXT NOT NULL,
    action_rows TEXT NOT NULL
);
"#;

/// Version 2: `Idempotency-Key` of `POST /sessions` (the Session a key made,
/// and a hash of the upload it was made for).
const SCHEMA_V2: &str = r#"
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
"#;
/// Version 3: how many times each Example was started, so that one whose
/// processing the server never survives is given up rather than retried at
/// every start.
const SCHEMA_V3: &str = "ALTER TABLE examples ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;";

/// Version 4: provenance of a session, the uploaded file's name and the
/// SHA-256 of its bytes (NULL for sessions stored before).
const SCHEMA_V4: &str = r#"
ALTER TABLE sessions ADD COLUMN source_name TEXT;
ALTER TABLE sessions ADD COLUMN source_sha256 TEXT;
"#;

/// Version 5: when each key was last used, and the catalog's version, which
/// every write increments.
const SCHEMA_V5: &str = r#"
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
CREATE TABLE catalog_version (version INTEGER NOT NULL);
INSERT INTO catalog_version (version) VALUES (0);
"#;

/// Version 6: web accounts, sessions, OpenID sign-ins in progress and the
/// server's secrets (accounts.rs).
use super::accounts::SCHEMA_V6;

/// Version 7: the billing ledger (control/billing_sqlite.rs): each user's
/// Stripe customer and card status, invoices, the Stripe webhook events
/// acted on, and each month's close.
const SCHEMA_V7: &str = r#"
CREATE TABLE billing_accounts (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    stripe_customer_id TEXT UNIQUE,
    card_status TEXT NOT NULL DEFAULT 'none',
    card_brand TEXT,
    card_last4 TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    period TEXT NOT NULL,
    lines TEXT NOT NULL,
    subtotal_cents INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    stripe_invoice_id TEXT UNIQUE,
    hosted_invoice_url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, period)
);
CREATE TABLE stripe_webhook_events (
    event_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE billing_month_closes (
    period TEXT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
"#;

/// Version 8: the suites an API key may be used for (a JSON array of ids;
/// NULL: every suite).
const SCHEMA_V8: &str = "ALTER TABLE api_keys ADD COLUMN suite_ids TEXT;";

/// Version 9: reviews of Examples and their items (control/reviews.rs).
use super::reviews::SCHEMA_V9;

/// Version 10: how a session's actions were captured (`script` or `none`);
/// sessions stored before were all read as made with the script.
const SCHEMA_V10: &str = "ALTER TABLE sessions ADD COLUMN capture TEXT NOT NULL DEFAULT 'script';";

/// Version 11: status callbacks (control/callbacks.rs).
use super::callbacks::SCHEMA_V11;

/// Version 12: deposits of pay-per-Example purchases (control/deposits.rs).
use super::deposits::SCHEMA_V12;

/// The shared handle. Cloning is cheap.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> ControlResult<Db> {
        let mut conn = Connection::open(path)?;
        // WAL: readers do not wait for the writer; NORMAL is durable at each
        // checkpoint, which is what WAL is designed for.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> ControlResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> ControlResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself
            // is still consistent (SQLite rolls back an open transaction).
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| ControlError::Database(format!("a database task failed: {e}")))?
    }
}

impl From<rusqlite::Error> for ControlError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                ControlError::StorageFull(e.to_string())
            }
            rusqlite::Error::FromSqlConversionFailure(..) => ControlError::Corrupt(e.to_string()),
            _ => ControlError::Database(e.to_string()),
        }
    }
}

fn migrate(conn: &mut Connection) -> ControlResult<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(ControlError::Corrupt(format!(
            "the database has schema version {version}, newer than this build's {SCHEMA_VERSION}; use a newer tracepipe"
        )));
    }
    // Each step runs once, in its own transaction, from the version found.
    let steps = [
        SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8,
        SCHEMA_V9, SCHEMA_V10, SCHEMA_V11, SCHEMA_V12,
    ];
    for (to, step) in (1..).zip(steps) {
        if version < to {
            let tx = conn.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()?;
        }
    }
    Ok(())
}

pub(crate) fn uuid_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// A time stored as RFC 3339 text (see [`super::timestamp`]).
pub(crate) fn time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(idx)?;
    parse_stored_time(idx, &text)
}

pub(crate) fn opt_time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| parse_stored_time(idx, &t)).transpose()
}

fn parse_stored_time(idx: usize, text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn opt_uuid_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Uuid>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        Uuid::parse_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

// ---------------------------------------------------------------- users, keys

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: uuid_col(row, 0)?,
        display_name: row.get(1)?,
        is_admin: row.get(2)?,
        created_at: row.get(3)?,
    })
}

pub fn user_count(conn: &Connection) -> ControlResult<i64> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
}

pub fn insert_user(conn: &Connection, user: &User) -> ControlResult<()> {
    conn.execute(
        "INSERT INTO users (id, display_name, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            user.id.to_string(),
            user.display_name,
            user.is_admin,
            user.created_at
        ],
    )?;
    Ok(())
}

pub fn insert_api_key(
    conn: &Connection,
    user_id: Uuid,
    key: &ApiKey,
    key_hash: &str,
) -> ControlResult<()> {
    // `prefix` holds the masked form: keys made before version 5 kept their
    // first characters only, and are listed as such.
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, suite_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![key.id.to_string(), user_id.to_string(), key.name, key.masked, key_hash, key.created_at, suite_ids_text(&key.suite_ids)],
    )?;
    Ok(())
}

/// How stale `last_used_at` may get: one write a minute per key at most,
/// rather than one per request.
const LAST_USED_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

/// A key's suites as stored: a JSON array of ids, or NULL for every suite.
fn suite_ids_text(suite_ids: &Option<Vec<Uuid>>) -> Option<String> {
    suite_ids.as_ref().map(|ids| {
        serde_json::Value::from(ids.iter().map(|id| id.to_string()).collect::<Vec<_>>()).to_string()
    })
}

fn suite_ids_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Vec<Uuid>>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        serde_json::from_str::<Vec<Uuid>>(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

/// The user a live (not revoked) key hash belongs to, with the key's
/// suites; records the use.
pub fn authenticate(conn: &Connection, key_hash: &str) -> ControlResult<Option<KeyOwner>> {
    let user = conn
        .query_row(
            "SELECT u.id, u.display_name, u.is_admin, u.created_at, k.suite_ids
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
            [key_hash],
            |r| {
                Ok(KeyOwner {
                    user: user_from_row(r)?,
                    suite_ids: suite_ids_col(r, 4)?,
                })
            },
        )
        .optional()?;
    if user.is_some() {
        let now = chrono::Utc::now();
        conn.execute(
            "UPDATE api_keys SET last_used_at = ?2
             WHERE key_hash = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
            params![
                key_hash,
                super::timestamp(now),
                super::timestamp(now - LAST_USED_RESOLUTION)
            ],
        )?;
    }
    Ok(user)
}

pub fn list_api_keys(
    conn: &Connection,
    user_id: Uuid,
    page: Page,
) -> ControlResult<(Vec<ApiKey>, i64)> {
    let (limit, offset) = page.limit_offset();
    let mut stmt = conn.prepare(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at, suite_ids FROM api_keys
         WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
    )?;
    let items = stmt
        .query_map(params![user_id.to_string(), limit, offset], |r| {
            Ok(ApiKey {
                id: uuid_col(r, 0)?,
                name: r.get(1)?,
                masked: r.get(2)?,
                created_at: r.get(3)?,
                last_used_at: r.get(4)?,
                revoked_at: r.get(5)?,
                suite_ids: suite_ids_col(r, 6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let total = conn.query_row(
        "SELECT count(*) FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL",
        [user_id.to_string()],
        |r| r.get(0),
    )?;
    Ok((items, total))
}

/// Revokes one of the user's live keys; false when the user has none by that id.
pub fn revoke_api_key(conn: &Connection, user_id: Uuid, key_id: Uuid) -> ControlResult<bool> {
    let changed = conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![key_id.to_string(), user_id.to_string(), now()],
    )?;
    Ok(changed == 1)
}

// ------------------------------------------------------------------- sessions

const SESSION_COLUMNS: &str =
    "id, user_id, suite_id, description, created_at, storage_path, source_format, size_bytes, event_count, source_name, source_sha256, capture";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: uuid_col(r, 0)?,
        user_id: uuid_col(r, 1)?,
        suite_id: uuid_col(r, 2)?,
        description: r.get(3)?,
        created_at: r.get(4)?,
        storage_path: r.get(5)?,
        source_format: r.get(6)?,
        size_bytes: r.get(7)?,
        event_count: r.get(8)?,
        source_name: r.get(9)?,
        source_sha256: r.get(10)?,
        capture: r.get(11)?,
    })
}

pub fn insert_session(conn: &Connection, s: &SessionRecord) -> ControlResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            s.id.to_string(),
            s.user_id.to_string(),
            s.suite_id.to_string(),
            s.description,
            s.created_at,
            s.storage_path,
            s.source_format,
            s.size_bytes,
            s.event_count,
            s.source_name,
            s.source_sha256,
            s.capture
        ],
    )?;
    Ok(())
}

/// Which of `ids` are sessions, whoever owns them.
pub fn existing_sessions(
    conn: &Connection,
    ids: &[Uuid],
) -> ControlResult<std::collections::HashSet<Uuid>> {
    let mut stmt = conn.prepare("SELECT 1 FROM sessions WHERE id = ?1")?;
    let mut found = std::collections::HashSet::new();
    for id in ids {
        if stmt.exists(params![id.to_string()])? {
            found.insert(*id);
        }
    }
    Ok(found)
}

pub fn get_session(
    conn: &Connection,
    user_id: Uuid,
    id: Uuid,
) -> ControlResult<Option<SessionRecord>> {
    Ok(conn
        .query_row(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1 AND user_id = ?2"),
            params![id.to_string(), user_id.to_string()],
            session_from_row,
        )
        .optional()?)
}

pub fn list_sessions(
    conn: &Connection,
    user_id: Uuid,
    suite_id: Option<Uuid>,
    page: Page,
) -> ControlResult<(Vec<SessionRecord>, i64)> {
    let (limit, offset) = page.limit_offset();
    let suite = suite_id.map(|s| s.to_string());
    let mut stmt = conn.prepare(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions
         WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
         ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4"
    ))?;
    let items = stmt
        .query_map(
            params![user_id.to_string(), suite, limit, offset],
            session_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let total = conn.query_row(
        "SELECT count(*) FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)",
        params![user_id.to_string(), suite],
        |r| r.get(0),
    )?;
    Ok((items, total))
}

/// Records that the user's idempotency `key` made `session_id` (already
/// inserted in the same transaction); false, with nothing written, when the
/// key was taken first.
pub fn claim_idempotency_key(
    conn: &Connection,
    user_id: Uuid,
    key: &str,
    request_sha256: &str,
    session_id: Uuid,
) -> ControlResult<bool> {
    let inserted = conn.execute(
        "INSERT INTO idempotency_keys (user_id, key, request_sha256, session_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            user_id.to_string(),
            key,
            request_sha256,
            session_id.to_string(),
            now()
        ],
    )?;
    Ok(inserted == 1)
}

/// The Session the user's idempotency `key` made, with the hash of the
/// upload it was made for.
pub fn idempotent_session(
    conn: &Connection,
    user_id: Uuid,
    key: &str,
) -> ControlResult<Option<(String, SessionRecord)>> {
    let session = conn
        .query_row(
            "SELECT request_sha256, session_id FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
            params![user_id.to_string(), key],
            |r| Ok((r.get::<_, String>(0)?, uuid_col(r, 1)?)),
        )
        .optional()?;
    let Some((sha, id)) = session else {
        return Ok(None);
    };
    Ok(get_session(conn, user_id, id)?.map(|s| (sha, s)))
}

/// Sessions of any user that refer to `suite_id`: a suite with sessions is
/// not deleted.
pub fn sessions_of_suite(conn: &Connection, suite_id: Uuid) -> ControlResult<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sessions WHERE suite_id = ?1",
        [suite_id.to_string()],
        |r| r.get(0),
    )?)
}

// ------------------------------------------------------------------- examples

const EXAMPLE_COLUMNS: &str = "id, session_id, user_id, suite_id, model_id, action_tool_map_id, model_configuration, \
     storage_path, status, error_code, error_message, tool_calls, rejected_calls, created_at, updated_at, \
     reviewed, callback_url";

/// [`EXAMPLE_COLUMNS`] qualified by a table alias.
pub(crate) fn prefixed_example_columns(alias: &str) -> String {
    EXAMPLE_COLUMNS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn example_from_row(r: &Row<'_>) -> rusqlite::Result<ExampleRecord> {
    let config: String = r.get(6)?;
    let status: String = r.get(8)?;
    let code: Option<String> = r.get(9)?;
    let message: Option<String> = r.get(10)?;
    let conversion = |idx, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e)
    };
    Ok(ExampleRecord {
        id: uuid_col(r, 0)?,
        session_id: uuid_col(r, 1)?,
        user_id: uuid_col(r, 2)?,
        suite_id: uuid_col(r, 3)?,
        model_id: uuid_col(r, 4)?,
        action_tool_map_id: opt_uuid_col(r, 5)?,
        model_configuration: serde_json::from_str(&config)
            .map_err(|e| conversion(6, Box::new(e)))?,
        storage_path: r.get(7)?,
        status: Status::parse(&status)
            .ok_or_else(|| conversion(8, format!("status {status}").into()))?,
        error: code.map(|code| ExampleError {
            code,
            message: message.unwrap_or_default(),
        }),
        tool_calls: r.get(11)?,
        rejected_calls: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        reviewed: r.get(15)?,
        callback_url: r.get(16)?,
    })
}

pub fn insert_example(conn: &Connection, e: &ExampleRecord) -> ControlResult<()> {
    conn.execute(
        "INSERT INTO examples (id, session_id, user_id, suite_id, model_id, action_tool_map_id,
             model_configuration, status, created_at, updated_at, callback_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        params![
            e.id.to_string(),
            e.session_id.to_string(),
            e.user_id.to_string(),
            e.suite_id.to_string(),
            e.model_id.to_string(),
            e.action_tool_map_id.map(|m| m.to_string()),
            e.model_configuration.to_string(),
            e.status.as_str(),
            e.created_at,
            e.callback_url,
        ],
    )?;
    Ok(())
}

pub fn get_example(
    conn: &Connection,
    user_id: Uuid,
    id: Uuid,
) -> ControlResult<Option<ExampleRecord>> {
    Ok(conn
        .query_row(
            &format!("SELECT {EXAMPLE_COLUMNS} FROM examples WHERE id = ?1 AND user_id = ?2"),
            params![id.to_string(), user_id.to_string()],
            example_from_row,
        )
        .optional()?)
}

pub fn list_examples(
    conn: &Connection,
    user_id: Uuid,
    filter: &ExampleFilter,
    page: Page,
) -> ControlResult<(Vec<ExampleRecord>, i64)> {
    let (limit, offset) = page.limit_offset();
    let condition =
        "user_id = ?1 AND (?2 IS NULL OR session_id = ?2) AND (?3 IS NULL OR suite_id = ?3)
         AND (?4 IS NULL OR model_id = ?4) AND (?5 IS NULL OR status = ?5)
         AND (?6 IS NULL OR reviewed = ?6)";
    let args = (
        user_id.to_string(),
        filter.session_id.map(|v| v.to_string()),
        filter.suite_id.map(|v| v.to_string()),
        filter.model_id.map(|v| v.to_string()),
        filter.status.map(Status::as_str),
        filter.reviewed,
    );
    let mut stmt = conn.prepare(&format!(
        "SELECT {EXAMPLE_COLUMNS} FROM examples WHERE {condition}
         ORDER BY created_at DESC, seq DESC LIMIT ?7 OFFSET ?8"
    ))?;
    let items = stmt
        .query_map(
            params![args.0, args.1, args.2, args.3, args.4, args.5, limit, offset],
            example_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let total = conn.query_row(
        &format!("SELECT count(*) FROM examples WHERE {condition}"),
        params![args.0, args.1, args.2, args.3, args.4, args.5],
        |r| r.get(0),
    )?;
    Ok((items, total))
}

/// What a worker needs to process one Example.
#[derive(Debug, Clone)]
pub struct Job {
    pub example: ExampleRecord,
    pub session: SessionRecord,
    /// Which start of the Example this is, the first being 1.
    pub attempt: u32,
}

/// Marks the Example PROCESSING and answers its job, unless it is already
/// finished (a duplicate notification).
pub fn start_job(conn: &Connection, id: Uuid) -> ControlResult<Option<Job>> {
    let changed = conn.execute(
        "UPDATE examples SET status = 'PROCESSING', attempts = attempts + 1, updated_at = ?2
         WHERE id = ?1 AND status IN ('PENDING', 'PROCESSING')",
        params![id.to_string(), now()],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    let attempt: u32 = conn.query_row(
        "SELECT attempts FROM examples WHERE id = ?1",
        [id.to_string()],
        |r| r.get(0),
    )?;
    let example = conn.query_row(
        &format!("SELECT {EXAMPLE_COLUMNS} FROM examples WHERE id = ?1"),
        [id.to_string()],
        example_from_row,
    )?;
    let session = conn.query_row(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
        [example.session_id.to_string()],
        session_from_row,
    )?;
    Ok(Some(Job {
        example,
        session,
        attempt,
    }))
}

/// What a finished Example records.
#[derive(Debug, Clone)]
pub struct Completion {
    pub storage_path: String,
    pub action_tool_map_id: Uuid,
    pub tool_calls: i64,
    pub rejected_calls: i64,
    pub tokens: i64,
    pub messages_bytes: i64,
    /// The analyst-table rows, JSON-encoded, put in the outbox in the same
    /// transaction so that a COMPLETED Example always reaches the tables. The
    /// outbox numbers them in completion order: the tables' stream sequence.
    pub example_row: String,
    pub action_rows: String,
}

pub fn complete_example(conn: &mut Connection, id: Uuid, c: &Completion) -> ControlResult<()> {
    let tx = conn.transaction()?;
    let stamp = now();
    tx.execute(
        "UPDATE examples SET status = 'COMPLETED', storage_path = ?2, action_tool_map_id = ?3,
             tool_calls = ?4, rejected_calls = ?5, tokens = ?6, messages_bytes = ?7,
             error_code = NULL, error_message = NULL, updated_at = ?8, completed_at = ?8
         WHERE id = ?1",
        params![
            id.to_string(),
            c.storage_path,
            c.action_tool_map_id.to_string(),
            c.tool_calls,
            c.rejected_calls,
            c.tokens,
            c.messages_bytes,
            stamp
        ],
    )?;
    tx.execute(
        "INSERT INTO table_outbox (example_row, action_rows) VALUES (?1, ?2)",
        params![c.example_row, c.action_rows],
    )?;
    tx.commit()?;
    Ok(())
}

pub fn fail_example(conn: &Connection, id: Uuid, error: &ExampleError) -> ControlResult<()> {
    conn.execute(
        "UPDATE examples SET status = 'FAILED', error_code = ?2, error_message = ?3, updated_at = ?4
         WHERE id = ?1",
        params![id.to_string(), error.code, error.message, now()],
    )?;
    Ok(())
}

/// Examples left unfinished by an earlier run, oldest first.
pub fn unfinished_examples(conn: &Connection) -> ControlResult<Vec<Uuid>> {
    let mut stmt = conn.prepare(
        "SELECT id FROM examples WHERE status IN ('PENDING', 'PROCESSING') ORDER BY seq",
    )?;
    let ids = stmt
        .query_map([], |r| uuid_col(r, 0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

// -------------------------------------------------------------- table outbox

/// The first `limit` outbox rows, in stream order.
pub fn outbox_batch(conn: &Connection, limit: i64) -> ControlResult<Vec<(u64, String, String)>> {
    let mut stmt = conn
        .prepare("SELECT seq, example_row, action_rows FROM table_outbox ORDER BY seq LIMIT ?1")?;
    let rows = stmt
        .query_map([limit], |r| {
            let seq: i64 = r.get(0)?;
            Ok((u64::try_from(seq).unwrap_or(0), r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Drops outbox rows up to `upto` once their objects are written.
pub fn outbox_delete_through(conn: &Connection, upto: u64) -> ControlResult<()> {
    conn.execute(
        "DELETE FROM table_outbox WHERE seq <= ?1",
        [i64::try_from(upto).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

// --------------------------------------------------------------------- catalog

pub fn catalog_files(conn: &Connection) -> ControlResult<Vec<CatalogFile>> {
    let mut stmt = conn.prepare(
        "SELECT kind, suite, name, contents FROM catalog_files ORDER BY kind, suite, name",
    )?;
    let files = stmt
        .query_map([], |r| {
            Ok(CatalogFile {
                kind: r.get(0)?,
                suite: r.get(1)?,
                name: r.get(2)?,
                contents: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(files)
}

pub fn catalog_version(conn: &Connection) -> ControlResult<i64> {
    Ok(conn.query_row("SELECT version FROM catalog_version", [], |r| r.get(0))?)
}

/// Replaces the whole stored catalog in one transaction, if it is still at
/// `base_version`: the new version, or None.
pub fn replace_catalog(
    conn: &mut Connection,
    base_version: i64,
    files: &[CatalogFile],
) -> ControlResult<Option<i64>> {
    let tx = conn.transaction()?;
    let bumped = tx.execute(
        "UPDATE catalog_version SET version = version + 1 WHERE version = ?1",
        [base_version],
    )?;
    if bumped == 0 {
        return Ok(None);
    }
    tx.execute("DELETE FROM catalog_files", [])?;
    for f in files {
        tx.execute(
            "INSERT INTO catalog_files (kind, suite, name, contents) VALUES (?1, ?2, ?3, ?4)",
            params![f.kind, f.suite, f.name, f.contents],
        )?;
    }
    tx.commit()?;
    Ok(Some(base_version + 1))
}

// ----------------------------------------------------------------------- usage

/// The user's usage between `start` and `end` (timestamps as stored).
pub fn usage(
    conn: &Connection,
    user_id: Uuid,
    suite_id: Option<Uuid>,
    start: &str,
    end: &str,
) -> ControlResult<UsageRows> {
    let user = user_id.to_string();
    let suite = suite_id.map(|s| s.to_string());
    let sessions_uploaded = conn.query_row(
        "SELECT count(*) FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
             AND created_at >= ?3 AND created_at < ?4",
        params![user, suite, start, end],
        |r| r.get(0),
    )?;
    let examples_generated = conn.query_row(
        "SELECT count(*) FROM examples WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
             AND status = 'COMPLETED' AND completed_at >= ?3 AND completed_at < ?4",
        params![user, suite, start, end],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT model_id, sum(tokens) FROM examples WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
             AND status = 'COMPLETED' AND completed_at >= ?3 AND completed_at < ?4
         GROUP BY model_id ORDER BY model_id",
    )?;
    let tokens_by_model = stmt
        .query_map(params![user, suite, start, end], |r| {
            Ok((uuid_col(r, 0)?, r.get(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut objects = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT size_bytes, created_at FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
             AND created_at < ?3
         UNION ALL
         SELECT messages_bytes, completed_at FROM examples WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
             AND status = 'COMPLETED' AND completed_at < ?3",
    )?;
    for o in stmt.query_map(params![user, suite, end], |r| {
        Ok(StoredObject {
            bytes: r.get(0)?,
            created_at: r.get(1)?,
        })
    })? {
        objects.push(o?);
    }
    Ok(UsageRows {
        sessions_uploaded,
        examples_generated,
        tokens_by_model,
        objects,
    })
}

/// The embedded deployment's control plane: [`ControlPlane`] over [`Db`].
#[derive(Clone)]
pub struct SqliteControlPlane {
    db: Db,
}

impl SqliteControlPlane {
    pub fn new(db: Db) -> SqliteControlPlane {
        SqliteControlPlane { db }
    }
}

#[async_trait]
impl ControlPlane for SqliteControlPlane {
    async fn user_count(&self) -> ControlResult<i64> {
        self.db.call(|conn| user_count(conn)).await
    }

    async fn insert_user(&self, user: &User, key: &ApiKey, key_hash: &str) -> ControlResult<()> {
        let (user, key, key_hash) = (user.clone(), key.clone(), key_hash.to_owned());
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                insert_user(&tx, &user)?;
                insert_api_key(&tx, user.id, &key, &key_hash)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn insert_api_key(
        &self,
        user_id: Uuid,
        key: &ApiKey,
        key_hash: &str,
    ) -> ControlResult<()> {
        let (key, key_hash) = (key.clone(), key_hash.to_owned());
        self.db
            .call(move |conn| insert_api_key(conn, user_id, &key, &key_hash))
            .await
    }

    async fn authenticate(&self, key_hash: &str) -> ControlResult<Option<KeyOwner>> {
        let key_hash = key_hash.to_owned();
        self.db
            .call(move |conn| authenticate(conn, &key_hash))
            .await
    }

    async fn list_api_keys(&self, user_id: Uuid, page: Page) -> ControlResult<(Vec<ApiKey>, i64)> {
        self.db
            .call(move |conn| list_api_keys(conn, user_id, page))
            .await
    }

    async fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid) -> ControlResult<bool> {
        self.db
            .call(move |conn| revoke_api_key(conn, user_id, key_id))
            .await
    }

    async fn insert_upload(&self, upload: &NewUpload) -> ControlResult<UploadOutcome> {
        let upload = upload.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                let session = &upload.session;
                insert_session(&tx, session)?;
                if let Some((key, fingerprint)) = &upload.idempotency {
                    if !claim_idempotency_key(&tx, session.user_id, key, fingerprint, session.id)? {
                        // Rolled back as `tx` drops.
                        return Ok(UploadOutcome::KeyTaken);
                    }
                }
                if let Some(example) = &upload.example {
                    insert_example(&tx, example)?;
                }
                tx.commit()?;
                Ok(UploadOutcome::Stored)
            })
            .await
    }

    async fn idempotent_session(
        &self,
        user_id: Uuid,
        key: &str,
    ) -> ControlResult<Option<(String, SessionRecord)>> {
        let key = key.to_owned();
        self.db
            .call(move |conn| idempotent_session(conn, user_id, &key))
            .await
    }

    async fn get_session(&self, user_id: Uuid, id: Uuid) -> ControlResult<Option<SessionRecord>> {
        self.db
            .call(move |conn| get_session(conn, user_id, id))
            .await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        page: Page,
    ) -> ControlResult<(Vec<SessionRecord>, i64)> {
        self.db
            .call(move |conn| list_sessions(conn, user_id, suite_id, page))
            .await
    }

    async fn existing_sessions(&self, ids: &[Uuid]) -> ControlResult<HashSet<Uuid>> {
        let ids = ids.to_vec();
        self.db
            .call(move |conn| existing_sessions(conn, &ids))
            .await
    }

    async fn sessions_of_suite(&self, suite_id: Uuid) -> ControlResult<i64> {
        self.db
            .call(move |conn| sessions_of_suite(conn, suite_id))
            .await
    }

    async fn insert_example(&self, example: &ExampleRecord) -> ControlResult<()> {
        let example = example.clone();
        self.db
            .call(move |conn| insert_example(conn, &example))
            .await
    }

    async fn insert_deposit(
        &self,
        example: &ExampleRecord,
        deposit: &Deposit,
    ) -> ControlResult<()> {
        let (example, deposit) = (example.clone(), deposit.clone());
        self.db
            .call(move |conn| deposits::insert_deposit(conn, &example, &deposit))
            .await
    }

    async fn get_deposit(&self, user_id: Uuid, example_id: Uuid) -> ControlResult<Option<Deposit>> {
        self.db
            .call(move |conn| deposits::get_deposit(conn, user_id, example_id))
            .await
    }

    async fn settle_deposit(
        &self,
        example_id: Uuid,
        cost_cents: i64,
        refunded_cents: i64,
        settled_at: DateTime<Utc>,
    ) -> ControlResult<bool> {
        self.db
            .call(move |conn| {
                deposits::settle_deposit(conn, example_id, cost_cents, refunded_cents, settled_at)
            })
            .await
    }

    async fn get_example(&self, user_id: Uuid, id: Uuid) -> ControlResult<Option<ExampleRecord>> {
        self.db
            .call(move |conn| get_example(conn, user_id, id))
            .await
    }

    async fn list_examples(
        &self,
        user_id: Uuid,
        filter: &ExampleFilter,
        page: Page,
    ) -> ControlResult<(Vec<ExampleRecord>, i64)> {
        let filter = filter.clone();
        self.db
            .call(move |conn| list_examples(conn, user_id, &filter, page))
            .await
    }

    async fn catalog(&self) -> ControlResult<StoredCatalog> {
        self.db
            .call(|conn| {
                // One read transaction: the version belongs to the files.
                let tx = conn.transaction()?;
                let version = catalog_version(&tx)?;
                let files = catalog_files(&tx)?;
                tx.commit()?;
                Ok(StoredCatalog { version, files })
            })
            .await
    }

    async fn catalog_version(&self) -> ControlResult<i64> {
        self.db.call(|conn| catalog_version(conn)).await
    }

    async fn replace_catalog(
        &self,
        base_version: i64,
        files: &[CatalogFile],
    ) -> ControlResult<Option<i64>> {
        let files = files.to_vec();
        self.db
            .call(move |conn| replace_catalog(conn, base_version, &files))
            .await
    }

    async fn usage(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        start: &str,
        end: &str,
    ) -> ControlResult<UsageRows> {
        let (start, end) = (start.to_owned(), end.to_owned());
        self.db
            .call(move |conn| usage(conn, user_id, suite_id, &start, &end))
            .await
    }

    async fn daily_usage(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        start: &str,
        end: &str,
    ) -> ControlResult<DailyRows> {
        let (start, end) = (start.to_owned(), end.to_owned());
        self.db
            .call(move |conn| reviews::daily_usage(conn, user_id, suite_id, &start, &end))
            .await
    }

    async fn open_review(&self, review: &Review, example_created_at: &str) -> ControlResult<()> {
        let (review, created_at) = (review.clone(), example_created_at.to_owned());
        self.db
            .call(move |conn| reviews::open_review(conn, &review, &created_at))
            .await
    }

    async fn get_review(&self, user_id: Uuid, example_id: Uuid) -> ControlResult<Option<Review>> {
        self.db
            .call(move |conn| reviews::get_review(conn, user_id, example_id))
            .await
    }

    async fn update_review_item(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        item: &ReviewItem,
    ) -> ControlResult<bool> {
        let item = item.clone();
        self.db
            .call(move |conn| reviews::update_item(conn, user_id, example_id, &item))
            .await
    }

    async fn add_review_item(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        item: &ReviewItem,
    ) -> ControlResult<Option<ReviewItem>> {
        let item = item.clone();
        self.db
            .call(move |conn| reviews::add_item(conn, user_id, example_id, &item))
            .await
    }

    async fn complete_review(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        outcome: &ReviewOutcome,
    ) -> ControlResult<bool> {
        let outcome = outcome.clone();
        self.db
            .call(move |conn| reviews::complete_review(conn, user_id, example_id, &outcome))
            .await
    }

    async fn unreviewed_examples(
        &self,
        user_id: Uuid,
        suites: Option<&[Uuid]>,
        limit: u32,
    ) -> ControlResult<Vec<ExampleRecord>> {
        let suites = suites.map(<[Uuid]>::to_vec);
        self.db
            .call(move |conn| {
                reviews::unreviewed_examples(
                    conn,
                    user_id,
                    suites.as_deref(),
                    limit,
                    &prefixed_example_columns("e"),
                    example_from_row,
                )
            })
            .await
    }

    async fn review_queue(
        &self,
        user_id: Uuid,
        suites: Option<&[Uuid]>,
        offset: u64,
        limit: u32,
    ) -> ControlResult<Vec<QueueEntry>> {
        let suites = suites.map(<[Uuid]>::to_vec);
        self.db
            .call(move |conn| {
                reviews::review_queue(conn, user_id, suites.as_deref(), offset, limit)
            })
            .await
    }

    async fn set_callback_secret(
        &self,
        user_id: Uuid,
        secret: Option<&str>,
    ) -> ControlResult<bool> {
        let secret = secret.map(str::to_owned);
        self.db
            .call(move |conn| callbacks::set_callback_secret(conn, user_id, secret.as_deref()))
            .await
    }

    async fn has_callback_secret(&self, user_id: Uuid) -> ControlResult<bool> {
        self.db
            .call(move |conn| callbacks::has_callback_secret(conn, user_id))
            .await
    }

    async fn claim_callbacks(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> ControlResult<Vec<DueCallback>> {
        self.db
            .call(move |conn| callbacks::claim_callbacks(conn, now, lease_until, limit))
            .await
    }

    async fn finish_callback(
        &self,
        example_id: Uuid,
        attempt: u32,
        outcome: &CallbackOutcome,
    ) -> ControlResult<bool> {
        let outcome = outcome.clone();
        self.db
            .call(move |conn| callbacks::finish_callback(conn, example_id, attempt, &outcome))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{FinishExample, Finished};

    fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        (dir, db)
    }

    #[test]
    fn migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        drop(Db::open(&path).expect("create"));
        drop(Db::open(&path).expect("reopen"));
        let conn = Connection::open(&path).expect("raw");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let err = Db::open(&path).err().expect("newer schema refused");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    /// A database of the first schema gains the later tables and the
    /// provenance columns; its sessions keep their data and have none.
    #[test]
    fn a_version_1_database_is_migrated_with_its_sessions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let user = Uuid::new_v4();
        let session = Uuid::new_v4();
        {
            let conn = Connection::open(&path).expect("raw");
            conn.execute_batch(SCHEMA_V1).expect("version 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO users (id, display_name, is_admin, created_at) VALUES (?1, 'u', 0, ?2)",
                params![user.to_string(), now()],
            )
            .expect("user");
            conn.execute(
                "INSERT INTO sessions (id, user_id, suite_id, description, created_at, storage_path, \
                 source_format, size_bytes, event_count) VALUES (?1, ?2, ?3, NULL, ?4, 'k', 'CHROME_TRACE', 5, 2)",
                params![session.to_string(), user.to_string(), Uuid::new_v4().to_string(), now()],
            )
            .expect("session");
        }
        let db = Db::open(&path).expect("migrates");
        let conn = db.conn.lock().expect("lock");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let found = get_session(&conn, user, session)
            .expect("get")
            .expect("the session is still there");
        assert_eq!((found.size_bytes, found.event_count), (5, 2));
        assert_eq!((found.source_name, found.source_sha256), (None, None));
    }

    #[test]
    fn user_data_is_scoped_to_its_owner() {
        let (_dir, db) = open();
        let conn = db.conn.lock().expect("lock");
        let a = User {
            id: Uuid::new_v4(),
            display_name: "a".into(),
            is_admin: false,
            created_at: now(),
        };
        let b = User {
            id: Uuid::new_v4(),
            display_name: "b".into(),
            is_admin: false,
            created_at: now(),
        };
        insert_user(&conn, &a).expect("a");
        insert_user(&conn, &b).expect("b");
        let s = SessionRecord {
            id: Uuid::new_v4(),
            user_id: a.id,
            suite_id: Uuid::new_v4(),
            description: None,
            created_at: now(),
            storage_path: "sessions/x/input_events.jsonl".into(),
            source_format: "CHROME_TRACE".into(),
            size_bytes: 10,
            event_count: 1,
            source_name: Some("send_simple.trace.json.gz".into()),
            source_sha256: Some("ab".repeat(32)),
            capture: "none".into(),
        };
        insert_session(&conn, &s).expect("session");
        assert_eq!(
            get_session(&conn, a.id, s.id).expect("get").as_ref(),
            Some(&s)
        );
        assert!(get_session(&conn, b.id, s.id).expect("get").is_none());
        let page = Page {
            page: 1,
            per_page: 20,
        };
        assert_eq!(list_sessions(&conn, b.id, None, page).expect("list").1, 0);
        assert_eq!(
            list_sessions(&conn, a.id, Some(s.suite_id), page)
                .expect("list")
                .1,
            1
        );
    }

    #[test]
    fn an_idempotency_key_names_one_session_of_one_user() {
        let (_dir, db) = open();
        let mut conn = db.conn.lock().expect("lock");
        let user = |name: &str| User {
            id: Uuid::new_v4(),
            display_name: name.into(),
            is_admin: false,
            created_at: now(),
        };
        let (a, b) = (user("a"), user("b"));
        insert_user(&conn, &a).expect("a");
        insert_user(&conn, &b).expect("b");
        let session = |owner: Uuid| SessionRecord {
            id: Uuid::new_v4(),
            user_id: owner,
            suite_id: Uuid::new_v4(),
            description: None,
            created_at: now(),
            storage_path: "sessions/x/input_events.jsonl".into(),
            source_format: "CHROME_TRACE".into(),
            size_bytes: 10,
            event_count: 1,
            source_name: None,
            source_sha256: None,
            capture: "script".into(),
        };
        let first = session(a.id);
        insert_session(&conn, &first).expect("session");
        assert!(claim_idempotency_key(&conn, a.id, "k", "sha", first.id).expect("claim"));
        // A second upload with the key loses, inside its own transaction.
        let second = session(a.id);
        let tx = conn.transaction().expect("tx");
        insert_session(&tx, &second).expect("session");
        assert!(!claim_idempotency_key(&tx, a.id, "k", "sha", second.id).expect("claim"));
        drop(tx);
        assert!(get_session(&conn, a.id, second.id).expect("get").is_none());
        let (sha, found) = idempotent_session(&conn, a.id, "k")
            .expect("lookup")
            .expect("the key's session");
        assert_eq!((sha.as_str(), found.id), ("sha", first.id));
        // Another user's key of the same name is another key.
        assert!(idempotent_session(&conn, b.id, "k")
            .expect("lookup")
            .is_none());
        let theirs = session(b.id);
        insert_session(&conn, &theirs).expect("session");
        assert!(claim_idempotency_key(&conn, b.id, "k", "other", theirs.id).expect("claim"));
    }

    #[test]
    fn revoked_keys_do_not_authenticate() {
        let (_dir, db) = open();
        let conn = db.conn.lock().expect("lock");
        let u = User {
            id: Uuid::new_v4(),
            display_name: "u".into(),
            is_admin: true,
            created_at: now(),
        };
        insert_user(&conn, &u).expect("user");
        let key = ApiKey {
            id: Uuid::new_v4(),
            name: None,
            masked: "tp_live_ab…cd".into(),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
            suite_ids: None,
        };
        insert_api_key(&conn, u.id, &key, "hash").expect("key");
        assert!(authenticate(&conn, "hash").expect("lookup").is_some());
        let other = Uuid::new_v4();
        assert!(!revoke_api_key(&conn, other, key.id).expect("revoke"));
        assert!(revoke_api_key(&conn, u.id, key.id).expect("revoke"));
        assert!(authenticate(&conn, "hash").expect("lookup").is_none());
    }

    /// A fresh database for each conformance test, and the embedded worker's
    /// way of finishing an Example in it.
    async fn on_sqlite<F, Fut>(test: F)
    where
        F: FnOnce(Arc<dyn ControlPlane>, Arc<dyn FinishExample>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let (_dir, db) = open();
        test(
            Arc::new(SqliteControlPlane::new(db.clone())),
            Arc::new(Worker(db)),
        )
        .await;
    }

    crate::conformance::each_conformance_test!(on_sqlite);

    /// The embedded worker's way of finishing an Example.
    struct Worker(Db);

    #[async_trait]
    impl FinishExample for Worker {
        async fn finish(&self, example: Uuid, finished: &Finished) {
            let completion = Completion {
                storage_path: finished.storage_path.clone(),
                action_tool_map_id: Uuid::new_v4(),
                tool_calls: finished.tool_calls,
                rejected_calls: finished.rejected_calls,
                tokens: finished.tokens,
                messages_bytes: finished.messages_bytes,
                example_row: "{}".into(),
                action_rows: "[]".into(),
            };
            self.0
                .call(move |conn| complete_example(conn, example, &completion))
                .await
                .expect("complete_example");
        }
    }
}
