//! The daily usage series the usage page charts: sessions, Examples and
//! tokens of each UTC day, and the bytes stored at its end.
//!
//! Computed from the same control-plane rows as `GET /v1/usage`
//! ([`crate::control::ControlPlane::usage`]), one day at a time. The page
//! calls [`daily_usage`] only, so that it can be pointed at the shared
//! `GET /v1/usage/daily` computation, once there is one, in one line.

use chrono::{Days, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::api::error::ServiceError;
use crate::api::ApiState;
use crate::control::timestamp;

/// The days the usage page charts, today included.
pub const CHARTED_DAYS: u64 = 30;

/// One UTC day of use, the shape of `GET /v1/usage/daily`'s `days`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayUsage {
    /// `YYYY-MM-DD`
    pub date: String,
    pub sessions: i64,
    pub examples: i64,
    pub tokens: i64,
    /// What the user's objects occupied at the day's end (or now, today).
    pub storage_bytes: i64,
}

/// The user's use on each day from `from` to `to`, both included, oldest
/// first; empty when `to` is before `from`.
pub async fn daily_usage(
    state: &ApiState,
    user_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayUsage>, ServiceError> {
    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        let Some(next) = day.checked_add_days(Days::new(1)) else {
            break;
        };
        let start = Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN));
        let end = Utc.from_utc_datetime(&next.and_time(chrono::NaiveTime::MIN));
        let rows = state
            .control
            .usage(user_id, None, &timestamp(start), &timestamp(end))
            .await?;
        days.push(DayUsage {
            date: day.format("%Y-%m-%d").to_string(),
            sessions: rows.sessions_uploaded,
            examples: rows.examples_generated,
            tokens: rows.tokens_by_model.iter().map(|(_, t)| t).sum(),
            storage_bytes: rows.objects.iter().map(|o| o.bytes).sum(),
        });
        day = next;
    }
    Ok(days)
}

/// The last [`CHARTED_DAYS`] days, today (UTC) included.
pub fn charted_range() -> (NaiveDate, NaiveDate) {
    let today = Utc::now().date_naive();
    let from = today
        .checked_sub_days(Days::new(CHARTED_DAYS - 1))
        .unwrap_or(today);
    (from, today)
}
