//! `GET /usage`: the caller's use in the current calendar month (UTC).
//!
//! Storage is what the user's raw uploads and Example conversations occupy;
//! `gb_hours` integrates it over the part of the period each object existed
//! (objects are never deleted in the embedded deployment). The cost is an
//! estimate from `[pricing]` in the configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api_shared::month;
use crate::serve::auth::Caller;
use crate::serve::config::PricingConfig;
use crate::serve::db::{self, StoredObject, UsageRows};
use crate::serve::error::{ApiResult, ServeError};
use crate::serve::extract::Query;
use crate::serve::AppState;

const BYTES_PER_GB: f64 = 1e9;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    suite_id: Option<Uuid>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Usage {
    period: Period,
    suite_id: Option<Uuid>,
    sessions_uploaded: i64,
    examples_generated: i64,
    tokens: Tokens,
    storage: Storage,
    estimated_cost: Cost,
}

#[derive(Debug, Serialize, PartialEq)]
struct Period {
    start: String,
    end: String,
}

#[derive(Debug, Serialize, PartialEq)]
struct Tokens {
    total: i64,
    /// Model id → tokens. The RULES models use none.
    by_model: BTreeMap<Uuid, i64>,
}

#[derive(Debug, Serialize, PartialEq)]
struct Storage {
    current_gb: f64,
    gb_hours: f64,
}

#[derive(Debug, Serialize, PartialEq)]
struct Cost {
    currency: &'static str,
    amount: f64,
}

fn parse_time(t: &str) -> Result<DateTime<Utc>, ServeError> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| ServeError::Corrupt(format!("timestamp {t}: {e}")))
}

fn gb_hours(
    objects: &[StoredObject],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<f64, ServeError> {
    let mut total = 0.0;
    for o in objects {
        let from = parse_time(&o.created_at)?.max(start);
        if from < now {
            let hours = (now - from).num_milliseconds() as f64 / 3_600_000.0;
            total += o.bytes as f64 / BYTES_PER_GB * hours;
        }
    }
    Ok(total)
}

fn summarise(
    rows: UsageRows,
    suite_id: Option<Uuid>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    pricing: &PricingConfig,
) -> Result<Usage, ServeError> {
    let by_model: BTreeMap<Uuid, i64> = rows.tokens_by_model.into_iter().collect();
    let total_tokens: i64 = by_model.values().sum();
    let current_gb = rows.objects.iter().map(|o| o.bytes as f64).sum::<f64>() / BYTES_PER_GB;
    let gb_hours = gb_hours(&rows.objects, start, now.min(end))?;
    let amount = gb_hours * pricing.usd_per_gb_hour
        + total_tokens as f64 / 1000.0 * pricing.usd_per_1k_tokens
        + rows.sessions_uploaded as f64 * pricing.usd_per_session;
    Ok(Usage {
        period: Period {
            start: db::timestamp(start),
            end: db::timestamp(end),
        },
        suite_id,
        sessions_uploaded: rows.sessions_uploaded,
        examples_generated: rows.examples_generated,
        tokens: Tokens {
            total: total_tokens,
            by_model,
        },
        storage: Storage {
            current_gb,
            gb_hours,
        },
        // Cents are what a bill shows; more digits would suggest a precision
        // the estimate does not have.
        estimated_cost: Cost {
            currency: "USD",
            amount: (amount * 100.0).round() / 100.0,
        },
    })
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<UsageQuery>,
) -> ApiResult<axum::Json<Usage>> {
    let now = Utc::now();
    let period = month(now);
    let (start, end) = (db::timestamp(period.0), db::timestamp(period.1));
    let user_id = caller.0.id;
    let suite = q.suite_id;
    let rows = state
        .db
        .call(move |conn| db::usage(conn, user_id, suite, &start, &end))
        .await?;
    Ok(axum::Json(summarise(
        rows,
        q.suite_id,
        period,
        now,
        &state.config.pricing,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_period_is_the_calendar_month() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 15, 10, 0, 0)
            .single()
            .expect("date");
        let (s, e) = month(now);
        assert_eq!(db::timestamp(s), "2026-12-01T00:00:00.000Z");
        assert_eq!(db::timestamp(e), "2027-01-01T00:00:00.000Z");
    }

    #[test]
    fn storage_is_integrated_from_the_later_of_creation_and_period_start() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
            .single()
            .expect("date");
        let objects = vec![
            // Before the period: counts from its start, 10 h.
            StoredObject {
                bytes: 1_000_000_000,
                created_at: "2026-10-20T00:00:00.000Z".into(),
            },
            // 5 h before now.
            StoredObject {
                bytes: 2_000_000_000,
                created_at: "2026-11-01T05:00:00.000Z".into(),
            },
        ];
        let rows = UsageRows {
            sessions_uploaded: 1,
            examples_generated: 1,
            tokens_by_model: vec![],
            objects,
        };
        let pricing = PricingConfig {
            usd_per_gb_hour: 0.5,
            usd_per_1k_tokens: 0.0,
            usd_per_session: 1.0,
        };
        let u = summarise(rows, None, month(now), now, &pricing).expect("usage");
        assert!((u.storage.gb_hours - 20.0).abs() < 1e-9);
        assert!((u.storage.current_gb - 3.0).abs() < 1e-9);
        assert_eq!(u.estimated_cost.amount, 11.0);
        assert_eq!(u.tokens.total, 0);
    }
}
