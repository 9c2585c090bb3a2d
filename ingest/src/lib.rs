//! Streaming readers that turn a browser recording into a normalised
//! [`Session`](tracepipe_schemas::Session).
//!
//! Two recording shapes are read: a Chrome trace (the Trace Event Format's JSON
//! object or bare array, or Perfetto's protobuf, gzipped or not) and the
//! capture extension's `input_events.jsonl`.
//! Readers never hold the whole recording: memory is bounded by the largest single
//! event plus the events kept, and screenshots are handed to a [`ScreenshotSink`]
//! one at a time. Every failure is an [`IngestError`] that says what is wrong and
//! where; no input makes a reader panic.
//!
//! ```
//! use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};
//! let trace = br#"{"traceEvents":[{"name":"tracepipe:click","cat":"blink.user_timing","ph":"I","ts":10,"pid":1,"args":{"data":{"detail":"{\"target\":{\"tag\":\"button\",\"label\":\"Compose\"},\"url\":\"http://localhost/#inbox\"}"}}}]}"#;
//! let session = read_session(&trace[..], "s-1".into(), &Limits::default(), &mut DiscardScreenshots).unwrap();
//! assert_eq!(session.events[0].label(), Some("Compose"));
//! ```

mod builder;
pub mod capture;
mod chrome;
mod decode;
mod error;
mod jsonl;
mod limits;
mod marks;
pub mod privacy;
mod recognize;
pub mod redact;

pub use builder::Scrubbed;
pub use capture::{Capture, CaptureReport};
pub use error::{IngestError, Location};
pub use limits::{Limits, DEFAULT_MAX_EVENTS};
pub use recognize::{recognize, NotRecording};

use decode::PlainReader;
use redact::{ScreenPrivacy, ScreenshotGuard};
use std::io::Read;
use tracepipe_schemas::{Session, SourceFormat};

/// Where screenshots go while a recording is read.
pub trait ScreenshotSink {
    /// Keeps one JPEG taken from a trace and returns its object key, relative to
    /// the session's folder.
    fn store(&mut self, index: usize, jpeg: &[u8]) -> Result<String, String>;

    /// Resolves a screenshot file uploaded beside `input_events.jsonl`, returning
    /// its object key and size.
    fn reference(&mut self, index: usize, filename: &str) -> Result<(String, i64), String>;

    /// Whether [`store`](Self::store) needs the images. A sink that does not
    /// (one that only counts) is never called for trace screenshots; their keys
    /// are [`screenshot_key`]s and the reader skips decoding them.
    fn needs_images(&self) -> bool {
        true
    }
}

/// The object key of the `index`th screenshot of a session.
pub fn screenshot_key(index: usize) -> String {
    format!("screenshots/{index:06}.jpg")
}

/// Counts screenshots without keeping them (for `inspect` and benchmarks).
pub struct DiscardScreenshots;

impl ScreenshotSink for DiscardScreenshots {
    fn store(&mut self, index: usize, _jpeg: &[u8]) -> Result<String, String> {
        Ok(screenshot_key(index))
    }

    fn needs_images(&self) -> bool {
        false
    }

    fn reference(&mut self, _index: usize, filename: &str) -> Result<(String, i64), String> {
        Ok((filename.to_string(), 0))
    }
}

/// Sniffs which kind of recording the leading bytes are.
fn detect(prefix: &[u8]) -> Result<SourceFormat, IngestError> {
    let text = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(IngestError::Empty);
    };
    match text[start] {
        b'[' => Ok(SourceFormat::ChromeTrace),
        b'{' => {
            // A JSON Lines recording starts with an event object; a trace object
            // starts with `traceEvents`, `metadata` or another member of its own.
            let rest = &text[start + 1..];
            let key_start = rest.iter().position(|b| !b.is_ascii_whitespace()).map(|k| k + 1);
            let key = key_start
                .filter(|&k| rest.get(k - 1) == Some(&b'"'))
                .and_then(|k| rest[k..].iter().position(|&b| b == b'"').map(|e| &rest[k..k + e]));
            const EVENT_KEYS: &[&[u8]] =
                &[b"suite", b"tab", b"url", b"timestamp", b"action", b"selector", b"additional_info"];
            match key {
                Some(k) if EVENT_KEYS.contains(&k) => Ok(SourceFormat::InputEventsJsonl),
                _ => Ok(SourceFormat::ChromeTrace),
            }
        }
        b => Err(IngestError::UnknownFormat {
            reason: format!(
                "expected a Chrome trace (JSON or Perfetto protobuf) or input_events.jsonl, but the content starts with byte 0x{b:02x}"
            ),
        }),
    }
}

/// Reads one recording, gzipped or plain, of either shape, into a Session,
/// with every screenshot as recorded: for sinks that keep no images
/// ([`DiscardScreenshots`]). What stores screenshots reads through
/// [`read_session_scrubbed`] with a [`ScreenshotGuard`].
pub fn read_session<R: Read>(
    reader: R,
    session_id: String,
    limits: &Limits,
    screenshots: &mut dyn ScreenshotSink,
) -> Result<Session, IngestError> {
    read_session_scrubbed(
        reader,
        session_id,
        limits,
        &ScreenshotGuard::keep_all(),
        screenshots,
    )
    .map(|(session, _)| session)
}

/// Like [`read_session`], with the screenshots painted over or left out as
/// `guard` decides, also saying which secrets the recording carried and
/// normalisation removed, so that a caller never keeps such a recording
/// verbatim.
pub fn read_session_scrubbed<R: Read>(
    reader: R,
    session_id: String,
    limits: &Limits,
    guard: &ScreenshotGuard,
    screenshots: &mut dyn ScreenshotSink,
) -> Result<(Session, Scrubbed), IngestError> {
    let (input, shape) = open(reader, limits)?;
    let builder = match shape {
        Shape::Chrome(encoding) => chrome::read(input, encoding, *limits, guard, screenshots)?,
        Shape::InputEventsJsonl => jsonl::read(input, *limits, guard, screenshots)?,
    };
    if builder.is_empty() {
        // JSON that holds nothing of a page: refused rather than stored as
        // an empty Session that would be processed and billed.
        return Err(IngestError::NotARecording {
            kind: NotRecording::EmptyTrace,
        });
    }
    let (session, scrubbed) = builder.finish(session_id);
    // The readers stop at the limit; the navigations derived from URL changes
    // may add some, and the Session as stored must be within it too.
    if session.events.len() > limits.max_events {
        return Err(IngestError::TooManyEvents {
            limit: limits.max_events,
        });
    }
    Ok((session, scrubbed))
}

/// The cheap check of an upload that is read later (the distributed gateway
/// hands the reading to the processors): what [`read_session`] refuses from
/// the first bytes (not JSON nor Perfetto, a DevTools log, a HAR file, an
/// empty document), and for JSON Lines, whose lines are cheap to count, more
/// lines than `limits.max_events` and the decompressed-size bounds. A Chrome
/// trace is not read past its first bytes: what is wrong deeper in it is found
/// when it is read. Answers the recording's format.
pub fn check_upload<R: Read>(reader: R, limits: &Limits) -> Result<SourceFormat, IngestError> {
    let (mut input, shape) = open(reader, limits)?;
    match shape {
        Shape::Chrome(_) => Ok(SourceFormat::ChromeTrace),
        Shape::InputEventsJsonl => {
            let mut chunk = vec![0u8; 256 << 10];
            // Lines with something on them, as the reader counts events.
            let mut lines = 0usize;
            let mut line_has_text = false;
            loop {
                let n = input.read_chunk(&mut chunk)?;
                if n == 0 {
                    break;
                }
                for &byte in &chunk[..n] {
                    if byte == b'\n' {
                        lines += usize::from(line_has_text);
                        line_has_text = false;
                    } else if !byte.is_ascii_whitespace() {
                        line_has_text = true;
                    }
                }
                if lines > limits.max_events {
                    return Err(IngestError::TooManyEvents {
                        limit: limits.max_events,
                    });
                }
            }
            lines += usize::from(line_has_text);
            if lines > limits.max_events {
                return Err(IngestError::TooManyEvents {
                    limit: limits.max_events,
                });
            }
            Ok(SourceFormat::InputEventsJsonl)
        }
    }
}

/// The first of two passes over a recording whose screenshots are kept: where
/// its `tracepipe:sensitive` marks say secrets were on screen, and when its
/// embedded screenshots were taken, for a [`ScreenshotGuard`]. A JSON Lines
/// recording embeds no images and has no such marks.
pub fn scan_screen_privacy<R: Read>(
    reader: R,
    limits: &Limits,
) -> Result<ScreenPrivacy, IngestError> {
    let (input, shape) = open(reader, limits)?;
    match shape {
        Shape::Chrome(encoding) => chrome::scan_privacy(input, encoding, *limits),
        Shape::InputEventsJsonl => Ok(ScreenPrivacy::default()),
    }
}

/// What a recording is, as its content says: a Chrome trace in either
/// encoding, or the capture extension's JSON Lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Chrome(chrome::Encoding),
    InputEventsJsonl,
}

/// Unwraps gzip and sniffs the shape of a recording from its content (a
/// file's name says nothing: `.json` files hold Perfetto traces too).
fn open<R: Read>(reader: R, limits: &Limits) -> Result<(PlainReader<R>, Shape), IngestError> {
    let mut input = PlainReader::new(reader, limits)?;
    // Leading whitespace has no bound of its own; the size limits bound it.
    let mut want = 4096;
    let shape = loop {
        let prefix = input.peek_prefix(want)?;
        let complete = prefix.len() < want;
        // Checked first: a packet's tag byte is a newline to a JSON sniffer.
        if chrome::looks_like_perfetto(prefix, complete) {
            break Shape::Chrome(chrome::Encoding::Perfetto);
        }
        let blank = prefix.iter().all(u8::is_ascii_whitespace);
        if !blank || complete {
            if let Some(kind) = recognize(prefix, complete) {
                return Err(IngestError::NotARecording { kind });
            }
            break match detect(prefix)? {
                SourceFormat::ChromeTrace => Shape::Chrome(chrome::Encoding::Json),
                SourceFormat::InputEventsJsonl => Shape::InputEventsJsonl,
            };
        }
        want *= 4;
    };
    Ok((input, shape))
}
