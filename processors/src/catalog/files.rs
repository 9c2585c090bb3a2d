//! The hand-written file forms (names, no ids) and their resolution into entities.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::{
    ids, transform::Transform, Action, ActionParameter, ActionToolMap, ActionToolMapping,
    ActionToolParameterMapping, CatalogError, McpServer, ParameterType, Suite, Template,
    TemplateError,
};

/// `catalog/suites/<suite>/suite.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "utoipa",
    schema(
        as = SuiteInput,
        description = "A suite as its catalog file gives it: names, no ids"
    )
)]
pub struct SuiteFile {
    #[cfg_attr(feature = "utoipa", schema(pattern = "^[a-z][a-z0-9_]*$"))]
    pub name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub actions: Vec<ActionFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = ActionInput))]
pub struct ActionFile {
    #[cfg_attr(feature = "utoipa", schema(pattern = "^[a-z][a-z0-9_]*$"))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The user instruction: `{param}` for a parameter's value, `[…]`
    /// around an optional part (see [`super::template`]).
    pub template: String,
    #[serde(default)]
    pub parameters: Vec<ActionParameterFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = ActionParameterInput))]
pub struct ActionParameterFile {
    #[cfg_attr(feature = "utoipa", schema(pattern = "^[a-z][a-z0-9_]*$"))]
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParameterType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `catalog/suites/<suite>/maps/<mcp-server>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionToolMapFile {
    /// The McpServer's name; the file's name without `.json`.
    pub mcp_server: String,
    pub tool_mappings: Vec<ToolMappingFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = ToolMappingInput))]
pub struct ToolMappingFile {
    pub action: String,
    pub tool: String,
    #[serde(default)]
    pub parameters: Vec<ParameterMappingFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = ParameterMappingInput))]
pub struct ParameterMappingFile {
    pub action_parameter: String,
    pub tool_parameter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
}

/// Suite, action and action-parameter names: what classifiers emit.
fn check_identifier(file: &str, item: &str, name: &str) -> Result<(), CatalogError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CatalogError::invalid(
            file,
            item,
            format!("`{name}` is not a snake_case name ([a-z][a-z0-9_]*)"),
        ))
    }
}

impl SuiteFile {
    pub fn resolve(&self, file: &str) -> Result<Suite, CatalogError> {
        check_identifier(file, "name", &self.name)?;
        let suite_id = ids::suite(&self.name);
        let mut seen = BTreeSet::new();
        let mut actions = Vec::with_capacity(self.actions.len());
        for a in &self.actions {
            check_identifier(file, "action", &a.name)?;
            if !seen.insert(a.name.as_str()) {
                return Err(CatalogError::Duplicate {
                    file: file.to_owned(),
                    kind: "action",
                    name: a.name.clone(),
                });
            }
            let action_id = ids::action(&self.name, &a.name);
            let mut pseen = BTreeSet::new();
            let mut parameters = Vec::with_capacity(a.parameters.len());
            for p in &a.parameters {
                check_identifier(file, &format!("action `{}` parameter", a.name), &p.name)?;
                if !pseen.insert(p.name.as_str()) {
                    return Err(CatalogError::Duplicate {
                        file: file.to_owned(),
                        kind: "action parameter",
                        name: format!("{}.{}", a.name, p.name),
                    });
                }
                parameters.push(ActionParameter {
                    id: ids::action_parameter(&self.name, &a.name, &p.name),
                    action_id,
                    name: p.name.clone(),
                    param_type: p.param_type,
                    required: p.required,
                    description: p.description.clone(),
                });
            }
            let template_error = |source| CatalogError::Template {
                file: file.to_owned(),
                action: a.name.clone(),
                source,
            };
            let template = Template::parse(&a.template).map_err(template_error)?;
            for (path, optional) in template.placeholders() {
                let placeholder = path.join(".");
                let param = parameters
                    .iter()
                    .find(|p| p.name == path[0])
                    .ok_or_else(|| {
                        template_error(TemplateError::UnknownParameter {
                            placeholder: placeholder.clone(),
                        })
                    })?;
                if path.len() > 1 && param.param_type != ParameterType::Object {
                    return Err(template_error(TemplateError::NotAnObject { placeholder }));
                }
                if !optional && (!param.required || path.len() > 1) {
                    return Err(template_error(TemplateError::OptionalOutsideGroup {
                        placeholder,
                    }));
                }
            }
            let placeholders = template.placeholders();
            if let Some(unsaid) = parameters
                .iter()
                .find(|p| !placeholders.iter().any(|(path, _)| path[0] == p.name))
            {
                // The instruction must carry every value the tool call carries,
                // or a model trained on it learns to invent them.
                return Err(template_error(TemplateError::Unmentioned {
                    parameter: unsaid.name.clone(),
                }));
            }
            actions.push(Action {
                id: action_id,
                suite_id,
                name: a.name.clone(),
                description: a.description.clone(),
                template,
                parameters,
            });
        }
        Ok(Suite {
            id: suite_id,
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            actions,
        })
    }
}

/// Can a value of type `from` feed a tool parameter of type `to`?
fn compatible(from: ParameterType, to: ParameterType, transform: Option<Transform>) -> bool {
    use ParameterType as T;
    match transform {
        Some(Transform::SplitComma) => {
            matches!(from, T::String | T::Array) && matches!(to, T::Array | T::Any)
        }
        None => from == to || to == T::Any || (from == T::Integer && to == T::Number),
    }
}

impl ActionToolMapFile {
    pub fn resolve(
        &self,
        file: &str,
        suite: &Suite,
        server: &McpServer,
    ) -> Result<ActionToolMap, CatalogError> {
        let map_id = ids::action_tool_map(&suite.name, &server.name);
        let in_suite = format!(" in suite `{}`", suite.name);
        let in_server = format!(" in MCP server `{}`", server.name);
        let mut seen = BTreeSet::new();
        let mut tool_mappings = Vec::with_capacity(self.tool_mappings.len());
        for (i, m) in self.tool_mappings.iter().enumerate() {
            let item = format!("tool_mappings[{i}] ({} → {})", m.action, m.tool);
            let action = suite.action(&m.action).ok_or_else(|| {
                CatalogError::unknown(file, "action", &m.action, format!("{in_suite} ({item})"))
            })?;
            let tool = server.tool(&m.tool).ok_or_else(|| {
                CatalogError::unknown(file, "tool", &m.tool, format!("{in_server} ({item})"))
            })?;
            if !seen.insert(m.action.as_str()) {
                return Err(CatalogError::Duplicate {
                    file: file.to_owned(),
                    kind: "mapping of action",
                    name: m.action.clone(),
                });
            }
            let mapping_id = ids::action_tool_mapping(&suite.name, &server.name, &action.name);
            let mut targets = BTreeSet::new();
            let mut parameter_mappings = Vec::with_capacity(m.parameters.len());
            for pm in &m.parameters {
                let ap = action.parameter(&pm.action_parameter).ok_or_else(|| {
                    CatalogError::unknown(
                        file,
                        "action parameter",
                        &pm.action_parameter,
                        format!(" of action `{}` ({item})", action.name),
                    )
                })?;
                let tp = tool.parameter(&pm.tool_parameter).ok_or_else(|| {
                    CatalogError::unknown(
                        file,
                        "tool parameter",
                        &pm.tool_parameter,
                        format!(" of tool `{}`{in_server} ({item})", tool.name),
                    )
                })?;
                if !targets.insert(tp.name.as_str()) {
                    return Err(CatalogError::Duplicate {
                        file: file.to_owned(),
                        kind: "mapping onto tool parameter",
                        name: format!("{}.{}", tool.name, tp.name),
                    });
                }
                if !compatible(ap.param_type, tp.param_type, pm.transform) {
                    return Err(CatalogError::invalid(
                        file,
                        &item,
                        format!(
                            "{} `{}` cannot feed {} `{}`{}",
                            ap.param_type,
                            ap.name,
                            tp.param_type,
                            tp.name,
                            pm.transform
                                .map(|t| format!(" through {}", t.as_str()))
                                .unwrap_or_default()
                        ),
                    ));
                }
                parameter_mappings.push(ActionToolParameterMapping {
                    id: ids::action_tool_parameter_mapping(
                        &suite.name,
                        &server.name,
                        &action.name,
                        &ap.name,
                        &tp.name,
                    ),
                    action_tool_mapping_id: mapping_id,
                    action_parameter_id: ap.id,
                    tool_parameter_id: tp.id,
                    transform: pm.transform,
                });
            }
            if let Some(missing) = tool
                .parameters
                .iter()
                .find(|p| p.required && !targets.contains(p.name.as_str()))
            {
                return Err(CatalogError::invalid(
                    file,
                    &item,
                    format!(
                        "required tool parameter `{}` is fed by no action parameter",
                        missing.name
                    ),
                ));
            }
            tool_mappings.push(ActionToolMapping {
                id: mapping_id,
                action_tool_map_id: map_id,
                action_id: action.id,
                tool_id: tool.id,
                parameter_mappings,
            });
        }
        Ok(ActionToolMap {
            id: map_id,
            suite_id: suite.id,
            mcp_server_id: server.id,
            tool_mappings,
        })
    }
}
