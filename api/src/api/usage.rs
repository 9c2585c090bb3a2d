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

use crate::api::auth::Caller;
use crate::api::catalog_store::Snapshot;
use crate::api::error::{ApiResult, ServiceError};
use crate::api::extract::Query;
use crate::api::openapi::{Always, BadRequest};
use crate::api::ApiState;
use crate::api_shared::month;
use crate::control::{timestamp, UsageRows};
use crate::invoicing::pricing;
use crate::serve::config::PricingConfig;

const BYTES_PER_GB: f64 = 1e9;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// only this suite (its id or name)
    #[param(min_length = 1, max_length = 64)]
    suite_id: Option<String>,
}

/// The caller's use in the current calendar month (UTC).
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Usage {
    pub billing_period: Period,
    #[schema(required)]
    pub suite_id: Option<Uuid>,
    #[schema(minimum = 0)]
    pub sessions_uploaded: i64,
    #[schema(minimum = 0)]
    pub examples_generated: i64,
    pub tokens: Tokens,
    pub storage: Storage,
    pub estimated_cost: Cost,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = BillingPeriod)]
pub struct Period {
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = TokenUsage)]
pub struct Tokens {
    #[schema(minimum = 0)]
    pub total: i64,
    /// `provider/name` of each model → tokens. The RULES models use none.
    #[schema(value_type = BTreeMap<String, u64>)]
    pub by_model: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = StorageUsage)]
pub struct Storage {
    #[schema(minimum = 0)]
    pub current_gb: f64,
    #[schema(minimum = 0)]
    pub gb_hours: f64,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = EstimatedCost)]
pub struct Cost {
    #[schema(minimum = 0)]
    pub tokens: f64,
    #[schema(minimum = 0)]
    pub storage: f64,
    #[schema(minimum = 0)]
    pub total: f64,
    #[schema(value_type = String, pattern = "^USD$")]
    pub currency: &'static str,
}

/// Cents as dollars.
fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// `provider/name` of each model the catalog knows; the id of one it no
/// longer does.
pub(crate) fn model_namer(snapshot: &Snapshot) -> impl Fn(Uuid) -> String {
    let views = snapshot.models.views();
    move |id: Uuid| {
        views
            .iter()
            .find(|v| v.id == id)
            .map(|v| format!("{}/{}", v.provider_name(), v.name))
            .unwrap_or_else(|| id.to_string())
    }
}

/// Tokens of the period by model name.
pub(crate) fn tokens_by_name(
    tokens_by_model: &[(Uuid, i64)],
    model_name: impl Fn(Uuid) -> String,
) -> BTreeMap<String, i64> {
    let mut by_model: BTreeMap<String, i64> = BTreeMap::new();
    for &(model, tokens) in tokens_by_model {
        *by_model.entry(model_name(model)).or_default() += tokens;
    }
    by_model
}

fn summarise(
    rows: UsageRows,
    suite_id: Option<Uuid>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    pricing: &PricingConfig,
    model_name: impl Fn(Uuid) -> String,
) -> Result<Usage, ServiceError> {
    let by_model = tokens_by_name(&rows.tokens_by_model, model_name);
    let total_tokens: i64 = by_model.values().sum();
    let current_gb = rows.objects.iter().map(|o| o.bytes as f64).sum::<f64>() / BYTES_PER_GB;
    let gb_hours = pricing::gb_hours(&rows.objects, start, now.min(end))?;
    // The month's invoice so far: the estimate is what closing now would bill.
    let draft = pricing::invoice_draft(
        tracepipe_billing::Period::containing(start),
        &by_model,
        gb_hours,
        pricing,
    )?;
    let (tokens_cents, storage_cents, total_cents) = pricing::split_cents(&draft);
    Ok(Usage {
        billing_period: Period {
            start: timestamp(start),
            end: timestamp(end),
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
        estimated_cost: Cost {
            tokens: dollars(tokens_cents),
            storage: dollars(storage_cents),
            total: dollars(total_cents),
            currency: "USD",
        },
    })
}

#[utoipa::path(
    get,
    path = "/usage",
    operation_id = "get_usage",
    tag = "account",
    summary = "The caller's use in the current calendar month (UTC)",
    params(UsageQuery),
    responses((status = 200, description = "usage", body = Usage), Always, BadRequest)
)]
pub async fn get(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<UsageQuery>,
) -> ApiResult<axum::Json<Usage>> {
    let suite = state
        .catalog
        .snapshot()
        .suite_filter(q.suite_id.as_deref())?;
    Ok(axum::Json(this_period(&state, caller.0.id, suite).await?))
}

/// The user's usage in the current calendar month (UTC), of one suite or
/// all: what `GET /usage` answers and the usage page shows.
pub async fn this_period(
    state: &ApiState,
    user_id: Uuid,
    suite: Option<Uuid>,
) -> Result<Usage, ServiceError> {
    let now = Utc::now();
    let period = month(now);
    let (start, end) = (timestamp(period.0), timestamp(period.1));
    let rows = state.control.usage(user_id, suite, &start, &end).await?;
    let snapshot = state.catalog.snapshot();
    let model_name = model_namer(&snapshot);
    summarise(rows, suite, period, now, &state.pricing, model_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::StoredObject;
    use chrono::TimeZone;

    #[test]
    fn the_period_is_the_calendar_month() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 15, 10, 0, 0)
            .single()
            .expect("date");
        let (s, e) = month(now);
        assert_eq!(timestamp(s), "2026-12-01T00:00:00.000Z");
        assert_eq!(timestamp(e), "2027-01-01T00:00:00.000Z");
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
            usd_per_1k_tokens: 0.002,
            models: BTreeMap::new(),
        };
        let model = Uuid::new_v4();
        let rows = UsageRows {
            tokens_by_model: vec![(model, 1500)],
            ..rows
        };
        let u = summarise(rows, None, month(now), now, &pricing, |_| {
            "rules/gmail".into()
        })
        .expect("usage");
        assert!((u.storage.gb_hours - 20.0).abs() < 1e-9);
        assert!((u.storage.current_gb - 3.0).abs() < 1e-9);
        assert_eq!(u.estimated_cost.storage, 10.0);
        assert_eq!(u.estimated_cost.tokens, 0.0);
        assert_eq!(u.estimated_cost.total, 10.0);
        assert_eq!(u.tokens.by_model.get("rules/gmail"), Some(&1500));
    }
}
