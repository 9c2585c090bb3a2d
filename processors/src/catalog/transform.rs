//! Transforms applied to an action parameter's value on its way into a tool
//! argument, and the rules for "empty" values that tool arguments leave out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an action parameter's value is reshaped for its tool parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum Transform {
    /// A comma-separated string becomes a list of strings, each trimmed, empty
    /// ones dropped (`"a@x.com, b@y.com,"` → `["a@x.com", "b@y.com"]`). A list
    /// of strings is trimmed and filtered the same way.
    SplitComma,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    #[error("{transform} expects {expected}, got {found}")]
    WrongType {
        transform: &'static str,
        expected: &'static str,
        found: &'static str,
    },
}

impl Transform {
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::SplitComma => "split_comma",
        }
    }

    pub fn apply(self, value: &Value) -> Result<Value, TransformError> {
        match self {
            Transform::SplitComma => {
                let wrong = || TransformError::WrongType {
                    transform: "split_comma",
                    expected: "a string or a list of strings",
                    found: json_type(value),
                };
                let parts: Vec<Value> = match value {
                    Value::String(s) => split(s),
                    Value::Array(items) => {
                        let mut out = Vec::new();
                        for item in items {
                            out.extend(split(item.as_str().ok_or_else(wrong)?));
                        }
                        out
                    }
                    _ => return Err(wrong()),
                };
                Ok(Value::Array(parts))
            }
        }
    }
}

fn split(s: &str) -> Vec<Value> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.to_owned()))
        .collect()
}

/// The JSON type name of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Null, a blank string, an empty list or an empty object.
pub fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Drops empty values from inside lists and objects, depth first, and answers
/// `None` when nothing is left.
pub fn prune_empty(value: Value) -> Option<Value> {
    let pruned = match value {
        Value::Array(items) => Value::Array(items.into_iter().filter_map(prune_empty).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| prune_empty(v).map(|v| (k, v)))
                .collect(),
        ),
        other => other,
    };
    (!is_empty_value(&pruned)).then_some(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_comma_trims_and_drops_empties() {
        let t = Transform::SplitComma;
        assert_eq!(
            t.apply(&json!(" a@x.com ,b@y.com,, ")).unwrap(),
            json!(["a@x.com", "b@y.com"])
        );
        assert_eq!(t.apply(&json!("")).unwrap(), json!([]));
        assert_eq!(
            t.apply(&json!(["a, b", " c "])).unwrap(),
            json!(["a", "b", "c"])
        );
        assert!(t.apply(&json!(3)).is_err());
        assert!(t.apply(&json!([1])).is_err());
    }

    #[test]
    fn pruning() {
        assert_eq!(prune_empty(json!("")), None);
        assert_eq!(prune_empty(json!([" ", []])), None);
        assert_eq!(
            prune_empty(json!({"from": "", "to": "x", "q": {}})),
            Some(json!({"to": "x"}))
        );
        assert_eq!(prune_empty(json!(false)), Some(json!(false)));
        assert_eq!(prune_empty(json!(0)), Some(json!(0)));
    }

    #[test]
    fn serde_name() {
        assert_eq!(
            serde_json::to_value(Transform::SplitComma).unwrap(),
            json!("split_comma")
        );
    }
}
