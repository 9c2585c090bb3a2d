//! Outages of the distributed deployment, on the real services (issue #18):
//! with no processor running uploads are still acknowledged and the backlog
//! drains when one starts; with S3 unreachable uploads are refused with `503`
//! and a `Retry-After` (not a `500`, not a hang), nothing acknowledged is
//! lost, and once S3 is back uploads succeed and everything completes. Each
//! ends with the exactly-once check: one COMPLETED Example per acknowledged
//! upload, no duplicate in the Parquet (read directly and with DuckDB).
//!
//! The shared SeaweedFS is never stopped: the deployment reaches it through
//! an in-test proxy that the test cuts and restores (common/cut_proxy.rs).
//! Skipped, with a printed reason, when `TRACEPIPE_KAFKA_BOOTSTRAP` is not
//! set and `CI` is not set. Every test uses its own topics, consumer groups,
//! PostgreSQL schema and bucket prefix.

mod common;

use common::cut_proxy::CutProxy;
use common::exactly_once::assert_exactly_once;
use common::{fixtures, services_available, statuses, upload_id, Deployment};

use std::collections::BTreeSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use reqwest::blocking::{multipart, Client};
use serde_json::Value;

#[test]
fn uploads_are_acknowledged_without_a_processor_and_the_backlog_drains_when_one_starts() {
    if !services_available() {
        return;
    }
    let mut deployment =
        Deployment::new("noprocessor").with_env("TRACEPIPE_ROTATION_MAX_RECORDS", "3");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("sink", "sink");
    let sessions: BTreeSet<String> = fixtures()
        .iter()
        .map(|file| upload_id(&url, &key, file))
        .collect();
    // Nothing has processed them: no processor has run in this deployment.
    let status = statuses(&url, &key);
    for session in &sessions {
        assert_eq!(
            status.get(session).map(String::as_str),
            Some("PENDING"),
            "{status:?}"
        );
    }
    deployment.start("processor", "processor");
    assert_exactly_once(&deployment, &url, &key, &sessions);
}

/// Where the services reach S3 (`AWS_ENDPOINT_URL`).
fn s3_address() -> SocketAddr {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let url = reqwest::Url::parse(&endpoint).expect("AWS_ENDPOINT_URL is a URL");
    (
        url.host_str().expect("a host"),
        url.port_or_known_default().expect("a port"),
    )
        .to_socket_addrs()
        .expect("resolves")
        .next()
        .expect("an address")
}

#[test]
fn with_s3_unreachable_uploads_are_refused_with_retry_after_and_nothing_acknowledged_is_lost() {
    if !services_available() {
        return;
    }
    let proxy = CutProxy::start(s3_address());
    // Every service reaches S3 through the proxy: the processor and the sink
    // live through the outage too, with acknowledged work in flight.
    let mut deployment = Deployment::new("s3cut")
        .with_env("AWS_ENDPOINT_URL", &proxy.url())
        .with_env("TRACEPIPE_ROTATION_MAX_RECORDS", "3")
        // Bounds of one S3 operation, short so that the test is quick.
        .with_env("TRACEPIPE_S3_REQUEST_TIMEOUT_SECS", "5")
        .with_env("TRACEPIPE_S3_RETRY_TIMEOUT_SECS", "5");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    let files = fixtures();
    let (before, after) = files.split_at(files.len() / 2);
    let mut sessions: BTreeSet<String> = before
        .iter()
        .map(|file| upload_id(&url, &key, file))
        .collect();

    proxy.cut();
    // A client that would wait forever is what the refusal must spare.
    let http = Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .expect("client");
    for file in &after[..2] {
        let form = multipart::Form::new()
            .text("suite_id", "gmail")
            .file("input_events", file)
            .expect("form");
        let response = http
            .post(format!("{url}/sessions"))
            .header("X-API-Key", &key)
            .multipart(form)
            .send()
            .expect("an answer while S3 is unreachable, not a hang");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Value = response.json().unwrap_or(Value::Null);
        assert_eq!(status, 503, "{body}");
        assert!(retry_after.is_some_and(|s| s > 0), "Retry-After: {body}");
        assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
    }
    proxy.restore();

    for file in after {
        sessions.insert(upload_id(&url, &key, file));
    }
    // The refused uploads left no Session behind.
    let listed: Value = http
        .get(format!("{url}/sessions?per_page=100"))
        .header("X-API-Key", &key)
        .send()
        .and_then(|r| r.json())
        .expect("sessions");
    assert_eq!(listed["total"], sessions.len(), "{listed}");
    assert_exactly_once(&deployment, &url, &key, &sessions);
}
