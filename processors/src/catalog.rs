//! The Capability Surface: Suites and their Actions (what a person does in an
//! application), MCP servers and their Tools (what an agent can call), and the
//! ActionToolMaps that bind one to the other.
//!
//! The entity types mirror the platform's data model field for field (ids and
//! foreign keys included), so services can serve them as they are. Every id is a
//! UUID v5 derived from names (see [`ids`]), so loading the same files always
//! yields the same ids.
//!
//! # Files
//!
//! ```text
//! catalog/mcp-servers/<server>.json        an McpServer with its tools, written by
//!                                          `tracepipe catalog import-mcp`
//! catalog/suites/<suite>/suite.json        a Suite: actions, parameters, templates
//! catalog/suites/<suite>/maps/<server>.json an ActionToolMap onto that server
//! catalog/suites/<suite>/results/<server>.json how that server's tool results
//!                                          are built from what the pages showed
//!                                          (see [`crate::results`])
//! ```
//!
//! An McpServer file is the entity itself ([`McpServer`], ids included); loading
//! re-derives every id and parameter from the tools' names and input schemas and
//! rejects a file that does not match. Suite and map files are written by hand and
//! name things instead of carrying ids ([`SuiteFile`], [`ActionToolMapFile`]).
//! Unknown keys are rejected everywhere.
//!
//! The `parse_*` functions and [`Catalog::from_sources`] are pure: they take file
//! names (for messages) and contents. [`Catalog::load_dir`] is the thin loader
//! that reads a directory laid out as above.

mod files;
pub mod ids;
mod load;
pub mod template;
mod transform;

pub use files::{
    ActionFile, ActionParameterFile, ActionToolMapFile, ParameterMappingFile, SuiteFile,
    ToolMappingFile,
};
pub use load::{CatalogSources, SuiteSources, MAX_CATALOG_FILE_BYTES};
pub use template::{Template, TemplateError};
pub use transform::{is_empty_value, json_type, prune_empty, Transform, TransformError};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use uuid::Uuid;

/// The type of an action or tool parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ParameterType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    /// A tool parameter whose schema does not pin one JSON type.
    Any,
}

impl ParameterType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterType::String => "STRING",
            ParameterType::Integer => "INTEGER",
            ParameterType::Number => "NUMBER",
            ParameterType::Boolean => "BOOLEAN",
            ParameterType::Array => "ARRAY",
            ParameterType::Object => "OBJECT",
            ParameterType::Any => "ANY",
        }
    }

    /// Does `value` (not null) have this type? Integers are numbers too.
    pub fn admits(self, value: &Value) -> bool {
        match self {
            ParameterType::String => value.is_string(),
            ParameterType::Integer => value.is_i64() || value.is_u64(),
            ParameterType::Number => value.is_number(),
            ParameterType::Boolean => value.is_boolean(),
            ParameterType::Array => value.is_array(),
            ParameterType::Object => value.is_object(),
            ParameterType::Any => true,
        }
    }

    /// The type a JSON Schema (one property's subschema) declares: `type`, the
    /// first non-null entry of a `type` list or of `anyOf`/`oneOf`, else the type
    /// of a `const` or of the first `enum` value; [`ParameterType::Any`] otherwise.
    pub fn from_schema(schema: &Value) -> ParameterType {
        fn from_name(name: &str) -> Option<ParameterType> {
            Some(match name {
                "string" => ParameterType::String,
                "integer" => ParameterType::Integer,
                "number" => ParameterType::Number,
                "boolean" => ParameterType::Boolean,
                "array" => ParameterType::Array,
                "object" => ParameterType::Object,
                _ => return None,
            })
        }
        fn of_value(value: &Value) -> Option<ParameterType> {
            Some(match value {
                Value::String(_) => ParameterType::String,
                Value::Number(n) if n.is_f64() => ParameterType::Number,
                Value::Number(_) => ParameterType::Integer,
                Value::Bool(_) => ParameterType::Boolean,
                Value::Array(_) => ParameterType::Array,
                Value::Object(_) => ParameterType::Object,
                Value::Null => return None,
            })
        }
        fn walk(schema: &Value) -> Option<ParameterType> {
            match schema.get("type") {
                Some(Value::String(t)) => return from_name(t),
                Some(Value::Array(ts)) => {
                    return ts.iter().filter_map(Value::as_str).find_map(from_name);
                }
                _ => {}
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(branches)) = schema.get(key) {
                    if let Some(t) = branches.iter().find_map(walk) {
                        return Some(t);
                    }
                }
            }
            if let Some(c) = schema.get("const") {
                return of_value(c);
            }
            if let Some(Value::Array(values)) = schema.get("enum") {
                return values.iter().find_map(of_value);
            }
            None
        }
        walk(schema).unwrap_or(ParameterType::Any)
    }
}

impl std::fmt::Display for ParameterType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The human-facing application (`Gmail`). Owns its Actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Suite {
    pub id: Uuid,
    /// The key used in paths and by classifiers (`gmail`).
    pub name: String,
    /// The name a person knows (`Gmail`).
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub actions: Vec<Action>,
}

impl Suite {
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    pub fn action_by_id(&self, id: Uuid) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

/// One canonical thing a person does in a Suite (`send_email`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Action {
    pub id: Uuid,
    pub suite_id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The user instruction this action is rendered as: `{param}` for a
    /// parameter's value, `[…]` around an optional part (see [`template`]).
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub template: Template,
    pub parameters: Vec<ActionParameter>,
}

impl Action {
    pub fn parameter(&self, name: &str) -> Option<&ActionParameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    pub fn parameter_by_id(&self, id: Uuid) -> Option<&ActionParameter> {
        self.parameters.iter().find(|p| p.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ActionParameter {
    pub id: Uuid,
    pub action_id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParameterType,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What an MCP server reported about itself in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
}

/// An agent-facing tool server. Owns its Tools.
///
/// This is also the format of `catalog/mcp-servers/<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct McpServer {
    pub id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_info: Option<ServerInfo>,
    /// The MCP protocol version the server answered `initialize` with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    pub tools: Vec<Tool>,
}

impl McpServer {
    /// Builds the entity from what `tools/list` returned (`result.tools`, the
    /// pages concatenated), deriving ids and ToolParameters.
    ///
    /// Each element must be an MCP Tool object (`name`, `inputSchema`, optional
    /// `title`, `description`, `outputSchema`, `annotations`); other keys are
    /// ignored. `file` names the source in errors.
    pub fn from_tools_list(
        file: &str,
        name: &str,
        server_info: Option<ServerInfo>,
        protocol_version: Option<String>,
        tools: &[Value],
    ) -> Result<McpServer, CatalogError> {
        let id = ids::mcp_server(name);
        let mut out = Vec::with_capacity(tools.len());
        for (i, raw) in tools.iter().enumerate() {
            let item = format!("tools[{i}]");
            let obj = raw
                .as_object()
                .ok_or_else(|| CatalogError::invalid(file, &item, "not a JSON object"))?;
            let tool_name = obj
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| CatalogError::invalid(file, &item, "has no `name`"))?;
            let input_schema = obj.get("inputSchema").cloned().ok_or_else(|| {
                CatalogError::invalid(file, format!("tool `{tool_name}`"), "has no `inputSchema`")
            })?;
            let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
            out.push(Tool::new(
                file,
                name,
                id,
                tool_name,
                text("title"),
                text("description"),
                input_schema,
                obj.get("outputSchema").cloned(),
                obj.get("annotations").cloned(),
            )?);
        }
        let server = McpServer {
            id,
            name: name.to_owned(),
            server_info,
            protocol_version,
            tools: out,
        };
        server.check_unique(file)?;
        Ok(server)
    }

    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn tool_by_id(&self, id: Uuid) -> Option<&Tool> {
        self.tools.iter().find(|t| t.id == id)
    }

    /// The file contents `import-mcp` writes: pretty JSON and a final newline.
    pub fn to_file_contents(&self) -> String {
        let mut s =
            serde_json::to_string_pretty(self).expect("McpServer serialises: string keys only");
        s.push('\n');
        s
    }

    fn check_unique(&self, file: &str) -> Result<(), CatalogError> {
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.tools {
            if !seen.insert(t.name.as_str()) {
                return Err(CatalogError::Duplicate {
                    file: file.to_owned(),
                    kind: "tool",
                    name: t.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// One tool of an MCP server, with its full input JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Tool {
    pub id: Uuid,
    pub mcp_server_id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool's `inputSchema`, verbatim.
    #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// The top-level properties of `input_schema`, sorted by name.
    pub parameters: Vec<ToolParameter>,
}

impl Tool {
    #[allow(clippy::too_many_arguments)]
    fn new(
        file: &str,
        server: &str,
        mcp_server_id: Uuid,
        name: &str,
        title: Option<String>,
        description: Option<String>,
        input_schema: Value,
        output_schema: Option<Value>,
        annotations: Option<Value>,
    ) -> Result<Tool, CatalogError> {
        let id = ids::tool(server, name);
        let item = format!("tool `{name}`");
        let schema = input_schema.as_object().ok_or_else(|| {
            CatalogError::invalid(file, &item, "`inputSchema` is not a JSON object")
        })?;
        if let Some(t) = schema.get("type") {
            if t != "object" {
                return Err(CatalogError::invalid(
                    file,
                    &item,
                    format!("`inputSchema.type` is {t}, not \"object\""),
                ));
            }
        }
        let required: Vec<&str> = match schema.get("required") {
            None => Vec::new(),
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(CatalogError::invalid(
                    file,
                    &item,
                    "`inputSchema.required` is not an array",
                ))
            }
        };
        let mut parameters = Vec::new();
        match schema.get("properties") {
            None => {}
            Some(Value::Object(props)) => {
                for (pname, pschema) in props {
                    parameters.push(ToolParameter {
                        id: ids::tool_parameter(server, name, pname),
                        tool_id: id,
                        name: pname.clone(),
                        param_type: ParameterType::from_schema(pschema),
                        required: required.contains(&pname.as_str()),
                        description: pschema
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    });
                }
            }
            Some(_) => {
                return Err(CatalogError::invalid(
                    file,
                    &item,
                    "`inputSchema.properties` is not an object",
                ))
            }
        }
        parameters.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Tool {
            id,
            mcp_server_id,
            name: name.to_owned(),
            title,
            description,
            input_schema,
            output_schema,
            annotations,
            parameters,
        })
    }

    pub fn parameter(&self, name: &str) -> Option<&ToolParameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    pub fn parameter_by_id(&self, id: Uuid) -> Option<&ToolParameter> {
        self.parameters.iter().find(|p| p.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ToolParameter {
    pub id: Uuid,
    pub tool_id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParameterType,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Binds one Suite to one McpServer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ActionToolMap {
    pub id: Uuid,
    pub suite_id: Uuid,
    pub mcp_server_id: Uuid,
    pub tool_mappings: Vec<ActionToolMapping>,
}

impl ActionToolMap {
    pub fn mapping_for_action(&self, action_id: Uuid) -> Option<&ActionToolMapping> {
        self.tool_mappings.iter().find(|m| m.action_id == action_id)
    }
}

/// One Action carried out by one Tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ActionToolMapping {
    pub id: Uuid,
    pub action_tool_map_id: Uuid,
    pub action_id: Uuid,
    pub tool_id: Uuid,
    pub parameter_mappings: Vec<ActionToolParameterMapping>,
}

/// One ActionParameter feeding one ToolParameter, optionally transformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ActionToolParameterMapping {
    pub id: Uuid,
    pub action_tool_mapping_id: Uuid,
    pub action_parameter_id: Uuid,
    pub tool_parameter_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
}

/// Why a catalog file was rejected. Every variant names the file and the item.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: larger than {limit} bytes")]
    TooLarge { file: String, limit: u64 },
    #[error("{file}: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: {item}: {message}")]
    Invalid {
        file: String,
        item: String,
        message: String,
    },
    #[error("{file}: duplicate {kind} `{name}`")]
    Duplicate {
        file: String,
        kind: &'static str,
        name: String,
    },
    #[error("{file}: unknown {kind} `{name}`{context}")]
    UnknownReference {
        file: String,
        kind: &'static str,
        name: String,
        context: String,
    },
    #[error("{file}: action `{action}`: template: {source}")]
    Template {
        file: String,
        action: String,
        source: TemplateError,
    },
    #[error("{file}: does not match what its tools derive to ({detail}); re-run `tracepipe catalog import-mcp`")]
    Stale { file: String, detail: String },
}

impl CatalogError {
    pub(crate) fn invalid(
        file: &str,
        item: impl Into<String>,
        message: impl Into<String>,
    ) -> CatalogError {
        CatalogError::Invalid {
            file: file.to_owned(),
            item: item.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unknown(
        file: &str,
        kind: &'static str,
        name: &str,
        context: impl Into<String>,
    ) -> CatalogError {
        CatalogError::UnknownReference {
            file: file.to_owned(),
            kind,
            name: name.to_owned(),
            context: context.into(),
        }
    }
}

/// Parses an McpServer file and checks that its ids and parameters are the
/// ones its tools derive to.
pub fn parse_mcp_server(file: &str, contents: &str) -> Result<McpServer, CatalogError> {
    let server: McpServer =
        serde_json::from_str(contents).map_err(|source| CatalogError::Json {
            file: file.to_owned(),
            source,
        })?;
    let raw: Vec<Value> = server
        .tools
        .iter()
        .map(|t| {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), Value::String(t.name.clone()));
            if let Some(x) = &t.title {
                o.insert("title".into(), Value::String(x.clone()));
            }
            if let Some(x) = &t.description {
                o.insert("description".into(), Value::String(x.clone()));
            }
            o.insert("inputSchema".into(), t.input_schema.clone());
            if let Some(x) = &t.output_schema {
                o.insert("outputSchema".into(), x.clone());
            }
            if let Some(x) = &t.annotations {
                o.insert("annotations".into(), x.clone());
            }
            Value::Object(o)
        })
        .collect();
    let derived = McpServer::from_tools_list(
        file,
        &server.name,
        server.server_info.clone(),
        server.protocol_version.clone(),
        &raw,
    )?;
    if derived != server {
        let detail = if derived.id != server.id {
            "server id".to_owned()
        } else {
            derived
                .tools
                .iter()
                .zip(&server.tools)
                .find(|(d, s)| d != s)
                .map(|(d, _)| format!("tool `{}`", d.name))
                .unwrap_or_else(|| "tools".to_owned())
        };
        return Err(CatalogError::Stale {
            file: file.to_owned(),
            detail,
        });
    }
    Ok(server)
}

/// Parses a Suite file into the entity.
pub fn parse_suite(file: &str, contents: &str) -> Result<Suite, CatalogError> {
    let spec: SuiteFile = serde_json::from_str(contents).map_err(|source| CatalogError::Json {
        file: file.to_owned(),
        source,
    })?;
    spec.resolve(file)
}

/// Parses an ActionToolMap file, resolving its names against `suite` and `server`.
pub fn parse_action_tool_map(
    file: &str,
    contents: &str,
    suite: &Suite,
    server: &McpServer,
) -> Result<ActionToolMap, CatalogError> {
    let spec: ActionToolMapFile =
        serde_json::from_str(contents).map_err(|source| CatalogError::Json {
            file: file.to_owned(),
            source,
        })?;
    if spec.mcp_server != server.name {
        return Err(CatalogError::invalid(
            file,
            "mcp_server",
            format!(
                "names `{}` but is being resolved against `{}`",
                spec.mcp_server, server.name
            ),
        ));
    }
    spec.resolve(file, suite, server)
}

/// A loaded, cross-checked catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    suites: BTreeMap<String, Suite>,
    mcp_servers: BTreeMap<String, McpServer>,
    /// Keyed by (suite name, server name).
    maps: BTreeMap<(String, String), ActionToolMap>,
    /// How tool results are built, keyed by (suite name, server name).
    results: BTreeMap<(String, String), crate::results::ToolResults>,
}

impl Catalog {
    pub fn suites(&self) -> impl Iterator<Item = &Suite> {
        self.suites.values()
    }

    pub fn suite(&self, name: &str) -> Option<&Suite> {
        self.suites.get(name)
    }

    pub fn suite_by_id(&self, id: Uuid) -> Option<&Suite> {
        self.suites.values().find(|s| s.id == id)
    }

    pub fn mcp_servers(&self) -> impl Iterator<Item = &McpServer> {
        self.mcp_servers.values()
    }

    pub fn mcp_server(&self, name: &str) -> Option<&McpServer> {
        self.mcp_servers.get(name)
    }

    pub fn mcp_server_by_id(&self, id: Uuid) -> Option<&McpServer> {
        self.mcp_servers.values().find(|s| s.id == id)
    }

    pub fn action_tool_maps(&self) -> impl Iterator<Item = &ActionToolMap> {
        self.maps.values()
    }

    /// The map binding `suite` to `mcp_server`, by names.
    pub fn action_tool_map(&self, suite: &str, mcp_server: &str) -> Option<&ActionToolMap> {
        self.maps.get(&(suite.to_owned(), mcp_server.to_owned()))
    }

    pub fn action_tool_map_by_id(&self, id: Uuid) -> Option<&ActionToolMap> {
        self.maps.values().find(|m| m.id == id)
    }

    /// How `mcp_server`'s tool results are built from what `suite`'s pages
    /// showed, when the suite describes it.
    pub fn tool_results(
        &self,
        suite: &str,
        mcp_server: &str,
    ) -> Option<&crate::results::ToolResults> {
        self.results.get(&(suite.to_owned(), mcp_server.to_owned()))
    }

    /// Every results description, keyed by (suite name, server name).
    pub fn all_tool_results(
        &self,
    ) -> impl Iterator<Item = (&(String, String), &crate::results::ToolResults)> {
        self.results.iter()
    }

    /// The maps of one suite, by the suite's name, in server-name order.
    pub fn maps_for_suite<'a>(
        &'a self,
        suite: &'a str,
    ) -> impl Iterator<Item = &'a ActionToolMap> + 'a {
        self.maps
            .iter()
            .filter(move |((s, _), _)| s == suite)
            .map(|(_, m)| m)
    }
}
