//! Secrets in a recording made without masking at the source (a password, a
//! card number in a card field and in free text) reach no output of `process`
//! or `inspect`: not the conversations, not the tables, not the stored session,
//! and the recording itself is not kept verbatim. Nor does any pixel of one:
//! the `account_secrets` recording's screenshots are stored with the fields
//! its `tracepipe:sensitive` marks locate painted over, by `process` and by
//! `serve`, and screenshots nothing located are left out unless declared safe.

use std::path::{Path, PathBuf};
use std::process::Command;

const SECRETS: [&str; 3] = ["hunter2-zebra", "4111 1111 1111 1111", "5500005555555559"];

fn unmasked_recording(path: &Path) {
    let url = "http://127.0.0.1:8765/#settings/account";
    let mark = |ts: i64, detail: serde_json::Value| {
        serde_json::json!({"args": {"data": {"detail": detail.to_string()}}, "cat": "blink.user_timing",
            "name": "tracepipe:change", "ph": "I", "pid": 2, "tid": 2, "ts": ts})
    };
    let events = vec![
        mark(
            1000,
            serde_json::json!({"target": {"tag": "input", "type": "password", "label": "App password"}, "value": SECRETS[0], "url": url}),
        ),
        mark(
            2000,
            serde_json::json!({"target": {"tag": "input", "label": "Card", "autocomplete": "cc-number"}, "value": SECRETS[1], "url": url}),
        ),
        mark(
            3000,
            serde_json::json!({"target": {"tag": "input", "label": "Notes"}, "value": format!("pay with {}", SECRETS[2]), "url": url}),
        ),
    ];
    std::fs::write(
        path,
        serde_json::to_vec(&serde_json::json!({"traceEvents": events})).unwrap(),
    )
    .unwrap();
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked into {what}");
    }
}

#[test]
fn unmasked_secrets_reach_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("secrets.json");
    unmasked_recording(&recording);
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["process", "--suite", "gmail", "--out"])
        .arg(&out)
        .arg(&recording)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_clean("process's report", &[run.stdout, run.stderr].concat());
    let written = files(&out);
    assert!(
        written.iter().any(|p| p.ends_with("session.avro")),
        "the scrubbed session is kept"
    );
    assert!(
        !written.iter().any(|p| p.ends_with("input_events.jsonl")),
        "the unmasked recording must not be kept verbatim"
    );
    for path in written {
        assert_clean(&path.display().to_string(), &std::fs::read(&path).unwrap());
    }
    let inspect = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .arg("inspect")
        .arg(&recording)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    assert_clean(
        "inspect",
        &[inspect.stdout.clone(), inspect.stderr].concat(),
    );
    let timeline = String::from_utf8_lossy(&inspect.stdout);
    assert_eq!(timeline.matches("\"masked\":true").count(), 2, "{timeline}");
    assert!(timeline.contains("pay with [card]"), "{timeline}");
}

/// What the `account_secrets` fixture recorded: its screenshots in file order
/// (trace time, JPEG) and its `tracepipe:sensitive` marks in time order
/// (time, viewport width and height, field rectangles in CSS pixels).
struct Recorded {
    screenshots: Vec<(i64, Vec<u8>)>,
    marks: Vec<(i64, f64, f64, Vec<[f64; 4]>)>,
}

type Mark = (i64, f64, f64, Vec<[f64; 4]>);

fn account_secrets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings/account_secrets.trace.json.gz")
}

fn recorded() -> Recorded {
    use base64::Engine;
    use std::io::Read;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(account_secrets()).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    let trace: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let mut recorded = Recorded {
        screenshots: Vec::new(),
        marks: Vec::new(),
    };
    for e in trace["traceEvents"].as_array().unwrap() {
        let ts = e["ts"].as_i64().unwrap_or_default();
        if e["name"] == "Screenshot" {
            let jpeg = base64::engine::general_purpose::STANDARD
                .decode(e["args"]["snapshot"].as_str().unwrap())
                .unwrap();
            recorded.screenshots.push((ts, jpeg));
        } else if e["name"] == "tracepipe:sensitive" {
            let d: serde_json::Value =
                serde_json::from_str(e["args"]["data"]["detail"].as_str().unwrap()).unwrap();
            let fields = d["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| ["x", "y", "width", "height"].map(|k| f[k].as_f64().unwrap()))
                .collect();
            recorded.marks.push((
                ts,
                d["viewport"]["width"].as_f64().unwrap(),
                d["viewport"]["height"].as_f64().unwrap(),
                fields,
            ));
        }
    }
    recorded.marks.sort_by_key(|m| m.0);
    recorded
}

/// A decoded frame: width, height, channels, pixels.
struct Frame(usize, usize, usize, Vec<u8>);

fn decode(jpeg: &[u8]) -> Frame {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().unwrap();
    let info = decoder.info().unwrap();
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    Frame(w, h, pixels.len() / (w * h), pixels)
}

/// The brightest channel value inside a field's rectangle (shrunk by a pixel:
/// its edges fall between frame pixels) of a frame showing the mark's viewport.
fn brightest(frame: &Frame, mark: &Mark, field: &[f64; 4]) -> u8 {
    let Frame(w, h, channels, pixels) = frame;
    let (w, h, channels) = (*w, *h, *channels);
    let (sx, sy) = (w as f64 / mark.1, h as f64 / mark.2);
    let [x, y, fw, fh] = *field;
    let x0 = (x * sx).ceil().max(0.0) as usize + 1;
    let y0 = (y * sy).ceil().max(0.0) as usize + 1;
    let x1 = (((x + fw) * sx).floor() as usize).min(w).saturating_sub(1);
    let y1 = (((y + fh) * sy).floor() as usize).min(h).saturating_sub(1);
    assert!(x1 > x0 && y1 > y0, "{field:?} is inside the {w}×{h} frame");
    (y0..y1)
        .flat_map(|yy| {
            pixels[(yy * w + x0) * channels..(yy * w + x1) * channels]
                .iter()
                .copied()
        })
        .max()
        .unwrap()
}

/// Whether `haystack` contains any of the 16-byte `needles`.
fn contains_any(haystack: &[u8], needles: &std::collections::HashSet<[u8; 16]>) -> bool {
    haystack
        .windows(16)
        .any(|w| needles.contains(<&[u8; 16]>::try_from(w).unwrap()))
}

/// Checks a stored session of `account_secrets` against the recording: every
/// stored frame taken while a secret field showed a value has the field's
/// rectangle painted over (where the recorded frame shows the light field),
/// frames without one are stored as recorded, nothing is stored from before the
/// capture script's first mark, and the raw upload is not kept.
fn assert_redacted(session_dir: &Path, recorded: &Recorded) {
    assert!(
        !session_dir.join("input_events.jsonl").exists(),
        "the raw upload embeds the unredacted frames: not kept"
    );
    let session = tracepipe_schemas::decode_session(
        &std::fs::read(session_dir.join("session.avro")).unwrap(),
    )
    .unwrap();
    let first_mark = recorded
        .marks
        .first()
        .expect("the fixture has sensitive marks")
        .0;
    let (mut painted, mut most_fields, mut as_recorded) = (0, 0, 0);
    for shot in session.events.iter().filter_map(|e| e.screenshot.as_ref()) {
        let index: usize = shot
            .blob
            .trim_start_matches("screenshots/")
            .trim_end_matches(".jpg")
            .parse()
            .unwrap();
        let (ts, original) = &recorded.screenshots[index];
        assert!(
            *ts >= first_mark,
            "frame {index} predates the first mark and is stored"
        );
        let stored = std::fs::read(session_dir.join(&shot.blob)).unwrap();
        // The mark in force when the frame was taken.
        let mark = recorded.marks.iter().rev().find(|m| m.0 <= *ts).unwrap();
        if mark.3.is_empty() {
            as_recorded += usize::from(&stored == original);
            continue;
        }
        let (original, stored) = (decode(original), decode(&stored));
        for field in &mark.3 {
            assert!(
                brightest(&original, mark, field) > 200,
                "frame {index}: the recorded field at {field:?} is light"
            );
            let left = brightest(&stored, mark, field);
            assert!(
                left <= 24,
                "frame {index}: the field at {field:?} is not painted over (brightest {left})"
            );
        }
        painted += 1;
        most_fields = most_fields.max(mark.3.len());
    }
    assert!(painted >= 10, "{painted} frames painted over");
    assert_eq!(
        most_fields, 3,
        "the password, card number and security code were all on screen at once"
    );
    assert!(
        as_recorded > 0,
        "frames with nothing to hide are kept as recorded"
    );
    // No recorded frame that showed a secret is anywhere in the output, as
    // JPEG or base64.
    let secret_frames: std::collections::HashSet<[u8; 16]> = recorded
        .screenshots
        .iter()
        .filter(|(ts, _)| {
            recorded
                .marks
                .iter()
                .rev()
                .find(|m| m.0 <= *ts)
                .is_some_and(|m| !m.3.is_empty())
        })
        .flat_map(|(_, jpeg)| {
            use base64::Engine;
            let middle = jpeg.len() / 2;
            let text = base64::engine::general_purpose::STANDARD.encode(&jpeg[middle..middle + 48]);
            [
                jpeg[middle..middle + 16].try_into().unwrap(),
                text.as_bytes()[4..20].try_into().unwrap(),
            ]
        })
        .collect();
    for path in files(session_dir.parent().unwrap()) {
        assert!(
            !contains_any(&std::fs::read(&path).unwrap(), &secret_frames),
            "{} holds a recorded frame",
            path.display()
        );
    }
}

#[test]
fn account_secrets_screenshots_are_painted_over_and_the_raw_upload_not_kept() {
    let recorded = recorded();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["process", "--suite", "gmail", "--no-browser", "--out"])
        .arg(&out)
        .arg(account_secrets())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        said.contains("screenshots with secret fields painted over")
            && said.contains("1 raw uploads not kept"),
        "{said}"
    );
    let sessions: Vec<PathBuf> = std::fs::read_dir(out.join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sessions.len(), 1);
    assert_redacted(&sessions[0], &recorded);
}

/// `tracepipe serve` on a temporary data directory, for uploads.
struct Serve {
    child: std::process::Child,
    base: String,
    key: String,
}

impl Serve {
    fn start(data_dir: &Path) -> Serve {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracepipe"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut key, mut base) = (None, None);
        while base.is_none() {
            let line = lines.next().expect("serve prints its address").unwrap();
            key = key.or_else(|| {
                line.split_whitespace()
                    .find(|w| w.starts_with("tp_live_"))
                    .map(str::to_owned)
            });
            base = line
                .split("listening on ")
                .nth(1)
                .map(|u| u.trim().to_owned());
        }
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Serve {
            child,
            base: base.unwrap(),
            key: key.expect("the first start prints the admin key"),
        }
    }

    /// Uploads a recording to the gmail suite; answers the session's folder.
    fn upload(&self, data_dir: &Path, recording: &Path, screenshots_safe: Option<&str>) -> PathBuf {
        let client = reqwest::blocking::Client::new();
        let suites: serde_json::Value = client
            .get(format!("{}/suites", self.base))
            .header("X-API-Key", &self.key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let suite = suites["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "gmail")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut form = reqwest::blocking::multipart::Form::new().text("suite_id", suite);
        if let Some(safe) = screenshots_safe {
            form = form.text("screenshots_safe", safe.to_owned());
        }
        let form = form.file("input_events", recording).unwrap();
        let response = client
            .post(format!("{}/sessions", self.base))
            .header("X-API-Key", &self.key)
            .multipart(form)
            .send()
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let session: serde_json::Value = response.json().unwrap();
        data_dir
            .join("objects/sessions")
            .join(session["id"].as_str().unwrap())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_paints_over_uploaded_secrets_and_keeps_unmarked_screenshots_only_when_declared_safe() {
    let recorded = recorded();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    assert_redacted(
        &serve.upload(dir.path(), &account_secrets(), None),
        &recorded,
    );
    // Even declared safe, marked secrets are painted over.
    assert_redacted(
        &serve.upload(dir.path(), &account_secrets(), Some("true")),
        &recorded,
    );

    // A recording made with the earlier capture script has no sensitive marks.
    let older = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings/send_simple.trace.json.gz");
    let unmarked = serve.upload(dir.path(), &older, None);
    assert!(
        !unmarked.join("screenshots").exists(),
        "unmarked screenshots are left out"
    );
    assert!(
        !unmarked.join("input_events.jsonl").exists(),
        "the raw upload embeds them: not kept"
    );
    assert!(unmarked.join("session.avro").exists());
    let declared = serve.upload(dir.path(), &older, Some("true"));
    assert!(
        std::fs::read_dir(declared.join("screenshots"))
            .unwrap()
            .count()
            > 10
    );
    assert_eq!(
        std::fs::read(declared.join("input_events.jsonl")).unwrap(),
        std::fs::read(&older).unwrap()
    );
}
