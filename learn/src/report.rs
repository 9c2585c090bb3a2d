//! What was learned from what, per action, and what could not be explained.

use crate::align::Placed;
use crate::rules_file::MatcherRule;
use crate::{step_name, Aligned, Core, Demonstration};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = LearnReport))]
pub struct Report {
    pub suite: String,
    pub demonstrations: usize,
    pub actions: Vec<ActionReport>,
    /// Generalisations across actions.
    pub notes: Vec<String>,
    /// Calls no step of their recording could have committed.
    pub unaligned: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = LearnedActionReport))]
pub struct ActionReport {
    pub action: String,
    pub tool: String,
    /// The recordings that demonstrate it.
    pub demonstrations: Vec<String>,
    /// How it is recognised, in words.
    pub recognised_by: String,
    pub arguments: Vec<ArgumentReport>,
    /// Calls of this tool reproduced exactly when classified by a model
    /// learned from the other recordings, of the calls demonstrated.
    pub leave_one_out: LeaveOneOut,
    /// What it could not explain.
    pub unexplained: Vec<String>,
    /// What to record next.
    pub record_next: Vec<String>,
    pub confidence: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(as = LearnedArgumentReport))]
pub struct ArgumentReport {
    /// The tool parameter (`criteria.from` for a field of an object one).
    pub argument: String,
    /// Where it is read, in words; empty when nowhere.
    pub evidence: String,
    /// Demonstrations where that yields the labelled value, of those with it.
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub explained: usize,
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub of: usize,
}

/// A tool's calls reproduced exactly by a model learned without the
/// demonstration that made them, of the calls demonstrated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LeaveOneOut {
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub reproduced: usize,
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub calls: usize,
}

fn describe(p: &Placed) -> String {
    match p {
        Placed::Field { raw, .. } => format!("the committed value of the field `{raw}`"),
        Placed::FieldSplit { raw, .. } => {
            format!("the committed value of the field `{raw}`, split at commas")
        }
        Placed::Toggle {
            attr,
            remove: false,
        } => format!("the {attr} of the items ticked"),
        Placed::Toggle { attr, remove: true } => format!("the {attr} of the items unticked"),
        Placed::StartData { attr } => format!("{attr} of the step that begins it"),
        Placed::StartValue { .. } => "the value typed into the field that begins it".into(),
        Placed::CommitData { attr } => format!("{attr} of the step that completes it"),
        Placed::CommitRoute { shape } => format!(
            "the route `{}` ({}) at the step that completes it",
            shape.name(),
            shape.pattern()
        ),
        Placed::Selection { raw, attr, .. } => {
            format!("the selection: {attr} of the items ticked with `{raw}`")
        }
        Placed::Choice { raw, .. } => {
            format!("the option chosen in `{raw}`, by the table of options demonstrated")
        }
        Placed::Flags { items } => items
            .iter()
            .map(|(label, value)| {
                format!("the constant {value} when `{label}` is ticked (named alike)")
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn steps(list: &[MatcherRule]) -> String {
    list.iter().map(step_name).collect::<Vec<_>>().join(" or ")
}

pub(crate) fn build(
    suite: &str,
    core: &Core,
    aligned: &Aligned,
    demos: &[Demonstration],
    loo: &BTreeMap<String, LeaveOneOut>,
) -> Report {
    let mut actions = Vec::new();
    for t in &core.tools {
        let demonstrations: Vec<String> = t.demos.iter().map(|&d| demos[d].name.clone()).collect();
        let recognised_by = match &t.flow_start {
            Some(start) => format!(
                "a form begun by {} and completed by {}",
                steps(start),
                steps(&t.commits)
            ),
            None => format!("one step: {}", steps(&t.commits)),
        };
        let mut unexplained = Vec::new();
        let mut record_next = Vec::new();
        let arguments = t
            .chosen
            .iter()
            .map(|c| {
                let evidence = c.placed.as_ref().map(describe).unwrap_or_default();
                if c.placed.is_none() {
                    let values: Vec<String> = aligned
                        .cases
                        .iter()
                        .filter(|k| k.tool == t.tool && t.demos.contains(&k.demo))
                        .flat_map(|k| k.unexplained.iter())
                        .filter(|(l, _)| *l == c.leaf)
                        .map(|(_, v)| v.to_string())
                        .collect();
                    unexplained.push(format!(
                        "`{}` ({}) never appears in the recording: not a field's value, a data-* attribute, a route or the selection",
                        c.leaf,
                        values.join(", ")
                    ));
                    record_next.push(format!(
                        "a demonstration where `{}` is typed, picked from an element carrying it in a data-* attribute, or shown in the URL",
                        c.leaf
                    ));
                } else if let Some(Placed::Choice { raw, .. }) = &c.placed {
                    let table: Vec<String> =
                        c.choices.iter().map(|(v, a)| format!("{v} → {a}")).collect();
                    unexplained.push(format!(
                        "`{}` is not the value `{raw}` commits (the capture records a select's option value, not its visible label): only the options demonstrated are known ({})",
                        c.leaf,
                        table.join(", ")
                    ));
                    record_next.push(format!(
                        "a demonstration choosing each other option of `{raw}` that `{}` can take",
                        c.leaf
                    ));
                    if c.explained < c.of {
                        unexplained.push(format!(
                            "`{}` is read this way in {} of {} demonstrations",
                            c.leaf, c.explained, c.of
                        ));
                    }
                } else if c.explained < c.of {
                    unexplained.push(format!(
                        "`{}` is read this way in {} of {} demonstrations",
                        c.leaf, c.explained, c.of
                    ));
                }
                ArgumentReport {
                    argument: c.leaf.to_string(),
                    evidence,
                    explained: c.explained,
                    of: c.of,
                }
            })
            .collect();
        if t.demos.len() == 1 {
            unexplained
                .push("shown once: which names and steps vary between uses is unknown".into());
            record_next.push(format!(
                "another demonstration of `{}`, with different values and, if the app allows, another way to complete it (a button, Enter)",
                t.tool
            ));
        }
        actions.push(ActionReport {
            action: t.action.clone(),
            tool: t.tool.clone(),
            demonstrations,
            recognised_by,
            arguments,
            leave_one_out: loo.get(&t.tool).copied().unwrap_or_default(),
            unexplained,
            record_next,
            confidence: t.confidence,
        });
    }
    Report {
        suite: suite.to_string(),
        demonstrations: demos.len(),
        actions,
        notes: core.notes.clone(),
        unaligned: aligned
            .unaligned
            .iter()
            .map(|u| {
                format!(
                    "{}: `{}` (no step after the previous call could commit it)",
                    demos[u.demo].name, u.tool
                )
            })
            .collect(),
    }
}

impl Report {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The report as a person reads it.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Suite `{}` learned from {} demonstrations: {} actions",
            self.suite,
            self.demonstrations,
            self.actions.len()
        );
        for a in &self.actions {
            let LeaveOneOut {
                reproduced: ok,
                calls: n,
            } = a.leave_one_out;
            let _ = writeln!(
                s,
                "\n{} → tool {} (confidence {:.2})",
                a.action, a.tool, a.confidence
            );
            let _ = writeln!(s, "  demonstrations: {}", a.demonstrations.join(", "));
            let _ = writeln!(s, "  recognised by: {}", a.recognised_by);
            for arg in &a.arguments {
                if arg.evidence.is_empty() {
                    let _ = writeln!(s, "  {}: not found", arg.argument);
                } else {
                    let _ = writeln!(
                        s,
                        "  {}: {} ({}/{} demonstrations)",
                        arg.argument, arg.evidence, arg.explained, arg.of
                    );
                }
            }
            let _ = writeln!(s, "  leave-one-out: {ok}/{n} calls reproduced exactly");
            for u in &a.unexplained {
                let _ = writeln!(s, "  could not explain: {u}");
            }
            for r in &a.record_next {
                let _ = writeln!(s, "  record next: {r}");
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "\nnote: {n}");
        }
        for u in &self.unaligned {
            let _ = writeln!(s, "\nunaligned: {u}");
        }
        s
    }
}
