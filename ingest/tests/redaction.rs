//! Screenshots read through a ScreenshotGuard: painted over where the capture
//! script's `tracepipe:sensitive` marks located a secret, left out where
//! nothing located anything, in whatever order the trace holds its events.

use base64::Engine;
use tracepipe_ingest::redact::{ScreenshotGuard, UnmarkedScreenshots};
use tracepipe_ingest::{read_session_scrubbed, scan_screen_privacy, Limits, ScreenshotSink};

/// A 200×100 frame of a 400×200 viewport: white, with a dark "text" stripe
/// pattern across the row where the secret field is.
fn frame() -> Vec<u8> {
    let (w, h) = (200u16, 100u16);
    let mut pixels = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let ink = (40..60).contains(&y) && (x / 3) % 2 == 0;
            pixels.extend_from_slice(if ink { &[10, 10, 10] } else { &[250, 250, 250] });
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

fn screenshot(ts: i64) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(frame());
    serde_json::json!({"args": {"snapshot": b64}, "cat": "disabled-by-default-devtools.screenshot",
        "id": "0x1", "name": "Screenshot", "ph": "O", "pid": 1, "tid": 1, "ts": ts})
}

fn sensitive(ts: i64, fields: serde_json::Value) -> serde_json::Value {
    let detail = serde_json::json!({"viewport": {"width": 400, "height": 200}, "dpr": 1, "fields": fields,
        "reason": "input", "url": "http://localhost/#settings"});
    serde_json::json!({"args": {"data": {"detail": detail.to_string()}}, "cat": "blink.user_timing",
        "name": "tracepipe:sensitive", "ph": "I", "pid": 2, "tid": 2, "ts": ts})
}

fn click(ts: i64) -> serde_json::Value {
    let detail = serde_json::json!({"target": {"tag": "button", "label": "Save"}, "url": "http://localhost/#settings"});
    serde_json::json!({"args": {"data": {"detail": detail.to_string()}}, "cat": "blink.user_timing",
        "name": "tracepipe:click", "ph": "I", "pid": 2, "tid": 2, "ts": ts})
}

struct Collect(Vec<(usize, Vec<u8>)>);
impl ScreenshotSink for Collect {
    fn store(&mut self, index: usize, jpeg: &[u8]) -> Result<String, String> {
        self.0.push((index, jpeg.to_vec()));
        Ok(format!("shot-{index}"))
    }
    fn reference(&mut self, _: usize, f: &str) -> Result<(String, i64), String> {
        Ok((f.into(), 1))
    }
}

fn read(
    trace: &[u8],
    unmarked: UnmarkedScreenshots,
) -> (Collect, tracepipe_ingest::Scrubbed, bool) {
    let privacy = scan_screen_privacy(trace, &Limits::default()).unwrap();
    let guard = ScreenshotGuard::new(privacy, unmarked);
    let mut sink = Collect(Vec::new());
    let (session, scrubbed) =
        read_session_scrubbed(trace, "s".into(), &Limits::default(), &guard, &mut sink).unwrap();
    let referenced = session
        .events
        .iter()
        .filter(|e| e.screenshot.is_some())
        .count();
    assert_eq!(
        referenced,
        sink.0.len(),
        "every stored screenshot is in the session, and only those"
    );
    (sink, scrubbed, guard.alters_embedded_screenshots())
}

/// The darkest and lightest luma-ish value (red channel) in a box of a frame.
fn range(jpeg: &[u8], (x0, y0, x1, y1): (usize, usize, usize, usize)) -> (u8, u8) {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().unwrap();
    let width = usize::from(decoder.info().unwrap().width);
    let values = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (y, x)))
        .map(|(y, x)| pixels[(y * width + x) * 3]);
    values.fold((255, 0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

#[test]
fn marked_regions_are_painted_over_and_unmarked_frames_left_out_whatever_the_event_order() {
    // The field (CSS 100,80 160×40 → frame pixels 50,40 80×20) shows a value
    // from 2 s until it is emptied at 4 s. Screenshots come first in the file,
    // the marks after them, as Chrome may write them.
    let events = vec![
        screenshot(500_000),   // before the first mark: the script may not run yet
        screenshot(1_500_000), // nothing shown
        screenshot(3_000_000), // the field shows its value
        screenshot(4_200_000), // just emptied: the frame may still show it
        screenshot(6_000_000), // long emptied
        click(1_200_000),
        sensitive(4_000_000, serde_json::json!([])),
        sensitive(
            2_000_000,
            serde_json::json!([{"x": 100, "y": 80, "width": 160, "height": 40}]),
        ),
        sensitive(1_000_000, serde_json::json!([])),
    ];
    let trace = serde_json::to_vec(&serde_json::json!({ "traceEvents": events })).unwrap();
    let (sink, scrubbed, altered) = read(&trace, UnmarkedScreenshots::Drop);
    assert!(
        altered,
        "the recording holds frames that are not stored as recorded"
    );
    assert_eq!(
        (scrubbed.screenshots_redacted, scrubbed.screenshots_dropped),
        (2, 1)
    );
    let indices: Vec<usize> = sink.0.iter().map(|(i, _)| *i).collect();
    assert_eq!(indices, vec![1, 2, 3, 4]);
    let field = (50, 40, 130, 60);
    let original = frame();
    assert!(
        range(&original, field).1 - range(&original, field).0 > 200,
        "the field shows text as recorded"
    );
    for (index, jpeg) in &sink.0 {
        let (lo, hi) = range(jpeg, field);
        if [2, 3].contains(index) {
            assert!(
                hi <= 8,
                "frame {index}: the field is painted over ({lo}..{hi})"
            );
            // The rest of the frame is as it was.
            assert!(range(jpeg, (0, 80, 200, 100)).0 > 230, "frame {index}");
        } else {
            assert_eq!(jpeg, &original, "frame {index} is stored as recorded");
        }
    }
}

#[test]
fn a_recording_without_sensitive_marks_keeps_screenshots_only_when_declared_safe() {
    let events = vec![click(1_000), screenshot(2_000), screenshot(3_000)];
    let trace = serde_json::to_vec(&serde_json::json!({ "traceEvents": events })).unwrap();
    let (sink, scrubbed, altered) = read(&trace, UnmarkedScreenshots::Drop);
    assert!(sink.0.is_empty() && altered);
    assert_eq!(scrubbed.screenshots_dropped, 2);
    let (sink, scrubbed, altered) = read(&trace, UnmarkedScreenshots::Keep);
    assert_eq!(sink.0.len(), 2);
    assert!(!altered);
    assert_eq!(
        (scrubbed.screenshots_redacted, scrubbed.screenshots_dropped),
        (0, 0)
    );
}

#[test]
fn a_malformed_sensitive_mark_is_a_located_error() {
    let mut bad = sensitive(1_000, serde_json::json!([]));
    bad["args"]["data"]["detail"] = serde_json::json!(r#"{"fields": []}"#);
    let trace =
        serde_json::to_vec(&serde_json::json!({ "traceEvents": [click(500), bad] })).unwrap();
    let error = scan_screen_privacy(&trace[..], &Limits::default()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("tracepipe:sensitive") && text.contains("viewport"),
        "{text}"
    );
}
