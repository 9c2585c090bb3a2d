//! The pure core of reviews: a review's items made from an Example's
//! classified actions, a reviewer's decision applied to one, an added action,
//! the calls a completed review re-synthesises the Example from, and the
//! `*.expected.json` label file `tracepipe eval` reads. No I/O here: the
//! routes (api/corrections.rs) load and store around it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::control::reviews::{Decision, Origin, ReviewItem};
use crate::review::ActionView;
use tracepipe_processors::synth::ReviewedCall;

pub use tracepipe_sinks::REVIEWED_LINE_OBJECT;

/// The confidence an added action is taken with: a person said it happened.
pub const ADDED_CONFIDENCE: f64 = 1.0;

/// Why a decision or an added action was refused: the field it concerns and
/// what is wrong, for a 422.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

impl Refusal {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a reviewer may decide about an item (never back to pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ReviewVerdict)]
pub enum Verdict {
    Confirmed,
    Changed,
    Deleted,
}

/// A decision on one item, as `PUT …/review/items/{index}` takes it.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReviewDecision)]
pub struct DecisionBody {
    pub decision: Verdict,
    /// With `changed`: the tool to call instead.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub tool: Option<String>,
    /// With `changed`: the call's arguments instead.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Value>,
}

/// A missed action, as `POST …/review/items` takes it.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReviewItem)]
pub struct AddedBody {
    #[schema(min_length = 1, max_length = 200)]
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// Where the selected time range starts, in milliseconds of the session.
    #[schema(minimum = 0)]
    pub start_ms: f64,
    #[schema(minimum = 0)]
    pub end_ms: f64,
}

/// Checks a call of `tool` with `arguments` against the catalog: the suite
/// action the call stands for, or why it does not fit (the refusal names the
/// argument).
pub trait CallCheck {
    fn check(&self, tool: &str, arguments: &Value, action: Option<&str>)
        -> Result<String, Refusal>;
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A fresh review's items: the classified actions, pending, by their index.
pub fn items_of(actions: &[ActionView]) -> Vec<ReviewItem> {
    let mut items: Vec<ReviewItem> = actions
        .iter()
        .map(|a| ReviewItem {
            index: to_u32(a.index),
            origin: Origin::Classified,
            decision: Decision::Pending,
            action: a.action.clone(),
            tool: a.tool.clone(),
            arguments: a.arguments.clone(),
            confidence: Some(a.confidence),
            low_confidence: a.low_confidence,
            start_ms: a.start_ms,
            end_ms: a.end_ms,
            evidence: a.evidence.iter().map(|&e| to_u32(e)).collect(),
        })
        .collect();
    sort_by_time(&mut items);
    items
}

/// Time order, and index order among items that start together.
pub fn sort_by_time(items: &mut [ReviewItem]) {
    items.sort_by(|a, b| {
        a.start_ms
            .total_cmp(&b.start_ms)
            .then(a.index.cmp(&b.index))
    });
}

fn require_object(arguments: &Value) -> Result<(), Refusal> {
    if arguments.is_object() {
        Ok(())
    } else {
        Err(Refusal::new(
            "arguments",
            "`arguments` must be a JSON object",
        ))
    }
}

/// `item` with `body`'s decision applied: `changed` takes a new tool and/or
/// arguments, checked against the tool's input schema; `confirmed` and
/// `deleted` take neither.
pub fn decide(
    item: &ReviewItem,
    body: &DecisionBody,
    check: &dyn CallCheck,
) -> Result<ReviewItem, Refusal> {
    let mut decided = item.clone();
    match body.decision {
        Verdict::Confirmed | Verdict::Deleted => {
            if body.tool.is_some() || body.arguments.is_some() {
                let field = if body.tool.is_some() {
                    "tool"
                } else {
                    "arguments"
                };
                return Err(Refusal::new(
                    field,
                    "`tool` and `arguments` go with the decision `changed`",
                ));
            }
            decided.decision = if body.decision == Verdict::Confirmed {
                Decision::Confirmed
            } else {
                Decision::Deleted
            };
        }
        Verdict::Changed => {
            if body.tool.is_none() && body.arguments.is_none() {
                return Err(Refusal::new(
                    "decision",
                    "a `changed` decision gives the new `tool`, `arguments` or both",
                ));
            }
            if let Some(tool) = &body.tool {
                decided.tool = tool.clone();
            }
            if let Some(arguments) = &body.arguments {
                require_object(arguments)?;
                decided.arguments = arguments.clone();
            }
            decided.action = check.check(&decided.tool, &decided.arguments, Some(&item.action))?;
            decided.decision = Decision::Changed;
        }
    }
    Ok(decided)
}

/// A missed action over a selected time range, checked like a change. Its
/// index is the store's to give.
pub fn added(body: &AddedBody, check: &dyn CallCheck) -> Result<ReviewItem, Refusal> {
    for (field, ms) in [("start_ms", body.start_ms), ("end_ms", body.end_ms)] {
        if !ms.is_finite() || ms < 0.0 {
            return Err(Refusal::new(
                field,
                format!("`{field}` must be a number of milliseconds, 0 or more"),
            ));
        }
    }
    if body.end_ms < body.start_ms {
        return Err(Refusal::new(
            "end_ms",
            "`end_ms` must not be before `start_ms`",
        ));
    }
    require_object(&body.arguments)?;
    let action = check.check(&body.tool, &body.arguments, None)?;
    Ok(ReviewItem {
        index: 0,
        origin: Origin::Added,
        decision: Decision::Confirmed,
        action,
        tool: body.tool.clone(),
        arguments: body.arguments.clone(),
        confidence: None,
        low_confidence: false,
        start_ms: body.start_ms,
        end_ms: body.end_ms,
        evidence: Vec::new(),
    })
}

fn micros(ms: f64) -> i64 {
    // Times come from the session clock (finite, non-negative); saturates.
    (ms * 1000.0).round() as i64
}

/// The calls a completed review stands for, in time order: deleted items
/// dropped, changed ones as changed, added ones where they happened; a
/// pending item counts as confirmed.
pub fn reviewed_calls(items: &[ReviewItem]) -> Vec<ReviewedCall> {
    let mut kept: Vec<ReviewItem> = items
        .iter()
        .filter(|i| i.decision != Decision::Deleted)
        .cloned()
        .collect();
    sort_by_time(&mut kept);
    kept.into_iter()
        .map(|i| ReviewedCall {
            action: Some(i.action),
            tool: i.tool,
            arguments: i.arguments,
            confidence: i.confidence.unwrap_or(ADDED_CONFIDENCE),
            low_confidence: i.low_confidence,
            evidence: i.evidence.into_iter().map(|e| e as usize).collect(),
            start_us: micros(i.start_ms),
            end_us: micros(i.end_ms),
        })
        .collect()
}

/// One expected tool call of a label file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ExpectedToolCall)]
pub struct ExpectedCall {
    pub name: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
}

/// `<scenario>.expected.json`: what `tracepipe eval` expects the recording
/// `<scenario>.trace.json.gz` to yield.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LabelFile {
    /// The recording's name without its extension.
    pub scenario: String,
    /// The suite's name.
    pub suite: String,
    pub description: String,
    /// In time order.
    pub tool_calls: Vec<ExpectedCall>,
}

/// The recording extensions a scenario name is the rest of.
const RECORDING_SUFFIXES: &[&str] = &[
    ".trace.json.gz",
    ".trace.json",
    ".json.gz",
    ".json",
    ".jsonl.gz",
    ".jsonl",
    ".zip",
];

/// The scenario a label file is named for: the uploaded file's name without
/// its recording extension (so it sits beside `<scenario>.trace.json.gz`),
/// or the session id when the name was not kept or is not a plain name.
pub fn scenario_name(source_name: Option<&str>, session_id: &str) -> String {
    let plain = |name: &&str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    source_name
        .map(|name| name.rsplit(['/', '\\']).next().unwrap_or(name))
        .map(|name| {
            RECORDING_SUFFIXES
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
        })
        .filter(plain)
        .unwrap_or(session_id)
        .to_owned()
}

/// The label file of a review: its kept calls in time order.
pub fn label_file(scenario: String, suite: String, items: &[ReviewItem]) -> LabelFile {
    LabelFile {
        description: format!("the reviewed tool calls of {scenario}"),
        tool_calls: reviewed_calls(items)
            .into_iter()
            .map(|c| ExpectedCall {
                name: c.tool,
                arguments: c.arguments,
            })
            .collect(),
        scenario,
        suite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Knows one tool, `send_email`, whose `to` must be a list.
    struct OneTool;

    impl CallCheck for OneTool {
        fn check(
            &self,
            tool: &str,
            arguments: &Value,
            _action: Option<&str>,
        ) -> Result<String, Refusal> {
            if tool != "send_email" {
                return Err(Refusal::new("tool", format!("no tool `{tool}`")));
            }
            if !arguments.get("to").is_some_and(Value::is_array) {
                return Err(Refusal::new("arguments/to", "`to` must be a list"));
            }
            Ok("send_email".into())
        }
    }

    fn action(index: usize, start_ms: f64, to: &str) -> ActionView {
        ActionView {
            index,
            action: "send_email".into(),
            tool: "send_email".into(),
            arguments: json!({"to": [to]}),
            confidence: 0.5,
            low_confidence: index == 0,
            evidence: vec![index * 2, index * 2 + 1],
            evidence_start: Some(index * 2),
            evidence_end: Some(index * 2 + 1),
            start_ms,
            end_ms: start_ms + 5.0,
            result_grounded: false,
        }
    }

    fn body(decision: Verdict, tool: Option<&str>, arguments: Option<Value>) -> DecisionBody {
        DecisionBody {
            decision,
            tool: tool.map(str::to_owned),
            arguments,
        }
    }

    #[test]
    fn items_start_pending_in_time_order_with_stable_indices() {
        let items = items_of(&[action(0, 50.0, "a@x"), action(1, 10.0, "b@x")]);
        assert_eq!(
            items
                .iter()
                .map(|i| (i.index, i.start_ms))
                .collect::<Vec<_>>(),
            vec![(1, 10.0), (0, 50.0)]
        );
        assert!(items
            .iter()
            .all(|i| i.decision == Decision::Pending && i.origin == Origin::Classified));
        assert_eq!(items[1].evidence, vec![0, 1]);
        assert_eq!(items[1].confidence, Some(0.5));
        assert!(items[1].low_confidence);
    }

    #[test]
    fn decisions_apply_and_changes_are_checked() {
        let item = &items_of(&[action(0, 0.0, "a@x")])[0];
        let confirmed = decide(item, &body(Verdict::Confirmed, None, None), &OneTool).expect("ok");
        assert_eq!(confirmed.decision, Decision::Confirmed);
        assert_eq!(confirmed.arguments, item.arguments);

        let changed = decide(
            item,
            &body(Verdict::Changed, None, Some(json!({"to": ["c@x"]}))),
            &OneTool,
        )
        .expect("ok");
        assert_eq!(
            (changed.decision, &changed.arguments),
            (Decision::Changed, &json!({"to": ["c@x"]}))
        );
        assert_eq!(changed.index, item.index);

        let refused = |b: DecisionBody| decide(item, &b, &OneTool).unwrap_err().field;
        assert_eq!(
            refused(body(Verdict::Changed, None, Some(json!({"to": "c@x"})))),
            "arguments/to"
        );
        assert_eq!(refused(body(Verdict::Changed, Some("nope"), None)), "tool");
        assert_eq!(
            refused(body(Verdict::Changed, None, Some(json!([1])))),
            "arguments"
        );
        assert_eq!(refused(body(Verdict::Changed, None, None)), "decision");
        assert_eq!(
            refused(body(Verdict::Deleted, Some("send_email"), None)),
            "tool"
        );
        assert_eq!(
            refused(body(Verdict::Confirmed, None, Some(json!({})))),
            "arguments"
        );
    }

    #[test]
    fn added_actions_are_checked_and_confirmed() {
        let ok = AddedBody {
            tool: "send_email".into(),
            arguments: json!({"to": ["d@x"]}),
            start_ms: 20.0,
            end_ms: 30.0,
        };
        let item = added(&ok, &OneTool).expect("ok");
        assert_eq!(
            (item.origin, item.decision, item.confidence),
            (Origin::Added, Decision::Confirmed, None)
        );
        let backwards = AddedBody {
            end_ms: 10.0,
            ..ok.clone()
        };
        assert_eq!(added(&backwards, &OneTool).unwrap_err().field, "end_ms");
        let negative = AddedBody {
            start_ms: -1.0,
            ..ok.clone()
        };
        assert_eq!(added(&negative, &OneTool).unwrap_err().field, "start_ms");
        let invalid = AddedBody {
            arguments: json!({}),
            ..ok
        };
        assert_eq!(added(&invalid, &OneTool).unwrap_err().field, "arguments/to");
    }

    #[test]
    fn reviewed_calls_drop_deleted_apply_changes_and_insert_added_in_time_order() {
        let mut items = items_of(&[
            action(0, 0.0, "a@x"),
            action(1, 100.0, "b@x"),
            action(2, 200.0, "c@x"),
        ]);
        items[0] = decide(&items[0], &body(Verdict::Deleted, None, None), &OneTool).expect("ok");
        items[1] = decide(
            &items[1],
            &body(Verdict::Changed, None, Some(json!({"to": ["B@x"]}))),
            &OneTool,
        )
        .expect("ok");
        let mut extra = added(
            &AddedBody {
                tool: "send_email".into(),
                arguments: json!({"to": ["new@x"]}),
                start_ms: 150.0,
                end_ms: 160.0,
            },
            &OneTool,
        )
        .expect("ok");
        extra.index = 3;
        items.push(extra);
        let calls = reviewed_calls(&items);
        let to: Vec<&Value> = calls.iter().map(|c| &c.arguments["to"][0]).collect();
        assert_eq!(to, vec!["B@x", "new@x", "c@x"]);
        assert_eq!(calls[1].confidence, ADDED_CONFIDENCE);
        assert_eq!((calls[1].start_us, calls[1].end_us), (150_000, 160_000));
        assert_eq!(calls[2].evidence, vec![4, 5]);

        let labels = label_file("inbox".into(), "gmail".into(), &items);
        assert_eq!(
            serde_json::to_value(&labels.tool_calls).expect("json"),
            json!([
                {"name": "send_email", "arguments": {"to": ["B@x"]}},
                {"name": "send_email", "arguments": {"to": ["new@x"]}},
                {"name": "send_email", "arguments": {"to": ["c@x"]}},
            ])
        );
        assert_eq!(
            (labels.scenario.as_str(), labels.suite.as_str()),
            ("inbox", "gmail")
        );
    }

    #[test]
    fn scenarios_are_named_after_the_recording() {
        let id = "0a1b";
        assert_eq!(
            scenario_name(Some("batch_delete.trace.json.gz"), id),
            "batch_delete"
        );
        assert_eq!(scenario_name(Some("dir/x.jsonl"), id), "x");
        assert_eq!(scenario_name(Some("plain"), id), "plain");
        assert_eq!(scenario_name(Some("with space.json"), id), id);
        assert_eq!(scenario_name(Some(".trace.json.gz"), id), id);
        assert_eq!(scenario_name(None, id), id);
    }
}
