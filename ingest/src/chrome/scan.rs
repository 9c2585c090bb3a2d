//! A streaming splitter for Chrome's Trace Event Format.
//!
//! The trace is either a JSON object whose `traceEvents` member is the event array
//! (other members in any order) or a bare event array whose closing `]` may be
//! missing, as the format allows for traces written by a process that died. The
//! splitter never builds a tree of the document: it scans bytes, tracking only
//! strings and nesting, and hands each event to the caller as one contiguous slice
//! that lives in a reusable buffer. Memory is bounded by the largest single event.
//!
//! The `metadata` member is walked the same way: the DevTools Performance panel
//! saves "enhanced traces" whose metadata holds every script's source map, so
//! only the few members a Session uses are kept and the rest is skipped as it
//! streams past.

use crate::decode::PlainReader;
use crate::error::Location;
use crate::{IngestError, Limits};
use std::io::Read;

const CHUNK: usize = 1 << 20;

/// Byte classes outside strings.
const OTHER: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;

const CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b'"' as usize] = QUOTE;
    t[b'{' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b'}' as usize] = CLOSE;
    t[b']' as usize] = CLOSE;
    t
};

/// The offset of the first `"` or `\\` in `bytes`. Trace strings are mostly
/// short keys, where a word-at-a-time test beats a vectorised search's setup.
#[inline]
fn string_stop(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        let word = u64::from_le_bytes(w);
        let hits = has_byte(word, b'"') | has_byte(word, b'\\');
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
        if i >= 64 {
            // A long string (a screenshot, a URL): hand over to the SIMD search.
            return memchr::memchr2(b'"', b'\\', &bytes[i..]).map(|k| i + k);
        }
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|k| i + k)
}

/// High bit set in every byte of `word` equal to `b`, and possibly in bytes
/// above such a byte: the lowest flagged byte is always a true match.
#[inline]
fn has_byte(word: u64, b: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// What the top level of the trace held besides events.
pub enum TopLevel<'a> {
    /// One trace event, as raw JSON, and the byte offset where it starts.
    Event(&'a [u8], u64),
    /// One member of the object form's `metadata` that [`METADATA_KEYS`]
    /// names: its key, its raw JSON value, and where the value starts.
    Metadata(&'static str, &'a [u8], u64),
}

/// The members of a trace's `metadata` that are read; any other member (source
/// maps, annotations, CPU throttling settings) is skipped unparsed.
pub const METADATA_KEYS: &[&str] = &["user-agent", "startTime", "trace-capture-datetime"];

pub struct Splitter<R: Read> {
    input: PlainReader<R>,
    buf: Vec<u8>,
    /// First byte still needed.
    start: usize,
    /// Next byte to look at.
    pos: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// Absolute offset of `buf[0]` in the plain stream.
    base: u64,
    eof: bool,
    limits: Limits,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Inside the top-level object, before a key or `}`.
    ObjectMember {
        first: bool,
    },
    /// Inside the `metadata` object, before a key or `}`.
    MetadataMember {
        first: bool,
    },
    /// Inside the event array.
    Events {
        top_level: bool,
        first: bool,
    },
    Done,
}

impl<R: Read> Splitter<R> {
    pub fn new(input: PlainReader<R>, limits: Limits) -> Self {
        Splitter {
            input,
            buf: vec![0; CHUNK],
            start: 0,
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            limits,
            state: State::Start,
        }
    }

    fn at(&self, i: usize) -> Location {
        Location::Byte(self.base + i as u64)
    }

    /// Reads more input, first dropping bytes before `self.start`. Returns false
    /// at the end of the input.
    fn fill(&mut self) -> Result<bool, IngestError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.pos -= self.start;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only a single value larger than the buffer gets here.
            if self.buf.len() >= self.limits.max_event_bytes {
                return Err(IngestError::EventTooLarge {
                    at: self.at(0),
                    limit: self.limits.max_event_bytes,
                });
            }
            let grown = (self.buf.len() * 2).min(self.limits.max_event_bytes.max(CHUNK));
            self.buf.resize(grown, 0);
        }
        let n = self.input.read_chunk(&mut self.buf[self.end..])?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.end += n;
        Ok(true)
    }

    /// Skips whitespace and returns the next byte without consuming it, or None at
    /// the end of the input.
    fn peek(&mut self) -> Result<Option<u8>, IngestError> {
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b' ' | b'\n' | b'\r' | b'\t' => self.pos += 1,
                    b => return Ok(Some(b)),
                }
            }
            self.start = self.pos;
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn expect_more(&mut self, what: &str) -> Result<u8, IngestError> {
        match self.peek()? {
            Some(b) => Ok(b),
            None => Err(IngestError::Truncated {
                at: self.at(self.pos),
                message: format!("expected {what}"),
            }),
        }
    }

    /// Scans one JSON value starting at `self.pos`. With `keep`, the whole value
    /// stays in the buffer and its range is returned; otherwise consumed bytes are
    /// released as the scan goes (for members Tracepipe does not use).
    fn scan_value(&mut self, keep: bool) -> Result<(usize, usize), IngestError> {
        // `self.start` marks the value's first byte while it is kept; positions are
        // re-based whenever `fill` moves the buffer.
        self.start = self.pos;
        let first = self.buf[self.pos];
        if CLASS[first as usize] != OPEN && first != b'"' {
            return self.scan_scalar();
        }
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut i = self.pos;
        loop {
            while i < self.end {
                if in_string {
                    if escaped {
                        escaped = false;
                        i += 1;
                        continue;
                    }
                    match string_stop(&self.buf[i..self.end]) {
                        None => i = self.end,
                        Some(k) => {
                            i += k;
                            if self.buf[i] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                if depth == 0 {
                                    return self.finish_value(i + 1, keep);
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                match CLASS[self.buf[i] as usize] {
                    OTHER => {}
                    QUOTE => in_string = true,
                    OPEN => {
                        depth += 1;
                        if depth > self.limits.max_depth {
                            return Err(IngestError::TooDeep {
                                at: self.at(i),
                                limit: self.limits.max_depth,
                            });
                        }
                    }
                    _ => {
                        if depth == 0 {
                            return Err(IngestError::syntax(
                                self.at(i),
                                "unbalanced closing bracket",
                            ));
                        }
                        depth -= 1;
                        if depth == 0 {
                            return self.finish_value(i + 1, keep);
                        }
                    }
                }
                i += 1;
            }
            // Out of data mid-value.
            if !keep {
                self.release_checked(i)?;
            }
            let rel = i - self.start;
            self.pos = i;
            if !self.fill()? {
                return Err(IngestError::Truncated {
                    at: self.at(self.end),
                    message: "the input ends inside a JSON value".into(),
                });
            }
            i = self.start + rel;
        }
    }

    /// Drops `[self.start, upto)` after checking it is valid UTF-8, keeping an
    /// incomplete multi-byte sequence at the end for the next chunk.
    fn release_checked(&mut self, upto: usize) -> Result<(), IngestError> {
        match std::str::from_utf8(&self.buf[self.start..upto]) {
            Ok(_) => self.start = upto,
            Err(e) if e.error_len().is_none() => self.start += e.valid_up_to(),
            Err(e) => {
                return Err(IngestError::Utf8 {
                    at: self.at(self.start + e.valid_up_to()),
                })
            }
        }
        Ok(())
    }

    fn finish_value(
        &mut self,
        value_end: usize,
        keep: bool,
    ) -> Result<(usize, usize), IngestError> {
        self.pos = value_end;
        let from = self.start;
        if let Err(e) = std::str::from_utf8(&self.buf[from..value_end]) {
            return Err(IngestError::Utf8 {
                at: self.at(from + e.valid_up_to()),
            });
        }
        if !keep {
            self.start = value_end;
        }
        Ok((from, value_end))
    }

    /// Numbers, `true`, `false`, `null`: runs of bytes up to a delimiter.
    fn scan_scalar(&mut self) -> Result<(usize, usize), IngestError> {
        let mut i = self.pos;
        loop {
            while i < self.end {
                match self.buf[i] {
                    b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t' => {
                        return self.finish_scalar(i)
                    }
                    _ => i += 1,
                }
            }
            let rel = i - self.start;
            self.pos = i;
            if !self.fill()? {
                // A scalar may end the input only where a closing bracket may be
                // missing; the caller decides, so validate what is there.
                return self.finish_scalar(self.end);
            }
            i = self.start + rel;
        }
    }

    fn finish_scalar(&mut self, end: usize) -> Result<(usize, usize), IngestError> {
        let text = &self.buf[self.start..end];
        if serde_json::from_slice::<serde::de::IgnoredAny>(text).is_err() {
            return Err(IngestError::syntax(
                self.at(self.start),
                format!(
                    "invalid JSON value `{}`",
                    String::from_utf8_lossy(&text[..text.len().min(40)])
                ),
            ));
        }
        self.pos = end;
        Ok((self.start, end))
    }

    /// Reads an object key (a JSON string) at `self.pos`.
    fn read_key(&mut self) -> Result<String, IngestError> {
        let at = self.at(self.pos);
        let (s, e) = self.scan_value(true)?;
        serde_json::from_slice::<String>(&self.buf[s..e])
            .map_err(|err| IngestError::syntax(at, format!("invalid object key: {err}")))
    }

    fn expect_byte(&mut self, want: u8, what: &str) -> Result<(), IngestError> {
        let b = self.expect_more(what)?;
        if b != want {
            return Err(IngestError::syntax(
                self.at(self.pos),
                format!("expected {what}, found `{}`", b as char),
            ));
        }
        self.pos += 1;
        Ok(())
    }

    /// The next event or metadata member, or None when the trace is complete.
    pub fn next_item(&mut self) -> Result<Option<TopLevel<'_>>, IngestError> {
        loop {
            match self.state {
                State::Done => {
                    return match self.peek()? {
                        None => Ok(None),
                        Some(_) => Err(IngestError::syntax(self.at(self.pos), "unexpected data after the end of the trace")),
                    }
                }
                State::Start => match self.peek()? {
                    None => return Err(IngestError::Empty),
                    Some(b'[') => {
                        self.pos += 1;
                        self.state = State::Events { top_level: true, first: true };
                    }
                    Some(b'{') => {
                        self.pos += 1;
                        self.state = State::ObjectMember { first: true };
                    }
                    Some(b) => {
                        return Err(IngestError::UnknownFormat {
                            reason: format!(
                                "a Chrome trace starts with `{{` or `[`, this starts with `{}` (byte 0x{b:02x})",
                                if b.is_ascii_graphic() { b as char } else { '?' }
                            ),
                        })
                    }
                },
                State::ObjectMember { first } => {
                    let b = self.expect_more("a member of the trace object or `}`")?;
                    if b == b'}' {
                        self.pos += 1;
                        self.state = State::Done;
                        continue;
                    }
                    if !first {
                        self.expect_byte(b',', "`,` or `}` in the trace object")?;
                        self.expect_more("a member name")?;
                    }
                    if self.buf[self.pos] != b'"' {
                        return Err(IngestError::syntax(self.at(self.pos), "expected a member name in quotes"));
                    }
                    let key = self.read_key()?;
                    self.expect_byte(b':', "`:` after a member name")?;
                    let vb = self.expect_more("a member value")?;
                    self.state = State::ObjectMember { first: false };
                    match key.as_str() {
                        "traceEvents" => {
                            if vb != b'[' {
                                return Err(IngestError::shape(self.at(self.pos), "`traceEvents` must be an array"));
                            }
                            self.pos += 1;
                            self.state = State::Events { top_level: false, first: true };
                        }
                        "metadata" if vb == b'{' => {
                            self.pos += 1;
                            self.state = State::MetadataMember { first: true };
                        }
                        _ => {
                            self.scan_value(false)?;
                        }
                    }
                }
                State::MetadataMember { first } => {
                    let b = self.expect_more("a member of `metadata` or `}`")?;
                    if b == b'}' {
                        self.pos += 1;
                        self.state = State::ObjectMember { first: false };
                        continue;
                    }
                    if !first {
                        self.expect_byte(b',', "`,` or `}` in `metadata`")?;
                        self.expect_more("a member name")?;
                    }
                    if self.buf[self.pos] != b'"' {
                        return Err(IngestError::syntax(self.at(self.pos), "expected a member name in quotes"));
                    }
                    let key = self.read_key()?;
                    self.expect_byte(b':', "`:` after a member name")?;
                    self.expect_more("a member value")?;
                    self.state = State::MetadataMember { first: false };
                    match METADATA_KEYS.iter().find(|k| **k == key) {
                        Some(known) => {
                            let at = self.base + self.pos as u64;
                            let (s, e) = self.scan_value(true)?;
                            return Ok(Some(TopLevel::Metadata(known, &self.buf[s..e], at)));
                        }
                        None => {
                            self.scan_value(false)?;
                        }
                    }
                }
                State::Events { top_level, first } => {
                    let b = match self.peek()? {
                        Some(b) => b,
                        // The array form may omit its closing bracket.
                        None if top_level => {
                            self.state = State::Done;
                            continue;
                        }
                        None => {
                            return Err(IngestError::Truncated {
                                at: self.at(self.pos),
                                message: "the input ends inside `traceEvents`".into(),
                            })
                        }
                    };
                    if b == b']' {
                        self.pos += 1;
                        self.state = if top_level { State::Done } else { State::ObjectMember { first: false } };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(IngestError::syntax(self.at(self.pos), format!("expected `,` or `]` between trace events, found `{}`", b as char)));
                        }
                        self.pos += 1;
                        match self.peek()? {
                            Some(_) => {}
                            None if top_level => {
                                self.state = State::Done;
                                continue;
                            }
                            None => return Err(IngestError::Truncated { at: self.at(self.pos), message: "the input ends inside `traceEvents`".into() }),
                        }
                    }
                    self.state = State::Events { top_level, first: false };
                    if self.buf[self.pos] != b'{' {
                        return Err(IngestError::shape(self.at(self.pos), "a trace event must be a JSON object"));
                    }
                    let at = self.base + self.pos as u64;
                    let (s, e) = self.scan_value(true)?;
                    return Ok(Some(TopLevel::Event(&self.buf[s..e], at)));
                }
            }
        }
    }
}
