//! `GET /usage/daily`: the caller's use day by day (UTC) over a date range,
//! for the usage charts: every day of the range, zeros included.

use std::sync::Arc;

use axum::extract::State;
use chrono::{Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::Query;
use crate::api::openapi::{Always, BadRequest};
use crate::api::ApiState;
use crate::control::reviews::DailyRows;
use crate::control::timestamp;

/// The longest range one request may ask for, in days.
pub const MAX_DAYS: u64 = 366;
/// The range when none is given: the last 30 days, today included.
const DEFAULT_DAYS: u64 = 30;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// the first day (UTC), YYYY-MM-DD; 29 days before `to` when absent
    #[param(pattern = r"^\d{4}-\d{2}-\d{2}$", format = Date)]
    from: Option<String>,
    /// the last day (UTC), YYYY-MM-DD, included; today when absent
    #[param(pattern = r"^\d{4}-\d{2}-\d{2}$", format = Date)]
    to: Option<String>,
    /// only this suite (its id or name)
    #[param(min_length = 1, max_length = 64)]
    suite_id: Option<String>,
}

/// The caller's use per UTC day.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DailyUsage {
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    #[schema(required)]
    pub suite_id: Option<Uuid>,
    /// Every day from `from` to `to`, in order.
    pub days: Vec<DayUsage>,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DayUsage {
    #[schema(format = Date)]
    pub date: String,
    /// Sessions uploaded that day.
    #[schema(minimum = 0)]
    pub sessions: i64,
    /// Examples completed that day.
    #[schema(minimum = 0)]
    pub examples: i64,
    /// Tokens of the Examples completed that day.
    #[schema(minimum = 0)]
    pub tokens: i64,
    /// Bytes stored at the end of the day (uploads and conversations).
    #[schema(minimum = 0)]
    pub storage_bytes: i64,
}

fn date(field: &'static str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::unprocessable(
            "invalid_query",
            format!("`{field}` must be a date, YYYY-MM-DD"),
        )
        .field(field)
    })
}

/// The range asked for: both ends included, `from` not after `to`, at most
/// [`MAX_DAYS`] days.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> ApiResult<(NaiveDate, NaiveDate)> {
    let to = to.map(|t| date("to", t)).transpose()?.unwrap_or(today);
    let from = match from {
        Some(f) => date("from", f)?,
        None => to
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(NaiveDate::MIN),
    };
    if from > to {
        return Err(
            ApiError::unprocessable("invalid_query", "`from` must not be after `to`").field("from"),
        );
    }
    let days = u64::try_from((to - from).num_days()).unwrap_or(u64::MAX) + 1;
    if days > MAX_DAYS {
        return Err(ApiError::unprocessable(
            "range_too_long",
            format!("a range is at most {MAX_DAYS} days; ask for {days} days in parts"),
        )
        .field("from"));
    }
    Ok((from, to))
}

/// Every day of [`from`, `to`] with its counts, storage carried from the
/// bytes stored before the range.
pub fn series(from: NaiveDate, to: NaiveDate, rows: &DailyRows) -> Vec<DayUsage> {
    let mut stored = rows.stored_before;
    let mut active = rows.days.iter().peekable();
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|day| {
            let date = day.format("%Y-%m-%d").to_string();
            let mut usage = DayUsage {
                date,
                sessions: 0,
                examples: 0,
                tokens: 0,
                storage_bytes: 0,
            };
            while let Some(row) = active.next_if(|r| r.date <= usage.date) {
                // Rows come in date order, one per day of the range.
                usage.sessions += row.sessions;
                usage.examples += row.examples;
                usage.tokens += row.tokens;
                stored += row.bytes_added;
            }
            usage.storage_bytes = stored;
            usage
        })
        .collect()
}

/// The caller's daily series for `from`..=`to` (UTC days).
pub async fn daily(
    state: &ApiState,
    caller: &Caller,
    from: NaiveDate,
    to: NaiveDate,
    suite_id: Option<Uuid>,
) -> ApiResult<DailyUsage> {
    let midnight = |d: NaiveDate| timestamp(d.and_time(chrono::NaiveTime::MIN).and_utc());
    let end = to.checked_add_days(Days::new(1)).unwrap_or(NaiveDate::MAX);
    let rows = state
        .control
        .daily_usage(caller.0.id, suite_id, &midnight(from), &midnight(end))
        .await?;
    Ok(DailyUsage {
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        suite_id,
        days: series(from, to, &rows),
    })
}

#[utoipa::path(
    get,
    path = "/usage/daily",
    operation_id = "get_daily_usage",
    tag = "account",
    summary = "The caller's use day by day (UTC) over a date range of at most 366 days",
    params(DailyQuery),
    responses(
        (status = 200, description = "every day of the range", body = DailyUsage),
        Always, BadRequest
    )
)]
pub async fn get(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<DailyQuery>,
) -> ApiResult<axum::Json<DailyUsage>> {
    let (from, to) = range(q.from.as_deref(), q.to.as_deref(), Utc::now().date_naive())?;
    let suite_id = caller.1.list_filter(
        state
            .catalog
            .snapshot()
            .suite_filter(q.suite_id.as_deref())?,
    )?;
    daily(&state, &caller, from, to, suite_id)
        .await
        .map(axum::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::reviews::DayCounts;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn every_day_of_the_range_is_there_with_storage_carried() {
        let rows = DailyRows {
            stored_before: 50,
            days: vec![
                DayCounts {
                    date: "2026-02-28".into(),
                    sessions: 2,
                    examples: 1,
                    tokens: 7,
                    bytes_added: 100,
                },
                DayCounts {
                    date: "2026-03-02".into(),
                    sessions: 0,
                    examples: 3,
                    tokens: 9,
                    bytes_added: 5,
                },
            ],
        };
        let days = series(day("2026-02-27"), day("2026-03-03"), &rows);
        let got: Vec<(&str, i64, i64, i64, i64)> = days
            .iter()
            .map(|d| {
                (
                    d.date.as_str(),
                    d.sessions,
                    d.examples,
                    d.tokens,
                    d.storage_bytes,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-02-27", 0, 0, 0, 50),
                ("2026-02-28", 2, 1, 7, 150),
                ("2026-03-01", 0, 0, 0, 150),
                ("2026-03-02", 0, 3, 9, 155),
                ("2026-03-03", 0, 0, 0, 155),
            ]
        );
    }

    #[test]
    fn ranges_are_checked_and_capped() {
        let today = day("2026-12-04");
        assert_eq!(
            range(None, None, today).expect("default"),
            (day("2026-11-05"), today)
        );
        assert_eq!(
            range(Some("2026-01-01"), Some("2026-12-31"), today).expect("a year"),
            (day("2026-01-01"), day("2026-12-31"))
        );
        let code = |from, to| range(from, to, today).map(|_| ()).unwrap_err().code;
        assert_eq!(
            code(Some("2025-01-01"), Some("2026-12-31")),
            "range_too_long"
        );
        assert_eq!(
            code(Some("2026-02-01"), Some("2026-01-01")),
            "invalid_query"
        );
        assert_eq!(code(Some("2026-02-30"), None), "invalid_query");
        assert_eq!(code(None, Some("yesterday")), "invalid_query");
    }
}
