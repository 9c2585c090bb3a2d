//! A small client for MCP servers over stdio: spawn the server, `initialize`,
//! `notifications/initialized`, `tools/list` (all pages). Messages are
//! newline-delimited JSON-RPC 2.0. Every request has a deadline; the server's
//! stderr is kept (its tail) for error messages; the child is killed on drop.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The protocol version this client speaks.
pub const PROTOCOL_VERSION: &str = "2024-11-05";
/// The longest line accepted from a server.
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;
/// How much of the server's stderr is kept.
const STDERR_TAIL_BYTES: usize = 16 * 1024;
/// A server that keeps answering `nextCursor` is cut off after this many pages.
const MAX_PAGES: usize = 1000;

/// Why talking to an MCP server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpClientError {
    #[error("no MCP server command given")]
    NoCommand,
    #[error("starting MCP server `{command}`: {source}")]
    Start {
        command: String,
        source: std::io::Error,
    },
    /// The server misbehaved or went away: what happened, how it exited (if
    /// it did) and the tail of its stderr.
    #[error("MCP server `{command}`: {what}{exit}{stderr}")]
    Server {
        command: String,
        what: String,
        exit: String,
        stderr: String,
    },
    #[error("MCP server `{0}` lists no tools")]
    NoTools(String),
}

type Result<T, E = McpClientError> = std::result::Result<T, E>;

/// What the server answered `initialize` with.
#[derive(Debug, Clone)]
pub struct Initialized {
    pub protocol_version: String,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
}

enum Incoming {
    Message(Value),
    Closed(Option<String>),
}

pub struct McpClient {
    program: String,
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Incoming>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    stderr_reader: thread::JoinHandle<()>,
    next_id: u64,
    timeout: Duration,
}

impl McpClient {
    /// Starts `command[0]` with the rest as arguments, in the current
    /// environment. `timeout` bounds each request.
    pub fn spawn(command: &[String], timeout: Duration) -> Result<McpClient> {
        let (program, args) = command.split_first().ok_or(McpClientError::NoCommand)?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| McpClientError::Start {
                command: command.join(" "),
                source,
            })?;
        let stdin = child.stdin.take();
        let no_pipe = |name: &str| McpClientError::Start {
            command: command.join(" "),
            source: std::io::Error::other(format!("no {name} pipe")),
        };
        let stdout = child.stdout.take().ok_or_else(|| no_pipe("stdout"))?;
        let stderr_pipe = child.stderr.take().ok_or_else(|| no_pipe("stderr"))?;

        let (tx, incoming) = mpsc::channel();
        thread::spawn(move || read_messages(stdout, tx));
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || keep_tail(stderr_pipe, tail));

        Ok(McpClient {
            program: command.join(" "),
            child,
            stdin,
            incoming,
            stderr,
            stderr_reader,
            next_id: 1,
            timeout,
        })
    }

    /// `initialize` then `notifications/initialized`.
    pub fn initialize(&mut self) -> Result<Initialized> {
        let result = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "tracepipe", "version": env!("CARGO_PKG_VERSION")},
            }),
        )?;
        let protocol_version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                self.fail(format!(
                    "`initialize` answered without a protocolVersion: {result}"
                ))
            })?
            .to_owned();
        let info = result.get("serverInfo");
        let text = |k: &str| {
            info.and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let initialized = Initialized {
            protocol_version,
            server_name: text("name"),
            server_version: text("version"),
        };
        self.notify("notifications/initialized", json!({}))?;
        Ok(initialized)
    }

    /// `tools/list`, following `nextCursor` to the last page.
    pub fn list_tools(&mut self) -> Result<Vec<Value>> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let result = self.request("tools/list", params)?;
            match result.get("tools") {
                Some(Value::Array(page)) => tools.extend(page.iter().cloned()),
                _ => {
                    return Err(self.fail("`tools/list` answered without a `tools` list".to_owned()))
                }
            }
            match result.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.to_owned()) {
                        return Err(self.fail(format!("`tools/list` repeated the cursor {next:?}")));
                    }
                    cursor = Some(next.to_owned());
                }
                _ => return Ok(tools),
            }
        }
        Err(self.fail(format!(
            "`tools/list` went on for more than {MAX_PAGES} pages"
        )))
    }

    fn send(&mut self, message: &Value) -> Result<()> {
        let line = format!("{message}\n");
        let res = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "stdin closed",
            )),
        };
        res.map_err(|e| self.fail(format!("writing to the server: {e}")))
    }

    pub fn notify(&mut self, method: &str, params: Value) -> Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// Sends a request and waits (at most the timeout) for its response.
    /// Notifications are skipped; requests from the server are refused.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.incoming.recv_timeout(left) {
                Ok(Incoming::Message(m)) => m,
                Ok(Incoming::Closed(why)) => {
                    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                    return Err(self.fail(format!(
                        "the server closed its output before answering `{method}`{why}"
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(
                        self.fail(format!("no answer to `{method}` within {:?}", self.timeout))
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail("the server's output reader stopped".to_owned()));
                }
            };
            if msg.get("method").is_some() {
                if let Some(req_id) = msg.get("id") {
                    let refusal = json!({"jsonrpc": "2.0", "id": req_id,
                        "error": {"code": -32601, "message": "tracepipe's client serves no requests"}});
                    self.send(&refusal)?;
                }
                continue;
            }
            if msg.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(err) = msg.get("error") {
                return Err(self.fail(format!("`{method}` failed: {err}")));
            }
            return msg.get("result").cloned().ok_or_else(|| {
                self.fail(format!(
                    "the answer to `{method}` has neither result nor error"
                ))
            });
        }
    }

    /// An error naming the command, with how the server exited (if it did) and
    /// the tail of its stderr.
    fn fail(&mut self, what: String) -> McpClientError {
        // A server that is exiting gets a moment to be reaped and to have its
        // last words on stderr read.
        let mut status = None;
        for _ in 0..20 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            thread::sleep(Duration::from_millis(25));
        }
        if status.is_some() {
            for _ in 0..20 {
                if self.stderr_reader.is_finished() {
                    break;
                }
                thread::sleep(Duration::from_millis(25));
            }
        }
        let status = status
            .map(|s| format!("; it exited with {s}"))
            .unwrap_or_default();
        let tail = self
            .stderr
            .lock()
            .map(|t| {
                String::from_utf8_lossy(&t.iter().copied().collect::<Vec<u8>>())
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        let stderr = if tail.is_empty() {
            " (the server wrote nothing to stderr)".to_owned()
        } else {
            format!("\n--- the server's stderr (its last {STDERR_TAIL_BYTES} bytes at most) ---\n{tail}")
        };
        McpClientError::Server {
            command: self.program.clone(),
            what,
            exit: status,
            stderr,
        }
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_messages(stdout: impl Read, tx: mpsc::Sender<Incoming>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader
            .by_ref()
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => {
                let _ = tx.send(Incoming::Closed(None));
                return;
            }
            Ok(_) if line.len() as u64 > MAX_LINE_BYTES => {
                let _ = tx.send(Incoming::Closed(Some(format!(
                    "a line longer than {MAX_LINE_BYTES} bytes"
                ))));
                return;
            }
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(text) {
                    Ok(v) => {
                        if tx.send(Incoming::Message(v)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let shown: String = text.chars().take(200).collect();
                        let _ = tx.send(Incoming::Closed(Some(format!(
                            "not JSON-RPC on stdout ({e}): {shown}"
                        ))));
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Incoming::Closed(Some(format!("reading stdout: {e}"))));
                return;
            }
        }
    }
}

fn keep_tail(mut stderr: impl Read, tail: Arc<Mutex<VecDeque<u8>>>) {
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let Ok(mut t) = tail.lock() else { return };
                t.extend(&buf[..n]);
                let excess = t.len().saturating_sub(STDERR_TAIL_BYTES);
                t.drain(..excess);
            }
        }
    }
}

/// Convenience: spawn, initialize, list tools, and stop the server.
pub fn fetch_tools(command: &[String], timeout: Duration) -> Result<(Initialized, Vec<Value>)> {
    let mut client = McpClient::spawn(command, timeout)?;
    let init = client.initialize()?;
    let tools = client.list_tools()?;
    if tools.is_empty() {
        return Err(McpClientError::NoTools(command.join(" ")));
    }
    Ok((init, tools))
}
