//! Example synthesis: classified actions → a tool-call training conversation.
//!
//! For a Suite, its ActionToolMap onto one McpServer, and the actions a model
//! recognised in a session, [`Synthesizer::synthesize`] produces:
//!
//! - the conversation, in the chat-completion convention: a system message that
//!   introduces the suite and its tools, then per action a user message (the
//!   action's template rendered with its parameters), an assistant message with
//!   one tool call (`arguments` a JSON string) and a tool message with its
//!   result: built from what the page showed after the action when the suite
//!   describes the tool's result ([`crate::results`]) and the recording shows
//!   it, otherwise [`UNGROUNDED_RESULT`], which says that it does not;
//! - the tools of the map as OpenAI function definitions, their `parameters`
//!   being the MCP input schemas;
//! - one [`ActionRecord`] per emitted call, for the analyst tables;
//! - one [`Rejection`] per action left out, with the reason.
//!
//! Tool arguments leave out parameters that are absent or empty (null, a blank
//! string, an empty list or object, also inside objects and lists), except that
//! a tool parameter the schema requires keeps an empty value the classifier did
//! give (an email may have an empty body). Every call is validated against its
//! tool's schema; a call that fails is reported, never emitted.
//!
//! Everything is pure and deterministic: the same inputs give the same bytes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog::{
    prune_empty, Action, ActionToolMap, ActionToolMapping, McpServer, ParameterType, Suite,
    TemplateError, Tool,
};
use crate::model::{ClassifiedAction, ModelRef};
pub use crate::results::UNGROUNDED_RESULT;
use crate::results::{RenderedResult, ToolResults};
use crate::validate::{CallError, ToolValidator, ValidateError, Violation};
use tracepipe_schemas::Session;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    System {
        content: String,
    },
    User {
        content: String,
    },
    /// `content` is always null here: the assistant only calls tools.
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub call_type: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments object as a JSON string.
    pub arguments: String,
}

/// A tool as an OpenAI function definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Always `function`.
    #[serde(rename = "type")]
    pub definition_type: String,
    pub function: FunctionDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool's MCP `inputSchema`, verbatim.
    pub parameters: Value,
}

impl ToolDefinition {
    pub fn from_tool(tool: &Tool) -> ToolDefinition {
        ToolDefinition {
            definition_type: "function".into(),
            function: FunctionDefinition {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.input_schema.clone(),
            },
        }
    }
}

/// One emitted tool call and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Index of the action in the synthesizer's input.
    pub index: usize,
    /// The `tool_call_id` in the conversation (`call_1`, …).
    pub call_id: String,
    pub action: String,
    pub tool: String,
    pub instruction: String,
    pub arguments: Value,
    pub confidence: f64,
    pub low_confidence: bool,
    /// Indices into `Session::events`.
    pub evidence: Vec<usize>,
    pub start_us: i64,
    pub end_us: i64,
    /// The tool message carries what the recording showed of the call's
    /// result; when false it says that the recording does not show it.
    /// Absent (false) in Examples made before results were grounded.
    #[serde(default)]
    pub result_grounded: bool,
}

/// An action that was left out of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Index of the action (or step) in the input.
    pub index: usize,
    pub action: String,
    /// The tool it would have called, when that far.
    pub tool: Option<String>,
    pub reason: RejectionReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectionReason {
    /// The suite has no such action.
    UnknownAction,
    /// The map binds no tool to the action.
    Unmapped,
    /// Below `model_configuration.min_confidence`.
    BelowConfidence {
        confidence: f64,
        threshold: f64,
    },
    /// A parameter the action does not declare.
    UnknownParameter {
        parameter: String,
    },
    WrongType {
        parameter: String,
        expected: ParameterType,
        found: String,
    },
    /// The instruction needs a value that is absent.
    MissingValue {
        placeholder: String,
    },
    Transform {
        parameter: String,
        message: String,
    },
    /// The tool call breaks the tool's input schema.
    Schema {
        violations: Vec<Violation>,
    },
    /// Browser steps: the event cannot be expressed as a tool call.
    Inexpressible {
        message: String,
    },
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{} `{}`", self.index, self.action)?;
        if let Some(t) = &self.tool {
            write!(f, " → `{t}`")?;
        }
        f.write_str(": ")?;
        match &self.reason {
            RejectionReason::UnknownAction => f.write_str("not an action of the suite"),
            RejectionReason::Unmapped => f.write_str("no tool is mapped to this action"),
            RejectionReason::BelowConfidence {
                confidence,
                threshold,
            } => {
                write!(f, "confidence {confidence} is below {threshold}")
            }
            RejectionReason::UnknownParameter { parameter } => {
                write!(f, "unknown parameter `{parameter}`")
            }
            RejectionReason::WrongType {
                parameter,
                expected,
                found,
            } => {
                write!(
                    f,
                    "parameter `{parameter}` should be {expected}, is {found}"
                )
            }
            RejectionReason::MissingValue { placeholder } => {
                write!(f, "no value for {{{placeholder}}}")
            }
            RejectionReason::Transform { parameter, message } => {
                write!(f, "parameter `{parameter}`: {message}")
            }
            RejectionReason::Schema { violations } => f.write_str(
                &violations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            RejectionReason::Inexpressible { message } => f.write_str(message),
        }
    }
}

/// The catalog entities given to a synthesizer do not fit together.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    #[error("the action tool map {map} binds {what} {expected}, not {given}")]
    Mismatch {
        map: Uuid,
        what: &'static str,
        expected: Uuid,
        given: Uuid,
    },
    #[error("the action tool map {map} refers to {what} {id}, which is not there")]
    Dangling {
        map: Uuid,
        what: &'static str,
        id: Uuid,
    },
    #[error("the MCP server has no tool `{tool}`")]
    MissingTool { tool: String },
    #[error(transparent)]
    Validate(#[from] ValidateError),
}

/// A finished synthesis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Synthesis {
    pub model: ModelRef,
    pub model_configuration: Value,
    pub action_tool_map_id: Uuid,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub records: Vec<ActionRecord>,
    pub rejections: Vec<Rejection>,
}

fn json_line<T: Serialize>(value: &T) -> String {
    // Only string-keyed maps and plain values are serialised: cannot fail.
    serde_json::to_string(value).expect("messages and tools serialise to JSON")
}

/// `messages.jsonl`: one message per line, each line ending in `\n`.
pub fn messages_jsonl(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(&json_line(m));
        out.push('\n');
    }
    out
}

/// The training line `{"messages":[…],"tools":[…]}`, without a final newline.
pub fn training_line(messages: &[Message], tools: &[ToolDefinition]) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        messages: &'a [Message],
        tools: &'a [ToolDefinition],
    }
    json_line(&Line { messages, tools })
}

impl Synthesis {
    pub fn messages_jsonl(&self) -> String {
        messages_jsonl(&self.messages)
    }

    pub fn training_line(&self) -> String {
        training_line(&self.messages, &self.tools)
    }
}

/// Builds the system/user/assistant/tool sequence with numbered call ids.
#[derive(Debug)]
pub(crate) struct Conversation {
    pub messages: Vec<Message>,
    calls: usize,
}

impl Conversation {
    pub fn new(system: String) -> Conversation {
        Conversation {
            messages: vec![Message::System { content: system }],
            calls: 0,
        }
    }

    /// Appends one exchange, the tool message carrying `result`, and answers
    /// the call id.
    pub fn push_call(
        &mut self,
        instruction: String,
        tool: &str,
        arguments: &Value,
        result: String,
    ) -> String {
        self.calls += 1;
        let id = format!("call_{}", self.calls);
        self.messages.push(Message::User {
            content: instruction,
        });
        self.messages.push(Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: id.clone(),
                call_type: "function".into(),
                function: FunctionCall {
                    name: tool.to_owned(),
                    arguments: json_line(arguments),
                },
            }],
        });
        self.messages.push(Message::Tool {
            tool_call_id: id.clone(),
            content: result,
        });
        id
    }
}

/// A tool call planned for one action.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall<'c> {
    pub instruction: String,
    pub tool: &'c Tool,
    pub arguments: Value,
}

/// A tool call a reviewer settled on: a classified action as it was or as
/// changed, or one they added. Reviewed calls are taken as they are: no
/// confidence threshold applies.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedCall {
    /// The suite action it stands for, when known; otherwise the action
    /// mapped onto `tool`.
    pub action: Option<String>,
    pub tool: String,
    pub arguments: Value,
    pub confidence: f64,
    pub low_confidence: bool,
    /// Indices into `Session::events`.
    pub evidence: Vec<usize>,
    pub start_us: i64,
    pub end_us: i64,
}

/// A Suite, its map onto one server, and that server's compiled schemas.
#[derive(Debug)]
pub struct Synthesizer<'c> {
    suite: &'c Suite,
    map: &'c ActionToolMap,
    server: &'c McpServer,
    tools: Vec<&'c Tool>,
    validator: ToolValidator,
    results: Option<&'c ToolResults>,
}

impl<'c> Synthesizer<'c> {
    /// Checks that the three fit together and compiles the mapped tools' schemas.
    pub fn new(
        suite: &'c Suite,
        map: &'c ActionToolMap,
        server: &'c McpServer,
    ) -> Result<Self, SynthError> {
        if map.suite_id != suite.id {
            return Err(SynthError::Mismatch {
                map: map.id,
                what: "suite",
                expected: map.suite_id,
                given: suite.id,
            });
        }
        if map.mcp_server_id != server.id {
            return Err(SynthError::Mismatch {
                map: map.id,
                what: "MCP server",
                expected: map.mcp_server_id,
                given: server.id,
            });
        }
        let mut tools: Vec<&Tool> = Vec::new();
        for m in &map.tool_mappings {
            let dangling = |what, id| SynthError::Dangling {
                map: map.id,
                what,
                id,
            };
            let action = suite
                .action_by_id(m.action_id)
                .ok_or_else(|| dangling("action", m.action_id))?;
            let tool = server
                .tool_by_id(m.tool_id)
                .ok_or_else(|| dangling("tool", m.tool_id))?;
            for pm in &m.parameter_mappings {
                action
                    .parameter_by_id(pm.action_parameter_id)
                    .ok_or_else(|| dangling("action parameter", pm.action_parameter_id))?;
                tool.parameter_by_id(pm.tool_parameter_id)
                    .ok_or_else(|| dangling("tool parameter", pm.tool_parameter_id))?;
            }
            if !tools.iter().any(|t| t.id == tool.id) {
                tools.push(tool);
            }
        }
        let validator = ToolValidator::new(tools.iter().copied())?;
        Ok(Synthesizer {
            suite,
            map,
            server,
            tools,
            validator,
            results: None,
        })
    }

    /// Builds tool results as `results` describes (the catalog's
    /// [`crate::catalog::Catalog::tool_results`] for the suite and server);
    /// without it every result is [`UNGROUNDED_RESULT`].
    pub fn with_results(mut self, results: Option<&'c ToolResults>) -> Self {
        self.results = results;
        self
    }

    /// The result of one call from what `session` showed after it.
    fn result(
        &self,
        session: Option<&Session>,
        tool: &str,
        arguments: &Value,
        evidence: &[usize],
        next_action: Option<usize>,
    ) -> RenderedResult {
        match (self.results, session) {
            (Some(results), Some(session)) => {
                results.render(session, tool, arguments, evidence, next_action)
            }
            _ => RenderedResult::ungrounded(),
        }
    }

    /// The name of the MCP server the map calls.
    pub fn server_name(&self) -> &'c str {
        &self.server.name
    }

    /// The name of the suite the map is for.
    pub fn suite_name(&self) -> &'c str {
        &self.suite.name
    }

    /// The tools the map covers, in the order of their first mapping.
    pub fn tools(&self) -> &[&'c Tool] {
        &self.tools
    }

    pub fn tool_definitions(&self) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .map(|t| ToolDefinition::from_tool(t))
            .collect()
    }

    pub fn system_prompt(&self) -> String {
        let mut s = format!("You are an assistant for {}.", self.suite.display_name);
        if let Some(d) = &self.suite.description {
            s.push(' ');
            s.push_str(d.trim());
        }
        let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
        s.push_str(&format!(
            " You act for the user through the tools of the MCP server \"{}\": {}. \
             For each request, call the one tool that carries it out, with the values the request gives.",
            self.server.name,
            names.join(", ")
        ));
        s
    }

    /// The instruction and tool call for one classified action, validated.
    pub fn plan(
        &self,
        action: &ClassifiedAction,
    ) -> Result<PlannedCall<'c>, (Option<String>, RejectionReason)> {
        let def = self
            .suite
            .action(&action.action)
            .ok_or((None, RejectionReason::UnknownAction))?;
        for (name, value) in &action.parameters {
            let p = def.parameter(name).ok_or_else(|| {
                (
                    None,
                    RejectionReason::UnknownParameter {
                        parameter: name.clone(),
                    },
                )
            })?;
            if !value.is_null() && !p.param_type.admits(value) {
                return Err((
                    None,
                    RejectionReason::WrongType {
                        parameter: name.clone(),
                        expected: p.param_type,
                        found: crate::catalog::json_type(value).to_owned(),
                    },
                ));
            }
        }
        let mapping = self
            .map
            .mapping_for_action(def.id)
            .ok_or((None, RejectionReason::Unmapped))?;
        // `new` checked every id of the map.
        let tool = self
            .server
            .tool_by_id(mapping.tool_id)
            .ok_or((None, RejectionReason::Unmapped))?;
        let tool_name = || Some(tool.name.clone());

        // Values pass through their mapping's transform first, so that the
        // instruction says what the call carries (`a@x, , b@y` reads `a@x, b@y`).
        let mut values = action.parameters.clone();
        for pm in &mapping.parameter_mappings {
            let (Some(t), Some(ap)) = (pm.transform, def.parameter_by_id(pm.action_parameter_id))
            else {
                continue;
            };
            if let Some(v) = values.get_mut(&ap.name).filter(|v| !v.is_null()) {
                *v = t.apply(v).map_err(|e| {
                    (
                        tool_name(),
                        RejectionReason::Transform {
                            parameter: ap.name.clone(),
                            message: e.to_string(),
                        },
                    )
                })?;
            }
        }
        let instruction = def.template.render(&values).map_err(|e| match e {
            TemplateError::Missing { placeholder } => {
                (tool_name(), RejectionReason::MissingValue { placeholder })
            }
            other => (
                tool_name(),
                RejectionReason::MissingValue {
                    placeholder: other.to_string(),
                },
            ),
        })?;
        let mut arguments = Map::new();
        for pm in &mapping.parameter_mappings {
            let (Some(ap), Some(tp)) = (
                def.parameter_by_id(pm.action_parameter_id),
                tool.parameter_by_id(pm.tool_parameter_id),
            ) else {
                continue;
            };
            let Some(value) = values.get(&ap.name).filter(|v| !v.is_null()).cloned() else {
                continue;
            };
            match prune_empty(value.clone()) {
                Some(v) => {
                    arguments.insert(tp.name.clone(), v);
                }
                None if tp.required => {
                    let empty = match value {
                        Value::String(_) => Value::String(String::new()),
                        Value::Array(_) => Value::Array(Vec::new()),
                        Value::Object(_) => Value::Object(Map::new()),
                        other => other,
                    };
                    arguments.insert(tp.name.clone(), empty);
                }
                None => {}
            }
        }
        let arguments = Value::Object(arguments);
        match self.validator.validate(&tool.name, &arguments) {
            Ok(()) => Ok(PlannedCall {
                instruction,
                tool,
                arguments,
            }),
            Err(CallError::Invalid { violations, .. }) => {
                Err((tool_name(), RejectionReason::Schema { violations }))
            }
            Err(CallError::UnknownTool { .. }) => Err((tool_name(), RejectionReason::Unmapped)),
        }
    }

    /// The whole Example. `model_configuration` is kept with the result; its
    /// optional `min_confidence` (a number) leaves out less confident actions.
    /// Tool results are read from `session`, the recording the actions were
    /// classified from; without it none is grounded.
    pub fn synthesize(
        &self,
        model: &ModelRef,
        model_configuration: &Value,
        actions: &[ClassifiedAction],
        session: Option<&Session>,
    ) -> Synthesis {
        let threshold = model_configuration
            .get("min_confidence")
            .and_then(Value::as_f64);
        let mut conversation = Conversation::new(self.system_prompt());
        let mut records = Vec::new();
        let mut rejections = Vec::new();
        let next_actions = next_actions(actions.iter().map(|a| a.evidence.as_slice()));
        for (index, action) in actions.iter().enumerate() {
            let planned = match threshold {
                Some(t) if action.confidence < t => Err((
                    None,
                    RejectionReason::BelowConfidence {
                        confidence: action.confidence,
                        threshold: t,
                    },
                )),
                _ => self.plan(action),
            };
            match planned {
                Ok(call) => {
                    let result = self.result(
                        session,
                        &call.tool.name,
                        &call.arguments,
                        &action.evidence,
                        next_actions[index],
                    );
                    let call_id = conversation.push_call(
                        call.instruction.clone(),
                        &call.tool.name,
                        &call.arguments,
                        result.content,
                    );
                    records.push(ActionRecord {
                        index,
                        call_id,
                        action: action.action.clone(),
                        tool: call.tool.name.clone(),
                        instruction: call.instruction,
                        arguments: call.arguments,
                        confidence: action.confidence,
                        low_confidence: action.low_confidence,
                        evidence: action.evidence.clone(),
                        start_us: action.start_us,
                        end_us: action.end_us,
                        result_grounded: result.grounded,
                    });
                }
                Err((tool, reason)) => rejections.push(Rejection {
                    index,
                    action: action.action.clone(),
                    tool,
                    reason,
                }),
            }
        }
        Synthesis {
            model: model.clone(),
            model_configuration: model_configuration.clone(),
            action_tool_map_id: self.map.id,
            messages: conversation.messages,
            tools: self.tool_definitions(),
            records,
            rejections,
        }
    }
}

impl<'c> Synthesizer<'c> {
    /// The suite action a call of `tool` stands for: `preferred` when its
    /// mapping is onto `tool`, else the first action mapped onto it.
    pub fn action_for_tool(&self, tool: &str, preferred: Option<&str>) -> Option<&'c Action> {
        let suite = self.suite;
        let tool_id = self.tools.iter().find(|t| t.name == tool)?.id;
        let onto_tool = |m: &&ActionToolMapping| m.tool_id == tool_id;
        let preferred = preferred.and_then(|name| suite.action(name)).filter(|a| {
            self.map
                .mapping_for_action(a.id)
                .is_some_and(|m| onto_tool(&m))
        });
        preferred.or_else(|| {
            self.map
                .tool_mappings
                .iter()
                .find(onto_tool)
                .and_then(|m| suite.action_by_id(m.action_id))
        })
    }

    /// Checks a call's arguments against its tool's input schema.
    pub fn check_call(&self, tool: &str, arguments: &Value) -> Result<(), CallError> {
        self.validator.validate(tool, arguments)
    }

    /// The instruction for one reviewed call: its action's template rendered
    /// with the call's arguments read back through the mapping (a
    /// transformed value reads as the call carries it, as in [`Self::plan`]).
    fn plan_reviewed(&self, call: &ReviewedCall) -> Result<(String, String), RejectionReason> {
        let def = self
            .action_for_tool(&call.tool, call.action.as_deref())
            .ok_or(RejectionReason::Unmapped)?;
        let mapping = self
            .map
            .mapping_for_action(def.id)
            .ok_or(RejectionReason::Unmapped)?;
        let tool = self
            .server
            .tool_by_id(mapping.tool_id)
            .ok_or(RejectionReason::Unmapped)?;
        let mut values = Map::new();
        for pm in &mapping.parameter_mappings {
            let (Some(ap), Some(tp)) = (
                def.parameter_by_id(pm.action_parameter_id),
                tool.parameter_by_id(pm.tool_parameter_id),
            ) else {
                continue;
            };
            if let Some(v) = call.arguments.get(&tp.name) {
                values.insert(ap.name.clone(), v.clone());
            }
        }
        let instruction = def.template.render(&values).map_err(|e| match e {
            TemplateError::Missing { placeholder } => RejectionReason::MissingValue { placeholder },
            other => RejectionReason::MissingValue {
                placeholder: other.to_string(),
            },
        })?;
        match self.validator.validate(&tool.name, &call.arguments) {
            Ok(()) => Ok((def.name.clone(), instruction)),
            Err(CallError::Invalid { violations, .. }) => {
                Err(RejectionReason::Schema { violations })
            }
            Err(CallError::UnknownTool { .. }) => Err(RejectionReason::Unmapped),
        }
    }

    /// The conversation of reviewed calls, in the order given, built as
    /// [`Self::synthesize`] builds one from classified actions: a call that
    /// no longer validates is reported, never emitted.
    pub fn synthesize_reviewed(
        &self,
        model: &ModelRef,
        model_configuration: &Value,
        calls: &[ReviewedCall],
        session: Option<&Session>,
    ) -> Synthesis {
        let mut conversation = Conversation::new(self.system_prompt());
        let mut records = Vec::new();
        let mut rejections = Vec::new();
        let next_actions = next_actions(calls.iter().map(|c| c.evidence.as_slice()));
        for (index, call) in calls.iter().enumerate() {
            match self.plan_reviewed(call) {
                Ok((action, instruction)) => {
                    let result = self.result(
                        session,
                        &call.tool,
                        &call.arguments,
                        &call.evidence,
                        next_actions[index],
                    );
                    let call_id = conversation.push_call(
                        instruction.clone(),
                        &call.tool,
                        &call.arguments,
                        result.content,
                    );
                    records.push(ActionRecord {
                        index,
                        call_id,
                        action,
                        tool: call.tool.clone(),
                        instruction,
                        arguments: call.arguments.clone(),
                        confidence: call.confidence,
                        low_confidence: call.low_confidence,
                        evidence: call.evidence.clone(),
                        start_us: call.start_us,
                        end_us: call.end_us,
                        result_grounded: result.grounded,
                    });
                }
                Err(reason) => rejections.push(Rejection {
                    index,
                    action: call.action.clone().unwrap_or_default(),
                    tool: Some(call.tool.clone()),
                    reason,
                }),
            }
        }
        Synthesis {
            model: model.clone(),
            model_configuration: model_configuration.clone(),
            action_tool_map_id: self.map.id,
            messages: conversation.messages,
            tools: self.tool_definitions(),
            records,
            rejections,
        }
    }
}

/// For each action, the first evidence event of the next action that has
/// evidence: where the view after the action must have been recorded.
fn next_actions<'a>(evidence: impl DoubleEndedIterator<Item = &'a [usize]>) -> Vec<Option<usize>> {
    let mut next = None;
    let mut out: Vec<Option<usize>> = evidence
        .rev()
        .map(|e| {
            let this = next;
            if let Some(&first) = e.iter().min() {
                next = Some(first);
            }
            this
        })
        .collect();
    out.reverse();
    out
}

/// One-shot [`Synthesizer::new`] + [`Synthesizer::synthesize`], without
/// tool-result descriptions.
pub fn synthesize(
    suite: &Suite,
    map: &ActionToolMap,
    server: &McpServer,
    model: &ModelRef,
    model_configuration: &Value,
    actions: &[ClassifiedAction],
) -> Result<Synthesis, SynthError> {
    Ok(Synthesizer::new(suite, map, server)?.synthesize(model, model_configuration, actions, None))
}
