//! [`BillingStore`] in the embedded deployment's SQLite database (schema
//! version 6 of control/sqlite.rs).

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::billing::{
    BillableUser, BillingAccount, BillingStore, CardStatus, InvoiceRecord, InvoiceUpdate,
    MonthClose,
};
use super::sqlite::Db;
use super::{now, ControlError, ControlResult, Page};

/// The billing ledger over the database `serve` opened.
#[derive(Clone)]
pub struct SqliteBillingStore {
    db: Db,
}

impl SqliteBillingStore {
    pub fn new(db: Db) -> SqliteBillingStore {
        SqliteBillingStore { db }
    }
}

fn corrupt(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
}

fn parsed<T: std::str::FromStr>(row: &Row<'_>, column: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.get(column)?;
    text.parse()
        .map_err(|e: T::Err| corrupt(column, e.to_string()))
}

const ACCOUNT_COLUMNS: &str =
    "user_id, stripe_customer_id, card_status, card_brand, card_last4, updated_at";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<BillingAccount> {
    Ok(BillingAccount {
        user_id: parsed(row, 0)?,
        stripe_customer_id: row.get(1)?,
        card_status: parsed(row, 2)?,
        card_brand: row.get(3)?,
        card_last4: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

const INVOICE_COLUMNS: &str = "id, user_id, period, lines, subtotal_cents, total_cents, currency, \
     status, stripe_invoice_id, hosted_invoice_url, created_at, updated_at";

fn invoice_from_row(row: &Row<'_>) -> rusqlite::Result<InvoiceRecord> {
    let lines: String = row.get(3)?;
    Ok(InvoiceRecord {
        id: parsed(row, 0)?,
        user_id: parsed(row, 1)?,
        period: row.get(2)?,
        lines: serde_json::from_str(&lines).map_err(|e| corrupt(3, e.to_string()))?,
        subtotal_cents: row.get(4)?,
        total_cents: row.get(5)?,
        currency: row.get(6)?,
        status: parsed(row, 7)?,
        stripe_invoice_id: row.get(8)?,
        hosted_invoice_url: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

fn invoice_where(
    conn: &Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> ControlResult<Option<InvoiceRecord>> {
    Ok(conn
        .query_row(
            &format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE {condition}"),
            values,
            invoice_from_row,
        )
        .optional()?)
}

/// Makes the user's billing row if there is none.
fn ensure_account(conn: &Connection, user_id: Uuid) -> ControlResult<()> {
    conn.execute(
        "INSERT INTO billing_accounts (user_id, updated_at) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO NOTHING",
        params![user_id.to_string(), now()],
    )?;
    Ok(())
}

#[async_trait]
impl BillingStore for SqliteBillingStore {
    async fn billable_users(&self) -> ControlResult<Vec<BillableUser>> {
        self.db
            .call(|conn| {
                let mut stmt =
                    conn.prepare("SELECT id, display_name FROM users ORDER BY created_at, id")?;
                let users = stmt
                    .query_map([], |row| {
                        Ok(BillableUser {
                            id: parsed(row, 0)?,
                            display_name: row.get(1)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(users)
            })
            .await
    }

    async fn billing_account(&self, user_id: Uuid) -> ControlResult<Option<BillingAccount>> {
        self.db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        &format!(
                            "SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE user_id = ?1"
                        ),
                        params![user_id.to_string()],
                        account_from_row,
                    )
                    .optional()?)
            })
            .await
    }

    async fn set_stripe_customer(&self, user_id: Uuid, customer_id: &str) -> ControlResult<String> {
        let customer_id = customer_id.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                ensure_account(&tx, user_id)?;
                tx.execute(
                    "UPDATE billing_accounts SET stripe_customer_id = ?2, updated_at = ?3
                     WHERE user_id = ?1 AND stripe_customer_id IS NULL",
                    params![user_id.to_string(), customer_id, now()],
                )?;
                let stored: Option<String> = tx.query_row(
                    "SELECT stripe_customer_id FROM billing_accounts WHERE user_id = ?1",
                    params![user_id.to_string()],
                    |r| r.get(0),
                )?;
                tx.commit()?;
                stored.ok_or_else(|| {
                    ControlError::Corrupt(format!(
                        "user {user_id}: no Stripe customer after setting one"
                    ))
                })
            })
            .await
    }

    async fn user_of_customer(&self, customer_id: &str) -> ControlResult<Option<Uuid>> {
        let customer_id = customer_id.to_owned();
        self.db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT user_id FROM billing_accounts WHERE stripe_customer_id = ?1",
                        params![customer_id],
                        |row| parsed(row, 0),
                    )
                    .optional()?)
            })
            .await
    }

    async fn set_card(
        &self,
        user_id: Uuid,
        status: CardStatus,
        brand: Option<&str>,
        last4: Option<&str>,
    ) -> ControlResult<bool> {
        let (brand, last4) = (brand.map(str::to_owned), last4.map(str::to_owned));
        self.db
            .call(move |conn| {
                let changed = conn.execute(
                    "UPDATE billing_accounts SET card_status = ?2,
                         card_brand = coalesce(?3, card_brand), card_last4 = coalesce(?4, card_last4),
                         updated_at = ?5
                     WHERE user_id = ?1",
                    params![user_id.to_string(), status.as_str(), brand, last4, now()],
                )?;
                Ok(changed == 1)
            })
            .await
    }

    async fn insert_invoice(&self, invoice: &InvoiceRecord) -> ControlResult<InvoiceRecord> {
        let invoice = invoice.clone();
        let lines = serde_json::to_string(&invoice.lines)
            .map_err(|e| ControlError::Database(format!("invoice lines: {e}")))?;
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    &format!(
                        "INSERT INTO invoices ({INVOICE_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                         ON CONFLICT (user_id, period) DO NOTHING"
                    ),
                    params![
                        invoice.id.to_string(),
                        invoice.user_id.to_string(),
                        invoice.period,
                        lines,
                        invoice.subtotal_cents,
                        invoice.total_cents,
                        invoice.currency,
                        invoice.status.as_str(),
                        invoice.stripe_invoice_id,
                        invoice.hosted_invoice_url,
                        invoice.created_at,
                        invoice.updated_at,
                    ],
                )?;
                let stored = invoice_where(
                    &tx,
                    "user_id = ?1 AND period = ?2",
                    params![invoice.user_id.to_string(), invoice.period],
                )?
                .ok_or_else(|| {
                    ControlError::Corrupt("an invoice vanished as it was written".into())
                })?;
                tx.commit()?;
                Ok(stored)
            })
            .await
    }

    async fn invoice(&self, user_id: Uuid, period: &str) -> ControlResult<Option<InvoiceRecord>> {
        let period = period.to_owned();
        self.db
            .call(move |conn| {
                invoice_where(
                    conn,
                    "user_id = ?1 AND period = ?2",
                    params![user_id.to_string(), period],
                )
            })
            .await
    }

    async fn invoice_by_stripe_id(
        &self,
        stripe_invoice_id: &str,
    ) -> ControlResult<Option<InvoiceRecord>> {
        let id = stripe_invoice_id.to_owned();
        self.db
            .call(move |conn| invoice_where(conn, "stripe_invoice_id = ?1", params![id]))
            .await
    }

    async fn update_invoice(
        &self,
        user_id: Uuid,
        period: &str,
        update: &InvoiceUpdate,
    ) -> ControlResult<bool> {
        let (period, update) = (period.to_owned(), update.clone());
        self.db
            .call(move |conn| {
                let changed = conn.execute(
                    "UPDATE invoices SET status = ?3,
                         stripe_invoice_id = coalesce(?4, stripe_invoice_id),
                         hosted_invoice_url = coalesce(?5, hosted_invoice_url),
                         updated_at = ?6
                     WHERE user_id = ?1 AND period = ?2",
                    params![
                        user_id.to_string(),
                        period,
                        update.status.as_str(),
                        update.stripe_invoice_id,
                        update.hosted_invoice_url,
                        now()
                    ],
                )?;
                Ok(changed == 1)
            })
            .await
    }

    async fn list_invoices(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> ControlResult<(Vec<InvoiceRecord>, i64)> {
        self.db
            .call(move |conn| {
                let user = user_id.to_string();
                let total = conn.query_row(
                    "SELECT count(*) FROM invoices WHERE user_id = ?1",
                    params![user],
                    |r| r.get(0),
                )?;
                let (limit, offset) = page.limit_offset();
                let mut stmt = conn.prepare(&format!(
                    "SELECT {INVOICE_COLUMNS} FROM invoices WHERE user_id = ?1
                     ORDER BY period DESC LIMIT ?2 OFFSET ?3"
                ))?;
                let items = stmt
                    .query_map(params![user, limit, offset], invoice_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((items, total))
            })
            .await
    }

    async fn webhook_event_seen(&self, event_id: &str) -> ControlResult<bool> {
        let event_id = event_id.to_owned();
        self.db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT 1 FROM stripe_webhook_events WHERE event_id = ?1",
                        params![event_id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some())
            })
            .await
    }

    async fn record_webhook_event(&self, event_id: &str, event_type: &str) -> ControlResult<bool> {
        let (event_id, event_type) = (event_id.to_owned(), event_type.to_owned());
        self.db
            .call(move |conn| {
                let inserted = conn.execute(
                    "INSERT INTO stripe_webhook_events (event_id, event_type, received_at)
                     VALUES (?1, ?2, ?3) ON CONFLICT (event_id) DO NOTHING",
                    params![event_id, event_type, now()],
                )?;
                Ok(inserted == 1)
            })
            .await
    }

    async fn claim_month_close(&self, period: &str, claimed_by: &str) -> ControlResult<bool> {
        let (period, claimed_by) = (period.to_owned(), claimed_by.to_owned());
        self.db
            .call(move |conn| {
                let inserted = conn.execute(
                    "INSERT INTO billing_month_closes (period, claimed_by, started_at)
                     VALUES (?1, ?2, ?3) ON CONFLICT (period) DO NOTHING",
                    params![period, claimed_by, now()],
                )?;
                Ok(inserted == 1)
            })
            .await
    }

    async fn finish_month_close(&self, period: &str) -> ControlResult<()> {
        let period = period.to_owned();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE billing_month_closes SET finished_at = ?2
                     WHERE period = ?1 AND finished_at IS NULL",
                    params![period, now()],
                )?;
                Ok(())
            })
            .await
    }

    async fn month_close(&self, period: &str) -> ControlResult<Option<MonthClose>> {
        let period = period.to_owned();
        self.db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT period, claimed_by, started_at, finished_at
                         FROM billing_month_closes WHERE period = ?1",
                        params![period],
                        |row| {
                            Ok(MonthClose {
                                period: row.get(0)?,
                                claimed_by: row.get(1)?,
                                started_at: row.get(2)?,
                                finished_at: row.get(3)?,
                            })
                        },
                    )
                    .optional()?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::conformance;

    #[tokio::test]
    async fn the_ledger_conforms() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        let control = super::super::sqlite::SqliteControlPlane::new(db.clone());
        let ada = conformance::make_user(&control, "Ada").await;
        let bob = conformance::make_user(&control, "Bob").await;
        conformance::run(&SqliteBillingStore::new(db), ada, bob).await;
    }
}
