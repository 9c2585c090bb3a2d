//! Issue #21: Kafka outages seen from the gateway, against the real services
//! (same skip rule and per-test names as tests/distributed.rs).
//!
//! The outage test stops and starts the machine's Kafka broker
//! (`scripts/services/kafka.sh`), which every Kafka client on the machine
//! shares: the tests of this file run one at a time, the broker is down for
//! a few seconds only, and it is started again whatever the outcome.
//! The outage test ends with the exactly-once check of the other outage
//! suites (tests/common/exactly_once.rs): each acknowledged upload is one
//! COMPLETED Example in the Parquet, read directly and with DuckDB.

mod common;

use common::exactly_once::assert_exactly_once;
use common::{fixtures, services_available, statuses, upload_id, Deployment};

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client, Response};
use serde_json::Value;

/// The tests here share one broker that one of them stops.
static BROKER: Mutex<()> = Mutex::new(());

/// How long after the broker is back the uploads must be COMPLETED.
const RESUME_BOUND: Duration = Duration::from_secs(60);

fn one_at_a_time() -> MutexGuard<'static, ()> {
    BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn kafka_script(action: &str) {
    let status = Command::new("scripts/services/kafka.sh")
        .arg(action)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("runs scripts/services/kafka.sh");
    assert!(status.success(), "kafka.sh {action}: {status}");
}

/// Stops the broker; starts it again when dropped, so that a failing test
/// leaves Kafka running for the tests after it.
struct BrokerDown;

impl BrokerDown {
    fn stop() -> BrokerDown {
        kafka_script("stop");
        BrokerDown
    }

    fn start(self) {
        drop(self);
    }
}

impl Drop for BrokerDown {
    fn drop(&mut self) {
        kafka_script("start");
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn upload(url: &str, key: &str, file: &PathBuf, idempotency_key: Option<&str>) -> Response {
    let form = multipart::Form::new()
        .text("suite_id", "gmail")
        .file("input_events", file)
        .expect("form");
    let mut request = client()
        .post(format!("{url}/sessions"))
        .header("X-API-Key", key)
        .multipart(form);
    if let Some(k) = idempotency_key {
        request = request.header("Idempotency-Key", k);
    }
    request.send().expect("upload")
}

/// The gateway's `/readyz`: (ready, reason).
fn readiness(url: &str) -> (bool, String) {
    let base = url.trim_end_matches("/v1");
    match client().get(format!("{base}/readyz")).send() {
        Ok(r) => {
            let ready = r.status().is_success();
            let body: Value = r.json().unwrap_or_default();
            (
                ready,
                body["reason"].as_str().unwrap_or_default().to_owned(),
            )
        }
        Err(e) => (false, e.to_string()),
    }
}

/// A gauge or counter of the gateway's `/metrics` (without labels).
fn metric(url: &str, name: &str) -> Option<f64> {
    let base = url.trim_end_matches("/v1");
    let text = client()
        .get(format!("{base}/metrics"))
        .send()
        .and_then(|r| r.text())
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits until `session` is COMPLETED; how long that took, or None after
/// `bound`.
fn completed_within(url: &str, key: &str, session: &str, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < bound {
        if statuses(url, key).get(session).map(String::as_str) == Some("COMPLETED") {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn a_broker_outage_delays_uploads_but_loses_none_and_statuses_resume_within_seconds() {
    if !services_available() {
        return;
    }
    let _one = one_at_a_time();
    let mut deployment = Deployment::new("kafka_outage");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    let files = fixtures();
    // The whole path works before the outage.
    let before = upload_id(&url, &key, &files[0]);
    assert!(
        completed_within(&url, &key, &before, Duration::from_secs(120)).is_some(),
        "the first upload did not complete"
    );
    assert!(
        readiness(&url).0,
        "ready before the outage: {:?}",
        readiness(&url)
    );

    let outage = BrokerDown::stop();
    let stopped = Instant::now();
    // Acknowledged while Kafka is away: the session and its message are in
    // PostgreSQL (the outbox), not waiting on a broker.
    let sent = Instant::now();
    let response = upload(&url, &key, &files[1], None);
    let took = sent.elapsed();
    assert_eq!(response.status().as_u16(), 201, "{:?}", response.text());
    let during: Value = response.json().expect("json");
    let during = during["id"].as_str().expect("id").to_owned();
    eprintln!("upload with the broker down answered 201 in {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "an upload with Kafka down took {took:?}, more than the 5 s produce timeout"
    );
    // Not ready while Kafka does not answer (the probe runs every 5 s with a
    // 4 s timeout).
    let unready = loop {
        let (ready, reason) = readiness(&url);
        if !ready {
            break reason;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "/readyz still ready {:?} after the broker stopped",
            stopped.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "/readyz not ready {:?} after the broker stopped: {unready}",
        stopped.elapsed()
    );
    assert!(unready.contains("kafka"), "{unready}");
    assert_eq!(
        statuses(&url, &key).get(&during).map(String::as_str),
        Some("PENDING")
    );
    // The relay keeps retrying it: the age of the oldest waiting message
    // grows (the gauge is set at each attempt, every few seconds).
    loop {
        let oldest = metric(&url, "tracepipe_gateway_outbox_oldest_seconds").unwrap_or(0.0);
        if oldest > 0.5 {
            eprintln!("outbox_oldest_seconds {oldest} during the outage");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(25),
            "outbox_oldest_seconds still {oldest}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    outage.start();
    let back = Instant::now();
    eprintln!("broker down for {:?}", stopped.elapsed());

    // Uploaded right after the restart, with no service restarted. The
    // bound is generous: on a loaded machine the clients' reconnection and
    // the consumer group's rejoin take longer than on an idle one (the time
    // taken is printed below; the point is that it resumes by itself).
    let after = upload_id(&url, &key, &files[2]);
    let after_took = completed_within(&url, &key, &after, RESUME_BOUND);
    let during_took = completed_within(&url, &key, &during, RESUME_BOUND);
    eprintln!(
        "after the broker was back: the upload made then COMPLETED {after_took:?} after it; \
         the one made during the outage at {:?}",
        during_took.map(|_| back.elapsed())
    );
    if after_took.is_none() || during_took.is_none() {
        deployment.dump_logs();
    }
    assert!(
        after_took.is_some(),
        "the upload made after the restart was not COMPLETED within {RESUME_BOUND:?}: {:?}",
        statuses(&url, &key)
    );
    assert!(
        during_took.is_some(),
        "the upload made during the outage was not COMPLETED: {:?}",
        statuses(&url, &key)
    );
    let all = statuses(&url, &key);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all.values().all(|s| s == "COMPLETED"),
        "nothing left PENDING: {all:?}"
    );
    // Through the restart, the processor and the sink lost and duplicated
    // nothing: one COMPLETED Example per upload in the analyst table.
    let sessions: BTreeSet<String> = [before, during, after].into_iter().collect();
    assert_exactly_once(&deployment, &url, &key, &sessions);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !readiness(&url).0 {
        assert!(
            Instant::now() < deadline,
            "/readyz not ready again: {:?}",
            readiness(&url)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn retries_with_one_idempotency_key_make_one_session() {
    if !services_available() {
        return;
    }
    let _one = one_at_a_time();
    let mut deployment = Deployment::new("idempotency");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    let files = fixtures();

    let first = upload(&url, &key, &files[0], Some("retry-1"));
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().expect("json");
    for _ in 0..2 {
        let again = upload(&url, &key, &files[0], Some("retry-1"));
        assert_eq!(again.status().as_u16(), 200, "a retry answers 200");
        let again: Value = again.json().expect("json");
        assert_eq!(again, first, "the first attempt's Session and Example");
    }
    // Three at once with a new key: one Session between them.
    let racing: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let r = upload(&url, &key, &files[1], Some("retry-2"));
                    let status = r.status().as_u16();
                    (status, r.json::<Value>().expect("json"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("upload thread"))
            .collect()
    });
    let created = racing.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(
        created, 1,
        "one of three concurrent retries creates: {racing:?}"
    );
    assert!(racing.iter().all(|(s, _)| *s == 200 || *s == 201));
    assert!(
        racing
            .iter()
            .all(|(_, body)| body["id"] == racing[0].1["id"]),
        "{racing:?}"
    );
    let examples: Value = client()
        .get(format!("{url}/examples"))
        .header("X-API-Key", &key)
        .send()
        .and_then(|r| r.json())
        .expect("examples");
    assert_eq!(examples["total"], 2, "one Example per key: {examples}");

    let reused = upload(&url, &key, &files[1], Some("retry-1"));
    assert_eq!(reused.status().as_u16(), 422);
    let reused: Value = reused.json().expect("json");
    assert_eq!(
        reused["error"]["code"], "idempotency_key_reused",
        "{reused}"
    );
    // Refused before the body is read: a small one, which the client has
    // finished sending by then.
    let small = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(small.path(), b"[]").expect("write");
    let invalid = upload(&url, &key, &small.path().to_owned(), Some("has space"));
    assert_eq!(invalid.status().as_u16(), 400);
    let invalid: Value = invalid.json().expect("json");
    assert_eq!(invalid["error"]["code"], "invalid_idempotency_key");
    let fresh = upload(&url, &key, &files[0], None);
    assert_eq!(fresh.status().as_u16(), 201, "no key: a new Session");
}

/// Messages on every partition of `topic`: the sum of the high watermarks
/// (the producers are idempotent, not transactional, so every offset is a
/// message).
fn messages_on(topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let bootstrap = std::env::var("TRACEPIPE_KAFKA_BOOTSTRAP").expect("bootstrap");
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len();
    assert!(partitions > 0, "{topic} has partitions");
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, i32::try_from(p).expect("partition"), timeout)
                .expect("watermarks");
            high - low
        })
        .sum()
}

#[test]
fn two_gateways_share_the_outbox_and_publish_each_upload_once() {
    if !services_available() {
        return;
    }
    let _one = one_at_a_time();
    let mut deployment = Deployment::new("two_gateways");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    // The second gateway shares the first's PostgreSQL schema, outbox and
    // topics (the same deployment name), so both relays compete for every row.
    deployment.start("gateway2", "gateway");
    let url2 = deployment.printed("gateway2", "tracepipe gateway: listening on ");
    deployment.start("processor", "processor");
    let files: Vec<PathBuf> = fixtures().into_iter().take(6).collect();
    let sessions: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let target = if i % 2 == 0 { &url } else { &url2 };
                let key = &key;
                scope.spawn(move || upload_id(target, key, file))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("upload thread"))
            .collect()
    });
    for session in &sessions {
        if completed_within(&url, &key, session, Duration::from_secs(120)).is_none() {
            deployment.dump_logs();
            panic!("{session} was not COMPLETED: {:?}", statuses(&url, &key));
        }
    }
    let published = messages_on(&format!("{}.sessions", deployment.name));
    assert_eq!(
        published,
        i64::try_from(sessions.len()).expect("count"),
        "one SessionRef per upload on the sessions topic, though two relays read the outbox"
    );
    let relayed: f64 = [&url, &url2]
        .iter()
        .map(|u| metric(u, "tracepipe_gateway_outbox_published_total").unwrap_or(0.0))
        .sum();
    assert_eq!(relayed, published as f64, "the relays' own count");
}
