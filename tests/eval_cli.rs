//! The accuracy harness on the repo's recorded scenarios: it must print the
//! per-tool table and meet the bar the classification issue sets (tool-call F1
//! ≥ 0.98, argument exact-match ≥ 0.95).

use std::process::Command;

#[test]
fn recorded_scenarios_meet_the_accuracy_bar() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(root)
        .args([
            "eval",
            "--min-f1",
            "0.98",
            "--min-exact",
            "0.95",
            "tests/fixtures/recordings",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(out.status.success(), "eval failed:\n{stdout}\n{stderr}");
    let overall = stdout
        .lines()
        .find(|l| l.starts_with("OVERALL"))
        .expect("an OVERALL line");
    let cols: Vec<&str> = overall.split_whitespace().collect();
    let f1: f64 = cols[6].parse().unwrap();
    assert!(f1 >= 0.98, "{overall}");
    assert!(
        stdout.contains("\n0 tool calls rejected"),
        "every emitted call must validate:\n{stdout}"
    );
    for tool in [
        "send_email",
        "draft_email",
        "read_email",
        "search_emails",
        "delete_email",
        "modify_email",
        "batch_modify_emails",
        "batch_delete_emails",
        "download_attachment",
        "list_email_labels",
        "create_label",
        "update_label",
        "delete_label",
        "create_filter",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(tool)),
            "no scenario exercised {tool}"
        );
    }
}

/// The second reference client (different DOM, ids, request paths, an
/// independent capture script) must be recognised as well as the first.
#[test]
fn a_second_client_meets_the_bar_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "eval",
            "--min-f1",
            "0.98",
            "--min-exact",
            "0.95",
            "tests/fixtures/recordings-alt",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "eval failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn eval_rejects_a_directory_without_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["eval"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenarios"));
}

/// A recording saved uncompressed (`.json`) is scored like the gzipped one,
/// and `--suite` classifies with a suite other than the sidecar's.
#[test]
fn eval_reads_every_recording_format_and_takes_the_suite_to_classify_with() {
    use std::io::Read;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("a temp dir");
    let source = root.join("tests/fixtures/recordings");
    let mut trace = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(source.join("delete_message.trace.json.gz")).expect("the fixture"),
    )
    .read_to_string(&mut trace)
    .expect("gzip");
    std::fs::write(dir.path().join("delete_message.json"), trace).expect("write");
    let mut labels: serde_json::Value = serde_json::from_slice(
        &std::fs::read(source.join("delete_message.expected.json")).expect("labels"),
    )
    .expect("JSON");
    labels["suite"] = "no_such_suite".into();
    std::fs::write(
        dir.path().join("delete_message.expected.json"),
        labels.to_string(),
    )
    .expect("write");
    let eval = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .current_dir(root)
            .arg("eval")
            .args(extra)
            .arg(dir.path())
            .output()
            .expect("tracepipe runs")
    };
    let out = eval(&[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown suite no_such_suite"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = eval(&["--suite", "gmail", "--min-f1", "1.0", "--min-exact", "1.0"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 sessions"), "{stdout}");
}

/// `--json` reports the same as the tables, as one object a script can read.
#[test]
fn the_json_report_holds_every_scenario_tool_and_grounded_share() {
    let out = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["eval", "--json", "tests/fixtures/recordings"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    let recordings = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/recordings"
    ))
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".expected.json"))
    })
    .count();
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), recordings);
    assert_eq!(report["sessions"], recordings);
    // The per-tool counts add up to the overall ones, and to the scenarios'.
    let tools = report["tools"].as_object().expect("tools");
    let sum = |key: &str| {
        tools
            .values()
            .map(|t| t[key].as_u64().unwrap())
            .sum::<u64>()
    };
    for key in ["tp", "fp", "fn"] {
        assert_eq!(report["overall"][key].as_u64(), Some(sum(key)), "{key}");
    }
    let emitted: u64 = scenarios
        .iter()
        .map(|s| s["emitted"].as_u64().unwrap())
        .sum();
    assert_eq!(sum("tp") + sum("fp"), emitted);
    assert!(report["overall"]["f1"].as_f64().unwrap() >= 0.98);
    assert_eq!(report["rejected"], 0);
    // Every emitted call is counted once in the grounded shares.
    let results = &report["results"];
    let calls: u64 = results["tools"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(results["overall"]["calls"].as_u64(), Some(calls));
    assert_eq!(calls, emitted);
    let grounded = results["overall"]["grounded"].as_u64().unwrap();
    assert!(grounded > 0 && grounded <= calls);
}
