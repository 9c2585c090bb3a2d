use crate::recognize::NotRecording;
use std::fmt;

/// Where in the input a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Byte offset into the decompressed recording.
    Byte(u64),
    /// 1-based line of a JSON Lines file.
    Line(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Byte(b) => write!(f, "byte {b}"),
            Location::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// Why a recording could not be read. Every variant says what is wrong and, when
/// it is about the content, where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("reading the recording failed: {source}")]
    Io {
        #[source]
        source: std::io::Error,
    },
    #[error("the gzip stream is corrupt after {compressed_offset} compressed bytes: {source}")]
    Gzip {
        compressed_offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("the recording decompresses to more than {limit} bytes (a compression bomb or an oversized upload)")]
    DecompressedTooLarge { limit: u64 },
    #[error("the gzip stream expands {ratio}:1, more than the {max_ratio}:1 a real recording does (a compression bomb)")]
    CompressionBomb { ratio: u64, max_ratio: u64 },
    #[error("the recording is empty")]
    Empty,
    #[error("not a recording Tracepipe can read: {reason}")]
    UnknownFormat { reason: String },
    #[error(
        "not a recording: this looks like {kind}. Tracepipe reads a Chrome performance trace recorded \
         with the capture script, or the capture extension's input_events.jsonl; docs/recording.md says how to record one"
    )]
    NotARecording { kind: NotRecording },
    #[error(
        "the recording has more than {limit} events, more than one session may have; split it into shorter \
         recordings, or raise the events limit (max_events)"
    )]
    TooManyEvents { limit: usize },
    #[error("malformed JSON at {at}: {message}")]
    Syntax { at: Location, message: String },
    #[error("invalid UTF-8 at {at}")]
    Utf8 { at: Location },
    #[error("JSON nested deeper than {limit} levels at {at}")]
    TooDeep { at: Location, limit: usize },
    #[error("a single trace event at {at} is larger than {limit} bytes")]
    EventTooLarge { at: Location, limit: usize },
    #[error("unexpected value at {at}: {message}")]
    Shape { at: Location, message: String },
    #[error("the recording ended early (truncated) at {at}: {message}")]
    Truncated { at: Location, message: String },
    #[error("storing screenshot {index} failed: {message}")]
    Screenshot { index: usize, message: String },
}

impl IngestError {
    pub(crate) fn syntax(at: Location, message: impl Into<String>) -> Self {
        IngestError::Syntax {
            at,
            message: message.into(),
        }
    }

    pub(crate) fn shape(at: Location, message: impl Into<String>) -> Self {
        IngestError::Shape {
            at,
            message: message.into(),
        }
    }

    /// A short, stable code for metrics and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Io { .. } => "io",
            IngestError::Gzip { .. } => "bad_gzip",
            IngestError::DecompressedTooLarge { .. } => "too_large",
            IngestError::CompressionBomb { .. } => "compression_bomb",
            IngestError::Empty => "empty",
            IngestError::UnknownFormat { .. } => "unknown_format",
            IngestError::NotARecording { .. } => "not_a_recording",
            IngestError::TooManyEvents { .. } => "too_many_events",
            IngestError::Syntax { .. } => "syntax",
            IngestError::Utf8 { .. } => "utf8",
            IngestError::TooDeep { .. } => "too_deep",
            IngestError::EventTooLarge { .. } => "event_too_large",
            IngestError::Shape { .. } => "shape",
            IngestError::Truncated { .. } => "truncated",
            IngestError::Screenshot { .. } => "screenshot",
        }
    }
}
