//! `tracepipe serve` end to end: the real binary on a free port with a
//! temporary data directory, driven over HTTP like a client would, through
//! the API contract every deployment passes (tests/api_contract).

mod api_contract;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use api_contract::{repo, Api, Target, MAX_DECOMPRESSED, MAX_UPLOAD};

const STARTUP: Duration = Duration::from_secs(60);

/// A running server; killed when dropped.
struct Server {
    child: Child,
    api: Api,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--catalog")
            .arg(repo().join("catalog"))
            .env("TRACEPIPE_LIMITS_MAX_UPLOAD_BYTES", MAX_UPLOAD.to_string())
            .env(
                "TRACEPIPE_LIMITS_MAX_DECOMPRESSED_BYTES",
                MAX_DECOMPRESSED.to_string(),
            )
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
        Server {
            child,
            api: Api::new(base, admin_key),
        }
    }

    /// Stops with SIGTERM, as a service manager would, and waits.
    fn stop(&mut self) {
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

/// `tracepipe serve` on a data directory of its own.
struct Serve {
    dir: tempfile::TempDir,
    server: Server,
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(dir.path());
        Serve { dir, server }
    }
}

impl Target for Serve {
    fn api(&self) -> Api {
        self.server.api.clone()
    }

    fn restart(&mut self) -> Api {
        self.server.stop();
        self.server = Server::start(self.dir.path());
        self.server.api.clone()
    }

    fn stored_uploads(&self) -> Vec<String> {
        let mut stored = walk(&self.dir.path().join("objects/sessions"));
        stored.extend(walk(&self.dir.path().join("uploads")));
        stored.iter().map(|p| p.display().to_string()).collect()
    }

    fn remove_object(&self, key: &str) {
        std::fs::remove_file(self.dir.path().join("objects").join(key)).expect("remove the object");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn recorded_fixtures_become_the_expected_tool_calls() {
    let mut serve = Serve::start();
    api_contract::recorded_fixtures_become_the_expected_tool_calls(&mut serve);
    // The analyst tables are flushed (every second here, and at shutdown).
    serve.server.stop();
    let tables = serve.dir.path().join("objects/tables/examples/suite=gmail");
    let parquet = walk(&tables)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(parquet > 0, "no Parquet under {}", tables.display());
}

#[test]
fn users_see_only_their_own_data_and_revoked_keys_stop_working() {
    api_contract::users_see_only_their_own_data_and_revoked_keys_stop_working(&mut Serve::start());
}

#[test]
fn bad_uploads_are_refused_with_a_json_error_that_names_the_problem() {
    api_contract::bad_uploads_are_refused_with_a_json_error_that_names_the_problem(
        &mut Serve::start(),
    );
}

#[test]
fn catalog_writes_and_keys_survive_a_restart() {
    api_contract::catalog_writes_and_keys_survive_a_restart(&mut Serve::start());
}

#[test]
fn every_documented_operation_is_routed() {
    api_contract::every_documented_operation_is_routed(&mut Serve::start());
}

#[test]
fn retries_with_one_idempotency_key_make_one_session() {
    api_contract::retries_with_one_idempotency_key_make_one_session(&mut Serve::start());
}

#[test]
fn a_session_can_be_reviewed_through_events_screenshots_and_actions() {
    api_contract::a_session_can_be_reviewed_through_events_screenshots_and_actions(
        &mut Serve::start(),
    );
}

#[test]
fn a_key_restricted_to_suites_sees_only_them() {
    api_contract::a_key_restricted_to_suites_sees_only_them(&mut Serve::start());
}
