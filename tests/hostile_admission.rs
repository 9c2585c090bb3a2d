//! Hostile load against the HTTP admission of both deployments (issue #11,
//! Why items 4–7): stalled and trickling uploads, one key over its request
//! rate or upload slots, connections that never finish their headers, huge
//! multipart part headers and field names, and a full disk. Each case must end
//! in a clear 4xx or 507, other keys must be unaffected, and the service must
//! answer a good request right after.
//!
//! `tracepipe serve` runs as the real binary on a loopback port. The gateway
//! cases use the distributed harness and are skipped, with a printed reason,
//! when the services are not configured (as the other distributed suites).
//! The disk-full cases mount a small tmpfs (root is needed; skipped with a
//! printed reason otherwise). Everything is loopback, bounded in count, and
//! waits with generous deadlines only to fail instead of hanging.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

/// Generous bounds: reached only when something hangs.
const STARTUP: Duration = Duration::from_secs(60);
const ANSWER: Duration = Duration::from_secs(30);

/// Admission settings of the servers under test: small, so each case is quick.
const ADMISSION_ENV: &[(&str, &str)] = &[
    ("TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE", "60"),
    ("TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY", "3"),
    ("TRACEPIPE_ADMISSION_HEADER_READ_TIMEOUT_SECS", "1"),
    ("TRACEPIPE_ADMISSION_MAX_CONNECTIONS", "48"),
    ("TRACEPIPE_ADMISSION_MIN_UPLOAD_BYTES_PER_SEC", "1024"),
    ("TRACEPIPE_ADMISSION_MIN_UPLOAD_RATE_WINDOW_SECS", "2"),
    ("TRACEPIPE_ADMISSION_MAX_PART_HEADER_BYTES", "16384"),
];
const PER_MINUTE: u64 = 60;
const UPLOADS_PER_KEY: usize = 3;
const MAX_CONNECTIONS: usize = 48;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A small committed recording: a good upload.
fn good_recording() -> Vec<u8> {
    // Recorded before the capture scripts wrote sensitive marks (kept as it
    // was recorded for this; docs/recording.md): declared safe, its
    // screenshots and raw upload are stored, as the full-disk cases need.
    std::fs::read(repo().join("tests/fixtures/recordings-alt/list_labels.trace.json.gz"))
        .expect("fixture")
}

/// One API under test: its `/v1` base URL, the process serving it and an
/// administrator key.
struct Api {
    base: String,
    addr: SocketAddr,
    pid: u32,
    admin: String,
    http: Client,
}

impl Api {
    fn new(base: &str, pid: u32, admin: &str) -> Api {
        let authority = base
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .expect("an http URL");
        Api {
            base: base.trim_end_matches('/').to_owned(),
            addr: authority.parse().expect("a socket address"),
            pid,
            admin: admin.to_owned(),
            http: Client::builder().timeout(ANSWER).build().expect("client"),
        }
    }

    fn get(&self, key: &str, path: &str) -> reqwest::blocking::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", key)
            .send()
            .expect("GET")
    }

    /// A new non-administrator user's key.
    fn new_key(&self, name: &str) -> String {
        let response = self
            .http
            .post(format!("{}/users", self.base))
            .header("X-API-Key", &self.admin)
            .json(&json!({ "display_name": name }))
            .send()
            .expect("POST /users");
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().expect("json");
        find_key(&body).expect("the new user's key")
    }

    fn suite_id(&self) -> String {
        let suites: Value = self.get(&self.admin, "/suites").json().expect("suites");
        suites["items"]
            .as_array()
            .and_then(|items| items.iter().find(|s| s["name"] == "gmail"))
            .and_then(|s| s["id"].as_str())
            .expect("the gmail suite")
            .to_owned()
    }

    fn upload(&self, key: &str, suite_id: &str, bytes: Vec<u8>) -> reqwest::blocking::Response {
        let form = multipart::Form::new()
            .text("suite_id", suite_id.to_owned())
            .text("screenshots_safe", "true")
            .part(
                "input_events",
                multipart::Part::bytes(bytes).file_name("recording.trace.json.gz"),
            );
        self.http
            .post(format!("{}/sessions", self.base))
            .header("X-API-Key", key)
            .multipart(form)
            .send()
            .expect("upload")
    }

    /// A good upload is accepted.
    fn answers_good_upload(&self, key: &str, suite_id: &str) -> Value {
        let response = self.upload(key, suite_id, good_recording());
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        assert_eq!(status, 201, "a good upload after the attack: {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// Waits until the server is serving at least `n` requests (its
    /// `requests_in_flight` gauge).
    fn wait_in_flight(&self, n: usize) {
        let root = self.base.trim_end_matches("/v1");
        let deadline = Instant::now() + ANSWER;
        loop {
            let metrics = self
                .http
                .get(format!("{root}/metrics"))
                .send()
                .and_then(|r| r.text())
                .unwrap_or_default();
            let in_flight = metrics
                .lines()
                .filter(|l| l.starts_with("tracepipe_") && l.contains("requests_in_flight "))
                .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
                .sum::<f64>();
            if in_flight >= n as f64 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{in_flight} requests in flight, not {n}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An upload over a raw connection: the body is sent from another thread,
    /// so an answer given before the body is read (a refusal) is still read
    /// whole, where an HTTP client would stop at the closed connection.
    fn raw_upload(&self, key: &str, suite_id: &str, recording: &[u8]) -> Answer {
        let mut body = format!(
            "--R\r\nContent-Disposition: form-data; name=\"suite_id\"\r\n\r\n{suite_id}\r\n\
             --R\r\nContent-Disposition: form-data; name=\"input_events\"; filename=\"r.gz\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(recording);
        body.extend_from_slice(b"\r\n--R--\r\n");
        let mut stream = self.connect();
        let head = self.upload_head(key, "R", body.len() as u64);
        let mut writer = stream.try_clone().expect("clone");
        let sender = std::thread::spawn(move || {
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&body);
        });
        let answer = read_answer(&mut stream).expect("an answer");
        drop(stream);
        let _ = sender.join();
        answer
    }

    /// Open file descriptors of the serving process.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, ANSWER).expect("connect");
        stream.set_read_timeout(Some(ANSWER)).expect("timeout");
        stream
    }

    /// The request path of an API route (`/v1…`).
    fn v1_path(&self, route: &str) -> String {
        let root = self
            .base
            .split_once(&self.addr.to_string())
            .map_or("", |(_, p)| p);
        format!("{root}{route}")
    }

    /// The request line and headers of a multipart upload.
    fn upload_head(&self, key: &str, boundary: &str, length: u64) -> String {
        let path = self.v1_path("/sessions");
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nX-API-Key: {key}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {length}\r\n\r\n",
            self.addr
        )
    }

    /// An upload that sends its headers and the start of its body, then
    /// nothing: the client's side of a stalled upload.
    fn stalled_upload(&self, key: &str, suite_id: &str) -> TcpStream {
        let mut stream = self.connect();
        let body_start = format!(
            "--B\r\nContent-Disposition: form-data; name=\"suite_id\"\r\n\r\n{suite_id}\r\n\
             --B\r\nContent-Disposition: form-data; name=\"input_events\"; filename=\"r.json\"\r\n\r\n{{\"traceEvents\":["
        );
        let head = self.upload_head(key, "B", 10_000_000);
        stream
            .write_all(format!("{head}{body_start}").as_bytes())
            .expect("send the start");
        stream
    }
}

/// The first `tp_live_…` string anywhere in `value`.
fn find_key(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.starts_with("tp_live_") => Some(s.clone()),
        Value::Object(map) => map.values().find_map(find_key),
        Value::Array(items) => items.iter().find_map(find_key),
        _ => None,
    }
}

/// A raw HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    fn code(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Reads one HTTP answer from `stream` (up to its Content-Length, or EOF).
fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let answer = Answer {
        status,
        head,
        body: String::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Answer {
        body: String::from_utf8_lossy(&body).into_owned(),
        ..answer
    })
}

/// One key over its rate gets 429 with the headers; another key does not.
fn rate_limit_per_key(api: &Api) {
    let key = api.new_key("hasty");
    let other = api.new_key("patient");
    let mut limited = None;
    for _ in 0..(PER_MINUTE * 2) {
        let response = api.get(&key, "/users/me");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(header("x-ratelimit-limit"), Some(PER_MINUTE));
        let remaining = header("x-ratelimit-remaining").expect("remaining");
        assert!(header("x-ratelimit-reset").is_some(), "reset");
        if response.status().as_u16() == 429 {
            assert_eq!(remaining, 0);
            let retry = header("retry-after").expect("Retry-After on 429");
            assert!((1..=60).contains(&retry), "retry after {retry}");
            let body: Value = response.json().expect("json");
            assert_eq!(body["error"]["code"], "rate_limited");
            limited = Some(retry);
            break;
        }
        assert_eq!(response.status().as_u16(), 200);
        assert!(remaining < PER_MINUTE, "this request was counted");
    }
    assert!(limited.is_some(), "the key was never limited");
    // Other keys are unaffected.
    let response = api.get(&other, "/users/me");
    assert_eq!(response.status().as_u16(), 200);
}

/// Stalled uploads hold neither the queue nor other keys' uploads: the
/// stalling key gets 429 past its slots, other keys upload and ask for
/// Examples, and each stalled upload is cut with 408.
fn stalled_uploads(api: &Api, suite_id: &str, ask_example: bool) {
    let staller = api.new_key("staller");
    let other = api.new_key("bystander");
    let mut stalled: Vec<TcpStream> = (0..UPLOADS_PER_KEY)
        .map(|_| api.stalled_upload(&staller, suite_id))
        .collect();
    // Once the server is reading them, the key's slots are all taken: its
    // next upload is refused before its body is read.
    api.wait_in_flight(UPLOADS_PER_KEY);
    let refused = api.raw_upload(&staller, suite_id, &good_recording());
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.code(), "too_many_uploads");
    assert!(refused.header("retry-after").is_some());

    // Another key is unaffected: it uploads, and asks for another Example.
    let session = api.answers_good_upload(&other, suite_id);
    if ask_example {
        let models: Value = api.get(&other, "/models").json().expect("models");
        let model_id = models["items"][0]["id"]
            .as_str()
            .expect("a model")
            .to_owned();
        let response = api
            .http
            .post(format!("{}/examples", api.base))
            .header("X-API-Key", &other)
            .json(&json!({"session_id": session["id"], "model_id": model_id}))
            .send()
            .expect("POST /examples");
        assert_eq!(response.status().as_u16(), 201, "{:?}", response.text());
    }

    // A trickle below the floor is cut too, not only silence.
    let mut trickle = api.connect();
    let head = api.upload_head(&other, "T", 1_000_000);
    trickle.write_all(head.as_bytes()).expect("head");
    let mut trickled = 0;
    let cut = loop {
        if trickle.write_all(b"--T\r\n").is_err() || trickled > 200 {
            break read_answer(&mut trickle);
        }
        trickled += 1;
        // Stops when the server answers: a read with a short timeout.
        trickle
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut probe = [0u8; 1];
        if let Ok(n) = trickle.peek(&mut probe) {
            if n > 0 {
                trickle.set_read_timeout(Some(ANSWER)).expect("timeout");
                break read_answer(&mut trickle);
            }
        }
    };
    let cut = cut.expect("an answer to the trickle");
    assert_eq!(cut.status, 408, "{cut:?}");
    assert_eq!(cut.code(), "upload_too_slow");

    // A stalled JSON body is cut the same way: it holds a connection too.
    let mut json_stall = api.connect();
    json_stall
        .write_all(
            format!(
                "POST {} HTTP/1.1\r\nHost: {}\r\nX-API-Key: {other}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
                api.v1_path("/examples"),
                api.addr
            )
            .as_bytes(),
        )
        .expect("a JSON body's start");
    let answer = read_answer(&mut json_stall).expect("the stalled JSON body is answered");
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.code(), "upload_too_slow");

    for stream in &mut stalled {
        let answer = read_answer(stream).expect("the stalled upload is answered");
        assert_eq!(answer.status, 408, "{answer:?}");
        assert_eq!(answer.code(), "upload_too_slow");
    }
    drop(stalled);
    // The staller's slots are free again.
    api.answers_good_upload(&staller, suite_id);
}

/// Hundreds of connections that never finish their headers are closed after
/// the header deadline, never hold more than the connection cap, and leave no
/// descriptor behind.
fn unfinished_headers(api: &Api) {
    let before = api.open_fds();
    let flood: Vec<TcpStream> = (0..(MAX_CONNECTIONS * 5))
        .map(|_| {
            let mut stream = api.connect();
            stream
                .write_all(b"GET /v1/users/me HTTP/1.1\r\nHost: x\r\nX-API-")
                .expect("partial headers");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = api.open_fds();
    // Slack for the files the server opens meanwhile (processing the
    // Examples of earlier uploads).
    assert!(
        during <= before + MAX_CONNECTIONS + 16,
        "{during} descriptors open with the cap at {MAX_CONNECTIONS} (from {before})"
    );
    for mut stream in flood {
        let mut answer = Vec::new();
        // To the end: closed by the server, possibly after an answer.
        match stream.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a connection without headers was still open after {ANSWER:?}"
            ),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = api.open_fds();
    assert!(
        after <= before + 8,
        "{after} descriptors open after the flood (from {before})"
    );
    assert_eq!(api.get(&api.admin, "/users/me").status().as_u16(), 200);
}

/// A 200 MB part header is refused with 413 after the cap; a long field name
/// is shown truncated in the error.
fn huge_part_headers(api: &Api, suite_id: &str) {
    let key = api.new_key("header-stuffer");
    let mut stream = api.connect();
    let total: u64 = 200 << 20;
    let head = api.upload_head(&key, "H", total + 100);
    stream.write_all(head.as_bytes()).expect("head");
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let start = b"--H\r\nContent-Disposition: form-data; name=\"";
        if writer.write_all(start).is_err() {
            return 0;
        }
        let chunk = vec![b'a'; 64 << 10];
        let mut sent: u64 = 0;
        while sent < total {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let answer = read_answer(&mut stream).expect("an answer to the huge header");
    let sent = sender.join().expect("sender");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.code(), "part_header_too_large");
    assert!(sent < total, "the server read the whole 200 MB header");

    let long_name = "n".repeat(10_000);
    let form = multipart::Form::new()
        .text("suite_id", suite_id.to_owned())
        .text(long_name.clone(), "x");
    let response = api
        .http
        .post(format!("{}/sessions", api.base))
        .header("X-API-Key", &key)
        .multipart(form)
        .send()
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    let text = response.text().expect("body");
    assert!(text.contains("unknown_field"), "{text}");
    assert!(
        text.len() < 1024,
        "the error echoes the long name: {} bytes",
        text.len()
    );
    api.answers_good_upload(&key, suite_id);
}

// ---------------------------------------------------------------- serve

/// `tracepipe serve` on a free port; killed when dropped.
struct Serve {
    child: Child,
    api: Api,
}

impl Serve {
    fn start(data_dir: &Path, env: &[(&str, &str)]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--catalog")
            .arg(repo().join("catalog"))
            .envs(ADMISSION_ENV.iter().copied())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tracepipe serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + STARTUP;
        let mut admin = None;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the server prints its URL");
            if let Some(key) = line.split_whitespace().find(|w| w.starts_with("tp_live_")) {
                admin = Some(key.to_owned());
            }
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        let pid = child.id();
        Serve {
            child,
            // Only a first start prints the administrator's key.
            api: Api::new(&base, pid, &admin.unwrap_or_default()),
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_admits_fairly_under_hostile_load() {
    let data = tempfile::tempdir().expect("tempdir");
    // A queue smaller than the stalled uploads: before the fix, its slots were
    // taken by uploads still being read and everyone got 503.
    let server = Serve::start(
        data.path(),
        &[
            ("TRACEPIPE_PROCESSING_QUEUE_CAPACITY", "2"),
            ("TRACEPIPE_PROCESSING_WORKERS", "1"),
        ],
    );
    let api = &server.api;
    let suite = api.suite_id();
    rate_limit_per_key(api);
    stalled_uploads(api, &suite, true);
    huge_part_headers(api, &suite);
    unfinished_headers(api);
}

// ------------------------------------------------------------ disk full

/// A tmpfs of `bytes` at a fresh folder, unmounted when dropped; `None`
/// (with the reason printed) where mounting is not allowed.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            Some(Tmpfs { dir })
        } else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root) for the disk-full case");
            None
        }
    }

    fn resize(&self, bytes: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(self.dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "remount the tmpfs at {bytes} bytes");
    }

    /// Bytes in use.
    fn used(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=used"])
            .arg(self.dir.path())
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df prints the bytes used")
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.push(path.clone());
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The recording decompressed: a larger upload that is still a good one.
fn large_good_recording() -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&good_recording()[..])
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

#[test]
fn serve_answers_507_on_a_full_disk_and_leaves_nothing_behind() {
    let Some(disk) = Tmpfs::mount(64 << 20) else {
        return;
    };
    let data = disk.path().join("data");
    let server = Serve::start(&data, &[("TRACEPIPE_LIMITS_MAX_UPLOAD_BYTES", "67108864")]);
    let api = &server.api;
    let suite = api.suite_id();
    let recording = large_good_recording();
    let size = recording.len() as u64;
    // Room for the upload's own file but not for its stored copy.
    disk.resize(disk.used() + size + size / 2);

    let sessions = data.join("objects/sessions");
    let uploads = data.join("uploads");
    for (case, bytes) in [
        ("stored copy does not fit", recording.clone()),
        (
            "upload itself does not fit",
            [recording.clone(), recording.clone()].concat(),
        ),
    ] {
        let response = api.upload(&api.admin, &suite, bytes);
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        assert_eq!(status, 507, "{case}: {text}");
        assert!(text.contains("insufficient_storage"), "{case}: {text}");
        assert!(
            files_under(&sessions).is_empty(),
            "{case}: left {:?}",
            files_under(&sessions)
        );
        assert!(
            files_under(&uploads).is_empty(),
            "{case}: left {:?}",
            files_under(&uploads)
        );
    }
    // Room again for a good (gzipped) upload right after.
    let session = api.answers_good_upload(&api.admin, &suite);
    let kept = sessions.join(session["id"].as_str().expect("id"));
    drop(server);

    // An interrupted upload's leftovers are swept at the next start; a real
    // session's objects are not.
    let orphan = sessions.join("00000000-0000-4000-8000-000000000001");
    std::fs::create_dir_all(orphan.join("screenshots")).expect("orphan");
    std::fs::write(orphan.join("screenshots/1.jpg"), b"partial").expect("orphan file");
    std::fs::write(uploads.join("half-written"), b"partial").expect("upload leftover");
    let _restarted = Serve::start(&data, &[]);
    assert!(!orphan.exists(), "the orphan folder was swept");
    assert!(files_under(&uploads).is_empty());
    assert!(kept.exists(), "a stored session survives the sweep");
}

// --------------------------------------------------------------- gateway

#[test]
fn gateway_admits_fairly_under_hostile_load() {
    if !common::services_available() {
        return;
    }
    let disk = Tmpfs::mount(64 << 20);
    let mut deployment = common::Deployment::new("hostile_admission");
    for (key, value) in ADMISSION_ENV {
        deployment = deployment.with_env(key, value);
    }
    if let Some(disk) = &disk {
        // The gateway streams uploads into its temporary folder.
        deployment = deployment.with_env("TMPDIR", &disk.path().to_string_lossy());
    }
    deployment.start("gateway", "gateway");
    let (url, admin) = deployment.gateway();
    let api = Api::new(&url, deployment.pid("gateway"), &admin);
    let suite = api.suite_id();
    rate_limit_per_key(&api);
    stalled_uploads(&api, &suite, false);
    huge_part_headers(&api, &suite);
    unfinished_headers(&api);

    if let Some(disk) = &disk {
        let recording = large_good_recording();
        disk.resize(disk.used() + recording.len() as u64 / 2);
        let answer = api.raw_upload(&api.admin, &suite, &recording);
        assert_eq!(answer.status, 507, "{answer:?}");
        assert_eq!(answer.code(), "insufficient_storage");
        let left: Vec<PathBuf> = files_under(disk.path())
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        api.answers_good_upload(&api.admin, &suite);
    }
}

#[test]
fn gateway_sweeps_interrupted_uploads_at_start() {
    if !common::services_available() {
        return;
    }
    let mut deployment = common::Deployment::new("hostile_sweep");
    deployment.start("gateway", "gateway");
    let (url, admin) = deployment.gateway();
    let api = Api::new(&url, deployment.pid("gateway"), &admin);
    let suite = api.suite_id();
    let session = api.answers_good_upload(&admin, &suite);
    let session_id = session["id"].as_str().expect("id").to_owned();
    deployment.sigterm("gateway", Duration::from_secs(30));

    // What a gateway killed mid-upload leaves: objects of a session with no row.
    let store = common::store();
    let prefix = &deployment.name;
    let orphan = object_store::path::Path::from(format!(
        "{prefix}/sessions/00000000-0000-4000-8000-000000000002/screenshots/1.jpg"
    ));
    // The upload as stored (the gateway leaves the reading to a processor).
    let kept = object_store::path::Path::from(format!(
        "{prefix}/sessions/{session_id}/input_events.jsonl"
    ));
    common::runtime().block_on(async {
        use object_store::ObjectStoreExt;
        store
            .put(&orphan, bytes::Bytes::from_static(b"partial").into())
            .await
            .expect("put the orphan");
    });
    // Old enough at once: no other gateway uploads into this prefix.
    let mut deployment = deployment.with_env("TRACEPIPE_ORPHAN_SWEEP_MIN_AGE_SECS", "0");
    std::thread::sleep(Duration::from_millis(1100));
    deployment.start("gateway", "gateway");
    let deadline = Instant::now() + STARTUP;
    while !deployment.log("gateway", "err").contains(
        "removed the leftovers of interrupted upload 00000000-0000-4000-8000-000000000002",
    ) {
        assert!(
            Instant::now() < deadline,
            "no sweep: {}",
            deployment.log("gateway", "err")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    common::runtime().block_on(async {
        use object_store::ObjectStoreExt;
        assert!(store.head(&orphan).await.is_err(), "the orphan is gone");
        store
            .head(&kept)
            .await
            .expect("a stored session's objects stay");
    });
}
