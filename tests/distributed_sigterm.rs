//! Issue #6: SIGTERM to the processor and the sink in the middle of a run
//! loses nothing and duplicates nothing. Runs against the real services as
//! tests/distributed.rs does (same skip rule, its own topics, consumer
//! groups, PostgreSQL schema and bucket prefix).

mod common;

use common::{fixtures, services_available, statuses, store, table_rows, upload_id, Deployment};

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
    // Small files, so the SIGTERM finds an open file with rows in it.
    let mut deployment = Deployment::new("sigterm").with_env("TRACEPIPE_ROTATION_MAX_RECORDS", "3");
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
                .map(|file| upload_id(&url, &key, file))
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

    let store = store();
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
