//! Secrets in a recording made without masking at the source (a password, a
//! card number in a card field and in free text) reach no output of `process`
//! or `inspect`: not the conversations, not the tables, not the stored session,
//! and the recording itself is not kept verbatim.

use std::path::Path;
use std::process::Command;

const SECRETS: [&str; 3] = ["hunter2-zebra", "4111 1111 1111 1111", "5500005555555559"];

fn unmasked_recording(path: &Path) {
    let url = "http://127.0.0.1:8765/#settings/account";
    let mark = |ts: i64, detail: serde_json::Value| {
        serde_json::json!({"args": {"data": {"detail": detail.to_string()}}, "cat": "blink.user_timing",
            "name": "tracepipe:change", "ph": "I", "pid": 2, "tid": 2, "ts": ts})
    };
    let events = vec![
        mark(
            1000,
            serde_json::json!({"target": {"tag": "input", "type": "password", "label": "App password"}, "value": SECRETS[0], "url": url}),
        ),
        mark(
            2000,
            serde_json::json!({"target": {"tag": "input", "label": "Card", "autocomplete": "cc-number"}, "value": SECRETS[1], "url": url}),
        ),
        mark(
            3000,
            serde_json::json!({"target": {"tag": "input", "label": "Notes"}, "value": format!("pay with {}", SECRETS[2]), "url": url}),
        ),
    ];
    std::fs::write(
        path,
        serde_json::to_vec(&serde_json::json!({"traceEvents": events})).unwrap(),
    )
    .unwrap();
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked into {what}");
    }
}

#[test]
fn unmasked_secrets_reach_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("secrets.json");
    unmasked_recording(&recording);
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["process", "--suite", "gmail", "--out"])
        .arg(&out)
        .arg(&recording)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_clean("process's report", &[run.stdout, run.stderr].concat());
    let written = files(&out);
    assert!(
        written.iter().any(|p| p.ends_with("session.avro")),
        "the scrubbed session is kept"
    );
    assert!(
        !written.iter().any(|p| p.ends_with("input_events.jsonl")),
        "the unmasked recording must not be kept verbatim"
    );
    for path in written {
        assert_clean(&path.display().to_string(), &std::fs::read(&path).unwrap());
    }
    let inspect = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .arg("inspect")
        .arg(&recording)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    assert_clean(
        "inspect",
        &[inspect.stdout.clone(), inspect.stderr].concat(),
    );
    let timeline = String::from_utf8_lossy(&inspect.stdout);
    assert_eq!(timeline.matches("\"masked\":true").count(), 2, "{timeline}");
    assert!(timeline.contains("pay with [card]"), "{timeline}");
}
