//! Classifier models: from a normalised session to the Suite actions a person
//! performed in it.
//!
//! A [`Model`] is pluggable. The one that ships is [`RulesModel`] (provider
//! `RULES`): declarative signatures from a suite's `rules.json`, compiled once
//! into matchers and run in one pass over the events. Each action it reports
//! carries typed parameters, a confidence, a low-confidence flag and the indices
//! of the events that are its evidence.

mod engine;
mod rules;

pub use rules::{normalize_label, RulesError};

use crate::catalog::{ParameterType, Suite};
use crate::model::{ClassifiedAction, ModelProvider, ModelRef};
use serde_json::{Map, Value};
use tracepipe_schemas::Session;

/// Anything that can classify a session for one Suite.
pub trait Model: Send + Sync {
    fn model_ref(&self) -> &ModelRef;
    fn classify(&self, session: &Session) -> Vec<ClassifiedAction>;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RulesOptions {
    /// Actions below this confidence are flagged for review.
    pub low_confidence_below: f64,
}

impl Default for RulesOptions {
    fn default() -> Self {
        RulesOptions {
            low_confidence_below: 0.6,
        }
    }
}

/// A suite action's parameter: its name, type and whether it is required.
type TypedParameter = (String, ParameterType, bool);

/// The declarative rules engine.
pub struct RulesModel {
    rules: rules::CompiledRules,
    model: ModelRef,
    /// Per suite action: its name and parameter types, for typing values.
    actions: Vec<(String, Vec<TypedParameter>)>,
    options: RulesOptions,
}

impl RulesModel {
    /// Compiles the rules in `contents` (the file named `file`) for `suite`.
    pub fn from_json(
        file: &str,
        contents: &str,
        suite: &Suite,
        options: RulesOptions,
    ) -> Result<RulesModel, RulesError> {
        let rules = rules::compile(file, contents, suite)?;
        let model = ModelRef {
            provider: ModelProvider::Rules,
            name: rules.model_name.clone(),
            version: rules.model_version.clone(),
        };
        let actions = suite
            .actions
            .iter()
            .map(|a| {
                (
                    a.name.clone(),
                    a.parameters
                        .iter()
                        .map(|p| (p.name.clone(), p.param_type, p.required))
                        .collect(),
                )
            })
            .collect();
        Ok(RulesModel {
            rules,
            model,
            actions,
            options,
        })
    }
}

impl Model for RulesModel {
    fn model_ref(&self) -> &ModelRef {
        &self.model
    }

    fn classify(&self, session: &Session) -> Vec<ClassifiedAction> {
        self.rules
            .run(session)
            .into_iter()
            .map(|c| {
                let (name, params) = &self.actions[c.action];
                let (parameters, complete) = typed(c.params, params);
                // An action missing a value its definition requires is less
                // likely to be what the person did, or was recorded badly.
                let confidence = if complete {
                    c.confidence
                } else {
                    c.confidence * 0.5
                };
                let start_us = c.evidence.first().map_or(0, |&i| session.events[i].t_us);
                let end_us = c.evidence.last().map_or(0, |&i| session.events[i].t_us);
                ClassifiedAction {
                    action: name.clone(),
                    parameters,
                    confidence,
                    low_confidence: confidence < self.options.low_confidence_below,
                    evidence: c.evidence,
                    start_us,
                    end_us,
                }
            })
            .collect()
    }
}

/// Coerces captured values to their parameters' types; reports whether every
/// required parameter has a value.
fn typed(
    values: Map<String, Value>,
    params: &[(String, ParameterType, bool)],
) -> (Map<String, Value>, bool) {
    let mut out = Map::new();
    for (name, value) in values {
        let Some((_, ty, _)) = params.iter().find(|(n, _, _)| *n == name) else {
            continue;
        };
        if let Some(v) = coerce(value, *ty) {
            out.insert(name, v);
        }
    }
    let complete = params
        .iter()
        .filter(|(_, _, required)| *required)
        .all(|(n, _, _)| {
            out.get(n).is_some_and(|v| match v {
                Value::String(s) => !s.trim().is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                Value::Null => false,
                _ => true,
            })
        });
    (out, complete)
}

fn coerce(v: Value, ty: ParameterType) -> Option<Value> {
    Some(match (ty, v) {
        (ParameterType::String, Value::Array(items)) => Value::String(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (ParameterType::String, Value::String(s)) => Value::String(s),
        (ParameterType::String, other) => Value::String(other.to_string()),
        (ParameterType::Array, Value::Array(a)) => Value::Array(a),
        (ParameterType::Array, Value::String(s)) => Value::Array(vec![Value::String(s)]),
        (ParameterType::Integer, Value::String(s)) => Value::from(s.trim().parse::<i64>().ok()?),
        // A whole number stays an integer ("12" → 12, not 12.0): a JSON
        // Schema `number` takes both, and the call reads as it was written.
        (ParameterType::Number, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(s.trim().parse::<f64>().ok()?),
        },
        (ParameterType::Boolean, Value::String(s)) => {
            Value::Bool(matches!(s.trim(), "true" | "checked" | "on" | "1"))
        }
        (_, v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_read_into_a_number_keeps_whole_numbers_whole() {
        let n = |s: &str| coerce(Value::from(s), ParameterType::Number);
        assert_eq!(n("12"), Some(Value::from(12)));
        assert_eq!(n(" 7 "), Some(Value::from(7)));
        assert_eq!(n("2.5"), Some(Value::from(2.5)));
        assert_eq!(n("twelve"), None);
        assert_eq!(
            coerce(Value::from("12"), ParameterType::Integer),
            Some(Value::from(12))
        );
    }
}
