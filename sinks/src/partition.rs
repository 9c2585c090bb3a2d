//! Hive-style partition directories (`suite=gmail/date=2026-01-06`).
//!
//! Values are percent-encoded byte by byte, keeping only `A-Z a-z 0-9 _ - .`,
//! which is the encoding DuckDB's own partitioned writer uses and the one that
//! DuckDB (`hive_partitioning=true`) and pyarrow (`partitioning="hive"`) decode
//! when they turn the directory names back into column values.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};
use object_store::path::Path;

use crate::SinkError;

/// The partition column holding the Suite name.
pub const SUITE_COLUMN: &str = "suite";
/// The partition column holding the UTC calendar day (`YYYY-MM-DD`) on which
/// the session was recorded.
pub const DATE_COLUMN: &str = "date";
/// Hive's spelling of a missing partition value, which DuckDB and pyarrow read
/// back as NULL.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// An ordered list of `column=value` directory levels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HivePartition {
    /// Already-encoded path segments, so routing and path building never re-encode.
    segments: Vec<String>,
}

impl HivePartition {
    /// The `suite=<suite>/date=<YYYY-MM-DD>` partition of the analyst tables:
    /// the UTC day the session was recorded, so that processing it again on
    /// any later day writes to the same place. A session whose recording
    /// carries no clock goes to `date=__HIVE_DEFAULT_PARTITION__` (a NULL
    /// date to DuckDB and pyarrow), the same place on every run.
    pub fn suite_date(
        suite: &str,
        session_started_at: Option<DateTime<Utc>>,
    ) -> Result<Self, SinkError> {
        let date = session_started_at.map(|at| at.date_naive().format("%Y-%m-%d").to_string());
        let date = date.as_deref().unwrap_or(HIVE_NULL);
        Self::from_columns([(SUITE_COLUMN, suite), (DATE_COLUMN, date)])
    }

    /// A partition from `(column, value)` pairs, outermost directory first.
    pub fn from_columns<'a>(
        columns: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SinkError> {
        let segments = columns
            .into_iter()
            .map(|(column, value)| segment(column, value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { segments })
    }

    /// `base/column=value/…`.
    pub fn path_under(&self, base: &Path) -> Result<Path, SinkError> {
        if self.segments.is_empty() {
            return Ok(base.clone());
        }
        let relative = self.to_string();
        // `Path::parse` keeps the already-encoded segments verbatim, where
        // `Path::child` would encode each `%` a second time.
        let joined = if base.as_ref().is_empty() {
            relative
        } else {
            format!("{base}/{relative}")
        };
        Ok(Path::parse(joined)?)
    }
}

impl fmt::Display for HivePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("/"))
    }
}

fn segment(column: &str, value: &str) -> Result<String, SinkError> {
    let invalid = |value: &str, reason| SinkError::PartitionValue {
        column: column.to_owned(),
        value: value.to_owned(),
        reason,
    };
    // Column names are ours, not data; anything but a plain identifier is a bug.
    if column.is_empty()
        || !column
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(invalid(column, "is not a plain column name"));
    }
    // Hive spells a missing value `__HIVE_DEFAULT_PARTITION__`, which readers turn
    // into NULL; an empty string would be silently changed, so refuse it.
    if value.is_empty() {
        return Err(invalid(value, "is empty"));
    }
    let mut out = String::with_capacity(column.len() + 1 + value.len());
    out.push_str(column);
    out.push('=');
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid test date")
    }

    #[test]
    fn a_session_without_a_clock_has_the_null_date() {
        let p = HivePartition::suite_date("gmail", None).expect("partition");
        assert_eq!(p.to_string(), "suite=gmail/date=__HIVE_DEFAULT_PARTITION__");
    }

    #[test]
    fn suite_date_uses_the_utc_day() {
        let p = HivePartition::suite_date("gmail", Some(at(2026, 1, 6, 23))).expect("partition");
        assert_eq!(p.to_string(), "suite=gmail/date=2026-01-06");
        let path = p
            .path_under(&Path::from("out/tables/examples"))
            .expect("path");
        assert_eq!(
            path.as_ref(),
            "out/tables/examples/suite=gmail/date=2026-01-06"
        );
    }

    #[test]
    fn special_characters_are_percent_encoded_once() {
        let p = HivePartition::from_columns([("suite", "Google Docs/50%=x")]).expect("partition");
        assert_eq!(p.to_string(), "suite=Google%20Docs%2F50%25%3Dx");
        let path = p.path_under(&Path::default()).expect("path");
        assert_eq!(path.as_ref(), "suite=Google%20Docs%2F50%25%3Dx");
        assert_eq!(path.parts().count(), 1);
    }

    #[test]
    fn empty_values_and_odd_columns_are_refused() {
        assert!(matches!(
            HivePartition::from_columns([("suite", "")]),
            Err(SinkError::PartitionValue { .. })
        ));
        assert!(matches!(
            HivePartition::from_columns([("su/ite", "x")]),
            Err(SinkError::PartitionValue { .. })
        ));
    }
}
