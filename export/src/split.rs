//! Deterministic train/validation/… splits.
//!
//! An Example's split is a function of its id alone: the first 53 bits of
//! SHA-256(id), read as a fraction of 2^53, fall into one of the splits'
//! consecutive intervals. The same id lands in the same split on every run and
//! machine, whatever else the source holds, so adding Examples never moves the
//! ones already exported from validation into train.

use sha2::{Digest, Sha256};

/// A split name is also a file name; keep it to characters every store and
/// trainer takes without quoting.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    #[error("split {0:?}: expected NAME=WEIGHT, as in train=0.9")]
    Syntax(String),
    #[error("split name {0:?}: use letters, digits, `_` and `-` (at most 64)")]
    Name(String),
    #[error("split {name:?}: weight {weight:?} is not a positive number")]
    Weight { name: String, weight: String },
    #[error("split {0:?} is named twice")]
    Duplicate(String),
    #[error("no split given")]
    Empty,
}

/// Named splits with their shares, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSpec {
    names: Vec<String>,
    /// The shares as given, normalised to sum to 1.
    fractions: Vec<f64>,
    /// Upper bound of each split's interval on [0, 2^53); the last is 2^53.
    bounds: Vec<u64>,
}

/// Ids hash to 53-bit integers: exactly representable in an f64, so the
/// interval bounds are computed once and compared as integers.
const SCALE: u64 = 1 << 53;

impl SplitSpec {
    /// Parses `train=0.9,validation=0.1`. Weights need not sum to 1: they are
    /// shares (`train=9,validation=1` is the same split).
    pub fn parse(spec: &str) -> Result<SplitSpec, SplitError> {
        let mut names: Vec<String> = Vec::new();
        let mut weights = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| SplitError::Syntax(part.to_owned()))?;
            let (name, weight) = (name.trim(), weight.trim());
            if !valid_name(name) {
                return Err(SplitError::Name(name.to_owned()));
            }
            if names.iter().any(|n| n == name) {
                return Err(SplitError::Duplicate(name.to_owned()));
            }
            let value: f64 = weight
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w > 0.0)
                .ok_or_else(|| SplitError::Weight {
                    name: name.to_owned(),
                    weight: weight.to_owned(),
                })?;
            names.push(name.to_owned());
            weights.push(value);
        }
        if names.is_empty() {
            return Err(SplitError::Empty);
        }
        let total: f64 = weights.iter().sum();
        let fractions: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let mut bounds = Vec::with_capacity(fractions.len());
        let mut cumulative = 0.0;
        for (i, fraction) in fractions.iter().enumerate() {
            cumulative += fraction;
            // The last interval ends at the top whatever rounding left over, so
            // every id has a split.
            let bound = if i + 1 == fractions.len() {
                SCALE
            } else {
                // cumulative is in [0, 1]: the product fits and truncation is the
                // intended floor.
                (cumulative.min(1.0) * SCALE as f64) as u64
            };
            bounds.push(bound);
        }
        Ok(SplitSpec {
            names,
            fractions,
            bounds,
        })
    }

    /// The split names, in the order given.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Each split's share of the whole, in the order given.
    pub fn fractions(&self) -> &[f64] {
        &self.fractions
    }

    /// The index (into [`Self::names`]) of the split `example_id` belongs to.
    pub fn assign(&self, example_id: &str) -> usize {
        let point = id_point(example_id);
        self.bounds
            .iter()
            .position(|&bound| point < bound)
            .unwrap_or(self.bounds.len() - 1)
    }
}

/// The id's position in [0, 2^53): the top 53 bits of SHA-256(id).
fn id_point(example_id: &str) -> u64 {
    let digest = Sha256::digest(example_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_shares() {
        let spec = SplitSpec::parse("train=9, validation=1").expect("spec");
        assert_eq!(spec.names(), ["train", "validation"]);
        assert!((spec.fractions()[0] - 0.9).abs() < 1e-12);
        assert_eq!(spec.bounds.last(), Some(&SCALE));
    }

    #[test]
    fn refuses_bad_specs() {
        assert_eq!(SplitSpec::parse(""), Err(SplitError::Empty));
        assert!(matches!(
            SplitSpec::parse("train"),
            Err(SplitError::Syntax(_))
        ));
        assert!(matches!(
            SplitSpec::parse("tr ain=1"),
            Err(SplitError::Name(_))
        ));
        assert!(matches!(
            SplitSpec::parse("../x=1"),
            Err(SplitError::Name(_))
        ));
        assert!(matches!(
            SplitSpec::parse("train=0"),
            Err(SplitError::Weight { .. })
        ));
        assert!(matches!(
            SplitSpec::parse("train=-1"),
            Err(SplitError::Weight { .. })
        ));
        assert!(matches!(
            SplitSpec::parse("train=NaN"),
            Err(SplitError::Weight { .. })
        ));
        assert!(matches!(
            SplitSpec::parse("train=1,train=2"),
            Err(SplitError::Duplicate(_))
        ));
    }

    #[test]
    fn assignment_is_a_function_of_the_id() {
        let spec = SplitSpec::parse("train=0.8,validation=0.1,test=0.1").expect("spec");
        // Pinned: these must never change, or exported datasets would move
        // Examples between splits from one Tracepipe version to the next.
        let assigned: Vec<usize> = (0..8)
            .map(|i| spec.assign(&format!("00000000-0000-4000-8000-{i:012}")))
            .collect();
        assert_eq!(assigned, [1, 0, 2, 0, 0, 0, 0, 0]);
        assert_eq!(id_point("abc"), {
            // SHA-256("abc") begins ba7816bf8f01cfea.
            0xba78_16bf_8f01_cfea_u64 >> 11
        });
    }

    #[test]
    fn shares_are_respected_over_many_ids() {
        let spec = SplitSpec::parse("train=0.9,validation=0.1").expect("spec");
        let mut counts = [0usize; 2];
        for i in 0..20_000 {
            counts[spec.assign(&format!("example-{i}"))] += 1;
        }
        let validation = counts[1] as f64 / 20_000.0;
        assert!(
            (validation - 0.1).abs() < 0.01,
            "validation share {validation}"
        );
    }

    #[test]
    fn a_single_split_takes_everything() {
        let spec = SplitSpec::parse("all=1").expect("spec");
        assert!((0..1000).all(|i| spec.assign(&i.to_string()) == 0));
    }
}
