//! The gateway's control plane in PostgreSQL: users, API keys, sessions and
//! Examples with their status. Tables live in the configured schema.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, NoTls, Row};
use uuid::Uuid;

use super::config::DatabaseConfig;
use super::outbox::OutboxMessage;
use super::DistributedError;

const MIGRATION: &str = "
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
-- Added after the first release; IF NOT EXISTS upgrades older schemas in place.
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_admin boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS name text;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS raw_bytes bigint NOT NULL DEFAULT 0;
-- Kafka messages written with the rows they announce, published by the
-- gateways' relays (outbox.rs) and deleted once Kafka has them.
CREATE TABLE IF NOT EXISTS outbox (
    seq bigserial PRIMARY KEY,
    topic text NOT NULL,
    key text NOT NULL,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
-- `Idempotency-Key` of `POST /sessions`: the Session a key made, and a hash
-- of the upload it was made for.
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

/// A connection to the control plane; cheap to share.
#[derive(Clone)]
pub struct Control {
    client: Arc<Client>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub suite_id: Uuid,
    pub description: Option<String>,
    pub storage_path: String,
    pub created_at: DateTime<Utc>,
    /// The uploaded file's name, as the client sent it.
    pub source_name: Option<String>,
    /// SHA-256 of the uploaded bytes, lowercase hex.
    pub source_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExampleRecord {
    pub id: Uuid,
    pub session_id: Uuid,
    pub model_id: Uuid,
    pub status: String,
    pub error: Option<ExampleErrorView>,
    pub storage_path: Option<String>,
    pub tool_calls: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExampleErrorView {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub display_name: String,
    /// Not shown by `/users/me`, as in `tracepipe serve`.
    #[serde(skip_serializing)]
    pub is_admin: bool,
}

/// A user as `POST /users` answers it (the same fields as `tracepipe serve`).
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub id: Uuid,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
}

/// An API key as listed: never the secret, only its first characters.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    pub id: Uuid,
    pub name: Option<String>,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key as created: the only answer that carries the secret.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    pub id: Uuid,
    pub name: Option<String>,
    pub key: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

/// The counts and sizes `GET /usage` is computed from.
#[derive(Debug, Clone, Copy)]
pub struct UsageRows {
    pub sessions_uploaded: i64,
    pub examples_generated: i64,
    pub current_bytes: i64,
    /// Bytes × hours each upload existed within the period, up to now.
    pub byte_hours: f64,
}

fn session(row: &Row) -> SessionRecord {
    SessionRecord {
        id: row.get("id"),
        user_id: row.get("user_id"),
        suite_id: row.get("suite_id"),
        description: row.get("description"),
        storage_path: row.get("storage_path"),
        created_at: row.get("created_at"),
        source_name: row.get("source_name"),
        source_sha256: row.get("source_sha256"),
    }
}

fn example(row: &Row) -> ExampleRecord {
    let code: Option<String> = row.get("error_code");
    let message: Option<String> = row.get("error_message");
    ExampleRecord {
        id: row.get("id"),
        session_id: row.get("session_id"),
        model_id: row.get("model_id"),
        status: row.get("status"),
        error: code.map(|code| ExampleErrorView {
            code,
            message: message.unwrap_or_default(),
        }),
        storage_path: row.get("storage_path"),
        tool_calls: row.get("tool_calls"),
        created_at: row.get("created_at"),
    }
}

fn key(row: &Row) -> KeyRecord {
    KeyRecord {
        id: row.get("id"),
        name: row.get("name"),
        prefix: row.get("prefix"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    }
}

fn key_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API key: `tp_live_` and 32 random hex digits.
fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tp_live_{hex}")
}

/// A connection whose search path is the configured schema (created if
/// missing).
pub(super) async fn open(config: &DatabaseConfig) -> Result<Client, DistributedError> {
    let schema = &config.schema;
    if schema.is_empty()
        || !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DistributedError::Config(format!(
            "database.schema `{schema}` may only hold a-z 0-9 _"
        )));
    }
    let (client, connection) = tokio_postgres::connect(config.url.expose(), NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("gateway: the PostgreSQL connection ended: {e}");
        }
    });
    // The schema name was checked above; identifiers cannot be bound.
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};"
        ))
        .await?;
    Ok(client)
}

impl Control {
    /// Connects, creates the schema and tables if missing.
    pub async fn connect(config: &DatabaseConfig) -> Result<Control, DistributedError> {
        let client = open(config).await?;
        client.batch_execute(MIGRATION).await?;
        Ok(Control {
            client: Arc::new(client),
        })
    }

    /// Creates the administrator and returns its key, on the first start only.
    pub async fn ensure_admin(
        &self,
        display_name: &str,
    ) -> Result<Option<String>, DistributedError> {
        let users: i64 = self
            .client
            .query_one("SELECT count(*) FROM users", &[])
            .await?
            .get(0);
        if users > 0 {
            // A schema from before `is_admin` existed: its first user is the
            // administrator the gateway created.
            self.client
                .execute(
                    "UPDATE users SET is_admin = true
                     WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1)
                       AND NOT EXISTS (SELECT 1 FROM users WHERE is_admin)",
                    &[],
                )
                .await?;
            return Ok(None);
        }
        let (_, key) = self.create_user(display_name, true).await?;
        Ok(Some(key.key))
    }

    /// A user and its first key, in one statement so neither exists alone.
    pub async fn create_user(
        &self,
        display_name: &str,
        is_admin: bool,
    ) -> Result<(UserRecord, CreatedKey), DistributedError> {
        let secret = new_key();
        let prefix: String = secret.chars().take(12).collect();
        let key_id = Uuid::new_v4();
        let row = self
            .client
            .query_one(
                "WITH u AS (
                    INSERT INTO users (id, display_name, is_admin) VALUES ($1, $2, $3)
                    RETURNING id, display_name, is_admin, created_at
                 ), k AS (
                    INSERT INTO api_keys (id, user_id, prefix, key_sha256)
                    SELECT $4, id, $5, $6 FROM u RETURNING created_at
                 )
                 SELECT u.id, u.display_name, u.is_admin, u.created_at, k.created_at AS key_created_at
                 FROM u, k",
                &[
                    &Uuid::new_v4(),
                    &display_name,
                    &is_admin,
                    &key_id,
                    &prefix,
                    &key_hash(&secret),
                ],
            )
            .await?;
        let user = UserRecord {
            id: row.get("id"),
            display_name: row.get("display_name"),
            is_admin: row.get("is_admin"),
            created_at: row.get("created_at"),
        };
        let key = CreatedKey {
            id: key_id,
            name: None,
            key: secret,
            prefix,
            created_at: row.get("key_created_at"),
        };
        Ok((user, key))
    }

    pub async fn create_key(
        &self,
        user: Uuid,
        name: Option<&str>,
    ) -> Result<CreatedKey, DistributedError> {
        let secret = new_key();
        let prefix: String = secret.chars().take(12).collect();
        let id = Uuid::new_v4();
        let row = self
            .client
            .query_one(
                "INSERT INTO api_keys (id, user_id, name, prefix, key_sha256)
                 VALUES ($1, $2, $3, $4, $5) RETURNING created_at",
                &[&id, &user, &name, &prefix, &key_hash(&secret)],
            )
            .await?;
        Ok(CreatedKey {
            id,
            name: name.map(str::to_owned),
            key: secret,
            prefix,
            created_at: row.get("created_at"),
        })
    }

    /// A page of the user's keys, revoked ones included, oldest first.
    pub async fn keys(
        &self,
        user: Uuid,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<KeyRecord>, i64), DistributedError> {
        let total: i64 = self
            .client
            .query_one("SELECT count(*) FROM api_keys WHERE user_id = $1", &[&user])
            .await?
            .get(0);
        let rows = self
            .client
            .query(
                "SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3",
                &[&user, &per_page, &((page - 1) * per_page)],
            )
            .await?;
        Ok((rows.iter().map(key).collect(), total))
    }

    /// Revokes one of the user's keys; revoking twice keeps the first time.
    /// None when the user has no such key.
    pub async fn revoke_key(
        &self,
        user: Uuid,
        id: Uuid,
    ) -> Result<Option<KeyRecord>, DistributedError> {
        let row = self
            .client
            .query_opt(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
                 WHERE id = $1 AND user_id = $2 RETURNING *",
                &[&id, &user],
            )
            .await?;
        Ok(row.as_ref().map(key))
    }

    /// The user a key belongs to, unless it is unknown or revoked.
    pub async fn authenticate(&self, key: &str) -> Result<Option<User>, DistributedError> {
        let row = self
            .client
            .query_opt(
                "SELECT u.id, u.display_name, u.is_admin FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL",
                &[&key_hash(key)],
            )
            .await?;
        Ok(row.map(|r| User {
            id: r.get(0),
            display_name: r.get(1),
            is_admin: r.get(2),
        }))
    }

    /// Records a session, its PENDING Example, its Kafka message in the
    /// outbox and its idempotency key, all or nothing, in one statement.
    /// False, with nothing written, when `idempotency` names a key the user
    /// has already used (another request made that Session).
    pub async fn insert_session(
        &self,
        record: &SessionRecord,
        raw_bytes: i64,
        example_id: Uuid,
        model_id: Uuid,
        idempotency: Option<(&str, &str)>,
        message: &OutboxMessage,
    ) -> Result<bool, DistributedError> {
        let row = self
            .client
            .query_one(
                "WITH k AS (
                    INSERT INTO idempotency_keys (user_id, key, request_sha256, session_id)
                    SELECT $2, $10::text, $11::text, $1 WHERE $10::text IS NOT NULL
                    ON CONFLICT DO NOTHING RETURNING session_id
                 ), s AS (
                    INSERT INTO sessions (id, user_id, suite_id, description, storage_path, created_at, raw_bytes,
                                          source_name, source_sha256)
                    SELECT $1, $2, $3, $4, $5, $6, $9, $16, $17
                    WHERE $10::text IS NULL OR EXISTS (SELECT 1 FROM k)
                    RETURNING id
                 ), e AS (
                    INSERT INTO examples (id, session_id, user_id, model_id, status, created_at)
                    SELECT $7, id, $2, $8, 'PENDING', $6 FROM s
                 ), o AS (
                    INSERT INTO outbox (topic, key, value, headers)
                    SELECT $12, $13, $14, $15 FROM s
                 )
                 SELECT count(*) FROM s",
                &[
                    &record.id,
                    &record.user_id,
                    &record.suite_id,
                    &record.description,
                    &record.storage_path,
                    &record.created_at,
                    &example_id,
                    &model_id,
                    &raw_bytes,
                    &idempotency.map(|i| i.0),
                    &idempotency.map(|i| i.1),
                    &message.topic,
                    &message.key,
                    &message.value,
                    &message.headers,
                    &record.source_name,
                    &record.source_sha256,
                ],
            )
            .await?;
        let inserted: i64 = row.get(0);
        Ok(inserted == 1)
    }

    /// The Session the user's `key` made, with the hash of the upload it was
    /// made for.
    pub async fn idempotent_session(
        &self,
        user: Uuid,
        key: &str,
    ) -> Result<Option<(String, SessionRecord)>, DistributedError> {
        let row = self
            .client
            .query_opt(
                "SELECT k.request_sha256, s.* FROM idempotency_keys k
                 JOIN sessions s ON s.id = k.session_id
                 WHERE k.user_id = $1 AND k.key = $2",
                &[&user, &key],
            )
            .await?;
        Ok(row.map(|r| (r.get("request_sha256"), session(&r))))
    }

    /// A further PENDING Example of a session the user owns, with its Kafka
    /// message in the outbox.
    pub async fn insert_example(
        &self,
        user: Uuid,
        session_id: Uuid,
        example_id: Uuid,
        model_id: Uuid,
        created_at: DateTime<Utc>,
        message: &OutboxMessage,
    ) -> Result<ExampleRecord, DistributedError> {
        let row = self
            .client
            .query_one(
                "WITH e AS (
                    INSERT INTO examples (id, session_id, user_id, model_id, status, created_at)
                    VALUES ($1, $2, $3, $4, 'PENDING', $5) RETURNING *
                 ), o AS (
                    INSERT INTO outbox (topic, key, value, headers)
                    SELECT $6, $7, $8, $9 FROM e
                 )
                 SELECT * FROM e",
                &[
                    &example_id,
                    &session_id,
                    &user,
                    &model_id,
                    &created_at,
                    &message.topic,
                    &message.key,
                    &message.value,
                    &message.headers,
                ],
            )
            .await?;
        Ok(example(&row))
    }

    /// The user's use in [start, end): uploads, Examples completed, and the
    /// raw uploads' bytes (the only sizes the control plane records).
    pub async fn usage(
        &self,
        user: Uuid,
        suite_id: Option<Uuid>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<UsageRows, DistributedError> {
        let row = self
            .client
            .query_one(
                "SELECT
                    (SELECT count(*) FROM sessions WHERE user_id = $1
                        AND ($2::uuid IS NULL OR suite_id = $2)
                        AND created_at >= $3 AND created_at < $4) AS sessions_uploaded,
                    (SELECT count(*) FROM examples e JOIN sessions s ON s.id = e.session_id
                        WHERE e.user_id = $1 AND ($2::uuid IS NULL OR s.suite_id = $2)
                        AND e.status = 'COMPLETED' AND e.updated_at >= $3 AND e.updated_at < $4)
                        AS examples_generated,
                    (SELECT COALESCE(sum(raw_bytes), 0)::bigint FROM sessions WHERE user_id = $1
                        AND ($2::uuid IS NULL OR suite_id = $2) AND created_at < $4) AS current_bytes,
                    (SELECT COALESCE(sum(raw_bytes::float8 * GREATEST(0,
                        extract(epoch FROM (LEAST(now(), $4) - GREATEST(created_at, $3)))::float8) / 3600), 0)
                        FROM sessions WHERE user_id = $1
                        AND ($2::uuid IS NULL OR suite_id = $2) AND created_at < $4) AS byte_hours",
                &[&user, &suite_id, &start, &end],
            )
            .await?;
        Ok(UsageRows {
            sessions_uploaded: row.get("sessions_uploaded"),
            examples_generated: row.get("examples_generated"),
            current_bytes: row.get("current_bytes"),
            byte_hours: row.get("byte_hours"),
        })
    }

    pub async fn session(
        &self,
        user: Uuid,
        id: Uuid,
    ) -> Result<Option<SessionRecord>, DistributedError> {
        let row = self
            .client
            .query_opt(
                "SELECT * FROM sessions WHERE id = $1 AND user_id = $2",
                &[&id, &user],
            )
            .await?;
        Ok(row.as_ref().map(session))
    }

    /// Which of `ids` are sessions, whoever owns them.
    pub async fn existing_sessions(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>, DistributedError> {
        let rows = self
            .client
            .query("SELECT id FROM sessions WHERE id = ANY($1)", &[&ids])
            .await?;
        Ok(rows.iter().map(|row| row.get::<_, Uuid>(0)).collect())
    }

    pub async fn example(
        &self,
        user: Uuid,
        id: Uuid,
    ) -> Result<Option<ExampleRecord>, DistributedError> {
        let row = self
            .client
            .query_opt(
                "SELECT * FROM examples WHERE id = $1 AND user_id = $2",
                &[&id, &user],
            )
            .await?;
        Ok(row.as_ref().map(example))
    }

    /// A page of the user's Examples, optionally of one session and status.
    pub async fn examples(
        &self,
        user: Uuid,
        session_id: Option<Uuid>,
        status: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<ExampleRecord>, i64), DistributedError> {
        let filter = "user_id = $1 AND ($2::uuid IS NULL OR session_id = $2)
                      AND ($3::text IS NULL OR status = $3)";
        let total: i64 = self
            .client
            .query_one(
                &format!("SELECT count(*) FROM examples WHERE {filter}"),
                &[&user, &session_id, &status],
            )
            .await?
            .get(0);
        let rows = self
            .client
            .query(
                &format!("SELECT * FROM examples WHERE {filter} ORDER BY created_at, id LIMIT $4 OFFSET $5"),
                &[&user, &session_id, &status, &per_page, &((page - 1) * per_page)],
            )
            .await?;
        Ok((rows.iter().map(example).collect(), total))
    }

    /// Moves an Example forward: PENDING → PROCESSING → COMPLETED or FAILED.
    /// A status never goes back, so replayed or reordered events are harmless.
    pub async fn update_status(
        &self,
        id: Uuid,
        status: &str,
        error: Option<(&str, &str)>,
        storage_path: Option<&str>,
        tool_calls: i64,
    ) -> Result<(), DistributedError> {
        let rank = "CASE {} WHEN 'PENDING' THEN 0 WHEN 'PROCESSING' THEN 1 ELSE 2 END";
        let sql = format!(
            "UPDATE examples SET status = $2, error_code = $3, error_message = $4,
                 storage_path = COALESCE($5, storage_path), tool_calls = $6, updated_at = now()
             WHERE id = $1 AND {} < {}",
            rank.replace("{}", "status"),
            rank.replace("{}", "$2::text"),
        );
        self.client
            .execute(
                &sql,
                &[
                    &id,
                    &status,
                    &error.map(|e| e.0),
                    &error.map(|e| e.1),
                    &storage_path,
                    &tool_calls,
                ],
            )
            .await?;
        Ok(())
    }
}
