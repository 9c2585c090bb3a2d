//! The one-session pipeline: a recording in, a stored Session and an Example
//! out. `tracepipe process` runs it over files; a service runs the same two
//! stages per request.
//!
//! The stages are the platform's:
//!
//! 1. [`Pipeline::ingest_named`]: read and normalise the recording (format validation
//!    included) while storing it, raw, and its screenshots; then store the
//!    normalised Session.
//! 2. [`Pipeline::synthesize`]: classify the Session with a [`Model`],
//!    synthesise the tool-call conversation for the Suite's ActionToolMap, and
//!    store it; return the analyst-table rows.
//!
//! Objects, under the destination prefix:
//!
//! ```text
//! sessions/<session-id>/input_events.jsonl   the recording, byte for byte as uploaded
//!                                            (the platform's name for it, whatever its shape:
//!                                            a gzipped Chrome trace stays a gzipped Chrome trace);
//!                                            not kept when it held secrets or screenshots that
//!                                            are not stored as recorded
//! sessions/<session-id>/screenshots/…        JPEGs taken out of a trace (000000.jpg, …), secret
//!                                            fields painted over, or the image files an
//!                                            input_events.jsonl names
//! sessions/<session-id>/session.avro         the normalised Session, Avro single-object encoded
//! examples/<example-id>/messages.jsonl       the conversation with the Suite's MCP server's tools
//! examples/<example-id>/actions.json         the classified actions with their evidence, for review
//! examples/<example-id>/browser.jsonl        the same session as Playwright MCP calls, when the
//!                                            Recipe names a browser MCP server
//! ```
//!
//! `browser.jsonl` sits beside `messages.jsonl` in the same Example rather than
//! being an Example of its own: it is a transcription of the session, made by
//! no model and through no ActionToolMap, which are what an Example records.
//!
//! Object-store I/O is async. Reading a recording, classifying and synthesising
//! are CPU work and run on tokio's blocking threads, so a runtime's workers stay
//! free for I/O.
//!
//! Beside it, what the pipeline and its commands share: the review file of an
//! Example ([`review`]), the catalog compiled into the binary
//! ([`builtin_catalog`]) and the stdio MCP client `tracepipe catalog
//! import-mcp` lists a server's tools with ([`mcp`]).

pub mod builtin_catalog;
pub mod mcp;
pub mod review;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::review::{actions_json, ACTIONS_OBJECT};
use tracepipe_ingest::redact::{ScreenshotGuard, UnmarkedScreenshots};
use tracepipe_ingest::{
    read_session_scrubbed, scan_screen_privacy, screenshot_key, CaptureReport, IngestError, Limits,
    ScreenshotSink,
};
use tracepipe_processors::browser::{BrowserExample, BrowserOptions, BrowserSynthesizer};
use tracepipe_processors::catalog::{ActionToolMap, Catalog, McpServer, Suite};
use tracepipe_processors::classify::{Model, RulesError, RulesModel, RulesOptions};
use tracepipe_processors::model::ModelRef;
use tracepipe_processors::synth::{Rejection, SynthError, Synthesis, Synthesizer};
use tracepipe_schemas::{encode_session, AvroError, Session, SourceFormat};
use tracepipe_sinks::{
    example_messages_path, put_object, session_object_path, ActionRow, ExampleRow, SinkError,
};

/// The raw recording's name in a session's folder.
pub const RAW_OBJECT: &str = "input_events.jsonl";
/// The normalised Session's name in a session's folder.
pub const SESSION_OBJECT: &str = "session.avro";
/// The browser-level conversation's name in an Example's folder.
pub const BROWSER_OBJECT: &str = "browser.jsonl";

/// Screenshots in flight between the reader and the uploader, per session: a
/// bound on memory, whatever the upload speed.
const SCREENSHOT_QUEUE: usize = 8;

/// Something is wrong with the catalog, the rules or the choice of suite,
/// server and model: nothing can be processed until it is fixed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error("suite `{suite}` is not in the catalog (it has: {known})")]
    UnknownSuite { suite: String, known: String },
    #[error("suite `{suite}` has no ActionToolMap onto MCP server `{server}` (it has: {known})")]
    UnknownMap {
        suite: String,
        server: String,
        known: String,
    },
    #[error("suite `{suite}` has no ActionToolMap; add one under catalog/suites/{suite}/maps/")]
    NoMap { suite: String },
    #[error("suite `{suite}` has ActionToolMaps onto several MCP servers ({known}); choose one")]
    SeveralMaps { suite: String, known: String },
    #[error("MCP server `{0}` is not in the catalog")]
    UnknownServer(String),
    #[error("{path}: {source}", path = path.display())]
    ReadRules {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Synth(#[from] SynthError),
    #[error("the model configuration must be a JSON object, not {0}")]
    ModelConfiguration(String),
}

/// Why one recording or Session could not be processed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error("cannot read {path}: {source}", path = path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The recording is not one Tracepipe can read.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("the recording is of suite `{recorded}`, not `{requested}`")]
    SuiteMismatch { recorded: String, requested: String },
    #[error("storing {key}: {source}")]
    Store { key: String, source: SinkError },
    #[error("uploading {key}: {source}")]
    Upload { key: String, source: std::io::Error },
    #[error("encoding the session: {0}")]
    Avro(#[from] AvroError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("a processing thread failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The Session would make more than one Example may hold.
    #[error("the session is too large to process: {0}")]
    Limit(#[from] LimitExceeded),
}

/// Which bound of [`OutputLimits`] (or of the events a Session may have) a
/// Session passed. The same Session passes it again on every attempt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    #[error("it has {events} events, more than the {limit} accepted; split the recording into shorter sessions, or raise the events limit (max_events)")]
    Events { events: usize, limit: usize },
    #[error("its {conversation} conversation has {calls} tool calls, more than the {limit} accepted; split the recording into shorter sessions, or raise the limit (max_actions)")]
    Actions {
        conversation: &'static str,
        calls: usize,
        limit: usize,
    },
    #[error("its {conversation} conversation is {bytes} bytes, more than the {limit} accepted; split the recording into shorter sessions, or raise the limit (max_output_bytes)")]
    Output {
        conversation: &'static str,
        bytes: usize,
        limit: usize,
    },
}

/// Bounds on what one Session may make. With the events a Session may have
/// ([`Limits::max_events`]) they bound the memory of processing it: every
/// structure built for an Example grows with its events, its tool calls or
/// its conversation's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Tool calls in one conversation (the suite's, and the browser-level one).
    pub max_actions: usize,
    /// Bytes of one stored conversation (`messages.jsonl`, `browser.jsonl`).
    pub max_output_bytes: usize,
}

/// Default of [`OutputLimits::max_actions`]: a long session makes dozens.
pub const DEFAULT_MAX_ACTIONS: usize = 10_000;
/// Default of [`OutputLimits::max_output_bytes`].
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 32 << 20;

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_actions: DEFAULT_MAX_ACTIONS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

impl PipelineError {
    /// The input is at fault (unreadable, malformed, of another suite), as
    /// opposed to the storage or the machine: resubmitting it will not help.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            PipelineError::Open { .. }
                | PipelineError::Ingest(_)
                | PipelineError::SuiteMismatch { .. }
                | PipelineError::Limit(_)
        )
    }
}

/// Reads `catalog_dir/suites/<suite>/rules.json` into the rules classifier.
pub fn load_rules_model(
    catalog_dir: &FsPath,
    suite: &Suite,
    options: RulesOptions,
) -> Result<RulesModel, SetupError> {
    let path = rules_path(catalog_dir, &suite.name);
    let contents = std::fs::read_to_string(&path).map_err(|source| SetupError::ReadRules {
        path: path.clone(),
        source,
    })?;
    Ok(RulesModel::from_json(
        &path.display().to_string(),
        &contents,
        suite,
        options,
    )?)
}

/// Where a suite's RULES model lives in a catalog directory.
pub fn rules_path(catalog_dir: &FsPath, suite: &str) -> PathBuf {
    catalog_dir.join("suites").join(suite).join("rules.json")
}

/// The session id of a recording's content: UUID v5 of its SHA-256, so the same
/// upload always gets the same id and reprocessing replaces rather than adds.
pub fn content_session_id(path: &FsPath) -> Result<Uuid, PipelineError> {
    let open_error = |source| PipelineError::Open {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(open_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(open_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let digest = hasher.finalize();
    Ok(Uuid::new_v5(&session_namespace(), &digest))
}

fn session_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:tracepipe:session")
}

fn example_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:tracepipe:example")
}

/// What Examples are made with: a Suite, its ActionToolMap onto one MCP server, a
/// classifier model and its configuration, and optionally the MCP server for the
/// browser-level conversation. Cheap to clone.
#[derive(Clone)]
pub struct Recipe {
    catalog: Arc<Catalog>,
    suite: String,
    mcp_server: String,
    browser_server: Option<String>,
    model: Arc<dyn Model>,
    model_configuration: Value,
}

impl Recipe {
    /// Checks every part against the catalog. `mcp_server` may be left out when
    /// the suite has exactly one ActionToolMap.
    pub fn new(
        catalog: Arc<Catalog>,
        suite: &str,
        mcp_server: Option<&str>,
        browser_server: Option<&str>,
        model: Arc<dyn Model>,
        model_configuration: Value,
    ) -> Result<Recipe, SetupError> {
        if !model_configuration.is_object() {
            return Err(SetupError::ModelConfiguration(
                model_configuration.to_string(),
            ));
        }
        let suite_entity = catalog
            .suite(suite)
            .ok_or_else(|| SetupError::UnknownSuite {
                suite: suite.to_owned(),
                known: names(catalog.suites().map(|s| s.name.as_str())),
            })?;
        let servers: Vec<&str> = catalog
            .maps_for_suite(suite)
            .filter_map(|m| catalog.mcp_server_by_id(m.mcp_server_id))
            .map(|s| s.name.as_str())
            .collect();
        let mcp_server = match (mcp_server, servers.as_slice()) {
            (Some(name), _) => name.to_owned(),
            (None, [only]) => (*only).to_owned(),
            (None, []) => {
                return Err(SetupError::NoMap {
                    suite: suite.to_owned(),
                })
            }
            (None, several) => {
                return Err(SetupError::SeveralMaps {
                    suite: suite.to_owned(),
                    known: several.join(", "),
                })
            }
        };
        let recipe = Recipe {
            suite: suite_entity.name.clone(),
            mcp_server,
            browser_server: browser_server.map(str::to_owned),
            model,
            model_configuration,
            catalog,
        };
        // Compile everything once now, so that a bad catalog fails before any
        // input is read rather than once per input.
        let (suite, map, server) = recipe.parts()?;
        Synthesizer::new(suite, map, server)?;
        if let Some(browser) = recipe.browser_server()? {
            BrowserSynthesizer::new(browser, BrowserOptions::default())?;
        }
        Ok(recipe)
    }

    pub fn suite(&self) -> &str {
        &self.suite
    }

    pub fn mcp_server(&self) -> &str {
        &self.mcp_server
    }

    pub fn browser_server_name(&self) -> Option<&str> {
        self.browser_server.as_deref()
    }

    pub fn model_ref(&self) -> &ModelRef {
        self.model.model_ref()
    }

    /// The Example id of `session_id` made with this recipe: UUID v5 of both, so
    /// that the same session, map, model and configuration always give the same
    /// Example, and a different model or configuration a different one (A/B).
    pub fn example_id(&self, session_id: Uuid) -> Uuid {
        Uuid::new_v5(
            &example_namespace(),
            format!("{session_id}\n{}", self.fingerprint()).as_bytes(),
        )
    }

    /// Everything that decides an Example's content besides the session.
    pub fn fingerprint(&self) -> String {
        let model = self.model.model_ref();
        let mut configuration = String::new();
        canonical_json(&self.model_configuration, &mut configuration);
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{configuration}",
            self.suite,
            self.mcp_server,
            self.browser_server.as_deref().unwrap_or(""),
            provider_name(model),
            model.name,
            model.version,
        )
    }

    fn parts(&self) -> Result<(&Suite, &ActionToolMap, &McpServer), SetupError> {
        let suite = self
            .catalog
            .suite(&self.suite)
            .ok_or_else(|| SetupError::UnknownSuite {
                suite: self.suite.clone(),
                known: names(self.catalog.suites().map(|s| s.name.as_str())),
            })?;
        let server = self
            .catalog
            .mcp_server(&self.mcp_server)
            .ok_or_else(|| SetupError::UnknownServer(self.mcp_server.clone()))?;
        let map = self
            .catalog
            .action_tool_map(&self.suite, &self.mcp_server)
            .ok_or_else(|| SetupError::UnknownMap {
                suite: self.suite.clone(),
                server: self.mcp_server.clone(),
                known: names(
                    self.catalog
                        .maps_for_suite(&self.suite)
                        .filter_map(|m| self.catalog.mcp_server_by_id(m.mcp_server_id))
                        .map(|s| s.name.as_str()),
                ),
            })?;
        Ok((suite, map, server))
    }

    fn browser_server(&self) -> Result<Option<&McpServer>, SetupError> {
        self.browser_server
            .as_deref()
            .map(|name| {
                self.catalog
                    .mcp_server(name)
                    .ok_or_else(|| SetupError::UnknownServer(name.to_owned()))
            })
            .transpose()
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = items.collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// `RULES`, as the provider is spelled in the data model.
fn provider_name(model: &ModelRef) -> String {
    match serde_json::to_value(model.provider) {
        Ok(Value::String(name)) => name,
        _ => format!("{:?}", model.provider),
    }
}

/// JSON with object keys sorted at every level, so that equal configurations
/// give equal ids however their keys were ordered.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A stored, normalised recording.
#[derive(Debug)]
pub struct IngestedSession {
    pub session: Arc<Session>,
    /// Screenshots stored under `sessions/<id>/screenshots/`.
    pub screenshots: usize,
    /// Image files an `input_events.jsonl` names that were not beside it; their
    /// events keep the name with a size of 0.
    pub missing_screenshots: Vec<String>,
    /// Screenshots stored with sensitive fields painted over.
    pub screenshots_redacted: usize,
    /// Screenshots left out: nothing said where secrets were on them (see
    /// [`IngestOptions::unmarked_screenshots`]), or they could not be redacted.
    pub screenshots_dropped: usize,
    /// Whether the recording is kept as uploaded (`input_events.jsonl`). It is
    /// not when normalisation removed secrets from it, or when it embeds
    /// screenshots that were stored painted over or left out.
    pub raw_kept: bool,
    /// Every object written, in the order written.
    pub objects: Vec<Path>,
}

/// How one upload is ingested.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    /// What becomes of the screenshots of a recording made without the
    /// capture script's `tracepipe:sensitive` marks: dropped, unless the
    /// uploader declares them safe.
    pub unmarked_screenshots: UnmarkedScreenshots,
    /// The recording is already stored as the session's raw object (a
    /// [`Pipeline::stage_upload`]): it is not stored again, and is removed when
    /// it may not be kept (it carried secrets, its screenshots were painted
    /// over, or it is not a readable recording).
    pub raw_already_stored: bool,
}

/// An upload stored as it was sent, checked only cheaply, for a processor to
/// read ([`Pipeline::ingest_named`] with
/// [`IngestOptions::raw_already_stored`]).
#[derive(Debug)]
pub struct StagedUpload {
    pub format: SourceFormat,
    /// SHA-256 of the uploaded bytes, lowercase hex.
    pub sha256: String,
    /// Every object written.
    pub objects: Vec<Path>,
}

/// A stored Example and its analyst-table rows.
#[derive(Debug)]
pub struct ExampleOutput {
    /// Its `training_line` is the `{"messages":…,"tools":…}` line for training.
    pub example: ExampleRow,
    /// One per emitted tool call, in call order.
    pub actions: Vec<ActionRow>,
    /// Actions the model found: emitted calls plus rejections.
    pub classified: usize,
    /// Classified actions left out of the conversation, with the reason.
    pub rejections: Vec<Rejection>,
    /// Time spent classifying the session and synthesising the conversation
    /// (storage excluded): the model's cost, reported as a metric.
    pub classification: std::time::Duration,
    pub browser: Option<BrowserOutput>,
    pub objects: Vec<Path>,
}

/// The browser-level conversation of an Example.
#[derive(Debug)]
pub struct BrowserOutput {
    pub training_line: String,
    pub calls: usize,
    /// Steps that could not be expressed as calls (masked values among
    /// them), with the reason.
    pub left_out: Vec<Rejection>,
}

/// Stores sessions and Examples under one destination.
#[derive(Clone)]
pub struct Pipeline {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    limits: Limits,
    output: OutputLimits,
}

impl Pipeline {
    /// A pipeline with the default [`OutputLimits`].
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, limits: Limits) -> Pipeline {
        Pipeline {
            store,
            prefix,
            limits,
            output: OutputLimits::default(),
        }
    }

    pub fn with_output_limits(mut self, output: OutputLimits) -> Pipeline {
        self.output = output;
        self
    }

    /// Stores the upload at `path` as session `session_id`'s raw object
    /// after the cheap check ([`tracepipe_ingest::check_upload`]), for a
    /// processor to read later: what the request path of a deployment that
    /// reads recordings elsewhere does. A refused upload leaves nothing.
    pub async fn stage_upload(
        &self,
        path: &FsPath,
        session_id: Uuid,
    ) -> Result<StagedUpload, PipelineError> {
        let limits = self.limits;
        let checked = path.to_owned();
        let check = tokio::task::spawn_blocking(move || {
            let file = File::open(&checked).map_err(|source| PipelineError::Open {
                path: checked.clone(),
                source,
            })?;
            let mut hashed = HashingReader::new(file);
            let format = tracepipe_ingest::check_upload(&mut hashed, &limits)?;
            let sha256 = hashed.finish().map_err(|source| PipelineError::Open {
                path: checked.clone(),
                source,
            })?;
            Ok::<_, PipelineError>((format, sha256))
        });
        let raw_key = session_object_path(&self.prefix, &session_id.to_string(), RAW_OBJECT);
        let (checked, stored) = tokio::join!(
            check,
            upload_file(Arc::clone(&self.store), raw_key.clone(), path)
        );
        match checked.map_err(PipelineError::from).and_then(|c| c) {
            Ok((format, sha256)) => {
                stored?;
                Ok(StagedUpload {
                    format,
                    sha256,
                    objects: vec![raw_key],
                })
            }
            Err(refused) => {
                if stored.is_ok() {
                    self.delete_quietly(std::slice::from_ref(&raw_key)).await;
                }
                Err(refused)
            }
        }
    }

    /// Stage 1: stores the recording at `path` as session `session_id` and
    /// normalises it. The Session records `source_name` and the SHA-256 of
    /// the bytes read: which recording it came from.
    ///
    /// The raw upload and the reading run at the same time, and screenshots are
    /// uploaded while the reader goes on. When the recording turns out to be
    /// unreadable, what this call stored is deleted again (best effort) and the
    /// reader's error returned: a rejected upload leaves nothing behind.
    /// Storing the same content under the same id again rewrites the same
    /// objects.
    ///
    /// Screenshots are stored with the secret fields the capture script
    /// located painted over, or left out where nothing located them
    /// (`tracepipe_ingest::redact`, [`IngestOptions`]). A trace is in no
    /// particular order, so that takes a first pass over the recording which
    /// parses only the `tracepipe:sensitive` marks and the screenshots' times;
    /// it also decides, before anything is stored, whether the raw upload may
    /// be kept: not when it embeds a screenshot that is not stored as recorded.
    pub async fn ingest_named(
        &self,
        path: &FsPath,
        source_name: Option<&str>,
        session_id: Uuid,
        options: IngestOptions,
    ) -> Result<IngestedSession, PipelineError> {
        let limits = self.limits;
        let scanned = path.to_owned();
        let privacy = tokio::task::spawn_blocking(move || {
            let file = File::open(&scanned).map_err(|source| PipelineError::Open {
                path: scanned.clone(),
                source,
            })?;
            Ok::<_, PipelineError>(scan_screen_privacy(BufReader::new(file), &limits)?)
        })
        .await
        .map_err(PipelineError::from)
        .and_then(|scanned| scanned);
        let id = session_id.to_string();
        let raw_key = session_object_path(&self.prefix, &id, RAW_OBJECT);
        let privacy = match privacy {
            Ok(privacy) => privacy,
            Err(error) => {
                // Not a recording it can read: an upload stored before it was
                // read is not kept (as below, once read).
                if options.raw_already_stored && error.is_input_error() {
                    self.delete_quietly(std::slice::from_ref(&raw_key)).await;
                }
                return Err(error);
            }
        };
        let guard = ScreenshotGuard::new(privacy, options.unmarked_screenshots);
        let keep_raw = !guard.alters_embedded_screenshots();
        let store_raw_now = keep_raw && !options.raw_already_stored;
        let source_name = source_name.map(str::to_owned);
        let (sender, receiver) = mpsc::channel(SCREENSHOT_QUEUE);
        let sink = StoreScreenshots {
            sender,
            prefix: self.prefix.clone(),
            session_id: id.clone(),
            beside: path.parent().map(FsPath::to_owned),
            recording_name: path.file_name().map(ToOwned::to_owned),
            max_bytes: u64::try_from(self.limits.max_event_bytes).unwrap_or(u64::MAX),
            missing: Vec::new(),
        };
        let recording = path.to_owned();
        let read = tokio::task::spawn_blocking(move || {
            let mut sink = sink;
            let file = File::open(&recording).map_err(|source| PipelineError::Open {
                path: recording.clone(),
                source,
            })?;
            let mut hashed = HashingReader::new(file);
            let (mut session, scrubbed) =
                read_session_scrubbed(BufReader::new(&mut hashed), id, &limits, &guard, &mut sink)?;
            session.source_name = source_name;
            session.source_sha256 =
                Some(hashed.finish().map_err(|source| PipelineError::Open {
                    path: recording.clone(),
                    source,
                })?);
            let avro = encode_session(&session)?;
            Ok::<_, PipelineError>((session, avro, sink.missing, scrubbed))
        });
        // Answers whether the raw upload was stored.
        let store_raw = async {
            if store_raw_now {
                upload_file(Arc::clone(&self.store), raw_key.clone(), path)
                    .await
                    .map(|()| true)
            } else {
                Ok(false)
            }
        };
        let (read, raw, uploaded) = tokio::join!(
            read,
            store_raw,
            upload_screenshots(self.store.as_ref(), receiver),
        );
        let read = read.map_err(PipelineError::from).and_then(|r| r);
        let raw_stored = options.raw_already_stored || matches!(raw, Ok(true));
        let raw = raw.map(|_| ());
        let (mut objects, upload_error) = match uploaded {
            Ok(paths) => (paths, None),
            Err((error, paths)) => (paths, Some(error)),
        };
        let screenshots = objects.len();
        let outcome = match (read, raw, upload_error) {
            (Ok(read), Ok(()), None) => Ok(read),
            // A failed screenshot upload stops the reader with a screenshot
            // error; the upload's own error is the one that says why.
            (Err(PipelineError::Ingest(IngestError::Screenshot { .. })), _, Some(e)) => Err(e),
            (Err(e), _, _) => Err(e),
            (Ok(_), _, Some(e)) => Err(e),
            (Ok(_), Err(e), None) => Err(e),
        };
        let carried_secrets = matches!(&outcome, Ok((_, _, _, scrubbed)) if scrubbed.any());
        if options.raw_already_stored && (!keep_raw || outcome.is_err()) {
            // Stored before it was read: what may not be kept verbatim, or is
            // not a recording, goes now (carried secrets are handled below).
            // After a storage failure it is kept for the retry.
            if outcome
                .as_ref()
                .err()
                .is_none_or(PipelineError::is_input_error)
            {
                self.delete_quietly(std::slice::from_ref(&raw_key)).await;
            }
        } else if raw_stored && carried_secrets {
            // The recording held values normalisation had to remove (a capture
            // without masking at the source): it must not be kept verbatim.
            // The scrubbed Session below is the record of it.
            self.delete_quietly(std::slice::from_ref(&raw_key)).await;
        } else if raw_stored {
            objects.push(raw_key);
        }
        let raw_kept = raw_stored && keep_raw && !carried_secrets;
        let (session, avro, missing_screenshots, scrubbed) = match outcome {
            Ok(read) => read,
            Err(error) => {
                // Only a recording the reader refused is cleaned up. After a
                // storage failure the objects may be those of an earlier,
                // successful ingest of the same content (same id, same keys):
                // deleting them would lose good data.
                if error.is_input_error() {
                    self.delete_quietly(&objects).await;
                }
                return Err(error);
            }
        };
        let avro_key = session_object_path(&self.prefix, &session_id.to_string(), SESSION_OBJECT);
        put(self.store.as_ref(), &avro_key, avro).await?;
        objects.push(avro_key);
        Ok(IngestedSession {
            session: Arc::new(session),
            screenshots,
            missing_screenshots,
            screenshots_redacted: scrubbed.screenshots_redacted,
            screenshots_dropped: scrubbed.screenshots_dropped,
            raw_kept,
            objects,
        })
    }

    /// Stage 2: classifies `session`, synthesises Example `example_id` with
    /// `recipe`, stores its conversations and returns its rows.
    pub async fn synthesize(
        &self,
        recipe: &Recipe,
        session_id: Uuid,
        session: Arc<Session>,
        example_id: Uuid,
        created_at: DateTime<Utc>,
    ) -> Result<ExampleOutput, PipelineError> {
        if let Some(recorded) = session.suite.as_deref() {
            if recorded != recipe.suite() {
                return Err(PipelineError::SuiteMismatch {
                    recorded: recorded.to_owned(),
                    requested: recipe.suite().to_owned(),
                });
            }
        }
        // A Session stored under other limits (another deployment, an older
        // build) is held to this pipeline's.
        if session.events.len() > self.limits.max_events {
            return Err(LimitExceeded::Events {
                events: session.events.len(),
                limit: self.limits.max_events,
            }
            .into());
        }
        let blocking_recipe = recipe.clone();
        let blocking_session = Arc::clone(&session);
        let output = self.output;
        let classifying = std::time::Instant::now();
        let made = tokio::task::spawn_blocking(move || {
            make_example(&blocking_recipe, &blocking_session, output)
        })
        .await??;
        let classification = classifying.elapsed();

        let id = example_id.to_string();
        let session_id = session_id.to_string();
        let messages_key = example_messages_path(&self.prefix, &id);
        let browser_key = messages_key
            .parent()
            .unwrap_or_else(|| self.prefix.clone())
            .join(BROWSER_OBJECT);
        let synthesis = &made.synthesis;
        let model = &synthesis.model;
        let session_started_at = session
            .started_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let actions: Vec<ActionRow> = synthesis
            .records
            .iter()
            .enumerate()
            .map(|(index, record)| ActionRow {
                example_id: id.clone(),
                session_id: session_id.clone(),
                suite: recipe.suite().to_owned(),
                model_name: model.name.clone(),
                model_version: model.version.clone(),
                action_index: to_i32(index),
                action: record.action.clone(),
                tool: record.tool.clone(),
                arguments: record.arguments.to_string(),
                confidence: record.confidence,
                low_confidence: record.low_confidence,
                evidence: record.evidence.iter().map(|&e| to_i32(e)).collect(),
                evidence_start: record.evidence.first().map_or(-1, |&e| to_i32(e)),
                evidence_end: record.evidence.last().map_or(-1, |&e| to_i32(e)),
                start_us: record.start_us,
                end_us: record.end_us,
                created_at,
                session_started_at,
                result_grounded: record.result_grounded,
            })
            .collect();
        let example = ExampleRow {
            example_id: id.clone(),
            session_id,
            suite: recipe.suite().to_owned(),
            model_provider: provider_name(model),
            model_name: model.name.clone(),
            model_version: model.version.clone(),
            action_tool_map_id: Some(synthesis.action_tool_map_id.to_string()),
            status: "COMPLETED".to_owned(),
            created_at,
            session_started_at,
            action_count: to_i32(actions.len()),
            low_confidence_count: to_i32(actions.iter().filter(|a| a.low_confidence).count()),
            min_confidence: actions.iter().map(|a| a.confidence).reduce(f64::min),
            tools: actions.iter().map(|a| a.tool.clone()).collect(),
            messages_path: relative(&messages_key, &self.prefix),
            training_line: synthesis.training_line(),
            rejected_calls: to_i32(synthesis.rejections.len()),
            source_name: session.source_name.clone(),
            source_sha256: session.source_sha256.clone(),
            capture: CaptureReport::of(&session).capture.as_str().to_owned(),
        };

        let actions_key = messages_key
            .parent()
            .unwrap_or_else(|| self.prefix.clone())
            .join(ACTIONS_OBJECT);
        let actions_json = actions_json(synthesis).map_err(|e| PipelineError::Store {
            key: actions_key.to_string(),
            source: SinkError::Json(e),
        })?;
        let mut objects = vec![messages_key.clone(), actions_key.clone()];
        let store_messages = async {
            futures::try_join!(
                put(self.store.as_ref(), &messages_key, made.messages),
                put(self.store.as_ref(), &actions_key, actions_json),
            )
            .map(|_| ())
        };
        let browser = match &made.browser {
            Some((browser, browser_messages)) => {
                futures::try_join!(
                    store_messages,
                    put(self.store.as_ref(), &browser_key, browser_messages.clone()),
                )?;
                objects.push(browser_key);
                Some(BrowserOutput {
                    training_line: browser.training_line(),
                    calls: browser.steps.len(),
                    left_out: browser.rejections.clone(),
                })
            }
            None => {
                store_messages.await?;
                None
            }
        };
        Ok(ExampleOutput {
            example,
            actions,
            classified: made.classified,
            rejections: made.synthesis.rejections,
            classification,
            browser,
            objects,
        })
    }

    async fn delete_quietly(&self, objects: &[Path]) {
        for location in objects {
            // Clean-up after a rejected input: the rejection is what gets
            // reported; an object left behind here is harmless garbage.
            let _ = self.store.delete(location).await;
        }
    }
}

/// The CPU part of stage 2.
struct Made {
    synthesis: Synthesis,
    /// The conversation as stored (`messages.jsonl`).
    messages: String,
    /// The browser-level conversation and its `browser.jsonl`.
    browser: Option<(BrowserExample, Bytes)>,
    classified: usize,
}

/// Classifies and synthesises, refusing as soon as a bound of `limits` is
/// passed: before a conversation is built for too many calls, before a too
/// large one is stored.
fn make_example(
    recipe: &Recipe,
    session: &Session,
    limits: OutputLimits,
) -> Result<Made, PipelineError> {
    let (suite, map, server) = recipe.parts()?;
    let actions = recipe.model.classify(session);
    if actions.len() > limits.max_actions {
        return Err(LimitExceeded::Actions {
            conversation: "tool-call",
            calls: actions.len(),
            limit: limits.max_actions,
        }
        .into());
    }
    let synthesis = Synthesizer::new(suite, map, server)
        .map_err(SetupError::from)?
        .with_results(
            recipe
                .catalog
                .tool_results(&recipe.suite, &recipe.mcp_server),
        )
        .synthesize(
            recipe.model.model_ref(),
            &recipe.model_configuration,
            &actions,
            Some(session),
        );
    let messages = within_output_limit("tool-call", synthesis.messages_jsonl(), limits)?;
    let browser = match recipe.browser_server()? {
        Some(server) => {
            let browser = BrowserSynthesizer::new(server, BrowserOptions::default())
                .map_err(SetupError::from)?
                .synthesize_at_most(session, limits.max_actions)
                .map_err(|calls| LimitExceeded::Actions {
                    conversation: "browser",
                    calls,
                    limit: limits.max_actions,
                })?;
            let jsonl = within_output_limit("browser", browser.messages_jsonl(), limits)?;
            Some((browser, Bytes::from(jsonl)))
        }
        None => None,
    };
    Ok(Made {
        synthesis,
        messages,
        browser,
        classified: actions.len(),
    })
}

fn within_output_limit(
    conversation: &'static str,
    jsonl: String,
    limits: OutputLimits,
) -> Result<String, LimitExceeded> {
    if jsonl.len() > limits.max_output_bytes {
        return Err(LimitExceeded::Output {
            conversation,
            bytes: jsonl.len(),
            limit: limits.max_output_bytes,
        });
    }
    Ok(jsonl)
}

/// Table columns are INT32; the 4 GiB input limit keeps event indices and
/// counts far below `i32::MAX`, so saturating never changes a real value.
fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `key` relative to `prefix`, as the tables record object paths.
fn relative(key: &Path, prefix: &Path) -> String {
    match key.prefix_match(prefix) {
        Some(parts) => parts
            .map(|p| p.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join("/"),
        None => key.to_string(),
    }
}

async fn put(
    store: &dyn ObjectStore,
    key: &Path,
    bytes: impl Into<Bytes>,
) -> Result<(), PipelineError> {
    put_object(store, key, bytes)
        .await
        .map_err(|source| PipelineError::Store {
            key: key.to_string(),
            source,
        })
}

/// Streams a local file into one object: a single `put` while small, a
/// multipart upload beyond, never the whole file in memory.
async fn upload_file(
    store: Arc<dyn ObjectStore>,
    key: Path,
    path: &FsPath,
) -> Result<(), PipelineError> {
    let upload_error = |source| PipelineError::Upload {
        key: key.to_string(),
        source,
    };
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|source| PipelineError::Open {
            path: path.to_owned(),
            source,
        })?;
    let mut writer = BufWriter::new(store, key.clone());
    let copied = tokio::io::copy(&mut file, &mut writer).await;
    match copied {
        Ok(_) => writer.shutdown().await.map_err(upload_error),
        Err(error) => {
            // The copy's error is the one to report; an abort that fails too
            // leaves only parts that the store's lifecycle rules expire.
            let _ = writer.abort().await;
            Err(upload_error(error))
        }
    }
}

/// Hashes what a reader reads. [`HashingReader::finish`] reads the rest, so
/// the digest covers every byte of the file even when the reader stopped early
/// (after a gzip member, say).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of all the bytes, lowercase hex.
    fn finish(mut self) -> std::io::Result<String> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A screenshot on its way from the reader to the store.
type Screenshot = (Path, Bytes);

/// Uploads screenshots as the reader hands them over. Answers the objects
/// stored, also when it fails, so they can be cleaned up.
async fn upload_screenshots(
    store: &dyn ObjectStore,
    mut receiver: mpsc::Receiver<Screenshot>,
) -> Result<Vec<Path>, (PipelineError, Vec<Path>)> {
    let mut stored = Vec::new();
    while let Some((key, jpeg)) = receiver.recv().await {
        if let Err(error) = put(store, &key, jpeg).await {
            return Err((error, stored));
        }
        stored.push(key);
    }
    Ok(stored)
}

/// `sessions/<id>/<key>` for a key of several segments (`screenshots/000000.jpg`).
fn session_key(prefix: &Path, session_id: &str, key: &str) -> Path {
    let mut parts = key.split('/');
    let first = parts.next().unwrap_or_default();
    parts.fold(
        session_object_path(prefix, session_id, first),
        |path, part| path.join(part),
    )
}

/// Hands screenshots from the (blocking) reader to the uploader. A full queue
/// makes the reader wait, so memory stays bounded by the queue.
struct StoreScreenshots {
    sender: mpsc::Sender<Screenshot>,
    prefix: Path,
    session_id: String,
    /// The recording's directory, where an `input_events.jsonl`'s image files are.
    beside: Option<PathBuf>,
    /// The recording's own file name in `beside`: never a screenshot.
    recording_name: Option<std::ffi::OsString>,
    max_bytes: u64,
    missing: Vec<String>,
}

impl StoreScreenshots {
    fn send(&self, key: &str, bytes: Bytes) -> Result<(), String> {
        let location = session_key(&self.prefix, &self.session_id, key);
        self.sender
            .blocking_send((location, bytes))
            .map_err(|_| "the screenshot upload stopped".to_owned())
    }
}

impl ScreenshotSink for StoreScreenshots {
    fn store(&mut self, index: usize, jpeg: &[u8]) -> Result<String, String> {
        let key = screenshot_key(index);
        self.send(&key, Bytes::copy_from_slice(jpeg))?;
        Ok(key)
    }

    fn reference(&mut self, _index: usize, filename: &str) -> Result<(String, i64), String> {
        // The name comes from the upload: only a plain file name may be looked
        // up beside it, never a path that leaves its directory.
        let plain = !filename.is_empty()
            && filename != "."
            && filename != ".."
            && !filename.contains(['/', '\\', '\0']);
        if !plain {
            return Err(format!(
                "screenshot file name {filename:?} is not a plain file name"
            ));
        }
        if self.recording_name.as_deref() == Some(std::ffi::OsStr::new(filename)) {
            // The recording itself, unscrubbed, would be stored as an image.
            return Err(format!(
                "screenshot file name {filename:?} names the recording itself, not an image"
            ));
        }
        let key = format!("screenshots/{filename}");
        let Some(file) = self.beside.as_ref().map(|dir| dir.join(filename)) else {
            self.missing.push(filename.to_owned());
            return Ok((key, 0));
        };
        match std::fs::metadata(&file) {
            Ok(meta) if meta.len() > self.max_bytes => Err(format!(
                "{}: larger than {} bytes",
                file.display(),
                self.max_bytes
            )),
            Ok(_) => {
                let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                if !is_image(&bytes) {
                    // Only images are stored as screenshots: anything else
                    // beside the recording (another upload, a copy of it)
                    // has not been scrubbed.
                    return Err(format!(
                        "screenshot file {filename:?} is not a JPEG, PNG or WebP image"
                    ));
                }
                let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
                self.send(&key, Bytes::from(bytes))?;
                Ok((key, size))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.missing.push(filename.to_owned());
                Ok((key, 0))
            }
            Err(e) => Err(format!("{}: {e}", file.display())),
        }
    }
}

/// Whether `bytes` start as a JPEG, PNG or WebP file does.
fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || (bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP")
}
