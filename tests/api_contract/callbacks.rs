//! Status callbacks (issue #17): a receiver on loopback, which the targets
//! allow (`TRACEPIPE_CALLBACKS_PRIVATE_HOSTS=127.0.0.1`), gets each
//! Example's status once, signed with the user's callback secret, including
//! across a restart of the service; an address the operator did not allow is
//! refused when the request is made.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::blocking::multipart;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{error_of, fixtures, json_of, poll_example, Target, PROCESSING};

/// One request the receiver got, and how it answered.
#[derive(Debug, Clone)]
struct Received {
    signature: Option<String>,
    body: Vec<u8>,
    answered: u16,
}

/// An HTTP receiver on a loopback port that answers `500` to its first
/// `failures` requests and `200` to the rest, keeping every request.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(failures: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let kept = kept.clone();
                std::thread::spawn(move || answer(stream, &kept, failures));
            }
        });
        Receiver { port, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("receiver lock").clone()
    }
}

fn answer(stream: TcpStream, kept: &Mutex<Vec<Received>>, failures: usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    // The request line, then headers up to the blank line.
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let answered = {
        let mut kept = kept.lock().expect("receiver lock");
        let answered = if kept.len() < failures { 500 } else { 200 };
        kept.push(Received {
            signature: headers.get("tracepipe-signature").cloned(),
            body,
            answered,
        });
        answered
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// Whether `signature` (`t=…,v1=…`) is `secret`'s HMAC-SHA256 of `t.body`.
fn verifies(signature: &str, secret: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut v1 = None;
    for item in signature.split(',') {
        match item.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_owned()),
            Some(("v1", s)) => v1 = Some(s.to_owned()),
            _ => {}
        }
    }
    let (Some(timestamp), Some(v1)) = (timestamp, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

fn upload_with_callback(
    server: &super::Api,
    key: &str,
    suite: &str,
    path: &std::path::Path,
    callback_url: &str,
) -> reqwest::blocking::Response {
    let form = multipart::Form::new()
        .text("suite_id", suite.to_owned())
        .text("callback_url", callback_url.to_owned())
        .part(
            "input_events",
            multipart::Part::bytes(std::fs::read(path).expect("fixture"))
                .file_name("r.trace.json.gz"),
        );
    server
        .post(key, "/sessions")
        .multipart(form)
        .send()
        .expect("upload")
}

pub fn status_callbacks_are_signed_sent_once_and_survive_a_restart(target: &mut dyn Target) {
    let server = target.api();
    let key = server.admin_key();
    let suite = server.gmail(&key);
    let receiver = Receiver::start(1);
    let hook = format!("http://127.0.0.1:{}/hook", receiver.port);
    let recordings = fixtures();

    // Callbacks are signed: none without a secret to sign them with.
    let refused = error_of(
        upload_with_callback(&server, &key, &suite, &recordings[0].1, &hook),
        StatusCode::CONFLICT,
    );
    assert_eq!(refused["code"], "no_callback_secret", "{refused}");
    let created = json_of(
        server
            .post(&key, "/account/callback-secret")
            .send()
            .expect("secret"),
        StatusCode::CREATED,
    );
    let secret = created["secret"].as_str().expect("the secret").to_owned();
    assert!(secret.starts_with("tpcb_"), "a callback secret");

    // Addresses the operator has not allowed are refused at request time.
    for unallowed in [
        "http://10.0.0.7/hook".to_owned(),
        format!("http://localhost:{}/hook", receiver.port),
        "http://[::1]/hook".to_owned(),
        "ftp://127.0.0.1/hook".to_owned(),
        "not a url".to_owned(),
    ] {
        let error = error_of(
            upload_with_callback(&server, &key, &suite, &recordings[0].1, &unallowed),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(
            error["code"], "callback_url_not_allowed",
            "{unallowed}: {error}"
        );
        assert_eq!(error["field"], "callback_url", "{error}");
    }

    // Three uploads and one more Example of the first, each with the hook.
    let mut examples = Vec::new();
    let mut first_session = None;
    for (_, path, _) in recordings.iter().take(3) {
        let session = json_of(
            upload_with_callback(&server, &key, &suite, path, &hook),
            StatusCode::CREATED,
        );
        let session_id = session["id"].as_str().expect("session id").to_owned();
        let example_id = super::auto_example(&server, &key, &session_id);
        let example = json_of(
            server
                .get(&key, &format!("/examples/{example_id}"))
                .send()
                .expect("example"),
            StatusCode::OK,
        );
        assert_eq!(example["callback_url"], hook.as_str(), "{example}");
        let model = example["model_id"].as_str().expect("model id").to_owned();
        first_session.get_or_insert((session_id, model));
        examples.push(example_id);
    }
    let (session_id, model) = first_session.expect("a session");
    let again = json_of(
        server
            .post(&key, "/examples")
            .json(&json!({
                "session_id": session_id,
                "model_id": model,
                "callback_url": hook,
            }))
            .send()
            .expect("create example"),
        StatusCode::CREATED,
    );
    assert_eq!(again["callback_url"], hook.as_str());
    examples.push(again["id"].as_str().expect("example id").to_owned());

    // Restart the service once a callback has arrived, with the rest on
    // their way.
    let deadline = Instant::now() + PROCESSING;
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "no callback arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    let server = target.restart();

    let statuses: BTreeMap<String, Value> = examples
        .iter()
        .map(|id| (id.clone(), poll_example(&server, &key, id)))
        .collect();
    let delivered = |received: &[Received]| {
        received
            .iter()
            .filter(|r| r.answered == 200)
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|event| event["data"]["object"]["id"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + PROCESSING;
    while !examples
        .iter()
        .all(|id| delivered(&receiver.received()).contains(id))
    {
        assert!(
            Instant::now() < deadline,
            "callbacks delivered: {:?} of {examples:?}",
            delivered(&receiver.received())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Several of the senders' polls, for any second delivery to show.
    std::thread::sleep(Duration::from_secs(2));

    let received = receiver.received();
    let mut per_example: BTreeMap<String, Vec<&Received>> = BTreeMap::new();
    for request in &received {
        let signature = request.signature.as_deref().expect("a signature header");
        assert!(
            verifies(signature, &secret, &request.body),
            "the signature verifies with the callback secret"
        );
        let event: Value = serde_json::from_slice(&request.body).expect("a JSON event");
        let id = event["data"]["object"]["id"]
            .as_str()
            .expect("the Example's id")
            .to_owned();
        let status = &statuses[&id]["status"];
        assert_eq!(&event["data"]["object"]["status"], status, "{event}");
        let expected_type = if status == "FAILED" {
            "example.failed"
        } else {
            "example.completed"
        };
        assert_eq!(event["type"], expected_type);
        assert_eq!(
            event["id"],
            format!("evt_{}", id.replace('-', "")),
            "one event id for every attempt"
        );
        per_example.entry(id).or_default().push(request);
    }
    for id in &examples {
        let requests = &per_example[id];
        assert_eq!(
            requests.iter().filter(|r| r.answered == 200).count(),
            1,
            "exactly one delivered callback for {id}"
        );
    }
    // The receiver failed the first request: that callback was retried.
    assert_eq!(received[0].answered, 500);
    let retried: Value = serde_json::from_slice(&received[0].body).expect("JSON");
    let retried_id = retried["data"]["object"]["id"].as_str().expect("id");
    assert_eq!(
        per_example[retried_id].len(),
        2,
        "one failure, one delivery"
    );
}
