//! A fresh recording of the demo app, made now with Debian's Chromium through
//! the repo's recorder, read back by `tracepipe inspect`: every scripted
//! interaction with its label and value, the app's API requests, the hash-route
//! navigations and the screenshots, and nothing from the browser's own pages.
//! Needs `scripts/setup-browser.sh` (run by `.ci/run`); skipped with a reason
//! outside CI when Chromium or the recorder's packages are missing.

use std::path::Path;
use std::process::Command;

#[test]
fn inspect_shows_a_fresh_recording_of_the_demo_app() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ready = Path::new("/usr/bin/chromium").exists()
        && root.join("capture/node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium and capture/node_modules (scripts/setup-browser.sh)"
        );
        eprintln!("skipped: run scripts/setup-browser.sh first");
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let rec = Command::new("node")
        .current_dir(root)
        .args(["capture/recorder/record.js", "--port", "18765", "--out"])
        .arg(out_dir.path())
        .arg("multi_action_session")
        .output()
        .unwrap();
    assert!(
        rec.status.success(),
        "recorder failed: {}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let trace = out_dir.path().join("multi_action_session.trace.json.gz");
    let out = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .arg("inspect")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    fn kind<'a>(
        lines: &'a [serde_json::Value],
        k: &'a str,
    ) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
        lines.iter().filter(move |l| l["kind"] == k)
    }
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("multi_action_session.expected.json")).unwrap(),
    )
    .unwrap();
    let calls = expected["tool_calls"].as_array().unwrap();
    let send = calls
        .iter()
        .find(|c| c["name"] == "send_email")
        .expect("the scenario sends");
    let args = &send["arguments"];
    let search = calls
        .iter()
        .find(|c| c["name"] == "search_emails")
        .expect("the scenario searches");

    let labels: Vec<&str> = kind(&lines, "click")
        .filter_map(|l| l["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"Compose"),
        "no click on Compose: {labels:?}"
    );
    assert!(
        labels.iter().any(|l| l.starts_with("Send")),
        "no click on Send: {labels:?}"
    );
    let changed = |label: &str| {
        kind(&lines, "change")
            .filter(|l| l["label"] == label)
            .filter_map(|l| l["value"].as_str())
            .last()
            .map(str::to_string)
    };
    assert_eq!(changed("Subject").as_deref(), args["subject"].as_str());
    let to = changed("To recipients").unwrap();
    for addr in args["to"].as_array().unwrap() {
        assert!(to.contains(addr.as_str().unwrap()), "{to} lacks {addr}");
    }
    // The app's own API calls: requests to its origin that send something.
    assert!(
        kind(&lines, "network_request").any(|l| l["url"]
            .as_str()
            .unwrap_or("")
            .contains(":18765/")
            && l["method"] != "GET"),
        "no API request"
    );
    assert_eq!(
        changed("Search mail").as_deref(),
        search["arguments"]["query"].as_str()
    );
    let routes: Vec<&str> = kind(&lines, "navigation")
        .filter(|l| l["same_document"] == true)
        .filter_map(|l| {
            l["url"]
                .as_str()
                .and_then(|u| u.split_once('#'))
                .map(|(_, r)| r)
        })
        .collect();
    assert!(
        routes.iter().any(|r| r.starts_with("search/")),
        "no search route: {routes:?}"
    );
    for read in calls.iter().filter(|c| c["name"] == "read_email") {
        let id = read["arguments"]["messageId"].as_str().unwrap();
        assert!(
            routes.iter().any(|r| r.ends_with(id)),
            "no route to message {id}: {routes:?}"
        );
    }
    for l in &lines {
        let url = l["url"].as_str().unwrap_or("");
        assert!(
            !url.starts_with("chrome") && !url.starts_with("devtools"),
            "browser page leaked: {l}"
        );
    }
    let summary = String::from_utf8_lossy(&out.stderr);
    let shots = kind(&lines, "screenshot").count();
    assert!(
        shots > 0 && summary.contains(&format!("{shots} screenshots")),
        "{summary}"
    );
}
