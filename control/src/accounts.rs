//! Web accounts: what a person signing in on the pages has beside their
//! `users` row. Email + password credentials (argon2id hashes from
//! tracepipe-accounts) or an OpenID Connect identity, web sessions (only the
//! SHA-256 of each cookie token is stored), OpenID sign-ins in progress, and
//! the server's own secrets (the CSRF key), so they survive restarts.
//!
//! [`AccountStore`] has a SQLite implementation over the `serve` database
//! ([`SqliteAccountStore`], schema step 6 of sqlite.rs) and a PostgreSQL one
//! for the gateway (`accounts_postgres.rs`); [`conformance`] runs against
//! both. Emails are stored trimmed and lower-cased, so they are unique
//! whatever case they were typed in.

use std::fmt;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::sqlite::{self, Db};
use super::{ControlError, ControlResult, User};

/// Schema step 6 of the serve database (listed in sqlite.rs's migrations).
pub(crate) const SCHEMA_V6: &str = r#"
CREATE TABLE accounts (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    email TEXT UNIQUE,
    password_hash TEXT,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (oidc_issuer, oidc_subject)
);
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id, created_at);
CREATE TABLE pending_sign_ins (
    key TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"#;

/// How stale a session's `last_seen_at` may get: one write a minute per
/// session at most, rather than one per page.
pub(crate) const LAST_SEEN_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

/// The form an email is stored and looked up in.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Who a person is at an OpenID provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
}

/// A new account: its `users` row (not an administrator) and credentials,
/// stored together.
#[derive(Clone)]
pub struct NewAccount {
    pub user: User,
    /// Normalised by the store.
    pub email: Option<String>,
    /// argon2id PHC string; None for an account that signs in through OpenID
    /// only.
    pub password_hash: Option<String>,
    pub oidc: Option<OidcIdentity>,
}

/// A stored account.
#[derive(Clone, PartialEq)]
pub struct Account {
    pub user: User,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub oidc: Option<OidcIdentity>,
    pub created_at: String,
}

impl fmt::Debug for Account {
    // The hash is no password, but it has no business in a log either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("email", &self.email)
            .field("has_password", &self.password_hash.is_some())
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// What a registration found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Created,
    /// Another account has this email; nothing was written.
    EmailTaken,
    /// Another account has this OpenID identity; nothing was written.
    IdentityTaken,
}

/// A signed-in browser. `token_hash` is the SHA-256 of the cookie's token.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSession {
    pub token_hash: String,
    pub user_id: Uuid,
    pub created_at: String,
    pub expires_at: String,
    pub last_seen_at: String,
}

/// Storage of web accounts. Timestamps are RFC 3339 UTC text with
/// milliseconds, as [`super::now`] writes them.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The `users` row and the account, in one transaction.
    async fn register(&self, account: &NewAccount) -> ControlResult<Registration>;
    async fn account_by_email(&self, email: &str) -> ControlResult<Option<Account>>;
    async fn account_by_oidc(&self, identity: &OidcIdentity) -> ControlResult<Option<Account>>;
    async fn account(&self, user_id: Uuid) -> ControlResult<Option<Account>>;
    /// False when the user has no account.
    async fn set_display_name(&self, user_id: Uuid, display_name: &str) -> ControlResult<bool>;
    /// Replaces the password hash and ends every web session of the user,
    /// together. False when the user has no account.
    async fn set_password(&self, user_id: Uuid, password_hash: &str) -> ControlResult<bool>;

    /// Stores a new session; the user's expired sessions go at the same time.
    async fn create_session(&self, session: &WebSession) -> ControlResult<()>;
    /// The user of a session that has not expired at `now`; records that it
    /// was seen.
    async fn session_user(&self, token_hash: &str, now: &str) -> ControlResult<Option<User>>;
    /// Ends one session (sign-out). Ending an unknown one is no error.
    async fn end_session(&self, token_hash: &str) -> ControlResult<()>;
    /// The user's sessions alive at `now`, newest first.
    async fn sessions(&self, user_id: Uuid, now: &str) -> ControlResult<Vec<WebSession>>;

    /// Keeps an OpenID sign-in in progress under `key` until `expires_at`.
    async fn put_pending_sign_in(
        &self,
        key: &str,
        payload: &str,
        expires_at: &str,
    ) -> ControlResult<()>;
    /// Removes and returns the sign-in kept under `key` if it has not
    /// expired at `now`; expired ones are removed too. Each is taken once.
    async fn take_pending_sign_in(&self, key: &str, now: &str) -> ControlResult<Option<String>>;

    /// The secret stored under `name`; stores `candidate` first when there is
    /// none, so every instance sharing the database agrees on one.
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> ControlResult<Vec<u8>>;
}

// ------------------------------------------------------------------ SQLite

/// [`AccountStore`] over the serve database.
#[derive(Clone)]
pub struct SqliteAccountStore {
    db: Db,
}

impl SqliteAccountStore {
    pub fn new(db: Db) -> SqliteAccountStore {
        SqliteAccountStore { db }
    }
}

const ACCOUNT_COLUMNS: &str = "u.id, u.display_name, u.is_admin, u.created_at, a.email, \
     a.password_hash, a.oidc_issuer, a.oidc_subject, a.created_at";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    let id: String = row.get(0)?;
    let id = Uuid::parse_str(&id).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let issuer: Option<String> = row.get(6)?;
    let subject: Option<String> = row.get(7)?;
    Ok(Account {
        user: User {
            id,
            display_name: row.get(1)?,
            is_admin: row.get(2)?,
            created_at: row.get(3)?,
        },
        email: row.get(4)?,
        password_hash: row.get(5)?,
        oidc: issuer
            .zip(subject)
            .map(|(issuer, subject)| OidcIdentity { issuer, subject }),
        created_at: row.get(8)?,
    })
}

fn find_account(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> ControlResult<Option<Account>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN users u ON u.id = a.user_id WHERE {condition}"
    );
    Ok(conn.query_row(&sql, params, account_from_row).optional()?)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn register(conn: &mut Connection, account: &NewAccount) -> ControlResult<Registration> {
    let email = account.email.as_deref().map(normalize_email);
    let tx = conn.transaction()?;
    // Looked up first for a precise answer; the unique constraints still
    // decide between two registrations racing.
    if let Some(email) = &email {
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE email = ?1)",
            params![email],
            |r| r.get(0),
        )?;
        if taken {
            return Ok(Registration::EmailTaken);
        }
    }
    if let Some(identity) = &account.oidc {
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE oidc_issuer = ?1 AND oidc_subject = ?2)",
            params![identity.issuer, identity.subject],
            |r| r.get(0),
        )?;
        if taken {
            return Ok(Registration::IdentityTaken);
        }
    }
    sqlite::insert_user(&tx, &account.user)?;
    let inserted = tx.execute(
        "INSERT INTO accounts (user_id, email, password_hash, oidc_issuer, oidc_subject, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            account.user.id.to_string(),
            email,
            account.password_hash,
            account.oidc.as_ref().map(|i| &i.issuer),
            account.oidc.as_ref().map(|i| &i.subject),
            account.user.created_at,
        ],
    );
    match inserted {
        Ok(_) => {
            tx.commit()?;
            Ok(Registration::Created)
        }
        Err(e) if is_unique_violation(&e) && account.oidc.is_some() && email.is_none() => {
            Ok(Registration::IdentityTaken)
        }
        Err(e) if is_unique_violation(&e) => Ok(Registration::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

fn session_user(conn: &Connection, token_hash: &str, now: &str) -> ControlResult<Option<User>> {
    let found = conn
        .query_row(
            "SELECT u.id, u.display_name, u.is_admin, u.created_at, s.last_seen_at \
             FROM web_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            params![token_hash, now],
            |row| {
                let id: String = row.get(0)?;
                Ok((
                    id,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get::<_, String>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, display_name, is_admin, created_at, last_seen)) = found else {
        return Ok(None);
    };
    let id = Uuid::parse_str(&id).map_err(|e| ControlError::Corrupt(format!("user id: {e}")))?;
    if seen_long_ago(&last_seen, now) {
        conn.execute(
            "UPDATE web_sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
            params![token_hash, now],
        )?;
    }
    Ok(Some(User {
        id,
        display_name,
        is_admin,
        created_at,
    }))
}

/// Whether `last_seen` is more than [`LAST_SEEN_RESOLUTION`] before `now`
/// (or unreadable, which a write repairs).
pub(crate) fn seen_long_ago(last_seen: &str, now: &str) -> bool {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(last_seen), parse(now)) {
        (Some(seen), Some(now)) => now.signed_duration_since(seen) > LAST_SEEN_RESOLUTION,
        _ => true,
    }
}

#[async_trait]
impl AccountStore for SqliteAccountStore {
    async fn register(&self, account: &NewAccount) -> ControlResult<Registration> {
        let account = account.clone();
        self.db.call(move |conn| register(conn, &account)).await
    }

    async fn account_by_email(&self, email: &str) -> ControlResult<Option<Account>> {
        let email = normalize_email(email);
        self.db
            .call(move |conn| find_account(conn, "a.email = ?1", params![email]))
            .await
    }

    async fn account_by_oidc(&self, identity: &OidcIdentity) -> ControlResult<Option<Account>> {
        let identity = identity.clone();
        self.db
            .call(move |conn| {
                find_account(
                    conn,
                    "a.oidc_issuer = ?1 AND a.oidc_subject = ?2",
                    params![identity.issuer, identity.subject],
                )
            })
            .await
    }

    async fn account(&self, user_id: Uuid) -> ControlResult<Option<Account>> {
        self.db
            .call(move |conn| find_account(conn, "a.user_id = ?1", params![user_id.to_string()]))
            .await
    }

    async fn set_display_name(&self, user_id: Uuid, display_name: &str) -> ControlResult<bool> {
        let display_name = display_name.to_owned();
        self.db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE users SET display_name = ?2 WHERE id = ?1 \
                     AND id IN (SELECT user_id FROM accounts)",
                    params![user_id.to_string(), display_name],
                )? == 1)
            })
            .await
    }

    async fn set_password(&self, user_id: Uuid, password_hash: &str) -> ControlResult<bool> {
        let password_hash = password_hash.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                let changed = tx.execute(
                    "UPDATE accounts SET password_hash = ?2 WHERE user_id = ?1",
                    params![user_id.to_string(), password_hash],
                )? == 1;
                if changed {
                    tx.execute(
                        "DELETE FROM web_sessions WHERE user_id = ?1",
                        params![user_id.to_string()],
                    )?;
                    tx.commit()?;
                }
                Ok(changed)
            })
            .await
    }

    async fn create_session(&self, session: &WebSession) -> ControlResult<()> {
        let s = session.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "DELETE FROM web_sessions WHERE user_id = ?1 AND expires_at <= ?2",
                    params![s.user_id.to_string(), s.created_at],
                )?;
                tx.execute(
                    "INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at, last_seen_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![s.token_hash, s.user_id.to_string(), s.created_at, s.expires_at, s.last_seen_at],
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn session_user(&self, token_hash: &str, now: &str) -> ControlResult<Option<User>> {
        let (token_hash, now) = (token_hash.to_owned(), now.to_owned());
        self.db
            .call(move |conn| session_user(conn, &token_hash, &now))
            .await
    }

    async fn end_session(&self, token_hash: &str) -> ControlResult<()> {
        let token_hash = token_hash.to_owned();
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM web_sessions WHERE token_hash = ?1",
                    params![token_hash],
                )?;
                Ok(())
            })
            .await
    }

    async fn sessions(&self, user_id: Uuid, now: &str) -> ControlResult<Vec<WebSession>> {
        let now = now.to_owned();
        self.db
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT token_hash, created_at, expires_at, last_seen_at FROM web_sessions \
                     WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC, token_hash",
                )?;
                let rows = stmt.query_map(params![user_id.to_string(), now], |row| {
                    Ok(WebSession {
                        token_hash: row.get(0)?,
                        user_id,
                        created_at: row.get(1)?,
                        expires_at: row.get(2)?,
                        last_seen_at: row.get(3)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn put_pending_sign_in(
        &self,
        key: &str,
        payload: &str,
        expires_at: &str,
    ) -> ControlResult<()> {
        let (key, payload, expires_at) =
            (key.to_owned(), payload.to_owned(), expires_at.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO pending_sign_ins (key, payload, expires_at) VALUES (?1, ?2, ?3)",
                    params![key, payload, expires_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn take_pending_sign_in(&self, key: &str, now: &str) -> ControlResult<Option<String>> {
        let (key, now) = (key.to_owned(), now.to_owned());
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                let payload: Option<String> = tx
                    .query_row(
                        "SELECT payload FROM pending_sign_ins WHERE key = ?1 AND expires_at > ?2",
                        params![key, now],
                        |r| r.get(0),
                    )
                    .optional()?;
                tx.execute(
                    "DELETE FROM pending_sign_ins WHERE key = ?1 OR expires_at <= ?2",
                    params![key, now],
                )?;
                tx.commit()?;
                Ok(payload)
            })
            .await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> ControlResult<Vec<u8>> {
        let (name, candidate) = (name.to_owned(), candidate.to_vec());
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?1, ?2)",
                    params![name, candidate],
                )?;
                Ok(conn.query_row(
                    "SELECT value FROM server_secrets WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )?)
            })
            .await
    }
}

// ------------------------------------------------------------- conformance

/// The behaviour every [`AccountStore`] shows, run against SQLite here and
/// against PostgreSQL in accounts_postgres.rs.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;
    use crate::{now, timestamp};

    fn user(name: &str) -> User {
        User {
            id: Uuid::new_v4(),
            display_name: name.into(),
            is_admin: false,
            created_at: now(),
        }
    }

    fn in_minutes(minutes: i64) -> String {
        timestamp(chrono::Utc::now() + chrono::Duration::minutes(minutes))
    }

    fn session(user_id: Uuid, expires_in_minutes: i64) -> WebSession {
        let (_, token_hash) = tracepipe_accounts::SessionToken::new();
        WebSession {
            token_hash,
            user_id,
            created_at: now(),
            expires_at: in_minutes(expires_in_minutes),
            last_seen_at: now(),
        }
    }

    pub(crate) async fn run(store: &dyn AccountStore) {
        // Registration: email unique whatever its case; the users row comes
        // with it, not an administrator.
        let ada = user("Ada");
        let created = store
            .register(&NewAccount {
                user: ada.clone(),
                email: Some(" Ada@Example.TEST ".into()),
                password_hash: Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
                oidc: None,
            })
            .await
            .expect("register");
        assert_eq!(created, Registration::Created);
        let again = store
            .register(&NewAccount {
                user: user("Impostor"),
                email: Some("ada@example.test".into()),
                password_hash: None,
                oidc: None,
            })
            .await
            .expect("register twice");
        assert_eq!(again, Registration::EmailTaken);
        let found = store
            .account_by_email("ADA@example.test")
            .await
            .expect("by email")
            .expect("found");
        assert_eq!(found.user.id, ada.id);
        assert_eq!(found.email.as_deref(), Some("ada@example.test"));
        assert!(!found.user.is_admin);
        assert!(found.password_hash.is_some());
        assert!(!format!("{found:?}").contains("argon2id"));
        assert!(store
            .account_by_email("nobody@example.test")
            .await
            .expect("lookup")
            .is_none());

        // An OpenID-only account: no password; its identity is unique.
        let grace = user("Grace");
        let identity = OidcIdentity {
            issuer: "http://127.0.0.1:9710".into(),
            subject: "grace-sub".into(),
        };
        let made = store
            .register(&NewAccount {
                user: grace.clone(),
                email: Some("grace@example.test".into()),
                password_hash: None,
                oidc: Some(identity.clone()),
            })
            .await
            .expect("register oidc");
        assert_eq!(made, Registration::Created);
        let twice = store
            .register(&NewAccount {
                user: user("Other"),
                email: None,
                password_hash: None,
                oidc: Some(identity.clone()),
            })
            .await
            .expect("identity twice");
        assert_eq!(twice, Registration::IdentityTaken);
        let by_identity = store
            .account_by_oidc(&identity)
            .await
            .expect("by identity")
            .expect("found");
        assert_eq!(by_identity.user.id, grace.id);
        assert_eq!(by_identity.password_hash, None);
        assert_eq!(
            store
                .account(grace.id)
                .await
                .expect("account")
                .map(|a| a.oidc),
            Some(Some(identity))
        );

        // Display name.
        assert!(store
            .set_display_name(ada.id, "Ada L.")
            .await
            .expect("rename"));
        assert!(!store
            .set_display_name(Uuid::new_v4(), "x")
            .await
            .expect("rename nobody"));
        let renamed = store.account(ada.id).await.expect("account").expect("ada");
        assert_eq!(renamed.user.display_name, "Ada L.");

        // Sessions: found while alive, scoped to their user, ended one by
        // one or all at a password change.
        let first = session(ada.id, 60);
        let second = session(ada.id, 60);
        let graces = session(grace.id, 60);
        let expired = session(ada.id, -1);
        for s in [&first, &second, &graces, &expired] {
            store.create_session(s).await.expect("session");
        }
        let t = now();
        let who = store
            .session_user(&first.token_hash, &t)
            .await
            .expect("lookup")
            .expect("alive");
        assert_eq!(who.id, ada.id);
        assert_eq!(who.display_name, "Ada L.");
        assert!(store
            .session_user(&expired.token_hash, &t)
            .await
            .expect("lookup")
            .is_none());
        assert!(store
            .session_user("0".repeat(64).as_str(), &t)
            .await
            .expect("lookup")
            .is_none());
        let listed = store.sessions(ada.id, &t).await.expect("list");
        let mut hashes: Vec<&str> = listed.iter().map(|s| s.token_hash.as_str()).collect();
        hashes.sort_unstable();
        let mut expected = vec![first.token_hash.as_str(), second.token_hash.as_str()];
        expected.sort_unstable();
        assert_eq!(hashes, expected, "alive sessions of Ada only");
        assert!(listed.iter().all(|s| s.user_id == ada.id));

        store.end_session(&first.token_hash).await.expect("end");
        store
            .end_session(&first.token_hash)
            .await
            .expect("end twice");
        assert!(store
            .session_user(&first.token_hash, &t)
            .await
            .expect("lookup")
            .is_none());
        assert!(store
            .set_password(ada.id, "$argon2id$v=19$m=8,t=1,p=1$bmV3c2FsdA$bmV3")
            .await
            .expect("new password"));
        assert!(store
            .session_user(&second.token_hash, &t)
            .await
            .expect("lookup")
            .is_none());
        assert!(
            store
                .session_user(&graces.token_hash, &t)
                .await
                .expect("lookup")
                .is_some(),
            "another user's session survives"
        );
        let changed = store.account(ada.id).await.expect("account").expect("ada");
        assert_eq!(
            changed.password_hash.as_deref(),
            Some("$argon2id$v=19$m=8,t=1,p=1$bmV3c2FsdA$bmV3")
        );
        assert!(!store
            .set_password(Uuid::new_v4(), "x")
            .await
            .expect("nobody"));

        // Pending sign-ins: taken once, not after they expire.
        store
            .put_pending_sign_in("k1", "{\"state\":1}", &in_minutes(10))
            .await
            .expect("put");
        store
            .put_pending_sign_in("k2", "{}", &in_minutes(-1))
            .await
            .expect("put expired");
        let t = now();
        assert_eq!(
            store.take_pending_sign_in("k1", &t).await.expect("take"),
            Some("{\"state\":1}".into())
        );
        assert_eq!(
            store.take_pending_sign_in("k1", &t).await.expect("again"),
            None
        );
        assert_eq!(
            store.take_pending_sign_in("k2", &t).await.expect("expired"),
            None
        );

        // Server secrets: the first candidate stays.
        let kept = store.server_secret("csrf", &[1; 32]).await.expect("secret");
        assert_eq!(kept, vec![1; 32]);
        let again = store.server_secret("csrf", &[2; 32]).await.expect("secret");
        assert_eq!(again, vec![1; 32]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sqlite_store_conforms() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        conformance::run(&SqliteAccountStore::new(db)).await;
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(normalize_email("  Ada@Example.TEST\t"), "ada@example.test");
    }
}
