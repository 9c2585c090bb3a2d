//! The `/v1` API's contract, one suite run unchanged against both
//! deployments: `tracepipe serve` (tests/serve_api.rs) and the distributed
//! gateway with its processors on real Kafka, S3 and PostgreSQL
//! (tests/distributed_api.rs). Each deployment is a [`Target`].

// Each suite uses the whole contract, but not every helper of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::io::Write;

pub mod callbacks;

use reqwest::blocking::{multipart, Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const PROCESSING: Duration = Duration::from_secs(180);
/// The upload limit a target is started with: small enough to test 413
/// cheaply, larger than every fixture (under 1 MB).
pub const MAX_UPLOAD: u64 = 4 << 20;
/// The decompressed limit a target is started with: larger than every
/// fixture decompressed (under 10 MB).
pub const MAX_DECOMPRESSED: u64 = 32 << 20;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A deployment under test, started with [`MAX_UPLOAD`] and
/// [`MAX_DECOMPRESSED`].
pub trait Target {
    /// The API as a client sees it.
    fn api(&self) -> Api;
    /// Stops the API (SIGTERM) and starts it again on the same data.
    fn restart(&mut self) -> Api;
    /// What is stored of uploads that made no session: objects under
    /// `sessions/`, upload folders.
    fn stored_uploads(&self) -> Vec<String>;
    /// Removes one object of the deployment's store (`sessions/<id>/…`), as
    /// a lost disk or an operator would.
    fn remove_object(&self, key: &str);
    /// Whether an upload's recording is read after the answer (the
    /// distributed gateway's `read_uploads = "later"`): what a cheap check
    /// cannot see is then a FAILED Example rather than a refusal, and the
    /// session's `event_count` and `capture` are known once it is read.
    fn reads_uploads_later(&self) -> bool {
        false
    }
}

/// A client of one deployment's `/v1`.
#[derive(Clone)]
pub struct Api {
    /// `http://host:port/v1`.
    pub base: String,
    /// The administrator's key, printed on the first start only.
    pub admin_key: Option<String>,
    pub client: Client,
}

impl Api {
    pub fn new(base: String, admin_key: Option<String>) -> Api {
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Api {
            base,
            admin_key,
            client,
        }
    }

    pub fn admin_key(&self) -> String {
        self.admin_key
            .clone()
            .expect("the first start prints the administrator's key")
    }

    pub fn get(&self, key: &str, path: &str) -> RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", key)
    }

    pub fn post(&self, key: &str, path: &str) -> RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", key)
    }

    pub fn upload(&self, key: &str, suite_id: &str, name: &str, bytes: Vec<u8>) -> Response {
        let form = multipart::Form::new()
            .text("suite_id", suite_id.to_owned())
            .text("description", format!("fixture {name}"))
            .part(
                "input_events",
                multipart::Part::bytes(bytes).file_name(name.to_owned()),
            );
        self.post(key, "/sessions")
            .multipart(form)
            .send()
            .expect("upload")
    }

    pub fn gmail(&self, key: &str) -> String {
        let suites = json_of(
            self.get(key, "/suites").send().expect("suites"),
            StatusCode::OK,
        );
        suites["items"]
            .as_array()
            .and_then(|items| items.iter().find(|s| s["name"] == "gmail"))
            .and_then(|s| s["id"].as_str())
            .expect("the gmail suite is in the catalog")
            .to_owned()
    }
}

/// A running `tracepipe serve` on `data_dir`, with `env` added to its
/// environment; killed when dropped.
pub struct ServeProcess {
    child: Child,
    pub api: Api,
}

impl ServeProcess {
    pub fn start(data_dir: &Path, env: &[(&str, String)]) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--catalog")
            .arg(repo().join("catalog"))
            .envs(env.iter().map(|(k, v)| (k, v)))
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
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut admin_key = None;
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
        ServeProcess {
            child,
            api: Api::new(base, admin_key),
        }
    }

    /// Stops with SIGTERM, as a service manager would, and waits.
    pub fn stop(&mut self) {
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

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body as JSON, after checking the status.
pub fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().expect("body");
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// An error answer: the status, and a JSON body with a code and a message.
pub fn error_of(response: Response, status: StatusCode) -> Value {
    let body = json_of(response, status);
    let error = &body["error"];
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "not an error body: {body}"
    );
    error.clone()
}

pub fn poll_example(server: &Api, key: &str, example_id: &str) -> Value {
    let deadline = Instant::now() + PROCESSING;
    loop {
        let example = json_of(
            server
                .get(key, &format!("/examples/{example_id}"))
                .send()
                .expect("example"),
            StatusCode::OK,
        );
        match example["status"].as_str() {
            Some("COMPLETED") | Some("FAILED") => return example,
            _ if Instant::now() > deadline => {
                panic!("example {example_id} still {}", example["status"])
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The Example the upload queued.
pub fn auto_example(server: &Api, key: &str, session_id: &str) -> String {
    let list = json_of(
        server
            .get(key, &format!("/examples?session_id={session_id}"))
            .send()
            .expect("list"),
        StatusCode::OK,
    );
    assert_eq!(list["total"], 1, "one Example per upload: {list}");
    list["items"][0]["id"]
        .as_str()
        .expect("example id")
        .to_owned()
}

/// (tool, arguments) of every call in a messages.jsonl, after checking that
/// each line is a chat message.
pub fn tool_calls(jsonl: &str) -> Vec<(String, Value)> {
    let mut calls = Vec::new();
    assert!(jsonl.ends_with('\n'), "JSONL ends with a newline");
    for (i, line) in jsonl.lines().enumerate() {
        let message: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1));
        let role = message["role"]
            .as_str()
            .unwrap_or_else(|| panic!("line {} has no role", i + 1));
        assert!(
            ["system", "user", "assistant", "tool"].contains(&role),
            "role {role}"
        );
        if i == 0 {
            assert_eq!(
                role, "system",
                "the conversation opens with the system message"
            );
        }
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            assert_eq!(call["type"], "function");
            let name = call["function"]["name"]
                .as_str()
                .expect("function name")
                .to_owned();
            let arguments = call["function"]["arguments"]
                .as_str()
                .expect("arguments are a JSON string");
            calls.push((
                name,
                serde_json::from_str(arguments).expect("arguments parse"),
            ));
        }
    }
    calls
}

pub fn fixtures() -> Vec<(String, PathBuf, Value)> {
    let dir = repo().join("tests/fixtures/recordings");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(scenario) = name.strip_suffix(".trace.json.gz") else {
            continue;
        };
        let sidecar = dir.join(format!("{scenario}.expected.json"));
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&sidecar).expect("sidecar"))
                .expect("sidecar JSON");
        out.push((scenario.to_owned(), path, expected));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub fn recorded_fixtures_become_the_expected_tool_calls(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let suite = server.gmail(&key);

    let fixtures = fixtures();
    assert!(fixtures.len() >= 20, "the recorded fixtures are there");
    let mut uploaded = Vec::new();
    for (scenario, path, expected) in &fixtures {
        let bytes = std::fs::read(path).expect("fixture");
        let sha256: String = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&bytes);
            digest.iter().map(|b| format!("{b:02x}")).collect()
        };
        let session = json_of(
            server.upload(&key, &suite, &format!("{scenario}.trace.json.gz"), bytes),
            StatusCode::CREATED,
        );
        assert_eq!(session["suite_id"], suite.as_str());
        assert_eq!(session["source_format"], "CHROME_TRACE");
        // Provenance: the uploaded file's name and the SHA-256 of its bytes.
        assert_eq!(session["source_name"], format!("{scenario}.trace.json.gz"));
        assert_eq!(session["source_sha256"], sha256.as_str());
        let read_later = target.reads_uploads_later();
        assert_eq!(
            session["capture"],
            if read_later { "pending" } else { "script" }
        );
        let session_id = session["id"].as_str().expect("session id").to_owned();
        let fetched = json_of(
            server
                .get(&key, &format!("/sessions/{session_id}"))
                .send()
                .expect("get"),
            StatusCode::OK,
        );
        assert_eq!(fetched, session);
        uploaded.push((scenario.clone(), session_id, expected.clone()));
    }

    let (mut expected_total, mut matched_total) = (0usize, 0usize);
    let mut exact = BTreeMap::new();
    for (scenario, session_id, expected) in &uploaded {
        let example_id = auto_example(&server, &key, session_id);
        let example = poll_example(&server, &key, &example_id);
        assert_eq!(example["status"], "COMPLETED", "{scenario}: {example}");
        // Read by now, wherever it was read.
        let session = json_of(
            server
                .get(&key, &format!("/sessions/{session_id}"))
                .send()
                .expect("get"),
            StatusCode::OK,
        );
        assert_eq!(session["capture"], "script", "{scenario}: {session}");
        assert!(
            session["event_count"].as_i64() > Some(0),
            "{scenario}: {session}"
        );
        let response = server
            .get(&key, &format!("/examples/{example_id}/messages"))
            .send()
            .expect("messages");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/jsonl");
        let calls = tool_calls(&response.text().expect("body"));
        let wanted: Vec<(String, Value)> = expected["tool_calls"]
            .as_array()
            .expect("sidecar tool_calls")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["arguments"].clone(),
                )
            })
            .collect();
        let mut unused = calls.clone();
        let mut matched = 0;
        for w in &wanted {
            if let Some(i) = unused.iter().position(|c| c == w) {
                unused.remove(i);
                matched += 1;
            }
        }
        println!(
            "{scenario:24} expected {:2}  got {:2}  matched {:2}{}",
            wanted.len(),
            calls.len(),
            matched,
            if calls == wanted { "  exact" } else { "" }
        );
        expected_total += wanted.len();
        matched_total += matched;
        exact.insert(scenario.clone(), calls == wanted);
    }
    let recall = matched_total as f64 / expected_total.max(1) as f64;
    println!("matched {matched_total} of {expected_total} expected tool calls ({recall:.3})");
    for simple in ["send_simple", "search_operator", "create_label"] {
        assert_eq!(
            exact.get(simple),
            Some(&true),
            "{simple}: the tool calls are exactly the expected ones"
        );
    }
    assert!(recall >= 0.9, "tool-call recall {recall:.3} below 0.9");

    let usage = json_of(
        server.get(&key, "/usage").send().expect("usage"),
        StatusCode::OK,
    );
    assert_eq!(usage["sessions_uploaded"], uploaded.len());
    assert_eq!(usage["examples_generated"], uploaded.len());
    assert_eq!(usage["tokens"]["total"], 0);
    assert!(usage["storage"]["current_gb"]
        .as_f64()
        .is_some_and(|g| g > 0.0));
}

pub fn users_see_only_their_own_data_and_revoked_keys_stop_working(target: &mut dyn Target) {
    let server = target.api();
    let admin = server.admin_key();
    let suite = server.gmail(&admin);
    let fixture =
        std::fs::read(repo().join("tests/fixtures/recordings/create_label.trace.json.gz"))
            .expect("fixture");
    let session = json_of(
        server.upload(&admin, &suite, "create_label.trace.json.gz", fixture),
        StatusCode::CREATED,
    );
    let session_id = session["id"].as_str().expect("id").to_owned();
    let example_id = auto_example(&server, &admin, &session_id);
    poll_example(&server, &admin, &example_id);

    // Auth failures are 401 with a JSON body.
    let response = server
        .client
        .get(format!("{}/users/me", server.base))
        .send()
        .expect("no key");
    error_of(response, StatusCode::UNAUTHORIZED);
    error_of(
        server
            .get("tp_live_not-a-key", "/users/me")
            .send()
            .expect("bad key"),
        StatusCode::UNAUTHORIZED,
    );

    // A second user, made by the administrator.
    let created = json_of(
        server
            .post(&admin, "/users")
            .json(&json!({ "display_name": "Second" }))
            .send()
            .expect("create user"),
        StatusCode::CREATED,
    );
    let other = created["api_key"]["key"]
        .as_str()
        .expect("the new user's key")
        .to_owned();
    let me = json_of(
        server.get(&other, "/users/me").send().expect("me"),
        StatusCode::OK,
    );
    assert_eq!(
        me,
        json!({ "id": created["user"]["id"], "display_name": "Second" })
    );

    // Nothing of the first user's is visible, not even as "forbidden".
    error_of(
        server
            .get(&other, &format!("/sessions/{session_id}"))
            .send()
            .expect("get"),
        StatusCode::NOT_FOUND,
    );
    error_of(
        server
            .get(&other, &format!("/examples/{example_id}"))
            .send()
            .expect("get"),
        StatusCode::NOT_FOUND,
    );
    error_of(
        server
            .get(&other, &format!("/examples/{example_id}/messages"))
            .send()
            .expect("get"),
        StatusCode::NOT_FOUND,
    );
    for list in [
        "/sessions",
        "/examples",
        &format!("/examples?session_id={session_id}"),
    ] {
        let page = json_of(
            server.get(&other, list).send().expect("list"),
            StatusCode::OK,
        );
        assert_eq!(page["total"], 0, "{list}: {page}");
        assert_eq!(page["items"], json!([]));
    }
    let models = json_of(
        server.get(&other, "/models").send().expect("models"),
        StatusCode::OK,
    );
    let model_id = models["items"][0]["id"]
        .as_str()
        .expect("a model")
        .to_owned();
    let stolen = server
        .post(&other, "/examples")
        .json(&json!({ "session_id": session_id, "model_id": model_id }));
    error_of(stolen.send().expect("post"), StatusCode::NOT_FOUND);
    // Catalog reads are for everyone, writes for administrators.
    json_of(
        server
            .get(&other, &format!("/suites/{suite}"))
            .send()
            .expect("suite"),
        StatusCode::OK,
    );
    let write = server
        .post(&other, "/suites")
        .json(&json!({ "name": "x", "display_name": "X", "actions": [] }));
    error_of(write.send().expect("post"), StatusCode::FORBIDDEN);

    // The administrator can ask for another Example of its session.
    let again = json_of(
        server
            .post(&admin, "/examples")
            .json(&json!({ "session_id": session_id, "model_id": model_id, "model_configuration": { "min_confidence": 0.5 } }))
            .send()
            .expect("post"),
        StatusCode::CREATED,
    );
    assert_eq!(again["status"], "PENDING");
    let done = poll_example(&server, &admin, again["id"].as_str().expect("id"));
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(
        done["model_configuration"],
        json!({ "min_confidence": 0.5 })
    );

    // An Example whose normalised session has gone from the store fails, says
    // what to do, and has no messages to download.
    target.remove_object(&format!("sessions/{session_id}/session.avro"));
    let doomed = json_of(
        server
            .post(&admin, "/examples")
            .json(&json!({ "session_id": session_id, "model_id": model_id }))
            .send()
            .expect("post"),
        StatusCode::CREATED,
    );
    let doomed_id = doomed["id"].as_str().expect("id");
    let failed = poll_example(&server, &admin, doomed_id);
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["error"]["code"], "session_missing", "{failed}");
    let advice = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(advice.contains("again"), "actionable: {failed}");
    let response = server.get(&admin, &format!("/examples/{doomed_id}/messages"));
    let error = error_of(response.send().expect("messages"), StatusCode::CONFLICT);
    assert_eq!(error["code"], "example_failed");
    let failures = json_of(
        server
            .get(&admin, "/examples?status=FAILED")
            .send()
            .expect("list"),
        StatusCode::OK,
    );
    assert_eq!(failures["total"], 1);

    // Keys: a second key, listed masked; revoking the first locks it out.
    let second = json_of(
        server
            .post(&other, "/api-keys")
            .json(&json!({ "name": "laptop" }))
            .send()
            .expect("key"),
        StatusCode::CREATED,
    );
    let second_key = second["key"].as_str().expect("key").to_owned();
    let keys = json_of(
        server.get(&second_key, "/api-keys").send().expect("keys"),
        StatusCode::OK,
    );
    assert_eq!(keys["total"], 2);
    let listed = keys.to_string();
    assert!(
        !listed.contains(&other) && !listed.contains(&second_key),
        "keys are listed masked: {listed}"
    );
    let first_id = created["api_key"]["id"].as_str().expect("id");
    let revoked = server
        .client
        .delete(format!("{}/api-keys/{first_id}", server.base))
        .header("X-API-Key", &second_key)
        .send()
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    // Only live keys are listed.
    let keys = json_of(
        server.get(&second_key, "/api-keys").send().expect("keys"),
        StatusCode::OK,
    );
    assert_eq!(keys["total"], 1, "{keys}");
    error_of(
        server.get(&other, "/users/me").send().expect("me"),
        StatusCode::UNAUTHORIZED,
    );
    json_of(
        server.get(&second_key, "/users/me").send().expect("me"),
        StatusCode::OK,
    );
    // Another user's key cannot be revoked, and says "no such key".
    let admin_keys = json_of(
        server.get(&admin, "/api-keys").send().expect("keys"),
        StatusCode::OK,
    );
    let admin_key_id = admin_keys["items"][0]["id"].as_str().expect("id");
    let response = server
        .client
        .delete(format!("{}/api-keys/{admin_key_id}", server.base))
        .header("X-API-Key", &second_key);
    error_of(response.send().expect("revoke"), StatusCode::NOT_FOUND);
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A trace recorded without the capture script: a page load, two inputs
/// without targets and a request, and no `tracepipe:` mark.
pub fn trace_without_marks() -> Vec<u8> {
    let url = "http://localhost:8765/#inbox";
    let events = json!({"traceEvents": [
        {"args": {"frame": "F1", "data": {"documentLoaderURL": url, "isLoadingMainFrame": true}},
         "cat": "blink.user_timing", "name": "navigationStart", "ph": "R", "pid": 2, "tid": 1, "ts": 1_000},
        {"args": {"data": {"type": "click"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "dur": 3, "pid": 2, "tid": 1, "ts": 2_000},
        {"args": {"data": {"type": "keydown"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "dur": 3, "pid": 2, "tid": 1, "ts": 3_000},
        {"args": {"data": {"requestId": "2.1", "url": "http://localhost:8765/api/messages", "requestMethod": "GET"}},
         "cat": "devtools.timeline", "name": "ResourceSendRequest", "ph": "I", "pid": 2, "tid": 1, "ts": 3_100}
    ]});
    serde_json::to_vec(&events).expect("JSON")
}

/// A recording made without the capture script is stored, and its Session
/// says so (`capture: "none"`), in the answer and when read back.
pub fn a_recording_without_the_script_is_a_session_that_says_so(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let suite = server.gmail(&key);
    let mut session = json_of(
        server.upload(&key, &suite, "plain.json", trace_without_marks()),
        StatusCode::CREATED,
    );
    let session_id = session["id"].as_str().expect("session id").to_owned();
    if target.reads_uploads_later() {
        assert_eq!(session["capture"], "pending", "{session}");
        assert_eq!(session["event_count"], 0, "{session}");
        let example = poll_example(&server, &key, &auto_example(&server, &key, &session_id));
        assert_eq!(example["status"], "COMPLETED", "{example}");
        session["capture"] = "none".into();
        session["event_count"] = 4.into();
    } else {
        assert_eq!(session["capture"], "none", "{session}");
        assert_eq!(session["event_count"], 4, "{session}");
    }
    let fetched = json_of(
        server
            .get(&key, &format!("/sessions/{session_id}"))
            .send()
            .expect("get"),
        StatusCode::OK,
    );
    assert_eq!(fetched, session);
}

pub fn bad_uploads_are_refused_with_a_json_error_that_names_the_problem(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let suite = server.gmail(&key);

    let too_big = vec![b' '; usize::try_from(MAX_UPLOAD).expect("fits") + 1024];
    let error = error_of(
        server.upload(&key, &suite, "big.json", too_big),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert_eq!(error["field"], "input_events");

    // Expands past the decompressed cap: a compression bomb.
    let bomb = gzip(&vec![
        b' ';
        usize::try_from(MAX_DECOMPRESSED).expect("fits")
            + (1 << 20)
    ]);
    assert!((bomb.len() as u64) < MAX_UPLOAD);
    error_of(
        server.upload(&key, &suite, "bomb.json.gz", bomb),
        StatusCode::PAYLOAD_TOO_LARGE,
    );

    let error = error_of(
        server.upload(
            &key,
            &suite,
            "notes.txt",
            b"hello, this is not a trace".to_vec(),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(error["code"], "unknown_format");
    assert_eq!(error["field"], "input_events");

    let broken = server.upload(
        &key,
        &suite,
        "broken.json",
        br#"{"traceEvents": [{"name": "x", "ph": "I", "ts": 1,"#.to_vec(),
    );
    // Sessions the refusals below leave: none, but for a recording read after
    // the answer, whose Example fails instead.
    let mut accepted = 0;
    if target.reads_uploads_later() {
        // Its first bytes are a trace's: what is wrong is found in reading.
        let session = json_of(broken, StatusCode::CREATED);
        let session_id = session["id"].as_str().expect("session id");
        let example = poll_example(&server, &key, &auto_example(&server, &key, session_id));
        assert_eq!(example["status"], "FAILED", "{example}");
        assert!(
            example["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("byte")),
            "says where: {example}"
        );
        accepted = 1;
    } else {
        let error = error_of(broken, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            error["at"].as_str().is_some_and(|a| a.starts_with("byte")),
            "says where: {error}"
        );
    }

    let error = error_of(
        server.upload(
            &key,
            &suite,
            "corrupt.json.gz",
            vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6],
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(error["code"], "bad_gzip");

    let unknown = "00000000-0000-0000-0000-000000000000";
    let error = error_of(
        server.upload(&key, unknown, "t.json", b"[]".to_vec()),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(error["field"], "suite_id");
    // A suite is named by its id or its name: the name is taken, and the
    // file is what is wrong.
    let error = error_of(
        server.upload(&key, "gmail", "t.json", b"[]".to_vec()),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(error["code"], "not_a_recording", "{error}");
    let error = error_of(
        server.upload(&key, "no-such-suite", "t.json", b"[]".to_vec()),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(
        (error["code"].as_str(), error["field"].as_str()),
        (Some("unknown_suite"), Some("suite_id"))
    );

    let no_file = multipart::Form::new().text("suite_id", suite.clone());
    let error = error_of(
        server
            .post(&key, "/sessions")
            .multipart(no_file)
            .send()
            .expect("post"),
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(error["field"], "input_events");
    let not_multipart = server
        .post(&key, "/sessions")
        .json(&json!({ "suite_id": suite }));
    error_of(
        not_multipart.send().expect("post"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );

    // Nothing of the refused uploads is left behind.
    let sessions = json_of(
        server.get(&key, "/sessions").send().expect("list"),
        StatusCode::OK,
    );
    assert_eq!(sessions["total"], accepted);
    // A recording that could not be read is not kept either.
    let stored = target.stored_uploads();
    assert!(stored.is_empty(), "left behind: {stored:?}");

    // Bad query parameters are 400s with JSON bodies, too.
    error_of(
        server
            .get(&key, "/sessions?per_page=101")
            .send()
            .expect("list"),
        StatusCode::BAD_REQUEST,
    );
    error_of(
        server.get(&key, "/sessions?page=0").send().expect("list"),
        StatusCode::BAD_REQUEST,
    );
    error_of(
        server
            .get(&key, "/examples?status=DONE")
            .send()
            .expect("list"),
        StatusCode::BAD_REQUEST,
    );
    // A malformed id is a validation error (the spec's 422), naming the field.
    let malformed = error_of(
        server
            .get(&key, "/sessions/not-a-uuid")
            .send()
            .expect("get"),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(
        (malformed["code"].as_str(), malformed["field"].as_str()),
        (Some("validation_error"), Some("session_id"))
    );
    error_of(
        server.get(&key, "/no-such-route").send().expect("get"),
        StatusCode::NOT_FOUND,
    );
}

pub fn catalog_writes_and_keys_survive_a_restart(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let suite = server.gmail(&key);

    let action = json!({
        "name": "archive_email",
        "description": "Archive a message.",
        "template": "Archive the email {message_id}",
        "parameters": [{ "name": "message_id", "type": "STRING", "required": true }],
    });
    let created = json_of(
        server
            .post(&key, &format!("/suites/{suite}/actions"))
            .json(&action)
            .send()
            .expect("post"),
        StatusCode::CREATED,
    );
    let action_id = created["id"].as_str().expect("id").to_owned();
    let duplicate = server
        .post(&key, &format!("/suites/{suite}/actions"))
        .json(&action)
        .send()
        .expect("post");
    error_of(duplicate, StatusCode::CONFLICT);
    // A template naming an undeclared parameter is refused, with the reason.
    let bad = json!({ "name": "bad_action", "template": "Do {nothing}" });
    let error = error_of(
        server
            .post(&key, &format!("/suites/{suite}/actions"))
            .json(&bad)
            .send()
            .expect("post"),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing")),
        "{error}"
    );
    // An action the classifier rules use cannot be deleted.
    let suite_body = json_of(
        server
            .get(&key, &format!("/suites/{suite}"))
            .send()
            .expect("suite"),
        StatusCode::OK,
    );
    let send_email = suite_body["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "send_email"))
        .and_then(|x| x["id"].as_str())
        .expect("send_email")
        .to_owned();
    let response = server
        .client
        .delete(format!(
            "{}/suites/{suite}/actions/{send_email}",
            server.base
        ))
        .header("X-API-Key", &key);
    error_of(response.send().expect("delete"), StatusCode::CONFLICT);
    let again = target.restart();
    assert!(
        again.admin_key.is_none(),
        "the administrator is created once"
    );
    let fetched = json_of(
        again
            .get(&key, &format!("/suites/{suite}/actions/{action_id}"))
            .send()
            .expect("get"),
        StatusCode::OK,
    );
    assert_eq!(fetched, created);
    let response = again
        .client
        .delete(format!("{}/suites/{suite}/actions/{action_id}", again.base))
        .header("X-API-Key", &key);
    assert_eq!(
        response.send().expect("delete").status(),
        StatusCode::NO_CONTENT
    );
    error_of(
        again
            .get(&key, &format!("/suites/{suite}/actions/{action_id}"))
            .send()
            .expect("get"),
        StatusCode::NOT_FOUND,
    );
}

pub fn every_documented_operation_is_routed(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let doc = json_of(
        server
            .client
            .get(format!("{}/openapi.json", server.base))
            .send()
            .expect("openapi"),
        StatusCode::OK,
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["ApiKey"]["name"],
        "X-API-Key"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "00000000-0000-4000-8000-000000000000"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("path item").keys() {
            let url = format!("{}{concrete}", server.base);
            let request = match method.as_str() {
                "get" => server.client.get(url),
                "post" => server.client.post(url),
                "put" => server.client.put(url),
                "delete" => server.client.delete(url),
                other => panic!("unexpected method {other}"),
            };
            let response = request.header("X-API-Key", &key).send().expect("request");
            let status = response.status();
            let body: Value = response.json().unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(
                body["error"]["code"], "no_route",
                "{method} {path} is documented but not routed"
            );
            assert!(
                status.is_client_error() || status.is_success(),
                "{method} {path}: {status} {body}"
            );
            let documented = item[method]["responses"].as_object().expect("responses");
            assert!(
                documented.contains_key(status.as_str()),
                "{method} {path}: {status} is not documented"
            );
            operations += 1;
        }
    }
    assert!(operations >= 35, "{operations} operations documented");
}

/// Issue #21: a client retrying an upload with the same `Idempotency-Key`
/// (after a 503 or a timeout) gets the Session its first attempt made.
pub fn retries_with_one_idempotency_key_make_one_session(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let gmail = server.gmail(&key);
    let (_, first_file, _) = fixtures().into_iter().next().expect("a fixture");
    let recording = std::fs::read(&first_file).expect("fixture");
    let upload = |idempotency_key: &str, bytes: Vec<u8>| {
        let form = multipart::Form::new()
            .text("suite_id", gmail.clone())
            .text("description", "retried")
            .part(
                "input_events",
                multipart::Part::bytes(bytes).file_name("session.trace.json.gz"),
            );
        server
            .post(&key, "/sessions")
            .header("Idempotency-Key", idempotency_key)
            .multipart(form)
            .send()
            .expect("upload")
    };

    let first = json_of(upload("retry-1", recording.clone()), StatusCode::CREATED);
    for _ in 0..2 {
        let again = json_of(upload("retry-1", recording.clone()), StatusCode::OK);
        assert_eq!(again, first, "a retry answers the first attempt's Session");
    }
    let sessions = json_of(
        server.get(&key, "/sessions").send().expect("list"),
        StatusCode::OK,
    );
    assert_eq!(sessions["total"], 1, "{sessions}");
    let id = first["id"].as_str().expect("id");
    let examples = json_of(
        server
            .get(&key, &format!("/examples?session_id={id}"))
            .send()
            .expect("examples"),
        StatusCode::OK,
    );
    assert_eq!(examples["total"], 1, "one Example queued: {examples}");

    let mut other = recording.clone();
    other.extend_from_slice(b"\n");
    let reused = error_of(upload("retry-1", other), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused["code"], "idempotency_key_reused", "{reused}");
    assert!(
        reused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("retry-1"),
        "{reused}"
    );
    let fresh = json_of(upload("retry-2", recording.clone()), StatusCode::CREATED);
    assert_ne!(fresh["id"], first["id"]);
    // Refused before the body is read: a small one, which the client has
    // finished sending by then.
    drop(recording);
    let invalid = error_of(upload("has space", b"[]".to_vec()), StatusCode::BAD_REQUEST);
    assert_eq!(invalid["code"], "invalid_idempotency_key", "{invalid}");
}

/// Issue #13: the review routes. A session's timeline pages through every
/// event once, its screenshots are JPEGs, an Example's actions are its tool
/// calls, another user sees none of it, and a screenshot name cannot leave
/// the session's folder.
pub fn a_session_can_be_reviewed_through_events_screenshots_and_actions(target: &mut dyn Target) {
    let server = target.api();
    let admin = server.admin_key();
    let suite = server.gmail(&admin);
    let fixture =
        std::fs::read(repo().join("tests/fixtures/recordings/create_label.trace.json.gz"))
            .expect("fixture");
    // The fixture's screenshots show test accounts only: kept although the
    // trace carries no privacy marks.
    let form = multipart::Form::new()
        .text("suite_id", suite.clone())
        .text("screenshots_safe", "true")
        .part(
            "input_events",
            multipart::Part::bytes(fixture).file_name("create_label.trace.json.gz"),
        );
    let session = json_of(
        server
            .post(&admin, "/sessions")
            .multipart(form)
            .send()
            .expect("upload"),
        StatusCode::CREATED,
    );
    let session_id = session["id"].as_str().expect("id").to_owned();
    let example_id = auto_example(&server, &admin, &session_id);
    let example = poll_example(&server, &admin, &example_id);
    assert_eq!(example["status"], "COMPLETED", "{example}");

    // The timeline, 7 events a page, covers the session once, in time order.
    let mut indices = Vec::new();
    let mut times = Vec::new();
    let mut path = format!("/sessions/{session_id}/events?limit=7");
    let total = loop {
        let page = json_of(
            server.get(&admin, &path).send().expect("events"),
            StatusCode::OK,
        );
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 7, "a page holds at most its limit");
        for event in items {
            indices.push(event["index"].as_u64().expect("index"));
            times.push(event["t_ms"].as_f64().expect("t_ms"));
            assert!(event["kind"].is_string(), "{event}");
            if event["masked"] == true {
                assert!(event.get("value").is_none(), "masked value shown: {event}");
            }
        }
        match page["next_cursor"].as_u64() {
            Some(next) => path = format!("/sessions/{session_id}/events?limit=7&cursor={next}"),
            None => break page["total"].as_u64().expect("total"),
        }
    };
    assert!(
        total > 7,
        "the fixture has several pages of events: {total}"
    );
    assert_eq!(indices, (0..total).collect::<Vec<_>>());
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    // `after_ms` starts at the first event at or after that time.
    let middle = times[times.len() / 2];
    let page = json_of(
        server
            .get(
                &admin,
                &format!("/sessions/{session_id}/events?after_ms={middle}&limit=1"),
            )
            .send()
            .expect("events after"),
        StatusCode::OK,
    );
    let first = times
        .iter()
        .position(|&t| t >= middle)
        .expect("a later event");
    assert_eq!(page["items"][0]["index"], first as u64);
    let error = error_of(
        server
            .get(
                &admin,
                &format!("/sessions/{session_id}/events?limit=100000"),
            )
            .send()
            .expect("too large a page"),
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(error["field"], "limit");

    // Screenshots: listed with times, each a JPEG.
    let shots = json_of(
        server
            .get(&admin, &format!("/sessions/{session_id}/screenshots"))
            .send()
            .expect("screenshots"),
        StatusCode::OK,
    );
    let items = shots["items"].as_array().expect("items");
    assert!(!items.is_empty(), "the trace carries screenshots: {shots}");
    let shot = &items[0];
    assert!(shot["t_ms"].is_number());
    let url = shot["url"].as_str().expect("url");
    let shot_path = url.strip_prefix("/v1").expect("a /v1 path");
    let response = server.get(&admin, shot_path).send().expect("jpeg");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "image/jpeg"
    );
    let jpeg = response.bytes().expect("bytes");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
    assert_eq!(jpeg.len() as u64, shot["bytes"].as_u64().expect("bytes"));

    // Names that would leave the screenshots folder are refused.
    for bad in ["..%2Fsession.avro", "..", ".hidden", "a%5Cb.jpg"] {
        let response = server
            .get(&admin, &format!("/sessions/{session_id}/screenshots/{bad}"))
            .send()
            .expect("traversal");
        let status = response.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{bad}: {status}"
        );
        assert_ne!(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"image/jpeg"[..]),
            "{bad}"
        );
    }
    let error = error_of(
        server
            .get(
                &admin,
                &format!("/sessions/{session_id}/screenshots/..%2Fsession.avro"),
            )
            .send()
            .expect("traversal"),
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(error["code"], "invalid_screenshot_name");

    // The actions are the Example's tool calls, in order, with evidence.
    let actions = json_of(
        server
            .get(&admin, &format!("/examples/{example_id}/actions"))
            .send()
            .expect("actions"),
        StatusCode::OK,
    );
    let messages = server
        .get(&admin, &format!("/examples/{example_id}/messages"))
        .send()
        .expect("messages")
        .text()
        .expect("text");
    let listed: Vec<(String, Value)> = actions["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let start = a["evidence_start"].as_u64().expect("evidence start");
            let end = a["evidence_end"].as_u64().expect("evidence end");
            assert!(start <= end && end < total, "evidence in the timeline: {a}");
            assert!(a["confidence"].is_number() && a["low_confidence"].is_boolean());
            (
                a["tool"].as_str().expect("tool").to_owned(),
                a["arguments"].clone(),
            )
        })
        .collect();
    assert!(!listed.is_empty(), "create_label has actions");
    assert_eq!(listed, tool_calls(&messages));
    assert_eq!(actions["session_id"], session_id.as_str());

    // Another user sees none of it.
    let created = json_of(
        server
            .post(&admin, "/users")
            .json(&json!({ "display_name": "Other" }))
            .send()
            .expect("create user"),
        StatusCode::CREATED,
    );
    let other = created["api_key"]["key"].as_str().expect("key").to_owned();
    for path in [
        format!("/sessions/{session_id}/events"),
        format!("/sessions/{session_id}/screenshots"),
        shot_path.to_owned(),
        format!("/examples/{example_id}/actions"),
    ] {
        let error = error_of(
            server.get(&other, &path).send().expect("other user"),
            StatusCode::NOT_FOUND,
        );
        assert_eq!(error["code"], "not_found", "{path}");
    }
}

/// Issue #12: an API key restricted to suites uploads to and reads only
/// those suites; it cannot make a key for more of them.
pub fn a_key_restricted_to_suites_sees_only_them(target: &mut dyn Target) {
    let server = target.api();
    let admin = server.admin_key();
    let gmail = server.gmail(&admin);
    let created = json_of(
        server
            .post(&admin, "/api-keys")
            .json(&json!({ "name": "gmail only", "suite_ids": ["gmail"] }))
            .send()
            .expect("create a scoped key"),
        StatusCode::CREATED,
    );
    assert_eq!(created["suite_ids"], json!([gmail]), "{created}");
    let scoped = created["key"].as_str().expect("key").to_owned();
    let listed = json_of(
        server.get(&admin, "/api-keys").send().expect("keys"),
        StatusCode::OK,
    );
    let entry = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| k["id"] == created["id"])
        .expect("the scoped key is listed")
        .clone();
    assert_eq!(entry["suite_ids"], json!([gmail]));
    assert!(listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|k| k["suite_ids"].is_null()));

    // Unknown suites are refused by name.
    let refused = error_of(
        server
            .post(&admin, "/api-keys")
            .json(&json!({ "suite_ids": ["no-such-suite"] }))
            .send()
            .expect("create"),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(refused["code"], "unknown_suite", "{refused}");

    // The scoped key uploads to its suite and lists it.
    let fixture =
        std::fs::read(repo().join("tests/fixtures/recordings/create_label.trace.json.gz"))
            .expect("fixture");
    let session = json_of(
        server.upload(&scoped, "gmail", "create_label.trace.json.gz", fixture),
        StatusCode::CREATED,
    );
    let session_id = session["id"].as_str().expect("id");
    let sessions = json_of(
        server.get(&scoped, "/sessions").send().expect("list"),
        StatusCode::OK,
    );
    assert_eq!(sessions["total"], 1, "{sessions}");

    // A suite outside the key: refused for an upload, a list and a new key.
    let other_suite = json_of(
        server
            .post(&admin, "/suites")
            .json(&json!({ "name": "notes", "display_name": "Notes", "actions": [] }))
            .send()
            .expect("create a suite"),
        StatusCode::CREATED,
    );
    let other = other_suite["id"].as_str().expect("suite id");
    let refused = error_of(
        server.upload(&scoped, "notes", "t.jsonl", b"{}\n".to_vec()),
        StatusCode::FORBIDDEN,
    );
    assert_eq!(refused["code"], "key_not_for_suite", "{refused}");
    let refused = error_of(
        server
            .get(&scoped, &format!("/sessions?suite_id={other}"))
            .send()
            .expect("list"),
        StatusCode::FORBIDDEN,
    );
    assert_eq!(refused["code"], "key_not_for_suite", "{refused}");
    let wider = error_of(
        server
            .post(&scoped, "/api-keys")
            .json(&json!({ "suite_ids": ["gmail", other] }))
            .send()
            .expect("create"),
        StatusCode::FORBIDDEN,
    );
    assert_eq!(wider["code"], "key_not_for_suite", "{wider}");
    // A key made with the scoped key is scoped the same.
    let made = json_of(
        server
            .post(&scoped, "/api-keys")
            .json(&json!({ "name": "made by the scoped key" }))
            .send()
            .expect("create"),
        StatusCode::CREATED,
    );
    assert_eq!(made["suite_ids"], json!([gmail]), "{made}");
    // The same user's unrestricted key sees the session too.
    json_of(
        server
            .get(&admin, &format!("/sessions/{session_id}"))
            .send()
            .expect("get"),
        StatusCode::OK,
    );
}

/// What a review left behind for the checks only one deployment can make
/// (`tracepipe eval` on the label file, in serve's test).
pub struct Reviewed {
    /// The recording that was reviewed.
    pub fixture: PathBuf,
    /// The label file as downloaded, and the name it came with.
    pub labels: Value,
    pub file_name: String,
}

/// Issue #13: an Example's review. It starts as the classified actions; a
/// reviewer changes one argument (a change the tool's schema refuses is
/// refused, naming the argument), adds a missed action and completes it: the
/// Example is re-synthesised from the reviewed actions, flagged reviewed,
/// and its label file has the reviewed calls in time order. Low-confidence
/// actions head the queue; another user sees none of it.
pub fn an_example_is_reviewed_corrected_and_re_synthesised(target: &mut dyn Target) -> Reviewed {
    let server = target.api();
    let admin = server.admin_key();
    let suite = server.gmail(&admin);
    let fixture = repo().join("tests/fixtures/recordings/delete_message.trace.json.gz");
    let session = json_of(
        server.upload(
            &admin,
            &suite,
            "delete_message.trace.json.gz",
            std::fs::read(&fixture).expect("fixture"),
        ),
        StatusCode::CREATED,
    );
    let session_id = session["id"].as_str().expect("id").to_owned();
    let example_id = auto_example(&server, &admin, &session_id);
    assert_eq!(
        poll_example(&server, &admin, &example_id)["status"],
        "COMPLETED"
    );
    let review_path = format!("/examples/{example_id}/review");

    // Before anyone looks: the classified actions, pending, in time order.
    let actions = json_of(
        server
            .get(&admin, &format!("/examples/{example_id}/actions"))
            .send()
            .expect("actions"),
        StatusCode::OK,
    );
    let review = json_of(
        server.get(&admin, &review_path).send().expect("review"),
        StatusCode::OK,
    );
    assert_eq!(review["example_id"], example_id.as_str());
    assert_eq!(review["session_id"], session_id.as_str());
    assert_eq!(review["state"], "open");
    assert!(review["updated_at"].is_null(), "{review}");
    let items = review["items"].as_array().expect("items").clone();
    let classified = actions["actions"].as_array().expect("actions");
    assert_eq!(items.len(), classified.len());
    assert!(items.len() >= 2, "the fixture has two actions: {review}");
    for item in &items {
        let index = item["index"].as_u64().expect("index") as usize;
        let action = &classified[index];
        assert_eq!(
            (&item["tool"], &item["arguments"], &item["confidence"]),
            (&action["tool"], &action["arguments"], &action["confidence"])
        );
        assert_eq!(
            (&item["origin"], &item["decision"]),
            (&json!("classified"), &json!("pending"))
        );
        assert!(item["low_confidence"].is_boolean() && item["end_ms"].is_number());
    }
    let starts: Vec<f64> = items
        .iter()
        .map(|i| i["start_ms"].as_f64().expect("start_ms"))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "time order");

    // The queue: this Example's actions, low-confidence first, then the
    // least confident.
    let queue = json_of(
        server
            .get(&admin, "/review-queue?limit=200")
            .send()
            .expect("queue"),
        StatusCode::OK,
    );
    let entries = queue["data"].as_array().expect("data");
    let ours = entries
        .iter()
        .filter(|e| e["example_id"] == example_id.as_str())
        .count();
    assert_eq!(ours, items.len(), "{queue}");
    // (0 for low-confidence, 1 otherwise; the confidence): never decreasing.
    let keys: Vec<(u8, f64)> = entries
        .iter()
        .map(|e| {
            (
                u8::from(!e["low_confidence"].as_bool().expect("low_confidence")),
                e["confidence"].as_f64().unwrap_or(f64::MAX),
            )
        })
        .collect();
    assert!(
        keys.windows(2)
            .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 <= w[1].1)),
        "low-confidence first, then the least confident: {queue}"
    );
    let paged = json_of(
        server
            .get(&admin, "/review-queue?limit=1")
            .send()
            .expect("queue"),
        StatusCode::OK,
    );
    assert_eq!(paged["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(paged["next_cursor"], 1, "{paged}");

    // The first action is read_email: a wrong id is corrected; a value its
    // schema refuses, and a tool the map does not call, are refused.
    let first = &items[0];
    assert_eq!(first["tool"], "read_email", "{first}");
    let item_path = format!("{review_path}/items/{}", first["index"]);
    let put = |body: Value| {
        server
            .client
            .put(format!("{}{item_path}", server.base))
            .header("X-API-Key", &admin)
            .json(&body)
            .send()
            .expect("put item")
    };
    let refused = error_of(
        put(json!({"decision": "changed", "arguments": {"messageId": 5}})),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(
        (&refused["code"], &refused["field"]),
        (&json!("validation_error"), &json!("arguments/messageId")),
        "{refused}"
    );
    let refused = error_of(
        put(json!({"decision": "changed", "tool": "no_such_tool"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(refused["field"], "tool", "{refused}");
    let corrected_id = "18c2f0a1b2ffffff";
    let changed = json_of(
        put(json!({"decision": "changed", "arguments": {"messageId": corrected_id}})),
        StatusCode::OK,
    );
    assert_eq!(
        (
            &changed["decision"],
            &changed["arguments"],
            &changed["index"]
        ),
        (
            &json!("changed"),
            &json!({"messageId": corrected_id}),
            &first["index"]
        )
    );
    let confirmed = server
        .client
        .put(format!(
            "{}{review_path}/items/{}",
            server.base, items[1]["index"]
        ))
        .header("X-API-Key", &admin)
        .json(&json!({"decision": "confirmed"}))
        .send()
        .expect("confirm");
    assert_eq!(json_of(confirmed, StatusCode::OK)["decision"], "confirmed");
    let missing = error_of(
        server
            .client
            .put(format!("{}{review_path}/items/999", server.base))
            .header("X-API-Key", &admin)
            .json(&json!({"decision": "confirmed"}))
            .send()
            .expect("no such item"),
        StatusCode::NOT_FOUND,
    );
    assert_eq!(missing["field"], "index");

    // A missed label listing between the two actions.
    assert!(
        starts[0] < starts[1],
        "two actions at two times: {starts:?}"
    );
    let between = (starts[0] + starts[1]) / 2.0;
    let added = json_of(
        server
            .post(&admin, &format!("{review_path}/items"))
            .json(&json!({
                "tool": "list_email_labels",
                "arguments": {},
                "start_ms": between,
                "end_ms": between,
            }))
            .send()
            .expect("add"),
        StatusCode::CREATED,
    );
    assert_eq!(
        (&added["origin"], &added["index"], &added["action"]),
        (&json!("added"), &json!(items.len()), &json!("list_labels")),
        "{added}"
    );
    let backwards = error_of(
        server
            .post(&admin, &format!("{review_path}/items"))
            .json(
                &json!({"tool": "list_email_labels", "arguments": {}, "start_ms": 5, "end_ms": 1}),
            )
            .send()
            .expect("add"),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(backwards["field"], "end_ms");

    // Another user sees none of it.
    let created = json_of(
        server
            .post(&admin, "/users")
            .json(&json!({ "display_name": "Reviewer elsewhere" }))
            .send()
            .expect("create user"),
        StatusCode::CREATED,
    );
    let other = created["api_key"]["key"].as_str().expect("key").to_owned();
    for path in [review_path.clone(), format!("{review_path}/labels")] {
        error_of(
            server.get(&other, &path).send().expect("other"),
            StatusCode::NOT_FOUND,
        );
    }
    error_of(
        server
            .post(&other, &format!("{review_path}/complete"))
            .send()
            .expect("other"),
        StatusCode::NOT_FOUND,
    );
    let theirs = json_of(
        server.get(&other, "/review-queue").send().expect("queue"),
        StatusCode::OK,
    );
    assert_eq!(theirs["data"], json!([]), "{theirs}");

    // The review now: decided, the added action in its place.
    let review = json_of(
        server.get(&admin, &review_path).send().expect("review"),
        StatusCode::OK,
    );
    assert!(review["updated_at"].is_string(), "{review}");
    let tools: Vec<&str> = review["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["tool"].as_str().expect("tool"))
        .collect();
    assert_eq!(
        tools,
        vec!["read_email", "list_email_labels", "delete_email"]
    );

    // The label file: the reviewed calls in time order, as an attachment.
    let response = server
        .get(&admin, &format!("{review_path}/labels"))
        .send()
        .expect("labels");
    let disposition = response.headers()[reqwest::header::CONTENT_DISPOSITION]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"delete_message.expected.json\""
    );
    let labels = json_of(response, StatusCode::OK);
    let expected_calls = json!([
        {"name": "read_email", "arguments": {"messageId": corrected_id}},
        {"name": "list_email_labels", "arguments": {}},
        {"name": "delete_email", "arguments": items[1]["arguments"]},
    ]);
    assert_eq!(labels["tool_calls"], expected_calls, "{labels}");
    assert_eq!(
        (&labels["scenario"], &labels["suite"]),
        (&json!("delete_message"), &json!("gmail"))
    );

    // Completing it re-synthesises the Example from the reviewed actions.
    let done = json_of(
        server
            .post(&admin, &format!("{review_path}/complete"))
            .send()
            .expect("complete"),
        StatusCode::OK,
    );
    assert_eq!(
        (&done["reviewed"], &done["tool_calls"]),
        (&json!(true), &json!(3)),
        "{done}"
    );
    let messages = server
        .get(&admin, &format!("/examples/{example_id}/messages"))
        .send()
        .expect("messages")
        .text()
        .expect("text");
    let calls: Vec<Value> = tool_calls(&messages)
        .into_iter()
        .map(|(name, arguments)| json!({"name": name, "arguments": arguments}))
        .collect();
    assert_eq!(Value::Array(calls), expected_calls, "{messages}");
    let actions = json_of(
        server
            .get(&admin, &format!("/examples/{example_id}/actions"))
            .send()
            .expect("actions"),
        StatusCode::OK,
    );
    assert_eq!(
        actions["actions"].as_array().map(Vec::len),
        Some(3),
        "{actions}"
    );
    for (flag, listed) in [(true, true), (false, false)] {
        let list = json_of(
            server
                .get(
                    &admin,
                    &format!("/examples?reviewed={flag}&session_id={session_id}"),
                )
                .send()
                .expect("list"),
            StatusCode::OK,
        );
        assert_eq!(list["total"] == 1, listed, "reviewed={flag}: {list}");
    }
    // A completed review no longer changes, and leaves the queue.
    let again = error_of(
        server
            .post(&admin, &format!("{review_path}/complete"))
            .send()
            .expect("complete again"),
        StatusCode::CONFLICT,
    );
    assert_eq!(again["code"], "review_completed");
    error_of(put(json!({"decision": "deleted"})), StatusCode::CONFLICT);
    let queue = json_of(
        server
            .get(&admin, "/review-queue?limit=200")
            .send()
            .expect("queue"),
        StatusCode::OK,
    );
    assert!(
        queue["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|e| e["example_id"] != example_id.as_str()),
        "{queue}"
    );
    let review = json_of(
        server.get(&admin, &review_path).send().expect("review"),
        StatusCode::OK,
    );
    assert_eq!(review["state"], "completed");

    Reviewed {
        fixture,
        labels,
        file_name: "delete_message.expected.json".into(),
    }
}

/// Issue #13: the daily usage series has every day of the range, today's
/// uploads counted, and refuses a range too long or backwards.
pub fn daily_usage_covers_every_day_of_the_range(target: &mut dyn Target) {
    let server = target.api();
    let admin = server.admin_key();
    let suite = server.gmail(&admin);
    let fixture =
        std::fs::read(repo().join("tests/fixtures/recordings/create_label.trace.json.gz"))
            .expect("fixture");
    let session = json_of(
        server.upload(&admin, &suite, "create_label.trace.json.gz", fixture),
        StatusCode::CREATED,
    );
    let example_id = auto_example(&server, &admin, session["id"].as_str().expect("id"));
    poll_example(&server, &admin, &example_id);
    let today = session["created_at"].as_str().expect("created_at")[..10].to_owned();
    let daily = json_of(
        server.get(&admin, "/usage/daily").send().expect("daily"),
        StatusCode::OK,
    );
    let days = daily["days"].as_array().expect("days");
    assert_eq!(days.len(), 30, "the last 30 days by default: {daily}");
    assert_eq!(daily["to"], today.as_str());
    let last = days.last().expect("today");
    assert_eq!(last["date"], today.as_str());
    assert!(last["sessions"].as_i64().expect("sessions") >= 1, "{last}");
    assert!(last["examples"].as_i64().expect("examples") >= 1, "{last}");
    assert!(last["storage_bytes"].as_i64().expect("bytes") > 0, "{last}");
    assert!(days.iter().all(|d| d["tokens"].is_i64()));
    let dates: Vec<&str> = days
        .iter()
        .map(|d| d["date"].as_str().expect("date"))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "in order: {dates:?}");

    let one = json_of(
        server
            .get(&admin, &format!("/usage/daily?from={today}&to={today}"))
            .send()
            .expect("daily"),
        StatusCode::OK,
    );
    assert_eq!(one["days"].as_array().map(Vec::len), Some(1), "{one}");
    for (query, code) in [
        ("from=2020-01-01&to=2026-01-01", "range_too_long"),
        ("from=2026-02-01&to=2026-01-01", "invalid_query"),
    ] {
        let error = error_of(
            server
                .get(&admin, &format!("/usage/daily?{query}"))
                .send()
                .expect("daily"),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(error["code"], code, "{query}");
    }
}

/// Held out of the demonstrations `POST /suites/{id}/learn` is given (as in
/// tests/learn_cli.rs): each of their tools is demonstrated by other
/// recordings, and two have no call at all.
pub const LEARN_HELD_OUT: [&str; 7] = [
    "read_and_scroll",
    "send_simple",
    "search_operator",
    "list_labels",
    "pasted_text",
    "compose_discard",
    "account_secrets",
];

/// `(F1, exact-match)` of `tracepipe eval --json` over `scenarios`.
fn eval_scores(catalog: &Path, suite: Option<&str>, scenarios: &Path) -> (f64, f64) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracepipe"));
    command
        .args(["eval", "--json"])
        .arg("--catalog")
        .arg(catalog);
    if let Some(suite) = suite {
        command.args(["--suite", suite]);
    }
    let out = command
        .arg(scenarios)
        .output()
        .expect("tracepipe eval runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "eval failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("eval --json: {e}:\n{text}"));
    let score = |name: &str| report["overall"][name].as_f64().expect("a score");
    (score("f1"), score("exact"))
}

/// The Gmail recordings uploaded and their Examples reviewed (each review
/// checked against the recording's labels, then completed), a suite learned
/// from them through the API, and `tracepipe eval` of the files it wrote on
/// the held-out recordings and the second client's, against the hand-written
/// suite.
pub fn a_suite_is_learned_from_reviewed_sessions_and_evaluated(target: &mut dyn Target) {
    let server = target.api();
    let admin = server.admin_key();
    let gmail = server.gmail(&admin);
    let fixtures = repo().join("tests/fixtures/recordings");
    let work = tempfile::tempdir().expect("a temp dir");
    let held = work.path().join("held");
    std::fs::create_dir_all(&held).expect("mkdir");
    let mut demos: Vec<(String, String)> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .expect("the fixtures")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter_map(|n| n.strip_suffix(".trace.json.gz").map(str::to_owned))
        .collect();
    names.sort();
    for scenario in names {
        if LEARN_HELD_OUT.contains(&scenario.as_str()) {
            for ext in ["trace.json.gz", "expected.json"] {
                let file = format!("{scenario}.{ext}");
                std::fs::copy(fixtures.join(&file), held.join(&file)).expect("copy");
            }
            continue;
        }
        let file = format!("{scenario}.trace.json.gz");
        let session = json_of(
            server.upload(
                &admin,
                &gmail,
                &file,
                std::fs::read(fixtures.join(&file)).expect("fixture"),
            ),
            StatusCode::CREATED,
        );
        let session_id = session["id"].as_str().expect("id").to_owned();
        demos.push((scenario, auto_example(&server, &admin, &session_id)));
    }
    for (scenario, example_id) in &demos {
        assert_eq!(
            poll_example(&server, &admin, example_id)["status"],
            "COMPLETED",
            "{scenario}"
        );
        let labels: Value = serde_json::from_slice(
            &std::fs::read(fixtures.join(format!("{scenario}.expected.json"))).expect("labels"),
        )
        .expect("JSON labels");
        let review = json_of(
            server
                .get(&admin, &format!("/examples/{example_id}/review"))
                .send()
                .expect("review"),
            StatusCode::OK,
        );
        let reviewed: Vec<Value> = review["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| json!({"name": i["tool"], "arguments": i["arguments"]}))
            .collect();
        assert_eq!(
            Value::Array(reviewed),
            labels["tool_calls"],
            "{scenario}: the review, confirmed as it is, is the recording's labels"
        );
        json_of(
            server
                .post(&admin, &format!("/examples/{example_id}/review/complete"))
                .send()
                .expect("complete"),
            StatusCode::OK,
        );
    }

    let learned = json_of(
        server
            .post(&admin, &format!("/suites/{gmail}/learn"))
            .json(&json!({"name": "gmail_learned"}))
            .send()
            .expect("learn"),
        StatusCode::CREATED,
    );
    assert_eq!(
        learned["report"]["demonstrations"],
        demos.len(),
        "{learned}"
    );
    assert_eq!(learned["suite"]["name"], "gmail_learned");
    // The suite is the catalog's now, for everyone to read.
    let suite = json_of(
        server
            .get(&admin, "/suites/gmail_learned")
            .send()
            .expect("suite"),
        StatusCode::OK,
    );
    assert_eq!(suite["id"], learned["suite"]["id"]);

    // The files as written, in a catalog folder with the imported server.
    let catalog = work.path().join("catalog");
    std::fs::create_dir_all(catalog.join("mcp-servers")).expect("mkdir");
    std::fs::copy(
        repo().join("catalog/mcp-servers/gmail.json"),
        catalog.join("mcp-servers/gmail.json"),
    )
    .expect("copy the server");
    for (path, contents) in learned["files"].as_object().expect("files") {
        let to = catalog.join(path);
        std::fs::create_dir_all(to.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&to, serde_json::to_vec_pretty(contents).expect("JSON")).expect("write");
    }
    let alt = repo().join("tests/fixtures/recordings-alt");
    for (name, scenarios) in [("held-out Gmail", held.as_path()), ("second client", &alt)] {
        let (learned_f1, learned_exact) = eval_scores(&catalog, Some("gmail_learned"), scenarios);
        let (hand_f1, hand_exact) = eval_scores(&repo().join("catalog"), None, scenarios);
        println!(
            "{name}: learned through the API F1 {learned_f1:.3} exact {learned_exact:.3}; hand-written F1 {hand_f1:.3} exact {hand_exact:.3}"
        );
        assert!(
            learned_f1 >= hand_f1 - 0.02,
            "{name}: learned F1 {learned_f1} is more than 0.02 below the hand-written {hand_f1}"
        );
    }
}
