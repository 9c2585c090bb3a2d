//! `tracepipe serve`'s `/metrics`, `/healthz` and `/readyz`: the real binary
//! on a free port with a temporary data directory. Scrapes before and after
//! two uploads and checks that the counters a dashboard relies on moved.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use reqwest::StatusCode;
use serde_json::Value;

const STARTUP: Duration = Duration::from_secs(60);
const PROCESSING: Duration = Duration::from_secs(180);
const FIXTURES: [&str; 2] = ["send_simple", "create_label"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`, without `/v1`.
    root: String,
    key: String,
    client: Client,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--catalog")
            .arg(repo().join("catalog"))
            .env("TRACEPIPE_TABLES_FLUSH_INTERVAL_SECS", "1")
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
        let mut key = None;
        let root = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the server prints its URL");
            if let Some(k) = line.split_whitespace().find(|w| w.starts_with("tp_live_")) {
                key = Some(k.to_owned());
            }
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().trim_end_matches("/v1").to_owned();
            }
        };
        Server {
            child,
            root,
            key: key.expect("the first start prints the admin key"),
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    fn api(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/v1{path}", self.root))
            .header("X-API-Key", &self.key)
            .send()
            .expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().expect("JSON")
    }

    fn scrape(&self) -> Metrics {
        let response = self
            .client
            .get(format!("{}/metrics", self.root))
            .send()
            .expect("scrape");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Metrics::parse(&response.text().expect("body"))
    }

    fn probe(&self, path: &str) -> Result<(StatusCode, Value), reqwest::Error> {
        let response = self.client.get(format!("{}{path}", self.root)).send()?;
        let status = response.status();
        Ok((status, response.json()?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// The samples of a Prometheus text exposition.
struct Metrics(Vec<Sample>);

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().expect("a number");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label=value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), Vec::new()),
            };
            samples.push((name, labels, value));
        }
        Metrics(samples)
    }

    /// The sum of `name`'s samples whose labels include every one of `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && with
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    /// The values label `label` takes among `name`'s samples.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .filter_map(|(_, labels, _)| {
                labels
                    .iter()
                    .find(|(k, _)| k == label)
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }
}

#[test]
fn metrics_move_with_uploads_and_readiness_ends_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(dir.path());

    let (status, body) = server.probe("/healthz").expect("healthz");
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.probe("/readyz").expect("readyz");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ready"], true);

    let suites = server.api("/suites");
    let suite = suites["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["name"] == "gmail"))
        .and_then(|s| s["id"].as_str())
        .expect("the gmail suite is in the catalog")
        .to_owned();

    let before = server.scrape();
    assert_eq!(
        before.sum("tracepipe_build_info", &[("component", "serve")]),
        1.0
    );
    let upload_route = [("route", "/v1/sessions"), ("method", "POST")];
    let mut sent = 0.0;
    let mut examples = Vec::new();
    for scenario in FIXTURES {
        let name = format!("{scenario}.trace.json.gz");
        let bytes =
            std::fs::read(repo().join("tests/fixtures/recordings").join(&name)).expect("fixture");
        sent += bytes.len() as f64;
        let form = multipart::Form::new().text("suite_id", suite.clone()).part(
            "input_events",
            multipart::Part::bytes(bytes).file_name(name),
        );
        let response = server
            .client
            .post(format!("{}/v1/sessions", server.root))
            .header("X-API-Key", &server.key)
            .multipart(form)
            .send()
            .expect("upload");
        assert_eq!(response.status(), StatusCode::CREATED);
        let session: Value = response.json().expect("JSON");
        let session_id = session["id"].as_str().expect("session id").to_owned();
        let list = server.api(&format!("/examples?session_id={session_id}"));
        examples.push(list["items"][0]["id"].as_str().expect("example").to_owned());
    }
    // A refused request, counted by its code.
    let refused = server
        .client
        .get(format!("{}/v1/users/me", server.root))
        .send()
        .expect("GET");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    for example in &examples {
        let deadline = Instant::now() + PROCESSING;
        loop {
            let got = server.api(&format!("/examples/{example}"));
            match got["status"].as_str() {
                Some("COMPLETED") => break,
                Some("FAILED") => panic!("example failed: {got}"),
                _ if Instant::now() > deadline => panic!("not processed in time: {got}"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    // The table sink flushes every second; wait for the rows to be counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let after = server.scrape();
        let rows = after.sum(
            "tracepipe_serve_rows_written_total",
            &[("table", "examples")],
        );
        if rows >= 2.0 || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(250));
    };

    let moved = |name: &str, with: &[(&str, &str)]| after.sum(name, with) - before.sum(name, with);
    assert_eq!(
        moved(
            "tracepipe_serve_requests_total",
            &[upload_route[0], upload_route[1], ("status", "2xx")]
        ),
        2.0
    );
    assert!(
        moved(
            "tracepipe_serve_request_bytes_total",
            &[("route", "/v1/sessions")]
        ) > sent,
        "the multipart bodies carry the recordings"
    );
    assert_eq!(
        moved(
            "tracepipe_serve_request_duration_seconds_count",
            &upload_route
        ),
        2.0
    );
    assert_eq!(
        moved(
            "tracepipe_serve_rejections_total",
            &[("reason", "unauthorized")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "tracepipe_serve_requests_total",
            &[("route", "/v1/users/me"), ("status", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "tracepipe_serve_sessions_processed_total",
            &[("suite", "gmail"), ("outcome", "completed")]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "tracepipe_serve_classification_duration_seconds_count",
            &[("suite", "gmail")]
        ),
        2.0
    );
    assert!(moved("tracepipe_serve_actions_total", &[("suite", "gmail")]) >= 2.0);
    let actions = after.label_values("tracepipe_serve_actions_total", "action");
    assert!(
        !actions.is_empty() && actions.iter().all(|a| !a.is_empty()),
        "actions are labelled by action: {actions:?}"
    );
    assert_eq!(
        moved(
            "tracepipe_serve_rows_written_total",
            &[("table", "examples"), ("format", "parquet")]
        ),
        2.0
    );
    assert!(moved("tracepipe_serve_files_written_total", &[]) >= 1.0);
    // No label may carry an id: every label value is short and id-free.
    for (name, labels, _) in &after.0 {
        for (key, value) in labels {
            assert!(
                uuid_like(value).is_none() && !value.contains("tp_live_"),
                "{name}{{{key}={value}}} carries an id"
            );
        }
    }

    // SIGTERM: readiness must stop answering 200 (or the server is gone).
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            assert!(status.success(), "a clean exit after SIGTERM: {status}");
            break;
        }
        match server.probe("/readyz") {
            Ok((StatusCode::OK, _)) => {}
            // 503 with a reason, or the listener already closed.
            Ok((status, body)) => {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                assert!(body["reason"].is_string(), "{body}");
            }
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "no clean exit within 30s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = server
        .probe("/readyz")
        .map_or((StatusCode::SERVICE_UNAVAILABLE, Value::Null), |answer| {
            answer
        });
    assert_ne!(status, StatusCode::OK, "{body}");
}

/// The position of something shaped like a UUID in `text`.
fn uuid_like(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(35)).find(|&i| {
        bytes[i..i + 36].iter().enumerate().all(|(j, b)| match j {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
    })
}
