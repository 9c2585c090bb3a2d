//! Running compiled rules over a session, one pass, in event order.
//!
//! Open flows see each event first (most recent first): an event may cancel a
//! flow, complete it (an outcome), or feed one of its fields. Otherwise it may
//! start a flow, and otherwise fire a single-event trigger. Checkbox selections
//! are tracked on the side, and leaving a route clears them.

use super::rules::{
    normalize_label, Capture, CompiledRules, Condition, Decode, FieldOp, Matcher, ParamPath,
    SelectionState, Source,
};
use serde_json::{Map, Value};
use tracepipe_schemas::{Event, EventKind, Session};

/// One action found, before parameters are typed.
pub(crate) struct Candidate {
    pub action: usize,
    pub params: Map<String, Value>,
    pub confidence: f64,
    pub evidence: Vec<usize>,
    /// Index of the event that completed the action.
    pub commit: usize,
    /// Completed by a flow rather than a single-event trigger.
    pub from_flow: bool,
}

/// An ordered set of checkable ids with their ticked state.
#[derive(Default, Clone)]
struct Checks {
    items: Vec<(String, Check)>,
}

#[derive(Clone, Copy, Default)]
struct Check {
    ticked: bool,
    /// What a `change` said the state is, when it said it plainly.
    explicit: Option<bool>,
}

impl Checks {
    fn entry(&mut self, id: &str) -> &mut Check {
        let pos = match self.items.iter().position(|(k, _)| k == id) {
            Some(p) => p,
            None => {
                self.items.push((id.to_string(), Check::default()));
                self.items.len() - 1
            }
        };
        &mut self.items[pos].1
    }

    /// A click flips the box; a change that states the new value settles it.
    /// A click on a `<label>` is not counted: the browser forwards it to the
    /// control, whose own click follows.
    fn observe(&mut self, id: &str, e: &Event) {
        if e.kind == EventKind::Click
            && e.target.as_ref().and_then(|t| t.tag.as_deref()) == Some("label")
        {
            return;
        }
        let check = self.entry(id);
        match e.kind {
            EventKind::Change => {
                if let Some(state) = e.value.as_deref().and_then(boolish) {
                    check.ticked = state;
                    check.explicit = Some(state);
                }
            }
            // A click that says what the control shows afterwards settles it
            // like a change: a menu's checkbox item fires no change, and an
            // item that started ticked is unticked by one click.
            EventKind::Click => match after_click_state(e) {
                Some(AfterClick::Ticked(state)) => {
                    check.ticked = state;
                    check.explicit = Some(state);
                }
                Some(AfterClick::Mixed) => {
                    check.ticked = false;
                    check.explicit = None;
                }
                None => check.ticked = !check.ticked,
            },
            _ => check.ticked = !check.ticked,
        }
    }

    /// A single-choice control: only the latest choice stands.
    fn choose(&mut self, id: &str) {
        self.items.clear();
        self.entry(id).ticked = true;
    }

    fn ticked(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(|(_, c)| c.ticked)
            .map(|(k, _)| k.as_str())
    }

    fn unticked_explicitly(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(|(_, c)| !c.ticked && c.explicit == Some(false))
            .map(|(k, _)| k.as_str())
    }

    fn is_empty(&self) -> bool {
        self.ticked().next().is_none()
    }
}

/// What a checkable control shows after a click, from the state the capture
/// script read once the click's handlers ran.
enum AfterClick {
    Ticked(bool),
    /// Part of a selection has it, part not: neither added nor removed.
    Mixed,
}

/// The after-click state of a checkable control: the `checked` property of a
/// native checkbox or radio, else `aria-checked` (checkbox, switch and
/// menuitemcheckbox roles), else `aria-pressed` (toggle buttons). None for
/// recordings without it, whose clicks count as flips.
fn after_click_state(e: &Event) -> Option<AfterClick> {
    let value = ["checked", "aria-checked", "aria-pressed"]
        .iter()
        .find_map(|name| e.state.get(*name))?;
    match value.as_str() {
        "mixed" => Some(AfterClick::Mixed),
        other => boolish(other).map(AfterClick::Ticked),
    }
}

fn boolish(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "checked" => Some(true),
        "false" | "unchecked" => Some(false),
        _ => None,
    }
}

struct OpenFlow {
    flow: usize,
    params: Map<String, Value>,
    toggles: Vec<(usize, Checks)>,
    flags: Vec<(usize, Checks)>,
    evidence: Vec<usize>,
    /// Matches so far per outcome, for `occurrence`.
    counts: Vec<usize>,
    route: Option<String>,
}

/// What the engine needs to know about the event being looked at.
struct Seen<'a> {
    e: &'a Event,
    label: Option<String>,
    fragment: &'a str,
}

fn fragment(url: Option<&str>) -> &str {
    url.and_then(|u| u.find('#').map(|i| &u[i..])).unwrap_or("")
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl CompiledRules {
    fn matches(&self, m: &Matcher, s: &Seen) -> bool {
        let e = s.e;
        if !m.kinds.is_empty() && !m.kinds.contains(&e.kind) {
            return false;
        }
        if !m.labels.is_empty() || m.label_prefix.is_some() {
            let Some(label) = s.label.as_deref() else {
                return false;
            };
            if !m.labels.is_empty() && !m.labels.iter().any(|l| l == label) {
                return false;
            }
            if let Some(p) = &m.label_prefix {
                if !label.starts_with(p.as_str()) {
                    return false;
                }
            }
        }
        if !m.roles.is_empty() {
            let role = e
                .target
                .as_ref()
                .and_then(|t| t.role.as_deref())
                .map(str::to_lowercase);
            if !role.is_some_and(|r| m.roles.contains(&r)) {
                return false;
            }
        }
        if !m.tags.is_empty()
            && !e
                .target
                .as_ref()
                .and_then(|t| t.tag.as_deref())
                .is_some_and(|t| m.tags.iter().any(|w| w == t))
        {
            return false;
        }
        if let Some(p) = &m.value_pattern {
            if !e.value.as_deref().is_some_and(|v| p.is_match(v)) {
                return false;
            }
        }
        if !m.keys.is_empty()
            && !e
                .key
                .as_deref()
                .is_some_and(|k| m.keys.iter().any(|w| w.eq_ignore_ascii_case(k)))
        {
            return false;
        }
        if !m.modifiers_any.is_empty() && !e.modifiers.iter().any(|x| m.modifiers_any.contains(x)) {
            return false;
        }
        if let Some(attr) = &m.has_data {
            if e.target
                .as_ref()
                .is_none_or(|t| t.data.get(attr).is_none_or(|v| v.is_empty()))
            {
                return false;
            }
        }
        if !m.methods.is_empty()
            && !e
                .network
                .as_ref()
                .is_some_and(|n| m.methods.contains(&n.method.to_uppercase()))
        {
            return false;
        }
        if let Some(r) = m.route {
            if !self.routes[r].is_match(s.fragment) {
                return false;
            }
        }
        true
    }

    fn condition_holds(&self, c: &Option<Condition>, s: &Seen, selection: &Checks) -> bool {
        let Some(c) = c else { return true };
        if let Some(state) = c.selection {
            let empty = selection.is_empty();
            if (state == SelectionState::Empty) != empty {
                return false;
            }
        }
        if let Some(r) = c.route {
            if !self.routes[r].is_match(s.fragment) {
                return false;
            }
        }
        true
    }

    fn source_value(&self, src: &Source, s: &Seen, selection: &Checks) -> Option<Value> {
        match src {
            Source::Value => s.e.value.clone().map(Value::String),
            Source::Data(attr) => {
                s.e.target
                    .as_ref()?
                    .data
                    .get(attr)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .map(Value::String)
            }
            Source::Route {
                route,
                group,
                decode,
            } => {
                let caps = self.routes[*route].captures(s.fragment)?;
                let raw = caps.name(group)?.as_str();
                let text = percent_decode(raw, matches!(decode, Decode::Query));
                (!text.is_empty()).then_some(Value::String(text))
            }
            Source::Selection => {
                let ids: Vec<Value> = selection
                    .ticked()
                    .map(|id| Value::String(id.to_string()))
                    .collect();
                (!ids.is_empty()).then_some(Value::Array(ids))
            }
            Source::Const(v) => Some(v.clone()),
        }
    }

    fn first_value(&self, from: &[Source], s: &Seen, selection: &Checks) -> Option<Value> {
        from.iter()
            .find_map(|src| self.source_value(src, s, selection))
    }

    fn capture_into(
        &self,
        params: &mut Map<String, Value>,
        caps: &[Capture],
        s: &Seen,
        selection: &Checks,
    ) {
        for c in caps {
            if let Some(v) = self.first_value(&c.from, s, selection) {
                set_path(params, &c.path, v);
            }
        }
    }

    /// The candidates of one session, in the order they were completed.
    pub(crate) fn run(&self, session: &Session) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        let mut open: Vec<OpenFlow> = Vec::new();
        let mut selection = Checks::default();
        let mut route: Option<&str> = None;
        for (i, e) in session.events.iter().enumerate() {
            // What the page showed (View) is evidence for a tool's result,
            // never a step of a flow.
            if matches!(
                e.kind,
                EventKind::Input | EventKind::Screenshot | EventKind::View
            ) {
                continue;
            }
            let label = match e.kind {
                EventKind::Click | EventKind::Change | EventKind::Key | EventKind::Submit => {
                    e.label().map(normalize_label)
                }
                _ => None,
            };
            let seen = Seen {
                e,
                label,
                fragment: fragment(e.url.as_deref()),
            };
            if e.kind == EventKind::Navigation {
                let new = seen.fragment;
                if route.is_some_and(|r| r != new) {
                    selection = Checks::default();
                    open.retain(|f| {
                        !self.flows[f.flow].cancel_on_route_change
                            || f.route.as_deref() == Some(new)
                    });
                }
                route = Some(new);
            }
            if let Some(sel) = &self.selection {
                if self.matches(&sel.toggle, &seen) {
                    if let Some(Value::String(id)) = self.source_value(&sel.id, &seen, &selection) {
                        selection.observe(&id, e);
                        continue;
                    }
                }
            }
            if self.feed_open_flows(i, &seen, &mut open, &mut selection, &mut out) {
                continue;
            }
            if let Some((k, flow)) = self
                .flows
                .iter()
                .enumerate()
                .find(|(_, f)| f.start.iter().any(|m| self.matches(m, &seen)))
            {
                // Starting a flow again abandons the unfinished one.
                open.retain(|f| f.flow != k);
                let mut params = Map::new();
                self.capture_into(&mut params, &flow.capture, &seen, &selection);
                open.push(OpenFlow {
                    flow: k,
                    params,
                    toggles: Vec::new(),
                    flags: Vec::new(),
                    evidence: vec![i],
                    counts: vec![0; flow.outcomes.len()],
                    route: Some(seen.fragment.to_string()),
                });
                continue;
            }
            for t in &self.triggers {
                if self.matches(&t.on, &seen) && self.condition_holds(&t.when, &seen, &selection) {
                    let mut params = Map::new();
                    self.capture_into(&mut params, &t.capture, &seen, &selection);
                    let batch = t
                        .capture
                        .iter()
                        .any(|c| c.from.iter().any(|s| matches!(s, Source::Selection)));
                    out.push(Candidate {
                        action: t.action,
                        params,
                        confidence: t.confidence,
                        evidence: vec![i],
                        commit: i,
                        from_flow: false,
                    });
                    if batch {
                        selection = Checks::default();
                    }
                    break;
                }
            }
        }
        self.corroborate(session, &mut out);
        self.merge(session, out)
    }

    /// Offers the event to the open flows; true when one of them took it.
    fn feed_open_flows(
        &self,
        i: usize,
        seen: &Seen,
        open: &mut Vec<OpenFlow>,
        selection: &mut Checks,
        out: &mut Vec<Candidate>,
    ) -> bool {
        for pos in (0..open.len()).rev() {
            let flow = &self.flows[open[pos].flow];
            if flow.cancel.iter().any(|m| self.matches(m, seen)) {
                open.remove(pos);
                return true;
            }
            let mut took = false;
            for (k, outcome) in flow.outcomes.iter().enumerate() {
                for m in &outcome.on {
                    if !self.matches(m, seen) {
                        continue;
                    }
                    took = true;
                    open[pos].counts[k] += 1;
                    if m.occurrence.is_some_and(|n| open[pos].counts[k] != n) {
                        continue;
                    }
                    if !self.condition_holds(&outcome.when, seen, selection) {
                        continue;
                    }
                    let mut state = open.remove(pos);
                    state.evidence.push(i);
                    if let Some(action) = outcome.action {
                        let mut params = std::mem::take(&mut state.params);
                        for (field, checks) in &state.toggles {
                            match &self.flows[state.flow].fields[*field].op {
                                FieldOp::Toggle { add, remove, .. } => {
                                    extend_path(&mut params, add, checks.ticked());
                                    if let Some(remove) = remove {
                                        extend_path(
                                            &mut params,
                                            remove,
                                            checks.unticked_explicitly(),
                                        );
                                    }
                                }
                                FieldOp::Choose { add, .. } => {
                                    extend_path(&mut params, add, checks.ticked())
                                }
                                _ => {}
                            }
                        }
                        for (field, checks) in &state.flags {
                            if let FieldOp::Flag { path, value } =
                                &self.flows[state.flow].fields[*field].op
                            {
                                if checks.ticked().next().is_some() {
                                    extend_path(&mut params, path, std::iter::once(value.as_str()));
                                }
                            }
                        }
                        self.capture_into(&mut params, &outcome.capture, seen, selection);
                        let batch = outcome
                            .capture
                            .iter()
                            .any(|c| c.from.iter().any(|s| matches!(s, Source::Selection)));
                        out.push(Candidate {
                            action,
                            params,
                            confidence: flow.confidence,
                            evidence: state.evidence,
                            commit: i,
                            from_flow: true,
                        });
                        if batch {
                            *selection = Checks::default();
                        }
                    }
                    return true;
                }
            }
            if took {
                open[pos].evidence.push(i);
                return true;
            }
            for (k, field) in flow.fields.iter().enumerate() {
                if !self.matches(&field.on, seen) {
                    continue;
                }
                let state = &mut open[pos];
                match &field.op {
                    FieldOp::Set { path, from } => {
                        if let Some(v) = self.first_value(from, seen, selection) {
                            set_path(&mut state.params, path, v);
                        }
                    }
                    FieldOp::Toggle { id, .. } => {
                        if let Some(Value::String(id)) = self.source_value(id, seen, selection) {
                            checks_for(&mut state.toggles, k).observe(&id, seen.e);
                        }
                    }
                    FieldOp::Flag { .. } => checks_for(&mut state.flags, k).observe("", seen.e),
                    FieldOp::Choose { id, .. } => {
                        if let Some(Value::String(id)) = self.source_value(id, seen, selection) {
                            checks_for(&mut state.toggles, k).choose(&id);
                        }
                    }
                }
                state.evidence.push(i);
                return true;
            }
        }
        false
    }

    /// A state-changing request right after an action is the app doing what
    /// the person asked: more confidence, and more evidence.
    fn corroborate(&self, session: &Session, out: &mut [Candidate]) {
        for c in out.iter_mut() {
            let t = session.events[c.commit].t_us;
            let request = session.events[c.commit..]
                .iter()
                .enumerate()
                .take_while(|(_, e)| e.t_us - t <= self.corroboration_window_us)
                .find(|(_, e)| {
                    e.network
                        .as_ref()
                        .is_some_and(|n| !n.method.eq_ignore_ascii_case("GET"))
                });
            if let Some((k, _)) = request {
                c.confidence = (c.confidence + 0.05).min(1.0);
                c.evidence.push(c.commit + k);
            }
        }
    }

    /// The same action with the same parameters, seen by a flow and by a
    /// trigger in a row within the merge window, is one action seen twice (a
    /// search typed and Entered, then its route). Two flows or two triggers
    /// alike are two actions: a message opened, left and opened again is read
    /// twice.
    fn merge(&self, session: &Session, found: Vec<Candidate>) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::with_capacity(found.len());
        for c in found {
            if let Some(last) = out.last_mut() {
                let gap = session.events[c.commit].t_us - session.events[last.commit].t_us;
                let same = last.action == c.action
                    && last.params == c.params
                    && last.from_flow != c.from_flow;
                if same && gap <= self.merge_window_us {
                    last.evidence.extend(c.evidence);
                    last.confidence = last.confidence.max(c.confidence);
                    continue;
                }
            }
            out.push(c);
        }
        for c in &mut out {
            c.evidence.sort_unstable();
            c.evidence.dedup();
        }
        out
    }
}

fn checks_for(list: &mut Vec<(usize, Checks)>, field: usize) -> &mut Checks {
    let pos = match list.iter().position(|(k, _)| *k == field) {
        Some(p) => p,
        None => {
            list.push((field, Checks::default()));
            list.len() - 1
        }
    };
    &mut list[pos].1
}

fn set_path(params: &mut Map<String, Value>, path: &ParamPath, v: Value) {
    match &path.field {
        None => {
            params.insert(path.param.clone(), v);
        }
        Some(field) => {
            let obj = params
                .entry(path.param.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = obj {
                o.insert(field.clone(), v);
            }
        }
    }
}

/// Appends ids to a list parameter (or a list field of an object), once each.
fn extend_path<'a>(
    params: &mut Map<String, Value>,
    path: &ParamPath,
    ids: impl Iterator<Item = &'a str>,
) {
    let ids: Vec<&str> = ids.collect();
    if ids.is_empty() {
        return;
    }
    let slot = match &path.field {
        None => params
            .entry(path.param.clone())
            .or_insert_with(|| Value::Array(Vec::new())),
        Some(field) => {
            let obj = params
                .entry(path.param.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(o) = obj else { return };
            o.entry(field.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
        }
    };
    if let Value::Array(list) = slot {
        for id in ids {
            if !list.iter().any(|v| v.as_str() == Some(id)) {
                list.push(Value::String(id.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn routes_decode_like_gmail_writes_them() {
        assert_eq!(
            percent_decode("from%3Aalice+report", true),
            "from:alice report"
        );
        assert_eq!(percent_decode("Zo%C3%AB", true), "Zoë");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz", true), "%zz");
    }
}
