//! The distributed gateway and processor against hostile uploads (issue #11),
//! on the real services: JSON that is not a recording, sessions beyond the
//! events and actions limits, an oversized form-field name, control
//! characters. Each ends in a clear 4xx or a FAILED Example with a reason,
//! and a good upload goes through right after. The gateway reads uploads
//! later (`read_uploads = "later"`): what a cheap check of the first bytes
//! shows is refused at once, the rest fails the Example.
//!
//! Skipped, with a printed reason, when `TRACEPIPE_KAFKA_BOOTSTRAP` is not set
//! and `CI` is not set. Uses its own topics, consumer groups, PostgreSQL
//! schema and bucket prefix.

mod common;

use common::{services_available, Deployment};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client, Response};
use serde_json::Value;

/// An `input_events.jsonl` of `n` clicks on Compose, a second apart.
fn clicks(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:{:02}:{:02}+00:00", "action": "click", "selector": {{"tag": "div", "role": "button", "label": "Compose"}}, "additional_info": {{}}}}"#,
                i / 60 % 60,
                i % 60
            ) + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

fn form(bytes: Vec<u8>) -> multipart::Form {
    multipart::Form::new().text("suite_id", "gmail").part(
        "input_events",
        multipart::Part::bytes(bytes).file_name("upload"),
    )
}

/// The status and JSON body, with the status checked.
fn expect(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[test]
fn the_gateway_and_processor_refuse_what_they_cannot_bound() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("hostile")
        // The gateway's limit is [limits].max_events, the processor's max_events.
        .with_env("TRACEPIPE_LIMITS_MAX_EVENTS", "200")
        .with_env("TRACEPIPE_MAX_EVENTS", "200")
        .with_env("TRACEPIPE_MAX_ACTIONS", "20");
    deployment.start("gateway", "gateway");
    deployment.start("processor", "processor");
    let (url, key) = deployment.gateway();
    let http = Client::new();
    let upload = |form: multipart::Form| {
        http.post(format!("{url}/sessions"))
            .header("X-API-Key", &key)
            .multipart(form)
            .send()
            .expect("upload")
    };

    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/not-recordings");
    for (file, looks_like) in [
        ("empty-object.json", "an empty JSON object"),
        ("devtools-protocol.json", "a Chrome DevTools Protocol log"),
        ("lighthouse.json", "a Lighthouse report"),
        ("network.har", "a HAR file"),
    ] {
        let bytes = std::fs::read(fixtures.join(file)).expect("fixture");
        let body = expect(upload(form(bytes)), 422);
        assert_eq!(body["error"]["code"], "not_a_recording", "{file}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(looks_like) && message.contains("docs/recording.md"),
            "{file}: {message}"
        );
    }
    let body = expect(upload(form(clicks(201))), 413);
    assert_eq!(body["error"]["code"], "too_many_events", "{body}");

    // Within the part-header limit, far longer than an error may quote.
    let body = expect(upload(form(clicks(1)).text("n".repeat(8 << 10), "x")), 400);
    assert_eq!(body["error"]["code"], "unknown_field", "{body}");
    assert!(body.to_string().len() < 1024, "{body}");

    let body = expect(
        upload(form(clicks(1)).text("description", "bell\u{7}")),
        422,
    );
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");

    // Nothing refused was recorded.
    let usage = expect(
        http.get(format!("{url}/usage"))
            .header("X-API-Key", &key)
            .send()
            .expect("usage"),
        200,
    );
    assert_eq!(usage["sessions_uploaded"], 0, "{usage}");

    // 150 clicks: 150 browser calls, over the processor's 20; then a good one.
    // An empty trace is only found out by reading it all, which the gateway
    // leaves to the processor: its Example fails saying what it is.
    let empty_trace = expect(
        upload(form(
            std::fs::read(fixtures.join("empty-trace.json")).expect("fixture"),
        )),
        201,
    );
    let too_many = expect(upload(form(clicks(150))), 201);
    let good = expect(upload(form(clicks(2))), 201);
    let example = |body: &Value| {
        let session = body["id"].as_str().expect("session id");
        let listed = expect(
            http.get(format!("{url}/examples?session_id={session}"))
                .header("X-API-Key", &key)
                .send()
                .expect("examples"),
            200,
        );
        let id = listed["items"][0]["id"]
            .as_str()
            .expect("the upload's Example")
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let example = expect(
                http.get(format!("{url}/examples/{id}"))
                    .header("X-API-Key", &key)
                    .send()
                    .expect("example"),
                200,
            );
            match example["status"].as_str() {
                Some("COMPLETED") | Some("FAILED") => return example,
                _ if Instant::now() > deadline => {
                    deployment.dump_logs();
                    panic!("still unfinished: {example}");
                }
                _ => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    };
    let failed = example(&too_many);
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "too_large", "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("151 tool calls") && m.contains("max_actions")),
        "{failed}"
    );
    let empty = example(&empty_trace);
    assert_eq!(empty["status"], "FAILED", "{empty}");
    assert_eq!(empty["error"]["code"], "not_a_recording", "{empty}");
    assert!(
        empty["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("an empty trace") && m.contains("docs/recording.md")),
        "{empty}"
    );
    assert_eq!(example(&good)["status"], "COMPLETED");
    // Read by the processor, the session's row says what it held.
    let session: Value = expect(
        http.get(format!(
            "{url}/sessions/{}",
            good["id"].as_str().expect("id")
        ))
        .header("X-API-Key", &key)
        .send()
        .expect("session"),
        200,
    );
    assert!(session["event_count"].as_i64() >= Some(2), "{session}");
    assert_ne!(session["capture"], "pending", "{session}");
}

/// Issue #11: an Example whose processing kept ending with its processor
/// (killed, out of memory) is not retried forever. Two earlier starts that
/// never ended are recorded as the processor records them; the next start
/// gives the Example up as FAILED `interrupted`, and a good upload goes
/// through right after. One unfinished start is tried again.
#[test]
fn an_example_that_kept_killing_its_processor_is_given_up() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("crashloop");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    let fixture = common::fixtures()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("create_label"))
        .expect("the create_label fixture");
    let example_of = |session: &str| -> Value {
        let list: Value = Client::new()
            .get(format!("{url}/examples?session_id={session}"))
            .header("X-API-Key", &key)
            .send()
            .and_then(|r| r.json())
            .expect("examples");
        list["items"][0].clone()
    };
    let store = common::store();
    let mark = |example: &Value, starts: &str| {
        let location = object_store::path::Path::from(format!(
            "{}/examples/{}/unfinished-starts",
            deployment.name,
            example["id"].as_str().expect("example id")
        ));
        common::runtime()
            .block_on(object_store::ObjectStoreExt::put(
                store.as_ref(),
                &location,
                starts.to_owned().into(),
            ))
            .expect("record the unfinished starts");
    };
    // Uploaded while no processor runs: PENDING, with its starts recorded.
    let doomed = common::upload_id(&url, &key, &fixture);
    let retried = common::upload_id(&url, &key, &fixture);
    mark(&example_of(&doomed), "2");
    mark(&example_of(&retried), "1");
    deployment.start("processor", "processor");
    let settled = |session: &str| {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let example = example_of(session);
            if matches!(example["status"].as_str(), Some("COMPLETED" | "FAILED")) {
                return example;
            }
            assert!(Instant::now() < deadline, "still {example}");
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let given_up = settled(&doomed);
    assert_eq!(given_up["status"], "FAILED", "{given_up}");
    assert_eq!(given_up["error"]["code"], "interrupted", "{given_up}");
    assert!(
        given_up["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 times")),
        "{given_up}"
    );
    assert_eq!(settled(&retried)["status"], "COMPLETED");
    let good = common::upload_id(&url, &key, &fixture);
    assert_eq!(settled(&good)["status"], "COMPLETED");
}
