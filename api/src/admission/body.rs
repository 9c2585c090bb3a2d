//! The body guards: a minimum rate for every request body, and for uploads
//! bounded multipart part headers and the per-key upload slot held while the
//! request runs; enforced on the bytes as they stream in.
//!
//! The multipart parser buffers a part's header block whole until it finds its
//! end, so a 200 MB "header" would be held in memory: the framing scanner here
//! refuses it after `max_part_header_bytes`, holding only a boundary's length
//! of carry-over. When the guard cuts a body, the handler sees a failed
//! stream and answers whatever it answers; the middleware then replaces that
//! answer with the guard's own (408 or 413), which says what happened.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use super::keys::{key_id, too_many_uploads};
use super::{refusal, Admission};

/// Why the guard cut an upload's body.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BodyRefusal {
    #[error("the upload sent fewer than {min_bytes_per_sec} bytes/s over {window_secs} s")]
    TooSlow {
        min_bytes_per_sec: u64,
        window_secs: u64,
    },
    #[error("a multipart part's headers are longer than {limit} bytes")]
    PartHeaderTooLarge { limit: usize },
}

impl BodyRefusal {
    fn response(self) -> Response {
        let mut response = match self {
            BodyRefusal::TooSlow { .. } => refusal(
                StatusCode::REQUEST_TIMEOUT,
                "upload_too_slow",
                format!("{self}; the upload was cut. Send it over a faster connection"),
            ),
            BodyRefusal::PartHeaderTooLarge { .. } => refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "part_header_too_large",
                format!("{self}; a form field's name and headers must be short"),
            ),
        };
        // The rest of the body is not read: the connection cannot be reused.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// The error the guarded body stream ends with.
#[derive(Debug, thiserror::Error)]
enum GuardError {
    #[error(transparent)]
    Refused(#[from] BodyRefusal),
    #[error(transparent)]
    Body(axum::Error),
}

/// The minimum-rate check. Time counts only while the server waits for the
/// client (the inner stream is pending), so a server slow to read never
/// blames the client.
#[derive(Debug)]
pub struct RateFloor {
    min_bytes_per_sec: u64,
    window: Duration,
    bytes: u64,
    waited: Duration,
    waiting_since: Option<Instant>,
}

impl RateFloor {
    pub fn new(min_bytes_per_sec: u64, window: Duration) -> RateFloor {
        RateFloor {
            min_bytes_per_sec,
            window,
            bytes: 0,
            waited: Duration::ZERO,
            waiting_since: None,
        }
    }

    fn refusal(&self) -> BodyRefusal {
        BodyRefusal::TooSlow {
            min_bytes_per_sec: self.min_bytes_per_sec,
            window_secs: self.window.as_secs(),
        }
    }

    /// The server starts or keeps waiting for the client at `now`; the
    /// instant by which the current window must be judged.
    pub fn waiting(&mut self, now: Instant) -> Instant {
        let since = *self.waiting_since.get_or_insert(now);
        since + self.window.saturating_sub(self.waited)
    }

    /// `n` bytes arrived at `now`.
    pub fn arrived(&mut self, n: usize, now: Instant) -> Result<(), BodyRefusal> {
        self.stop_waiting(now);
        self.bytes = self.bytes.saturating_add(n as u64);
        self.judge()
    }

    /// The deadline from [`RateFloor::waiting`] passed at `now` with nothing
    /// arriving.
    pub fn timed_out(&mut self, now: Instant) -> Result<(), BodyRefusal> {
        self.stop_waiting(now);
        self.judge()?;
        // Enough bytes came in the window: the client may go on waiting.
        self.waiting_since = Some(now);
        Ok(())
    }

    fn stop_waiting(&mut self, now: Instant) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += now.saturating_duration_since(since);
        }
    }

    /// At the end of each window of waiting, the window's bytes must reach
    /// the floor; then a new window starts.
    fn judge(&mut self) -> Result<(), BodyRefusal> {
        if self.waited < self.window {
            return Ok(());
        }
        let needed = self
            .min_bytes_per_sec
            .saturating_mul(self.window.as_secs().max(1));
        if self.bytes < needed {
            return Err(self.refusal());
        }
        self.bytes = 0;
        self.waited = Duration::ZERO;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    /// Before the first delimiter: bounded like a header block.
    Preamble,
    /// Inside a part's content: unbounded (the body limit applies).
    Content,
    /// Just after a delimiter: `--` closes the body, anything else opens a
    /// part's header block.
    AfterDelimiter,
    /// Inside a part's header block, which began at this body offset.
    Headers { start: u64 },
    /// After the closing delimiter: nothing more is parsed.
    Epilogue,
}

/// Follows the multipart framing of a body to bound each part's header block
/// (and the preamble), keeping only a delimiter's length of bytes between
/// chunks.
#[derive(Debug)]
pub struct PartHeaderLimit {
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    limit: usize,
    state: Framing,
    /// Unscanned tail of the previous chunk(s), starting at body offset `carry_at`.
    carry: Vec<u8>,
    carry_at: i64,
    scan: Vec<u8>,
}

impl PartHeaderLimit {
    pub fn new(boundary: &str, limit: usize) -> PartHeaderLimit {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        PartHeaderLimit {
            delimiter,
            limit,
            state: Framing::Preamble,
            // The first delimiter need not follow a line break: a virtual one
            // before the body lets one search find them all.
            carry: b"\r\n".to_vec(),
            carry_at: -2,
            scan: Vec::new(),
        }
    }

    /// Scans the next chunk of the body.
    pub fn scan(&mut self, chunk: &[u8]) -> Result<(), BodyRefusal> {
        if self.state == Framing::Epilogue {
            return Ok(());
        }
        let mut scan = std::mem::take(&mut self.scan);
        scan.clear();
        scan.extend_from_slice(&self.carry);
        scan.extend_from_slice(chunk);
        let result = self.scan_buffer(&scan);
        self.scan = scan;
        result
    }

    fn too_large(&self) -> BodyRefusal {
        BodyRefusal::PartHeaderTooLarge { limit: self.limit }
    }

    fn scan_buffer(&mut self, buf: &[u8]) -> Result<(), BodyRefusal> {
        let base = self.carry_at;
        let end = base + buf.len() as i64;
        let limit = self.limit as i64;
        let mut pos = 0usize;
        // Bytes from `keep` on are carried to the next chunk.
        let keep = loop {
            match self.state {
                Framing::Preamble | Framing::Content => {
                    match memchr::memmem::find(&buf[pos..], &self.delimiter) {
                        Some(i) => {
                            pos += i + self.delimiter.len();
                            self.state = Framing::AfterDelimiter;
                        }
                        None => {
                            if self.state == Framing::Preamble && end > limit {
                                return Err(self.too_large());
                            }
                            let tail = self.delimiter.len() - 1;
                            break buf.len().saturating_sub(tail).max(pos);
                        }
                    }
                }
                Framing::AfterDelimiter => {
                    if buf.len() - pos < 2 {
                        break pos;
                    }
                    if &buf[pos..pos + 2] == b"--" {
                        self.state = Framing::Epilogue;
                        break buf.len();
                    }
                    self.state = Framing::Headers {
                        start: (base + pos as i64).max(0) as u64,
                    };
                }
                Framing::Headers { start } => {
                    let start = start as i64;
                    match memchr::memmem::find(&buf[pos..], b"\r\n\r\n") {
                        Some(i) => {
                            if base + (pos + i) as i64 - start > limit {
                                return Err(self.too_large());
                            }
                            // Keep the blank line's CRLF: the next delimiter
                            // may follow an empty part's content at once.
                            pos += i + 2;
                            self.state = Framing::Content;
                        }
                        None => {
                            if end - start > limit {
                                return Err(self.too_large());
                            }
                            break buf.len().saturating_sub(3).max(pos);
                        }
                    }
                }
                Framing::Epilogue => break buf.len(),
            }
        };
        self.carry.clear();
        self.carry.extend_from_slice(&buf[keep..]);
        self.carry_at = base + keep as i64;
        Ok(())
    }
}

/// A request body under the guard.
struct GuardedBody {
    inner: axum::body::BodyDataStream,
    rate: Option<(RateFloor, Pin<Box<Sleep>>)>,
    framing: Option<PartHeaderLimit>,
    verdict: Arc<OnceLock<BodyRefusal>>,
    done: bool,
}

impl GuardedBody {
    fn refuse(&mut self, refusal: BodyRefusal) -> Poll<Option<Result<Bytes, GuardError>>> {
        let _ = self.verdict.set(refusal);
        self.done = true;
        Poll::Ready(Some(Err(GuardError::Refused(refusal))))
    }
}

impl Stream for GuardedBody {
    type Item = Result<Bytes, GuardError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some((floor, _)) = &mut this.rate {
                    if let Err(r) = floor.arrived(chunk.len(), Instant::now()) {
                        return this.refuse(r);
                    }
                }
                if let Some(framing) = &mut this.framing {
                    if let Err(r) = framing.scan(&chunk) {
                        return this.refuse(r);
                    }
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(GuardError::Body(e))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some((floor, timer)) = &mut this.rate else {
                    return Poll::Pending;
                };
                loop {
                    let deadline = floor.waiting(Instant::now());
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if let Err(r) = floor.timed_out(Instant::now()) {
                        return this.refuse(r);
                    }
                }
            }
        }
    }
}

/// The `boundary` parameter of a `multipart/form-data` content type.
fn boundary(request: &Request) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let (kind, params) = value.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// Runs `next` with the request's body under `rate` and `framing`; a body
/// the guard cut is answered with the guard's refusal, whatever the handler
/// made of the failed stream.
async fn run_guarded(
    request: Request,
    next: Next,
    rate: Option<RateFloor>,
    framing: Option<PartHeaderLimit>,
) -> Response {
    let verdict = Arc::new(OnceLock::new());
    let (parts, body) = request.into_parts();
    let guarded = GuardedBody {
        inner: body.into_data_stream(),
        rate: rate.map(|floor| (floor, Box::pin(tokio::time::sleep(Duration::ZERO)))),
        framing,
        verdict: verdict.clone(),
        done: false,
    };
    let request = Request::from_parts(parts, Body::from_stream(guarded));
    let response = next.run(request).await;
    match verdict.get() {
        Some(refusal) => refusal.response(),
        None => response,
    }
}

/// Middleware of every route: a request body (an upload, or a JSON body a
/// client stalls) that arrives slower than the floor is cut with 408, so a
/// stalled client cannot hold a connection, or an upload slot, for long.
pub async fn guard_body_rate(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let config = &admission.config;
    if config.min_upload_bytes_per_sec == 0 {
        return next.run(request).await;
    }
    let floor = RateFloor::new(
        config.min_upload_bytes_per_sec,
        Duration::from_secs(config.min_upload_rate_window_secs),
    );
    run_guarded(request, next, Some(floor), None).await
}

/// Middleware of the upload routes: the key's upload slot, then the bound on
/// multipart part headers.
pub async fn guard_upload(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let _slot = match key_id(request.headers()) {
        Some(key) => match admission.keys.start_upload(key, std::time::Instant::now()) {
            Some(slot) => Some(slot),
            None => return too_many_uploads(admission.keys.max_uploads()),
        },
        None => None,
    };
    let framing = boundary(&request)
        .map(|b| PartHeaderLimit::new(&b, admission.config.max_part_header_bytes));
    run_guarded(request, next, None, framing).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name_len: usize) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"suite_id\"\r\n\r\ngmail\r\n",
        );
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
        body.extend(std::iter::repeat_n(b'a', name_len));
        body.extend_from_slice(b"\"\r\n\r\n");
        body.extend(std::iter::repeat_n(b'x', 10_000));
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        body
    }

    fn scan_in_chunks(body: &[u8], chunk: usize, limit: usize) -> Result<(), BodyRefusal> {
        let mut scanner = PartHeaderLimit::new("XyZ", limit);
        for piece in body.chunks(chunk) {
            scanner.scan(piece)?;
        }
        Ok(())
    }

    #[test]
    fn small_part_headers_pass_in_any_chunking() {
        let body = form(100);
        for chunk in [1, 2, 3, 5, 7, 64, 4096, body.len()] {
            scan_in_chunks(&body, chunk, 1024).expect("a short header passes");
        }
    }

    #[test]
    fn a_long_part_header_is_refused_in_any_chunking() {
        let body = form(5000);
        for chunk in [1, 3, 7, 64, 4096, body.len()] {
            assert_eq!(
                scan_in_chunks(&body, chunk, 1024),
                Err(BodyRefusal::PartHeaderTooLarge { limit: 1024 }),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_header_block_with_no_end_is_refused_before_the_body_ends() {
        let mut scanner = PartHeaderLimit::new("XyZ", 1024);
        scanner
            .scan(b"--XyZ\r\nContent-Disposition: form-data; name=\"")
            .expect("start");
        let mut refused = false;
        for _ in 0..100 {
            if scanner.scan(&[b'a'; 100]).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "10 kB of header without an end");
        assert!(scanner.carry.len() < 16, "carry stays small");
    }

    #[test]
    fn content_is_unbounded_and_the_epilogue_ignored() {
        let mut body = form(10);
        body.extend(std::iter::repeat_n(b'z', 5000));
        scan_in_chunks(&body, 100, 300).expect("content and epilogue are not headers");
    }

    #[test]
    fn a_long_preamble_is_refused() {
        let mut body = vec![b'p'; 5000];
        body.extend_from_slice(&form(10));
        assert!(scan_in_chunks(&body, 512, 1024).is_err());
    }

    #[test]
    fn the_rate_floor_counts_only_waiting_time() {
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        let mut floor = RateFloor::new(100, window);
        // 1000 bytes over 10 s of waiting: exactly the floor.
        for s in 0..10 {
            floor.waiting(t0 + Duration::from_secs(s));
            floor
                .arrived(100, t0 + Duration::from_secs(s + 1))
                .expect("at the floor");
        }
        // Time the server spends not reading is not waiting.
        let later = t0 + Duration::from_secs(100);
        floor.arrived(1, later).expect("no waiting counted");
        // A stall: the deadline is a window after waiting starts.
        let deadline = floor.waiting(later);
        assert_eq!(deadline, later + window);
        assert_eq!(
            floor.timed_out(deadline),
            Err(BodyRefusal::TooSlow {
                min_bytes_per_sec: 100,
                window_secs: 10
            })
        );
    }

    #[test]
    fn content_type_boundary() {
        let request = Request::builder()
            .header(
                header::CONTENT_TYPE,
                "multipart/form-data; charset=utf-8; boundary=\"abc\"",
            )
            .body(Body::empty())
            .expect("request");
        assert_eq!(boundary(&request).as_deref(), Some("abc"));
        let json = Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::empty())
            .expect("request");
        assert_eq!(boundary(&json), None);
    }
}
