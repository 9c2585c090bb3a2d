//! `tracepipe inspect FILE…`: the normalised timeline, for debugging recordings.
//!
//! Every line names the session by the id `tracepipe process` gives the same
//! recording (from its content), so a timeline can be matched with the
//! stored session and its Example.

use anyhow::Context;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tracepipe_ingest::redact::{ScreenshotGuard, UnmarkedScreenshots};
use tracepipe_ingest::{
    read_session, read_session_scrubbed, scan_screen_privacy, screenshot_key, CaptureReport,
    DiscardScreenshots, IngestError, Limits, ScreenshotSink,
};
use tracepipe_schemas::{Event, EventKind, Session};

use crate::pipeline::content_session_id;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Recordings: Chrome traces (JSON, optionally gzipped) or input_events.jsonl.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Leave out raw input dispatches (kind `input`) from the timeline.
    #[arg(long)]
    no_input: bool,
    /// Also write the screenshots as JPEG files into this directory, with the
    /// secret fields the capture script located painted over, as `process`
    /// stores them.
    #[arg(long, value_name = "DIR")]
    screenshots: Option<PathBuf>,
    /// With --screenshots: also write the screenshots of recordings without
    /// `tracepipe:sensitive` marks, which are otherwise left out.
    #[arg(long, requires = "screenshots")]
    screenshots_safe: bool,
}

/// Writes screenshots to a local directory, one file per screenshot.
struct DirScreenshots {
    dir: PathBuf,
}

impl ScreenshotSink for DirScreenshots {
    fn store(&mut self, index: usize, jpeg: &[u8]) -> Result<String, String> {
        let key = screenshot_key(index);
        let path = self.dir.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, jpeg).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(key)
    }

    fn reference(&mut self, _index: usize, filename: &str) -> Result<(String, i64), String> {
        Ok((filename.to_string(), 0))
    }
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let limits = Limits::default();
    let mut failed = 0;
    for path in &args.files {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: cannot open: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let session_id = match content_session_id(path) {
            Ok(id) => id.to_string(),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let file_name = path
            .file_name()
            .map_or_else(|| "session".into(), |n| n.to_string_lossy().into_owned());
        let result = match &args.screenshots {
            Some(dir) => {
                let mut sink = DirScreenshots {
                    dir: dir.join(&file_name),
                };
                let unmarked = if args.screenshots_safe {
                    UnmarkedScreenshots::Keep
                } else {
                    UnmarkedScreenshots::Drop
                };
                // The first of two passes: where the marks say secrets were.
                let scanned = File::open(path)
                    .map_err(|source| IngestError::Io { source })
                    .and_then(|f| scan_screen_privacy(f, &limits));
                scanned.and_then(|privacy| {
                    let guard = ScreenshotGuard::new(privacy, unmarked);
                    read_session_scrubbed(file, session_id, &limits, &guard, &mut sink)
                        .map(|(session, _)| session)
                })
            }
            None => read_session(file, session_id, &limits, &mut DiscardScreenshots),
        };
        match result {
            Ok(session) => {
                for (i, e) in session.events.iter().enumerate() {
                    if args.no_input && e.kind == EventKind::Input {
                        continue;
                    }
                    serde_json::to_writer(&mut out, &timeline_line(&session, i, e))
                        .context("writing the timeline")?;
                    out.write_all(b"\n").context("writing the timeline")?;
                }
                out.flush().context("writing the timeline")?;
                eprintln!("{}", summary(path, &session));
                if let Some(line) = CaptureReport::of(&session).missing_script_line() {
                    eprintln!("{}: {line}", path.display());
                }
            }
            Err(e) => {
                out.flush().context("writing the timeline")?;
                eprintln!("{}: {e}", path.display());
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One flat, readable JSON object per event: only the fields it has.
fn timeline_line(session: &Session, index: usize, e: &Event) -> Value {
    let mut m = Map::new();
    m.insert("session".into(), json!(session.session_id));
    m.insert("i".into(), json!(index));
    m.insert("t_ms".into(), json!(e.t_us as f64 / 1000.0));
    m.insert("kind".into(), json!(e.kind.as_str()));
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    if let Some(t) = &e.target {
        put("label", t.label.as_deref());
        put("role", t.role.as_deref());
        put("tag", t.tag.as_deref());
        put("id", t.id.as_deref());
        put("name", t.name.as_deref());
        put("selector", t.selector.as_deref());
    }
    put("value", e.value.as_deref());
    put("key", e.key.as_deref());
    put("url", e.url.as_deref());
    if let Some(t) = &e.target {
        if !t.data.is_empty() {
            m.insert("data".into(), json!(t.data));
        }
    }
    if e.masked {
        m.insert("masked".into(), json!(true));
    }
    if !e.modifiers.is_empty() {
        m.insert("modifiers".into(), json!(e.modifiers));
    }
    if !e.state.is_empty() {
        m.insert("state".into(), json!(e.state));
    }
    if let Some(n) = &e.navigation {
        m.insert("same_document".into(), json!(n.same_document));
    }
    if let Some(n) = &e.network {
        m.insert("method".into(), json!(n.method));
        if let Some(s) = n.status {
            m.insert("status".into(), json!(s));
        }
        if let Some(mt) = &n.mime_type {
            m.insert("mime_type".into(), json!(mt));
        }
        if let Some(end) = n.end_us {
            m.insert("duration_ms".into(), json!((end - e.t_us) as f64 / 1000.0));
        }
        if n.failed {
            m.insert("failed".into(), json!(true));
        }
    }
    if let Some(s) = &e.screenshot {
        m.insert("screenshot".into(), json!(s.blob));
        m.insert("bytes".into(), json!(s.bytes));
    }
    if let Some(i) = &e.input {
        m.insert("input_type".into(), json!(i.input_type));
        if let Some(id) = i.interaction_id {
            m.insert("interaction_id".into(), json!(id));
        }
    }
    Value::Object(m)
}

fn summary(path: &std::path::Path, s: &Session) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &s.events {
        *counts.entry(e.kind.as_str()).or_default() += 1;
    }
    let by_kind: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let screenshots = counts.get("screenshot").copied().unwrap_or(0);
    format!(
        "{}: session {}, recorded {}, {} events ({}), duration {:.3}s, {} pages, {} screenshots",
        path.display(),
        s.session_id,
        s.started_at.as_deref().unwrap_or("at an unknown time"),
        s.events.len(),
        by_kind.join(" "),
        s.duration_us as f64 / 1e6,
        s.pages.len(),
        screenshots
    )
}
