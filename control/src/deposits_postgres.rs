//! The PostgreSQL half of the deposits (see `deposits.rs`), with the SQLite
//! half's semantics: the conformance suite runs against both.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::deposits::Deposit;
use super::postgres::col;
use super::ControlResult;

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
                &d.created_at,
                &d.expires_at,
            ],
        )
        .await?;
    Ok(())
}

fn deposit_from_row(row: &Row) -> ControlResult<Deposit> {
    Ok(Deposit {
        example_id: col(row, "example_id")?,
        user_id: col(row, "user_id")?,
        payment_intent_id: col(row, "payment_intent_id")?,
        amount_cents: col(row, "amount_cents")?,
        currency: col(row, "currency")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        settled_at: col(row, "settled_at")?,
        cost_cents: col(row, "cost_cents")?,
        refunded_cents: col(row, "refunded_cents")?,
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
    settled_at: DateTime<Utc>,
) -> ControlResult<bool> {
    Ok(client
        .execute(
            "UPDATE deposits SET settled_at = $2, cost_cents = $3, refunded_cents = $4
             WHERE example_id = $1 AND settled_at IS NULL",
            &[&example_id, &settled_at, &cost_cents, &refunded_cents],
        )
        .await?
        == 1)
}
