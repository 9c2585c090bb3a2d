//! The harness the distributed suites share: the skip rule, one deployment of
//! `tracepipe gateway|processor|sink` with names of its own (topics, consumer
//! groups, PostgreSQL schema, bucket prefix), uploads, statuses and the
//! examples table as it lies in S3.

// Each suite is its own crate and uses only part of the harness.
#![allow(dead_code)]

pub mod cut_proxy;
pub mod exactly_once;

use std::collections::BTreeMap;
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

/// Whether the real services are configured. Skipped, with a printed reason,
/// when `TRACEPIPE_KAFKA_BOOTSTRAP` is not set and `CI` is not set; under CI a
/// missing service is a failure.
pub fn services_available() -> bool {
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

/// One test's deployment: its names, the settings every service of it gets,
/// and its child processes, which are killed on drop.
pub struct Deployment {
    pub name: String,
    env: Vec<(String, String)>,
    logs: PathBuf,
    children: BTreeMap<String, Child>,
    _dir: tempfile::TempDir,
}

impl Deployment {
    pub fn new(test: &str) -> Deployment {
        let dir = tempfile::tempdir().expect("tempdir");
        Deployment {
            name: format!("t{}_{}", std::process::id(), test),
            env: Vec::new(),
            logs: dir.path().to_owned(),
            children: BTreeMap::new(),
            _dir: dir,
        }
    }

    /// A setting for every service started from now on.
    pub fn with_env(mut self, key: &str, value: &str) -> Deployment {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts `service` as `label`; a restart appends to the same logs so a
    /// failure shows both runs.
    pub fn start(&mut self, label: &str, service: &str) {
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
            .env("TRACEPIPE_TOPICS_CATALOG", format!("{n}.catalog"))
            .env("TRACEPIPE_S3_PREFIX", n)
            .env("TRACEPIPE_DATABASE_SCHEMA", n)
            .env("TRACEPIPE_LISTEN", "127.0.0.1:0")
            // Several processors and sinks share this machine: each takes a free
            // port for its metrics listener.
            .env("TRACEPIPE_METRICS_LISTEN", "127.0.0.1:0")
            .env("TRACEPIPE_KAFKA_GROUP", format!("{n}-{service}"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(open("out")))
            .stderr(Stdio::from(open("err")))
            .spawn()
            .expect("starts tracepipe");
        self.children.insert(label.to_owned(), child);
    }

    /// The process id of a running service.
    pub fn pid(&self, label: &str) -> u32 {
        self.children.get(label).expect("running").id()
    }

    /// SIGKILL: no clean-up, no last commit.
    pub fn kill9(&mut self, label: &str) {
        if let Some(mut child) = self.children.remove(label) {
            child.kill().expect("kill -9");
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits, up to `bound`, for the exit status.
    pub fn sigterm(&mut self, label: &str, bound: Duration) -> ExitStatus {
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

    pub fn log(&self, label: &str, stream: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{label}.{stream}"))).unwrap_or_default()
    }

    /// The rest of the first line of `label`'s stdout after `prefix`, once
    /// printed.
    pub fn printed(&self, label: &str, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(rest) = self
                .log(label, "out")
                .lines()
                .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
            {
                return rest.trim().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{label} did not print `{prefix}`: {}",
                self.log(label, "err")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The gateway's URL and administrator key, once it printed them.
    pub fn gateway(&self) -> (String, String) {
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

    /// Every service's stderr, for a failing test's output.
    pub fn dump_logs(&self) {
        let mut errs: Vec<PathBuf> = std::fs::read_dir(&self.logs)
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        errs.retain(|p| p.extension().is_some_and(|x| x == "err"));
        errs.sort();
        for path in errs {
            let label = path.file_stem().unwrap_or_default().to_string_lossy();
            eprintln!(
                "--- {label}\n{}",
                std::fs::read_to_string(&path).unwrap_or_default()
            );
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

/// The committed recordings, in name order.
pub fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json.gz"))
        .collect();
    files.sort();
    files
}

/// Uploads a recording to the gateway; the new Session.
pub fn upload(url: &str, key: &str, file: &PathBuf) -> Value {
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
    let session: Value = response.json().expect("json");
    // Provenance: the uploaded file's name and the SHA-256 of its bytes.
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    assert_eq!(
        session["source_name"].as_str(),
        name.as_deref(),
        "{session}"
    );
    let sha256: String = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(std::fs::read(file).expect("the uploaded file"));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(
        session["source_sha256"].as_str(),
        Some(sha256.as_str()),
        "{session}"
    );
    session
}

/// The uploaded session's id.
pub fn upload_id(url: &str, key: &str, file: &PathBuf) -> String {
    upload(url, key, file)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Example status by session id.
pub fn statuses(url: &str, key: &str) -> BTreeMap<String, String> {
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

/// The test bucket (`TRACEPIPE_S3_BUCKET`, else `tracepipe`).
pub fn store() -> Arc<dyn ObjectStore> {
    let bucket = std::env::var("TRACEPIPE_S3_BUCKET").unwrap_or_else(|_| "tracepipe".into());
    let (store, _) = tracepipe_sinks::open_destination(&format!("s3://{bucket}")).expect("s3");
    store
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

/// (object keys, example ids of every row) of the examples table.
pub fn table_rows(store: &Arc<dyn ObjectStore>, prefix: &str) -> (Vec<String>, Vec<String>) {
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
                let column = batch
                    .column_by_name("example_id")
                    .expect("example_id column");
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
