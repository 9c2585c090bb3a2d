//! `tracepipe loadgen` against a real `tracepipe serve`: what it reports
//! accepted, refused and completed is what the server holds.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn loadgen_reports_what_serve_accepted_refused_and_completed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--catalog")
        .arg(repo().join("catalog"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tracepipe serve");
    let stdout = serve.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut url, mut key) = (None, None);
    while url.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints its URL");
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("tp_live_")) {
            key = Some(k.to_owned());
        }
        url = line
            .split("listening on ")
            .nth(1)
            .map(|u| u.trim().to_owned());
    }
    let (url, key) = (url.expect("url"), key.expect("admin key"));

    let not_a_recording = dir.path().join("notes.txt");
    std::fs::write(&not_a_recording, "these are notes, not a recording\n").expect("write");
    let fixtures = repo().join("tests/fixtures/recordings");
    // Cycled: uploads 0 and 3 are the first file, 1 the second, 2 the notes.
    let output = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .args(["loadgen", "--url", &url, "--suite", "gmail", "--json"])
        .args(["--count", "4", "--concurrency", "2", "--timeout", "120"])
        .arg("--rss")
        .arg(format!("serve={}", serve.id()))
        .arg(fixtures.join("send_simple.trace.json.gz"))
        .arg(fixtures.join("create_label.trace.json.gz"))
        .arg(&not_a_recording)
        .env("TRACEPIPE_API_KEY", &key)
        .output()
        .expect("run loadgen");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "loadgen printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // Not every upload completed: the run says so in its exit status.
    assert!(!output.status.success(), "{report}");
    assert_eq!(report["accepted"], 3, "{report}");
    let refused = report["refused"].as_object().expect("refused");
    assert_eq!(refused.len(), 1, "{report}");
    let (reason, count) = refused.iter().next().expect("one reason");
    assert!(reason.starts_with("422"), "{report}");
    assert_eq!(count, 1, "{report}");
    assert_eq!(report["completed"], 3, "{report}");
    assert_eq!(report["unfinished"], 0, "{report}");
    let p50 = report["complete_ms_p50"].as_f64().expect("p50");
    let p99 = report["complete_ms_p99"].as_f64().expect("p99");
    assert!(0.0 < p50 && p50 <= p99, "{report}");
    assert!(report["upload_ms_p99"].as_f64().expect("upload p99") > 0.0);
    let rss = report["peak_rss"][0]["peak_rss_mb"].as_f64().expect("rss");
    assert!(rss > 1.0, "serve's VmHWM in MB: {report}");

    // The server holds exactly the accepted sessions, each with a COMPLETED Example.
    let client = reqwest::blocking::Client::new();
    let list = |path: &str| -> Value {
        client
            .get(format!("{url}{path}"))
            .header("X-API-Key", &key)
            .send()
            .and_then(|r| r.json())
            .expect("list")
    };
    assert_eq!(list("/sessions")["total"], 3);
    assert_eq!(list("/examples?status=COMPLETED")["total"], 3);
    let _ = serve.kill();
    let _ = serve.wait();
}
