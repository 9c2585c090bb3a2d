//! Deposits of pay-per-Example purchases (`/v1/ap2/examples`): money taken
//! from a one-time payment token when the Example is asked for, refunded
//! down to the Example's price when it is retrieved. The type the
//! [`super::ControlPlane`] methods take and answer, and the SQLite half (the
//! PostgreSQL half is `deposits_postgres.rs`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use super::sqlite::{insert_example, opt_time_col, time_col, uuid_col};
use super::{timestamp, ControlResult, ExampleRecord};

/// Version 12 of the SQLite schema: deposits.
pub const SCHEMA_V12: &str = r#"
CREATE TABLE deposits (
    example_id TEXT PRIMARY KEY REFERENCES examples(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    payment_intent_id TEXT NOT NULL UNIQUE,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    settled_at TEXT,
    cost_cents INTEGER,
    refunded_cents INTEGER
);
"#;

/// A deposit and, once settled, what it cost and what was refunded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Deposit {
    pub example_id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    /// Stripe's PaymentIntent the deposit was taken with.
    pub payment_intent_id: String,
    pub amount_cents: i64,
    pub currency: String,
    #[serde(serialize_with = "as_stored")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// After this the Example is no longer handed out.
    #[serde(serialize_with = "as_stored")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "opt_as_stored")]
    #[schema(value_type = Option<String>, required, format = DateTime)]
    pub settled_at: Option<DateTime<Utc>>,
    /// What the Example cost, kept of the deposit; once settled.
    #[schema(required)]
    pub cost_cents: Option<i64>,
    #[schema(required)]
    pub refunded_cents: Option<i64>,
}

/// Times are answered as every other record's are: RFC 3339 UTC with
/// milliseconds ([`timestamp`]), rather than chrono's own variable precision.
fn as_stored<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&timestamp(*t))
}

fn opt_as_stored<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => as_stored(t, s),
        None => s.serialize_none(),
    }
}

pub fn insert_deposit(
    conn: &mut Connection,
    example: &ExampleRecord,
    d: &Deposit,
) -> ControlResult<()> {
    let tx = conn.transaction()?;
    insert_example(&tx, example)?;
    tx.execute(
        "INSERT INTO deposits (example_id, user_id, payment_intent_id, amount_cents, currency,
             created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            d.example_id.to_string(),
            d.user_id.to_string(),
            d.payment_intent_id,
            d.amount_cents,
            d.currency,
            timestamp(d.created_at),
            timestamp(d.expires_at)
        ],
    )?;
    tx.commit()?;
    Ok(())
}

fn deposit_from_row(r: &Row<'_>) -> rusqlite::Result<Deposit> {
    Ok(Deposit {
        example_id: uuid_col(r, 0)?,
        user_id: uuid_col(r, 1)?,
        payment_intent_id: r.get(2)?,
        amount_cents: r.get(3)?,
        currency: r.get(4)?,
        created_at: time_col(r, 5)?,
        expires_at: time_col(r, 6)?,
        settled_at: opt_time_col(r, 7)?,
        cost_cents: r.get(8)?,
        refunded_cents: r.get(9)?,
    })
}

pub fn get_deposit(
    conn: &Connection,
    user_id: Uuid,
    example_id: Uuid,
) -> ControlResult<Option<Deposit>> {
    Ok(conn
        .query_row(
            "SELECT example_id, user_id, payment_intent_id, amount_cents, currency, created_at,
                 expires_at, settled_at, cost_cents, refunded_cents
             FROM deposits WHERE example_id = ?1 AND user_id = ?2",
            params![example_id.to_string(), user_id.to_string()],
            deposit_from_row,
        )
        .optional()?)
}

pub fn settle_deposit(
    conn: &Connection,
    example_id: Uuid,
    cost_cents: i64,
    refunded_cents: i64,
    settled_at: DateTime<Utc>,
) -> ControlResult<bool> {
    Ok(conn.execute(
        "UPDATE deposits SET settled_at = ?2, cost_cents = ?3, refunded_cents = ?4
         WHERE example_id = ?1 AND settled_at IS NULL",
        params![
            example_id.to_string(),
            timestamp(settled_at),
            cost_cents,
            refunded_cents
        ],
    )? == 1)
}
