//! `tracepipe eval`: classification accuracy on recorded scenarios.
//!
//! Each recording (`<scenario>.trace.json.gz`, or any other format Tracepipe
//! reads) has a sidecar `<scenario>.expected.json` naming the tool calls it
//! should yield (see [`super::labelled`]). The
//! recording goes through the same path as production (normalise, classify with
//! the suite's rules, synthesise and validate the calls), and the emitted calls
//! are matched with the expected ones: per tool and overall precision, recall and
//! F1, and the exact-match rate of the arguments of matched calls; and the
//! share of the emitted calls whose tool result is grounded in what the
//! recording's pages showed (per tool and overall). `--json` prints all of it
//! as one JSON object instead of the tables, for scripts and CI.

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tracepipe_learn::ExpectedCall;
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::{Model, RulesModel, RulesOptions};
use tracepipe_processors::synth::Synthesizer;

use super::labelled;
use crate::pipeline::load_rules_model;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Directories of recorded scenarios, or their sidecars: a recording in
    /// any format Tracepipe reads beside each `<scenario>.expected.json`.
    #[arg(default_value = "tests/fixtures/recordings")]
    inputs: Vec<PathBuf>,
    /// The catalog directory.
    #[arg(long, env = "TRACEPIPE_CATALOG", default_value = "catalog")]
    catalog: PathBuf,
    /// Classify every scenario with this suite (a learned one, say) instead
    /// of the suite its sidecar names.
    #[arg(long)]
    suite: Option<String>,
    /// The MCP server whose tools the calls are made against.
    #[arg(long, default_value = "gmail")]
    mcp_server: String,
    /// Fail unless overall tool-call F1 reaches this.
    #[arg(long)]
    min_f1: Option<f64>,
    /// Fail unless the argument exact-match rate reaches this.
    #[arg(long)]
    min_exact: Option<f64>,
    /// Print every scenario, not only the ones with mistakes.
    #[arg(long)]
    verbose: bool,
    /// Print one JSON object (every scenario, per tool and overall scores,
    /// rejections, grounded results) instead of the tables.
    #[arg(long)]
    json: bool,
}

#[derive(Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    exact: usize,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.exact += other.exact;
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    fn exact_rate(&self) -> f64 {
        ratio(self.exact, self.tp)
    }
}

/// Scores as `--json` writes them.
#[derive(Serialize)]
struct Scores {
    tp: usize,
    fp: usize,
    #[serde(rename = "fn")]
    fn_: usize,
    precision: f64,
    recall: f64,
    f1: f64,
    exact: f64,
}

impl Counts {
    fn scores(&self) -> Scores {
        Scores {
            tp: self.tp,
            fp: self.fp,
            fn_: self.fn_,
            precision: self.precision(),
            recall: self.recall(),
            f1: self.f1(),
            exact: self.exact_rate(),
        }
    }
}

/// How many of a tool's results are grounded.
#[derive(Serialize)]
struct Grounding {
    grounded: usize,
    calls: usize,
    share: f64,
}

impl Grounding {
    fn of(grounded: usize, calls: usize) -> Grounding {
        Grounding {
            grounded,
            calls,
            share: ratio(grounded, calls),
        }
    }
}

/// One scenario's outcome: its counts and what went wrong.
#[derive(Serialize)]
struct ScenarioReport {
    scenario: String,
    expected: usize,
    emitted: usize,
    f1: f64,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct GroundingReport {
    tools: BTreeMap<String, Grounding>,
    overall: Grounding,
}

/// Everything `eval` found, as `--json` prints it.
#[derive(Serialize)]
struct Report {
    scenarios: Vec<ScenarioReport>,
    tools: BTreeMap<String, Scores>,
    overall: Scores,
    rejected: usize,
    results: GroundingReport,
    sessions: usize,
    events: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Matches emitted calls with expected ones: same tool first with equal
/// arguments, then same tool with any arguments.
fn score(
    expected: &[ExpectedCall],
    got: &[(String, Value)],
) -> (BTreeMap<String, Counts>, Vec<String>) {
    let mut per_tool: BTreeMap<String, Counts> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut used = vec![false; expected.len()];
    let mut unmatched_got = Vec::new();
    for (name, args) in got {
        if let Some(k) = (0..expected.len())
            .find(|&k| !used[k] && expected[k].name == *name && expected[k].arguments == *args)
        {
            used[k] = true;
            let c = per_tool.entry(name.clone()).or_default();
            c.tp += 1;
            c.exact += 1;
        } else {
            unmatched_got.push((name, args));
        }
    }
    for (name, args) in unmatched_got {
        if let Some(k) = (0..expected.len()).find(|&k| !used[k] && expected[k].name == *name) {
            used[k] = true;
            per_tool.entry(name.clone()).or_default().tp += 1;
            notes.push(format!(
                "  {name}: arguments {args} != expected {}",
                expected[k].arguments
            ));
        } else {
            per_tool.entry(name.clone()).or_default().fp += 1;
            notes.push(format!("  unexpected {name} {args}"));
        }
    }
    for (k, e) in expected.iter().enumerate() {
        if !used[k] {
            per_tool.entry(e.name.clone()).or_default().fn_ += 1;
            notes.push(format!("  missed {} {}", e.name, e.arguments));
        }
    }
    (per_tool, notes)
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::load_dir(&args.catalog)
        .with_context(|| format!("loading the catalog {}", args.catalog.display()))?;
    let mut models: BTreeMap<String, RulesModel> = BTreeMap::new();
    let mut per_tool: BTreeMap<String, Counts> = BTreeMap::new();
    let mut sessions = 0usize;
    let mut rejected = 0usize;
    let mut events = 0usize;
    let mut classify_time = std::time::Duration::ZERO;
    // Per tool: (results grounded, calls emitted).
    let mut grounded: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut reports = Vec::new();
    let scenarios = labelled::find(&args.inputs)?;
    if scenarios.is_empty() {
        bail!("no scenarios (a recording beside each *.expected.json) in the inputs");
    }
    for scenario in scenarios {
        let suite_name = args
            .suite
            .as_ref()
            .or(scenario.suite.as_ref())
            .with_context(|| {
                format!(
                    "{} names no suite: pass --suite",
                    scenario.sidecar.display()
                )
            })?;
        let suite = catalog.suite(suite_name).with_context(|| {
            format!("{}: unknown suite {suite_name}", scenario.sidecar.display())
        })?;
        if !models.contains_key(&suite.name) {
            models.insert(
                suite.name.clone(),
                load_rules_model(&args.catalog, suite, RulesOptions::default())?,
            );
        }
        let model = &models[&suite.name];
        let server = catalog
            .mcp_server(&args.mcp_server)
            .with_context(|| format!("unknown MCP server {}", args.mcp_server))?;
        let map = catalog
            .action_tool_map(&suite.name, &args.mcp_server)
            .with_context(|| {
                format!(
                    "no action-tool map from {} to {}",
                    suite.name, args.mcp_server
                )
            })?;
        let synthesizer = Synthesizer::new(suite, map, server)?
            .with_results(catalog.tool_results(&suite.name, &args.mcp_server));
        let session = scenario.session()?;
        let started = std::time::Instant::now();
        let actions = model.classify(&session);
        classify_time += started.elapsed();
        events += session.events.len();
        sessions += 1;
        let synthesis = synthesizer.synthesize(
            model.model_ref(),
            &Value::Object(Default::default()),
            &actions,
            Some(&session),
        );
        for record in &synthesis.records {
            let entry = grounded.entry(record.tool.clone()).or_default();
            entry.0 += usize::from(record.result_grounded);
            entry.1 += 1;
        }
        let got: Vec<(String, Value)> = synthesis
            .records
            .iter()
            .map(|r| (r.tool.clone(), r.arguments.clone()))
            .collect();
        let (scores, mut notes) = score(&scenario.tool_calls, &got);
        rejected += synthesis.rejections.len();
        for r in &synthesis.rejections {
            notes.push(format!("  rejected {} ({:?})", r.action, r.reason));
        }
        let mut scenario_counts = Counts::default();
        for (tool, c) in &scores {
            scenario_counts.add(c);
            per_tool.entry(tool.clone()).or_default().add(c);
        }
        reports.push(ScenarioReport {
            scenario: scenario.scenario.clone(),
            expected: scenario.tool_calls.len(),
            emitted: got.len(),
            f1: scenario_counts.f1(),
            notes,
        });
    }
    let mut overall = Counts::default();
    for c in per_tool.values() {
        overall.add(c);
    }
    let mut all = (0, 0);
    for (g, n) in grounded.values() {
        all = (all.0 + g, all.1 + n);
    }
    if args.json {
        let report = Report {
            scenarios: reports,
            tools: per_tool
                .iter()
                .map(|(t, c)| (t.clone(), c.scores()))
                .collect(),
            overall: overall.scores(),
            rejected,
            results: GroundingReport {
                tools: grounded
                    .iter()
                    .map(|(t, (g, n))| (t.clone(), Grounding::of(*g, *n)))
                    .collect(),
                overall: Grounding::of(all.0, all.1),
            },
            sessions,
            events,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(
            &args, &reports, &per_tool, &overall, rejected, &grounded, all,
        );
        println!(
            "{sessions} sessions, {events} events, classified at {:.2} M events/s (debug builds are slower; see benches/classify.rs)",
            events as f64 / classify_time.as_secs_f64().max(1e-9) / 1e6
        );
    }
    let mut ok = true;
    if let Some(min) = args.min_f1 {
        if overall.f1() < min {
            eprintln!(
                "tool-call F1 {:.3} is below the required {min}",
                overall.f1()
            );
            ok = false;
        }
    }
    if let Some(min) = args.min_exact {
        if overall.exact_rate() < min {
            eprintln!(
                "argument exact-match {:.3} is below the required {min}",
                overall.exact_rate()
            );
            ok = false;
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The human-readable report: the scenarios with mistakes (all of them with
/// `--verbose`), the per-tool table, the rejections and the grounded results.
fn print_tables(
    args: &EvalArgs,
    reports: &[ScenarioReport],
    per_tool: &BTreeMap<String, Counts>,
    overall: &Counts,
    rejected: usize,
    grounded: &BTreeMap<String, (usize, usize)>,
    all: (usize, usize),
) {
    for report in reports {
        let perfect = report.notes.is_empty();
        if !perfect || args.verbose {
            println!(
                "{} {}: {} expected, {} emitted, F1 {:.3}",
                if perfect { "ok  " } else { "FAIL" },
                report.scenario,
                report.expected,
                report.emitted,
                report.f1
            );
            for n in &report.notes {
                println!("{n}");
            }
        }
    }
    println!(
        "\n{:<24} {:>4} {:>4} {:>4} {:>9} {:>7} {:>6} {:>7}",
        "tool", "tp", "fp", "fn", "precision", "recall", "f1", "exact"
    );
    for (tool, c) in per_tool.iter().chain([(&"OVERALL".to_owned(), overall)]) {
        println!(
            "{tool:<24} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3} {:>7.3}",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1(),
            c.exact_rate()
        );
    }
    println!("{rejected} tool calls rejected by their tool's JSON Schema or the action-tool map");
    println!(
        "\n{:<24} {:>8} {:>6} {:>7}",
        "tool results", "grounded", "calls", "share"
    );
    for (tool, (g, n)) in grounded.iter().chain([(&"OVERALL".to_owned(), &all)]) {
        println!("{tool:<24} {g:>8} {n:>6} {:>7.3}", ratio(*g, *n));
    }
}
