//! The PostgreSQL half of the deposits (see `deposits.rs`), with the SQLite
//! half's semantics: the conformance suite runs against both.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::deposits::Deposit;
use super::{timestamp, ControlError, ControlResult};

/// Migration step 7 of the PostgreSQL schema: deposits.
pub const STEP_7: &str = "
CREATE TABLE deposits (
    example_id uuid PRIMARY KEY REFERENCES examples(id),
    user_id uuid NOT NULL REFERENCES users(id),
    payment_intent_id text NOT NULL UNIQUE,
    amount_cents bigint NOT NULL,
    currency text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    settled_at timestamptz,
    cost_cents bigint,
    refunded_cents bigint
);
";

fn time(text: &str) -> ControlResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| ControlError::Database(format!("`{text}` is not an RFC 3339 time: {e}")))
}

/// Inserts the deposit's row; the caller inserts its Example in the same
/// transaction.
pub async fn insert_deposit_row(client: &impl GenericClient, d: &Deposit) -> ControlResult<()> {
    client
        .execute(
            "INSERT INTO deposits (example_id, user_id, payment_intent_id, amount_cents, currency,
             created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &d.example_id,
                &d.user_id,
                &d.payment_intent_id,
                &d.amount_cents,
                &d.currency,
                &time(&d.created_at)?,
                &time(&d.expires_at)?,
            ],
        )
        .await?;
    Ok(())
}

fn deposit_from_row(row: &Row) -> ControlResult<Deposit> {
    let corrupt = |e: tokio_postgres::Error| ControlError::Corrupt(format!("a deposit: {e}"));
    let at = |name: &str| -> ControlResult<Option<String>> {
        Ok(row
            .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(name)
            .map_err(corrupt)?
            .map(timestamp))
    };
    Ok(Deposit {
        example_id: row.try_get("example_id").map_err(corrupt)?,
        user_id: row.try_get("user_id").map_err(corrupt)?,
        payment_intent_id: row.try_get("payment_intent_id").map_err(corrupt)?,
        amount_cents: row.try_get("amount_cents").map_err(corrupt)?,
        currency: row.try_get("currency").map_err(corrupt)?,
        created_at: at("created_at")?.unwrap_or_default(),
        expires_at: at("expires_at")?.unwrap_or_default(),
        settled_at: at("settled_at")?,
        cost_cents: row.try_get("cost_cents").map_err(corrupt)?,
        refunded_cents: row.try_get("refunded_cents").map_err(corrupt)?,
    })
}

pub async fn get_deposit(
    client: &impl GenericClient,
    user_id: Uuid,
    example_id: Uuid,
) -> ControlResult<Option<Deposit>> {
    client
        .query_opt(
            "SELECT * FROM deposits WHERE example_id = $1 AND user_id = $2",
            &[&example_id, &user_id],
        )
        .await?
        .as_ref()
        .map(deposit_from_row)
        .transpose()
}

pub async fn settle_deposit(
    client: &impl GenericClient,
    example_id: Uuid,
    cost_cents: i64,
    refunded_cents: i64,
    settled_at: &str,
) -> ControlResult<bool> {
    Ok(client
        .execute(
            "UPDATE deposits SET settled_at = $2, cost_cents = $3, refunded_cents = $4
             WHERE example_id = $1 AND settled_at IS NULL",
            &[
                &example_id,
                &time(settled_at)?,
                &cost_cents,
                &refunded_cents,
            ],
        )
        .await?
        == 1)
}
