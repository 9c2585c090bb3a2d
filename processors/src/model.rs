//! What a classifier model produces, independent of how it works.

use serde::{Deserialize, Serialize};

/// The kinds of model that can classify a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ModelProvider {
    /// The declarative rules engine that ships with Tracepipe.
    Rules,
}

/// Identifies the model (and its version) that produced an Example, for
/// reproducibility and A/B comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    pub provider: ModelProvider,
    pub name: String,
    pub version: String,
}

/// One canonical Suite action recognised in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifiedAction {
    /// The Suite action's name (`send_email`, `read_email`, …).
    pub action: String,
    /// Values of the action's parameters, keyed by ActionParameter name and typed
    /// per its ParameterType.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// How sure the model is, in [0, 1].
    pub confidence: f64,
    /// Below the configured threshold: worth a human look before training on it.
    pub low_confidence: bool,
    /// Indices into `Session::events` that are this action's evidence, ascending.
    pub evidence: Vec<usize>,
    /// Session-clock span of the evidence.
    pub start_us: i64,
    pub end_us: i64,
}
