//! `/metrics`, `/healthz` and `/readyz` of `tracepipe gateway`, `processor`
//! and `sink` against the real services (Kafka, S3, PostgreSQL).
//!
//! Skipped, with a printed reason, when `TRACEPIPE_KAFKA_BOOTSTRAP` is not set
//! and `CI` is not set; under CI a missing service is a failure. Uses its own
//! topics, consumer groups, PostgreSQL schema and bucket prefix.

mod common;

use common::{services_available, Deployment};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

const FIXTURES: [&str; 3] = ["send_simple", "create_label", "delete_label"];

/// The sum of `name`'s samples in a Prometheus text exposition whose labels
/// include every `label="value"` of `with`.
fn sum(text: &str, name: &str, with: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (n, labels) = series.split_once('{').unwrap_or((series, ""));
            n == name && with.iter().all(|w| labels.contains(w))
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

fn get(url: &str) -> (u16, String) {
    match reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
    {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Waits until `url`'s metrics satisfy `done`; returns the last scrape.
fn scrape_until(url: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, text) = get(&format!("{url}/metrics"));
        assert_eq!(status, 200, "{text}");
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what} never moved:\n{text}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn wait_ready(url: &str, service: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&format!("{url}/readyz"));
        if status == 200 {
            let body: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(body["ready"], true);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{service} never became ready: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn every_service_exports_its_metrics_and_becomes_ready() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("metrics");
    deployment.start("gateway", "gateway");
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    let api = deployment.printed("gateway", "tracepipe gateway: listening on ");
    let key = deployment
        .log("gateway", "out")
        .split_whitespace()
        .find(|w| w.starts_with("tp_live_"))
        .expect("the gateway prints the admin key")
        .to_owned();
    let gateway = api.trim_end_matches("/v1").to_owned();
    let processor = deployment
        .printed("processor", "tracepipe processor: metrics on ")
        .trim_end_matches("/metrics")
        .to_owned();
    let sink = deployment
        .printed("sink", "tracepipe sink: metrics on ")
        .trim_end_matches("/metrics")
        .to_owned();

    for (service, url) in [
        ("gateway", &gateway),
        ("processor", &processor),
        ("sink", &sink),
    ] {
        let (status, body) = get(&format!("{url}/healthz"));
        assert_eq!(status, 200, "{service}: {body}");
        wait_ready(url, service);
    }

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings");
    for scenario in FIXTURES {
        let form = reqwest::blocking::multipart::Form::new()
            .text("suite_id", "gmail")
            .file(
                "input_events",
                dir.join(format!("{scenario}.trace.json.gz")),
            )
            .expect("form");
        let response = reqwest::blocking::Client::new()
            .post(format!("{api}/sessions"))
            .header("X-API-Key", &key)
            .multipart(form)
            .send()
            .expect("upload");
        assert_eq!(response.status().as_u16(), 201);
    }
    let n = FIXTURES.len() as f64;

    let text = scrape_until(&gateway, "gateway status events", |t| {
        sum(
            t,
            "tracepipe_gateway_status_events_total",
            &["outcome=\"completed\""],
        ) >= n
    });
    assert_eq!(
        sum(
            &text,
            "tracepipe_gateway_requests_total",
            &[
                "route=\"/v1/sessions\"",
                "method=\"POST\"",
                "status=\"2xx\""
            ]
        ),
        n
    );
    assert!(
        sum(
            &text,
            "tracepipe_gateway_request_bytes_total",
            &["route=\"/v1/sessions\""]
        ) > 0.0
    );
    assert_eq!(
        sum(
            &text,
            "tracepipe_gateway_sessions_accepted_total",
            &["suite=\"gmail\""]
        ),
        n
    );
    assert_eq!(
        sum(
            &text,
            "tracepipe_gateway_request_duration_seconds_count",
            &["route=\"/v1/sessions\""]
        ),
        n
    );

    let text = scrape_until(&processor, "processor sessions", |t| {
        sum(
            t,
            "tracepipe_processor_sessions_processed_total",
            &["suite=\"gmail\"", "outcome=\"completed\""],
        ) >= n
    });
    assert_eq!(
        sum(&text, "tracepipe_processor_events_consumed_total", &[]),
        n
    );
    assert_eq!(
        sum(
            &text,
            "tracepipe_processor_classification_duration_seconds_count",
            &["suite=\"gmail\""]
        ),
        n
    );
    assert!(
        sum(
            &text,
            "tracepipe_processor_actions_total",
            &["suite=\"gmail\"", "action=\""]
        ) >= n
    );
    assert_eq!(
        sum(&text, "tracepipe_processor_dead_letters_total", &[]),
        0.0
    );
    assert!(
        text.contains("tracepipe_processor_assigned_partitions"),
        "{text}"
    );
    // librdkafka reports lag every 5 s; once it has, every partition is drained.
    let text = scrape_until(&processor, "processor consumer lag", |t| {
        t.contains("tracepipe_processor_consumer_lag_messages{")
    });
    assert_eq!(
        sum(&text, "tracepipe_processor_consumer_lag_messages", &[]),
        0.0,
        "{text}"
    );

    let text = scrape_until(&sink, "sink rows", |t| {
        sum(
            t,
            "tracepipe_sink_rows_written_total",
            &["table=\"examples\"", "format=\"parquet\""],
        ) >= n
    });
    assert_eq!(sum(&text, "tracepipe_sink_events_consumed_total", &[]), n);
    assert!(
        sum(
            &text,
            "tracepipe_sink_files_written_total",
            &["table=\"actions\""]
        ) >= 1.0
    );
    assert!(sum(&text, "tracepipe_sink_bytes_written_total", &[]) > 0.0);
    assert!(sum(&text, "tracepipe_sink_flush_duration_seconds_count", &[]) >= 1.0);
    assert!(
        sum(
            &text,
            "tracepipe_sink_offset_commits_total",
            &["outcome=\"committed\""]
        ) >= 1.0
    );
    assert!(
        sum(
            &text,
            "tracepipe_sink_rotations_total",
            &["reason=\"partition_end\""]
        ) >= 1.0
    );
    assert_eq!(sum(&text, "tracepipe_sink_commit_lag_records", &[]), 0.0);
    for (service, url) in [("processor", &processor), ("sink", &sink)] {
        let (status, body) = get(&format!("{url}/readyz"));
        assert_eq!(status, 200, "{service}: {body}");
    }
}
