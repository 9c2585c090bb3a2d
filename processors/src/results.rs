//! Tool results built from what the page showed.
//!
//! A suite may describe, per MCP server, how each tool's result is written
//! from the recording's evidence (`catalog/suites/<suite>/results/<server>.json`,
//! documented in `docs/recording.md`): which part of the page's view after the
//! action to read (the list items, the open item, the item an argument names,
//! the item that appeared), which values to take from it (`data-*` ids, fields,
//! the accessible name, the call's arguments), and the text the real server
//! answers with, as a template over those values.
//!
//! [`ToolResults::render`] is pure. The view it reads is the first
//! [`EventKind::View`] event after the action's last evidence event and before
//! the next action's first. When that view, or a value the text needs, is not
//! there, the result says so ([`UNGROUNDED_RESULT`]) instead of inventing ids or
//! content; a tool the description leaves out gets that honest result too.
//!
//! No value that could be a secret reaches a result: a value equal to a masked
//! event's value, one holding the capture's mask, or one with a card number in
//! it counts as not shown.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use tracepipe_schemas::{Event, EventKind, Session, ViewItem, ViewSnapshot};

use crate::catalog::{CatalogError, McpServer, Tool};

/// The result of a call the recording does not show the outcome of.
pub const UNGROUNDED_RESULT: &str = "The recording does not show this call's result.";

/// What every tool message said before results were grounded: an
/// acknowledgement the recording never showed.
pub const LEGACY_ACKNOWLEDGEMENT: &str = r#"{"status":"ok"}"#;

/// Whether a tool message's content is a result the recording showed, as far
/// as the content tells: neither [`UNGROUNDED_RESULT`] nor the
/// [`LEGACY_ACKNOWLEDGEMENT`] of older Examples.
pub fn is_grounded_content(content: &str) -> bool {
    content != UNGROUNDED_RESULT && content != LEGACY_ACKNOWLEDGEMENT
}

/// A results file as written (by hand or by the learner): plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsFile {
    pub suite: String,
    pub mcp_server: String,
    /// By tool name.
    pub tools: BTreeMap<String, ToolResultFile>,
}

/// How one tool's result is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolResultFile {
    /// Which part of the view the values come from.
    pub part: Part,
    /// The values the templates may name, by placeholder name.
    #[serde(default)]
    pub values: BTreeMap<String, ValueFile>,
    /// `items` only: named subsets of the items (`{items.NAME}`, `{count.NAME}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupFile>,
    /// `items` only: the text of one item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// `items` only: what goes between two items' texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// The result text.
    pub text: String,
}

/// The part of the view after the action that a result is read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    /// Only that the page was seen after the action: the text is built from
    /// the call's arguments.
    View {},
    /// The opened item.
    Open {},
    /// The listed items (those with the `data-*` attribute `with_data`, when
    /// given, and one of the roles `roles`, when any is given: a list of
    /// messages is rows in one client and list items in another). A view
    /// that left items out grounds no list.
    Items {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with_data: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        roles: Vec<String>,
    },
    /// The first item (listed or open) whose `value` equals the argument
    /// `equals_argument`.
    Item {
        value: ValueFile,
        equals_argument: String,
    },
    /// The same, in the last view before the action: what the action removed
    /// (a deleted label, named in the result by the name the page showed).
    ItemBefore {
        value: ValueFile,
        equals_argument: String,
    },
    /// The one listed item whose `data-*` attribute `data` has a value that the
    /// last view before the action did not list: what the action created.
    NewItem { data: String },
}

/// Where a value comes from: exactly one of `data`, `field`, `name`,
/// `argument` or `count_of`, and where to look when the page did not show that
/// (`otherwise`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueFile {
    /// A `data-*` attribute of the item, by its full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// A field the item shows (lowercase key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The item's accessible name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub name: bool,
    /// A parameter of the tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
    /// The number of entries of a list parameter of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_of: Option<String>,
    /// Where the value comes from when this source shows none (an application
    /// that names its table's columns, otherwise the row's accessible name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Box<ValueFile>>,
    /// Written empty when absent instead of leaving the result ungrounded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// A subset of the items: those whose value `value` (a name of `values`)
/// equals `equals`, or matches the regular expression `matches` (exactly one
/// of the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
}

/// A results file that loaded and checked: ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResults {
    pub suite: String,
    pub mcp_server: String,
    tools: BTreeMap<String, ToolResult>,
    /// What it was compiled from, to be written back as it is.
    file: ResultsFile,
}

#[derive(Debug, Clone, PartialEq)]
struct ToolResult {
    part: Selector,
    values: BTreeMap<String, Source>,
    groups: Vec<(String, Group)>,
    item: Vec<Segment>,
    separator: String,
    text: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
struct Source {
    /// Tried in order; the first one shown is the value.
    from: Vec<From>,
    optional: bool,
}

impl Source {
    /// Whether the value is read from an item of the view (at least in part),
    /// not only from the call's arguments.
    fn is_per_item(&self) -> bool {
        self.from.iter().any(|f| !f.is_argument())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum From {
    Data(String),
    Field(String),
    Name,
    Argument(String),
    ArgumentCount(String),
}

impl From {
    /// Read from the call's arguments rather than from the page.
    fn is_argument(&self) -> bool {
        matches!(self, From::Argument(_) | From::ArgumentCount(_))
    }
}

/// A compiled [`Part`].
#[derive(Debug, Clone, PartialEq)]
enum Selector {
    View,
    Open,
    Items {
        with_data: Option<String>,
        roles: Vec<String>,
    },
    Item {
        by: Vec<From>,
        argument: String,
        /// Looked for in the last view before the action, not the one after.
        before: bool,
    },
    NewItem {
        data: String,
    },
}

#[derive(Debug, Clone)]
struct Group {
    value: String,
    test: GroupTest,
}

#[derive(Debug, Clone)]
enum GroupTest {
    Equals(String),
    Matches(regex::Regex),
}

impl GroupTest {
    fn admits(&self, value: &str) -> bool {
        match self {
            GroupTest::Equals(e) => value == e,
            GroupTest::Matches(r) => r.is_match(value),
        }
    }
}

impl PartialEq for Group {
    fn eq(&self, other: &Group) -> bool {
        self.value == other.value
            && match (&self.test, &other.test) {
                (GroupTest::Equals(a), GroupTest::Equals(b)) => a == b,
                (GroupTest::Matches(a), GroupTest::Matches(b)) => a.as_str() == b.as_str(),
                _ => false,
            }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Placeholder(String),
}

/// Parses `{name}` placeholders; `\{`, `\}` and `\\` stand for the character.
fn parse_template(source: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = source.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('{' | '}' | '\\'))) => text.push(e),
                _ => {
                    return Err(format!(
                        "at character {at}: `\\` escapes only {{, }} and \\"
                    ))
                }
            },
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        Some((_, n)) if n.is_ascii_alphanumeric() || n == '_' || n == '.' => {
                            name.push(n)
                        }
                        _ => {
                            return Err(format!(
                                "at character {at}: a placeholder is {{name}} with letters, digits, `_` and `.`"
                            ))
                        }
                    }
                }
                if name.is_empty() {
                    return Err(format!("at character {at}: empty placeholder"));
                }
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(Segment::Placeholder(name));
            }
            '}' => {
                return Err(format!(
                    "at character {at}: `}}` without `{{` (write `\\}}`)"
                ))
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

fn placeholders(segments: &[Segment]) -> impl Iterator<Item = &str> {
    segments.iter().filter_map(|s| match s {
        Segment::Placeholder(p) => Some(p.as_str()),
        Segment::Text(_) => None,
    })
}

impl ValueFile {
    fn compile(
        &self,
        invalid: &dyn Fn(String) -> CatalogError,
        tool: &Tool,
    ) -> Result<Source, CatalogError> {
        let mut from = Vec::new();
        if let Some(d) = &self.data {
            if !d.starts_with("data-") {
                return Err(invalid(format!(
                    "`data` names a `data-*` attribute, not `{d}`"
                )));
            }
            from.push(From::Data(d.clone()));
        }
        if let Some(f) = &self.field {
            from.push(From::Field(f.to_lowercase()));
        }
        if self.name {
            from.push(From::Name);
        }
        if let Some(a) = &self.argument {
            if tool.parameter(a).is_none() {
                return Err(invalid(format!(
                    "the tool has no parameter `{a}` (known: {})",
                    known(tool.parameters.iter().map(|p| p.name.as_str()))
                )));
            }
            from.push(From::Argument(a.clone()));
        }
        if let Some(a) = &self.count_of {
            if tool.parameter(a).is_none() {
                return Err(invalid(format!(
                    "the tool has no parameter `{a}` (known: {})",
                    known(tool.parameters.iter().map(|p| p.name.as_str()))
                )));
            }
            from.push(From::ArgumentCount(a.clone()));
        }
        let Ok([first]) = <[From; 1]>::try_from(from) else {
            return Err(invalid(
                "give exactly one of `data`, `field`, `name`, `argument` or `count_of`".into(),
            ));
        };
        let mut from = vec![first];
        if let Some(otherwise) = &self.otherwise {
            if otherwise.optional {
                return Err(invalid(
                    "`optional` belongs to the outermost source, not to `otherwise`".into(),
                ));
            }
            from.extend(otherwise.compile(invalid, tool)?.from);
        }
        Ok(Source {
            from,
            optional: self.optional,
        })
    }
}

fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl ToolResults {
    /// Parses `contents` (named `file` in messages) and checks it against
    /// `server`: every tool must be one of its tools, every argument one of
    /// that tool's parameters, every placeholder a value the text may use.
    pub fn parse(
        file: &str,
        contents: &str,
        server: &McpServer,
    ) -> Result<ToolResults, CatalogError> {
        let spec: ResultsFile =
            serde_json::from_str(contents).map_err(|source| CatalogError::Json {
                file: file.to_owned(),
                source,
            })?;
        ToolResults::compile(file, &spec, server)
    }

    /// Checks a [`ResultsFile`] against `server` (see [`ToolResults::parse`]).
    pub fn compile(
        file: &str,
        spec: &ResultsFile,
        server: &McpServer,
    ) -> Result<ToolResults, CatalogError> {
        if spec.mcp_server != server.name {
            return Err(CatalogError::invalid(
                file,
                "mcp_server",
                format!(
                    "describes the MCP server `{}`, not `{}`",
                    spec.mcp_server, server.name
                ),
            ));
        }
        let mut tools = BTreeMap::new();
        for (name, t) in &spec.tools {
            let tool = server.tool(name).ok_or_else(|| {
                CatalogError::unknown(
                    file,
                    "tool",
                    name,
                    format!(
                        " (the MCP server `{}` has {})",
                        server.name,
                        known(server.tools.iter().map(|t| t.name.as_str()))
                    ),
                )
            })?;
            tools.insert(name.clone(), compile_tool(file, tool, t)?);
        }
        Ok(ToolResults {
            suite: spec.suite.clone(),
            mcp_server: spec.mcp_server.clone(),
            tools,
            file: spec.clone(),
        })
    }

    /// The file form it was compiled from.
    pub fn file(&self) -> &ResultsFile {
        &self.file
    }

    /// Whether `tool`'s result is described.
    pub fn describes(&self, tool: &str) -> bool {
        self.tools.contains_key(tool)
    }

    /// The result of the call of `tool` with `arguments` that the events
    /// `evidence` (indices into `session.events`) stand for; `next_action`
    /// is the first evidence event of the next call, when there is one.
    pub fn render(
        &self,
        session: &Session,
        tool: &str,
        arguments: &Value,
        evidence: &[usize],
        next_action: Option<usize>,
    ) -> RenderedResult {
        let Some(spec) = self.tools.get(tool) else {
            return RenderedResult::ungrounded();
        };
        let rendered = (|| {
            let first = *evidence.iter().min()?;
            let end = next_action
                .unwrap_or(session.events.len())
                .min(session.events.len());
            // Evidence the next call shares (the open message's toolbar
            // action that confirms which message was read) is that call's
            // doing: this call's outcome is the view after its own last step.
            let last = evidence.iter().copied().filter(|&i| i < end).max()?;
            let after = view_between(&session.events, last + 1, end)?;
            let secrets = Secrets::of(session);
            let context = Context {
                arguments,
                secrets: &secrets,
            };
            let text = spec.render(&context, after, || {
                session.events[..first.min(session.events.len())]
                    .iter()
                    .rev()
                    .find_map(view_of)
            })?;
            // A last guard: whatever the description says, no card number
            // leaves through a result.
            if secrets.holds_secret(&text) {
                return None;
            }
            Some(text)
        })();
        match rendered {
            Some(content) => RenderedResult {
                content,
                grounded: true,
            },
            None => RenderedResult::ungrounded(),
        }
    }
}

fn compile_tool(
    file: &str,
    tool: &Tool,
    spec: &ToolResultFile,
) -> Result<ToolResult, CatalogError> {
    let item_name = |what: &str| format!("tool `{}` {what}", tool.name);
    let invalid_at = |what: String| {
        let item = item_name(&what);
        move |message: String| CatalogError::invalid(file, &item, message)
    };
    let mut values = BTreeMap::new();
    for (name, v) in &spec.values {
        let source = v.compile(&invalid_at(format!("value `{name}`")), tool)?;
        values.insert(name.clone(), source);
    }
    let is_list = matches!(spec.part, Part::Items { .. });
    let part = match &spec.part {
        Part::View {} => Selector::View,
        Part::Open {} => Selector::Open,
        Part::Item {
            value,
            equals_argument,
        }
        | Part::ItemBefore {
            value,
            equals_argument,
        } => {
            let source = value.compile(&invalid_at("part".into()), tool)?;
            if source.from.iter().any(From::is_argument) {
                return Err(invalid_at("part".into())(
                    "`value` must come from the item, not an argument".into(),
                ));
            }
            if tool.parameter(equals_argument).is_none() {
                return Err(invalid_at("part".into())(format!(
                    "the tool has no parameter `{equals_argument}`"
                )));
            }
            Selector::Item {
                by: source.from,
                argument: equals_argument.clone(),
                before: matches!(spec.part, Part::ItemBefore { .. }),
            }
        }
        Part::NewItem { data }
        | Part::Items {
            with_data: Some(data),
            ..
        } if !data.starts_with("data-") => {
            return Err(invalid_at("part".into())(format!(
                "`{data}` is not a `data-*` attribute"
            )));
        }
        Part::NewItem { data } => Selector::NewItem { data: data.clone() },
        Part::Items { with_data, roles } => Selector::Items {
            with_data: with_data.clone(),
            roles: roles.clone(),
        },
    };
    let parse = |what: &str, source: &str| {
        parse_template(source).map_err(|m| CatalogError::invalid(file, item_name(what), m))
    };
    let text = parse("text", &spec.text)?;
    let mut groups = Vec::new();
    let item = match (is_list, &spec.item) {
        (true, Some(item)) => {
            let item = parse("item", item)?;
            for p in placeholders(&item) {
                if !values.contains_key(p) {
                    return Err(CatalogError::invalid(
                        file,
                        item_name("item"),
                        format!(
                            "unknown placeholder {{{p}}} (known: {})",
                            known(values.keys().map(String::as_str))
                        ),
                    ));
                }
            }
            for (name, g) in &spec.groups {
                match values.get(&g.value) {
                    Some(s) if s.is_per_item() => {}
                    _ => {
                        return Err(CatalogError::invalid(
                            file,
                            item_name(&format!("group `{name}`")),
                            format!("`{}` is not a value of the items", g.value),
                        ))
                    }
                }
                let invalid = |message: String| {
                    CatalogError::invalid(file, item_name(&format!("group `{name}`")), message)
                };
                let test = match (&g.equals, &g.matches) {
                    (Some(e), None) => GroupTest::Equals(e.clone()),
                    (None, Some(m)) => GroupTest::Matches(
                        regex::Regex::new(m).map_err(|e| invalid(e.to_string()))?,
                    ),
                    _ => return Err(invalid("give exactly one of `equals` or `matches`".into())),
                };
                groups.push((
                    name.clone(),
                    Group {
                        value: g.value.clone(),
                        test,
                    },
                ));
            }
            item
        }
        (true, None) => {
            return Err(CatalogError::invalid(
                file,
                item_name("item"),
                "a list (`items`) needs the text of one item (`item`)",
            ))
        }
        (false, _)
            if spec.item.is_some() || spec.separator.is_some() || !spec.groups.is_empty() =>
        {
            return Err(CatalogError::invalid(
                file,
                item_name("part"),
                "`item`, `separator` and `groups` belong to a list (`items`)",
            ))
        }
        (false, _) => Vec::new(),
    };
    // What `text` may name: in a list, the list's counts and texts and the
    // call's arguments; otherwise every value (of the one item and the call).
    let mut allowed: BTreeSet<String> = BTreeSet::new();
    if is_list {
        allowed.extend(["items".to_owned(), "count".to_owned()]);
        for (g, _) in &groups {
            allowed.insert(format!("items.{g}"));
            allowed.insert(format!("count.{g}"));
        }
        allowed.extend(
            values
                .iter()
                .filter(|(_, s)| !s.is_per_item())
                .map(|(n, _)| n.clone()),
        );
    } else {
        for (n, s) in &values {
            if matches!(part, Selector::View) && s.is_per_item() {
                return Err(CatalogError::invalid(
                    file,
                    item_name(&format!("value `{n}`")),
                    "a `view` result has no item: its values come from arguments",
                ));
            }
            allowed.insert(n.clone());
        }
    }
    for p in placeholders(&text) {
        if !allowed.contains(p) {
            return Err(CatalogError::invalid(
                file,
                item_name("text"),
                format!(
                    "unknown placeholder {{{p}}} (known: {})",
                    known(allowed.iter().map(String::as_str))
                ),
            ));
        }
    }
    Ok(ToolResult {
        part,
        values,
        groups,
        item,
        separator: spec.separator.clone().unwrap_or_default(),
        text,
    })
}

/// A tool message's content and whether the recording showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedResult {
    pub content: String,
    pub grounded: bool,
}

impl RenderedResult {
    pub fn ungrounded() -> RenderedResult {
        RenderedResult {
            content: UNGROUNDED_RESULT.to_owned(),
            grounded: false,
        }
    }
}

fn view_of(event: &Event) -> Option<&ViewSnapshot> {
    match event.kind {
        EventKind::View => event.view.as_ref(),
        _ => None,
    }
}

/// The first view among `events[start..end]`.
fn view_between(events: &[Event], start: usize, end: usize) -> Option<&ViewSnapshot> {
    events.get(start..end)?.iter().find_map(view_of)
}

/// Values a result must never carry.
struct Secrets {
    masked: BTreeSet<String>,
}

impl Secrets {
    fn of(session: &Session) -> Secrets {
        Secrets {
            masked: session
                .events
                .iter()
                .filter(|e| e.masked)
                .filter_map(|e| e.value.as_deref())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    fn holds_secret(&self, text: &str) -> bool {
        text.contains(tracepipe_ingest::privacy::MASK)
            || text.contains(tracepipe_ingest::privacy::CARD_MASK)
            || tracepipe_ingest::privacy::mask_card_numbers(text).is_some()
    }

    fn admits(&self, value: &str) -> bool {
        !self.masked.contains(value.trim()) && !self.holds_secret(value)
    }
}

struct Context<'a> {
    arguments: &'a Value,
    secrets: &'a Secrets,
}

impl Context<'_> {
    /// A value as it is written, from the first of its sources that shows
    /// one, or None when none does.
    fn value(&self, from: &[From], item: Option<&ViewItem>) -> Option<String> {
        from.iter().find_map(|from| self.value_from(from, item))
    }

    fn value_from(&self, from: &From, item: Option<&ViewItem>) -> Option<String> {
        let raw = match from {
            From::Data(d) => item?.data.get(d).cloned(),
            From::Field(f) => item?.fields.get(f).cloned(),
            From::Name => item?.name.clone(),
            From::Argument(a) => argument_text(self.arguments.get(a)?),
            From::ArgumentCount(a) => Some(self.arguments.get(a)?.as_array()?.len().to_string()),
        }?;
        let raw = raw.trim();
        (!raw.is_empty() && self.secrets.admits(raw)).then(|| raw.to_owned())
    }

    fn values(
        &self,
        values: &BTreeMap<String, Source>,
        item: Option<&ViewItem>,
        only: impl Fn(&Source) -> bool,
    ) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (name, source) in values.iter().filter(|(_, s)| only(s)) {
            match self.value(&source.from, item) {
                Some(v) => {
                    out.insert(name.clone(), v);
                }
                None if source.optional => {
                    out.insert(name.clone(), String::new());
                }
                None => return None,
            }
        }
        Some(out)
    }
}

/// An argument as the server writes it: strings as they are, lists joined by
/// `, `, objects as `key: value` pairs joined by `, ` (empty lists left out).
fn argument_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(argument_text)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(entries) => entries
            .iter()
            .filter_map(|(k, v)| {
                argument_text(v)
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("{k}: {t}"))
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    Some(text)
}

fn fill(segments: &[Segment], values: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text(t) => out.push_str(t),
            Segment::Placeholder(p) => out.push_str(values.get(p)?),
        }
    }
    Some(out)
}

fn data_values<'v>(view: &'v ViewSnapshot, data: &'v str) -> impl Iterator<Item = &'v str> {
    view.items
        .iter()
        .filter_map(move |i| i.data.get(data).map(String::as_str))
}

impl ToolResult {
    fn render<'v>(
        &self,
        cx: &Context<'_>,
        view: &'v ViewSnapshot,
        before: impl FnOnce() -> Option<&'v ViewSnapshot>,
    ) -> Option<String> {
        let single = |item: Option<&ViewItem>| {
            let values = cx.values(&self.values, item, |_| true)?;
            fill(&self.text, &values)
        };
        match &self.part {
            Selector::View => single(None),
            Selector::Open => single(Some(view.open.as_ref()?)),
            Selector::Item {
                by,
                argument,
                before: looked_before,
            } => {
                let wanted = argument_text(cx.arguments.get(argument)?)?;
                // The view after the action must exist all the same (the
                // caller found it): the action was seen to complete.
                let view = if *looked_before { before()? } else { view };
                let item = view
                    .items
                    .iter()
                    .chain(view.open.as_ref())
                    .find(|i| cx.value(by, Some(i)).is_some_and(|v| v == wanted.trim()))?;
                single(Some(item))
            }
            Selector::NewItem { data } => {
                let before = before()?;
                if view.truncated || before.truncated {
                    return None;
                }
                let known: BTreeSet<&str> = data_values(before, data).collect();
                let mut new = view.items.iter().filter(|i| {
                    i.data
                        .get(data)
                        .is_some_and(|v| !known.contains(v.as_str()))
                });
                let item = new.next()?;
                if new.next().is_some() {
                    return None;
                }
                single(Some(item))
            }
            Selector::Items { with_data, roles } => {
                if view.truncated {
                    return None;
                }
                let mut values = cx.values(&self.values, None, |s| !s.is_per_item())?;
                let mut texts: Vec<(BTreeMap<String, String>, String)> = Vec::new();
                for item in view
                    .items
                    .iter()
                    .filter(|i| with_data.as_ref().is_none_or(|d| i.data.contains_key(d)))
                    .filter(|i| {
                        roles.is_empty() || i.role.as_ref().is_some_and(|r| roles.contains(r))
                    })
                {
                    let mut own = cx.values(&self.values, Some(item), Source::is_per_item)?;
                    own.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let text = fill(&self.item, &own)?;
                    texts.push((own, text));
                }
                let join = |texts: &mut dyn Iterator<Item = &String>| {
                    texts
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(&self.separator)
                };
                values.insert("count".into(), texts.len().to_string());
                values.insert("items".into(), join(&mut texts.iter().map(|(_, t)| t)));
                for (name, group) in &self.groups {
                    let members: Vec<&String> = texts
                        .iter()
                        .filter(|(v, _)| v.get(&group.value).is_some_and(|x| group.test.admits(x)))
                        .map(|(_, t)| t)
                        .collect();
                    values.insert(format!("count.{name}"), members.len().to_string());
                    values.insert(format!("items.{name}"), join(&mut members.into_iter()));
                }
                fill(&self.text, &values)
            }
        }
    }
}
