//! The distributed deployment's control plane: [`ControlPlane`] over
//! PostgreSQL, with the semantics of the SQLite implementation (the
//! conformance suite runs against both).
//!
//! Tables live in the configured schema: every pooled connection starts with
//! it as its `search_path`. The schema is migrated in numbered steps recorded
//! in `schema_migrations`, under an advisory lock so gateways starting
//! together do not race. Timestamps are `timestamptz`; what the trait answers
//! is the same RFC 3339 text as [`super::timestamp`] makes.
//!
//! Every Example written also writes its Kafka work item to the `outbox`
//! table in the same transaction, when a [`WorkEncoder`] is given: the outbox
//! relay (`distributed/src/outbox.rs`) publishes it, so an acknowledged upload is
//! processed however long Kafka is away, and a refused one announces nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use serde::Deserialize;
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::callbacks::{CallbackOutcome, DueCallback};
use super::deposits::Deposit;
use super::reviews::{DailyRows, QueueEntry, Review, ReviewItem, ReviewOutcome};
use super::{
    timestamp, ApiKey, CatalogFile, ControlError, ControlPlane, ControlResult, ExampleError,
    ExampleFilter, ExampleRecord, KeyOwner, NewUpload, Page, SessionRecord, Status, StoredCatalog,
    StoredObject, UploadOutcome, UsageRows, User,
};
use tracepipe_telemetry::config::Secret;

/// Where the PostgreSQL control plane lives (`[database]` of the gateway's
/// configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Holds the password.
    pub url: Secret,
    pub schema: String,
}

/// A Kafka message as the outbox holds it, written in the same transaction as
/// the rows it announces; the gateway's relay publishes it.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub topic: String,
    pub key: String,
    pub value: Vec<u8>,
    /// Header name → value (the trace context), a JSON object.
    pub headers: Value,
}

/// Turns an Example about to be stored into the Kafka message that hands it
/// to the processors; written to the outbox with the Example's row.
pub trait WorkEncoder: Send + Sync + 'static {
    /// `unread`: the upload is stored but not read yet (set only with the
    /// upload's first Example).
    fn encode(
        &self,
        session: &SessionRecord,
        example: &ExampleRecord,
        unread: Option<&crate::UnreadUpload>,
    ) -> Result<OutboxMessage, String>;
}

/// What a processor reported about an Example (the status topic).
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub status: Status,
    pub error: Option<ExampleError>,
    pub storage_path: Option<String>,
    pub tool_calls: Option<i64>,
    pub rejected_calls: Option<i64>,
    pub tokens: i64,
    pub messages_bytes: i64,
}

/// Connections kept per gateway. Each request holds one for a few
/// statements; more would only queue inside PostgreSQL.
const POOL_SIZE: usize = 16;
/// How long a request waits for a connection (a new one, or a free one)
/// before the database counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_WAIT: Duration = Duration::from_secs(10);

/// How stale `last_used_at` may get: one write a minute per key at most,
/// rather than one per request.
const LAST_USED_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

/// Step 1: the schema the gateway created before the control plane was
/// versioned, with `IF NOT EXISTS` throughout, so such a deployment is taken
/// over as it is and a fresh one gets the same tables.
const STEP_1: &str = "
CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    display_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS api_keys (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    prefix text NOT NULL,
    key_sha256 text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE TABLE IF NOT EXISTS sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    suite_id uuid NOT NULL,
    description text,
    storage_path text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS examples (
    id uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions(id),
    user_id uuid NOT NULL REFERENCES users(id),
    model_id uuid NOT NULL,
    status text NOT NULL,
    error_code text,
    error_message text,
    storage_path text,
    tool_calls bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS examples_session ON examples (session_id);
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_admin boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS name text;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS raw_bytes bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS outbox (
    seq bigserial PRIMARY KEY,
    topic text NOT NULL,
    key text NOT NULL,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id uuid NOT NULL REFERENCES users(id),
    key text NOT NULL,
    request_sha256 text NOT NULL,
    session_id uuid NOT NULL REFERENCES sessions(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS source_name text;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS source_sha256 text;
";

/// Step 2: what the one `/v1` API needs, as the SQLite schema has it.
/// Existing rows get what can be known of them: an Example's suite from its
/// session, `completed_at` from when a COMPLETED one last changed, `seq` in
/// creation order, and NULL counts unless COMPLETED. The gateway recorded
/// neither the source format nor the event count of a session; they read as
/// a Chrome trace of 0 events.
const STEP_2: &str = "
ALTER TABLE examples ADD COLUMN suite_id uuid;
UPDATE examples e SET suite_id = s.suite_id FROM sessions s WHERE s.id = e.session_id;
ALTER TABLE examples ALTER COLUMN suite_id SET NOT NULL;
ALTER TABLE examples ADD COLUMN action_tool_map_id uuid;
ALTER TABLE examples ADD COLUMN model_configuration jsonb NOT NULL DEFAULT '{}';
ALTER TABLE examples ALTER COLUMN tool_calls DROP NOT NULL, ALTER COLUMN tool_calls DROP DEFAULT;
UPDATE examples SET tool_calls = NULL WHERE status <> 'COMPLETED';
ALTER TABLE examples ADD COLUMN rejected_calls bigint;
ALTER TABLE examples ADD COLUMN tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE examples ADD COLUMN messages_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE examples ADD COLUMN completed_at timestamptz;
UPDATE examples SET completed_at = updated_at WHERE status = 'COMPLETED';
ALTER TABLE examples ADD COLUMN seq bigint;
UPDATE examples SET seq = ordered.n
    FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM examples) ordered
    WHERE examples.id = ordered.id;
CREATE SEQUENCE examples_seq OWNED BY examples.seq;
SELECT setval('examples_seq', COALESCE((SELECT max(seq) FROM examples), 0) + 1, false);
ALTER TABLE examples ALTER COLUMN seq SET DEFAULT nextval('examples_seq'),
    ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX examples_seq_unique ON examples (seq);
CREATE INDEX examples_user ON examples (user_id, created_at);
CREATE INDEX examples_status ON examples (status);

ALTER TABLE sessions RENAME COLUMN raw_bytes TO size_bytes;
ALTER TABLE sessions ADD COLUMN source_format text NOT NULL DEFAULT 'CHROME_TRACE';
ALTER TABLE sessions ALTER COLUMN source_format DROP DEFAULT;
ALTER TABLE sessions ADD COLUMN event_count bigint NOT NULL DEFAULT 0;
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_suite ON sessions (suite_id);

-- `prefix` holds the masked key from now on; older keys keep their first
-- characters, and are listed as such.
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

CREATE TABLE catalog_files (
    kind text NOT NULL,
    suite text NOT NULL,
    name text NOT NULL,
    contents text NOT NULL,
    PRIMARY KEY (kind, suite, name)
);
-- One row: the catalog's version, which every write increments.
CREATE TABLE catalog_version (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    version bigint NOT NULL
);
INSERT INTO catalog_version (version) VALUES (0);
";

/// Step 3: the suites an API key may be used for (NULL: every suite).
const STEP_3: &str = "ALTER TABLE api_keys ADD COLUMN suite_ids uuid[];";

/// Step 4: reviews of Examples and their items (control/reviews_postgres.rs).
use super::reviews_postgres::{self, STEP_4};

/// Step 5: how a session's actions were captured (`script` or `none`);
/// sessions stored before were all read as made with the script.
const STEP_5: &str = "ALTER TABLE sessions ADD COLUMN capture text NOT NULL DEFAULT 'script';";

/// The migration steps in order; step N is recorded as version N.
/// Step 6: status callbacks (callbacks_postgres.rs).
use super::callbacks_postgres::{self, STEP_6};
/// Step 7: deposits (deposits_postgres.rs).
use super::deposits_postgres::{self, STEP_7};

const MIGRATIONS: &[&str] = &[STEP_1, STEP_2, STEP_3, STEP_4, STEP_5, STEP_6, STEP_7];

/// The distributed deployment's control plane. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresControlPlane {
    pool: Pool,
    work: Option<Arc<dyn WorkEncoder>>,
}

impl PostgresControlPlane {
    /// Connects to `config.url`, creates the configured schema if missing and
    /// migrates it. With `work`, every Example stored also writes its work
    /// item to the outbox, in the same transaction.
    pub async fn connect(
        config: &DatabaseConfig,
        work: Option<Arc<dyn WorkEncoder>>,
    ) -> ControlResult<PostgresControlPlane> {
        let schema = checked_schema(&config.schema)?;
        let mut pg: tokio_postgres::Config = config.url.expose().parse().map_err(|e| {
            ControlError::Database(format!("database.url is not a PostgreSQL URL: {e}"))
        })?;
        // A startup option rather than a `SET` after connecting: every
        // connection the pool makes, first or a replacement, has it.
        pg.options(format!("-c search_path={schema}"));
        if pg.get_application_name().is_none() {
            pg.application_name(format!("tracepipe/{schema}"));
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        // Verified: a connection is checked with an empty query before each
        // use, so one that a PostgreSQL restart closed is replaced then,
        // rather than failing the request that drew it.
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| ControlError::Database(format!("the connection pool: {e}")))?;
        let control = PostgresControlPlane { pool, work };
        control.migrate(schema).await?;
        Ok(control)
    }

    /// Runs the steps the database has not had, all in one transaction under
    /// an advisory lock: a second gateway starting at the same time waits,
    /// then finds them applied.
    async fn migrate(&self, schema: &str) -> ControlResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("tracepipe control-plane migrations of {schema}")],
        )
        .await?;
        // The schema name was checked: identifiers cannot be bound.
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await?;
        let applied: i32 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        if applied > known {
            return Err(ControlError::Corrupt(format!(
                "the control-plane schema `{schema}` is at migration {applied}, newer than this \
                 build's {known}; run a newer tracepipe"
            )));
        }
        for (version, step) in (1..).zip(MIGRATIONS) {
            if version > applied {
                tx.batch_execute(step).await?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&version],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self) -> ControlResult<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    /// Readiness: a connection answers.
    pub async fn ping(&self) -> ControlResult<()> {
        self.client().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Moves an Example forward: PENDING → PROCESSING → COMPLETED or FAILED.
    /// A status never goes back and a finished Example stays as it finished,
    /// so replayed or reordered status events are harmless.
    pub async fn update_status(&self, id: Uuid, update: &StatusUpdate) -> ControlResult<()> {
        let now = now_millis();
        let completed_at = (update.status == Status::Completed).then_some(now);
        self.client()
            .await?
            .execute(
                "UPDATE examples SET status = $2, error_code = $3, error_message = $4,
                     storage_path = COALESCE($5, storage_path), tool_calls = $6,
                     rejected_calls = $7, tokens = $8, messages_bytes = $9, updated_at = $10,
                     completed_at = COALESCE($11, completed_at)
                 WHERE id = $1
                   AND (CASE status WHEN 'PENDING' THEN 0 WHEN 'PROCESSING' THEN 1 ELSE 2 END)
                     < (CASE $2::text WHEN 'PENDING' THEN 0 WHEN 'PROCESSING' THEN 1 ELSE 2 END)",
                &[
                    &id,
                    &update.status.as_str(),
                    &update.error.as_ref().map(|e| e.code.as_str()),
                    &update.error.as_ref().map(|e| e.message.as_str()),
                    &update.storage_path,
                    &update.tool_calls,
                    &update.rejected_calls,
                    &update.tokens,
                    &update.messages_bytes,
                    &now,
                    &completed_at,
                ],
            )
            .await?;
        Ok(())
    }

    /// What reading a session stored unread found, once a processor read it:
    /// until then its row says 0 events and capture `pending`. A replay
    /// writes the same values.
    pub async fn record_session_reading(
        &self,
        session_id: Uuid,
        event_count: i64,
        capture: &str,
    ) -> ControlResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE sessions SET event_count = $2, capture = $3 WHERE id = $1",
                &[&session_id, &event_count, &capture],
            )
            .await?;
        Ok(())
    }

    /// Writes the work item of an Example just inserted in `tx`, with its
    /// session's row as that transaction sees it (the insert already failed
    /// if there is none), when this plane announces work.
    async fn announce_inserted(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        example: &ExampleRecord,
    ) -> ControlResult<()> {
        if self.work.is_none() {
            return Ok(());
        }
        let session = get_session(tx, example.user_id, example.session_id)
            .await?
            .ok_or_else(|| {
                ControlError::Database(format!(
                    "Example {} names session {}, which is not its user's",
                    example.id, example.session_id
                ))
            })?;
        self.announce(tx, &session, example, None).await
    }

    /// Writes the work item of `example` to the outbox, inside `tx`.
    async fn announce(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        session: &SessionRecord,
        example: &ExampleRecord,
        unread: Option<&crate::UnreadUpload>,
    ) -> ControlResult<()> {
        let Some(work) = &self.work else {
            return Ok(());
        };
        let message = work.encode(session, example, unread).map_err(|e| {
            ControlError::Database(format!(
                "encoding the work item of Example {}: {e}",
                example.id
            ))
        })?;
        tx.execute(
            "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, $3, $4)",
            &[
                &message.topic,
                &message.key,
                &message.value,
                &message.headers,
            ],
        )
        .await?;
        Ok(())
    }
}

/// The configured schema, if it is a plain lowercase identifier (it is
/// written into SQL and the connection options, which cannot bind it).
fn checked_schema(schema: &str) -> ControlResult<&str> {
    let mut bytes = schema.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if first_ok && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(schema)
    } else {
        Err(ControlError::Database(format!(
            "database.schema `{schema}` must be a-z or _ followed by a-z 0-9 _"
        )))
    }
}

// ------------------------------------------------------------------- errors

impl From<tokio_postgres::Error> for ControlError {
    fn from(e: tokio_postgres::Error) -> Self {
        let described = describe(&e);
        if let Some(state) = e.code() {
            // Class 08 is a connection failure; the others are a server
            // going down or refusing connections for now.
            let unavailable = state.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(state);
            return if *state == SqlState::DISK_FULL {
                ControlError::StorageFull(described)
            } else if unavailable {
                ControlError::Unavailable(described)
            } else {
                ControlError::Database(described)
            };
        }
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            ControlError::Unavailable(described)
        } else {
            ControlError::Database(described)
        }
    }
}

impl From<PoolError> for ControlError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) | PoolError::Closed => {
                ControlError::Unavailable(format!("no database connection: {e}"))
            }
            other => ControlError::Database(format!("the connection pool: {other}")),
        }
    }
}

/// The error with its cause: `tokio_postgres::Error` alone says only
/// "db error" for what the server reported.
fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{} ({})", db.message(), db.code().code()),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    }
}

// --------------------------------------------------------------- row helpers

/// Now, at the precision the API shows, so what is stored is what is shown.
fn now_millis() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// A timestamp the trait was given (made by [`super::now`]).
pub(crate) fn parse_time(text: &str) -> ControlResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ControlError::Database(format!("`{text}` is not an RFC 3339 time: {e}")))
}

pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> ControlResult<T> {
    row.try_get(name)
        .map_err(|e| ControlError::Corrupt(format!("column {name}: {e}")))
}

pub(crate) fn time_col(row: &Row, name: &str) -> ControlResult<String> {
    col::<DateTime<Utc>>(row, name).map(timestamp)
}

pub(crate) fn opt_time_col(row: &Row, name: &str) -> ControlResult<Option<String>> {
    Ok(col::<Option<DateTime<Utc>>>(row, name)?.map(timestamp))
}

fn user_from_row(row: &Row) -> ControlResult<User> {
    Ok(User {
        id: col(row, "id")?,
        display_name: col(row, "display_name")?,
        is_admin: col(row, "is_admin")?,
        created_at: time_col(row, "created_at")?,
    })
}

fn key_from_row(row: &Row) -> ControlResult<ApiKey> {
    Ok(ApiKey {
        id: col(row, "id")?,
        name: col(row, "name")?,
        masked: col(row, "prefix")?,
        created_at: time_col(row, "created_at")?,
        last_used_at: opt_time_col(row, "last_used_at")?,
        revoked_at: opt_time_col(row, "revoked_at")?,
        suite_ids: col(row, "suite_ids")?,
    })
}

const SESSION_COLUMNS: &str = "id, user_id, suite_id, description, created_at, storage_path, \
     source_format, size_bytes, event_count, source_name, source_sha256, capture";

fn session_from_row(row: &Row) -> ControlResult<SessionRecord> {
    Ok(SessionRecord {
        id: col(row, "id")?,
        user_id: col(row, "user_id")?,
        suite_id: col(row, "suite_id")?,
        description: col(row, "description")?,
        created_at: time_col(row, "created_at")?,
        storage_path: col(row, "storage_path")?,
        source_format: col(row, "source_format")?,
        size_bytes: col(row, "size_bytes")?,
        event_count: col(row, "event_count")?,
        source_name: col(row, "source_name")?,
        source_sha256: col(row, "source_sha256")?,
        capture: col(row, "capture")?,
    })
}

const EXAMPLE_COLUMNS: &str = "id, session_id, user_id, suite_id, model_id, action_tool_map_id, \
     model_configuration, storage_path, status, error_code, error_message, tool_calls, \
     rejected_calls, created_at, updated_at, reviewed, callback_url";

/// [`EXAMPLE_COLUMNS`] qualified by the table alias `e`.
pub(crate) fn e_example_columns() -> String {
    EXAMPLE_COLUMNS
        .split(',')
        .map(|c| format!("e.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn example_from_row(row: &Row) -> ControlResult<ExampleRecord> {
    let status: String = col(row, "status")?;
    let code: Option<String> = col(row, "error_code")?;
    let message: Option<String> = col(row, "error_message")?;
    Ok(ExampleRecord {
        id: col(row, "id")?,
        session_id: col(row, "session_id")?,
        user_id: col(row, "user_id")?,
        suite_id: col(row, "suite_id")?,
        model_id: col(row, "model_id")?,
        action_tool_map_id: col(row, "action_tool_map_id")?,
        model_configuration: col(row, "model_configuration")?,
        storage_path: col(row, "storage_path")?,
        status: Status::parse(&status)
            .ok_or_else(|| ControlError::Corrupt(format!("an Example's status `{status}`")))?,
        error: code.map(|code| ExampleError {
            code,
            message: message.unwrap_or_default(),
        }),
        tool_calls: col(row, "tool_calls")?,
        rejected_calls: col(row, "rejected_calls")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
        reviewed: col(row, "reviewed")?,
        callback_url: col(row, "callback_url")?,
    })
}

// ------------------------------------------------------------------- writes

async fn insert_api_key(
    client: &impl GenericClient,
    user_id: Uuid,
    key: &ApiKey,
    key_hash: &str,
) -> ControlResult<()> {
    client
        .execute(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_sha256, created_at, suite_ids)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &key.id,
                &user_id,
                &key.name,
                &key.masked,
                &key_hash,
                &parse_time(&key.created_at)?,
                &key.suite_ids,
            ],
        )
        .await?;
    Ok(())
}

async fn insert_session(client: &impl GenericClient, s: &SessionRecord) -> ControlResult<()> {
    client
        .execute(
            &format!(
                "INSERT INTO sessions ({SESSION_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &[
                &s.id,
                &s.user_id,
                &s.suite_id,
                &s.description,
                &parse_time(&s.created_at)?,
                &s.storage_path,
                &s.source_format,
                &s.size_bytes,
                &s.event_count,
                &s.source_name,
                &s.source_sha256,
                &s.capture,
            ],
        )
        .await?;
    Ok(())
}

/// Inserts the Example as new: its status and creation time, no results.
async fn insert_example(client: &impl GenericClient, e: &ExampleRecord) -> ControlResult<()> {
    let created_at = parse_time(&e.created_at)?;
    client
        .execute(
            "INSERT INTO examples (id, session_id, user_id, suite_id, model_id,
                 action_tool_map_id, model_configuration, status, created_at, updated_at,
                 callback_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
            &[
                &e.id,
                &e.session_id,
                &e.user_id,
                &e.suite_id,
                &e.model_id,
                &e.action_tool_map_id,
                &e.model_configuration,
                &e.status.as_str(),
                &created_at,
                &e.callback_url,
            ],
        )
        .await?;
    Ok(())
}

async fn get_session(
    client: &impl GenericClient,
    user_id: Uuid,
    id: Uuid,
) -> ControlResult<Option<SessionRecord>> {
    client
        .query_opt(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 AND user_id = $2"),
            &[&id, &user_id],
        )
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
}

#[async_trait]
impl ControlPlane for PostgresControlPlane {
    async fn user_count(&self) -> ControlResult<i64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT count(*) FROM users", &[])
            .await?;
        col(&row, "count")
    }

    async fn insert_user(&self, user: &User, key: &ApiKey, key_hash: &str) -> ControlResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO users (id, display_name, is_admin, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &user.id,
                &user.display_name,
                &user.is_admin,
                &parse_time(&user.created_at)?,
            ],
        )
        .await?;
        insert_api_key(&tx, user.id, key, key_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_api_key(
        &self,
        user_id: Uuid,
        key: &ApiKey,
        key_hash: &str,
    ) -> ControlResult<()> {
        insert_api_key(&self.client().await?, user_id, key, key_hash).await
    }

    async fn authenticate(&self, key_hash: &str) -> ControlResult<Option<KeyOwner>> {
        let now = now_millis();
        // One round trip on every request: the lookup, and the use recorded
        // when the last one is older than the resolution.
        let row = self
            .client()
            .await?
            .query_opt(
                "WITH live AS (
                    SELECT id, user_id, suite_ids FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL
                 ), used AS (
                    UPDATE api_keys SET last_used_at = $2
                    WHERE id IN (SELECT id FROM live)
                      AND (last_used_at IS NULL OR last_used_at < $3)
                 )
                 SELECT u.id, u.display_name, u.is_admin, u.created_at, live.suite_ids
                 FROM live JOIN users u ON u.id = live.user_id",
                &[&key_hash, &now, &(now - LAST_USED_RESOLUTION)],
            )
            .await?;
        row.as_ref()
            .map(|row| {
                Ok(KeyOwner {
                    user: user_from_row(row)?,
                    suite_ids: col(row, "suite_ids")?,
                })
            })
            .transpose()
    }

    async fn list_api_keys(&self, user_id: Uuid, page: Page) -> ControlResult<(Vec<ApiKey>, i64)> {
        let (limit, offset) = page.limit_offset();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, prefix, created_at, last_used_at, revoked_at, suite_ids FROM api_keys
                 WHERE user_id = $1 AND revoked_at IS NULL
                 ORDER BY created_at, id LIMIT $2 OFFSET $3",
                &[&user_id, &limit, &offset],
            )
            .await?;
        let items = rows.iter().map(key_from_row).collect::<Result<_, _>>()?;
        let total = client
            .query_one(
                "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
                &[&user_id],
            )
            .await?;
        Ok((items, col(&total, "count")?))
    }

    async fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid) -> ControlResult<bool> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE api_keys SET revoked_at = $3
                 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                &[&key_id, &user_id, &now_millis()],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn insert_upload(&self, upload: &NewUpload) -> ControlResult<UploadOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let session = &upload.session;
        insert_session(&tx, session).await?;
        if let Some((key, fingerprint)) = &upload.idempotency {
            // A concurrent upload with the key waits here for the first to
            // commit, then finds the key taken.
            let claimed = tx
                .execute(
                    "INSERT INTO idempotency_keys (user_id, key, request_sha256, session_id, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[&session.user_id, key, fingerprint, &session.id, &now_millis()],
                )
                .await?;
            if claimed == 0 {
                // Rolled back as `tx` drops.
                return Ok(UploadOutcome::KeyTaken);
            }
        }
        if let Some(example) = &upload.example {
            insert_example(&tx, example).await?;
            self.announce(&tx, session, example, upload.unread.as_ref())
                .await?;
        }
        tx.commit().await?;
        Ok(UploadOutcome::Stored)
    }

    async fn idempotent_session(
        &self,
        user_id: Uuid,
        key: &str,
    ) -> ControlResult<Option<(String, SessionRecord)>> {
        let columns = SESSION_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT k.request_sha256, {columns}
                     FROM idempotency_keys k JOIN sessions s ON s.id = k.session_id
                     WHERE k.user_id = $1 AND k.key = $2 AND s.user_id = $1"
                ),
                &[&user_id, &key],
            )
            .await?;
        row.as_ref()
            .map(|r| Ok((col(r, "request_sha256")?, session_from_row(r)?)))
            .transpose()
    }

    async fn get_session(&self, user_id: Uuid, id: Uuid) -> ControlResult<Option<SessionRecord>> {
        get_session(&self.client().await?, user_id, id).await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        page: Page,
    ) -> ControlResult<(Vec<SessionRecord>, i64)> {
        let (limit, offset) = page.limit_offset();
        let client = self.client().await?;
        let condition = "user_id = $1 AND ($2::uuid IS NULL OR suite_id = $2)";
        let rows = client
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE {condition}
                     ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
                ),
                &[&user_id, &suite_id, &limit, &offset],
            )
            .await?;
        let items = rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?;
        let total = client
            .query_one(
                &format!("SELECT count(*) FROM sessions WHERE {condition}"),
                &[&user_id, &suite_id],
            )
            .await?;
        Ok((items, col(&total, "count")?))
    }

    async fn existing_sessions(&self, ids: &[Uuid]) -> ControlResult<HashSet<Uuid>> {
        let rows = self
            .client()
            .await?
            .query("SELECT id FROM sessions WHERE id = ANY($1)", &[&ids])
            .await?;
        rows.iter().map(|r| col(r, "id")).collect()
    }

    async fn sessions_of_suite(&self, suite_id: Uuid) -> ControlResult<i64> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT count(*) FROM sessions WHERE suite_id = $1",
                &[&suite_id],
            )
            .await?;
        col(&row, "count")
    }

    async fn insert_example(&self, example: &ExampleRecord) -> ControlResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_example(&tx, example).await?;
        self.announce_inserted(&tx, example).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_deposit(
        &self,
        example: &ExampleRecord,
        deposit: &Deposit,
    ) -> ControlResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_example(&tx, example).await?;
        deposits_postgres::insert_deposit_row(&tx, deposit).await?;
        self.announce_inserted(&tx, example).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_deposit(&self, user_id: Uuid, example_id: Uuid) -> ControlResult<Option<Deposit>> {
        deposits_postgres::get_deposit(&self.client().await?, user_id, example_id).await
    }

    async fn settle_deposit(
        &self,
        example_id: Uuid,
        cost_cents: i64,
        refunded_cents: i64,
        settled_at: DateTime<Utc>,
    ) -> ControlResult<bool> {
        deposits_postgres::settle_deposit(
            &self.client().await?,
            example_id,
            cost_cents,
            refunded_cents,
            settled_at,
        )
        .await
    }

    async fn get_example(&self, user_id: Uuid, id: Uuid) -> ControlResult<Option<ExampleRecord>> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {EXAMPLE_COLUMNS} FROM examples WHERE id = $1 AND user_id = $2"),
                &[&id, &user_id],
            )
            .await?
            .as_ref()
            .map(example_from_row)
            .transpose()
    }

    async fn list_examples(
        &self,
        user_id: Uuid,
        filter: &ExampleFilter,
        page: Page,
    ) -> ControlResult<(Vec<ExampleRecord>, i64)> {
        let (limit, offset) = page.limit_offset();
        let condition = "user_id = $1 AND ($2::uuid IS NULL OR session_id = $2)
             AND ($3::uuid IS NULL OR suite_id = $3) AND ($4::uuid IS NULL OR model_id = $4)
             AND ($5::text IS NULL OR status = $5)
             AND ($6::boolean IS NULL OR reviewed = $6)";
        let status = filter.status.map(Status::as_str);
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {EXAMPLE_COLUMNS} FROM examples WHERE {condition}
                     ORDER BY created_at DESC, seq DESC LIMIT $7 OFFSET $8"
                ),
                &[
                    &user_id,
                    &filter.session_id,
                    &filter.suite_id,
                    &filter.model_id,
                    &status,
                    &filter.reviewed,
                    &limit,
                    &offset,
                ],
            )
            .await?;
        let items = rows
            .iter()
            .map(example_from_row)
            .collect::<Result<_, _>>()?;
        let total = client
            .query_one(
                &format!("SELECT count(*) FROM examples WHERE {condition}"),
                &[
                    &user_id,
                    &filter.session_id,
                    &filter.suite_id,
                    &filter.model_id,
                    &status,
                    &filter.reviewed,
                ],
            )
            .await?;
        Ok((items, col(&total, "count")?))
    }

    async fn catalog(&self) -> ControlResult<StoredCatalog> {
        // One statement, so one snapshot: the version belongs to the files.
        // Byte order ("C"), as SQLite sorts, whatever the database's collation.
        let rows = self
            .client()
            .await?
            .query(
                r#"SELECT v.version, f.kind, f.suite, f.name, f.contents
                   FROM catalog_version v LEFT JOIN catalog_files f ON true
                   ORDER BY f.kind COLLATE "C", f.suite COLLATE "C", f.name COLLATE "C""#,
                &[],
            )
            .await?;
        let mut catalog = StoredCatalog::default();
        for row in &rows {
            catalog.version = col(row, "version")?;
            if let Some(kind) = col::<Option<String>>(row, "kind")? {
                catalog.files.push(CatalogFile {
                    kind,
                    suite: col(row, "suite")?,
                    name: col(row, "name")?,
                    contents: col(row, "contents")?,
                });
            }
        }
        Ok(catalog)
    }

    async fn catalog_version(&self) -> ControlResult<i64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT version FROM catalog_version", &[])
            .await?;
        col(&row, "version")
    }

    async fn replace_catalog(
        &self,
        base_version: i64,
        files: &[CatalogFile],
    ) -> ControlResult<Option<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A concurrent writer from the same base waits on the row, then finds
        // the version moved.
        let bumped = tx
            .execute(
                "UPDATE catalog_version SET version = version + 1 WHERE version = $1",
                &[&base_version],
            )
            .await?;
        if bumped == 0 {
            return Ok(None);
        }
        tx.execute("DELETE FROM catalog_files", &[]).await?;
        let column = |field: fn(&CatalogFile) -> &String| -> Vec<&str> {
            files.iter().map(|f| field(f).as_str()).collect()
        };
        tx.execute(
            "INSERT INTO catalog_files (kind, suite, name, contents)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
            &[
                &column(|f| &f.kind),
                &column(|f| &f.suite),
                &column(|f| &f.name),
                &column(|f| &f.contents),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(base_version + 1))
    }

    async fn usage(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        start: &str,
        end: &str,
    ) -> ControlResult<UsageRows> {
        let (start, end) = (parse_time(start)?, parse_time(end)?);
        let client = self.client().await?;
        let suite = "($2::uuid IS NULL OR suite_id = $2)";
        let counts = client
            .query_one(
                &format!(
                    "SELECT
                        (SELECT count(*) FROM sessions WHERE user_id = $1 AND {suite}
                            AND created_at >= $3 AND created_at < $4) AS sessions_uploaded,
                        (SELECT count(*) FROM examples WHERE user_id = $1 AND {suite}
                            AND status = 'COMPLETED' AND completed_at >= $3 AND completed_at < $4)
                            AS examples_generated"
                ),
                &[&user_id, &suite_id, &start, &end],
            )
            .await?;
        let tokens = client
            .query(
                &format!(
                    "SELECT model_id, sum(tokens)::bigint AS tokens FROM examples
                     WHERE user_id = $1 AND {suite}
                       AND status = 'COMPLETED' AND completed_at >= $3 AND completed_at < $4
                     GROUP BY model_id ORDER BY model_id"
                ),
                &[&user_id, &suite_id, &start, &end],
            )
            .await?;
        let objects = client
            .query(
                &format!(
                    "SELECT size_bytes AS bytes, created_at FROM sessions
                     WHERE user_id = $1 AND {suite} AND created_at < $3
                     UNION ALL
                     SELECT messages_bytes, completed_at FROM examples
                     WHERE user_id = $1 AND {suite} AND status = 'COMPLETED' AND completed_at < $3"
                ),
                &[&user_id, &suite_id, &end],
            )
            .await?;
        Ok(UsageRows {
            sessions_uploaded: col(&counts, "sessions_uploaded")?,
            examples_generated: col(&counts, "examples_generated")?,
            tokens_by_model: tokens
                .iter()
                .map(|r| Ok((col(r, "model_id")?, col(r, "tokens")?)))
                .collect::<ControlResult<_>>()?,
            objects: objects
                .iter()
                .map(|r| {
                    Ok(StoredObject {
                        bytes: col(r, "bytes")?,
                        created_at: time_col(r, "created_at")?,
                    })
                })
                .collect::<ControlResult<_>>()?,
        })
    }

    async fn daily_usage(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        start: &str,
        end: &str,
    ) -> ControlResult<DailyRows> {
        reviews_postgres::daily_usage(&self.client().await?, user_id, suite_id, start, end).await
    }

    async fn open_review(&self, review: &Review, example_created_at: &str) -> ControlResult<()> {
        reviews_postgres::open_review(&mut self.client().await?, review, example_created_at).await
    }

    async fn get_review(&self, user_id: Uuid, example_id: Uuid) -> ControlResult<Option<Review>> {
        reviews_postgres::get_review(&self.client().await?, user_id, example_id).await
    }

    async fn update_review_item(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        item: &ReviewItem,
    ) -> ControlResult<bool> {
        reviews_postgres::update_item(&mut self.client().await?, user_id, example_id, item).await
    }

    async fn add_review_item(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        item: &ReviewItem,
    ) -> ControlResult<Option<ReviewItem>> {
        reviews_postgres::add_item(&mut self.client().await?, user_id, example_id, item).await
    }

    async fn complete_review(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        outcome: &ReviewOutcome,
    ) -> ControlResult<bool> {
        reviews_postgres::complete_review(&mut self.client().await?, user_id, example_id, outcome)
            .await
    }

    async fn unreviewed_examples(
        &self,
        user_id: Uuid,
        suites: Option<&[Uuid]>,
        limit: u32,
    ) -> ControlResult<Vec<ExampleRecord>> {
        let columns = e_example_columns();
        let suites: Option<Vec<Uuid>> = suites.map(<[Uuid]>::to_vec);
        self.client()
            .await?
            .query(
                &format!(
                    "SELECT {columns} FROM examples e WHERE {}
                     ORDER BY e.created_at DESC, e.seq DESC LIMIT $3",
                    reviews_postgres::UNREVIEWED
                ),
                &[&user_id, &suites, &i64::from(limit)],
            )
            .await?
            .iter()
            .map(example_from_row)
            .collect()
    }

    async fn review_queue(
        &self,
        user_id: Uuid,
        suites: Option<&[Uuid]>,
        offset: u64,
        limit: u32,
    ) -> ControlResult<Vec<QueueEntry>> {
        reviews_postgres::review_queue(&self.client().await?, user_id, suites, offset, limit).await
    }

    async fn set_callback_secret(
        &self,
        user_id: Uuid,
        secret: Option<&str>,
    ) -> ControlResult<bool> {
        callbacks_postgres::set_callback_secret(&self.client().await?, user_id, secret).await
    }

    async fn has_callback_secret(&self, user_id: Uuid) -> ControlResult<bool> {
        callbacks_postgres::has_callback_secret(&self.client().await?, user_id).await
    }

    async fn claim_callbacks(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> ControlResult<Vec<DueCallback>> {
        callbacks_postgres::claim_callbacks(&self.client().await?, now, lease_until, limit).await
    }

    async fn finish_callback(
        &self,
        example_id: Uuid,
        attempt: u32,
        outcome: &CallbackOutcome,
    ) -> ControlResult<bool> {
        callbacks_postgres::finish_callback(&self.client().await?, example_id, attempt, outcome)
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::future::Future;
    use std::panic::AssertUnwindSafe;

    use futures::FutureExt;
    use serde_json::json;

    use super::*;
    use crate::conformance::{self, FinishExample, Finished};

    /// The test database, from `scripts/services/env.sh`. Without it the
    /// tests are skipped with the reason printed, except under CI, where the
    /// services are started first and a missing database is a failure.
    pub(crate) fn database_url() -> Option<String> {
        if let Ok(url) = std::env::var("TRACEPIPE_DATABASE_URL") {
            return Some(url);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TRACEPIPE_DATABASE_URL is not: start the services first"
        );
        eprintln!(
            "skipped: TRACEPIPE_DATABASE_URL is not set (scripts/services/postgres.sh start; \
             eval \"$(scripts/services/env.sh)\")"
        );
        None
    }

    fn config(url: &str, schema: &str) -> DatabaseConfig {
        serde_json::from_value(json!({ "url": url, "schema": schema })).expect("a database config")
    }

    /// A plain connection, outside the control plane, with `schema` as its
    /// search path when given.
    async fn admin(url: &str, schema: Option<&str>) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        if let Some(schema) = schema {
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
                ))
                .await
                .expect("search path");
        }
        client
    }

    /// Runs `test` on a new schema of the test database, dropped afterwards
    /// whether the test passed or not.
    async fn in_fresh_schema<F, Fut>(test: F)
    where
        F: FnOnce(String, DatabaseConfig) -> Fut,
        Fut: Future<Output = ()>,
    {
        let Some(url) = database_url() else {
            return;
        };
        let schema = format!("test_{}", Uuid::new_v4().simple());
        let outcome = AssertUnwindSafe(test(url.clone(), config(&url, &schema)))
            .catch_unwind()
            .await;
        admin(&url, None)
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .expect("drop the test schema");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// A fresh schema for each conformance test, and the gateway's status
    /// consumer's way of finishing an Example in it.
    async fn on_postgres<F, Fut>(test: F)
    where
        F: FnOnce(Arc<dyn ControlPlane>, Arc<dyn FinishExample>) -> Fut,
        Fut: Future<Output = ()>,
    {
        in_fresh_schema(|_, config| async move {
            let control = PostgresControlPlane::connect(&config, None)
                .await
                .expect("connect");
            test(Arc::new(control.clone()), Arc::new(StatusConsumer(control))).await;
        })
        .await;
    }

    conformance::each_conformance_test!(on_postgres);

    /// The gateway's status consumer's way of finishing an Example.
    struct StatusConsumer(PostgresControlPlane);

    #[async_trait]
    impl FinishExample for StatusConsumer {
        async fn finish(&self, example: Uuid, finished: &Finished) {
            let update = StatusUpdate {
                status: Status::Completed,
                error: None,
                storage_path: Some(finished.storage_path.clone()),
                tool_calls: Some(finished.tool_calls),
                rejected_calls: Some(finished.rejected_calls),
                tokens: finished.tokens,
                messages_bytes: finished.messages_bytes,
            };
            self.0
                .update_status(example, &update)
                .await
                .expect("update_status");
        }
    }

    // ------------------------------------------------------------- fixtures

    async fn user(control: &PostgresControlPlane) -> User {
        let user = User {
            id: Uuid::new_v4(),
            display_name: "u".into(),
            is_admin: false,
            created_at: crate::now(),
        };
        let key = ApiKey {
            id: Uuid::new_v4(),
            name: None,
            masked: "tp_live_Ab12…xY9z".into(),
            created_at: crate::now(),
            last_used_at: None,
            revoked_at: None,
            suite_ids: None,
        };
        control
            .insert_user(&user, &key, &Uuid::new_v4().to_string())
            .await
            .expect("insert_user");
        user
    }

    fn upload(
        user: Uuid,
        idempotency: Option<&str>,
        configuration: serde_json::Value,
    ) -> NewUpload {
        let now = crate::now();
        let session = SessionRecord {
            id: Uuid::new_v4(),
            user_id: user,
            suite_id: Uuid::new_v4(),
            description: None,
            created_at: now.clone(),
            storage_path: "sessions/s/input_events.jsonl".into(),
            source_format: "CHROME_TRACE".into(),
            size_bytes: 10,
            event_count: 1,
            source_name: None,
            source_sha256: None,
            capture: "script".into(),
        };
        let example = ExampleRecord {
            id: Uuid::new_v4(),
            session_id: session.id,
            user_id: user,
            suite_id: session.suite_id,
            model_id: Uuid::new_v4(),
            action_tool_map_id: None,
            model_configuration: configuration,
            storage_path: None,
            status: Status::Pending,
            error: None,
            tool_calls: None,
            rejected_calls: None,
            reviewed: false,
            callback_url: None,
            created_at: now.clone(),
            updated_at: now,
        };
        NewUpload {
            session,
            idempotency: idempotency.map(|k| (k.to_owned(), "sha".to_owned())),
            example: Some(example),
            unread: None,
        }
    }

    // ----------------------------------------------------------- migrations

    #[tokio::test]
    async fn gateways_starting_together_migrate_once_and_newer_schemas_are_refused() {
        in_fresh_schema(|url, config| async move {
            let (first, second, third) = tokio::join!(
                PostgresControlPlane::connect(&config, None),
                PostgresControlPlane::connect(&config, None),
                PostgresControlPlane::connect(&config, None),
            );
            for started in [first, second, third] {
                started.expect("every gateway starts");
            }
            let db = admin(&url, Some(&config.schema)).await;
            let versions: Vec<i32> = db
                .query(
                    "SELECT version FROM schema_migrations ORDER BY version",
                    &[],
                )
                .await
                .expect("versions")
                .iter()
                .map(|r| r.get(0))
                .collect();
            let every: Vec<i32> = (1..).take(MIGRATIONS.len()).collect();
            assert_eq!(versions, every);
            PostgresControlPlane::connect(&config, None)
                .await
                .expect("a restart migrates nothing");

            db.execute("INSERT INTO schema_migrations (version) VALUES (99)", &[])
                .await
                .expect("a future version");
            let refused = PostgresControlPlane::connect(&config, None).await;
            match refused {
                Err(ControlError::Corrupt(message)) => {
                    assert!(message.contains("newer"), "{message}")
                }
                Err(other) => panic!("refused for another reason: {other}"),
                Ok(_) => panic!("a newer schema was accepted"),
            }
        })
        .await;
    }

    /// A schema the gateway made before versioning, with its rows, becomes
    /// the current schema; the rows read as they mean.
    #[tokio::test]
    async fn a_gateway_schema_from_before_versioning_is_upgraded_in_place() {
        in_fresh_schema(|url, config| async move {
            let db = admin(&url, Some(&config.schema)).await;
            db.batch_execute(STEP_1).await.expect("the old schema");
            let (user, key, session, suite, model) = (
                Uuid::new_v4(),
                Uuid::new_v4(),
                Uuid::new_v4(),
                Uuid::new_v4(),
                Uuid::new_v4(),
            );
            let (pending, completed) = (Uuid::new_v4(), Uuid::new_v4());
            db.batch_execute(&format!(
                "INSERT INTO users (id, display_name, is_admin, created_at)
                     VALUES ('{user}', 'admin', true, '2026-01-01T00:00:00Z');
                 INSERT INTO api_keys (id, user_id, prefix, key_sha256, created_at)
                     VALUES ('{key}', '{user}', 'tp_live_0123', 'old-hash', '2026-01-01T00:00:00Z');
                 INSERT INTO sessions (id, user_id, suite_id, storage_path, created_at, raw_bytes)
                     VALUES ('{session}', '{user}', '{suite}', 'sessions/s/input_events.jsonl',
                             '2026-01-01T00:00:00Z', 777);
                 INSERT INTO examples (id, session_id, user_id, model_id, status, created_at)
                     VALUES ('{pending}', '{session}', '{user}', '{model}', 'PENDING',
                             '2026-01-01T00:00:01Z');
                 INSERT INTO examples (id, session_id, user_id, model_id, status, storage_path,
                                       tool_calls, created_at, updated_at)
                     VALUES ('{completed}', '{session}', '{user}', '{model}', 'COMPLETED',
                             'examples/e/messages.jsonl', 5, '2026-01-01T00:00:02Z',
                             '2026-01-01T00:10:00Z');"
            ))
            .await
            .expect("the old rows");

            let control = PostgresControlPlane::connect(&config, None)
                .await
                .expect("upgrade");
            let admin_user = control
                .authenticate("old-hash")
                .await
                .expect("authenticate")
                .expect("the old key still works")
                .user;
            assert!(admin_user.is_admin);
            assert_eq!(admin_user.created_at, "2026-01-01T00:00:00.000Z");
            let keys = control
                .list_api_keys(
                    user,
                    Page {
                        page: 1,
                        per_page: 10,
                    },
                )
                .await
                .expect("keys")
                .0;
            assert_eq!(keys[0].masked, "tp_live_0123");
            let found = control
                .get_session(user, session)
                .await
                .expect("get_session")
                .expect("the session");
            assert_eq!(
                (
                    found.size_bytes,
                    found.event_count,
                    found.source_format.as_str()
                ),
                (777, 0, "CHROME_TRACE")
            );

            // An Example made now, at the same time as the newest old one,
            // is listed before it: `seq` continues after the old rows.
            let mut newer = upload(user, None, json!({})).example.expect("an example");
            newer.session_id = session;
            newer.suite_id = suite;
            newer.created_at = "2026-01-01T00:00:02.000Z".into();
            newer.updated_at = newer.created_at.clone();
            control
                .insert_example(&newer)
                .await
                .expect("insert_example");
            let (examples, total) = control
                .list_examples(
                    user,
                    &ExampleFilter::default(),
                    Page {
                        page: 1,
                        per_page: 10,
                    },
                )
                .await
                .expect("list_examples");
            assert_eq!(total, 3);
            let order: Vec<Uuid> = examples.iter().map(|e| e.id).collect();
            assert_eq!(order, vec![newer.id, completed, pending]);
            let old_completed = &examples[1];
            assert_eq!(
                old_completed.suite_id, suite,
                "the suite comes from the session"
            );
            assert_eq!(old_completed.tool_calls, Some(5));
            assert_eq!(examples[2].tool_calls, None, "no count until COMPLETED");
            let january = control
                .usage(
                    user,
                    None,
                    "2026-01-01T00:00:00.000Z",
                    "2026-02-01T00:00:00.000Z",
                )
                .await
                .expect("usage");
            assert_eq!(
                (january.sessions_uploaded, january.examples_generated),
                (1, 1)
            );
        })
        .await;
    }

    // --------------------------------------------------------------- outbox

    /// Announces an Example with its session as the key, or refuses when
    /// its configuration asks to.
    struct Announce;

    impl WorkEncoder for Announce {
        fn encode(
            &self,
            session: &SessionRecord,
            example: &ExampleRecord,
            _unread: Option<&crate::UnreadUpload>,
        ) -> Result<OutboxMessage, String> {
            if example.model_configuration.get("refuse").is_some() {
                return Err("this work item cannot be encoded".into());
            }
            Ok(OutboxMessage {
                topic: "sessions".into(),
                key: session.id.to_string(),
                value: example.id.as_bytes().to_vec(),
                headers: json!({ "suite": session.suite_id.to_string() }),
            })
        }
    }

    async fn outbox(
        control: &PostgresControlPlane,
    ) -> Vec<(String, String, Vec<u8>, serde_json::Value)> {
        control
            .client()
            .await
            .expect("client")
            .query(
                "SELECT topic, key, value, headers FROM outbox ORDER BY seq",
                &[],
            )
            .await
            .expect("outbox")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    #[tokio::test]
    async fn every_example_stored_writes_its_work_item_in_the_same_transaction() {
        in_fresh_schema(|_, config| async move {
            let control = PostgresControlPlane::connect(&config, Some(Arc::new(Announce)))
                .await
                .expect("connect");
            let owner = user(&control).await;
            let first = upload(owner.id, Some("k"), json!({}));
            assert_eq!(
                control.insert_upload(&first).await.expect("insert_upload"),
                UploadOutcome::Stored
            );
            let example = first.example.as_ref().expect("an example");
            let announced = (
                "sessions".to_owned(),
                first.session.id.to_string(),
                example.id.as_bytes().to_vec(),
                json!({ "suite": first.session.suite_id.to_string() }),
            );
            assert_eq!(outbox(&control).await, vec![announced.clone()]);

            // The idempotency key was taken: nothing, the work item included.
            let retried = upload(owner.id, Some("k"), json!({}));
            assert_eq!(
                control
                    .insert_upload(&retried)
                    .await
                    .expect("insert_upload"),
                UploadOutcome::KeyTaken
            );
            assert_eq!(outbox(&control).await.len(), 1);
            // An upload without an Example announces nothing.
            let mut bare = upload(owner.id, None, json!({}));
            bare.example = None;
            control.insert_upload(&bare).await.expect("insert_upload");
            assert_eq!(outbox(&control).await.len(), 1);

            // `POST /examples`: the work item carries the stored session.
            let mut another = example.clone();
            another.id = Uuid::new_v4();
            another.model_id = Uuid::new_v4();
            control
                .insert_example(&another)
                .await
                .expect("insert_example");
            let rows = outbox(&control).await;
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[1].1, first.session.id.to_string());
            assert_eq!(rows[1].2, another.id.as_bytes().to_vec());

            // A work item that cannot be made leaves no row at all.
            let refused = upload(owner.id, None, json!({ "refuse": true }));
            assert!(control.insert_upload(&refused).await.is_err());
            assert_eq!(
                control
                    .get_session(owner.id, refused.session.id)
                    .await
                    .expect("get_session"),
                None
            );
            let mut refused_example = example.clone();
            refused_example.id = Uuid::new_v4();
            refused_example.model_configuration = json!({ "refuse": true });
            assert!(control.insert_example(&refused_example).await.is_err());
            assert_eq!(
                control
                    .get_example(owner.id, refused_example.id)
                    .await
                    .expect("get_example"),
                None
            );
            assert_eq!(outbox(&control).await.len(), 2);
        })
        .await;
    }

    // --------------------------------------------------------------- status

    #[tokio::test]
    async fn a_status_never_moves_backwards() {
        in_fresh_schema(|_, config| async move {
            let control = PostgresControlPlane::connect(&config, None)
                .await
                .expect("connect");
            control.ping().await.expect("ping");
            let owner = user(&control).await;
            let stored = upload(owner.id, None, json!({}));
            control.insert_upload(&stored).await.expect("insert_upload");
            let id = stored.example.as_ref().expect("an example").id;
            let update = |status| StatusUpdate {
                status,
                error: None,
                storage_path: None,
                tool_calls: None,
                rejected_calls: None,
                tokens: 0,
                messages_bytes: 0,
            };
            let status = || async {
                control
                    .get_example(owner.id, id)
                    .await
                    .expect("get_example")
                    .expect("the example")
            };
            control
                .update_status(id, &update(Status::Processing))
                .await
                .expect("update_status");
            assert_eq!(status().await.status, Status::Processing);
            control
                .update_status(id, &update(Status::Pending))
                .await
                .expect("update_status");
            assert_eq!(status().await.status, Status::Processing);
            let done = StatusUpdate {
                storage_path: Some("examples/e/messages.jsonl".into()),
                tool_calls: Some(3),
                rejected_calls: Some(0),
                tokens: 50,
                messages_bytes: 70,
                ..update(Status::Completed)
            };
            control
                .update_status(id, &done)
                .await
                .expect("update_status");
            let failed = StatusUpdate {
                error: Some(ExampleError {
                    code: "late".into(),
                    message: "a replayed failure".into(),
                }),
                ..update(Status::Failed)
            };
            for late in [failed, update(Status::Processing), update(Status::Pending)] {
                control
                    .update_status(id, &late)
                    .await
                    .expect("update_status");
            }
            let finished = status().await;
            assert_eq!(finished.status, Status::Completed);
            assert_eq!(finished.error, None);
            assert_eq!(finished.tool_calls, Some(3));

            // A failure is final too.
            let other = upload(owner.id, None, json!({}));
            control.insert_upload(&other).await.expect("insert_upload");
            let other_id = other.example.as_ref().expect("an example").id;
            let error = ExampleError {
                code: "unmapped".into(),
                message: "no action maps to a tool".into(),
            };
            let failed = StatusUpdate {
                error: Some(error.clone()),
                ..update(Status::Failed)
            };
            control
                .update_status(other_id, &failed)
                .await
                .expect("update_status");
            control
                .update_status(other_id, &done)
                .await
                .expect("update_status");
            let example = control
                .get_example(owner.id, other_id)
                .await
                .expect("get_example")
                .expect("the example");
            assert_eq!(
                (example.status, example.error),
                (Status::Failed, Some(error))
            );
        })
        .await;
    }

    // ----------------------------------------------------------- connections

    /// Connections the server closed (as in a restart) are replaced at the
    /// next use, without a failed request.
    #[tokio::test]
    async fn closed_connections_are_replaced() {
        in_fresh_schema(|url, config| async move {
            let control = PostgresControlPlane::connect(&config, None)
                .await
                .expect("connect");
            control.ping().await.expect("ping");
            let db = admin(&url, None).await;
            let name = format!("tracepipe/{}", config.schema);
            let ended: Vec<i32> = db
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                    &[&name],
                )
                .await
                .expect("the pool's connections")
                .iter()
                .map(|r| r.get(0))
                .collect();
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
                &[&ended],
            )
            .await
            .expect("terminate");
            assert!(!ended.is_empty(), "the pool had a connection");
            // Until the server has let them go.
            for _ in 0..1000 {
                let left: i64 = db
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                        &[&ended],
                    )
                    .await
                    .expect("activity")
                    .get(0);
                if left == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            control.ping().await.expect("a new connection");
            assert_eq!(control.user_count().await.expect("user_count"), 0);
        })
        .await;
    }

    #[tokio::test]
    async fn a_database_that_does_not_answer_is_unavailable() {
        // Port 1: nothing listens there, so the connection is refused.
        let config = config(
            "postgres://tracepipe:tracepipe@127.0.0.1:1/tracepipe",
            "control",
        );
        match PostgresControlPlane::connect(&config, None).await {
            Err(ControlError::Unavailable(_)) => {}
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("connected to nothing"),
        }
    }

    #[tokio::test]
    async fn schema_names_are_plain_identifiers() {
        for bad in ["", "Upper", "9lives", "a-b", "x; DROP TABLE users"] {
            let config = config("postgres://127.0.0.1:1/x", bad);
            assert!(
                matches!(
                    PostgresControlPlane::connect(&config, None).await,
                    Err(ControlError::Database(_))
                ),
                "{bad:?}"
            );
        }
        assert!(checked_schema("tracepipe_2").is_ok());
    }
}
