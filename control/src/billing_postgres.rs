//! [`BillingStore`] in the gateway's PostgreSQL database, in the configured
//! schema beside the control plane's tables (it reads `users`).
//!
//! Its tables are migrated in numbered steps recorded in its own
//! `billing_migrations` table, under an advisory lock, so gateways starting
//! together do not race and the control plane's migrations stay its own.
//! One connection, replaced when it closes; timestamps are `timestamptz`,
//! answered as the RFC 3339 text of [`super::timestamp`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls, Row};
use uuid::Uuid;

use super::billing::{
    BillableUser, BillingAccount, BillingStore, CardStatus, InvoiceRecord, InvoiceUpdate,
    MonthClose,
};
use super::{timestamp, ControlError, ControlResult, Page};
use crate::postgres::DatabaseConfig;

/// Steps of the billing schema, applied in order, each once.
const MIGRATIONS: &[&str] = &["
CREATE TABLE billing_accounts (
    user_id uuid PRIMARY KEY REFERENCES users(id),
    stripe_customer_id text UNIQUE,
    card_status text NOT NULL DEFAULT 'none',
    card_brand text,
    card_last4 text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE invoices (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    period text NOT NULL,
    lines jsonb NOT NULL,
    subtotal_cents bigint NOT NULL,
    total_cents bigint NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    stripe_invoice_id text UNIQUE,
    hosted_invoice_url text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (user_id, period)
);
CREATE TABLE stripe_webhook_events (
    event_id text PRIMARY KEY,
    event_type text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE billing_month_closes (
    period text PRIMARY KEY,
    claimed_by text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
"];

/// Taken for the migration's transaction: one gateway migrates, the others
/// wait and find nothing left to do.
const MIGRATION_LOCK: i64 = 0x7472_6163_6562_696c; // "tracebil"

/// The billing ledger over PostgreSQL.
pub struct PostgresBillingStore {
    config: DatabaseConfig,
    client: RwLock<Arc<Client>>,
}

fn database(e: tokio_postgres::Error) -> ControlError {
    if e.is_closed() {
        ControlError::Unavailable(e.to_string())
    } else {
        ControlError::Database(e.to_string())
    }
}

/// A connection whose search path is the configured schema (created if
/// missing).
async fn connect(config: &DatabaseConfig) -> ControlResult<Client> {
    let schema = &config.schema;
    if schema.is_empty()
        || !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ControlError::Database(format!(
            "database.schema `{schema}` may only hold a-z 0-9 _"
        )));
    }
    let (client, connection) = tokio_postgres::connect(config.url.expose(), NoTls)
        .await
        .map_err(|e| ControlError::Unavailable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("billing: the PostgreSQL connection ended: {e}");
        }
    });
    // The schema name was checked above; identifiers cannot be bound.
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};"
        ))
        .await
        .map_err(database)?;
    Ok(client)
}

async fn migrate(client: &mut Client) -> ControlResult<()> {
    let tx = client.transaction().await.map_err(database)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(database)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS billing_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(database)?;
    let applied: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM billing_migrations",
            &[],
        )
        .await
        .map_err(database)?
        .get(0);
    let known = MIGRATIONS.len() as i32;
    if applied > known {
        return Err(ControlError::Corrupt(format!(
            "the billing schema has version {applied}, newer than this build's {known}; use a newer tracepipe"
        )));
    }
    for (version, step) in (1..).zip(MIGRATIONS) {
        if version > applied {
            tx.batch_execute(step).await.map_err(database)?;
            tx.execute(
                "INSERT INTO billing_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(database)?;
        }
    }
    tx.commit().await.map_err(database)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ControlError {
    ControlError::Corrupt(format!("{what}: {e}"))
}

fn account_from_row(row: &Row) -> ControlResult<BillingAccount> {
    let status: String = row.get("card_status");
    Ok(BillingAccount {
        user_id: row.get("user_id"),
        stripe_customer_id: row.get("stripe_customer_id"),
        card_status: status.parse().map_err(|e| corrupt("card_status", e))?,
        card_brand: row.get("card_brand"),
        card_last4: row.get("card_last4"),
        updated_at: timestamp(row.get::<_, DateTime<Utc>>("updated_at")),
    })
}

fn invoice_from_row(row: &Row) -> ControlResult<InvoiceRecord> {
    let status: String = row.get("status");
    let lines: serde_json::Value = row.get("lines");
    Ok(InvoiceRecord {
        id: row.get("id"),
        user_id: row.get("user_id"),
        period: row.get("period"),
        lines: serde_json::from_value(lines).map_err(|e| corrupt("invoice lines", e))?,
        subtotal_cents: row.get("subtotal_cents"),
        total_cents: row.get("total_cents"),
        currency: row.get("currency"),
        status: status.parse().map_err(|e| corrupt("invoice status", e))?,
        stripe_invoice_id: row.get("stripe_invoice_id"),
        hosted_invoice_url: row.get("hosted_invoice_url"),
        created_at: timestamp(row.get::<_, DateTime<Utc>>("created_at")),
        updated_at: timestamp(row.get::<_, DateTime<Utc>>("updated_at")),
    })
}

fn parse_time(what: &str, text: &str) -> ControlResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ControlError::Database(format!("{what} {text:?}: {e}")))
}

impl PostgresBillingStore {
    /// Connects and migrates the billing tables (the control plane's `users`
    /// table must exist: connect the control plane first).
    pub async fn connect(config: &DatabaseConfig) -> ControlResult<PostgresBillingStore> {
        let mut client = connect(config).await?;
        migrate(&mut client).await?;
        Ok(PostgresBillingStore {
            config: config.clone(),
            client: RwLock::new(Arc::new(client)),
        })
    }

    /// The connection, replaced first if it closed (the database restarted).
    async fn client(&self) -> ControlResult<Arc<Client>> {
        let current = self.client.read().await.clone();
        if !current.is_closed() {
            return Ok(current);
        }
        let mut slot = self.client.write().await;
        if slot.is_closed() {
            *slot = Arc::new(connect(&self.config).await?);
        }
        Ok(slot.clone())
    }
}

const INVOICE_COLUMNS: &str = "id, user_id, period, lines, subtotal_cents, total_cents, currency, \
     status, stripe_invoice_id, hosted_invoice_url, created_at, updated_at";

#[async_trait]
impl BillingStore for PostgresBillingStore {
    async fn billable_users(&self) -> ControlResult<Vec<BillableUser>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, display_name FROM users ORDER BY created_at, id",
                &[],
            )
            .await
            .map_err(database)?;
        Ok(rows
            .iter()
            .map(|row| BillableUser {
                id: row.get(0),
                display_name: row.get(1),
            })
            .collect())
    }

    async fn billing_account(&self, user_id: Uuid) -> ControlResult<Option<BillingAccount>> {
        self.client()
            .await?
            .query_opt(
                "SELECT user_id, stripe_customer_id, card_status, card_brand, card_last4, updated_at
                 FROM billing_accounts WHERE user_id = $1",
                &[&user_id],
            )
            .await
            .map_err(database)?
            .map(|row| account_from_row(&row))
            .transpose()
    }

    async fn set_stripe_customer(&self, user_id: Uuid, customer_id: &str) -> ControlResult<String> {
        // One statement: insert, or keep the customer already recorded.
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO billing_accounts (user_id, stripe_customer_id) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE
                     SET stripe_customer_id = coalesce(billing_accounts.stripe_customer_id, EXCLUDED.stripe_customer_id),
                         updated_at = now()
                 RETURNING stripe_customer_id",
                &[&user_id, &customer_id],
            )
            .await
            .map_err(database)?;
        Ok(row.get(0))
    }

    async fn user_of_customer(&self, customer_id: &str) -> ControlResult<Option<Uuid>> {
        Ok(self
            .client()
            .await?
            .query_opt(
                "SELECT user_id FROM billing_accounts WHERE stripe_customer_id = $1",
                &[&customer_id],
            )
            .await
            .map_err(database)?
            .map(|row| row.get(0)))
    }

    async fn set_card(
        &self,
        user_id: Uuid,
        status: CardStatus,
        brand: Option<&str>,
        last4: Option<&str>,
    ) -> ControlResult<bool> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE billing_accounts SET card_status = $2,
                     card_brand = coalesce($3, card_brand), card_last4 = coalesce($4, card_last4),
                     updated_at = now()
                 WHERE user_id = $1",
                &[&user_id, &status.as_str(), &brand, &last4],
            )
            .await
            .map_err(database)?;
        Ok(changed == 1)
    }

    async fn insert_invoice(&self, invoice: &InvoiceRecord) -> ControlResult<InvoiceRecord> {
        let lines = serde_json::to_value(&invoice.lines)
            .map_err(|e| ControlError::Database(format!("invoice lines: {e}")))?;
        let created_at = parse_time("created_at", &invoice.created_at)?;
        let updated_at = parse_time("updated_at", &invoice.updated_at)?;
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO invoices ({INVOICE_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (user_id, period) DO NOTHING"
                ),
                &[
                    &invoice.id,
                    &invoice.user_id,
                    &invoice.period,
                    &lines,
                    &invoice.subtotal_cents,
                    &invoice.total_cents,
                    &invoice.currency,
                    &invoice.status.as_str(),
                    &invoice.stripe_invoice_id,
                    &invoice.hosted_invoice_url,
                    &created_at,
                    &updated_at,
                ],
            )
            .await
            .map_err(database)?;
        // Invoices are never deleted, so the row read is the one that won.
        let row = client
            .query_one(
                &format!(
                    "SELECT {INVOICE_COLUMNS} FROM invoices WHERE user_id = $1 AND period = $2"
                ),
                &[&invoice.user_id, &invoice.period],
            )
            .await
            .map_err(database)?;
        invoice_from_row(&row)
    }

    async fn invoice(&self, user_id: Uuid, period: &str) -> ControlResult<Option<InvoiceRecord>> {
        self.client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {INVOICE_COLUMNS} FROM invoices WHERE user_id = $1 AND period = $2"
                ),
                &[&user_id, &period],
            )
            .await
            .map_err(database)?
            .map(|row| invoice_from_row(&row))
            .transpose()
    }

    async fn invoice_by_stripe_id(
        &self,
        stripe_invoice_id: &str,
    ) -> ControlResult<Option<InvoiceRecord>> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE stripe_invoice_id = $1"),
                &[&stripe_invoice_id],
            )
            .await
            .map_err(database)?
            .map(|row| invoice_from_row(&row))
            .transpose()
    }

    async fn update_invoice(
        &self,
        user_id: Uuid,
        period: &str,
        update: &InvoiceUpdate,
    ) -> ControlResult<bool> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE invoices SET status = $3,
                     stripe_invoice_id = coalesce($4, stripe_invoice_id),
                     hosted_invoice_url = coalesce($5, hosted_invoice_url),
                     updated_at = now()
                 WHERE user_id = $1 AND period = $2",
                &[
                    &user_id,
                    &period,
                    &update.status.as_str(),
                    &update.stripe_invoice_id,
                    &update.hosted_invoice_url,
                ],
            )
            .await
            .map_err(database)?;
        Ok(changed == 1)
    }

    async fn list_invoices(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> ControlResult<(Vec<InvoiceRecord>, i64)> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM invoices WHERE user_id = $1",
                &[&user_id],
            )
            .await
            .map_err(database)?
            .get(0);
        let (limit, offset) = page.limit_offset();
        let rows = client
            .query(
                &format!(
                    "SELECT {INVOICE_COLUMNS} FROM invoices WHERE user_id = $1
                     ORDER BY period DESC LIMIT $2 OFFSET $3"
                ),
                &[&user_id, &limit, &offset],
            )
            .await
            .map_err(database)?;
        let items = rows
            .iter()
            .map(invoice_from_row)
            .collect::<ControlResult<Vec<_>>>()?;
        Ok((items, total))
    }

    async fn webhook_event_seen(&self, event_id: &str) -> ControlResult<bool> {
        Ok(self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM stripe_webhook_events WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .map_err(database)?
            .is_some())
    }

    async fn record_webhook_event(&self, event_id: &str, event_type: &str) -> ControlResult<bool> {
        let inserted = self
            .client()
            .await?
            .execute(
                "INSERT INTO stripe_webhook_events (event_id, event_type) VALUES ($1, $2)
                 ON CONFLICT (event_id) DO NOTHING",
                &[&event_id, &event_type],
            )
            .await
            .map_err(database)?;
        Ok(inserted == 1)
    }

    async fn claim_month_close(&self, period: &str, claimed_by: &str) -> ControlResult<bool> {
        let inserted = self
            .client()
            .await?
            .execute(
                "INSERT INTO billing_month_closes (period, claimed_by) VALUES ($1, $2)
                 ON CONFLICT (period) DO NOTHING",
                &[&period, &claimed_by],
            )
            .await
            .map_err(database)?;
        Ok(inserted == 1)
    }

    async fn finish_month_close(&self, period: &str) -> ControlResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE billing_month_closes SET finished_at = now()
                 WHERE period = $1 AND finished_at IS NULL",
                &[&period],
            )
            .await
            .map_err(database)?;
        Ok(())
    }

    async fn month_close(&self, period: &str) -> ControlResult<Option<MonthClose>> {
        Ok(self
            .client()
            .await?
            .query_opt(
                "SELECT period, claimed_by, started_at, finished_at
                 FROM billing_month_closes WHERE period = $1",
                &[&period],
            )
            .await
            .map_err(database)?
            .map(|row| MonthClose {
                period: row.get(0),
                claimed_by: row.get(1),
                started_at: timestamp(row.get::<_, DateTime<Utc>>(2)),
                finished_at: row.get::<_, Option<DateTime<Utc>>>(3).map(timestamp),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::conformance;

    /// A fresh schema holding a `users` table as the control plane makes it;
    /// None (skipped) without `TRACEPIPE_DATABASE_URL`, a failure under CI.
    async fn fresh_schema() -> Option<(DatabaseConfig, Client)> {
        let url = crate::postgres::tests::database_url()?;
        let schema = format!("billing_test_{}", Uuid::new_v4().simple());
        let config: DatabaseConfig = toml::from_str(&format!("url = {url:?}\nschema = {schema:?}"))
            .expect("database config");
        let client = connect(&config).await.expect("connect");
        client
            .batch_execute(
                "CREATE TABLE users (
                     id uuid PRIMARY KEY,
                     display_name text NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await
            .expect("users");
        Some((config, client))
    }

    async fn drop_schema(config: &DatabaseConfig, client: &Client) {
        client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", config.schema))
            .await
            .expect("drop schema");
    }

    async fn add_user(client: &Client, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        client
            .execute(
                "INSERT INTO users (id, display_name) VALUES ($1, $2)",
                &[&id, &name],
            )
            .await
            .expect("user");
        id
    }

    #[tokio::test]
    async fn the_ledger_conforms() {
        let Some((config, client)) = fresh_schema().await else {
            return;
        };
        let ada = add_user(&client, "Ada").await;
        let bob = add_user(&client, "Bob").await;
        let store = PostgresBillingStore::connect(&config).await.expect("store");
        conformance::run(&store, ada, bob).await;
        drop_schema(&config, &client).await;
    }

    #[tokio::test]
    async fn gateways_starting_together_migrate_once_and_newer_schemas_are_refused() {
        let Some((config, client)) = fresh_schema().await else {
            return;
        };
        let (a, b) = tokio::join!(
            PostgresBillingStore::connect(&config),
            PostgresBillingStore::connect(&config)
        );
        a.expect("first");
        b.expect("second");
        let versions: i64 = client
            .query_one("SELECT count(*) FROM billing_migrations", &[])
            .await
            .expect("versions")
            .get(0);
        assert_eq!(versions, MIGRATIONS.len() as i64);
        client
            .execute("INSERT INTO billing_migrations (version) VALUES (99)", &[])
            .await
            .expect("bump");
        let refused = PostgresBillingStore::connect(&config)
            .await
            .err()
            .expect("a newer schema is refused");
        assert!(refused.to_string().contains("newer"), "{refused}");
        drop_schema(&config, &client).await;
    }
}
