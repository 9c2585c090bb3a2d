//! One Example's training line, checked, and written out in each export format.
//!
//! [`Conversation::parse`] reads the `{"messages":[…],"tools":[…]}` line that
//! synthesis stores and refuses what a trainer would choke on: unknown roles, a
//! system message anywhere but first, tool calls without answers, answers
//! without calls, arguments that are not a JSON object. The same checked
//! conversation is then rendered as
//!
//! - [`Format::OpenAi`]: OpenAI chat fine-tuning, `arguments` a JSON string and
//!   `tools` beside `messages`;
//! - [`Format::Trl`]: the Hugging Face / TRL convention, `arguments` an object,
//!   tool messages carrying the tool's `name`, `tools` a separate column;
//! - [`Format::ShareGpt`]: `conversations` of `human` / `function_call` /
//!   `observation` / `gpt` turns, `system` and `tools` (a JSON string) beside.
//!
//! Arguments are always re-serialised in canonical form (keys sorted, no
//! spaces), so that the bytes of an export depend on the arguments' content
//! only, not on how a particular writer spelled them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use tracepipe_processors::catalog::Tool;
use tracepipe_processors::synth::ToolDefinition;
use tracepipe_processors::validate::{CallError, ToolValidator, ValidateError};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OpenAI chat fine-tuning JSONL.
    #[value(name = "openai")]
    OpenAi,
    /// Hugging Face datasets / TRL: tool-call arguments as objects.
    Trl,
    /// ShareGPT with function_call / observation turns.
    #[value(name = "sharegpt")]
    ShareGpt,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenAi => "openai",
            Format::Trl => "trl",
            Format::ShareGpt => "sharegpt",
        }
    }
}

/// Why a training line is left out of the export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    #[error("not a training line: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message {index}: unknown role {role:?}")]
    Role { index: usize, role: String },
    #[error("message {index}: a {role} message needs text content")]
    Content { index: usize, role: &'static str },
    #[error("message {index}: a system message may only come first")]
    SystemNotFirst { index: usize },
    #[error("message {index}: an assistant message with neither content nor tool calls")]
    EmptyAssistant { index: usize },
    #[error("tool call {id:?} is of type {kind:?}, not function")]
    CallType { id: String, kind: String },
    #[error("tool call id {id:?} is used twice")]
    DuplicateCallId { id: String },
    #[error("tool call {id:?} has no tool message answering it")]
    Unanswered { id: String },
    #[error("message {index}: a tool message for {id:?}, which no open tool call has")]
    UnexpectedToolMessage { index: usize, id: String },
    #[error("tool call {id:?}: arguments are not JSON: {message}")]
    Arguments { id: String, message: String },
    #[error("tool call {id:?}: arguments are not a JSON object")]
    ArgumentsNotObject { id: String },
    #[error("tool call {id:?} names {tool:?}, which is not among the line's tools")]
    UnknownTool { id: String, tool: String },
    #[error("the line's tools are named twice: {tool:?}")]
    DuplicateTool { tool: String },
    #[error("no tool calls")]
    NoToolCall,
    #[error(transparent)]
    ToolSchema(#[from] ValidateError),
    #[error(transparent)]
    Schema(#[from] CallError),
}

impl LineError {
    /// A stable short name for counting in the manifest.
    pub fn reason(&self) -> &'static str {
        match self {
            LineError::Json(_) => "malformed_line",
            LineError::Role { .. } => "unknown_role",
            LineError::Content { .. } => "missing_content",
            LineError::SystemNotFirst { .. } => "system_not_first",
            LineError::EmptyAssistant { .. } => "empty_assistant_message",
            LineError::CallType { .. } => "not_a_function_call",
            LineError::DuplicateCallId { .. } => "duplicate_call_id",
            LineError::Unanswered { .. } => "unanswered_tool_call",
            LineError::UnexpectedToolMessage { .. } => "unexpected_tool_message",
            LineError::Arguments { .. } | LineError::ArgumentsNotObject { .. } => {
                "arguments_not_an_object"
            }
            LineError::UnknownTool { .. } | LineError::DuplicateTool { .. } => "unknown_tool",
            LineError::NoToolCall => "no_tool_calls",
            LineError::ToolSchema(_) => "tool_schema_invalid",
            LineError::Schema(_) => "arguments_break_schema",
        }
    }
}

/// The stored line, as loosely as it may come: every check is ours.
#[derive(Deserialize)]
struct RawLine {
    messages: Vec<RawMessage>,
    #[serde(default)]
    tools: Vec<ToolDefinition>,
}

#[derive(Deserialize)]
struct RawMessage {
    role: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<RawCall>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
struct RawCall {
    id: String,
    #[serde(rename = "type", default = "function_type")]
    kind: String,
    function: RawFunction,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Deserialize)]
struct RawFunction {
    name: String,
    arguments: String,
}

/// One tool call with its arguments parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: String,
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Turn {
    User(String),
    Assistant {
        content: Option<String>,
        calls: Vec<Call>,
    },
    /// Consecutive tool messages answering one assistant message, in order.
    Results(Vec<ToolResult>),
}

#[derive(Debug, Clone, PartialEq)]
struct ToolResult {
    call_id: String,
    /// The called tool's name, from the call this answers.
    name: String,
    content: String,
}

/// A checked conversation: every call answered right after it is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    system: Option<String>,
    turns: Vec<Turn>,
    tools: Vec<ToolDefinition>,
}

impl Conversation {
    /// Parses and checks a `{"messages":[…],"tools":[…]}` line.
    pub fn parse(line: &str) -> Result<Conversation, LineError> {
        let raw: RawLine = serde_json::from_str(line)?;
        let mut tool_names = BTreeSet::new();
        for tool in &raw.tools {
            if !tool_names.insert(tool.function.name.as_str()) {
                return Err(LineError::DuplicateTool {
                    tool: tool.function.name.clone(),
                });
            }
        }
        let mut system = None;
        let mut turns: Vec<Turn> = Vec::new();
        let mut seen_ids = BTreeSet::new();
        // Calls of the last assistant message still waiting for their answer.
        let mut open: Vec<(String, String)> = Vec::new();
        let mut any_call = false;
        for (index, message) in raw.messages.into_iter().enumerate() {
            if message.role != "tool" {
                if let Some((id, _)) = open.first() {
                    return Err(LineError::Unanswered { id: id.clone() });
                }
            }
            match message.role.as_str() {
                "system" => {
                    if index != 0 {
                        return Err(LineError::SystemNotFirst { index });
                    }
                    system = Some(message.content.ok_or(LineError::Content {
                        index,
                        role: "system",
                    })?);
                }
                "user" => turns.push(Turn::User(message.content.ok_or(LineError::Content {
                    index,
                    role: "user",
                })?)),
                "assistant" => {
                    if message.content.is_none() && message.tool_calls.is_empty() {
                        return Err(LineError::EmptyAssistant { index });
                    }
                    let mut calls = Vec::with_capacity(message.tool_calls.len());
                    for call in message.tool_calls {
                        calls.push(parse_call(call, &tool_names, &mut seen_ids)?);
                    }
                    open = calls
                        .iter()
                        .map(|c| (c.id.clone(), c.name.clone()))
                        .collect();
                    any_call |= !calls.is_empty();
                    turns.push(Turn::Assistant {
                        content: message.content,
                        calls,
                    });
                }
                "tool" => {
                    let id = message.tool_call_id.unwrap_or_default();
                    let position = open.iter().position(|(open_id, _)| *open_id == id);
                    let Some(position) = position else {
                        return Err(LineError::UnexpectedToolMessage { index, id });
                    };
                    let (call_id, name) = open.remove(position);
                    let result = ToolResult {
                        call_id,
                        name,
                        content: message.content.ok_or(LineError::Content {
                            index,
                            role: "tool",
                        })?,
                    };
                    match turns.last_mut() {
                        Some(Turn::Results(results)) => results.push(result),
                        _ => turns.push(Turn::Results(vec![result])),
                    }
                }
                other => {
                    return Err(LineError::Role {
                        index,
                        role: other.to_owned(),
                    })
                }
            }
        }
        if let Some((id, _)) = open.first() {
            return Err(LineError::Unanswered { id: id.clone() });
        }
        if !any_call {
            return Err(LineError::NoToolCall);
        }
        Ok(Conversation {
            system,
            turns,
            tools: raw.tools,
        })
    }

    /// Every tool call, in order.
    /// Whether the conversation answers at least one call and every answer
    /// is a result the recording showed (see
    /// [`tracepipe_processors::results::is_grounded_content`]).
    pub fn results_grounded(&self) -> bool {
        let mut results = self
            .turns
            .iter()
            .flat_map(|turn| match turn {
                Turn::Results(results) => results.as_slice(),
                _ => &[],
            })
            .peekable();
        results.peek().is_some()
            && results.all(|r| tracepipe_processors::results::is_grounded_content(&r.content))
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.turns.iter().flat_map(|turn| match turn {
            Turn::Assistant { calls, .. } => calls.as_slice(),
            _ => &[],
        })
    }

    /// A key for the line's tool surface: lines with the same tools share one
    /// compiled [`ToolValidator`].
    pub fn tools_key(&self) -> [u8; 32] {
        let value = serde_json::to_value(&self.tools).unwrap_or(Value::Null);
        Sha256::digest(canonical_json(&value).as_bytes()).into()
    }

    /// Compiles the input schemas of the line's tools.
    pub fn validator(&self) -> Result<ToolValidator, LineError> {
        let tools: Vec<Tool> = self
            .tools
            .iter()
            .map(|t| Tool {
                id: Uuid::nil(),
                mcp_server_id: Uuid::nil(),
                name: t.function.name.clone(),
                title: None,
                description: t.function.description.clone(),
                input_schema: t.function.parameters.clone(),
                output_schema: None,
                annotations: None,
                parameters: Vec::new(),
            })
            .collect();
        Ok(ToolValidator::new(&tools)?)
    }

    /// Checks every call's arguments against its tool's input schema.
    pub fn check_arguments(&self, validator: &ToolValidator) -> Result<(), LineError> {
        for call in self.calls() {
            validator.validate(&call.name, &call.arguments)?;
        }
        Ok(())
    }

    /// SHA-256 of the canonical messages (keys sorted, arguments as objects):
    /// two Examples with the same conversation have the same hash, however
    /// their lines were spelled.
    pub fn content_hash(&self) -> [u8; 32] {
        let messages = serde_json::to_value(self.trl_messages()).unwrap_or(Value::Null);
        Sha256::digest(canonical_json(&messages).as_bytes()).into()
    }

    /// The conversation as one line of `format`, without the final newline.
    pub fn render(&self, format: Format) -> String {
        let rendered = match format {
            Format::OpenAi => serde_json::to_string(&OpenAiLine {
                messages: self.openai_messages(),
                tools: &self.tools,
            }),
            Format::Trl => serde_json::to_string(&TrlLine {
                messages: self.trl_messages(),
                tools: &self.tools,
            }),
            Format::ShareGpt => serde_json::to_string(&self.sharegpt_line()),
        };
        // Plain structs of strings and JSON values with string keys only.
        rendered.unwrap_or_default()
    }

    fn openai_messages(&self) -> Vec<OpenAiMessage<'_>> {
        let mut out = Vec::with_capacity(self.turns.len() + 1);
        if let Some(content) = &self.system {
            out.push(OpenAiMessage::System { content });
        }
        for turn in &self.turns {
            match turn {
                Turn::User(content) => out.push(OpenAiMessage::User { content }),
                Turn::Assistant { content, calls } => out.push(OpenAiMessage::Assistant {
                    content: content.as_deref(),
                    tool_calls: calls
                        .iter()
                        .map(|c| OpenAiCall {
                            id: &c.id,
                            kind: "function",
                            function: OpenAiFunction {
                                name: &c.name,
                                arguments: canonical_json(&c.arguments),
                            },
                        })
                        .collect(),
                }),
                Turn::Results(results) => out.extend(results.iter().map(|r| OpenAiMessage::Tool {
                    tool_call_id: &r.call_id,
                    content: &r.content,
                })),
            }
        }
        out
    }

    fn trl_messages(&self) -> Vec<TrlMessage<'_>> {
        let mut out = Vec::with_capacity(self.turns.len() + 1);
        if let Some(content) = &self.system {
            out.push(TrlMessage::System { content });
        }
        for turn in &self.turns {
            match turn {
                Turn::User(content) => out.push(TrlMessage::User { content }),
                Turn::Assistant { content, calls } => out.push(TrlMessage::Assistant {
                    content: content.as_deref(),
                    tool_calls: calls
                        .iter()
                        .map(|c| TrlCall {
                            id: &c.id,
                            kind: "function",
                            function: TrlFunction {
                                name: &c.name,
                                arguments: &c.arguments,
                            },
                        })
                        .collect(),
                }),
                Turn::Results(results) => out.extend(results.iter().map(|r| TrlMessage::Tool {
                    tool_call_id: &r.call_id,
                    name: &r.name,
                    content: &r.content,
                })),
            }
        }
        out
    }

    fn sharegpt_line(&self) -> ShareGptLine<'_> {
        let mut conversations = Vec::with_capacity(self.turns.len() * 2);
        for turn in &self.turns {
            match turn {
                Turn::User(content) => conversations.push(ShareGptTurn {
                    from: "human",
                    value: content.clone(),
                }),
                Turn::Assistant { content, calls } => {
                    if let Some(text) = content {
                        conversations.push(ShareGptTurn {
                            from: "gpt",
                            value: text.clone(),
                        });
                    }
                    let named: Vec<Value> = calls
                        .iter()
                        .map(|c| serde_json::json!({"name": c.name, "arguments": c.arguments}))
                        .collect();
                    // One call is an object; parallel calls a list, which is how
                    // ShareGPT readers tell them apart.
                    match named.as_slice() {
                        [] => {}
                        [one] => conversations.push(ShareGptTurn {
                            from: "function_call",
                            value: canonical_json(one),
                        }),
                        many => conversations.push(ShareGptTurn {
                            from: "function_call",
                            value: canonical_json(&Value::Array(many.to_vec())),
                        }),
                    }
                }
                Turn::Results(results) => {
                    let value = match results.as_slice() {
                        [one] => one.content.clone(),
                        many => canonical_json(&Value::Array(
                            many.iter()
                                .map(|r| Value::String(r.content.clone()))
                                .collect(),
                        )),
                    };
                    conversations.push(ShareGptTurn {
                        from: "observation",
                        value,
                    });
                }
            }
        }
        let functions: Vec<&tracepipe_processors::synth::FunctionDefinition> =
            self.tools.iter().map(|t| &t.function).collect();
        ShareGptLine {
            conversations,
            system: self.system.as_deref(),
            tools: serde_json::to_string(&functions).unwrap_or_default(),
        }
    }
}

fn parse_call(
    call: RawCall,
    tools: &BTreeSet<&str>,
    seen_ids: &mut BTreeSet<String>,
) -> Result<Call, LineError> {
    if call.kind != "function" {
        return Err(LineError::CallType {
            id: call.id,
            kind: call.kind,
        });
    }
    if !seen_ids.insert(call.id.clone()) {
        return Err(LineError::DuplicateCallId { id: call.id });
    }
    if !tools.contains(call.function.name.as_str()) {
        return Err(LineError::UnknownTool {
            id: call.id,
            tool: call.function.name,
        });
    }
    let arguments: Value =
        serde_json::from_str(&call.function.arguments).map_err(|e| LineError::Arguments {
            id: call.id.clone(),
            message: e.to_string(),
        })?;
    if !arguments.is_object() {
        return Err(LineError::ArgumentsNotObject { id: call.id });
    }
    Ok(Call {
        id: call.id,
        name: call.function.name,
        arguments,
    })
}

/// JSON with object keys sorted at every level and no insignificant space:
/// the same value always gives the same bytes, whichever map type serde_json
/// was built with.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // A string always serialises.
                let _ = write!(out, "{}", Value::String(key.clone()));
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

#[derive(Serialize)]
struct OpenAiLine<'a> {
    messages: Vec<OpenAiMessage<'a>>,
    tools: &'a [ToolDefinition],
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum OpenAiMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<OpenAiCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct OpenAiCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OpenAiFunction<'a>,
}

#[derive(Serialize)]
struct OpenAiFunction<'a> {
    name: &'a str,
    /// The arguments object as a JSON string, as the OpenAI format wants.
    arguments: String,
}

#[derive(Serialize)]
struct TrlLine<'a> {
    messages: Vec<TrlMessage<'a>>,
    tools: &'a [ToolDefinition],
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum TrlMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<TrlCall<'a>>,
    },
    /// Chat templates differ in which of `name` and `tool_call_id` they read;
    /// both are given.
    Tool {
        tool_call_id: &'a str,
        name: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct TrlCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: TrlFunction<'a>,
}

#[derive(Serialize)]
struct TrlFunction<'a> {
    name: &'a str,
    /// The arguments as an object, as Hugging Face chat templates want.
    arguments: &'a Value,
}

#[derive(Serialize)]
struct ShareGptLine<'a> {
    conversations: Vec<ShareGptTurn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    /// The function definitions as a JSON string, the ShareGPT convention.
    tools: String,
}

#[derive(Serialize)]
struct ShareGptTurn {
    from: &'static str,
    value: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Value {
        json!([{
            "type": "function",
            "function": {
                "name": "send_email",
                "description": "Sends a new email",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "to": {"type": "array", "items": {"type": "string"}},
                        "subject": {"type": "string"}
                    },
                    "required": ["to", "subject"],
                    "additionalProperties": false
                }
            }
        }])
    }

    fn line(messages: Value) -> String {
        json!({"messages": messages, "tools": tools()}).to_string()
    }

    fn good() -> String {
        line(json!([
            {"role": "system", "content": "You are an assistant for Gmail."},
            {"role": "user", "content": "Mail Ann"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "send_email", "arguments": "{\"subject\": \"Hi\", \"to\": [\"ann@example.com\"]}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\":\"ok\"}"}
        ]))
    }

    fn parse(value: Value) -> Result<Conversation, LineError> {
        Conversation::parse(&line(value))
    }

    #[test]
    fn openai_keeps_arguments_a_string_in_canonical_form() {
        let c = Conversation::parse(&good()).expect("good line");
        let out: Value = serde_json::from_str(&c.render(Format::OpenAi)).expect("json");
        let call = &out["messages"][2]["tool_calls"][0];
        assert_eq!(
            call["function"]["arguments"],
            json!("{\"subject\":\"Hi\",\"to\":[\"ann@example.com\"]}")
        );
        assert_eq!(out["messages"][2]["content"], Value::Null);
        assert_eq!(out["messages"][3]["tool_call_id"], "call_1");
        assert_eq!(out["tools"], tools());
    }

    #[test]
    fn trl_has_argument_objects_and_named_tool_messages() {
        let c = Conversation::parse(&good()).expect("good line");
        let out: Value = serde_json::from_str(&c.render(Format::Trl)).expect("json");
        assert_eq!(
            out["messages"][2]["tool_calls"][0]["function"]["arguments"],
            json!({"to": ["ann@example.com"], "subject": "Hi"})
        );
        assert_eq!(out["messages"][3]["name"], "send_email");
        assert_eq!(out["tools"], tools());
    }

    #[test]
    fn sharegpt_turns() {
        let c = Conversation::parse(&good()).expect("good line");
        let out: Value = serde_json::from_str(&c.render(Format::ShareGpt)).expect("json");
        let froms: Vec<&str> = out["conversations"]
            .as_array()
            .expect("turns")
            .iter()
            .map(|t| t["from"].as_str().expect("from"))
            .collect();
        assert_eq!(froms, ["human", "function_call", "observation"]);
        let call: Value =
            serde_json::from_str(out["conversations"][1]["value"].as_str().expect("value"))
                .expect("call json");
        assert_eq!(call["name"], "send_email");
        assert_eq!(call["arguments"]["subject"], "Hi");
        assert_eq!(out["system"], "You are an assistant for Gmail.");
        let tools: Value =
            serde_json::from_str(out["tools"].as_str().expect("tools string")).expect("tools");
        assert_eq!(tools[0]["name"], "send_email");
    }

    #[test]
    fn hash_ignores_spelling_but_not_content() {
        let a = Conversation::parse(&good()).expect("good");
        let respelled = good().replace(
            "{\\\"subject\\\": \\\"Hi\\\", \\\"to\\\": [\\\"ann@example.com\\\"]}",
            "{\\\"to\\\":[\\\"ann@example.com\\\"],\\\"subject\\\":\\\"Hi\\\"}",
        );
        assert_ne!(respelled, good());
        let b = Conversation::parse(&respelled).expect("respelled");
        assert_eq!(a.content_hash(), b.content_hash());
        let other = Conversation::parse(&good().replace("Mail Ann", "Mail Bob")).expect("other");
        assert_ne!(a.content_hash(), other.content_hash());
    }

    #[test]
    fn schema_checks_use_the_lines_tools() {
        let c = Conversation::parse(&good()).expect("good");
        let validator = c.validator().expect("schemas compile");
        c.check_arguments(&validator).expect("valid arguments");
        let bad = Conversation::parse(&good().replace("\\\"subject\\\": \\\"Hi\\\", ", ""))
            .expect("parses");
        let err = bad
            .check_arguments(&validator)
            .expect_err("subject missing");
        assert_eq!(err.reason(), "arguments_break_schema");
    }

    #[test]
    fn refuses_what_a_trainer_would_choke_on() {
        let call = |id: &str, args: &str| {
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "send_email", "arguments": args}}]})
        };
        let ok_args = "{\"to\":[\"a@example.com\"],\"subject\":\"s\"}";
        let user = json!({"role": "user", "content": "u"});
        let answer = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "ok"});
        let cases: Vec<(Value, &str)> = vec![
            (json!([user, call("c1", ok_args)]), "unanswered_tool_call"),
            (
                json!([user, call("c1", ok_args), user, answer("c1")]),
                "unanswered_tool_call",
            ),
            (json!([user, answer("c1")]), "unexpected_tool_message"),
            (
                json!([user, call("c1", ok_args), answer("c2")]),
                "unexpected_tool_message",
            ),
            (
                json!([
                    user,
                    call("c1", ok_args),
                    answer("c1"),
                    call("c1", ok_args),
                    answer("c1")
                ]),
                "duplicate_call_id",
            ),
            (
                json!([user, call("c1", "{nope"), answer("c1")]),
                "arguments_not_an_object",
            ),
            (
                json!([user, call("c1", "[1]"), answer("c1")]),
                "arguments_not_an_object",
            ),
            (
                json!([user, {"role": "robot", "content": "x"}]),
                "unknown_role",
            ),
            (
                json!([user, {"role": "system", "content": "late"}]),
                "system_not_first",
            ),
            (
                json!([user, {"role": "assistant", "content": "hi"}]),
                "no_tool_calls",
            ),
            (
                json!([user, {"role": "assistant", "content": null}]),
                "empty_assistant_message",
            ),
            (json!([{"role": "user"}]), "missing_content"),
        ];
        for (messages, reason) in cases {
            let err = parse(messages.clone()).expect_err(&messages.to_string());
            assert_eq!(err.reason(), reason, "{messages}: {err}");
        }
        let unknown = json!([user, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1",
            "type": "function", "function": {"name": "nope", "arguments": "{}"}}]}, answer("c1")]);
        assert_eq!(
            parse(unknown).expect_err("unknown").reason(),
            "unknown_tool"
        );
        assert_eq!(
            Conversation::parse("{").expect_err("json").reason(),
            "malformed_line"
        );
    }

    #[test]
    fn parallel_calls_and_answers_stay_together() {
        let c = parse(json!([
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "send_email", "arguments": "{\"to\":[\"x\"],\"subject\":\"1\"}"}},
                {"id": "b", "type": "function", "function": {"name": "send_email", "arguments": "{\"to\":[\"y\"],\"subject\":\"2\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "b", "content": "B"},
            {"role": "tool", "tool_call_id": "a", "content": "A"}
        ]))
        .expect("parallel calls");
        assert_eq!(c.calls().count(), 2);
        let share: Value = serde_json::from_str(&c.render(Format::ShareGpt)).expect("json");
        let turns = share["conversations"].as_array().expect("turns");
        assert_eq!(turns.len(), 3);
        assert!(turns[1]["value"].as_str().expect("value").starts_with('['));
        assert_eq!(turns[2]["value"], "[\"B\",\"A\"]");
        assert!(share.get("system").is_none());
    }

    #[test]
    fn canonical_json_sorts_keys_everywhere() {
        let v = json!({"b": [{"d": 1, "c": 2}], "a": "x\"y"});
        assert_eq!(canonical_json(&v), r#"{"a":"x\"y","b":[{"c":2,"d":1}]}"#);
    }
}
