//! Issue #6: the gateway's, the processor's and the sink's spans of one
//! session share one trace id, exported over OTLP/HTTP to a receiver inside
//! the test. Runs against the real services as tests/distributed.rs does
//! (same skip rule, its own topics, groups, schema and bucket prefix).

mod common;

use common::{fixtures, services_available, upload_id, Deployment};

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

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
    let mut deployment = Deployment::new("traces")
        .with_env("TRACEPIPE_OTLP_ENDPOINT", &otlp)
        // Export within half a second rather than the default five.
        .with_env("OTEL_BSP_SCHEDULE_DELAY", "500");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    let file = fixtures().into_iter().next().expect("a fixture");
    let session = upload_id(&url, &key, &file);

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
