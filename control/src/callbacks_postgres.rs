//! The PostgreSQL half of the status callbacks (see `callbacks.rs`), with the
//! SQLite half's semantics: the conformance suite runs against both.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::callbacks::{CallbackOutcome, DueCallback};
use super::postgres::{col, e_example_columns, example_from_row};
use super::ControlResult;

/// Migration step 6 of the PostgreSQL schema: each Example's callback URL and
/// the state of its delivery, and each user's callback signing secret.
pub const STEP_6: &str = "
ALTER TABLE examples ADD COLUMN callback_url text;
ALTER TABLE examples ADD COLUMN callback_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE examples ADD COLUMN callback_first_at timestamptz;
ALTER TABLE examples ADD COLUMN callback_next_at timestamptz;
ALTER TABLE examples ADD COLUMN callback_done_at timestamptz;
ALTER TABLE examples ADD COLUMN callback_outcome text;
CREATE INDEX examples_callbacks_due ON examples (callback_next_at)
    WHERE callback_url IS NOT NULL AND callback_done_at IS NULL;
ALTER TABLE users ADD COLUMN callback_secret text;
";

pub async fn set_callback_secret(
    client: &impl GenericClient,
    user_id: Uuid,
    secret: Option<&str>,
) -> ControlResult<bool> {
    Ok(client
        .execute(
            "UPDATE users SET callback_secret = $2 WHERE id = $1",
            &[&user_id, &secret],
        )
        .await?
        == 1)
}

pub async fn has_callback_secret(
    client: &impl GenericClient,
    user_id: Uuid,
) -> ControlResult<bool> {
    let row = client
        .query_opt(
            "SELECT callback_secret IS NOT NULL FROM users WHERE id = $1",
            &[&user_id],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

pub async fn claim_callbacks(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> ControlResult<Vec<DueCallback>> {
    // SKIP LOCKED: a second gateway claiming at the same moment takes other
    // rows rather than waiting for these.
    let rows = client
        .query(
            &format!(
                "WITH due AS (
                     SELECT id FROM examples
                     WHERE callback_url IS NOT NULL AND callback_done_at IS NULL
                       AND status IN ('COMPLETED', 'FAILED')
                       AND (callback_next_at IS NULL OR callback_next_at <= $1)
                     ORDER BY updated_at, seq LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE examples e
                 SET callback_attempts = e.callback_attempts + 1, callback_next_at = $3,
                     callback_first_at = COALESCE(e.callback_first_at, $1)
                 FROM due, users u
                 WHERE e.id = due.id AND u.id = e.user_id
                 RETURNING {}, e.callback_attempts, e.callback_first_at, u.callback_secret",
                e_example_columns()
            ),
            &[&now, &i64::from(limit), &lease_until],
        )
        .await?;
    let mut due = Vec::with_capacity(rows.len());
    for row in &rows {
        let example = example_from_row(row)?;
        let Some(url) = example.callback_url.clone() else {
            continue;
        };
        let attempts: i32 = col(row, "callback_attempts")?;
        due.push(DueCallback {
            example,
            url,
            attempt: u32::try_from(attempts).unwrap_or(0),
            first_attempt_at: col(row, "callback_first_at")?,
            secret: col(row, "callback_secret")?,
        });
    }
    due.sort_by(|a, b| a.example.updated_at.cmp(&b.example.updated_at));
    Ok(due)
}

pub async fn finish_callback(
    client: &impl GenericClient,
    example_id: Uuid,
    attempt: u32,
    outcome: &CallbackOutcome,
) -> ControlResult<bool> {
    let (next_at, done) = match outcome {
        CallbackOutcome::RetryAt(at, _) => (Some(*at), false),
        CallbackOutcome::Delivered | CallbackOutcome::GaveUp(_) => (None, true),
    };
    let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
    // Only the attempt that holds the claim records its outcome.
    Ok(client
        .execute(
            "UPDATE examples SET callback_next_at = COALESCE($3, callback_next_at),
                 callback_done_at = CASE WHEN $4 THEN now() END, callback_outcome = $5
             WHERE id = $1 AND callback_attempts = $2 AND callback_done_at IS NULL",
            &[&example_id, &attempt, &next_at, &done, &outcome.stored()],
        )
        .await?
        == 1)
}
