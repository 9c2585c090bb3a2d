//! Issue #16: two applications that are not mail, each learned from its
//! demonstrations alone and measured on its own test sessions.
//!
//! Per application (`capture/<app>-app`, recorded by `capture/recorder` from
//! `capture/scenarios-<app>/{demos,tests}` into
//! `tests/fixtures/recordings-<app>/{demos,tests}`): `tracepipe learn` writes
//! a suite from the demonstrations into an empty catalog holding only the
//! app's imported MCP server; `tracepipe eval` scores the learned suite on
//! the test sessions (multi-action sessions, abandoned forms, typing
//! corrections, keyboard submits, a browse-only control). Every call the
//! learned suite emits on them, and every expected call, is then checked
//! against the tool's input schema as the server published it, with a JSON
//! Schema validator of its own rather than the synthesizer's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};
use tracepipe_pipeline::load_rules_model;
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::{Model, RulesOptions};
use tracepipe_processors::synth::Synthesizer;

/// What issue #16 asks of each application.
const MIN_F1: f64 = 0.95;
const MIN_EXACT: f64 = 0.90;

struct App {
    /// The suite learned, and the fixtures' folder suffix.
    suite: &'static str,
    /// The MCP server (`catalog/mcp-servers/<server>.json`).
    server: &'static str,
}

const TRACKER: App = App {
    suite: "tracker",
    server: "github",
};

const CALENDAR: App = App {
    suite: "calendar",
    server: "google_calendar",
};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(app: &App, set: &str) -> PathBuf {
    repo()
        .join("tests/fixtures")
        .join(format!("recordings-{}", app.suite))
        .join(set)
}

fn tracepipe(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("tracepipe runs");
    assert!(
        out.status.success(),
        "tracepipe {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The names of the recordings in a fixture folder (their sidecars' stems).
fn scenarios(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the fixture folder")
        .filter_map(|e| {
            let name = e.expect("an entry").file_name();
            name.to_str()?
                .strip_suffix(".expected.json")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Learns the app's suite from its demonstrations into a fresh catalog.
fn learn(app: &App, catalog: &Path) -> String {
    let servers = catalog.join("mcp-servers");
    std::fs::create_dir_all(&servers).expect("mkdir");
    let file = format!("{}.json", app.server);
    std::fs::copy(
        repo().join("catalog/mcp-servers").join(&file),
        servers.join(&file),
    )
    .expect("copy the imported server");
    let demos = fixtures(app, "demos");
    let out = tracepipe(&[
        "learn",
        "--mcp-server",
        app.server,
        "--suite",
        app.suite,
        "--from",
        utf8(&demos),
        "--catalog",
        utf8(catalog),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (F1, exact-match, calls rejected, the report) from `tracepipe eval --json`.
fn eval(app: &App, catalog: &Path) -> (f64, f64, usize, String) {
    let tests = fixtures(app, "tests");
    let out = tracepipe(&[
        "eval",
        "--json",
        "--catalog",
        utf8(catalog),
        "--mcp-server",
        app.server,
        utf8(&tests),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("eval --json: {e}:\n{text}"));
    let score = |name: &str| report["overall"][name].as_f64().expect("a score");
    let rejected = report["rejected"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .expect("a rejection count");
    (score("f1"), score("exact"), rejected, text)
}

/// The tool's input schema as the server published it.
fn schema(server: &Value, tool: &str) -> Value {
    server["tools"]
        .as_array()
        .and_then(|tools| tools.iter().find(|t| t["name"] == tool))
        .map(|t| t["input_schema"].clone())
        .unwrap_or_else(|| panic!("the server has no tool {tool}"))
}

fn schema_errors(server: &Value, tool: &str, arguments: &Value) -> Vec<String> {
    let schema = schema(server, tool);
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{tool}'s input schema does not compile: {e}"));
    validator
        .iter_errors(arguments)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Every call the learned suite emits on the test sessions, and every
/// expected call, is valid against the published schemas. Returns the number
/// of emitted calls checked.
fn check_schemas(app: &App, catalog: &Path) -> usize {
    let server: Value = serde_json::from_slice(
        &std::fs::read(catalog.join(format!("mcp-servers/{}.json", app.server)))
            .expect("the server file"),
    )
    .expect("the server file is JSON");
    let loaded = Catalog::load_dir(catalog).expect("the learned catalog loads");
    let suite = loaded.suite(app.suite).expect("the learned suite");
    let model =
        load_rules_model(catalog, suite, RulesOptions::default()).expect("the learned rules load");
    let map = loaded
        .action_tool_map(app.suite, app.server)
        .expect("the learned map");
    let mcp = loaded.mcp_server(app.server).expect("the server");
    let synthesizer = Synthesizer::new(suite, map, mcp).expect("a synthesizer");
    let dir = fixtures(app, "tests");
    let mut checked = 0;
    let mut problems = Vec::new();
    for name in scenarios(&dir) {
        let sidecar: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.expected.json"))).expect("sidecar"),
        )
        .expect("sidecar JSON");
        for call in sidecar["tool_calls"].as_array().expect("tool_calls") {
            let tool = call["name"].as_str().expect("a tool name");
            for e in schema_errors(&server, tool, &call["arguments"]) {
                problems.push(format!("{name}: expected {tool}: {e}"));
            }
        }
        let file =
            std::fs::File::open(dir.join(format!("{name}.trace.json.gz"))).expect("the recording");
        let session = read_session(
            file,
            name.clone(),
            &Limits::default(),
            &mut DiscardScreenshots,
        )
        .expect("the recording reads");
        let actions = model.classify(&session);
        let synthesis = synthesizer.synthesize(
            model.model_ref(),
            &Value::Object(Default::default()),
            &actions,
            Some(&session),
        );
        for r in &synthesis.rejections {
            problems.push(format!("{name}: {} rejected: {:?}", r.action, r.reason));
        }
        for record in &synthesis.records {
            checked += 1;
            for e in schema_errors(&server, &record.tool, &record.arguments) {
                problems.push(format!("{name}: emitted {}: {e}", record.tool));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "calls invalid against the {} server's schemas:\n{}",
        app.server,
        problems.join("\n")
    );
    checked
}

fn learns_and_scores(app: &App) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let catalog = tmp.path().join("catalog");
    let demos = scenarios(&fixtures(app, "demos"));
    let tests = scenarios(&fixtures(app, "tests"));
    for name in &tests {
        assert!(
            !demos.contains(name),
            "{name} is both a demonstration and a test session"
        );
    }
    let printed = learn(app, &catalog);
    assert!(
        printed.contains(&format!("learned from {} demonstrations", demos.len())),
        "{printed}"
    );
    let (f1, exact, rejected, table) = eval(app, &catalog);
    let valid = check_schemas(app, &catalog);
    println!(
        "{}: learned from {} demonstrations; on {} test sessions tool-call F1 {f1:.3}, argument exact-match {exact:.3}, {valid} emitted calls all valid against the {} server's schemas",
        app.suite,
        demos.len(),
        tests.len(),
        app.server
    );
    assert!(f1 >= MIN_F1, "{}: F1 {f1} < {MIN_F1}\n{table}", app.suite);
    assert!(
        exact >= MIN_EXACT,
        "{}: exact-match {exact} < {MIN_EXACT}\n{table}",
        app.suite
    );
    assert_eq!(rejected, 0, "{table}");
}

#[test]
fn issue_tracker_is_learned_from_its_demonstrations() {
    learns_and_scores(&TRACKER);
}

#[test]
fn calendar_is_learned_from_its_demonstrations() {
    learns_and_scores(&CALENDAR);
}
