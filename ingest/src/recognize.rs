//! Telling JSON that is not a recording from one that is, by its leading bytes.
//!
//! People upload what their browser tools save: a DevTools protocol log, a
//! Lighthouse report, a HAR file, or an empty document. Each parses as JSON
//! and, unrecognised, would become an empty Session. [`recognize`] names what
//! such a file is from the top-level keys of its first bytes, without I/O and
//! without parsing the document, so every caller (`process`, `serve`, the
//! gateway) refuses it the same way and can say how to record a proper one.

use std::fmt;

/// What a JSON document that is not a recording looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRecording {
    /// `{}`.
    EmptyObject,
    /// `[]`.
    EmptyArray,
    /// Chrome DevTools Protocol messages (`method`, `params`, `id`, `result`).
    DevToolsProtocolLog,
    /// A Lighthouse report (`lighthouseVersion`, `audits`, `categories`).
    LighthouseReport,
    /// An HTTP archive (`{"log": {"entries": …}}`).
    Har,
    /// A trace, or other JSON, in which no event of a recorded page was found.
    EmptyTrace,
}

impl NotRecording {
    /// A short, stable name for logs and error bodies.
    pub fn name(self) -> &'static str {
        match self {
            NotRecording::EmptyObject => "empty_object",
            NotRecording::EmptyArray => "empty_array",
            NotRecording::DevToolsProtocolLog => "devtools_protocol_log",
            NotRecording::LighthouseReport => "lighthouse_report",
            NotRecording::Har => "har",
            NotRecording::EmptyTrace => "empty_trace",
        }
    }
}

impl fmt::Display for NotRecording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotRecording::EmptyObject => "an empty JSON object (`{}`)",
            NotRecording::EmptyArray => "an empty JSON array (`[]`)",
            NotRecording::DevToolsProtocolLog => {
                "a Chrome DevTools Protocol log (messages with `method` and `params`)"
            }
            NotRecording::LighthouseReport => "a Lighthouse report",
            NotRecording::Har => "a HAR file (an HTTP archive of network requests)",
            NotRecording::EmptyTrace => {
                "an empty trace (no capture marks, inputs, navigations, requests or screenshots of a page)"
            }
        })
    }
}

/// Names what `prefix` (the first plain bytes of an upload) is when it is
/// plainly not a recording. `complete` says that `prefix` is the whole
/// document, which is needed to call `{}` or `[]` empty.
pub fn recognize(prefix: &[u8], complete: bool) -> Option<NotRecording> {
    let text = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    let mut scan = Scan { bytes: text, at: 0 };
    scan.skip_space();
    match scan.peek()? {
        b'{' => {
            scan.at += 1;
            let keys = scan.object_keys();
            if keys.is_empty() {
                return (complete && scan.rest_is_close(b'}')).then_some(NotRecording::EmptyObject);
            }
            of_keys(&keys)
        }
        b'[' => {
            scan.at += 1;
            scan.skip_space();
            match scan.peek() {
                Some(b']') => {
                    scan.at += 1;
                    scan.skip_space();
                    (complete && scan.at == text.len()).then_some(NotRecording::EmptyArray)
                }
                Some(b'{') => {
                    scan.at += 1;
                    let keys = scan.object_keys();
                    is_protocol_message(&keys).then_some(NotRecording::DevToolsProtocolLog)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// What a top-level object with these keys (in order) is, if not a recording.
fn of_keys(keys: &[&[u8]]) -> Option<NotRecording> {
    let has = |k: &[u8]| keys.contains(&k);
    // A trace object may carry anything beside its events; it is never refused here.
    if has(b"traceEvents") {
        return None;
    }
    if has(b"lighthouseVersion") {
        return Some(NotRecording::LighthouseReport);
    }
    if keys.first() == Some(&&b"log"[..]) {
        return Some(NotRecording::Har);
    }
    is_protocol_message(keys).then_some(NotRecording::DevToolsProtocolLog)
}

/// A DevTools protocol message: a command (`id`, `method`, `params`), its
/// answer (`id`, `result`/`error`) or an event (`method`, `params`).
fn is_protocol_message(keys: &[&[u8]]) -> bool {
    let has = |k: &[u8]| keys.contains(&k);
    // Trace events have `ph` and `ts`; capture lines have `action`.
    if has(b"ph") || has(b"ts") || has(b"action") {
        return false;
    }
    (has(b"method") && (has(b"params") || has(b"id") || has(b"sessionId")))
        || (has(b"id") && (has(b"result") || has(b"error")))
}

/// A cursor over the prefix that only ever moves forward.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// After an object's `{`: whether only whitespace and its `}` remain.
    fn rest_is_close(&mut self, close: u8) -> bool {
        self.skip_space();
        if self.peek() != Some(close) {
            return false;
        }
        self.at += 1;
        self.skip_space();
        self.at == self.bytes.len()
    }

    /// The raw contents of the string starting at the cursor's `"`, escapes
    /// left as they are; None when it does not end within the prefix.
    fn string(&mut self) -> Option<&'a [u8]> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut i = start;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.at = i + 1;
                    return Some(&self.bytes[start..i]);
                }
                _ => i += 1,
            }
        }
        None
    }

    /// Skips one JSON value, tracking only strings and nesting; false when it
    /// does not end within the prefix.
    fn skip_value(&mut self) -> bool {
        let mut depth = 0usize;
        loop {
            self.skip_space();
            let Some(b) = self.peek() else { return false };
            match b {
                b'"' => {
                    if self.string().is_none() {
                        return false;
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' => {
                    if depth == 0 {
                        return true;
                    }
                    depth -= 1;
                    self.at += 1;
                }
                b',' if depth == 0 => return true,
                _ => self.at += 1,
            }
            if depth == 0 && !matches!(self.peek(), Some(b'{' | b'[' | b'"')) {
                // A scalar ends at the next `,`, `}` or `]`.
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']'))
                {
                    self.at += 1;
                }
                return self.peek().is_some();
            }
        }
    }

    /// The keys of the object whose `{` was just passed, as far as the prefix
    /// holds them.
    fn object_keys(&mut self) -> Vec<&'a [u8]> {
        let mut keys = Vec::new();
        loop {
            self.skip_space();
            let Some(key) = self.string() else {
                return keys;
            };
            keys.push(key);
            self.skip_space();
            if self.peek() != Some(b':') {
                return keys;
            }
            self.at += 1;
            if !self.skip_value() {
                return keys;
            }
            self.skip_space();
            if self.peek() != Some(b',') {
                return keys;
            }
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_not_a_recording() {
        let cases: &[(&[u8], Option<NotRecording>)] = &[
            (b" {} \n", Some(NotRecording::EmptyObject)),
            (b"[ ]", Some(NotRecording::EmptyArray)),
            (
                b"\xEF\xBB\xBF{\"lighthouseVersion\":\"12.0.0\",\"audits\":{}}",
                Some(NotRecording::LighthouseReport),
            ),
            (
                b"{\"requestedUrl\":\"http://x/\",\"lighthouseVersion\":\"9\"",
                Some(NotRecording::LighthouseReport),
            ),
            (
                b"{\"log\":{\"version\":\"1.2\",\"entries\":[]}}",
                Some(NotRecording::Har),
            ),
            (
                b"[{\"method\":\"Network.requestWillBeSent\",\"params\":{\"x\":[1,{\"y\":2}]}}]",
                Some(NotRecording::DevToolsProtocolLog),
            ),
            (
                b"{\"id\":3,\"result\":{}}\n{\"id\":4,\"method\":\"Page.navigate\"}",
                Some(NotRecording::DevToolsProtocolLog),
            ),
            // Recordings, or the start of one, are left to the readers.
            (b"{\"traceEvents\":[]}", None),
            (b"{\"metadata\":{\"a\":\"}\"},\"traceEvents\":[", None),
            (
                b"[{\"name\":\"x\",\"ph\":\"I\",\"ts\":1,\"method\":\"m\",\"params\":{}}]",
                None,
            ),
            (b"{\"suite\":\"gmail\",\"action\":\"click\"}", None),
            (b"[", None),
            (b"{", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                recognize(bytes, true),
                *expected,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        // Only a whole document can be called empty.
        assert_eq!(recognize(b"{}", false), None);
        assert_eq!(recognize(b"[]", false), None);
    }
}
