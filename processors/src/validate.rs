//! Tool-call validation: a call's arguments against its Tool's input JSON Schema.
//!
//! A [`ToolValidator`] compiles each tool's schema once and is then cheap to ask
//! per call. Schemas may be draft-07 (`$schema` says so) or 2020-12 (the
//! default); remote `$ref`s are not fetched.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::catalog::{McpServer, Tool};

/// A tool whose input schema does not compile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    #[error("tool `{tool}`: its input schema does not compile: {message}")]
    Schema { tool: String, message: String },
}

/// One way a call's arguments break the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON pointer into the arguments (`""` for the arguments object itself).
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            self.pointer.as_str()
        };
        write!(f, "at {at}: {}", self.message)
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    #[error("no tool `{tool}` is known to the validator")]
    UnknownTool { tool: String },
    #[error("arguments of `{tool}` break its schema: {}", violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        tool: String,
        violations: Vec<Violation>,
    },
}

/// Compiled input schemas, by tool name.
pub struct ToolValidator {
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl std::fmt::Debug for ToolValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolValidator")
            .field("tools", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ToolValidator {
    /// Compiles the input schema of each tool.
    pub fn new<'a>(
        tools: impl IntoIterator<Item = &'a Tool>,
    ) -> Result<ToolValidator, ValidateError> {
        let mut validators = BTreeMap::new();
        for tool in tools {
            if validators.contains_key(&tool.name) {
                continue;
            }
            let v = jsonschema::validator_for(&tool.input_schema).map_err(|e| {
                ValidateError::Schema {
                    tool: tool.name.clone(),
                    message: e.to_string(),
                }
            })?;
            validators.insert(tool.name.clone(), v);
        }
        Ok(ToolValidator { validators })
    }

    /// Compiles every tool of a server.
    pub fn for_server(server: &McpServer) -> Result<ToolValidator, ValidateError> {
        ToolValidator::new(&server.tools)
    }

    pub fn knows(&self, tool: &str) -> bool {
        self.validators.contains_key(tool)
    }

    /// Checks one call's arguments; every violation is reported.
    pub fn validate(&self, tool: &str, arguments: &Value) -> Result<(), CallError> {
        let v = self
            .validators
            .get(tool)
            .ok_or_else(|| CallError::UnknownTool {
                tool: tool.to_owned(),
            })?;
        let violations: Vec<Violation> = v
            .iter_errors(arguments)
            .map(|e| Violation {
                pointer: e.instance_path().to_string(),
                message: e.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(CallError::Invalid {
                tool: tool.to_owned(),
                violations,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::McpServer;
    use serde_json::json;

    fn server() -> McpServer {
        let tools = vec![
            json!({"name": "read_email", "inputSchema": {
                "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"messageId": {"type": "string"}}, "required": ["messageId"],
                "additionalProperties": false}}),
            json!({"name": "send_email", "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                "properties": {"to": {"type": "array", "items": {"type": "string"}}},
                "required": ["to"], "additionalProperties": false}}),
        ];
        McpServer::from_tools_list("test", "mail", None, None, &tools).unwrap()
    }

    #[test]
    fn accepts_a_good_call_and_reports_every_violation_of_a_bad_one() {
        let v = ToolValidator::for_server(&server()).unwrap();
        assert!(v
            .validate("read_email", &json!({"messageId": "m1"}))
            .is_ok());
        match v.validate("send_email", &json!({"to": ["a", 3], "cc": []})) {
            Err(CallError::Invalid { tool, violations }) => {
                assert_eq!(tool, "send_email");
                assert!(
                    violations
                        .iter()
                        .any(|x| x.pointer == "/to/1" && x.message.contains("string")),
                    "{violations:?}"
                );
                assert!(
                    violations
                        .iter()
                        .any(|x| x.pointer.is_empty() && x.message.contains("cc")),
                    "{violations:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        match v.validate("read_email", &json!({})) {
            Err(CallError::Invalid { violations, .. }) => {
                assert!(violations[0].message.contains("messageId"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            v.validate("nope", &json!({})),
            Err(CallError::UnknownTool { .. })
        ));
    }

    #[test]
    fn a_schema_that_does_not_compile_is_an_error() {
        let tools = vec![
            json!({"name": "bad", "inputSchema": {"type": "object", "properties": {"x": {"type": 5}}}}),
        ];
        let server = McpServer::from_tools_list("test", "s", None, None, &tools).unwrap();
        assert!(matches!(
            ToolValidator::for_server(&server),
            Err(ValidateError::Schema { .. })
        ));
    }
}
