//! Learning a new application from a few labelled demonstrations.
//!
//! Input: the normalised [`Session`]s of some demonstrations, the tool calls
//! each really performed, and the MCP server whose tools they call. Output: a
//! Suite (an action per demonstrated tool), its ActionToolMap and a rules file
//! for the declarative RULES model — the files a person writes by hand — and a
//! [`Report`] of what was learned from what.
//!
//! Each demonstration's calls are aligned with its marks in order (see
//! `align`): the mark that committed each call, the mark that began it when it
//! was a form, and every place each argument's value can be read. Then, per
//! tool, what all its demonstrations share is kept: the committing steps, the
//! starting steps, and for each argument the source that yields the labelled
//! value in every demonstration. Nothing here knows any application: only the
//! capture contract (accessible names, `data-*` ids, routes, mark order) and
//! the tools' input schemas.
//!
//! Pure: no files, clocks or sockets.

mod align;
mod marks;
mod report;
pub mod rules_file;

pub use report::{ActionReport, ArgumentReport, LeaveOneOut, Report};

use align::{Case, LeafPath, Placed, Shape, Signature, Unaligned};
use rules_file::{
    CaptureRule, ChooseRule, ConditionRule, FieldRule, FlagRule, FlowRule, MatcherRule, ModelName,
    OutcomeRule, RulesDocument, SelectionRule, SourceRule, ToggleRule, TriggerRule,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use tracepipe_processors::catalog::{
    ActionFile, ActionParameterFile, ActionToolMapFile, McpServer, ParameterMappingFile,
    ParameterType, SuiteFile, Tool, ToolMappingFile, Transform,
};
use tracepipe_processors::classify::{Model, RulesModel, RulesOptions};
use tracepipe_processors::synth::Synthesizer;
use tracepipe_schemas::{EventKind, Session};

/// One labelled demonstration.
#[derive(Debug, Clone)]
pub struct Demonstration {
    /// The recording's name, for messages and the report.
    pub name: String,
    pub session: Session,
    /// The calls the session really performed, in order.
    pub tool_calls: Vec<ExpectedCall>,
}

/// One call of a `<name>.expected.json` sidecar.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExpectedCall {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LearnError {
    #[error("no demonstrations to learn from")]
    NoDemonstrations,
    #[error("{recording}: tool `{tool}` is not a tool of MCP server `{server}`")]
    UnknownTool {
        recording: String,
        tool: String,
        server: String,
    },
    #[error("contradictory labels: {0}")]
    Contradiction(Box<Conflict>),
    /// The files learned do not load: a defect of the learner, not of the input.
    #[error("the learned {what} does not load: {message}")]
    Generated { what: &'static str, message: String },
}

/// One step labelled as two different tools.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The step, in words.
    pub step: String,
    pub first: LabelledAt,
    pub second: LabelledAt,
}

/// Where a demonstration labelled a step.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledAt {
    pub tool: String,
    pub recording: String,
    /// Session time of the step.
    pub ms: f64,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the same step ({}) is `{}` in {} at {:.0} ms but `{}` in {} at {:.0} ms",
            self.step,
            self.first.tool,
            self.first.recording,
            self.first.ms,
            self.second.tool,
            self.second.recording,
            self.second.ms
        )
    }
}

/// What `learn` produces: the three catalog files and the report.
#[derive(Debug, Clone)]
pub struct Learned {
    pub suite: SuiteFile,
    pub map: ActionToolMapFile,
    pub rules: RulesDocument,
    pub report: Report,
}

impl Learned {
    pub fn suite_json(&self) -> String {
        pretty(&self.suite)
    }
    pub fn map_json(&self) -> String {
        pretty(&self.map)
    }
    pub fn rules_json(&self) -> String {
        pretty(&self.rules)
    }
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// `sendEmail`, `send-email` → `send_email`.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        Some(c) if c.is_ascii_lowercase() => out,
        _ => format!("t_{out}"),
    }
}

/// Learns a suite named `suite` from `demonstrations` of `server`'s tools.
pub fn learn(
    suite: &str,
    server: &McpServer,
    demonstrations: &[Demonstration],
) -> Result<Learned, LearnError> {
    if demonstrations.is_empty() {
        return Err(LearnError::NoDemonstrations);
    }
    let aligned = align_all(server, demonstrations)?;
    let all: Vec<usize> = (0..demonstrations.len()).collect();
    let core = generalise(suite, server, demonstrations, &aligned, &all)?;
    check_loads(&core, server)?;
    let loo = leave_one_out(suite, server, demonstrations, &aligned);
    Ok(Learned {
        report: report::build(suite, &core, &aligned, demonstrations, &loo),
        suite: core.suite,
        map: core.map,
        rules: core.rules,
    })
}

/// Every demonstration aligned with its calls.
pub(crate) struct Aligned {
    pub cases: Vec<Case>,
    pub unaligned: Vec<Unaligned>,
}

fn align_all(server: &McpServer, demos: &[Demonstration]) -> Result<Aligned, LearnError> {
    let mut cases = Vec::new();
    let mut unaligned = Vec::new();
    for (d, demo) in demos.iter().enumerate() {
        for call in &demo.tool_calls {
            if server.tool(&call.name).is_none() {
                return Err(LearnError::UnknownTool {
                    recording: demo.name.clone(),
                    tool: call.name.clone(),
                    server: server.name.clone(),
                });
            }
        }
        let marks = marks::marks(&demo.session);
        let calls: Vec<(String, Value)> = demo
            .tool_calls
            .iter()
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect();
        let (c, u) = align::align(d, &marks, &calls);
        cases.extend(c);
        unaligned.extend(u);
    }
    Ok(Aligned { cases, unaligned })
}

/// The argument sources chosen for one tool.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub leaf: LeafPath,
    pub placed: Option<Placed>,
    /// Further sources at the same step that yield the value as often.
    pub fallbacks: Vec<Placed>,
    /// For a select's option: (value chosen, argument as JSON) per option demonstrated.
    pub choices: Vec<(String, String)>,
    /// Demonstrations where the chosen source yields the labelled value, of
    /// those that have the argument.
    pub explained: usize,
    pub of: usize,
}

/// What was learned for one tool.
#[derive(Debug, Clone)]
pub(crate) struct ToolRule {
    pub tool: String,
    pub action: String,
    pub demos: Vec<usize>,
    pub flow_start: Option<Vec<MatcherRule>>,
    pub commits: Vec<MatcherRule>,
    pub chosen: Vec<Chosen>,
    pub confidence: f64,
    /// Commit times per demonstration, for messages.
    pub seen_at: Vec<(usize, i64)>,
}

pub(crate) struct Core {
    pub suite: SuiteFile,
    pub map: ActionToolMapFile,
    pub rules: RulesDocument,
    pub tools: Vec<ToolRule>,
    /// Generalisations made across tools, in words.
    pub notes: Vec<String>,
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Click => "click",
        EventKind::Change => "change",
        EventKind::Key => "key",
        EventKind::Submit => "submit",
        EventKind::Navigation => "navigation",
        EventKind::NetworkRequest => "network_request",
        _ => "scroll",
    }
}

/// The longest common prefix of names, cut at a word boundary.
fn common_prefix(names: &[&str]) -> Option<String> {
    let first = names.first()?;
    let mut end = first.len();
    for n in &names[1..] {
        end = end.min(
            first
                .char_indices()
                .zip(n.chars())
                .find(|((_, a), b)| a != b)
                .map_or(first.len().min(n.len()), |((i, _), _)| i),
        );
    }
    let prefix = &first[..end];
    let cut = prefix.rfind(' ').map_or(0, |i| i + 1);
    let word = prefix[..cut].trim_end();
    (word.chars().count() >= 3).then(|| word.to_string())
}

/// Matchers for a set of observed steps: one per kind of step, the names
/// they share kept (all of them when few, a common prefix otherwise).
fn matchers(sigs: &[&Signature], routes: &mut BTreeMap<String, String>) -> Vec<MatcherRule> {
    // Kind, key, modifiers, route.
    type Step = (String, Option<String>, Vec<String>, Option<String>);
    let mut groups: BTreeMap<Step, Vec<&Signature>> = BTreeMap::new();
    for s in sigs {
        let route = s.route.as_ref().map(|r| {
            let name = r.name();
            routes.insert(name.clone(), r.pattern());
            name
        });
        let key = s.key.as_ref().map(|k| k.to_string());
        groups
            .entry((
                kind_name(s.kind).to_string(),
                key,
                s.modifiers.clone(),
                route,
            ))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for ((_, key, modifiers, route), members) in groups {
        let mut m = MatcherRule {
            kind: vec![kind_name(members[0].kind)],
            key: key.into_iter().collect(),
            modifiers_any: modifiers,
            route,
            ..MatcherRule::default()
        };
        let mut labels: Vec<(String, String)> = Vec::new();
        let mut unlabelled = false;
        for s in &members {
            match &s.label {
                Some(l) if !labels.iter().any(|(n, _)| *n == l.0) => labels.push(l.clone()),
                Some(_) => {}
                None => unlabelled = true,
            }
        }
        if !unlabelled && !labels.is_empty() && members[0].kind != EventKind::Navigation {
            // Item names differ per item (a message's subject, a file's
            // name): keep what they share. Other steps keep every name seen.
            let names: Vec<&str> = labels.iter().map(|l| l.0.as_str()).collect();
            match common_prefix(&names) {
                Some(prefix) if labels.len() > 1 && members[0].kind == EventKind::Click => {
                    m.label_prefix = Some(prefix)
                }
                _ => m.label = labels.iter().map(|l| l.1.clone()).collect(),
            }
        }
        out.push(m);
    }
    out
}

fn placed_key(p: &Placed) -> String {
    match p {
        Placed::Field { label, .. } | Placed::FieldSplit { label, .. } => format!("field:{label}"),
        Placed::Toggle { attr, remove } => format!("toggle:{attr}:{remove}"),
        Placed::StartData { attr } => format!("start-data:{attr}"),
        Placed::StartValue { .. } => "start-value".into(),
        Placed::CommitData { attr } => format!("data:{attr}"),
        Placed::CommitRoute { shape } => format!("route:{}", shape.pattern()),
        Placed::Selection { label, attr, .. } => format!("selection:{label}:{attr}"),
        Placed::Flags { items } => format!("flags:{items:?}"),
        Placed::Choice { label, .. } => format!("choice:{label}"),
    }
}

/// Per select (by name): the (value chosen, argument as JSON) pairs its
/// demonstrations show, or None when one value stood for two arguments.
fn choice_table(
    leaf: &LeafPath,
    cases: &[&Case],
) -> BTreeMap<String, Option<Vec<(String, String)>>> {
    let mut table: BTreeMap<String, Option<Vec<(String, String)>>> = BTreeMap::new();
    for c in cases {
        let Some((_, placed)) = c.leaves.iter().find(|(l, _)| l == leaf) else {
            continue;
        };
        for p in placed {
            let Placed::Choice {
                label, value, arg, ..
            } = p
            else {
                continue;
            };
            let slot = table
                .entry(label.clone())
                .or_insert_with(|| Some(Vec::new()));
            let Some(pairs) = slot else { continue };
            match pairs.iter().find(|(v, _)| v == value) {
                Some((_, a)) if a != arg => *slot = None,
                Some(_) => {}
                None => pairs.push((value.clone(), arg.clone())),
            }
        }
    }
    table
}

/// The source that yields every demonstration's value, the most direct one
/// first; failing that, the one that yields most.
fn choose(leaf: &LeafPath, cases: &[&Case]) -> Chosen {
    let mut counts: BTreeMap<String, (usize, Placed)> = BTreeMap::new();
    let mut of = 0;
    for c in cases {
        let Some((_, placed)) = c.leaves.iter().find(|(l, _)| l == leaf) else {
            continue;
        };
        of += 1;
        let mut seen = Vec::new();
        for p in placed {
            let key = placed_key(p);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            let entry = counts.entry(key).or_insert((0, p.clone()));
            entry.0 += 1;
            if matches!(p, Placed::FieldSplit { .. }) {
                entry.1 = p.clone();
            }
        }
    }
    let mut ranked: Vec<(usize, Placed)> = counts.into_values().collect();
    // A select's options stand for one argument each: a table only while no
    // option stands for two.
    let table = choice_table(leaf, cases);
    ranked.retain(|(_, p)| match p {
        Placed::Choice { label, .. } => table.get(label).is_some_and(Option::is_some),
        _ => true,
    });
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.rank().cmp(&b.1.rank())));
    let best = ranked.first().cloned();
    // Read at the same step, in some demonstrations at least: tried next,
    // in order, when an app leaves the first out (a route another client
    // spells differently, a menu item without the `data-*` id).
    let fallbacks = ranked
        .iter()
        .skip(1)
        .filter(|(n, p)| {
            *n > 0
                && matches!(p, Placed::CommitData { .. } | Placed::CommitRoute { .. })
                && matches!(
                    best.as_ref().map(|b| &b.1),
                    Some(Placed::CommitData { .. } | Placed::CommitRoute { .. })
                )
        })
        .map(|(_, p)| p.clone())
        .collect();
    let choices = match best.as_ref().map(|b| &b.1) {
        Some(Placed::Choice { label, .. }) => {
            table.get(label).cloned().flatten().unwrap_or_default()
        }
        _ => Vec::new(),
    };
    Chosen {
        leaf: leaf.clone(),
        choices,
        explained: best.as_ref().map_or(0, |b| b.0),
        placed: best.map(|b| b.1),
        fallbacks,
        of,
    }
}

fn confidence(demos: usize) -> f64 {
    match demos {
        0 | 1 => 0.7,
        2 => 0.8,
        _ => 0.9,
    }
}

fn action_path(leaf: &LeafPath) -> String {
    match &leaf.field {
        Some(f) => format!("{}.{f}", snake(&leaf.param)),
        None => snake(&leaf.param),
    }
}

fn route_source(shape: &marks::RouteShape, routes: &mut BTreeMap<String, String>) -> SourceRule {
    let name = shape.name();
    routes.insert(name.clone(), shape.pattern());
    SourceRule::Route {
        route: name,
        group: shape.group.clone().unwrap_or_default(),
        decode: shape.query.then_some("query"),
    }
}

/// Generalises the cases of the demonstrations in `use_demos`.
fn generalise(
    suite: &str,
    server: &McpServer,
    demos: &[Demonstration],
    aligned: &Aligned,
    use_demos: &[usize],
) -> Result<Core, LearnError> {
    let cases: Vec<&Case> = aligned
        .cases
        .iter()
        .filter(|c| use_demos.contains(&c.demo))
        .collect();
    let mut tools: Vec<String> = Vec::new();
    for c in &cases {
        if !tools.contains(&c.tool) {
            tools.push(c.tool.clone());
        }
    }
    let enter_commits = enter_commits(&cases);
    let mut routes: BTreeMap<String, String> = BTreeMap::new();
    let mut rules_by_tool = Vec::new();
    for tool in &tools {
        let tc: Vec<&Case> = cases.iter().copied().filter(|c| &c.tool == tool).collect();
        let mut leaf_paths: Vec<LeafPath> = Vec::new();
        for c in &tc {
            for (l, _) in &c.leaves {
                if !leaf_paths.contains(l) {
                    leaf_paths.push(l.clone());
                }
            }
        }
        let chosen: Vec<Chosen> = leaf_paths.iter().map(|l| choose(l, &tc)).collect();
        let flows: Vec<&Case> = tc
            .iter()
            .copied()
            .filter(|c| matches!(c.shape, Shape::Flow { .. }))
            .collect();
        let as_flow = flows.len() * 2 > tc.len();
        let shaped: Vec<&Case> = tc
            .iter()
            .copied()
            .filter(|c| matches!(c.shape, Shape::Flow { .. }) == as_flow)
            .collect();
        let commit_sigs: Vec<&Signature> = shaped.iter().map(|c| &c.commit).collect();
        let mut commits = matchers(&commit_sigs, &mut routes);
        // A form completed on its nth step (a two-step filter) counts the
        // steps any of its completions would take, Enter in a text input
        // too when Enter completes forms in this app: the first step may
        // have been taken either way.
        let text_fields = chosen.iter().any(|c| {
            matches!(
                &c.placed,
                Some(Placed::Field { input: true, .. } | Placed::StartValue { input: true })
            )
        });
        let counts: Vec<usize> = shaped
            .iter()
            .map(|c| {
                c.steps
                    .iter()
                    .filter(|s| {
                        shaped.iter().any(|o| align::same_step(s, &o.commit))
                            || (enter_commits && text_fields && align::enter_in_input(s))
                    })
                    .count()
                    .max(1)
            })
            .collect();
        let occurrence = counts[0];
        if occurrence > 1 && counts.iter().all(|&n| n == occurrence) {
            for m in &mut commits {
                m.occurrence = Some(occurrence);
            }
        }
        // A form whose completion always submitted it completes on the
        // submit however it is reached (a button, Enter). Not a form begun
        // by typing a value: each value typed begins it again, and a bare
        // submit would complete it twice.
        let begun_by_click = shaped
            .iter()
            .all(|c| matches!(&c.shape, Shape::Flow { start } if start.kind != EventKind::Change));
        if as_flow
            && counts.iter().all(|&n| n == 1)
            && begun_by_click
            && shaped.iter().all(|c| c.then_submit)
        {
            commits.push(MatcherRule {
                kind: vec!["submit"],
                ..MatcherRule::default()
            });
        }
        let flow_start = as_flow.then(|| {
            let sigs: Vec<&Signature> = shaped
                .iter()
                .filter_map(|c| match &c.shape {
                    Shape::Flow { start } => Some(start),
                    Shape::Trigger => None,
                })
                .collect();
            matchers(&sigs, &mut routes)
        });
        let mut demos_of: Vec<usize> = tc.iter().map(|c| c.demo).collect();
        demos_of.dedup();
        rules_by_tool.push(ToolRule {
            tool: tool.clone(),
            action: snake(tool),
            confidence: confidence(demos_of.len()),
            demos: demos_of,
            flow_start,
            commits,
            chosen,
            seen_at: tc.iter().map(|c| (c.demo, c.t_us)).collect(),
        });
    }
    let mut notes = Vec::new();
    let mut rules = build_rules(suite, &rules_by_tool, &cases, routes, demos, &mut notes)?;
    learn_abandons(&mut rules, &cases, demos, use_demos, &mut notes);
    let (suite_file, map) = build_catalog(suite, server, &rules_by_tool, use_demos.len());
    Ok(Core {
        suite: suite_file,
        map,
        rules,
        tools: rules_by_tool,
        notes,
    })
}

fn condition(chosen: &[Chosen], routes: &mut BTreeMap<String, String>) -> Option<ConditionRule> {
    let mut c = ConditionRule::default();
    for ch in chosen {
        match &ch.placed {
            Some(Placed::Selection { .. }) => c.selection = Some("non_empty"),
            Some(Placed::CommitRoute { shape }) if c.route.is_none() => {
                let name = shape.name();
                routes.insert(name.clone(), shape.pattern());
                c.route = Some(name);
            }
            _ => {}
        }
    }
    (c.selection.is_some() || c.route.is_some()).then_some(c)
}

fn commit_captures(chosen: &[Chosen], routes: &mut BTreeMap<String, String>) -> Vec<CaptureRule> {
    chosen
        .iter()
        .filter_map(|ch| {
            let mut from = Vec::new();
            for p in ch.placed.iter().chain(&ch.fallbacks) {
                from.push(match p {
                    Placed::CommitData { attr } => SourceRule::Data(attr.clone()),
                    Placed::CommitRoute { shape } => route_source(shape, routes),
                    Placed::Selection { .. } => SourceRule::Selection,
                    _ => return None,
                });
            }
            (!from.is_empty()).then(|| CaptureRule {
                set: action_path(&ch.leaf),
                from,
            })
        })
        .collect()
}

fn step_name(m: &MatcherRule) -> String {
    let mut s = m.kind.join("/");
    if let Some(l) = m.label.first() {
        s.push_str(&format!(" `{l}`"));
    }
    if let Some(p) = &m.label_prefix {
        s.push_str(&format!(" `{p}…`"));
    }
    if let Some(k) = m.key.first() {
        s.push_str(&format!(
            " {}{k}",
            m.modifiers_any
                .iter()
                .map(|x| format!("{x}+"))
                .collect::<String>()
        ));
    }
    if let Some(d) = &m.has_data {
        s.push_str(&format!(" with {d}"));
    }
    if let Some(r) = &m.route {
        s.push_str(&format!(" on route {r}"));
    }
    s
}

fn contradiction(
    step: &MatcherRule,
    a: &ToolRule,
    b: &ToolRule,
    demos: &[Demonstration],
) -> LearnError {
    let at = |t: &ToolRule| {
        let (recording, ms) = t
            .seen_at
            .first()
            .map(|&(d, us)| (demos[d].name.clone(), us as f64 / 1000.0))
            .unwrap_or_default();
        LabelledAt {
            tool: t.tool.clone(),
            recording,
            ms,
        }
    };
    LearnError::Contradiction(Box::new(Conflict {
        step: step_name(step),
        first: at(a),
        second: at(b),
    }))
}

fn build_rules(
    suite: &str,
    tools: &[ToolRule],
    cases: &[&Case],
    mut routes: BTreeMap<String, String>,
    demos: &[Demonstration],
    notes: &mut Vec<String>,
) -> Result<RulesDocument, LearnError> {
    let mut selection = None;
    for t in tools {
        for ch in &t.chosen {
            if let Some(Placed::Selection { raw, attr, .. }) = &ch.placed {
                selection.get_or_insert_with(|| SelectionRule {
                    toggle: MatcherRule {
                        kind: vec!["click", "change"],
                        label: vec![raw.clone()],
                        has_data: Some(attr.clone()),
                        ..MatcherRule::default()
                    },
                    id: SourceRule::Data(attr.clone()),
                });
            }
        }
    }
    // Triggers.
    let mut triggers: Vec<(TriggerRule, usize)> = Vec::new();
    // Triggers whose route is the condition an argument's source put there.
    let mut routed_by_condition: Vec<bool> = Vec::new();
    for (ti, t) in tools
        .iter()
        .enumerate()
        .filter(|(_, t)| t.flow_start.is_none())
    {
        let has_data = t.chosen.iter().find_map(|c| match &c.placed {
            Some(Placed::CommitData { attr }) => Some(attr.clone()),
            _ => None,
        });
        let when = condition(&t.chosen, &mut routes);
        let capture = commit_captures(&t.chosen, &mut routes);
        for on in &t.commits {
            let mut on = on.clone();
            if on.has_data.is_none() {
                on.has_data = has_data.clone();
            }
            // A click's route is a condition on where it happens.
            let mut routed = false;
            let when = match &when {
                Some(w) if on.kind == ["navigation"] => {
                    let w = ConditionRule {
                        route: None,
                        ..w.clone()
                    };
                    (w.selection.is_some()).then_some(w)
                }
                Some(w) => {
                    if on.route.is_none() && w.route.is_some() {
                        on.route = w.route.clone();
                        routed = true;
                    }
                    let w = ConditionRule {
                        route: None,
                        ..w.clone()
                    };
                    (w.selection.is_some()).then_some(w)
                }
                None => None,
            };
            if let Some((other, oi)) = triggers.iter().find(|(r, _)| r.on == on && r.when == when) {
                if other.action != t.action {
                    return Err(contradiction(&on, &tools[*oi], t, demos));
                }
                continue;
            }
            routed_by_condition.push(routed);
            triggers.push((
                TriggerRule {
                    action: t.action.clone(),
                    on,
                    when,
                    capture: capture.clone(),
                    confidence: t.confidence,
                },
                ti,
            ));
        }
    }
    generalise_trigger_routes(&mut triggers, &routed_by_condition);
    triggers.sort_by_key(|(r, _)| {
        std::cmp::Reverse(
            r.on.specificity()
                + r.when
                    .as_ref()
                    .map_or(0, |w| usize::from(w.selection.is_some())),
        )
    });
    // Flows: tools begun by the same steps share one flow, and so do tools
    // whose beginnings overlap (one demonstrated from a menu named alike in
    // two apps, the other in one): two flows begun by one step would leave
    // the step to whichever is tried first.
    let mut flows: Vec<(FlowRule, Vec<usize>)> = Vec::new();
    for (ti, t) in tools.iter().enumerate() {
        let Some(start) = &t.flow_start else { continue };
        let k = match flows
            .iter()
            .position(|(f, _)| starts_overlap(&f.start, start))
        {
            Some(k) => {
                merge_starts(&mut flows[k].0.start, start);
                k
            }
            None => {
                flows.push((
                    FlowRule {
                        name: t.action.clone(),
                        start: start.clone(),
                        capture: Vec::new(),
                        fields: Vec::new(),
                        outcomes: Vec::new(),
                        confidence: t.confidence,
                    },
                    Vec::new(),
                ));
                flows.len() - 1
            }
        };
        let (flow, members) = &mut flows[k];
        members.push(ti);
        if members.len() > 1 {
            flow.name = format!("{}_or_{}", flow.name, t.action);
        }
        flow.confidence = flow.confidence.min(t.confidence);
        let mut toggles: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for ch in &t.chosen {
            let path = action_path(&ch.leaf);
            match &ch.placed {
                Some(Placed::Field { raw, list, .. }) if *list && ch.leaf.field.is_some() => {
                    // A list inside an object is not typed by the suite: a
                    // single choice is added to it as a list.
                    let field = FieldRule {
                        on: MatcherRule {
                            kind: vec!["change"],
                            label: vec![raw.clone()],
                            ..MatcherRule::default()
                        },
                        set: None,
                        from: Vec::new(),
                        toggle: None,
                        flag: None,
                        choose: Some(ChooseRule {
                            id: SourceRule::Value,
                            add: path,
                        }),
                    };
                    if !flow.fields.contains(&field) {
                        flow.fields.push(field);
                    }
                }
                Some(Placed::Field { raw, .. } | Placed::FieldSplit { raw, .. }) => {
                    let field = FieldRule {
                        on: MatcherRule {
                            kind: vec!["change"],
                            label: vec![raw.clone()],
                            ..MatcherRule::default()
                        },
                        set: Some(path),
                        from: Vec::new(),
                        toggle: None,
                        flag: None,
                        choose: None,
                    };
                    if !flow.fields.contains(&field) {
                        flow.fields.push(field);
                    }
                }
                Some(Placed::Flags { items }) => {
                    for (label, value) in items {
                        let field = FieldRule {
                            on: MatcherRule {
                                kind: vec!["click", "change"],
                                label: vec![label.clone()],
                                ..MatcherRule::default()
                            },
                            set: None,
                            from: Vec::new(),
                            toggle: None,
                            flag: Some(FlagRule {
                                param: path.clone(),
                                value: value.clone(),
                            }),
                            choose: None,
                        };
                        if !flow.fields.contains(&field) {
                            flow.fields.push(field);
                        }
                    }
                }
                Some(Placed::Choice { raw, .. }) => {
                    for (value, arg) in &ch.choices {
                        let Ok(arg) = serde_json::from_str::<Value>(arg) else {
                            continue;
                        };
                        let field = FieldRule {
                            on: MatcherRule {
                                kind: vec!["change"],
                                label: vec![raw.clone()],
                                value_pattern: Some(format!("^{}$", regex::escape(value))),
                                ..MatcherRule::default()
                            },
                            set: Some(path.clone()),
                            from: vec![SourceRule::Const(arg)],
                            toggle: None,
                            flag: None,
                            choose: None,
                        };
                        if !flow.fields.contains(&field) {
                            flow.fields.push(field);
                        }
                    }
                }
                Some(Placed::Toggle { attr, remove }) => {
                    let slot = toggles.entry(attr.clone()).or_default();
                    if *remove {
                        slot.1 = Some(path);
                    } else {
                        slot.0 = Some(path);
                    }
                }
                Some(Placed::StartData { attr }) => {
                    push_capture(&mut flow.capture, path, SourceRule::Data(attr.clone()))
                }
                Some(Placed::StartValue { .. }) => {
                    push_capture(&mut flow.capture, path.clone(), SourceRule::Value);
                    // Later edits of the same field update it.
                    if let Some(Shape::Flow { start: s }) =
                        cases.iter().find(|c| c.tool == t.tool).map(|c| &c.shape)
                    {
                        if let Some((_, raw)) = &s.label {
                            let field = FieldRule {
                                on: MatcherRule {
                                    kind: vec!["change"],
                                    label: vec![raw.clone()],
                                    ..MatcherRule::default()
                                },
                                set: Some(path),
                                from: Vec::new(),
                                toggle: None,
                                flag: None,
                                choose: None,
                            };
                            if !flow.fields.contains(&field) {
                                flow.fields.push(field);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (attr, (add, remove)) in toggles {
            // The rules language collects unticked ids only beside ticked ones.
            let Some(add) = add else {
                notes.push(format!(
                    "`{}`: items unticked ({attr}) are not learned without a demonstration that ticks some",
                    t.action
                ));
                continue;
            };
            let on = MatcherRule {
                kind: vec!["click", "change"],
                has_data: Some(attr.clone()),
                ..MatcherRule::default()
            };
            if let Some(existing) = flow.fields.iter_mut().find(|f| f.on == on) {
                if let Some(tg) = &mut existing.toggle {
                    if tg.remove.is_none() {
                        tg.remove = remove;
                    }
                }
                continue;
            }
            flow.fields.push(FieldRule {
                on,
                set: None,
                from: Vec::new(),
                toggle: Some(ToggleRule {
                    id: SourceRule::Data(attr),
                    add,
                    remove,
                }),
                flag: None,
                choose: None,
            });
        }
        let outcome = OutcomeRule {
            on: t.commits.clone(),
            when: condition(&t.chosen, &mut routes),
            action: Some(t.action.clone()),
            capture: commit_captures(&t.chosen, &mut routes),
        };
        if let Some(other) = flow
            .outcomes
            .iter()
            .find(|o| o.on == outcome.on && o.when == outcome.when && o.action != outcome.action)
        {
            let oi = tools
                .iter()
                .position(|x| Some(&x.action) == other.action.as_ref())
                .unwrap_or(ti);
            return Err(contradiction(&outcome.on[0], &tools[oi], t, demos));
        }
        flow.outcomes.push(outcome);
    }
    // Enter in a text field committed a form in some demonstration: let it
    // commit every single-outcome form with text fields.
    if enter_commits(cases) {
        for (flow, members) in &mut flows {
            if flow.outcomes.len() != 1 {
                continue;
            }
            let t = &tools[members[0]];
            let text_fields = t.chosen.iter().any(|c| {
                matches!(
                    &c.placed,
                    Some(Placed::Field { input: true, .. } | Placed::StartValue { input: true })
                )
            });
            let outcome = &mut flow.outcomes[0];
            if !text_fields
                || outcome
                    .on
                    .iter()
                    .any(|m| m.key == ["Enter"] && m.modifiers_any.is_empty())
            {
                continue;
            }
            let occurrence = outcome.on.first().and_then(|m| m.occurrence);
            outcome.on.push(MatcherRule {
                kind: vec!["key"],
                key: vec!["Enter".into()],
                tag: vec!["input".into()],
                occurrence,
                ..MatcherRule::default()
            });
            notes.push(format!(
                "`{}` also completes on Enter in a text input: Enter in a text input completed a form in another demonstration",
                flow.name
            ));
        }
    }
    for (flow, _) in &mut flows {
        generalise_outcome_routes(&mut flow.outcomes);
    }
    for (flow, _) in &mut flows {
        flow.outcomes.sort_by_key(|o| {
            o.when
                .as_ref()
                .map_or(1, |w| if w.selection.is_some() { 0 } else { 1 })
        });
    }
    Ok(RulesDocument {
        suite: suite.to_string(),
        model: ModelName {
            name: format!("{suite}-learned"),
            version: "1.0.0".into(),
        },
        routes,
        selection,
        flows: flows.into_iter().map(|(f, _)| f).collect(),
        triggers: triggers.into_iter().map(|(t, _)| t).collect(),
    })
}

/// A matcher with its names normalised once, for finding where a
/// demonstration took its step (routes aside: this only finds where forms
/// were begun and left).
struct Probe<'r> {
    m: &'r MatcherRule,
    labels: Vec<String>,
    prefix: Option<String>,
}

impl<'r> Probe<'r> {
    fn new(m: &'r MatcherRule) -> Probe<'r> {
        use tracepipe_processors::classify::normalize_label;
        Probe {
            m,
            labels: m.label.iter().map(|l| normalize_label(l)).collect(),
            prefix: m.label_prefix.as_deref().map(normalize_label),
        }
    }

    fn all(list: impl IntoIterator<Item = &'r MatcherRule>) -> Vec<Probe<'r>> {
        list.into_iter().map(Probe::new).collect()
    }

    fn hits(&self, mark: &marks::Mark) -> bool {
        let m = self.m;
        m.kind.contains(&kind_name(mark.kind()))
            && (self.labels.is_empty()
                || mark.label.as_ref().is_some_and(|l| self.labels.contains(l)))
            && self
                .prefix
                .as_ref()
                .is_none_or(|p| mark.label.as_ref().is_some_and(|l| l.starts_with(p)))
            && (m.key.is_empty() || mark.event.key.as_ref().is_some_and(|k| m.key.contains(k)))
            && (m.tag.is_empty() || mark.tag().is_some_and(|t| m.tag.iter().any(|x| x == t)))
            && m.has_data.as_ref().is_none_or(|a| mark.data(a).is_some())
    }
}

fn any_hits(probes: &[Probe], mark: &marks::Mark) -> bool {
    probes.iter().any(|p| p.hits(mark))
}

/// A step of a list (a message, a row) rather than a control of a form.
fn is_item(mark: &marks::Mark) -> bool {
    mark.tag() == Some("a")
        || mark.event.target.as_ref().is_some_and(|t| {
            t.role.as_deref().is_some_and(|r| {
                matches!(
                    r,
                    "row" | "link" | "gridcell" | "listitem" | "option" | "treeitem"
                )
            })
        })
}

/// What ends a form without a call: in a demonstration whose sidecar has no
/// call for a form it began, the first step after the beginning that is not
/// the form's own (not a field being filled, not a step that completes it)
/// nor another action's or an item's: a click (`Discard`, `Cancel`) or
/// Escape. Learned as an outcome with no action, so that the abandoned
/// form's values never reach a later call.
fn learn_abandons(
    rules: &mut RulesDocument,
    cases: &[&Case],
    demos: &[Demonstration],
    use_demos: &[usize],
    notes: &mut Vec<String>,
) {
    // (flow, the step that abandons it, in words for the report).
    let mut found: Vec<(usize, MatcherRule, String)> = Vec::new();
    {
        let elsewhere = Probe::all(
            rules
                .triggers
                .iter()
                .map(|t| &t.on)
                .chain(rules.flows.iter().flat_map(|f| f.start.iter())),
        );
        let per_flow: Vec<(Vec<Probe>, Vec<Probe>)> = rules
            .flows
            .iter()
            .map(|f| {
                (
                    Probe::all(&f.start),
                    Probe::all(
                        f.fields
                            .iter()
                            .map(|x| &x.on)
                            .chain(f.outcomes.iter().flat_map(|o| o.on.iter())),
                    ),
                )
            })
            .collect();
        for &d in use_demos {
            let marks = marks::marks(&demos[d].session);
            let commits: Vec<i64> = cases
                .iter()
                .filter(|c| c.demo == d)
                .map(|c| c.t_us)
                .collect();
            for (fi, (start, own_steps)) in per_flow.iter().enumerate() {
                let starts: Vec<usize> = (0..marks.len())
                    .filter(|&i| any_hits(start, &marks[i]))
                    .collect();
                for (k, &begun) in starts.iter().enumerate() {
                    let end = starts.get(k + 1).copied().unwrap_or(marks.len());
                    let t0 = marks[begun].event.t_us;
                    let t1 = marks.get(end).map_or(i64::MAX, |m| m.event.t_us);
                    if commits.iter().any(|&t| t > t0 && t <= t1) {
                        continue;
                    }
                    let within = &marks[begun + 1..end];
                    let filled: Vec<&String> = within
                        .iter()
                        .filter(|m| m.kind() == EventKind::Change)
                        .filter_map(|m| m.label.as_ref())
                        .collect();
                    let Some(step) = within.iter().find(|m| {
                        let control = (m.kind() == EventKind::Click && m.raw_label().is_some())
                            || (m.kind() == EventKind::Key
                                && m.event.key.as_deref() == Some("Escape"));
                        control
                            && !m.label.as_ref().is_some_and(|l| filled.contains(&l))
                            && !any_hits(own_steps, m)
                            && !any_hits(&elsewhere, m)
                            && !is_item(m)
                    }) else {
                        continue;
                    };
                    let on = if step.kind() == EventKind::Key {
                        MatcherRule {
                            kind: vec!["key"],
                            key: vec!["Escape".into()],
                            ..MatcherRule::default()
                        }
                    } else {
                        MatcherRule {
                            kind: vec!["click"],
                            label: step.raw_label().map(str::to_string).into_iter().collect(),
                            ..MatcherRule::default()
                        }
                    };
                    if found.iter().any(|(f, o, _)| *f == fi && *o == on) {
                        continue;
                    }
                    let why = format!(
                        "in {} the form begun at {:.0} ms made no call",
                        demos[d].name,
                        t0 as f64 / 1000.0
                    );
                    found.push((fi, on, why));
                }
            }
        }
    }
    for (fi, on, why) in found {
        let flow = &mut rules.flows[fi];
        if flow.outcomes.iter().any(|o| o.on.contains(&on)) {
            continue;
        }
        notes.push(format!(
            "`{}` is abandoned by {}: {why}",
            flow.name,
            step_name(&on)
        ));
        flow.outcomes.push(OutcomeRule {
            on: vec![on],
            when: None,
            action: None,
            capture: Vec::new(),
        });
    }
}

/// Whether a route condition is needed to tell an action from `others`
/// completed by the same step: not when there are none, nor when each of
/// them asks for a selection this one does not (those are tried first).
/// Otherwise the route only says where the demonstrations happened to be,
/// and another app of the kind names its routes differently.
fn route_needed(selection: bool, others: &[bool]) -> bool {
    !others.is_empty() && (selection || !others.iter().all(|&s| s))
}

fn asks_selection(when: Option<&ConditionRule>) -> bool {
    when.is_some_and(|w| w.selection.is_some())
}

/// Drops the route conditions of outcomes that the demonstrations tell
/// apart without them.
fn generalise_outcome_routes(outcomes: &mut [OutcomeRule]) {
    let keep: Vec<bool> = outcomes
        .iter()
        .map(|o| {
            let others: Vec<bool> = outcomes
                .iter()
                .filter(|x| x.on == o.on && x.action != o.action)
                .map(|x| asks_selection(x.when.as_ref()))
                .collect();
            route_needed(asks_selection(o.when.as_ref()), &others)
        })
        .collect();
    for (o, keep) in outcomes.iter_mut().zip(keep) {
        if keep {
            continue;
        }
        if let Some(w) = &mut o.when {
            w.route = None;
        }
        if o.when.as_ref().is_some_and(|w| w.selection.is_none()) {
            o.when = None;
        }
    }
}

/// Drops the routes a condition put on triggers that the demonstrations
/// tell apart without them.
fn generalise_trigger_routes(triggers: &mut [(TriggerRule, usize)], routed: &[bool]) {
    let bare = |m: &MatcherRule| MatcherRule {
        route: None,
        ..m.clone()
    };
    let drop: Vec<bool> = triggers
        .iter()
        .zip(routed)
        .map(|((t, _), &routed)| {
            if !routed {
                return false;
            }
            let step = bare(&t.on);
            let others: Vec<bool> = triggers
                .iter()
                .filter(|(x, _)| x.action != t.action && bare(&x.on) == step)
                .map(|(x, _)| asks_selection(x.when.as_ref()))
                .collect();
            !route_needed(asks_selection(t.when.as_ref()), &others)
        })
        .collect();
    for ((t, _), drop) in triggers.iter_mut().zip(drop) {
        if drop {
            t.on.route = None;
        }
    }
}

/// The matcher without its names: which kind of step, where.
fn step_slot(m: &MatcherRule) -> MatcherRule {
    MatcherRule {
        label: Vec::new(),
        label_prefix: None,
        ..m.clone()
    }
}

/// Some step would begin both: the same kind of step with a name in common.
fn starts_overlap(a: &[MatcherRule], b: &[MatcherRule]) -> bool {
    a.iter().any(|ma| {
        b.iter().any(|mb| {
            step_slot(ma) == step_slot(mb)
                && (ma.label.iter().any(|l| mb.label.contains(l))
                    || (ma.label_prefix.is_some() && ma.label_prefix == mb.label_prefix)
                    || (ma.label.is_empty()
                        && mb.label.is_empty()
                        && ma.label_prefix.is_none()
                        && mb.label_prefix.is_none()))
        })
    })
}

/// `into` begins also where `from` does: the names of the same kind of step
/// joined, other steps added.
fn merge_starts(into: &mut Vec<MatcherRule>, from: &[MatcherRule]) {
    for m in from {
        if into.contains(m) {
            continue;
        }
        let joinable = into.iter_mut().find(|x| {
            step_slot(x) == step_slot(m)
                && !x.label.is_empty()
                && !m.label.is_empty()
                && x.label_prefix.is_none()
                && m.label_prefix.is_none()
        });
        match joinable {
            Some(x) => {
                for l in &m.label {
                    if !x.label.contains(l) {
                        x.label.push(l.clone());
                    }
                }
            }
            None => into.push(m.clone()),
        }
    }
}

/// Did Enter in a text input complete a form in some demonstration?
fn enter_commits(cases: &[&Case]) -> bool {
    cases.iter().any(|c| align::enter_in_input(&c.commit))
}

fn push_capture(list: &mut Vec<CaptureRule>, set: String, from: SourceRule) {
    if !list.iter().any(|c| c.set == set) {
        list.push(CaptureRule {
            set,
            from: vec![from],
        });
    }
}

fn human(name: &str) -> String {
    let words = snake(name).replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => words,
    }
}

fn escape_template(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '{' | '}' | '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

fn first_sentence(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

/// The request a person would make: the tool's name, then its required
/// parameters, then the optional ones each in brackets.
fn template(tool: &Tool, params: &[ActionParameterFile]) -> String {
    let title = tool.title.clone().unwrap_or_else(|| human(&tool.name));
    let mut s = escape_template(&title);
    let required: Vec<&ActionParameterFile> = params.iter().filter(|p| p.required).collect();
    for (i, p) in required.iter().enumerate() {
        s.push_str(if i == 0 { " with " } else { ", " });
        s.push_str(&format!("{} {{{}}}", p.name.replace('_', " "), p.name));
    }
    for (i, p) in params.iter().filter(|p| !p.required).enumerate() {
        let sep = if required.is_empty() && i == 0 {
            " with "
        } else {
            ", "
        };
        s.push_str(&format!(
            "[{sep}{} {{{}}}]",
            p.name.replace('_', " "),
            p.name
        ));
    }
    s
}

fn build_catalog(
    suite: &str,
    server: &McpServer,
    tools: &[ToolRule],
    demonstrations: usize,
) -> (SuiteFile, ActionToolMapFile) {
    let mut actions = Vec::new();
    let mut mappings = Vec::new();
    for t in tools {
        let Some(tool) = server.tool(&t.tool) else {
            continue;
        };
        let mut params = Vec::new();
        let mut pmaps = Vec::new();
        for tp in &tool.parameters {
            let from_field = t.chosen.iter().any(|c| {
                c.leaf.param == tp.name
                    && c.leaf.field.is_none()
                    && matches!(
                        c.placed,
                        Some(Placed::Field { .. } | Placed::FieldSplit { .. })
                    )
            });
            let split = tp.param_type == ParameterType::Array && from_field;
            let param_type = match tp.param_type {
                _ if split => ParameterType::String,
                ParameterType::Any => ParameterType::String,
                other => other,
            };
            let name = snake(&tp.name);
            params.push(ActionParameterFile {
                name: name.clone(),
                param_type,
                required: tp.required,
                description: tp.description.as_deref().map(first_sentence),
            });
            pmaps.push(ParameterMappingFile {
                action_parameter: name,
                tool_parameter: tp.name.clone(),
                transform: split.then_some(Transform::SplitComma),
            });
        }
        actions.push(ActionFile {
            name: t.action.clone(),
            description: tool.description.as_deref().map(first_sentence),
            template: template(tool, &params),
            parameters: params,
        });
        mappings.push(ToolMappingFile {
            action: t.action.clone(),
            tool: t.tool.clone(),
            parameters: pmaps,
        });
    }
    (
        SuiteFile {
            name: suite.to_string(),
            display_name: human(suite),
            description: Some(format!(
                "Learned by `tracepipe learn` from {demonstrations} demonstrations."
            )),
            actions,
        },
        ActionToolMapFile {
            mcp_server: server.name.clone(),
            tool_mappings: mappings,
        },
    )
}

/// A learned suite ready to classify: its files loaded as the product loads them.
pub struct LearnedModel {
    suite: tracepipe_processors::catalog::Suite,
    map: tracepipe_processors::catalog::ActionToolMap,
    model: RulesModel,
}

impl LearnedModel {
    pub fn load(
        suite: &SuiteFile,
        map: &ActionToolMapFile,
        rules: &RulesDocument,
        server: &McpServer,
    ) -> Result<LearnedModel, LearnError> {
        let generated = |what| {
            move |e: &dyn std::fmt::Display| LearnError::Generated {
                what,
                message: e.to_string(),
            }
        };
        let suite = suite
            .resolve("suite.json")
            .map_err(|e| generated("suite")(&e))?;
        let map = map
            .resolve("map.json", &suite, server)
            .map_err(|e| generated("action-tool map")(&e))?;
        let json = serde_json::to_string(rules).map_err(|e| generated("rules")(&e))?;
        let model = RulesModel::from_json("rules.json", &json, &suite, RulesOptions::default())
            .map_err(|e| generated("rules")(&e))?;
        Ok(LearnedModel { suite, map, model })
    }

    /// The tool calls the learned suite makes of `session`.
    pub fn calls(
        &self,
        server: &McpServer,
        session: &Session,
    ) -> Result<Vec<(String, Value)>, LearnError> {
        let synth = Synthesizer::new(&self.suite, &self.map, server).map_err(|e| {
            LearnError::Generated {
                what: "action-tool map",
                message: e.to_string(),
            }
        })?;
        let actions = self.model.classify(session);
        let synthesis = synth.synthesize(
            self.model.model_ref(),
            &Value::Object(Default::default()),
            &actions,
            // Only the calls are wanted, not their results.
            None,
        );
        Ok(synthesis
            .records
            .into_iter()
            .map(|r| (r.tool, r.arguments))
            .collect())
    }
}

fn check_loads(core: &Core, server: &McpServer) -> Result<(), LearnError> {
    LearnedModel::load(&core.suite, &core.map, &core.rules, server).map(|_| ())
}

/// Per tool: (calls reproduced exactly, calls expected) over its
/// demonstrations, each classified by what the others taught.
fn leave_one_out(
    suite: &str,
    server: &McpServer,
    demos: &[Demonstration],
    aligned: &Aligned,
) -> BTreeMap<String, LeaveOneOut> {
    let mut out: BTreeMap<String, LeaveOneOut> = BTreeMap::new();
    for (d, demo) in demos.iter().enumerate() {
        if demo.tool_calls.is_empty() {
            continue;
        }
        let others: Vec<usize> = (0..demos.len()).filter(|&k| k != d).collect();
        let got = if others.is_empty() {
            Vec::new()
        } else {
            generalise(suite, server, demos, aligned, &others)
                .and_then(|core| LearnedModel::load(&core.suite, &core.map, &core.rules, server))
                .and_then(|m| m.calls(server, &demo.session))
                .unwrap_or_else(|e| {
                    tracing::debug!(recording = %demo.name, error = %e, "leave-one-out model did not load");
                    Vec::new()
                })
        };
        let mut used = vec![false; got.len()];
        for call in &demo.tool_calls {
            let entry = out.entry(call.name.clone()).or_default();
            entry.calls += 1;
            if let Some(k) = (0..got.len())
                .find(|&k| !used[k] && got[k].0 == call.name && got[k].1 == call.arguments)
            {
                used[k] = true;
                entry.reproduced += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
