//! `tracepipe gateway`: the distributed deployment's HTTP front. It serves the
//! one `/v1` API (tracepipe-api) over the PostgreSQL control plane, with S3 for
//! objects and Kafka, through the outbox, for work; and it runs the status
//! consumer that moves Examples through PENDING → PROCESSING → COMPLETED or
//! FAILED.
//!
//! An upload is validated and normalised here (a bad recording is refused in
//! the response, not later), stored in S3 (`sessions/<id>/input_events.jsonl`,
//! `…/session.avro`), and recorded with its PENDING Example and its SessionRef
//! in the outbox (outbox.rs), in one PostgreSQL transaction; the outbox relay
//! announces it on the sessions topic. Kafka being away delays the processing
//! of an acknowledged upload, it does not refuse or lose it.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt as _};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message;
use tokio::sync::Notify;
use uuid::Uuid;

use tracepipe_ingest::Limits;

use super::config::GatewayConfig;
use super::outbox;
use super::{catalog_feed, kafka, open_store, DistributedError};
use crate::admission::Admission;
use crate::api::catalog_store::CatalogStore;
use crate::api::{ApiState, Dispatch, Reservation};
use crate::control::accounts::AccountStore;
use crate::control::accounts_postgres::PostgresAccountStore;
use crate::control::billing::BillingStore;
use crate::control::billing_postgres::PostgresBillingStore;
use crate::control::postgres::{OutboxMessage, PostgresControlPlane, StatusUpdate, WorkEncoder};
use crate::control::{
    ControlPlane, ExampleError, ExampleRecord, SessionRecord, Status, UnreadUpload,
};
use crate::invoicing::Invoicing;
use crate::pipeline::{Pipeline, SESSION_OBJECT};
use crate::telemetry::tracing;
use crate::web::WebAuth;
use tracepipe_schemas::events::{self, SessionRef, StatusEvent};

/// Seconds between checks of the stored catalog's version, so that a change
/// made through another gateway reaches this one's API.
const CATALOG_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// The distributed dispatch: the Example and its SessionRef are already in
/// PostgreSQL (the outbox row is written with the Example); dispatching wakes
/// the relay so that it publishes at once rather than at its next poll.
struct OutboxDispatch {
    wake: Arc<Notify>,
}

impl Dispatch for OutboxDispatch {
    fn reserve(&self) -> Option<Box<dyn Reservation>> {
        // Kafka buffers the backlog: there is no in-process queue to fill.
        Some(Box::new(OutboxWake(self.wake.clone())))
    }
}

struct OutboxWake(Arc<Notify>);

impl Reservation for OutboxWake {
    fn send(self: Box<Self>, _example_id: Uuid) {
        self.0.notify_one();
    }
}

/// Turns an accepted Example into its message on the sessions topic. The
/// catalog is read through the control plane that holds this encoder, so it
/// is set once that control plane has loaded it, before the API takes work.
struct SessionRefEncoder {
    topic: String,
    catalog: std::sync::OnceLock<Arc<CatalogStore>>,
}

impl WorkEncoder for SessionRefEncoder {
    fn encode(
        &self,
        session: &SessionRecord,
        example: &ExampleRecord,
        unread: Option<&UnreadUpload>,
    ) -> Result<OutboxMessage, String> {
        let snapshot = self
            .catalog
            .get()
            .ok_or("the catalog is not loaded yet")?
            .snapshot();
        let suite = snapshot
            .catalog
            .suite_by_id(example.suite_id)
            .ok_or_else(|| format!("suite {} is not in the catalog", example.suite_id))?;
        let reference = SessionRef {
            session_id: session.id.to_string(),
            example_id: example.id.to_string(),
            user_id: session.user_id.to_string(),
            suite: suite.name.clone(),
            session_path: format!("sessions/{}/{SESSION_OBJECT}", session.id),
            created_at: example.created_at.clone(),
            model_id: Some(example.model_id.to_string()),
            action_tool_map_id: example.action_tool_map_id.map(|m| m.to_string()),
            model_configuration: Some(example.model_configuration.to_string()),
            catalog_version: Some(snapshot.version),
            // Always named: an Example asked for (`POST /examples`) before the
            // upload's first one was processed finds the session unread too.
            upload_path: Some(session.storage_path.clone()),
            source_name: session.source_name.clone(),
            screenshots_safe: unread.map(|u| u.screenshots_safe),
        };
        // The root of the session's trace: the processor's span is its child.
        let trace = tracing::session_span(
            "gateway.upload",
            &opentelemetry::Context::new(),
            &reference.session_id,
        );
        let value = events::encode(&reference).map_err(|e| e.to_string())?;
        Ok(outbox::message(
            &self.topic,
            &reference.session_id,
            value,
            tracing::inject(&trace),
        ))
    }
}

pub async fn run(config: GatewayConfig) -> Result<(), DistributedError> {
    config
        .admission
        .validate()
        .map_err(DistributedError::Config)?;
    let metrics = crate::telemetry::install("gateway")?;
    let (store, prefix) = open_store(&config.s3)?;
    // The API names objects as the pipeline writes them; the deployment's
    // prefix is the store's business.
    let objects: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
        store.clone()
    } else {
        Arc::new(PrefixStore::new(store.clone(), prefix.clone()))
    };
    kafka::ensure_topics(&config.kafka, &config.topics).await?;
    let encoder = Arc::new(SessionRefEncoder {
        topic: config.topics.sessions.clone(),
        catalog: std::sync::OnceLock::new(),
    });
    let postgres =
        Arc::new(PostgresControlPlane::connect(&config.database, Some(encoder.clone())).await?);
    let catalog = Arc::new(
        CatalogStore::open(postgres.as_ref(), &config.catalog)
            .await
            .map_err(|e| DistributedError::Config(e.to_string()))?,
    );
    // Set once, here: a second set cannot happen.
    let _ = encoder.catalog.set(catalog.clone());
    let control: Arc<dyn ControlPlane> = postgres.clone();
    // After the control plane's migrations: accounts refer to its users.
    let accounts: Arc<dyn AccountStore> = Arc::new(
        PostgresAccountStore::connect(config.database.url.expose(), &config.database.schema)
            .await?,
    );
    // After the control plane: the billing tables refer to its users.
    let billing: Arc<dyn BillingStore> =
        Arc::new(PostgresBillingStore::connect(&config.database).await?);
    let stripe = crate::invoicing::stripe_client(&config.billing)
        .map_err(|e| DistributedError::Config(format!("[billing]: {e}")))?;
    let limits = Limits {
        max_decompressed_bytes: config.limits.max_decompressed_bytes,
        max_events: config.limits.max_events,
        ..Limits::default()
    };
    let pipeline = Pipeline::new(objects.clone(), Path::default(), limits);
    let producer = kafka::producer_within(
        &config.kafka,
        std::time::Duration::from_millis(config.outbox.produce_timeout_ms),
    )?;
    let announcer = producer.clone();
    sweep_dead_upload_folders(&std::env::temp_dir());
    let uploads =
        std::env::temp_dir().join(format!("{UPLOADS_FOLDER_PREFIX}{}", std::process::id()));
    std::fs::create_dir_all(&uploads).map_err(|source| DistributedError::Io {
        what: format!("creating {}", uploads.display()),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| DistributedError::Io {
            what: format!("binding {}", config.listen),
            source,
        })?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|source| DistributedError::Io {
            what: "reading the bound address".into(),
            source,
        })?;
    let admin_key = crate::api::account::ensure_admin(control.as_ref(), &config.admin_display_name)
        .await
        .map_err(|e| DistributedError::Config(e.to_string()))?;
    let outbox_wake = Arc::new(Notify::new());
    let api = Arc::new(ApiState {
        limits: config.limits.clone(),
        pricing: config.pricing.clone(),
        control: control.clone(),
        objects: objects.clone(),
        pipeline,
        reading: config.read_uploads,
        uploads_dir: uploads.clone(),
        local_objects_dir: None,
        catalog: catalog.clone(),
        dispatch: Arc::new(OutboxDispatch {
            wake: outbox_wake.clone(),
        }),
        admission: Admission::new(config.admission.clone()),
        accounts,
        web: Arc::new(
            WebAuth::new(&config.web, &format!("http://{local}"))
                .map_err(|e| DistributedError::Config(e.to_string()))?,
        ),
        billing: billing.clone(),
        stripe: stripe.clone(),
        billing_config: config.billing.clone(),
        callbacks: config.callbacks.clone(),
        clock: Arc::new(tracepipe_api::clock::SystemClock),
    });
    // Every gateway runs it; the month's close record lets one close it.
    let scheduled_close = config.billing.scheduled_close.then(|| {
        let invoicing = Invoicing {
            control: control.clone(),
            store: billing,
            stripe,
            pricing: config.pricing.clone(),
            catalog: catalog.clone(),
        };
        tokio::spawn(
            invoicing.run_scheduled(format!("gateway {local} (pid {})", std::process::id())),
        )
    });
    let status = tokio::spawn(consume_status(config.clone(), postgres.clone()));
    // Every gateway sends; a callback is claimed by one at a time.
    let (stop_callbacks, callbacks_stopped) = tokio::sync::watch::channel(false);
    let callbacks = tokio::spawn(crate::callbacks::run(
        control.clone(),
        config.callbacks.clone(),
        callbacks_stopped,
    ));
    let relay = tokio::spawn(outbox::relay(
        config.database.clone(),
        producer.clone(),
        config.outbox.clone(),
        outbox_wake,
    ));
    let kafka_probe = {
        let topic = config.topics.sessions.clone();
        let timeout = std::time::Duration::from_millis(config.outbox.produce_timeout_ms)
            .min(std::time::Duration::from_secs(4));
        tokio::spawn(crate::telemetry::health::watch("kafka", move || {
            let (producer, topic) = (producer.clone(), topic.clone());
            // Not ready while the cluster does not answer: uploads are still
            // accepted (the outbox keeps them), but a load balancer with a
            // healthier gateway should prefer it.
            async move {
                tokio::task::spawn_blocking(move || kafka::reachable(&producer, &topic, timeout))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }))
    };
    let sweep = tokio::spawn(sweep_orphan_sessions(
        objects.clone(),
        control.clone(),
        config.orphan_sweep_min_age_secs,
    ));
    let probe = postgres.clone();
    let database = tokio::spawn(crate::telemetry::health::watch("database", move || {
        let probe = probe.clone();
        async move { probe.ping().await.map_err(|e| e.to_string()) }
    }));
    let refresh = tokio::spawn(announce_catalog(
        catalog,
        control,
        announcer,
        config.topics.catalog.clone(),
    ));

    let app = crate::api::router(api.clone())
        .layer(axum::middleware::from_fn(crate::telemetry::http::track))
        .merge(crate::telemetry::routes(metrics))
        .merge(crate::capture_page::routes())
        .merge(crate::api_docs::routes())
        .merge(crate::web::routes(api));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // Scripts read the first key and the URL from these lines.
        if let Some(key) = &admin_key {
            let _ = writeln!(
                out,
                "tracepipe gateway: created the administrator; API key (shown only now): {key}"
            );
        }
        let _ = writeln!(out, "tracepipe gateway: listening on http://{local}/v1");
        let _ = out.flush();
    }
    crate::admission::listener::serve(listener, app, &config.admission, super::shutdown_signal())
        .await;
    status.abort();
    let _ = stop_callbacks.send(true);
    let grace = std::time::Duration::from_secs(config.callbacks.timeout_secs.saturating_add(1));
    if tokio::time::timeout(grace, callbacks).await.is_err() {
        ::tracing::warn!(
            "status callbacks in flight did not finish within {}s",
            grace.as_secs()
        );
    }
    relay.abort();
    kafka_probe.abort();
    sweep.abort();
    database.abort();
    refresh.abort();
    if let Some(task) = scheduled_close {
        task.abort();
    }
    let _ = std::fs::remove_dir_all(&uploads);
    Ok(())
}

/// Keeps this gateway's catalog the stored one (a change made through
/// another gateway is served here within [`CATALOG_REFRESH`]), and announces
/// every version it serves to the processors on the catalog topic, retrying
/// until Kafka has it.
async fn announce_catalog(
    catalog: Arc<CatalogStore>,
    control: Arc<dyn ControlPlane>,
    producer: rdkafka::producer::FutureProducer,
    topic: String,
) {
    let mut announced = None;
    loop {
        if let Err(e) = catalog.refresh(control.as_ref()).await {
            ::tracing::warn!("reading the stored catalog: {e}");
        }
        let serving = catalog.snapshot().version;
        if announced != Some(serving) {
            let result = match control.catalog().await {
                Ok(stored) => catalog_feed::publish(&producer, &topic, &stored)
                    .await
                    .map(|()| stored.version)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(version) => announced = Some(version),
                Err(e) => ::tracing::warn!("announcing the catalog on {topic}: {e}; retrying"),
            }
        }
        // A write through this gateway's API is announced at the next tick too.
        tokio::time::sleep(CATALOG_REFRESH).await;
    }
}

/// Each gateway process streams uploads into `<temp>/tracepipe-gateway-<pid>`.
const UPLOADS_FOLDER_PREFIX: &str = "tracepipe-gateway-";

/// Removes the upload folders of gateways that are no longer running (killed
/// before they could clean up): several gateways may share the machine, so
/// only folders whose process is gone are touched.
fn sweep_dead_upload_folders(temp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(UPLOADS_FOLDER_PREFIX))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive && pid != std::process::id() && std::fs::remove_dir_all(entry.path()).is_ok() {
            ::tracing::info!("removed the upload folder of stopped gateway {pid}");
        }
    }
}

/// Removes the objects of sessions the control plane does not know, older
/// than `min_age_secs`: what uploads interrupted by a crash left in the store.
/// Younger ones may belong to an upload another gateway is still storing (its
/// row is written after its objects). Runs once at start, in the background;
/// a failure is only logged (the next start tries again).
async fn sweep_orphan_sessions(
    objects: Arc<dyn ObjectStore>,
    control: Arc<dyn ControlPlane>,
    min_age_secs: u64,
) {
    use futures::StreamExt;
    let root = Path::from("sessions");
    let min_age = i64::try_from(min_age_secs).unwrap_or(i64::MAX);
    let Some(cutoff) =
        chrono::TimeDelta::try_seconds(min_age).and_then(|age| Utc::now().checked_sub_signed(age))
    else {
        // An age beyond the calendar: nothing is that old.
        return;
    };
    let mut old: std::collections::BTreeMap<Uuid, Vec<Path>> = std::collections::BTreeMap::new();
    let mut listed = objects.list(Some(&root));
    while let Some(meta) = listed.next().await {
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => {
                ::tracing::warn!("listing {root} for leftovers: {e}");
                return;
            }
        };
        let id = meta
            .location
            .prefix_match(&root)
            .and_then(|mut parts| parts.next())
            .and_then(|part| Uuid::parse_str(part.as_ref()).ok());
        if let Some(id) = id {
            if meta.last_modified < cutoff {
                old.entry(id).or_default().push(meta.location);
            }
        }
    }
    let ids: Vec<Uuid> = old.keys().copied().collect();
    for batch in ids.chunks(1000) {
        let known = match control.existing_sessions(batch).await {
            Ok(known) => known,
            Err(e) => {
                ::tracing::warn!("checking sessions for leftovers: {e}");
                return;
            }
        };
        for id in batch.iter().filter(|id| !known.contains(id)) {
            for location in old.remove(id).unwrap_or_default() {
                let _ = objects.delete(&location).await;
            }
            ::tracing::info!("removed the leftovers of interrupted upload {id}");
        }
    }
}

/// The control plane's record of a status event.
fn status_update(event: &StatusEvent) -> Result<StatusUpdate, String> {
    let status =
        Status::parse(&event.status).ok_or_else(|| format!("unknown status `{}`", event.status))?;
    let completed = status == Status::Completed;
    Ok(StatusUpdate {
        status,
        error: event.error_code.as_ref().map(|code| ExampleError {
            code: code.clone(),
            message: event.error_message.clone().unwrap_or_default(),
        }),
        storage_path: event.storage_path.clone(),
        tool_calls: completed.then_some(event.tool_calls),
        rejected_calls: completed.then(|| event.rejected_calls.unwrap_or(0)),
        tokens: event.tokens.unwrap_or(0),
        messages_bytes: event.messages_bytes.unwrap_or(0),
    })
}

/// What a processor found reading a session stored unread, when the event
/// says: (session, events, capture).
fn session_reading(event: &StatusEvent) -> Option<(Uuid, i64, String)> {
    let session = Uuid::parse_str(&event.session_id).ok()?;
    Some((
        session,
        event.session_event_count?,
        event.session_capture.clone()?,
    ))
}

/// Applies status events to the control plane; an offset is stored only after
/// its update is written. The consumer is assigned every partition rather
/// than joining a group (`kafka::assigned_consumer`): after a broker restart
/// it resumes as soon as it reconnects, with no rebalance to wait for. Several
/// gateways each apply every status; updates only move forward, so that is
/// harmless.
async fn consume_status(config: GatewayConfig, control: Arc<PostgresControlPlane>) {
    let topic = config.topics.status.clone();
    let consumer = loop {
        let (kafka_config, topic) = (config.kafka.clone(), topic.clone());
        let created = tokio::task::spawn_blocking(move || {
            kafka::assigned_consumer(&kafka_config, &topic, std::time::Duration::from_secs(5))
        })
        .await;
        match created {
            Ok(Ok(consumer)) => break consumer,
            Ok(Err(e)) => ::tracing::warn!("the status consumer cannot start: {e}; retrying"),
            Err(e) => ::tracing::warn!("the status consumer cannot start: {e}; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    loop {
        let message = match consumer.recv().await {
            Ok(m) => m,
            Err(e) => {
                ::tracing::warn!("consuming {topic}: {e}");
                tokio::time::sleep(kafka::CONSUMER_ERROR_PAUSE).await;
                continue;
            }
        };
        let event = message
            .payload()
            .ok_or_else(|| "no value".to_owned())
            .and_then(|p| events::decode::<StatusEvent>(p).map_err(|e| e.to_string()));
        match event {
            Ok(event) => {
                crate::telemetry::gateway::status_event(Some(&event.status));
                let parsed = Uuid::parse_str(&event.example_id)
                    .map_err(|e| format!("example id: {e}"))
                    .and_then(|id| Ok((id, status_update(&event)?)));
                match parsed {
                    Ok((id, update)) => {
                        let reading = session_reading(&event);
                        loop {
                            let written = match &reading {
                                Some((session, events, capture)) => {
                                    control
                                        .record_session_reading(*session, *events, capture)
                                        .await
                                }
                                None => Ok(()),
                            };
                            match written {
                                Ok(()) => match control.update_status(id, &update).await {
                                    Ok(()) => break,
                                    Err(e) => ::tracing::warn!(
                                        "recording the status of {id}: {e}; retrying"
                                    ),
                                },
                                Err(e) => ::tracing::warn!(
                                    "recording what reading the session of {id} found: {e}; retrying"
                                ),
                            }
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                    Err(e) => ::tracing::warn!("status event skipped: {e}"),
                }
            }
            Err(e) => {
                crate::telemetry::gateway::status_event(None);
                ::tracing::warn!("unreadable status event skipped: {e}");
            }
        }
        if let Err(e) = consumer.store_offset_from_message(&message) {
            ::tracing::warn!("storing the status offset: {e}");
        }
    }
}
