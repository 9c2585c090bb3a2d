//! Which Examples an export takes, decided as early as possible: whole
//! `suite=`/`date=` directories ([`Filters::admits_partition`]), whole row
//! groups from their statistics ([`Filters::may_match`]), then row by row
//! ([`Filters::admits`]).
//!
//! Always left out, whatever the filters: Examples that are not `COMPLETED`
//! and Examples without tool calls, neither of which is training data.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

/// The only status whose Examples are exported.
pub const COMPLETED: &str = "COMPLETED";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("{0:?} is neither a date (2026-01-06) nor an RFC 3339 time (2026-01-06T12:00:00Z)")]
    Time(String),
    #[error("--min-confidence {0} is not between 0 and 1")]
    Confidence(f64),
    #[error("--since {since} is not before --until {until}")]
    EmptyRange {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// A time bound: an RFC 3339 time, or a date meaning its UTC midnight.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, FilterError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| date.and_time(NaiveTime::MIN).and_utc())
        .map_err(|_| FilterError::Time(text.to_owned()))
}

/// The export's filters; an empty set or `None` admits everything.
///
/// Serialised into the manifest as given, so that the export can be repeated.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filters {
    /// Keys in alphabetical order: the manifest's order.
    pub drop_low_confidence: bool,
    /// Only Examples every tool result of which the recording showed
    /// (judged on the conversation exported, so on the reviewed one too).
    pub grounded_only: bool,
    /// Examples whose least confident action is at least this.
    pub min_confidence: Option<f64>,
    /// Model names (`model_name`).
    pub models: BTreeSet<String>,
    /// Only Examples whose review was completed, with their reviewed
    /// conversation (`examples/<id>/reviewed.jsonl`) in place of the table's.
    pub reviewed_only: bool,
    /// Inclusive lower bound on `created_at`.
    pub since: Option<DateTime<Utc>>,
    pub suites: BTreeSet<String>,
    /// Exclusive upper bound on `created_at`.
    pub until: Option<DateTime<Utc>>,
}

/// What a row group's statistics say; `None` where the file does not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// `created_at` in microseconds since the epoch.
    pub created_at: Option<(i64, i64)>,
    pub model_name: Option<(String, String)>,
    pub status: Option<(String, String)>,
    pub max_action_count: Option<i32>,
    pub min_low_confidence_count: Option<i32>,
    /// The greatest `min_confidence`, and whether the group has nulls there.
    pub max_min_confidence: Option<f64>,
    pub min_confidence_nulls: Option<u64>,
}

/// The columns [`Filters::admits`] looks at, for one Example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowView<'a> {
    pub status: &'a str,
    pub model_name: &'a str,
    pub created_at_us: i64,
    pub action_count: i32,
    pub low_confidence_count: i32,
    pub min_confidence: Option<f64>,
}

impl Filters {
    pub fn check(&self) -> Result<(), FilterError> {
        if let Some(c) = self.min_confidence {
            if !(0.0..=1.0).contains(&c) {
                return Err(FilterError::Confidence(c));
            }
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(FilterError::EmptyRange { since, until });
            }
        }
        Ok(())
    }

    /// Whether a Hive directory `column=value` can hold a matching row.
    /// Only `suite` is judged. `date` is the day the session was recorded,
    /// which says nothing about `created_at`, what `--since`/`--until` bound:
    /// a session recorded last month may have been processed today.
    pub fn admits_partition(&self, column: &str, value: &str) -> bool {
        match column {
            "suite" => self.suites.is_empty() || self.suites.contains(value),
            _ => true,
        }
    }

    /// Whether a row group with these statistics can hold a matching row.
    pub fn may_match(&self, stats: &GroupStats) -> bool {
        if let Some((min, max)) = &stats.status {
            if min == max && min != COMPLETED {
                return false;
            }
        }
        if stats.max_action_count.is_some_and(|max| max <= 0) {
            return false;
        }
        if let Some((min, max)) = stats.created_at {
            if self
                .since
                .is_some_and(|since| max < since.timestamp_micros())
            {
                return false;
            }
            if self
                .until
                .is_some_and(|until| min >= until.timestamp_micros())
            {
                return false;
            }
        }
        if let Some((min, max)) = &stats.model_name {
            if !self.models.is_empty()
                && !self
                    .models
                    .iter()
                    .any(|m| m.as_str() >= min.as_str() && m.as_str() <= max.as_str())
            {
                return false;
            }
        }
        if self.drop_low_confidence && stats.min_low_confidence_count.is_some_and(|min| min > 0) {
            return false;
        }
        if let (Some(threshold), Some(max), Some(0)) = (
            self.min_confidence,
            stats.max_min_confidence,
            stats.min_confidence_nulls,
        ) {
            if max < threshold {
                return false;
            }
        }
        true
    }

    /// Whether one Example is exported.
    pub fn admits(&self, row: &RowView<'_>) -> bool {
        row.status == COMPLETED
            && row.action_count > 0
            && (self.models.is_empty() || self.models.contains(row.model_name))
            && self
                .since
                .is_none_or(|since| row.created_at_us >= since.timestamp_micros())
            && self
                .until
                .is_none_or(|until| row.created_at_us < until.timestamp_micros())
            && !(self.drop_low_confidence && row.low_confidence_count > 0)
            && match (self.min_confidence, row.min_confidence) {
                (Some(threshold), Some(least)) => least >= threshold,
                // No actions, no confidence to fall short; such rows are left
                // out by action_count anyway.
                _ => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).expect("time")
    }

    fn row() -> RowView<'static> {
        RowView {
            status: COMPLETED,
            model_name: "rules",
            created_at_us: at("2026-01-06T12:00:00Z").timestamp_micros(),
            action_count: 2,
            low_confidence_count: 0,
            min_confidence: Some(0.8),
        }
    }

    #[test]
    fn times_are_dates_or_rfc3339() {
        assert_eq!(at("2026-01-06"), at("2026-01-06T00:00:00Z"));
        assert_eq!(at("2026-01-06T01:00:00+01:00"), at("2026-01-06T00:00:00Z"));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn partitions_are_pruned_by_suite_only() {
        let filters = Filters {
            suites: ["gmail".to_owned()].into(),
            since: Some(at("2026-01-06T12:00:00Z")),
            until: Some(at("2026-01-07")),
            ..Filters::default()
        };
        assert!(filters.admits_partition("suite", "gmail"));
        assert!(!filters.admits_partition("suite", "google docs"));
        // The recording's day is no bound on when its Example was made.
        assert!(filters.admits_partition("date", "2026-01-05"));
        assert!(filters.admits_partition("date", "__HIVE_DEFAULT_PARTITION__"));
        assert!(filters.admits_partition("mcp", "x"));
        assert!(Filters::default().admits_partition("suite", "anything"));
    }

    #[test]
    fn row_groups_are_pruned_by_statistics() {
        let day = |d: &str| at(d).timestamp_micros();
        let stats = GroupStats {
            created_at: Some((day("2026-01-05"), day("2026-01-06"))),
            model_name: Some(("gpt".to_owned(), "rules".to_owned())),
            status: Some((COMPLETED.to_owned(), COMPLETED.to_owned())),
            max_action_count: Some(3),
            min_low_confidence_count: Some(0),
            max_min_confidence: Some(0.7),
            min_confidence_nulls: Some(0),
        };
        let all = Filters::default();
        assert!(all.may_match(&stats));
        assert!(all.may_match(&GroupStats::default()));
        let later = Filters {
            since: Some(at("2026-01-06T00:00:01Z")),
            ..Filters::default()
        };
        assert!(!later.may_match(&stats));
        let earlier = Filters {
            until: Some(at("2026-01-05")),
            ..Filters::default()
        };
        assert!(!earlier.may_match(&stats));
        let model = |m: &str| Filters {
            models: [m.to_owned()].into(),
            ..Filters::default()
        };
        assert!(model("llm").may_match(&stats));
        assert!(!model("zeta").may_match(&stats));
        let confident = Filters {
            min_confidence: Some(0.75),
            ..Filters::default()
        };
        assert!(!confident.may_match(&stats));
        let with_nulls = GroupStats {
            min_confidence_nulls: Some(1),
            ..stats.clone()
        };
        assert!(confident.may_match(&with_nulls));
        let strict = Filters {
            drop_low_confidence: true,
            ..Filters::default()
        };
        assert!(strict.may_match(&stats));
        let all_low = GroupStats {
            min_low_confidence_count: Some(1),
            ..stats.clone()
        };
        assert!(!strict.may_match(&all_low));
        let failed = GroupStats {
            status: Some(("FAILED".to_owned(), "FAILED".to_owned())),
            ..stats.clone()
        };
        assert!(!all.may_match(&failed));
        let empty = GroupStats {
            max_action_count: Some(0),
            ..stats
        };
        assert!(!all.may_match(&empty));
    }

    #[test]
    fn rows_are_filtered() {
        let all = Filters::default();
        assert!(all.admits(&row()));
        assert!(!all.admits(&RowView {
            status: "FAILED",
            ..row()
        }));
        assert!(!all.admits(&RowView {
            action_count: 0,
            ..row()
        }));
        let f = Filters {
            min_confidence: Some(0.8),
            drop_low_confidence: true,
            models: ["rules".to_owned()].into(),
            since: Some(at("2026-01-06T12:00:00Z")),
            until: Some(at("2026-01-06T12:00:00.000001Z")),
            ..Filters::default()
        };
        assert!(f.admits(&row()));
        assert!(!f.admits(&RowView {
            min_confidence: Some(0.79),
            ..row()
        }));
        assert!(!f.admits(&RowView {
            low_confidence_count: 1,
            ..row()
        }));
        assert!(!f.admits(&RowView {
            model_name: "gpt",
            ..row()
        }));
        assert!(!f.admits(&RowView {
            created_at_us: row().created_at_us + 1,
            ..row()
        }));
    }

    #[test]
    fn checks_its_own_settings() {
        let bad = Filters {
            min_confidence: Some(1.5),
            ..Filters::default()
        };
        assert_eq!(bad.check(), Err(FilterError::Confidence(1.5)));
        let empty = Filters {
            since: Some(at("2026-01-06")),
            until: Some(at("2026-01-06")),
            ..Filters::default()
        };
        assert!(matches!(empty.check(), Err(FilterError::EmptyRange { .. })));
    }
}
