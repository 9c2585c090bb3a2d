//! One demonstration's expected calls aligned with its marks, in order: for
//! each call, the mark that committed it, the mark that began it (for a
//! multi-step form), and where each argument was read.

use crate::marks::{find, in_selection_group, selection_groups, At, Found, Mark, RouteShape};
use serde_json::Value;
use tracepipe_schemas::EventKind;

/// One argument, or one field of an object argument.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LeafPath {
    /// The tool parameter.
    pub param: String,
    pub field: Option<String>,
}

impl std::fmt::Display for LeafPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}.{field}", self.param),
            None => f.write_str(&self.param),
        }
    }
}

/// What a mark looks like to a matcher.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Signature {
    pub kind: EventKind,
    /// Normalised accessible name, and as first seen.
    pub label: Option<(String, String)>,
    pub tag: Option<String>,
    pub key: Option<String>,
    pub modifiers: Vec<String>,
    /// For navigations: the route arrived at.
    pub route: Option<RouteShape>,
}

impl Signature {
    fn of(m: &Mark) -> Signature {
        let e = m.event;
        let label = match (m.label.clone(), m.raw_label()) {
            (Some(n), Some(raw)) if e.kind != EventKind::Navigation => Some((n, raw.to_string())),
            _ => None,
        };
        Signature {
            kind: e.kind,
            label,
            tag: m.tag().map(str::to_string),
            key: e.key.clone(),
            modifiers: e.modifiers.clone(),
            route: if e.kind == EventKind::Navigation {
                RouteShape::literal(m.fragment)
            } else {
                None
            },
        }
    }
}

/// Where an argument can be read, placed in the rule that would read it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Placed {
    /// A field of the form: its committed value. `list`: the labelled
    /// value is a list of this one value.
    Field {
        label: String,
        raw: String,
        input: bool,
        list: bool,
    },
    /// A field holding a comma-separated list.
    FieldSplit { label: String, raw: String },
    /// Checkable items inside the form.
    Toggle { attr: String, remove: bool },
    /// A `data-*` attribute of the mark that began the form.
    StartData { attr: String },
    /// The value typed into the field that began the form.
    StartValue { input: bool },
    /// A `data-*` attribute of the committing mark.
    CommitData { attr: String },
    /// A route group of the committing mark's URL.
    CommitRoute { shape: RouteShape },
    /// The items selected in a list.
    Selection {
        label: String,
        raw: String,
        attr: String,
    },
    /// Constants a ticked checkbox stands for, matched by name (`INBOX` for
    /// "Skip the Inbox"): (the checkbox's name as seen, the constant).
    Flags { items: Vec<(String, String)> },
    /// The option chosen in a `<select>` of the form, when the argument is
    /// not the option's value (the capture records the value, not the
    /// option's visible label): the value committed and the argument it
    /// stood for (JSON), learned as a table.
    Choice {
        label: String,
        raw: String,
        value: String,
        arg: String,
    },
}

impl Placed {
    /// Lower is preferred: a value the person typed or picked over one the
    /// page happened to show.
    pub fn rank(&self) -> u8 {
        match self {
            Placed::Field { .. } => 0,
            Placed::FieldSplit { .. } => 1,
            Placed::StartValue { .. } => 2,
            Placed::Toggle { .. } => 3,
            Placed::Selection { .. } => 4,
            Placed::StartData { .. } => 5,
            Placed::CommitData { .. } => 6,
            Placed::CommitRoute { .. } => 7,
            Placed::Flags { .. } => 8,
            Placed::Choice { .. } => 9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One mark is the whole action.
    Trigger,
    /// A form: begun by `start`, filled, committed.
    Flow { start: Signature },
}

/// One expected call of one demonstration, aligned.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub demo: usize,
    pub tool: String,
    /// Session time of the committing mark.
    pub t_us: i64,
    pub shape: Shape,
    pub commit: Signature,
    /// The steps (not changes) after the start, the commit included.
    pub steps: Vec<Signature>,
    /// The mark after the commit is a form submit.
    pub then_submit: bool,
    /// Per argument leaf: every placement that yields its value here.
    pub leaves: Vec<(LeafPath, Vec<Placed>)>,
    /// Leaves whose value appears nowhere in the recording.
    pub unexplained: Vec<(LeafPath, Value)>,
}

/// An expected call that no mark could commit.
#[derive(Debug, Clone)]
pub(crate) struct Unaligned {
    pub demo: usize,
    pub tool: String,
}

pub(crate) fn leaves(arguments: &Value) -> Vec<(LeafPath, Value)> {
    let mut out = Vec::new();
    if let Value::Object(args) = arguments {
        for (param, v) in args {
            match v {
                Value::Object(fields) if !fields.is_empty() => {
                    for (field, fv) in fields {
                        out.push((
                            LeafPath {
                                param: param.clone(),
                                field: Some(field.clone()),
                            },
                            fv.clone(),
                        ));
                    }
                }
                _ => out.push((
                    LeafPath {
                        param: param.clone(),
                        field: None,
                    },
                    v.clone(),
                )),
            }
        }
    }
    out
}

/// The name a route group gets for a leaf.
pub(crate) fn group_name(leaf: &LeafPath) -> String {
    let mut s = crate::snake(&leaf.param);
    if let Some(f) = &leaf.field {
        s.push('_');
        s.push_str(&crate::snake(f));
    }
    s
}

struct Explained {
    leaf: LeafPath,
    value: Value,
    found: Vec<At>,
}

impl Explained {
    /// The first mark that shows the value as an event of its own (not the
    /// page's address at some unrelated step).
    fn evidence(&self, marks: &[Mark]) -> Option<usize> {
        self.found
            .iter()
            .filter(|a| {
                !matches!(a.found, Found::Route { .. })
                    || marks[a.pos].kind() == EventKind::Navigation
            })
            .map(|a| a.pos)
            .min()
    }
}

fn explain(
    arguments: &Value,
    marks: &[Mark],
    lo: usize,
    selection: &[(String, String)],
) -> Vec<Explained> {
    leaves(arguments)
        .into_iter()
        .map(|(leaf, value)| {
            let found = find(
                &value,
                marks,
                lo,
                marks.len(),
                selection,
                &group_name(&leaf),
            );
            Explained { leaf, value, found }
        })
        .collect()
}

/// Does mark `pos` carry every explained value itself (its target's data or,
/// for a navigation, its new address)?
fn carries_all(ex: &[Explained], pos: usize, marks: &[Mark]) -> bool {
    ex.iter().filter(|e| !e.found.is_empty()).all(|e| {
        e.found.iter().any(|a| {
            a.pos == pos
                && match a.found {
                    Found::Data { .. } => true,
                    Found::Route { .. } => marks[pos].kind() == EventKind::Navigation,
                    _ => false,
                }
        })
    })
}

/// Aligns the calls of one demonstration with its marks.
pub(crate) fn align(
    demo: usize,
    marks: &[Mark],
    calls: &[(String, Value)],
) -> (Vec<Case>, Vec<Unaligned>) {
    let selection = selection_groups(marks);
    let mut cases = Vec::new();
    let mut unaligned = Vec::new();
    let mut lo = 0usize;
    for (k, (tool, arguments)) in calls.iter().enumerate() {
        let ex = explain(arguments, marks, lo, &selection);
        // Marks that feed a list (toggles, selections) never commit.
        let feeding: Vec<usize> = ex
            .iter()
            .flat_map(|e| e.found.iter())
            .filter(|a| matches!(a.found, Found::Toggle { .. } | Found::Selection { .. }))
            .flat_map(|a| a.marks.iter().copied())
            .collect();
        let can_commit = |p: usize| {
            let m = &marks[p];
            m.kind() != EventKind::Change
                && !feeding.contains(&p)
                && !in_selection_group(m, &selection)
        };
        // The first evidence of the next call, where this one must have ended.
        let bound = || {
            calls
                .get(k + 1)
                .map(|(_, next)| {
                    explain(next, marks, lo, &selection)
                        .iter()
                        .filter_map(|e| e.evidence(marks))
                        .min()
                        .unwrap_or(marks.len())
                })
                .unwrap_or(marks.len())
        };
        let any_found = ex.iter().any(|e| !e.found.is_empty());
        let partly_unexplained = ex.iter().any(|e| e.found.is_empty());
        let commit = if any_found {
            let ready = ex
                .iter()
                .filter_map(|e| {
                    if e.found.is_empty() {
                        return None;
                    }
                    // A list is complete at its last item.
                    let list_end = e
                        .found
                        .iter()
                        .filter(|a| {
                            matches!(a.found, Found::Toggle { .. } | Found::Selection { .. })
                        })
                        .map(|a| a.pos)
                        .max();
                    Some(list_end.or_else(|| e.evidence(marks)).unwrap_or(lo))
                })
                .max()
                .unwrap_or(lo);
            // With a value nowhere to be seen, the values seen do not tell
            // when the call was complete: its last possible step is.
            let last_possible = if partly_unexplained {
                // A submit is what its button or Enter caused.
                (ready..bound())
                    .rev()
                    .find(|&p| can_commit(p) && marks[p].kind() != EventKind::Submit)
            } else {
                None
            };
            last_possible.map(|p| (p, p)).or_else(|| {
                (ready..marks.len()).find(|&p| can_commit(p)).map(|first| {
                    // The same values carried on by the next marks (a click and
                    // the navigation it causes) are one step.
                    let mut last = first;
                    // A navigation ends the step: it is what the step caused.
                    if carries_all(&ex, first, marks) {
                        while marks[last].kind() != EventKind::Navigation
                            && last + 1 < marks.len()
                            && can_commit(last + 1)
                            && carries_all(&ex, last + 1, marks)
                        {
                            last += 1;
                        }
                    }
                    (first, last)
                })
            })
        } else {
            // No argument to follow: the last navigation (else the last
            // step) before the next call's evidence.
            let candidates: Vec<usize> = (lo..bound()).filter(|&p| can_commit(p)).collect();
            candidates
                .iter()
                .rev()
                .find(|&&p| marks[p].kind() == EventKind::Navigation)
                .or(candidates.last())
                .map(|&p| (p, p))
        };
        let Some((run_start, commit)) = commit else {
            unaligned.push(Unaligned {
                demo,
                tool: tool.clone(),
            });
            continue;
        };
        cases.push(case(
            demo, tool, marks, &ex, lo, run_start, commit, &feeding, &selection,
        ));
        lo = commit + 1;
    }
    (cases, unaligned)
}

#[allow(clippy::too_many_arguments)]
fn case(
    demo: usize,
    tool: &str,
    marks: &[Mark],
    ex: &[Explained],
    lo: usize,
    run_start: usize,
    commit: usize,
    feeding: &[usize],
    selection: &[(String, String)],
) -> Case {
    let cm = &marks[commit];
    let mut commit_sig = Signature::of(cm);
    let is_nav = cm.kind() == EventKind::Navigation;
    let found_before = |a: &At| a.pos <= commit;
    // A value nowhere to be seen but a select chosen before the commit: the
    // select's form.
    let chose = ex
        .iter()
        .any(|e| e.found.is_empty() && !choices(&e.value, marks, lo, commit).is_empty());
    // A navigation carrying every value, or a single mark carrying every
    // value itself: one step. Otherwise a form.
    let trigger = !chose
        && ex.iter().all(|e| {
            e.found.is_empty()
                || e.found
                    .iter()
                    .filter(|a| found_before(a))
                    .any(|a| match &a.found {
                        Found::Data { .. } => a.pos == commit && run_start == commit,
                        Found::Route { .. } => a.pos == commit,
                        Found::Selection { .. } => !is_nav,
                        _ => false,
                    })
        })
        && (is_nav || run_start == commit);
    // Field labels: changes whose value is an argument, and the clicks that
    // focused them.
    let field_labels: Vec<&str> = ex
        .iter()
        .flat_map(|e| e.found.iter())
        .filter(|a| a.pos <= commit)
        .filter_map(|a| match &a.found {
            Found::Field { label } | Found::FieldSplit { label } => Some(label.as_str()),
            _ => None,
        })
        .collect();
    // The selection is made before the form and is not part of it.
    let first_evidence = ex
        .iter()
        .filter(|e| {
            !e.found
                .iter()
                .any(|a| matches!(a.found, Found::Selection { .. }))
        })
        .filter_map(|e| e.evidence(marks).filter(|&p| p <= commit))
        .chain(
            ex.iter()
                .flat_map(|e| e.found.iter())
                .filter(|a| matches!(a.found, Found::Toggle { .. }))
                .flat_map(|a| a.marks.iter().copied()),
        )
        .min()
        .unwrap_or(commit);
    let start_pos = if trigger {
        None
    } else if run_start < commit {
        Some(run_start)
    } else {
        // The last click up to the form's first value that is not a field
        // being focused or an item being ticked; else the first value itself.
        // Typed values are looked behind first: the click that opened the
        // fields ("Edit" on an event's page) begins the form even when the
        // page's own address, reached before it, already showed an id. A
        // click that carries a value itself (a "New issue" button with the
        // repository's id) can begin it.
        // The click that completes the form does not also begin it.
        let begins = |p: &usize| {
            let m = &marks[*p];
            *p < commit
                && m.kind() == EventKind::Click
                && !feeding.contains(p)
                && !in_selection_group(m, selection)
                && !m
                    .label
                    .as_deref()
                    .is_some_and(|l| field_labels.contains(&l))
        };
        let first_typed = ex
            .iter()
            .flat_map(|e| e.found.iter())
            .filter(|a| {
                a.pos <= commit && matches!(a.found, Found::Field { .. } | Found::FieldSplit { .. })
            })
            .map(|a| a.pos)
            .min();
        let last = marks.len().saturating_sub(1);
        first_typed
            .and_then(|t| (lo..=t.min(last)).rev().find(begins))
            .or_else(|| (lo..=first_evidence.min(last)).rev().find(begins))
            .or(Some(first_evidence))
    };
    let mut leaves_out = Vec::new();
    let mut unexplained = Vec::new();
    for e in ex {
        let mut placed = Vec::new();
        for a in e.found.iter().filter(|a| found_before(a)) {
            let m = &marks[a.pos];
            match &a.found {
                Found::Field { label } if !trigger => {
                    if start_pos == Some(a.pos) {
                        placed.push(Placed::StartValue {
                            input: m.tag() == Some("input"),
                        });
                    } else if Some(a.pos) > start_pos {
                        placed.push(Placed::Field {
                            label: label.clone(),
                            raw: m.raw_label().unwrap_or(label).to_string(),
                            input: m.tag() == Some("input"),
                            list: e.value.is_array(),
                        });
                    }
                }
                Found::FieldSplit { label } if !trigger && Some(a.pos) > start_pos => {
                    placed.push(Placed::FieldSplit {
                        label: label.clone(),
                        raw: m.raw_label().unwrap_or(label).to_string(),
                    })
                }
                Found::Toggle { attr, remove } if !trigger => placed.push(Placed::Toggle {
                    attr: attr.clone(),
                    remove: *remove,
                }),
                Found::Data { attr } => {
                    if a.pos == commit {
                        placed.push(Placed::CommitData { attr: attr.clone() });
                    } else if start_pos == Some(a.pos) {
                        placed.push(Placed::StartData { attr: attr.clone() });
                    }
                }
                Found::Route { shape } if a.pos == commit => placed.push(Placed::CommitRoute {
                    shape: shape.clone(),
                }),
                Found::Selection { label, attr } => {
                    let raw = a
                        .marks
                        .first()
                        .and_then(|&p| marks[p].raw_label())
                        .unwrap_or(label);
                    placed.push(Placed::Selection {
                        label: label.clone(),
                        raw: raw.to_string(),
                        attr: attr.clone(),
                    })
                }
                _ => {}
            }
        }
        if e.found.is_empty() && !trigger {
            if let Some(items) = flags(&e.value, marks, start_pos.unwrap_or(lo), commit) {
                placed.push(Placed::Flags { items });
            }
            placed.extend(choices(&e.value, marks, start_pos.unwrap_or(lo), commit));
        }
        placed.sort();
        placed.dedup();
        if placed.is_empty() && e.found.is_empty() {
            unexplained.push((e.leaf.clone(), e.value.clone()));
        }
        leaves_out.push((e.leaf.clone(), placed));
    }
    // A navigation whose route carries a value is matched by that route.
    if is_nav {
        if let Some(shape) = leaves_out
            .iter()
            .flat_map(|(_, p)| p)
            .find_map(|p| match p {
                Placed::CommitRoute { shape } => Some(shape.clone()),
                _ => None,
            })
        {
            commit_sig.route = Some(shape);
        }
    }
    // A form begun by a navigation whose route carries a value (an issue's
    // page, `#issues/12`) begins on that route whatever the value.
    let start_sig = start_pos.map(|p| {
        let mut sig = Signature::of(&marks[p]);
        if marks[p].kind() == EventKind::Navigation {
            if let Some(shape) =
                ex.iter()
                    .flat_map(|e| e.found.iter())
                    .find_map(|a| match &a.found {
                        Found::Route { shape } if a.pos == p => Some(shape.clone()),
                        _ => None,
                    })
            {
                sig.route = Some(shape);
            }
        }
        sig
    });
    let steps: Vec<Signature> = match start_pos {
        Some(s) => (s + 1..=commit)
            .filter(|&p| marks[p].kind() != EventKind::Change)
            .map(|p| Signature::of(&marks[p]))
            .collect(),
        None => Vec::new(),
    };
    Case {
        demo,
        tool: tool.to_string(),
        t_us: cm.event.t_us,
        shape: match start_sig {
            Some(start) => Shape::Flow { start },
            None => Shape::Trigger,
        },
        commit: commit_sig,
        steps,
        then_submit: marks
            .get(commit + 1)
            .is_some_and(|m| m.kind() == EventKind::Submit),
        leaves: leaves_out,
        unexplained,
    }
}

/// Each `<select>` of the form with the value last chosen in it, standing
/// for `value` (a string or number argument that is no option's value).
fn choices(value: &Value, marks: &[Mark], lo: usize, hi: usize) -> Vec<Placed> {
    if !(value.is_string() || value.is_number()) {
        return Vec::new();
    }
    let mut last: Vec<(&str, &Mark)> = Vec::new();
    for m in &marks[lo..hi] {
        if m.kind() != EventKind::Change || m.tag() != Some("select") {
            continue;
        }
        let Some(label) = m.label.as_deref() else {
            continue;
        };
        last.retain(|(l, _)| *l != label);
        last.push((label, m));
    }
    last.into_iter()
        .filter_map(|(label, m)| {
            Some(Placed::Choice {
                label: label.to_string(),
                raw: m.raw_label().unwrap_or(label).to_string(),
                value: m.event.value.clone()?,
                arg: value.to_string(),
            })
        })
        .collect()
}

/// Plain Enter in a single-line text input.
pub(crate) fn enter_in_input(s: &Signature) -> bool {
    s.kind == EventKind::Key
        && s.key.as_deref() == Some("Enter")
        && s.modifiers.is_empty()
        && s.tag.as_deref() == Some("input")
}

/// Two marks a matcher on kind, name and key cannot tell apart.
pub(crate) fn same_step(a: &Signature, b: &Signature) -> bool {
    a.kind == b.kind
        && a.label.as_ref().map(|l| &l.0) == b.label.as_ref().map(|l| &l.0)
        && a.key == b.key
}

/// Each constant of `value` matched to a checkbox ticked in `marks[lo..hi]`
/// whose name shares a word with it ("Mark as read" for `UNREAD`).
fn flags(value: &Value, marks: &[Mark], lo: usize, hi: usize) -> Option<Vec<(String, String)>> {
    let items: Vec<&str> = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    if items.is_empty() {
        return None;
    }
    let ticked: Vec<&Mark> = marks[lo..hi]
        .iter()
        .filter(|m| {
            m.kind() == EventKind::Change
                && m.event.value.as_deref().is_some_and(|v| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "true" | "on" | "checked"
                    )
                })
        })
        .collect();
    let mut out = Vec::new();
    for item in items {
        let constant = item.to_lowercase();
        let m = ticked.iter().find(|m| {
            m.label.as_deref().is_some_and(|label| {
                label
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.chars().count() >= 4)
                    .any(|w| {
                        w == constant
                            || constant.contains(w)
                            || (constant.len() >= 4 && w.contains(constant.as_str()))
                    })
            })
        })?;
        out.push((m.raw_label()?.to_string(), item.to_string()));
    }
    Some(out)
}
