//! The billing period: one calendar month in UTC, written `YYYY-MM`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A calendar month in UTC. Invoices are per account and `Period`; its text
/// form (`2026-11`) is what the command line, the API and the idempotency
/// keys sent to Stripe use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeriodError {
    #[error("{0:?} is not a month: expected YYYY-MM, e.g. 2026-11")]
    Malformed(String),
    #[error("month {month} of {year} is out of range")]
    OutOfRange { year: i32, month: u32 },
}

impl Period {
    /// Years 1000–9999 only, so that the text form is always `YYYY-MM` and
    /// sorts like the periods do.
    pub fn new(year: i32, month: u32) -> Result<Period, PeriodError> {
        if !(1000..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError::OutOfRange { year, month });
        }
        Ok(Period { year, month })
    }

    /// The month `at` falls in.
    pub fn containing(at: DateTime<Utc>) -> Period {
        Period {
            year: at.year(),
            month: at.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The first instant of the month (inclusive).
    pub fn start(self) -> DateTime<Utc> {
        first_instant(self.year, self.month)
    }

    /// The first instant of the next month (exclusive): usage at `end()`
    /// belongs to the next period.
    pub fn end(self) -> DateTime<Utc> {
        let next = self.next();
        first_instant(next.year, next.month)
    }

    pub fn contains(self, at: DateTime<Utc>) -> bool {
        self.start() <= at && at < self.end()
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

fn first_instant(year: i32, month: u32) -> DateTime<Utc> {
    // Period's constructors keep year and month in range, and every month has
    // a first day, so there is nothing to fail here.
    let day = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(text: &str) -> Result<Period, PeriodError> {
        let malformed = || PeriodError::Malformed(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(malformed)?;
        let digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return Err(malformed());
        }
        let year = year.parse().map_err(|_| malformed())?;
        let month = month.parse().map_err(|_| malformed())?;
        Period::new(year, month)
    }
}

impl TryFrom<String> for Period {
    type Error = PeriodError;

    fn try_from(text: String) -> Result<Period, PeriodError> {
        text.parse()
    }
}

impl From<Period> for String {
    fn from(period: Period) -> String {
        period.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("timestamp")
            .with_timezone(&Utc)
    }

    #[test]
    fn parses_and_formats_the_month() {
        let p: Period = "2026-11".parse().expect("period");
        assert_eq!((p.year(), p.month()), (2026, 11));
        assert_eq!(p.to_string(), "2026-11");
        assert_eq!(Period::new(2027, 1).expect("period").to_string(), "2027-01");
    }

    #[test]
    fn refuses_what_is_not_yyyy_mm() {
        for text in [
            "",
            "2026",
            "2026-1",
            "2026-001",
            "26-11",
            "2026/11",
            "2026-13",
            "2026-00",
            "+202-11",
            "2026-1a",
            "2026-11-01",
            " 2026-11",
        ] {
            assert!(text.parse::<Period>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn bounds_are_utc_month_starts_end_exclusive() {
        let nov: Period = "2026-11".parse().expect("period");
        assert_eq!(nov.start(), at("2026-11-01T00:00:00Z"));
        assert_eq!(nov.end(), at("2026-12-01T00:00:00Z"));
        let dec: Period = "2026-12".parse().expect("period");
        assert_eq!(dec.end(), at("2027-01-01T00:00:00Z"));
        assert_eq!(dec.next().to_string(), "2027-01");
        assert_eq!(dec.next().previous(), dec);
        let feb_leap: Period = "2028-02".parse().expect("period");
        assert_eq!(feb_leap.end(), at("2028-03-01T00:00:00Z"));
    }

    #[test]
    fn an_instant_belongs_to_exactly_one_month() {
        let nov: Period = "2026-11".parse().expect("period");
        assert!(nov.contains(at("2026-11-01T00:00:00Z")));
        assert!(nov.contains(at("2026-11-30T23:59:59.999Z")));
        assert!(!nov.contains(at("2026-12-01T00:00:00Z")));
        assert_eq!(Period::containing(at("2026-12-01T00:00:00Z")), nov.next());
        // An offset is converted to UTC first: this is already December in UTC.
        assert_eq!(
            Period::containing(at("2026-11-30T20:00:00-05:00")).to_string(),
            "2026-12"
        );
    }

    #[test]
    fn serialises_as_its_text() {
        let p: Period = "2026-11".parse().expect("period");
        assert_eq!(serde_json::to_string(&p).expect("json"), "\"2026-11\"");
        let back: Period = serde_json::from_str("\"2026-11\"").expect("json");
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Period>("\"2026-13\"").is_err());
    }
}
