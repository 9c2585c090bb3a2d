//! A month's invoice, computed from its usage and the price list, without any
//! I/O: one line per metered item (input tokens and output tokens of each
//! model, storage in GB-hours), each priced and rounded to the cent on its
//! own, the total the sum of the lines.
//!
//! Money is integer arithmetic throughout: prices are held in nano-dollars
//! (10⁻⁹ USD) per unit, amounts in cents, so a line's amount is exact before
//! its one rounding (half-up) and sums never drift.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::period::Period;

/// The only currency Tracepipe bills in (ISO 4217, lower case as Stripe
/// writes it).
pub const CURRENCY: &str = "usd";

const NANO_PER_USD: i128 = 1_000_000_000;
const CENTS_PER_USD: i128 = 100;
/// Token prices are per million tokens.
const TOKENS_PER_PRICED_UNIT: i128 = 1_000_000;
/// GB-hours are billed in millionths (one kilobyte for one hour), which is
/// far below a cent at any plausible price and keeps the quantity shown on
/// the line exactly the one that was multiplied.
const MICRO_PER_UNIT: i128 = 1_000_000;

/// A price in US dollars per unit, held exactly in nano-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "f64")]
pub struct UnitPrice {
    nano_usd: i64,
}

impl UnitPrice {
    /// From the nano-dollars [`UnitPrice::nano_usd`] gives (e.g. as a ledger
    /// stored them).
    pub fn from_nano_usd(nano_usd: i64) -> Result<UnitPrice, PriceError> {
        if nano_usd < 0 {
            return Err(PriceError::Negative(nano_usd as f64 / NANO_PER_USD as f64));
        }
        Ok(UnitPrice { nano_usd })
    }

    /// From a configured amount in dollars (e.g. `0.0001`), rounded to the
    /// nearest nano-dollar, the precision prices are kept in.
    pub fn from_usd(usd: f64) -> Result<UnitPrice, PriceError> {
        if !usd.is_finite() {
            return Err(PriceError::NotFinite);
        }
        if usd < 0.0 {
            return Err(PriceError::Negative(usd));
        }
        let nano = (usd * NANO_PER_USD as f64).round();
        if nano > i64::MAX as f64 {
            return Err(PriceError::TooLarge(usd));
        }
        Ok(UnitPrice {
            nano_usd: nano as i64,
        })
    }

    pub fn nano_usd(self) -> i64 {
        self.nano_usd
    }

    pub fn usd(self) -> f64 {
        self.nano_usd as f64 / NANO_PER_USD as f64
    }
}

/// `$2.50`, `$0.0001`: dollars with at least two decimals and no trailing
/// zeros beyond them.
impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nano = self.nano_usd as i128;
        let dollars = nano / NANO_PER_USD;
        let fraction = format!("{:09}", nano % NANO_PER_USD);
        let fraction = fraction.trim_end_matches('0');
        write!(f, "${dollars}.{fraction:0<2}")
    }
}

impl From<UnitPrice> for f64 {
    fn from(price: UnitPrice) -> f64 {
        price.usd()
    }
}

impl<'de> Deserialize<'de> for UnitPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UnitPrice, D::Error> {
        let usd = f64::deserialize(deserializer)?;
        UnitPrice::from_usd(usd).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    #[error("a price must be a finite number")]
    NotFinite,
    #[error("a price cannot be negative ({0})")]
    Negative(f64),
    #[error("{0} USD is beyond the largest price that can be kept")]
    TooLarge(f64),
}

/// What one model's tokens cost, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrices {
    pub usd_per_million_input: UnitPrice,
    pub usd_per_million_output: UnitPrice,
}

/// The one price list everyone pays (no tiers, no subscriptions): tokens by
/// model (keyed `provider/name`, as usage is) and storage by the GB-hour.
/// Deserialises from e.g.
/// `{"usd_per_gb_hour": 0.0001, "models": {"openai/gpt-4o": {"usd_per_million_input": 2.5, "usd_per_million_output": 10}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    pub usd_per_gb_hour: UnitPrice,
    #[serde(default)]
    pub models: BTreeMap<String, TokenPrices>,
}

/// Tokens of AI processing one model used in the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
}

/// What one account used in one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodUsage {
    /// Keyed `provider/name`.
    pub tokens_by_model: BTreeMap<String, TokenCounts>,
    /// Stored gigabytes (10⁹ bytes) × hours stored within the period.
    pub gb_hours: f64,
}

/// How much of a metered item a line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum Quantity {
    /// Priced per million.
    Tokens { count: u64 },
    /// In millionths of a GB-hour; priced per GB-hour.
    GbHours { micro: u64 },
}

impl Quantity {
    pub fn is_zero(self) -> bool {
        match self {
            Quantity::Tokens { count } => count == 0,
            Quantity::GbHours { micro } => micro == 0,
        }
    }

    /// What the unit price of a line with this quantity is per.
    pub fn priced_per(self) -> &'static str {
        match self {
            Quantity::Tokens { .. } => "million tokens",
            Quantity::GbHours { .. } => "GB-hour",
        }
    }

    /// Cents for this quantity at `price` (per million tokens or per
    /// GB-hour), rounded half-up.
    fn amount_cents(self, price: UnitPrice) -> i64 {
        let (quantity, per) = match self {
            Quantity::Tokens { count } => (count as i128, TOKENS_PER_PRICED_UNIT),
            Quantity::GbHours { micro } => (micro as i128, MICRO_PER_UNIT),
        };
        // Both factors are non-negative, so adding half the divisor before
        // the (truncating) division rounds half-up. u64 × i64 fits in i128.
        let numerator = quantity * price.nano_usd as i128 * CENTS_PER_USD;
        let divisor = per * NANO_PER_USD;
        let cents = (numerator + divisor / 2) / divisor;
        // u64::MAX × i64::MAX / 10¹³ still exceeds i64 in theory; saturate
        // rather than wrap (no real usage gets near).
        i64::try_from(cents).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Quantity::Tokens { count } => write!(f, "{count} tokens"),
            Quantity::GbHours { micro } => {
                write!(f, "{}.{:06} GB-hours", micro / 1_000_000, micro % 1_000_000)
            }
        }
    }
}

/// One metered item of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InvoiceLine {
    /// Stable within an invoice, and part of the idempotency key of the
    /// Stripe invoice item: `tokens:input:<provider/name>`,
    /// `tokens:output:<provider/name>` or `storage:gb-hours`.
    pub key: String,
    pub description: String,
    pub quantity: Quantity,
    /// Per million tokens, or per GB-hour.
    #[cfg_attr(feature = "utoipa", schema(value_type = f64, minimum = 0))]
    pub unit_price: UnitPrice,
    /// In cents (the currency's minor unit), rounded half-up.
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub amount_cents: i64,
}

/// An account's invoice for one period, before it is sent anywhere. No lines
/// means nothing to bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDraft {
    pub period: Period,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines' amounts, in cents.
    pub total_cents: i64,
}

impl InvoiceDraft {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvoiceError {
    /// Billing a model the price list does not know at zero would give the
    /// processing away; refusing makes the operator add its price.
    #[error("model {0:?} used tokens but has no price in the price list")]
    UnpricedModel(String),
    #[error("GB-hours must be a finite, non-negative number, not {0}")]
    InvalidGbHours(f64),
}

pub const STORAGE_LINE_KEY: &str = "storage:gb-hours";

/// The invoice for `usage` in `period` at `prices`: one line per metered item
/// with usage (models in key order, input before output, then storage);
/// items with no usage get no line.
pub fn compute_invoice(
    period: Period,
    usage: &PeriodUsage,
    prices: &PriceList,
) -> Result<InvoiceDraft, InvoiceError> {
    let mut lines = Vec::new();
    for (model, counts) in &usage.tokens_by_model {
        if counts.input == 0 && counts.output == 0 {
            continue;
        }
        let price = prices
            .models
            .get(model)
            .ok_or_else(|| InvoiceError::UnpricedModel(model.clone()))?;
        for (direction, count, unit_price) in [
            ("input", counts.input, price.usd_per_million_input),
            ("output", counts.output, price.usd_per_million_output),
        ] {
            push_line(
                &mut lines,
                format!("tokens:{direction}:{model}"),
                format!("{model} — {direction} tokens"),
                Quantity::Tokens { count },
                unit_price,
            );
        }
    }
    push_line(
        &mut lines,
        STORAGE_LINE_KEY.to_owned(),
        "Storage — GB-hours".to_owned(),
        Quantity::GbHours {
            micro: micro_gb_hours(usage.gb_hours)?,
        },
        prices.usd_per_gb_hour,
    );
    let total_cents = lines.iter().map(|l| l.amount_cents).sum();
    Ok(InvoiceDraft {
        period,
        currency: CURRENCY.to_owned(),
        lines,
        total_cents,
    })
}

fn push_line(
    lines: &mut Vec<InvoiceLine>,
    key: String,
    description: String,
    quantity: Quantity,
    unit_price: UnitPrice,
) {
    if quantity.is_zero() {
        return;
    }
    lines.push(InvoiceLine {
        key,
        description,
        quantity,
        unit_price,
        amount_cents: quantity.amount_cents(unit_price),
    });
}

/// GB-hours in millionths, rounded half-up.
fn micro_gb_hours(gb_hours: f64) -> Result<u64, InvoiceError> {
    if !gb_hours.is_finite() || gb_hours < 0.0 {
        return Err(InvoiceError::InvalidGbHours(gb_hours));
    }
    let micro = (gb_hours * MICRO_PER_UNIT as f64 + 0.5).floor();
    if micro >= u64::MAX as f64 {
        return Err(InvoiceError::InvalidGbHours(gb_hours));
    }
    Ok(micro as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period() -> Period {
        "2026-11".parse().expect("period")
    }

    fn usd(x: f64) -> UnitPrice {
        UnitPrice::from_usd(x).expect("price")
    }

    fn prices() -> PriceList {
        PriceList {
            usd_per_gb_hour: usd(0.0001),
            models: BTreeMap::from([
                (
                    "openai/gpt-4o".to_owned(),
                    TokenPrices {
                        usd_per_million_input: usd(2.5),
                        usd_per_million_output: usd(10.0),
                    },
                ),
                (
                    "anthropic/claude".to_owned(),
                    TokenPrices {
                        usd_per_million_input: usd(3.0),
                        usd_per_million_output: usd(15.0),
                    },
                ),
            ]),
        }
    }

    fn usage(models: &[(&str, u64, u64)], gb_hours: f64) -> PeriodUsage {
        PeriodUsage {
            tokens_by_model: models
                .iter()
                .map(|&(m, input, output)| (m.to_owned(), TokenCounts { input, output }))
                .collect(),
            gb_hours,
        }
    }

    #[test]
    fn one_line_per_metered_item_in_a_stable_order() {
        let u = usage(
            &[
                ("openai/gpt-4o", 2_000_000, 500_000),
                ("anthropic/claude", 1_000_000, 0),
            ],
            720_000.0,
        );
        let draft = compute_invoice(period(), &u, &prices()).expect("invoice");
        let lines: Vec<(&str, i64)> = draft
            .lines
            .iter()
            .map(|l| (l.key.as_str(), l.amount_cents))
            .collect();
        assert_eq!(
            lines,
            [
                ("tokens:input:anthropic/claude", 300),
                ("tokens:input:openai/gpt-4o", 500),
                ("tokens:output:openai/gpt-4o", 500),
                ("storage:gb-hours", 7200),
            ]
        );
        assert_eq!(draft.total_cents, 8500);
        assert_eq!(draft.currency, "usd");
        assert_eq!(draft.period, period());
        assert_eq!(
            draft.lines[3].quantity.to_string(),
            "720000.000000 GB-hours"
        );
    }

    #[test]
    fn no_usage_is_a_valid_invoice_with_nothing_to_bill() {
        let u = usage(&[("openai/gpt-4o", 0, 0)], 0.0);
        let draft = compute_invoice(period(), &u, &prices()).expect("invoice");
        assert!(draft.is_empty());
        assert_eq!(draft.total_cents, 0);
        let nothing =
            compute_invoice(period(), &PeriodUsage::default(), &prices()).expect("invoice");
        assert!(nothing.is_empty());
    }

    #[test]
    fn each_line_rounds_half_up_on_its_own() {
        // 2 000 tokens at $2.50/M = 0.5 cent exactly → 1 cent; 1 999 → 0.49975 → 0.
        let price = prices();
        let at = |input: u64| {
            let u = usage(&[("openai/gpt-4o", input, 0)], 0.0);
            compute_invoice(period(), &u, &price)
                .expect("invoice")
                .lines[0]
                .amount_cents
        };
        assert_eq!(at(2_000), 1);
        assert_eq!(at(1_999), 0);
        assert_eq!(at(6_000), 2); // 1.5 cents → 2
        assert_eq!(at(10_000), 3); // 2.5 cents → 3 (half-up, not to even)
                                   // Two half cents on two lines are two cents, not the one cent the
                                   // summed usage would make: lines are rounded, then added.
        let u = usage(&[("openai/gpt-4o", 2_000, 500)], 0.0);
        let draft = compute_invoice(period(), &u, &price).expect("invoice");
        assert_eq!(
            draft
                .lines
                .iter()
                .map(|l| l.amount_cents)
                .collect::<Vec<_>>(),
            [1, 1]
        );
        assert_eq!(draft.total_cents, 2);
    }

    #[test]
    fn a_price_written_in_decimal_is_not_off_by_a_binary_fraction() {
        // $1.005 for one GB-hour is 100.5 cents, so 101; in f64 arithmetic
        // 1.005 × 100 is 100.4999… and would round to 100.
        let mut p = prices();
        p.usd_per_gb_hour = usd(1.005);
        let u = usage(&[], 1.0);
        assert_eq!(
            compute_invoice(period(), &u, &p).expect("invoice").lines[0].amount_cents,
            101
        );
        // $0.000015 per GB-hour, 1 000 GB-hours → 1.5 cents → 2.
        p.usd_per_gb_hour = usd(0.000015);
        let u = usage(&[], 1_000.0);
        assert_eq!(
            compute_invoice(period(), &u, &p).expect("invoice").lines[0].amount_cents,
            2
        );
    }

    #[test]
    fn tiny_usage_keeps_its_line_at_zero_cents_and_never_goes_negative() {
        let u = usage(&[("openai/gpt-4o", 1, 1)], 0.000_001);
        let draft = compute_invoice(period(), &u, &prices()).expect("invoice");
        assert_eq!(draft.lines.len(), 3);
        assert!(draft.lines.iter().all(|l| l.amount_cents == 0));
        assert_eq!(draft.total_cents, 0);
        // Below half a millionth of a GB-hour is no storage at all.
        let u = usage(&[], 0.000_000_4);
        assert!(compute_invoice(period(), &u, &prices())
            .expect("invoice")
            .is_empty());
    }

    #[test]
    fn gb_hours_are_quantised_to_millionths_half_up() {
        assert_eq!(micro_gb_hours(1.000_000_6).expect("q"), 1_000_001);
        assert_eq!(micro_gb_hours(1.000_000_4).expect("q"), 1_000_000);
        assert_eq!(micro_gb_hours(2.75).expect("q"), 2_750_000);
        assert_eq!(micro_gb_hours(0.0).expect("q"), 0);
        for bad in [-0.5, f64::NAN, f64::INFINITY, 1e30] {
            assert!(micro_gb_hours(bad).is_err(), "{bad} was accepted");
        }
        // −0.0 is usage of nothing, not an error and not a line.
        let u = usage(&[], -0.0);
        assert!(compute_invoice(period(), &u, &prices())
            .expect("invoice")
            .is_empty());
    }

    #[test]
    fn a_model_without_a_price_is_refused_not_given_away() {
        let u = usage(&[("local/unknown", 10, 0)], 0.0);
        assert_eq!(
            compute_invoice(period(), &u, &prices()),
            Err(InvoiceError::UnpricedModel("local/unknown".to_owned()))
        );
        // Without usage its missing price does not matter.
        let u = usage(&[("local/unknown", 0, 0)], 0.0);
        assert!(compute_invoice(period(), &u, &prices()).is_ok());
    }

    #[test]
    fn huge_quantities_do_not_overflow() {
        let u = usage(&[("openai/gpt-4o", u64::MAX, 0)], 0.0);
        let draft = compute_invoice(period(), &u, &prices()).expect("invoice");
        // u64::MAX tokens × $2.50/M, in cents.
        assert_eq!(draft.lines[0].amount_cents, 4_611_686_018_427_388);
    }

    #[test]
    fn prices_are_checked_and_read_from_configuration() {
        assert!(UnitPrice::from_usd(-0.01).is_err());
        assert!(UnitPrice::from_usd(f64::NAN).is_err());
        assert!(UnitPrice::from_usd(1e20).is_err());
        assert_eq!(usd(0.0001).nano_usd(), 100_000);
        assert_eq!(UnitPrice::from_nano_usd(100_000), Ok(usd(0.0001)));
        assert!(UnitPrice::from_nano_usd(-1).is_err());
        assert_eq!(usd(0.0001).to_string(), "$0.0001");
        assert_eq!(usd(2.5).to_string(), "$2.50");
        assert_eq!(usd(10.0).to_string(), "$10.00");
        assert_eq!(usd(0.000000001).to_string(), "$0.000000001");
        let list: PriceList = serde_json::from_str(
            r#"{"usd_per_gb_hour": 0.0001,
                "models": {"openai/gpt-4o": {"usd_per_million_input": 2.5, "usd_per_million_output": 10}}}"#,
        )
        .expect("price list");
        assert_eq!(
            list.models["openai/gpt-4o"].usd_per_million_output,
            usd(10.0)
        );
        assert!(serde_json::from_str::<PriceList>(r#"{"usd_per_gb_hour": -1}"#).is_err());
    }

    #[test]
    fn the_draft_round_trips_through_json_for_the_ledger() {
        let u = usage(&[("openai/gpt-4o", 1_234, 56)], 1.5);
        let draft = compute_invoice(period(), &u, &prices()).expect("invoice");
        let json = serde_json::to_string(&draft).expect("json");
        let back: InvoiceDraft = serde_json::from_str(&json).expect("json");
        assert_eq!(back, draft);
    }
}
