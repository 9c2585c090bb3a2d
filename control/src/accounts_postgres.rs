//! [`AccountStore`] over PostgreSQL, for the gateway: the same tables as the
//! SQLite store's, in the control plane's schema beside its `users` table
//! (which the control plane creates first), with their own versioned
//! migrations in `account_migrations`.
//!
//! One connection, reconnected when PostgreSQL closed it; account queries
//! are few (a sign-in, a page view) and short.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row};
use uuid::Uuid;

use super::accounts::{
    normalize_email, seen_long_ago, Account, AccountStore, NewAccount, OidcIdentity, Registration,
    WebSession,
};
use super::{timestamp, ControlError, ControlResult, User};

/// The steps, applied in order once each; never edit one, add another.
const MIGRATIONS: &[&str] = &["
CREATE TABLE accounts (
    user_id uuid PRIMARY KEY REFERENCES users(id),
    email text UNIQUE,
    password_hash text,
    oidc_issuer text,
    oidc_subject text,
    created_at timestamptz NOT NULL,
    UNIQUE (oidc_issuer, oidc_subject)
);
CREATE TABLE web_sessions (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id, created_at);
CREATE TABLE pending_sign_ins (
    key text PRIMARY KEY,
    payload text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE server_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
"];

fn pg(e: tokio_postgres::Error) -> ControlError {
    if e.is_closed() {
        ControlError::Unavailable(e.to_string())
    } else if e.code() == Some(&SqlState::DISK_FULL) {
        ControlError::StorageFull(e.to_string())
    } else {
        ControlError::Database(e.to_string())
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn time(text: &str) -> ControlResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ControlError::Database(format!("timestamp `{text}`: {e}")))
}

/// The schema name, which is put into SQL as an identifier: a-z 0-9 _ only.
fn checked_schema(schema: &str) -> ControlResult<&str> {
    if schema.is_empty()
        || !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ControlError::Database(format!(
            "database.schema `{schema}` may only hold a-z 0-9 _"
        )));
    }
    Ok(schema)
}

/// [`AccountStore`] over PostgreSQL.
pub struct PostgresAccountStore {
    config: tokio_postgres::Config,
    connection: Mutex<Option<Client>>,
}

impl PostgresAccountStore {
    /// Connects to `url` with `schema` as the search path and applies the
    /// migrations it lacks. The schema's `users` table must exist.
    pub async fn connect(url: &str, schema: &str) -> ControlResult<PostgresAccountStore> {
        let schema = checked_schema(schema)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            ControlError::Database(format!("database.url is not a PostgreSQL URL: {e}"))
        })?;
        config.options(format!("-c search_path={schema}"));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        let store = PostgresAccountStore {
            config,
            connection: Mutex::new(None),
        };
        store.migrate(schema).await?;
        Ok(store)
    }

    /// The connection, made again when there is none or PostgreSQL closed it.
    async fn client(&self) -> ControlResult<MappedMutexGuard<'_, Client>> {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = self.config.connect(NoTls).await.map_err(pg)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "the accounts' PostgreSQL connection ended");
                }
            });
            *slot = Some(client);
        }
        MutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| ControlError::Unavailable("no PostgreSQL connection".into()))
    }

    async fn migrate(&self, schema: &str) -> ControlResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("tracepipe account migrations of {schema}")],
        )
        .await
        .map_err(pg)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS account_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );",
        )
        .await
        .map_err(pg)?;
        let applied: i32 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM account_migrations",
                &[],
            )
            .await
            .map_err(pg)?
            .get(0);
        let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        if applied > known {
            return Err(ControlError::Corrupt(format!(
                "the accounts in schema `{schema}` are at migration {applied}, newer than this \
                 build's {known}; run a newer tracepipe"
            )));
        }
        for (version, step) in (1..).zip(MIGRATIONS) {
            if version > applied {
                tx.batch_execute(step).await.map_err(pg)?;
                tx.execute(
                    "INSERT INTO account_migrations (version) VALUES ($1)",
                    &[&version],
                )
                .await
                .map_err(pg)?;
            }
        }
        tx.commit().await.map_err(pg)
    }

    async fn find_account(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> ControlResult<Option<Account>> {
        let sql = format!(
            "SELECT u.id, u.display_name, u.is_admin, u.created_at, a.email, a.password_hash, \
             a.oidc_issuer, a.oidc_subject, a.created_at \
             FROM accounts a JOIN users u ON u.id = a.user_id WHERE {condition}"
        );
        let row = self
            .client()
            .await?
            .query_opt(&sql, params)
            .await
            .map_err(pg)?;
        Ok(row.as_ref().map(account_of_row))
    }
}

fn account_of_row(row: &Row) -> Account {
    let issuer: Option<String> = row.get(6);
    let subject: Option<String> = row.get(7);
    Account {
        user: User {
            id: row.get(0),
            display_name: row.get(1),
            is_admin: row.get(2),
            created_at: timestamp(row.get(3)),
        },
        email: row.get(4),
        password_hash: row.get(5),
        oidc: issuer
            .zip(subject)
            .map(|(issuer, subject)| OidcIdentity { issuer, subject }),
        created_at: timestamp(row.get(8)),
    }
}

#[async_trait]
impl AccountStore for PostgresAccountStore {
    async fn register(&self, account: &NewAccount) -> ControlResult<Registration> {
        let email = account.email.as_deref().map(normalize_email);
        let created = time(&account.user.created_at)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        if let Some(email) = &email {
            let taken: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM accounts WHERE email = $1)",
                    &[email],
                )
                .await
                .map_err(pg)?
                .get(0);
            if taken {
                return Ok(Registration::EmailTaken);
            }
        }
        if let Some(identity) = &account.oidc {
            let taken: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM accounts WHERE oidc_issuer = $1 AND oidc_subject = $2)",
                    &[&identity.issuer, &identity.subject],
                )
                .await
                .map_err(pg)?
                .get(0);
            if taken {
                return Ok(Registration::IdentityTaken);
            }
        }
        tx.execute(
            "INSERT INTO users (id, display_name, is_admin, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &account.user.id,
                &account.user.display_name,
                &account.user.is_admin,
                &created,
            ],
        )
        .await
        .map_err(pg)?;
        let inserted = tx
            .execute(
                "INSERT INTO accounts (user_id, email, password_hash, oidc_issuer, oidc_subject, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &account.user.id,
                    &email,
                    &account.password_hash,
                    &account.oidc.as_ref().map(|i| i.issuer.clone()),
                    &account.oidc.as_ref().map(|i| i.subject.clone()),
                    &created,
                ],
            )
            .await;
        match inserted {
            Ok(_) => {
                tx.commit().await.map_err(pg)?;
                Ok(Registration::Created)
            }
            // Another registration won a race the lookups above could not see.
            Err(e) if is_unique_violation(&e) && email.is_none() => Ok(Registration::IdentityTaken),
            Err(e) if is_unique_violation(&e) => Ok(Registration::EmailTaken),
            Err(e) => Err(pg(e)),
        }
    }

    async fn account_by_email(&self, email: &str) -> ControlResult<Option<Account>> {
        self.find_account("a.email = $1", &[&normalize_email(email)])
            .await
    }

    async fn account_by_oidc(&self, identity: &OidcIdentity) -> ControlResult<Option<Account>> {
        self.find_account(
            "a.oidc_issuer = $1 AND a.oidc_subject = $2",
            &[&identity.issuer, &identity.subject],
        )
        .await
    }

    async fn account(&self, user_id: Uuid) -> ControlResult<Option<Account>> {
        self.find_account("a.user_id = $1", &[&user_id]).await
    }

    async fn set_display_name(&self, user_id: Uuid, display_name: &str) -> ControlResult<bool> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE users SET display_name = $2 WHERE id = $1 \
                 AND id IN (SELECT user_id FROM accounts)",
                &[&user_id, &display_name],
            )
            .await
            .map_err(pg)?;
        Ok(changed == 1)
    }

    async fn set_password(&self, user_id: Uuid, password_hash: &str) -> ControlResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let changed = tx
            .execute(
                "UPDATE accounts SET password_hash = $2 WHERE user_id = $1",
                &[&user_id, &password_hash],
            )
            .await
            .map_err(pg)?
            == 1;
        if changed {
            tx.execute("DELETE FROM web_sessions WHERE user_id = $1", &[&user_id])
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
        }
        Ok(changed)
    }

    async fn create_session(&self, session: &WebSession) -> ControlResult<()> {
        let created = time(&session.created_at)?;
        let expires = time(&session.expires_at)?;
        let seen = time(&session.last_seen_at)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute(
            "DELETE FROM web_sessions WHERE user_id = $1 AND expires_at <= $2",
            &[&session.user_id, &created],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &session.token_hash,
                &session.user_id,
                &created,
                &expires,
                &seen,
            ],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    async fn session_user(&self, token_hash: &str, now: &str) -> ControlResult<Option<User>> {
        let at = time(now)?;
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT u.id, u.display_name, u.is_admin, u.created_at, s.last_seen_at \
                 FROM web_sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
                &[&token_hash, &at],
            )
            .await
            .map_err(pg)?
        else {
            return Ok(None);
        };
        let last_seen: DateTime<Utc> = row.get(4);
        if seen_long_ago(&timestamp(last_seen), now) {
            client
                .execute(
                    "UPDATE web_sessions SET last_seen_at = $2 WHERE token_hash = $1",
                    &[&token_hash, &at],
                )
                .await
                .map_err(pg)?;
        }
        Ok(Some(User {
            id: row.get(0),
            display_name: row.get(1),
            is_admin: row.get(2),
            created_at: timestamp(row.get(3)),
        }))
    }

    async fn end_session(&self, token_hash: &str) -> ControlResult<()> {
        self.client()
            .await?
            .execute(
                "DELETE FROM web_sessions WHERE token_hash = $1",
                &[&token_hash],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn sessions(&self, user_id: Uuid, now: &str) -> ControlResult<Vec<WebSession>> {
        let at = time(now)?;
        let rows = self
            .client()
            .await?
            .query(
                "SELECT token_hash, created_at, expires_at, last_seen_at FROM web_sessions \
                 WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, token_hash",
                &[&user_id, &at],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|row| WebSession {
                token_hash: row.get(0),
                user_id,
                created_at: timestamp(row.get(1)),
                expires_at: timestamp(row.get(2)),
                last_seen_at: timestamp(row.get(3)),
            })
            .collect())
    }

    async fn put_pending_sign_in(
        &self,
        key: &str,
        payload: &str,
        expires_at: &str,
    ) -> ControlResult<()> {
        let expires = time(expires_at)?;
        self.client()
            .await?
            .execute(
                "INSERT INTO pending_sign_ins (key, payload, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at",
                &[&key, &payload, &expires],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn take_pending_sign_in(&self, key: &str, now: &str) -> ControlResult<Option<String>> {
        let at = time(now)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // DELETE … RETURNING: of two callbacks racing, one gets it.
        let taken = tx
            .query_opt(
                "DELETE FROM pending_sign_ins WHERE key = $1 RETURNING payload, expires_at",
                &[&key],
            )
            .await
            .map_err(pg)?;
        tx.execute(
            "DELETE FROM pending_sign_ins WHERE expires_at <= $1",
            &[&at],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(taken.and_then(|row| {
            let expires: DateTime<Utc> = row.get(1);
            (expires > at).then(|| row.get(0))
        }))
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> ControlResult<Vec<u8>> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &candidate],
            )
            .await
            .map_err(pg)?;
        Ok(client
            .query_one("SELECT value FROM server_secrets WHERE name = $1", &[&name])
            .await
            .map_err(pg)?
            .get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conformance suite on PostgreSQL when TRACEPIPE_DATABASE_URL is
    /// set (scripts/services/env.sh), in a fresh schema that is dropped
    /// afterwards.
    #[tokio::test]
    async fn the_postgres_store_conforms() {
        let Some(url) = crate::postgres::tests::database_url() else {
            return;
        };
        let schema = format!("accounts_test_{}", Uuid::new_v4().simple());
        let (admin, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("PostgreSQL at TRACEPIPE_DATABASE_URL");
        tokio::spawn(connection);
        // The control plane's users table, as its migrations leave it.
        admin
            .batch_execute(&format!(
                "CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.users (
                     id uuid PRIMARY KEY,
                     display_name text NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now(),
                     is_admin boolean NOT NULL DEFAULT false
                 );"
            ))
            .await
            .expect("schema");
        let store = PostgresAccountStore::connect(&url, &schema)
            .await
            .expect("connect");
        super::super::accounts::conformance::run(&store).await;
        // Migrating again finds nothing to do.
        drop(
            PostgresAccountStore::connect(&url, &schema)
                .await
                .expect("reconnect"),
        );
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop schema");
    }

    #[test]
    fn schema_names_are_identifiers_only() {
        assert!(checked_schema("tracepipe_1").is_ok());
        assert!(checked_schema("x; DROP TABLE users").is_err());
        assert!(checked_schema("").is_err());
    }
}
