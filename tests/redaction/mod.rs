//! The `account_secrets` recording against what a pipeline stored of it: its
//! screenshots painted over where its `tracepipe:sensitive` marks put the
//! secret fields. Shared by tests/privacy_cli.rs (`process`, `serve`) and
//! tests/distributed_privacy.rs (the gateway).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// What the `account_secrets` fixture recorded: its screenshots in file order
/// (trace time, JPEG) and its `tracepipe:sensitive` marks in time order
/// (time, viewport width and height, field rectangles in CSS pixels).
pub struct Recorded {
    screenshots: Vec<(i64, Vec<u8>)>,
    marks: Vec<(i64, f64, f64, Vec<[f64; 4]>)>,
}

type Mark = (i64, f64, f64, Vec<[f64; 4]>);

pub fn account_secrets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings/account_secrets.trace.json.gz")
}

pub fn recorded() -> Recorded {
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
fn contains_any(haystack: &[u8], needles: &HashSet<[u8; 16]>) -> bool {
    haystack
        .windows(16)
        .any(|w| needles.contains(<&[u8; 16]>::try_from(w).unwrap()))
}

/// Checks a stored session of `account_secrets` against the recording, given
/// as its objects by key relative to the session's folder (`session.avro`,
/// `screenshots/000042.jpg`, …): every stored frame taken while a secret field
/// showed a value has the field's rectangle painted over (where the recorded
/// frame shows the light field), frames without one are stored as recorded,
/// nothing is stored from before the capture script's first mark, the raw
/// upload is not kept, and no object holds a recorded frame that showed a
/// secret, as JPEG or as base64.
pub fn assert_redacted(objects: &BTreeMap<String, Vec<u8>>, recorded: &Recorded) {
    assert!(
        !objects.contains_key("input_events.jsonl"),
        "the raw upload embeds the unredacted frames: not kept"
    );
    let session = tracepipe_schemas::decode_session(&objects["session.avro"]).unwrap();
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
        let stored = &objects[&shot.blob];
        // The mark in force when the frame was taken.
        let mark = recorded.marks.iter().rev().find(|m| m.0 <= *ts).unwrap();
        if mark.3.is_empty() {
            as_recorded += usize::from(stored == original);
            continue;
        }
        let (original, stored) = (decode(original), decode(stored));
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
    let secret_frames: HashSet<[u8; 16]> = recorded
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
    for (key, bytes) in objects {
        assert!(
            !contains_any(bytes, &secret_frames),
            "{key} holds a recorded frame"
        );
    }
}
