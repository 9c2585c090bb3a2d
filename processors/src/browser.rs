//! Browser-level Examples: any [`Session`] as calls of the Playwright MCP
//! server's tools, whatever the application.
//!
//! | session | tool call |
//! |---|---|
//! | the first page, and later full-document navigations the user started | `browser_navigate {url}` |
//! | a click | `browser_click {element, target[, modifiers]}` |
//! | the committed value of a text field | `browser_type {element, target, text[, submit]}` |
//! | the committed value of a `<select>` | `browser_select_option {element, target, values}` |
//! | a meaningful key (Enter, Escape, Delete, modified keys) | `browser_press_key {key}` (`Control+Enter`) |
//!
//! `element` is the human-readable description Playwright asks for (role and
//! accessible name: `button "Compose"`); `target` is the recorded CSS selector,
//! else `#id`, else a Playwright role selector (`role=button[name="Compose"]`).
//!
//! Left out as consequences or noise: same-document (hash route) navigations,
//! full-document navigations within [`BrowserOptions::cause_window_us`] of a
//! user step or of another navigation (the click, the Enter or the redirect
//! caused them), form submits, clicks that only focus the field typed into next,
//! clicks that open a `<select>`, checkbox and radio `change`s (their click
//! toggled them), Tab, bare modifier keys, editing shortcuts inside a text field
//! (Ctrl+A/C/V/X/Y/Z: the committed value covers them), scrolls, raw inputs,
//! requests and screenshots. An Enter right after a `change` of the same field
//! becomes that `browser_type`'s `submit: true`.
//!
//! Masked values are never written: a `change` of a masked field (or of a
//! password or credential field) is reported as a [`Rejection`], as is every call
//! that breaks its tool's schema.

use serde::Serialize;
use serde_json::{json, Map, Value};
use tracepipe_schemas::{Event, EventKind, Session, Target};

use crate::catalog::{McpServer, Tool};
use crate::synth::{
    messages_jsonl, training_line, Conversation, Message, Rejection, RejectionReason, SynthError,
    ToolDefinition,
};
use crate::validate::{CallError, ToolValidator};

/// The Playwright tools browser Examples use, in the order they are offered.
pub const BROWSER_TOOLS: [&str; 5] = [
    "browser_navigate",
    "browser_click",
    "browser_type",
    "browser_press_key",
    "browser_select_option",
];

/// `autocomplete` values that name a credential or a payment card.
const SECRET_AUTOCOMPLETE: [&str; 9] = [
    "current-password",
    "new-password",
    "one-time-code",
    "cc-number",
    "cc-csc",
    "cc-exp",
    "cc-exp-month",
    "cc-exp-year",
    "cc-name",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserOptions {
    /// A full-document navigation this soon (µs) after a user step or another
    /// navigation is taken as their consequence, not as a step of its own.
    pub cause_window_us: i64,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            cause_window_us: 3_000_000,
        }
    }
}

/// One emitted browser tool call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrowserStep {
    pub call_id: String,
    pub tool: String,
    pub arguments: Value,
    pub instruction: String,
    /// Indices into `Session::events` (empty for the initial page when no
    /// navigation event was recorded).
    pub evidence: Vec<usize>,
    pub t_us: i64,
}

/// A browser-level Example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrowserExample {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub steps: Vec<BrowserStep>,
    /// `index` is the index of the event in `Session::events`.
    pub rejections: Vec<Rejection>,
}

impl BrowserExample {
    pub fn messages_jsonl(&self) -> String {
        messages_jsonl(&self.messages)
    }

    pub fn training_line(&self) -> String {
        training_line(&self.messages, &self.tools)
    }
}

/// A planned call before validation.
#[derive(Debug, Clone, PartialEq)]
struct Planned {
    tool: &'static str,
    arguments: Map<String, Value>,
    instruction: String,
    evidence: Vec<usize>,
    t_us: i64,
}

/// The Playwright server's browser tools, compiled.
#[derive(Debug)]
pub struct BrowserSynthesizer<'c> {
    server: &'c McpServer,
    tools: Vec<&'c Tool>,
    validator: ToolValidator,
    options: BrowserOptions,
}

impl<'c> BrowserSynthesizer<'c> {
    /// `server` must have the [`BROWSER_TOOLS`].
    pub fn new(server: &'c McpServer, options: BrowserOptions) -> Result<Self, SynthError> {
        let mut tools = Vec::with_capacity(BROWSER_TOOLS.len());
        for name in BROWSER_TOOLS {
            tools.push(server.tool(name).ok_or_else(|| SynthError::MissingTool {
                tool: name.to_owned(),
            })?);
        }
        let validator = ToolValidator::new(tools.iter().copied())?;
        Ok(BrowserSynthesizer {
            server,
            tools,
            validator,
            options,
        })
    }

    pub fn tool_definitions(&self) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .map(|t| ToolDefinition::from_tool(t))
            .collect()
    }

    pub fn system_prompt(&self, session: &Session) -> String {
        let app = match &session.suite {
            Some(s) => format!(" The user is working in the web application \"{s}\"."),
            None => String::new(),
        };
        format!(
            "You are a browser agent. You operate a web browser through the tools of the MCP server \"{}\": {}.{app} \
             Carry out each request with one tool call; address elements by the selector given and describe them as the user does.",
            self.server.name,
            BROWSER_TOOLS.join(", ")
        )
    }

    pub fn synthesize(&self, session: &Session) -> BrowserExample {
        let (planned, rejections) = plan(session, &self.options);
        self.build(session, planned, rejections)
    }

    /// Like [`synthesize`](Self::synthesize), but refuses a session that
    /// would make more than `max_calls` calls before its conversation is
    /// built, answering how many it would make: the conversation is what
    /// grows with the calls, several times their size.
    pub fn synthesize_at_most(
        &self,
        session: &Session,
        max_calls: usize,
    ) -> Result<BrowserExample, usize> {
        let (planned, rejections) = plan(session, &self.options);
        if planned.len() > max_calls {
            return Err(planned.len());
        }
        Ok(self.build(session, planned, rejections))
    }

    fn build(
        &self,
        session: &Session,
        planned: Vec<Planned>,
        mut rejections: Vec<Rejection>,
    ) -> BrowserExample {
        let mut conversation = Conversation::new(self.system_prompt(session));
        let mut steps = Vec::with_capacity(planned.len());
        for p in planned {
            let arguments = Value::Object(p.arguments);
            match self.validator.validate(p.tool, &arguments) {
                Ok(()) => {
                    let call_id = conversation.push_call(
                        p.instruction.clone(),
                        p.tool,
                        &arguments,
                        // The browser tools' results (page snapshots) are not
                        // recorded.
                        crate::results::UNGROUNDED_RESULT.to_owned(),
                    );
                    steps.push(BrowserStep {
                        call_id,
                        tool: p.tool.to_owned(),
                        arguments,
                        instruction: p.instruction,
                        evidence: p.evidence,
                        t_us: p.t_us,
                    });
                }
                Err(e) => {
                    let reason = match e {
                        CallError::Invalid { violations, .. } => {
                            RejectionReason::Schema { violations }
                        }
                        other => RejectionReason::Inexpressible {
                            message: other.to_string(),
                        },
                    };
                    rejections.push(Rejection {
                        index: p.evidence.last().copied().unwrap_or(0),
                        action: p.tool.to_owned(),
                        tool: Some(p.tool.to_owned()),
                        reason,
                    });
                }
            }
        }
        rejections.sort_by_key(|r| r.index);
        BrowserExample {
            messages: conversation.messages,
            tools: self.tool_definitions(),
            steps,
            rejections,
        }
    }
}

/// One-shot [`BrowserSynthesizer::new`] + [`BrowserSynthesizer::synthesize`]
/// with default options.
pub fn browser_example(
    server: &McpServer,
    session: &Session,
) -> Result<BrowserExample, SynthError> {
    Ok(BrowserSynthesizer::new(server, BrowserOptions::default())?.synthesize(session))
}

fn is_interaction(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Click | EventKind::Change | EventKind::Key | EventKind::Submit
    )
}

fn lower(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|x| x.trim().to_ascii_lowercase())
        .filter(|x| !x.is_empty())
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|x| !x.is_empty())
}

/// The role a person (and Playwright's role selector) would give the element.
fn role_of(t: &Target) -> Option<String> {
    if let Some(r) = lower(&t.role) {
        return Some(r);
    }
    let tag = lower(&t.tag)?;
    let input_type = lower(&t.input_type).unwrap_or_else(|| "text".into());
    Some(
        match tag.as_str() {
            "button" => "button",
            "a" if t.href.is_some() => "link",
            "textarea" => "textbox",
            "select" => "combobox",
            "input" => match input_type.as_str() {
                "checkbox" => "checkbox",
                "radio" => "radio",
                "button" | "submit" | "reset" | "image" => "button",
                "range" => "slider",
                "number" => "spinbutton",
                "search" => "searchbox",
                "text" | "email" | "tel" | "url" | "password" => "textbox",
                _ => return None,
            },
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => "heading",
            _ => return None,
        }
        .to_owned(),
    )
}

fn is_text_entry(t: &Target) -> bool {
    let tag = lower(&t.tag);
    match tag.as_deref() {
        Some("textarea") => true,
        Some("input") => matches!(
            lower(&t.input_type).as_deref(),
            None | Some("text" | "email" | "search" | "url" | "tel" | "password" | "number")
        ),
        _ => matches!(lower(&t.role).as_deref(), Some("textbox" | "searchbox")),
    }
}

fn is_toggle(t: &Target) -> bool {
    matches!(lower(&t.input_type).as_deref(), Some("checkbox" | "radio"))
        || matches!(
            lower(&t.role).as_deref(),
            Some("checkbox" | "radio" | "switch")
        )
}

fn is_select(t: &Target) -> bool {
    lower(&t.tag).as_deref() == Some("select")
}

fn is_secret(ev: &Event) -> bool {
    ev.masked
        || ev.target.as_ref().is_some_and(|t| {
            lower(&t.input_type).as_deref() == Some("password")
                || lower(&t.autocomplete).is_some_and(|a| {
                    a.split_whitespace()
                        .any(|tok| SECRET_AUTOCOMPLETE.contains(&tok))
                })
        })
}

fn same_target(a: Option<&Target>, b: Option<&Target>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    if let (Some(x), Some(y)) = (nonempty(&a.selector), nonempty(&b.selector)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (nonempty(&a.id), nonempty(&b.id)) {
        return x == y;
    }
    lower(&a.tag) == lower(&b.tag)
        && nonempty(&a.label).is_some()
        && nonempty(&a.label) == nonempty(&b.label)
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn short(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `button "Compose"`: role (or tag) and accessible name (or text).
fn describe(t: &Target) -> String {
    let kind = role_of(t)
        .or_else(|| lower(&t.tag))
        .unwrap_or_else(|| "element".into());
    match nonempty(&t.label).or_else(|| nonempty(&t.text)) {
        Some(name) => format!("{kind} {}", quote(&short(name, 80))),
        None => kind,
    }
}

fn is_simple_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A selector Playwright resolves to the element: the recorded one, `#id`, or a
/// role selector. Never one that looks like a snapshot ref (`e12`).
fn selector(t: &Target) -> Option<String> {
    let s = if let Some(sel) = nonempty(&t.selector) {
        sel.to_owned()
    } else if let Some(id) = nonempty(&t.id) {
        if is_simple_ident(id) {
            format!("#{id}")
        } else {
            format!("[id={}]", quote(id))
        }
    } else {
        let name = nonempty(&t.label)?;
        match role_of(t) {
            Some(role) => format!("role={role}[name={}]", quote(name)),
            None => format!("text={}", quote(name)),
        }
    };
    // Playwright MCP reads `e12` or `f1e12` as a snapshot ref.
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    let looks_like_ref = match s.strip_prefix('f').and_then(|r| r.split_once('e')) {
        Some((frame, rest)) => digits(frame) && digits(rest),
        None => s.strip_prefix('e').is_some_and(digits),
    };
    Some(if looks_like_ref {
        format!("css={s}")
    } else {
        s
    })
}

/// Playwright's name for a key with its modifiers (`Control+Enter`).
fn key_chord(key: &str, modifiers: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for (m, name) in [
        ("ctrl", "Control"),
        ("control", "Control"),
        ("alt", "Alt"),
        ("shift", "Shift"),
        ("meta", "Meta"),
    ] {
        if modifiers.iter().any(|x| x.eq_ignore_ascii_case(m)) && !parts.contains(&name) {
            parts.push(name);
        }
    }
    let key = match key {
        " " => "Space",
        "Esc" => "Escape",
        "Del" => "Delete",
        k => k,
    };
    let mut out = parts.join("+");
    if !out.is_empty() {
        out.push('+');
    }
    out.push_str(key);
    out
}

fn inexpressible(index: usize, action: &str, message: &str) -> Rejection {
    Rejection {
        index,
        action: action.to_owned(),
        tool: None,
        reason: RejectionReason::Inexpressible {
            message: message.to_owned(),
        },
    }
}

/// The calls a session becomes, before validation, and the events that cannot
/// be expressed.
fn plan(session: &Session, options: &BrowserOptions) -> (Vec<Planned>, Vec<Rejection>) {
    let events = &session.events;
    let mut out: Vec<Planned> = Vec::new();
    let mut rejections = Vec::new();
    let mut current_url: Option<String> = None;
    let mut last_activity: Option<i64> = None;
    let mut consumed = vec![false; events.len()];

    let navigate = |url: &str, evidence: Vec<usize>, t_us: i64| Planned {
        tool: "browser_navigate",
        arguments: Map::from_iter([("url".to_owned(), json!(url))]),
        instruction: format!("Go to {url}"),
        evidence,
        t_us,
    };
    let next_interaction =
        |from: usize| (from + 1..events.len()).find(|&j| is_interaction(events[j].kind));

    for (i, ev) in events.iter().enumerate() {
        if consumed[i] {
            continue;
        }
        // Before the first user step, open the page the user started on.
        if out.is_empty() && is_interaction(ev.kind) {
            let start = session.pages.first().cloned().or_else(|| ev.url.clone());
            if let Some(url) = start {
                out.push(navigate(&url, Vec::new(), 0));
                current_url = Some(url);
            }
        }
        match ev.kind {
            EventKind::Navigation => {
                let Some(url) = nonempty(&ev.url) else {
                    continue;
                };
                let same_document = ev.navigation.as_ref().is_some_and(|n| n.same_document);
                let caused = last_activity.is_some_and(|t| ev.t_us - t <= options.cause_window_us);
                if !same_document {
                    if out.is_empty() || (!caused && current_url.as_deref() != Some(url)) {
                        out.push(navigate(url, vec![i], ev.t_us));
                    }
                    last_activity = Some(ev.t_us);
                }
                current_url = Some(url.to_owned());
            }
            EventKind::Click => {
                let Some(t) = ev.target.as_ref() else {
                    rejections.push(inexpressible(i, "click", "the click has no target"));
                    continue;
                };
                if is_select(t) {
                    continue;
                }
                if is_text_entry(t) {
                    if let Some(j) = next_interaction(i) {
                        let n = &events[j];
                        if matches!(n.kind, EventKind::Change | EventKind::Key)
                            && same_target(Some(t), n.target.as_ref())
                        {
                            continue;
                        }
                    }
                }
                let Some(target) = selector(t) else {
                    rejections.push(inexpressible(
                        i,
                        "click",
                        "the target has no selector, id or accessible name",
                    ));
                    continue;
                };
                let element = describe(t);
                let mut arguments = Map::new();
                arguments.insert("element".into(), json!(element));
                arguments.insert("target".into(), json!(target));
                let chord: Vec<String> = ev
                    .modifiers
                    .iter()
                    .filter_map(|m| match m.to_ascii_lowercase().as_str() {
                        "ctrl" | "control" => Some("Control".to_owned()),
                        "alt" => Some("Alt".to_owned()),
                        "shift" => Some("Shift".to_owned()),
                        "meta" => Some("Meta".to_owned()),
                        _ => None,
                    })
                    .collect();
                let held = if chord.is_empty() {
                    String::new()
                } else {
                    format!(" while holding {}", chord.join("+"))
                };
                if !chord.is_empty() {
                    arguments.insert("modifiers".into(), json!(chord));
                }
                out.push(Planned {
                    tool: "browser_click",
                    arguments,
                    instruction: format!("Click the {element}{held}"),
                    evidence: vec![i],
                    t_us: ev.t_us,
                });
                last_activity = Some(ev.t_us);
            }
            EventKind::Change => {
                let Some(t) = ev.target.as_ref() else {
                    continue;
                };
                if is_toggle(t) || lower(&t.input_type).as_deref() == Some("file") {
                    continue;
                }
                if is_secret(ev) {
                    rejections.push(inexpressible(
                        i,
                        "change",
                        "the value is masked: secrets are never written",
                    ));
                    continue;
                }
                let Some(value) = ev.value.as_deref() else {
                    continue;
                };
                let Some(target) = selector(t) else {
                    rejections.push(inexpressible(
                        i,
                        "change",
                        "the field has no selector, id or accessible name",
                    ));
                    continue;
                };
                let element = describe(t);
                let mut arguments = Map::new();
                arguments.insert("element".into(), json!(element));
                arguments.insert("target".into(), json!(target));
                let mut evidence = vec![i];
                let (tool, instruction) = if is_select(t) {
                    arguments.insert("values".into(), json!([value]));
                    (
                        "browser_select_option",
                        format!("Select {} in the {element}", quote(value)),
                    )
                } else {
                    arguments.insert("text".into(), json!(value));
                    let mut instruction = format!("Type {} into the {element}", quote(value));
                    // Enter in the same field right after: submit with the text.
                    if let Some(j) = next_interaction(i) {
                        let n = &events[j];
                        if n.kind == EventKind::Key
                            && n.key.as_deref() == Some("Enter")
                            && n.modifiers.is_empty()
                            && same_target(Some(t), n.target.as_ref())
                        {
                            arguments.insert("submit".into(), json!(true));
                            instruction.push_str(" and press Enter");
                            consumed[j] = true;
                            evidence.push(j);
                        }
                    }
                    ("browser_type", instruction)
                };
                out.push(Planned {
                    tool,
                    arguments,
                    instruction,
                    evidence,
                    t_us: ev.t_us,
                });
                last_activity = Some(ev.t_us);
            }
            EventKind::Key => {
                let Some(key) = nonempty(&ev.key) else {
                    continue;
                };
                if matches!(
                    key,
                    "Tab" | "Control" | "Shift" | "Alt" | "Meta" | "AltGraph" | "CapsLock"
                ) {
                    continue;
                }
                let command = ev.modifiers.iter().any(|m| {
                    matches!(m.to_ascii_lowercase().as_str(), "ctrl" | "control" | "meta")
                });
                let editing = command
                    && key.chars().count() == 1
                    && "acvxyz".contains(key.to_ascii_lowercase().as_str())
                    && ev.target.as_ref().is_some_and(is_text_entry);
                if editing {
                    continue;
                }
                let chord = key_chord(key, &ev.modifiers);
                out.push(Planned {
                    tool: "browser_press_key",
                    arguments: Map::from_iter([("key".to_owned(), json!(chord))]),
                    instruction: format!("Press {chord}"),
                    evidence: vec![i],
                    t_us: ev.t_us,
                });
                last_activity = Some(ev.t_us);
            }
            EventKind::Submit => {
                last_activity = Some(ev.t_us);
            }
            EventKind::NetworkRequest
            | EventKind::Screenshot
            | EventKind::Input
            | EventKind::Scroll
            // What the page showed is a step's outcome, not a step.
            | EventKind::View => {}
        }
    }
    if out.is_empty() {
        if let Some(url) = session.pages.first() {
            out.push(navigate(url, Vec::new(), 0));
        }
    }
    (out, rejections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_and_selectors() {
        assert_eq!(key_chord("Enter", &["ctrl".into()]), "Control+Enter");
        assert_eq!(
            key_chord("k", &["shift".into(), "meta".into()]),
            "Shift+Meta+k"
        );
        assert_eq!(key_chord("Escape", &[]), "Escape");
        let t = Target {
            tag: Some("button".into()),
            label: Some("Send \"now\"".into()),
            ..Target::default()
        };
        assert_eq!(
            selector(&t).as_deref(),
            Some(r#"role=button[name="Send \"now\""]"#)
        );
        assert_eq!(describe(&t), r#"button "Send \"now\"""#);
        let t = Target {
            selector: Some("e12".into()),
            ..Target::default()
        };
        assert_eq!(selector(&t).as_deref(), Some("css=e12"));
        let t = Target {
            id: Some("a.b".into()),
            ..Target::default()
        };
        assert_eq!(selector(&t).as_deref(), Some(r#"[id="a.b"]"#));
        assert_eq!(selector(&Target::default()), None);
    }
}
