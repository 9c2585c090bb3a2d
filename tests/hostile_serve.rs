//! `tracepipe serve` against hostile and faulty uploads (issue #11): JSON that
//! is not a recording, a screenshot line naming the upload itself, sessions
//! beyond the events and actions limits, Examples the server never survives,
//! oversized names and control characters. Each ends in a clear 4xx or a
//! FAILED Example with a reason, and the server answers a good request right
//! after. Loopback only, a handful of small requests per test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

const STARTUP: Duration = Duration::from_secs(60);
const PROCESSING: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running server; killed when dropped.
struct Server {
    child: Child,
    base: String,
    key: String,
    client: Client,
}

impl Server {
    /// Starts on a fresh or existing data directory; `key` is the
    /// administrator's key when the directory was used before.
    fn start(data_dir: &Path, env: &[(&str, &str)], key: Option<&str>) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--catalog")
            .arg(repo().join("catalog"))
            .env("TRACEPIPE_TABLES_FLUSH_INTERVAL_SECS", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tracepipe serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("server: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + STARTUP;
        let mut admin_key = key.map(str::to_owned);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the server prints its URL");
            if let Some(key) = line.split_whitespace().find(|w| w.starts_with("tp_live_")) {
                admin_key = Some(key.to_owned());
            }
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Server {
            child,
            base,
            key: admin_key.expect("the administrator's key"),
            client,
        }
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
    }

    fn upload_form(&self, form: multipart::Form) -> Response {
        self.post("/sessions")
            .multipart(form)
            .send()
            .expect("upload")
    }

    fn upload(&self, bytes: Vec<u8>) -> Response {
        self.upload_form(self.form(bytes))
    }

    fn form(&self, bytes: Vec<u8>) -> multipart::Form {
        multipart::Form::new().text("suite_id", self.gmail()).part(
            "input_events",
            multipart::Part::bytes(bytes).file_name("upload"),
        )
    }

    fn gmail(&self) -> String {
        let suites = json_of(self.get("/suites").send().expect("suites"), StatusCode::OK);
        suites["items"]
            .as_array()
            .and_then(|items| items.iter().find(|s| s["name"] == "gmail"))
            .and_then(|s| s["id"].as_str())
            .expect("the gmail suite is in the catalog")
            .to_owned()
    }

    /// The Example an upload queued, once it is finished.
    fn finished_example(&self, session_id: &str) -> Value {
        let deadline = Instant::now() + PROCESSING;
        loop {
            let list = json_of(
                self.get(&format!("/examples?session_id={session_id}"))
                    .send()
                    .expect("examples"),
                StatusCode::OK,
            );
            let example = &list["items"][0];
            match example["status"].as_str() {
                Some("COMPLETED") | Some("FAILED") => return example.clone(),
                _ if Instant::now() > deadline => panic!("still unfinished: {list}"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// A good recording goes through, start to end.
    fn answers_a_good_upload(&self) {
        let session = json_of(self.upload(clicks(2)), StatusCode::CREATED);
        let example = self.finished_example(session["id"].as_str().expect("id"));
        assert_eq!(example["status"], "COMPLETED", "{example}");
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().expect("body");
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn error_of(response: Response, status: StatusCode) -> Value {
    json_of(response, status)["error"].clone()
}

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

/// Every file under `root`, recursively.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn json_that_is_not_a_recording_is_refused_and_nothing_is_created() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path(), &[], None);
    let fixtures = repo().join("tests/fixtures/not-recordings");
    for (file, looks_like) in [
        ("empty-object.json", "an empty JSON object"),
        ("empty-array.json", "an empty JSON array"),
        ("devtools-protocol.json", "a Chrome DevTools Protocol log"),
        ("lighthouse.json", "a Lighthouse report"),
        ("network.har", "a HAR file"),
        ("empty-trace.json", "an empty trace"),
    ] {
        let bytes = std::fs::read(fixtures.join(file)).expect("fixture");
        let error = error_of(server.upload(bytes), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["code"], "not_a_recording", "{file}: {error}");
        assert_eq!(error["field"], "input_events", "{file}: {error}");
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains(looks_like) && message.contains("docs/recording.md"),
            "{file}: {message}"
        );
    }
    // No Session, no Example, no usage, no object.
    let sessions = json_of(
        server.get("/sessions").send().expect("list"),
        StatusCode::OK,
    );
    assert_eq!(sessions["total"], 0, "{sessions}");
    let examples = json_of(
        server.get("/examples").send().expect("list"),
        StatusCode::OK,
    );
    assert_eq!(examples["total"], 0, "{examples}");
    let usage = json_of(server.get("/usage").send().expect("usage"), StatusCode::OK);
    assert_eq!(usage["sessions_uploaded"], 0, "{usage}");
    assert!(files_under(&data.path().join("objects/sessions")).is_empty());
    server.answers_a_good_upload();
}

#[test]
fn a_screenshot_line_naming_the_upload_never_stores_it() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path(), &[], None);
    let secret = "hunter2-in-the-raw-upload";
    let line = |t: &str, rest: &str| {
        format!(
            r#"{{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/#settings", "timestamp": "2026-01-06T20:30:{t}+00:00", {rest}}}"#
        ) + "\n"
    };
    let recording = |filename: &str| {
        [
            line(
                "01",
                &format!(
                    r#""action": "change", "selector": {{"tag": "input", "type": "password", "label": "Password"}}, "additional_info": {{"value": "{secret}"}}"#
                ),
            ),
            line(
                "02",
                &format!(r#""action": "screenshot", "filename": {}"#, json!(filename)),
            ),
        ]
        .concat()
        .into_bytes()
    };
    // Screenshots of a recording without sensitive-field marks are kept only
    // when the upload says they are safe: then a name must still be an image
    // beside the upload, not the upload itself (the name it is stored under,
    // whatever the client called it) nor a path out of its folder.
    for filename in ["input_events", "../input_events", "./input_events", ""] {
        let form = server
            .form(recording(filename))
            .text("screenshots_safe", "true");
        let error = error_of(server.upload_form(form), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["code"], "screenshot", "{filename:?}: {error}");
    }
    // Not declared safe: the screenshot is left out, the rest is kept.
    let session = json_of(
        server.upload(recording("input_events")),
        StatusCode::CREATED,
    );
    let screenshots = data
        .path()
        .join("objects/sessions")
        .join(session["id"].as_str().expect("id"))
        .join("screenshots");
    assert!(files_under(&screenshots).is_empty());
    for file in files_under(data.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} holds the secret",
            file.display()
        );
    }
    let sessions = json_of(
        server.get("/sessions").send().expect("list"),
        StatusCode::OK,
    );
    assert_eq!(
        sessions["total"], 1,
        "only the upload not declared safe: {sessions}"
    );
    server.answers_a_good_upload();
}

#[test]
fn sessions_beyond_the_limits_end_in_a_refusal_or_a_failed_example_with_the_reason() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        data.path(),
        &[
            ("TRACEPIPE_LIMITS_MAX_EVENTS", "200"),
            ("TRACEPIPE_LIMITS_MAX_ACTIONS", "20"),
        ],
        None,
    );
    // Known at upload: too many events.
    let error = error_of(server.upload(clicks(201)), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["code"], "too_many_events", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than 200 events")),
        "{error}"
    );
    // Known once classified: 150 clicks make 151 browser calls (the first
    // opens the page), over 20.
    let session = json_of(server.upload(clicks(150)), StatusCode::CREATED);
    let example = server.finished_example(session["id"].as_str().expect("id"));
    assert_eq!(example["status"], "FAILED", "{example}");
    assert_eq!(example["error"]["code"], "too_large", "{example}");
    let message = example["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("151 tool calls") && message.contains("max_actions"),
        "{message}"
    );
    server.answers_a_good_upload();
}

#[test]
fn an_example_the_server_never_survives_is_given_up() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path(), &[], None);
    let key = server.key.clone();
    let ids: Vec<String> = (0..2)
        .map(|i| {
            let session = json_of(server.upload(clicks(2 + i)), StatusCode::CREATED);
            let session_id = session["id"].as_str().expect("id").to_owned();
            server.finished_example(&session_id)["id"]
                .as_str()
                .expect("example id")
                .to_owned()
        })
        .collect();
    server.stop();
    // What a server killed while processing leaves behind: the first Example
    // was started once, the second twice (the configured maximum).
    {
        let db = rusqlite::Connection::open(data.path().join("tracepipe.db")).expect("database");
        for (id, attempts) in ids.iter().zip([1, 2]) {
            db.execute(
                "UPDATE examples SET status = 'PROCESSING', attempts = ?2 WHERE id = ?1",
                rusqlite::params![id, attempts],
            )
            .expect("update");
        }
    }
    let server = Server::start(data.path(), &[], Some(&key));
    let finished = |id: &str| {
        let deadline = Instant::now() + PROCESSING;
        loop {
            let example = json_of(
                server
                    .get(&format!("/examples/{id}"))
                    .send()
                    .expect("example"),
                StatusCode::OK,
            );
            match example["status"].as_str() {
                Some("COMPLETED") | Some("FAILED") => return example,
                _ if Instant::now() > deadline => panic!("still unfinished: {example}"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    };
    assert_eq!(finished(&ids[0])["status"], "COMPLETED");
    let given_up = finished(&ids[1]);
    assert_eq!(given_up["status"], "FAILED", "{given_up}");
    assert_eq!(given_up["error"]["code"], "interrupted", "{given_up}");
    assert!(
        given_up["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("started 2 times")),
        "{given_up}"
    );
    server.answers_a_good_upload();
}

#[test]
fn errors_stay_small_and_text_fields_refuse_control_characters() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path(), &[], None);
    // Within the part-header limit (larger part headers are refused before
    // their name is read), yet far longer than an error may quote.
    let long_name = "n".repeat(8 << 10);
    let form = server
        .form(clicks(1))
        .text(long_name.clone(), "x".to_owned());
    let response = server.upload_form(form);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().expect("body");
    assert!(body.len() < 1024, "{} bytes of error", body.len());
    let error: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(error["error"]["code"], "unknown_field", "{error}");
    assert!(
        error["error"]["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("nnn") && f.chars().count() <= 65),
        "{error}"
    );
    let long_name = "n".repeat(1 << 20);
    // A JSON body's unknown key is quoted by the parser: cut too.
    let response = server
        .post("/examples")
        .json(&json!({ long_name.clone(): 1 }))
        .send()
        .expect("post");
    assert!(response.status().is_client_error());
    let body = response.text().expect("body");
    assert!(body.len() < 8192, "{} bytes of error", body.len());

    let form = server
        .form(clicks(1))
        .text("description", "ring\u{7} the bell\u{1b}[2J".to_owned());
    let error = error_of(server.upload_form(form), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["code"], "invalid_field", "{error}");
    assert_eq!(error["field"], "description", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("U+0007")),
        "{error}"
    );
    // Tabs and line breaks are text.
    let form = server
        .form(clicks(1))
        .text("description", "two\tcolumns\r\nand lines\n".to_owned());
    let session = json_of(server.upload_form(form), StatusCode::CREATED);
    assert_eq!(session["description"], "two\tcolumns\r\nand lines\n");
    server.answers_a_good_upload();
}
