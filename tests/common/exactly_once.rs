//! The exactly-once check of the distributed suites: every uploaded session
//! COMPLETED and in the examples table once, by reading the Parquet objects
//! and again with DuckDB.

use std::collections::BTreeSet;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

use super::{runtime, statuses, store, table_rows, Deployment};

/// Copies the examples table's objects to `dir`, keeping their paths below
/// the table root (the `suite=…/date=…` directories DuckDB reads as columns).
fn download_table(store: &Arc<dyn ObjectStore>, prefix: &str, dir: &FsPath) {
    runtime().block_on(async {
        let root = Path::from(format!("{prefix}/tables/examples"));
        let objects: Vec<_> = store.list(Some(&root)).try_collect().await.expect("list");
        assert!(!objects.is_empty(), "no table objects under {root}");
        for meta in objects {
            let relative = meta
                .location
                .prefix_match(&root)
                .expect("listed under the root")
                .map(|part| part.as_ref().to_owned())
                .collect::<PathBuf>();
            let target = dir.join(relative);
            std::fs::create_dir_all(target.parent().expect("a file in a directory"))
                .expect("mkdir");
            let bytes = store
                .get(&meta.location)
                .await
                .expect("get")
                .bytes()
                .await
                .expect("bytes");
            std::fs::write(&target, &bytes).expect("write");
        }
    })
}

/// The Python environment scripts/setup-python.sh builds (with duckdb).
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TRACEPIPE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("TRACEPIPE_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tracepipe")
                });
            cache.join("venv")
        });
    venv.join("bin/python")
}

/// What DuckDB reads from the examples table as the bucket holds it.
const DUCKDB_QUERY: &str = r#"
import duckdb, json, sys
table = "read_parquet('" + sys.argv[1].replace("'", "''") + "', hive_partitioning = true)"
con = duckdb.connect()
[(rows, example_ids)] = con.execute(f"SELECT count(*), count(DISTINCT example_id) FROM {table}").fetchall()
sessions = [r[0] for r in con.execute(f"SELECT DISTINCT session_id FROM {table} ORDER BY 1").fetchall()]
statuses = [r[0] for r in con.execute(f"SELECT DISTINCT status FROM {table} ORDER BY 1").fetchall()]
print(json.dumps({"rows": rows, "example_ids": example_ids, "sessions": sessions, "statuses": statuses}))
"#;

/// The exactly-once check again, by DuckDB over the Parquet in the bucket:
/// one row per uploaded session, every row COMPLETED. DuckDB cannot fetch its
/// httpfs extension offline, so it reads a downloaded copy of the objects.
fn assert_exactly_once_in_duckdb(prefix: &str, sessions: &BTreeSet<String>) {
    let python = venv_python();
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {} is missing: run scripts/setup-python.sh",
            python.display()
        );
        eprintln!(
            "DuckDB check skipped: {} is missing (scripts/setup-python.sh builds it)",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    download_table(&store(), prefix, dir.path());
    let pattern = format!("{}/**/*.parquet", dir.path().display());
    let output = Command::new(&python)
        .args(["-c", DUCKDB_QUERY, &pattern])
        .output()
        .expect("runs the venv python");
    assert!(
        output.status.success(),
        "DuckDB query failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("DuckDB's JSON");
    let read: BTreeSet<String> = result["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s.as_str().expect("session id").to_owned())
        .collect();
    eprintln!(
        "DuckDB over {pattern}: {} rows, {} Examples, {} sessions, statuses {}",
        result["rows"],
        result["example_ids"],
        read.len(),
        result["statuses"]
    );
    assert_eq!(
        result["rows"],
        sessions.len(),
        "DuckDB: one row per session: {result}"
    );
    assert_eq!(
        result["example_ids"],
        sessions.len(),
        "DuckDB: distinct Examples: {result}"
    );
    assert_eq!(&read, sessions, "DuckDB: the uploaded sessions, no other");
    assert_eq!(
        result["statuses"],
        serde_json::json!(["COMPLETED"]),
        "DuckDB: {result}"
    );
}

/// Waits until every session is COMPLETED and the table holds every Example,
/// then checks each is there exactly once: by listing and reading the objects,
/// then with DuckDB.
pub fn assert_exactly_once(
    deployment: &Deployment,
    url: &str,
    key: &str,
    sessions: &BTreeSet<String>,
) {
    let store = store();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let status = statuses(url, key);
        let completed = sessions
            .iter()
            .filter(|s| status.get(*s).map(String::as_str) == Some("COMPLETED"))
            .count();
        let (keys, ids) = table_rows(&store, &deployment.name);
        let distinct: BTreeSet<&String> = ids.iter().collect();
        if completed == sessions.len() && distinct.len() == sessions.len() {
            // Let a straggling duplicate show up if there is one.
            std::thread::sleep(Duration::from_secs(3));
            let (keys, ids) = table_rows(&store, &deployment.name);
            let distinct: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(
                ids.len(),
                sessions.len(),
                "one row per Example, no duplicates: {keys:?}"
            );
            assert_eq!(distinct.len(), sessions.len());
            for k in &keys {
                assert!(
                    k.contains(&format!("part-{}.examples-", deployment.name)),
                    "named by topic/partition/offset: {k}"
                );
            }
            assert_exactly_once_in_duckdb(&deployment.name, sessions);
            return;
        }
        if Instant::now() > deadline {
            deployment.dump_logs();
            panic!(
                "timed out: {completed}/{} COMPLETED, {} rows ({} distinct) in {keys:?}",
                sessions.len(),
                ids.len(),
                distinct.len()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
