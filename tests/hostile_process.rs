//! `tracepipe process` against what is not a recording and against sessions
//! beyond its limits (issue #11): each is reported with what it is and what
//! to do, nothing is written for it, the good inputs beside it still are, and
//! the exit code is 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `process` without the browser conversation, unless `extra` asks for it.
fn process(out: &Path, inputs: &[PathBuf], extra: &[&str]) -> Output {
    let browser = extra.contains(&"--browser-mcp-server");
    Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(["process", "--suite", "gmail"])
        .args((!browser).then_some("--no-browser"))
        .arg("--catalog")
        .arg(repo().join("catalog"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .args(inputs)
        .output()
        .expect("run tracepipe process")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn entries(path: &Path) -> usize {
    std::fs::read_dir(path).map_or(0, |d| d.count())
}

/// An `input_events.jsonl` of `n` clicks on Compose, a second apart.
fn clicks(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:{:02}:{:02}+00:00", "action": "click", "selector": {{"tag": "div", "role": "button", "label": "Compose"}}, "additional_info": {{}}}}"#,
                i / 60 % 60,
                i % 60
            ) + "\n"
        })
        .collect()
}

#[test]
fn json_that_is_not_a_recording_is_named_and_nothing_is_written_for_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = repo().join("tests/fixtures/not-recordings");
    let cases = [
        ("empty-object.json", "an empty JSON object"),
        ("empty-array.json", "an empty JSON array"),
        ("devtools-protocol.json", "a Chrome DevTools Protocol log"),
        ("lighthouse.json", "a Lighthouse report"),
        ("network.har", "a HAR file"),
        ("empty-trace.json", "an empty trace"),
    ];
    let mut inputs: Vec<PathBuf> = cases.iter().map(|(file, _)| dir.join(file)).collect();
    let good = tmp.path().join("good.jsonl");
    std::fs::write(&good, clicks(2)).expect("write");
    inputs.push(good);
    let out = tmp.path().join("out");
    let output = process(&out, &inputs, &[]);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    for (file, looks_like) in cases {
        let line = said
            .lines()
            .find(|l| l.contains(file) && l.contains("not a recording"))
            .unwrap_or_else(|| panic!("{file} is not reported: {said}"));
        assert!(
            line.contains(looks_like) && line.contains("docs/recording.md"),
            "{line}"
        );
    }
    // Only the good recording was written.
    assert_eq!(entries(&out.join("sessions")), 1, "{said}");
    assert_eq!(entries(&out.join("examples")), 1, "{said}");
}

#[test]
fn limits_refuse_sessions_with_the_reason_and_keep_the_others() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let small = tmp.path().join("small.jsonl");
    let long = tmp.path().join("long.jsonl");
    std::fs::write(&small, clicks(3)).expect("write");
    std::fs::write(&long, clicks(400)).expect("write");

    let out = tmp.path().join("events");
    let output = process(
        &out,
        &[small.clone(), long.clone()],
        &["--max-events", "100"],
    );
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.lines()
            .any(|l| l.contains("long.jsonl") && l.contains("more than 100 events")),
        "{said}"
    );
    assert_eq!(entries(&out.join("sessions")), 1, "{said}");

    // With the browser conversation, 400 clicks make 401 calls (the first
    // opens the page).
    let out = tmp.path().join("actions");
    let browser = ["--browser-mcp-server", "playwright"];
    let output = process(
        &out,
        &[small, long.clone()],
        &[&browser[..], &["--max-actions", "50"]].concat(),
    );
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.lines().any(|l| l.contains("long.jsonl")
            && l.contains("browser conversation has 401 tool calls")
            && l.contains("max_actions")),
        "{said}"
    );
    assert_eq!(entries(&out.join("examples")), 1, "{said}");

    let out = tmp.path().join("output");
    let output = process(
        &out,
        &[long],
        &[&browser[..], &["--max-output-bytes", "20000"]].concat(),
    );
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("its browser conversation is")
            && said.contains("bytes, more than the 20000 accepted"),
        "{said}"
    );
    assert_eq!(entries(&out.join("examples")), 0, "{said}");
}
