//! User-instruction templates: how an Action is said as a request.
//!
//! ```text
//! Send an email to {to}[, cc {cc}][, bcc {bcc}] with the subject '{subject}'
//! ```
//!
//! - `{name}` is replaced by the value of the action parameter `name`; `{a.b}`
//!   reaches into an OBJECT parameter (`{criteria.from}`).
//! - `[ … ]` is an optional part: it is written only when every placeholder in it
//!   has a value. Optional parts do not nest.
//! - `\{`, `\}`, `\[`, `\]`, `\\` stand for the character itself.
//!
//! A value is absent when it is missing, null, an empty or blank string, or an
//! empty list or object. Strings are written trimmed, numbers and booleans in
//! JSON, lists as their items joined by `, `, objects as `key: value` pairs
//! joined by `, `.
//!
//! When loading a Suite every placeholder must name a parameter of its action,
//! a dotted one an OBJECT parameter, and a placeholder outside `[ … ]` a required
//! one; and every parameter must be mentioned, since the instruction has to carry
//! every value that the tool call will.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::transform::is_empty_value;

/// A parsed template. Serialises as its source text.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Placeholder(Vec<String>),
    Optional(Vec<Segment>),
}

/// A template that cannot be parsed, checked or rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    #[error("at character {position}: {message}")]
    Syntax { position: usize, message: String },
    #[error("placeholder {{{placeholder}}} names no parameter of the action")]
    UnknownParameter { placeholder: String },
    #[error("placeholder {{{placeholder}}} reaches into a parameter that is not an OBJECT")]
    NotAnObject { placeholder: String },
    #[error("placeholder {{{placeholder}}} is outside [ … ] but its parameter is optional")]
    OptionalOutsideGroup { placeholder: String },
    #[error("the template does not mention the parameter `{parameter}`")]
    Unmentioned { parameter: String },
    #[error("no value for placeholder {{{placeholder}}}")]
    Missing { placeholder: String },
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments: Vec<Segment> = Vec::new();
        let mut group: Option<(usize, Vec<Segment>)> = None;
        let mut text = String::new();
        let mut chars = source.chars().enumerate().peekable();
        let syntax = |position: usize, message: &str| TemplateError::Syntax {
            position,
            message: message.to_owned(),
        };

        fn flush(
            text: &mut String,
            group: &mut Option<(usize, Vec<Segment>)>,
            segments: &mut Vec<Segment>,
        ) {
            if !text.is_empty() {
                let seg = Segment::Text(std::mem::take(text));
                match group {
                    Some((_, g)) => g.push(seg),
                    None => segments.push(seg),
                }
            }
        }

        while let Some((pos, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('{' | '}' | '[' | ']' | '\\'))) => text.push(e),
                    _ => return Err(syntax(pos, "`\\` must be followed by one of { } [ ] \\")),
                },
                '{' => {
                    flush(&mut text, &mut group, &mut segments);
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(syntax(pos, "unterminated `{`"));
                    }
                    let path: Vec<String> = name.trim().split('.').map(str::to_owned).collect();
                    if path.iter().any(|p| {
                        p.is_empty() || p.chars().any(|c| c.is_whitespace() || "{}[]\\".contains(c))
                    }) {
                        return Err(syntax(pos, &format!("bad placeholder {{{name}}}")));
                    }
                    let seg = Segment::Placeholder(path);
                    match &mut group {
                        Some((_, g)) => g.push(seg),
                        None => segments.push(seg),
                    }
                }
                '}' => return Err(syntax(pos, "`}` without `{` (write `\\}`)")),
                '[' => {
                    if group.is_some() {
                        return Err(syntax(pos, "optional parts `[ … ]` do not nest"));
                    }
                    flush(&mut text, &mut group, &mut segments);
                    group = Some((pos, Vec::new()));
                }
                ']' => {
                    flush(&mut text, &mut group, &mut segments);
                    match group.take() {
                        Some((_, g)) => segments.push(Segment::Optional(g)),
                        None => return Err(syntax(pos, "`]` without `[` (write `\\]`)")),
                    }
                }
                c => text.push(c),
            }
        }
        if let Some((pos, _)) = group {
            return Err(syntax(pos, "unterminated `[`"));
        }
        flush(&mut text, &mut group, &mut segments);
        Ok(Template {
            source: source.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every placeholder with whether it sits inside `[ … ]`, in order.
    pub fn placeholders(&self) -> Vec<(Vec<String>, bool)> {
        let mut out = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Placeholder(p) => out.push((p.clone(), false)),
                Segment::Optional(g) => {
                    for s in g {
                        if let Segment::Placeholder(p) = s {
                            out.push((p.clone(), true));
                        }
                    }
                }
                Segment::Text(_) => {}
            }
        }
        out
    }

    /// Renders the template with an action's parameter values.
    pub fn render(&self, parameters: &Map<String, Value>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Placeholder(path) => match lookup(parameters, path) {
                    Some(v) => out.push_str(&display_value(v)),
                    None => {
                        return Err(TemplateError::Missing {
                            placeholder: path.join("."),
                        })
                    }
                },
                Segment::Optional(group) => {
                    let mut part = String::new();
                    let mut complete = true;
                    for s in group {
                        match s {
                            Segment::Text(t) => part.push_str(t),
                            Segment::Placeholder(path) => match lookup(parameters, path) {
                                Some(v) => part.push_str(&display_value(v)),
                                None => {
                                    complete = false;
                                    break;
                                }
                            },
                            Segment::Optional(_) => {}
                        }
                    }
                    if complete {
                        out.push_str(&part);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn lookup<'v>(parameters: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut v = parameters.get(first)?;
    for key in rest {
        v = v.as_object()?.get(key)?;
    }
    (!is_empty_value(v)).then_some(v)
}

/// How a parameter value reads in an instruction.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_owned(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Array(items) => items
            .iter()
            .filter(|v| !is_empty_value(v))
            .map(display_value)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !is_empty_value(v))
            .map(|(k, v)| format!("{k}: {}", display_value(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Template::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn renders_placeholders_and_optional_parts() {
        let t = Template::parse("Send an email to {to}[, cc {cc}] with the subject '{subject}'")
            .unwrap();
        let p = params(json!({"to": "a@x.com, b@y.com", "subject": "Hi", "cc": ""}));
        assert_eq!(
            t.render(&p).unwrap(),
            "Send an email to a@x.com, b@y.com with the subject 'Hi'"
        );
        let p = params(json!({"to": "a@x.com", "subject": "Hi", "cc": "c@z.com"}));
        assert_eq!(
            t.render(&p).unwrap(),
            "Send an email to a@x.com, cc c@z.com with the subject 'Hi'"
        );
    }

    #[test]
    fn dotted_paths_lists_and_escapes() {
        let t =
            Template::parse(r"Filter[ from {criteria.from}][ adding {action.addLabelIds}] \[x\]")
                .unwrap();
        let p = params(
            json!({"criteria": {"from": "boss@x.com"}, "action": {"addLabelIds": ["A", "B"]}}),
        );
        assert_eq!(
            t.render(&p).unwrap(),
            "Filter from boss@x.com adding A, B [x]"
        );
        let p = params(json!({"criteria": {"to": "me"}}));
        assert_eq!(t.render(&p).unwrap(), "Filter [x]");
    }

    #[test]
    fn missing_required_value_is_an_error() {
        let t = Template::parse("Open message {message_id}").unwrap();
        assert_eq!(
            t.render(&Map::new()),
            Err(TemplateError::Missing {
                placeholder: "message_id".into()
            })
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "{", "a}", "[a", "a]", "[a [b]]", "{a b}", "{}", "{a.}", r"\x",
        ] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::Syntax { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn serde_round_trip_as_string() {
        let t: Template = serde_json::from_value(json!("Hi {name}")).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), json!("Hi {name}"));
        assert!(serde_json::from_value::<Template>(json!("Hi {name")).is_err());
    }
}
