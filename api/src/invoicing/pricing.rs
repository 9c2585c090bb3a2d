//! The price list of `[pricing]` as the billing crate's [`PriceList`], and
//! the one computation both `GET /usage`'s estimate and the month's invoice
//! make from a period's usage: the same prices, the same per-line rounding.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracepipe_billing::{
    compute_invoice, InvoiceDraft, InvoiceError, Period, PeriodUsage, PriceError, PriceList,
    TokenCounts, TokenPrices, UnitPrice,
};

use crate::control::StoredObject;
use crate::serve::config::PricingConfig;

const BYTES_PER_GB: f64 = 1e9;
const TOKENS_PRICED_PER_1K_IN_A_MILLION: f64 = 1000.0;
/// The line keys of tokens start so (the billing crate's naming).
const TOKEN_LINE_PREFIX: &str = "tokens:";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    #[error("the price list: {0}")]
    Price(#[from] PriceError),
    #[error("the invoice: {0}")]
    Invoice(#[from] InvoiceError),
    #[error("stored timestamp {text:?}: {reason}")]
    Timestamp { text: String, reason: String },
}

/// Checks every configured price: `(key, what is wrong)`.
pub fn check(pricing: &PricingConfig) -> Result<(), (&'static str, String)> {
    let bad = |key, usd: f64, e: PriceError| Err((key, format!("{usd} is not a price: {e}")));
    if let Err(e) = UnitPrice::from_usd(pricing.usd_per_gb_hour) {
        return bad("pricing.usd_per_gb_hour", pricing.usd_per_gb_hour, e);
    }
    if let Err(e) = per_million(pricing.usd_per_1k_tokens) {
        return bad("pricing.usd_per_1k_tokens", pricing.usd_per_1k_tokens, e);
    }
    for (model, price) in &pricing.models {
        if let Err(e) = per_million(price.usd_per_1k_tokens) {
            return Err((
                "pricing.models",
                format!("{model}: {} is not a price: {e}", price.usd_per_1k_tokens),
            ));
        }
    }
    Ok(())
}

fn per_million(usd_per_1k: f64) -> Result<UnitPrice, PriceError> {
    UnitPrice::from_usd(usd_per_1k * TOKENS_PRICED_PER_1K_IN_A_MILLION)
}

/// The price list for `models` (keyed `provider/name`): each at its own
/// price, or the default of `usd_per_1k_tokens`. Usage counts a model's
/// tokens without telling input from output, so both directions cost the
/// same.
pub fn price_list<'a>(
    pricing: &PricingConfig,
    models: impl IntoIterator<Item = &'a String>,
) -> Result<PriceList, PriceError> {
    let mut priced = BTreeMap::new();
    for model in models {
        let usd_per_1k = pricing
            .models
            .get(model)
            .map_or(pricing.usd_per_1k_tokens, |p| p.usd_per_1k_tokens);
        let price = per_million(usd_per_1k)?;
        priced.insert(
            model.clone(),
            TokenPrices {
                usd_per_million_input: price,
                usd_per_million_output: price,
            },
        );
    }
    Ok(PriceList {
        usd_per_gb_hour: UnitPrice::from_usd(pricing.usd_per_gb_hour)?,
        models: priced,
    })
}

/// Stored gigabytes × hours from `start` (or each object's creation, if
/// later) until `until`.
pub fn gb_hours(
    objects: &[StoredObject],
    start: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<f64, PricingError> {
    let mut total = 0.0;
    for o in objects {
        let created = DateTime::parse_from_rfc3339(&o.created_at)
            .map_err(|e| PricingError::Timestamp {
                text: o.created_at.clone(),
                reason: e.to_string(),
            })?
            .with_timezone(&Utc);
        let from = created.max(start);
        if from < until {
            let hours = (until - from).num_milliseconds() as f64 / 3_600_000.0;
            total += o.bytes as f64 / BYTES_PER_GB * hours;
        }
    }
    Ok(total)
}

/// The invoice of `period` for tokens by model (`provider/name`) and
/// GB-hours, at `pricing`: one line per model's tokens and one for storage,
/// each rounded to the cent half-up.
pub fn invoice_draft(
    period: Period,
    tokens_by_model: &BTreeMap<String, i64>,
    gb_hours: f64,
    pricing: &PricingConfig,
) -> Result<InvoiceDraft, PricingError> {
    let usage = PeriodUsage {
        tokens_by_model: tokens_by_model
            .iter()
            .map(|(model, &tokens)| {
                let counts = TokenCounts {
                    // Undivided counts go on one line per model.
                    input: u64::try_from(tokens).unwrap_or(0),
                    output: 0,
                };
                (model.clone(), counts)
            })
            .collect(),
        gb_hours,
    };
    let prices = price_list(pricing, tokens_by_model.keys())?;
    let mut draft = compute_invoice(period, &usage, &prices)?;
    for line in &mut draft.lines {
        if let Some(model) = line
            .key
            .strip_prefix(TOKEN_LINE_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model)
        {
            // The count is all of the model's tokens, not only its input.
            line.description = format!("{model} — tokens");
        }
    }
    Ok(draft)
}

/// A draft's amounts in cents: (tokens, storage, total).
pub fn split_cents(draft: &InvoiceDraft) -> (i64, i64, i64) {
    let tokens = draft
        .lines
        .iter()
        .filter(|l| l.key.starts_with(TOKEN_LINE_PREFIX))
        .map(|l| l.amount_cents)
        .sum::<i64>();
    (tokens, draft.total_cents - tokens, draft.total_cents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::ModelPrice;

    fn pricing() -> PricingConfig {
        PricingConfig {
            usd_per_gb_hour: 0.5,
            usd_per_1k_tokens: 0.002,
            models: BTreeMap::from([(
                "openai/gpt-4o".to_owned(),
                ModelPrice {
                    usd_per_1k_tokens: 0.01,
                },
            )]),
        }
    }

    #[test]
    fn a_model_without_its_own_price_pays_the_default() {
        let tokens = BTreeMap::from([
            ("openai/gpt-4o".to_owned(), 150_000),
            ("rules/gmail".to_owned(), 2_500),
        ]);
        let period: Period = "2026-11".parse().expect("period");
        let draft = invoice_draft(period, &tokens, 3.0, &pricing()).expect("draft");
        let lines: Vec<(&str, &str, i64)> = draft
            .lines
            .iter()
            .map(|l| (l.key.as_str(), l.description.as_str(), l.amount_cents))
            .collect();
        assert_eq!(
            lines,
            [
                // 150 000 tokens at $0.01 per 1 000: $1.50.
                ("tokens:input:openai/gpt-4o", "openai/gpt-4o — tokens", 150),
                // 2 500 at the default $0.002 per 1 000: half a cent, up.
                ("tokens:input:rules/gmail", "rules/gmail — tokens", 1),
                ("storage:gb-hours", "Storage — GB-hours", 150),
            ]
        );
        assert_eq!(split_cents(&draft), (151, 150, 301));
    }

    #[test]
    fn prices_are_checked() {
        let mut p = pricing();
        assert!(check(&p).is_ok());
        p.models.insert(
            "x/y".to_owned(),
            ModelPrice {
                usd_per_1k_tokens: -1.0,
            },
        );
        assert_eq!(check(&p).expect_err("negative").0, "pricing.models");
        p.usd_per_gb_hour = f64::NAN;
        assert_eq!(check(&p).expect_err("NaN").0, "pricing.usd_per_gb_hour");
    }
}
