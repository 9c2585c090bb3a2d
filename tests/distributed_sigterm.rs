//! Issue #6: SIGTERM to the processor and the sink in the middle of a run
//! loses nothing and duplicates nothing. Runs against the real services as
//! tests/distributed.rs does (same skip rule, its own topics, consumer
//! groups, PostgreSQL schema and bucket prefix).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, StringArray};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
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

    /// Starts `service` as `label`; a restart appends to the same logs so a
    /// failure shows both runs.
    fn start(&mut self, label: &str, service: &str) {
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
            // Small files, so the SIGTERM finds an open file with rows in it.
            .env("TRACEPIPE_ROTATION_MAX_RECORDS", "3")
            .stdout(Stdio::from(open("out")))
            .stderr(Stdio::from(open("err")))
            .spawn()
            .expect("starts tracepipe");
        self.children.insert(label.to_owned(), child);
    }

    /// Sends SIGTERM and waits, up to `bound`, for the exit status.
    fn sigterm(&mut self, label: &str, bound: Duration) -> ExitStatus {
        let mut child = self.children.remove(label).expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM {label}");
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.dump_logs();
                panic!("{label} did not exit within {bound:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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

fn statuses(url: &str, key: &str) -> BTreeMap<String, String> {
    let body: Value = reqwest::blocking::Client::new()
        .get(format!("{url}/examples?per_page=100"))
        .header("X-API-Key", key)
        .send()
        .and_then(|r| r.json())
        .expect("list examples");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["session_id"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

/// (object keys, example ids of every row) of the examples table.
fn table_rows(store: &Arc<dyn ObjectStore>, prefix: &str) -> (Vec<String>, Vec<String>) {
    runtime().block_on(async {
        let root = Path::from(format!("{prefix}/tables/examples"));
        let objects: Vec<_> = store.list(Some(&root)).try_collect().await.expect("list");
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        for meta in objects {
            let bytes: Bytes = store
                .get(&meta.location)
                .await
                .expect("get")
                .bytes()
                .await
                .expect("bytes");
            keys.push(meta.location.to_string());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .expect("parquet")
                .build()
                .expect("reader");
            for batch in reader {
                let batch = batch.expect("batch");
                let column = batch.column_by_name("example_id").expect("example_id");
                let strings = column
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("strings");
                ids.extend((0..strings.len()).map(|i| strings.value(i).to_owned()));
            }
        }
        (keys, ids)
    })
}

fn completed(url: &str, key: &str, sessions: &BTreeSet<String>) -> usize {
    let status = statuses(url, key);
    sessions
        .iter()
        .filter(|s| status.get(*s).map(String::as_str) == Some("COMPLETED"))
        .count()
}

#[test]
fn sigterm_of_processor_and_sink_mid_run_loses_nothing_and_duplicates_nothing() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("sigterm");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    // Uploads go on in the background, so the SIGTERM lands while sessions
    // are still arriving, being processed and being written.
    let uploader = {
        let (url, key) = (url.clone(), key.clone());
        std::thread::spawn(move || {
            fixtures()
                .iter()
                .map(|file| upload(&url, &key, file))
                .collect::<BTreeSet<String>>()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while statuses(&url, &key).values().all(|s| s != "COMPLETED") {
        assert!(Instant::now() < deadline, "nothing completed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let done_before = statuses(&url, &key)
        .values()
        .filter(|s| *s == "COMPLETED")
        .count();
    for label in ["processor", "sink"] {
        let status = deployment.sigterm(label, Duration::from_secs(30));
        assert!(
            status.success(),
            "{label} exits 0 on SIGTERM: {status}\n{}",
            deployment.log(label, "err")
        );
    }
    let sessions = uploader.join().expect("uploads");
    eprintln!("SIGTERM with {done_before}/{} COMPLETED", sessions.len());
    assert!(
        done_before < sessions.len(),
        "the SIGTERM came after the run, not in the middle of it"
    );
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");

    let store = {
        let bucket = std::env::var("TRACEPIPE_S3_BUCKET").unwrap_or_else(|_| "tracepipe".into());
        tracepipe_sinks::open_destination(&format!("s3://{bucket}"))
            .expect("s3")
            .0
    };
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let done = completed(&url, &key, &sessions);
        let (keys, ids) = table_rows(&store, &deployment.name);
        let distinct: BTreeSet<&String> = ids.iter().collect();
        if done == sessions.len() && distinct.len() == sessions.len() {
            // Let a straggling duplicate show up if there is one.
            std::thread::sleep(Duration::from_secs(3));
            let (keys, ids) = table_rows(&store, &deployment.name);
            let distinct: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(ids.len(), sessions.len(), "one row per Example: {keys:?}");
            assert_eq!(distinct.len(), sessions.len());
            let names: BTreeSet<&str> = keys
                .iter()
                .map(|k| k.rsplit('/').next().unwrap_or(k))
                .collect();
            assert_eq!(
                names.len(),
                keys.len(),
                "no duplicate object names: {keys:?}"
            );
            return;
        }
        if Instant::now() > deadline {
            deployment.dump_logs();
            panic!(
                "timed out: {done}/{} COMPLETED, {} rows ({} distinct) in {keys:?}",
                sessions.len(),
                ids.len(),
                distinct.len()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
