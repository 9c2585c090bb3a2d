//! Status callbacks as the control plane keeps them: an Example asked for
//! with a `callback_url` is due for a callback once it is COMPLETED or
//! FAILED, until one is delivered or given up. The types the
//! [`super::ControlPlane`] methods take and answer, and the SQLite half (the
//! PostgreSQL half is `callbacks_postgres.rs`).
//!
//! Due callbacks are found from the Example's own row rather than queued when
//! it finishes, so every way an Example finishes (the embedded worker, the
//! gateway's status consumer, a crash-loop give-up) gets its callback without
//! knowing about callbacks, and one that finished while the sender was down is
//! found when it comes back. A sender claims a callback for a lease: another
//! sender (a second gateway) skips it until the lease ends, and a sender that
//! dies mid-delivery leaves it to be claimed again.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::sqlite::{example_from_row, prefixed_example_columns};
use super::{timestamp, ControlResult, ExampleRecord};

/// Version 11 of the SQLite schema: each Example's callback URL and the state
/// of its delivery, and each user's callback signing secret.
pub const SCHEMA_V11: &str = r#"
ALTER TABLE examples ADD COLUMN callback_url TEXT;
ALTER TABLE examples ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE examples ADD COLUMN callback_first_at TEXT;
ALTER TABLE examples ADD COLUMN callback_next_at TEXT;
ALTER TABLE examples ADD COLUMN callback_done_at TEXT;
ALTER TABLE examples ADD COLUMN callback_outcome TEXT;
CREATE INDEX examples_callbacks_due ON examples(callback_next_at)
    WHERE callback_url IS NOT NULL AND callback_done_at IS NULL;
ALTER TABLE users ADD COLUMN callback_secret TEXT;
"#;

/// A callback claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCallback {
    /// The Example as the API shows it, which the callback carries.
    pub example: ExampleRecord,
    pub url: String,
    /// Which delivery attempt this is, the first being 1.
    pub attempt: u32,
    /// When the first attempt was claimed: retries stop a bounded time after.
    pub first_attempt_at: DateTime<Utc>,
    /// The user's signing secret; None if they removed it since asking.
    pub secret: Option<String>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackOutcome {
    /// The receiver answered 2xx: nothing more is sent.
    Delivered,
    /// Not delivered (the error says why); try again at the time given.
    RetryAt(DateTime<Utc>, String),
    /// Not delivered and no more attempts (the error says why).
    GaveUp(String),
}

impl CallbackOutcome {
    /// The stored outcome: `delivered`, or why it was not.
    pub(crate) fn stored(&self) -> String {
        match self {
            CallbackOutcome::Delivered => "delivered".to_owned(),
            CallbackOutcome::RetryAt(_, error) => format!("retrying: {error}"),
            CallbackOutcome::GaveUp(error) => format!("gave up: {error}"),
        }
    }
}

pub fn set_callback_secret(
    conn: &Connection,
    user_id: Uuid,
    secret: Option<&str>,
) -> ControlResult<bool> {
    Ok(conn.execute(
        "UPDATE users SET callback_secret = ?2 WHERE id = ?1",
        params![user_id.to_string(), secret],
    )? == 1)
}

pub fn has_callback_secret(conn: &Connection, user_id: Uuid) -> ControlResult<bool> {
    let secret: Option<Option<String>> = conn
        .query_row(
            "SELECT callback_secret FROM users WHERE id = ?1",
            params![user_id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(matches!(secret, Some(Some(_))))
}

pub fn claim_callbacks(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> ControlResult<Vec<DueCallback>> {
    // IMMEDIATE: the read and the claim are one write transaction, so two
    // senders on one database cannot claim the same callback.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now_text = timestamp(now);
    let claimed = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {}, e.callback_attempts, e.callback_first_at, u.callback_secret
             FROM examples e JOIN users u ON u.id = e.user_id
             WHERE e.callback_url IS NOT NULL AND e.callback_done_at IS NULL
               AND e.status IN ('COMPLETED', 'FAILED')
               AND (e.callback_next_at IS NULL OR e.callback_next_at <= ?1)
             ORDER BY e.updated_at, e.seq LIMIT ?2",
            prefixed_example_columns("e")
        ))?;
        let rows = stmt.query_map(params![now_text, limit], |r| {
            // The columns after the Example's own (its callback URL last).
            let example = example_from_row(r)?;
            let attempts: u32 = r.get(17)?;
            let first: Option<String> = r.get(18)?;
            Ok((example, attempts, first, r.get(19)?))
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let mut due = Vec::with_capacity(claimed.len());
    for (example, attempts, first, secret) in claimed {
        let Some(url) = example.callback_url.clone() else {
            continue;
        };
        let first_attempt_at = match first {
            Some(text) => DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| super::ControlError::Corrupt(format!("callback_first_at: {e}")))?,
            None => now,
        };
        tx.execute(
            "UPDATE examples SET callback_attempts = callback_attempts + 1,
                 callback_next_at = ?2, callback_first_at = ?3
             WHERE id = ?1",
            params![
                example.id.to_string(),
                timestamp(lease_until),
                timestamp(first_attempt_at)
            ],
        )?;
        due.push(DueCallback {
            example,
            url,
            attempt: attempts + 1,
            first_attempt_at,
            secret,
        });
    }
    tx.commit()?;
    Ok(due)
}

pub fn finish_callback(
    conn: &Connection,
    example_id: Uuid,
    attempt: u32,
    outcome: &CallbackOutcome,
) -> ControlResult<bool> {
    let (next_at, done_at) = match outcome {
        CallbackOutcome::RetryAt(at, _) => (Some(timestamp(*at)), None),
        CallbackOutcome::Delivered | CallbackOutcome::GaveUp(_) => (None, Some(super::now())),
    };
    // Only the attempt that holds the claim records its outcome: a sender
    // whose lease ran out (and whose callback another sender took) does not.
    Ok(conn.execute(
        "UPDATE examples SET callback_next_at = COALESCE(?3, callback_next_at),
             callback_done_at = ?4, callback_outcome = ?5
         WHERE id = ?1 AND callback_attempts = ?2 AND callback_done_at IS NULL",
        params![
            example_id.to_string(),
            attempt,
            next_at,
            done_at,
            outcome.stored()
        ],
    )? == 1)
}
