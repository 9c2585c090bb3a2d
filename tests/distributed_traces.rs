//! Issue #6: the gateway's, the processor's and the sink's spans of one
//! session share one trace id, exported over OTLP/HTTP to a receiver inside
//! the test. Runs against the real services as tests/distributed.rs does
//! (same skip rule, its own topics, groups, schema and bucket prefix).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use serde_json::Value;

fn services_available() -> bool {
    if std::env::var_os("TRACEPIPE_KAFKA_BOOTSTRAP").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but TRACEPIPE_KAFKA_BOOTSTRAP is not: run scripts/run-distributed-tests.sh"
    );
    eprintln!(
        "skipped: TRACEPIPE_KAFKA_BOOTSTRAP is not set (scripts/run-distributed-tests.sh starts the services)"
    );
    false
}

/// One test's deployment: its names and its child processes.
struct Deployment {
    name: String,
    logs: PathBuf,
    children: BTreeMap<String, Child>,
    _dir: tempfile::TempDir,
}

impl Deployment {
    fn new(test: &str) -> Deployment {
        let dir = tempfile::tempdir().expect("tempdir");
        Deployment {
            name: format!("t{}_{}", std::process::id(), test),
            logs: dir.path().to_owned(),
            children: BTreeMap::new(),
            _dir: dir,
        }
    }

    /// Starts `service` as `label`, exporting its spans to `otlp`.
    fn start(&mut self, label: &str, service: &str, otlp: &str) {
        let open = |stream: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.logs.join(format!("{label}.{stream}")))
                .expect("log")
        };
        let n = &self.name;
        let child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .arg(service)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TRACEPIPE_TOPICS_SESSIONS", format!("{n}.sessions"))
            .env("TRACEPIPE_TOPICS_EXAMPLES", format!("{n}.examples"))
            .env("TRACEPIPE_TOPICS_DEAD_LETTER", format!("{n}.dead-letter"))
            .env("TRACEPIPE_TOPICS_STATUS", format!("{n}.status"))
            .env("TRACEPIPE_S3_PREFIX", n)
            .env("TRACEPIPE_DATABASE_SCHEMA", n)
            .env("TRACEPIPE_LISTEN", "127.0.0.1:0")
            // Any free port: processor and sink would both default to 9090.
            .env("TRACEPIPE_METRICS_LISTEN", "127.0.0.1:0")
            .env("TRACEPIPE_KAFKA_GROUP", format!("{n}-{service}"))
            .env("TRACEPIPE_OTLP_ENDPOINT", otlp)
            // Export within half a second rather than the default five.
            .env("OTEL_BSP_SCHEDULE_DELAY", "500")
            .stdout(Stdio::from(open("out")))
            .stderr(Stdio::from(open("err")))
            .spawn()
            .expect("starts tracepipe");
        self.children.insert(label.to_owned(), child);
    }

    fn log(&self, label: &str, stream: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{label}.{stream}"))).unwrap_or_default()
    }

    /// The gateway's URL and administrator key, once it printed them.
    fn gateway(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.log("gateway", "out");
            let url = out
                .lines()
                .find_map(|l| l.strip_prefix("tracepipe gateway: listening on "));
            let key = out.split_whitespace().find(|w| w.starts_with("tp_live_"));
            if let (Some(url), Some(key)) = (url, key) {
                return (url.to_owned(), key.to_owned());
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not start: {}",
                self.log("gateway", "err")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn dump_logs(&self) {
        for label in ["gateway", "processor", "sink"] {
            eprintln!("--- {label}\n{}", self.log(label, "err"));
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json.gz"))
        .collect();
    files.sort();
    files
}

fn upload(url: &str, key: &str, file: &PathBuf) -> String {
    let form = reqwest::blocking::multipart::Form::new()
        .text("suite_id", "gmail")
        .file("input_events", file)
        .expect("form");
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/sessions"))
        .header("X-API-Key", key)
        .multipart(form)
        .send()
        .expect("upload");
    assert_eq!(
        response.status().as_u16(),
        201,
        "{}",
        response.text().unwrap_or_default()
    );
    let body: Value = response.json().expect("json");
    body["id"].as_str().expect("id").to_owned()
}

/// A received span: (service.name, trace id, span name, session id).
type Received = (String, Vec<u8>, String, String);

fn string_attribute(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| match &v.value {
            Some(AnyValue::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Serves one connection's POST /v1/traces requests (keep-alive) until the
/// client closes it, answering each with an empty 200.
fn serve(stream: TcpStream, spans: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        assert!(
            request_line.starts_with("POST /v1/traces "),
            "unexpected request {request_line}"
        );
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
        let mut received = spans.lock().expect("lock");
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .map(|r| string_attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push((
                        service.clone(),
                        span.trace_id,
                        span.name,
                        string_attribute(&span.attributes, "tracepipe.session_id"),
                    ));
                }
            }
        }
        drop(received);
        writer.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )?;
    }
}

/// Starts the receiver; returns its base URL and the spans it collects.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let spans = Arc::new(Mutex::new(Vec::new()));
    let shared = spans.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let shared = shared.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve(stream, &shared) {
                    eprintln!("receiver: {e}");
                }
            });
        }
    });
    (url, spans)
}

#[test]
fn one_session_is_one_trace_across_gateway_processor_and_sink() {
    if !services_available() {
        return;
    }
    let (otlp, spans) = receiver();
    let mut deployment = Deployment::new("traces");
    deployment.start("gateway", "gateway", &otlp);
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor", &otlp);
    deployment.start("sink", "sink", &otlp);
    let file = fixtures().into_iter().next().expect("a fixture");
    let session = upload(&url, &key, &file);

    let wanted = ["tracepipe-gateway", "tracepipe-processor", "tracepipe-sink"];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let received = spans.lock().expect("lock").clone();
        let ours: Vec<&Received> = received.iter().filter(|s| s.3 == session).collect();
        let services: BTreeSet<&str> = ours.iter().map(|s| s.0.as_str()).collect();
        if wanted.iter().all(|w| services.contains(w)) {
            eprintln!("spans of {session}: {ours:?}");
            let traces: BTreeSet<&Vec<u8>> = ours.iter().map(|s| &s.1).collect();
            assert_eq!(traces.len(), 1, "one trace id for the session: {ours:?}");
            let names: BTreeSet<&str> = ours.iter().map(|s| s.2.as_str()).collect();
            for name in [
                "gateway.upload",
                "processor.process_session",
                "sink.write_example",
            ] {
                assert!(names.contains(name), "span {name} in {names:?}");
            }
            return;
        }
        if Instant::now() > deadline {
            deployment.dump_logs();
            panic!("spans of {session} from {services:?} only; all received: {received:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
