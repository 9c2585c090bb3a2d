//! `tracepipe serve`: the embedded deployment. One process runs the HTTP
//! gateway, the processor and the sink:
//!
//! ```text
//! HTTP ──▶ gateway (api/*) ──▶ SQLite (control plane) + objects/ (raw uploads)
//!                 │ example ids
//!                 ▼
//!          bounded queue ──▶ workers (pipeline, on blocking threads)
//!                                 │ messages.jsonl → objects/examples/<id>/
//!                                 │ table rows → outbox (SQLite)
//!                                 ▼
//!                          table sink ──▶ objects/tables/{examples,actions}/ (Parquet)
//! ```
//!
//! The database is the durable queue: an Example is PENDING or PROCESSING in
//! SQLite until a worker finishes it, and the in-process channel only says
//! which to look at. A restart re-queues whatever was unfinished, so every
//! Example is processed at least once; processing writes the same bytes each
//! time. Table rows leave the outbox only after the objects holding them are
//! written, and their objects are named by their outbox sequence, so a replay
//! rewrites the same objects.

pub mod config;
mod sink;
pub mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use tokio::sync::{mpsc, watch};
use tracepipe_ingest::Limits;
use uuid::Uuid;

use self::config::ServeConfig;
use crate::admission::Admission;
use crate::api::catalog_store::CatalogStore;
pub use crate::api::error::ServiceError;
use crate::api::{ApiState, Dispatch, Reservation};
use crate::control::accounts::SqliteAccountStore;
use crate::control::billing::BillingStore;
use crate::control::billing_sqlite::SqliteBillingStore;
use crate::control::sqlite::{self as db, Db, SqliteControlPlane};
use crate::control::ControlPlane;
use crate::invoicing::Invoicing;
use crate::pipeline::{OutputLimits, Pipeline};
use crate::web::WebAuth;

/// Everything the workers and the table sink share.
pub struct AppState {
    pub config: ServeConfig,
    /// The SQLite database behind `api.control`: the workers' queue and the
    /// table outbox live there too.
    pub db: Db,
    /// What the API's handlers share: the object store at
    /// `<data dir>/objects`, the pipeline writing into it, the catalog.
    pub api: Arc<ApiState>,
    /// Example ids for the workers.
    pub queue: mpsc::Sender<Uuid>,
}

/// The embedded dispatch: a bounded in-process queue to the workers.
struct QueueDispatch {
    queue: mpsc::Sender<Uuid>,
}

impl Dispatch for QueueDispatch {
    fn reserve(&self) -> Option<Box<dyn Reservation>> {
        let permit = self.queue.clone().try_reserve_owned().ok()?;
        Some(Box::new(QueueSlot(permit)))
    }
}

struct QueueSlot(mpsc::OwnedPermit<Uuid>);

impl Reservation for QueueSlot {
    fn send(self: Box<Self>, example_id: Uuid) {
        self.0.send(example_id);
    }
}

/// How the server reports what a person starting it needs to know.
pub struct Started {
    pub url: String,
    /// The first administrator's key, on the first start only.
    pub admin_key: Option<String>,
}

/// Runs the server until SIGINT or SIGTERM. `announce` is called once the
/// socket is bound.
pub async fn run(
    config: ServeConfig,
    data_dir: PathBuf,
    announce: impl FnOnce(&Started),
) -> Result<(), ServiceError> {
    let metrics = crate::telemetry::install("serve")?;
    let objects_dir = data_dir.join("objects");
    let uploads_dir = data_dir.join("uploads");
    for dir in [&data_dir, &objects_dir, &uploads_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| ServiceError::io(format!("creating {}", dir.display()), e))?;
    }
    clear_stale_uploads(&uploads_dir)?;
    let db = Db::open(&data_dir.join("tracepipe.db"))?;
    let control: Arc<dyn ControlPlane> = Arc::new(SqliteControlPlane::new(db.clone()));
    sweep_orphan_sessions(&db, &objects_dir).await?;
    let catalog = Arc::new(CatalogStore::open(control.as_ref(), &config.catalog).await?);
    // Automatic clean-up removes the folders a rejected upload leaves empty.
    let objects: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(&objects_dir)?.with_automatic_cleanup(true));
    let limits = Limits {
        max_decompressed_bytes: config.limits.max_decompressed_bytes,
        max_events: config.limits.max_events,
        ..Limits::default()
    };
    let pipeline = Pipeline::new(objects.clone(), object_store::path::Path::default(), limits)
        .with_output_limits(OutputLimits {
            max_actions: config.limits.max_actions,
            max_output_bytes: config.limits.max_output_bytes,
        });

    let (queue, jobs) = mpsc::channel(config.processing.queue_capacity);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServiceError::io(format!("binding {}", config.listen), e))?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| ServiceError::io("reading the bound address", e))?;
    // Last before the announcement: a key created by a start that then failed
    // would never have been shown, and nobody could log in.
    let admin_key =
        crate::api::account::ensure_admin(control.as_ref(), &config.admin_display_name).await?;

    let billing: Arc<dyn BillingStore> = Arc::new(SqliteBillingStore::new(db.clone()));
    let stripe = crate::invoicing::stripe_client(&config.billing)?;
    let api = Arc::new(ApiState {
        limits: config.limits.clone(),
        pricing: config.pricing.clone(),
        control,
        objects,
        pipeline,
        reading: crate::api::UploadReading::InRequest,
        uploads_dir,
        local_objects_dir: Some(objects_dir),
        catalog,
        dispatch: Arc::new(QueueDispatch {
            queue: queue.clone(),
        }),
        admission: Admission::new(config.admission.clone()),
        accounts: Arc::new(SqliteAccountStore::new(db.clone())),
        web: Arc::new(WebAuth::new(&config.web, &format!("http://{local}"))?),
        billing,
        stripe,
        billing_config: config.billing.clone(),
        callbacks: config.callbacks.clone(),
        clock: Arc::new(crate::clock::SystemClock),
    });
    let state = Arc::new(AppState {
        config,
        db,
        api,
        queue,
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    let workers = worker::spawn(state.clone(), jobs, stop_rx.clone());
    let requeue = tokio::spawn(worker::requeue_unfinished(state.clone()));
    let sink = tokio::spawn(sink::run(state.clone(), stop_rx.clone()));
    let callbacks = tokio::spawn(crate::callbacks::run(
        state.api.control.clone(),
        state.config.callbacks.clone(),
        stop_rx.clone(),
    ));
    let scheduled_close = state.config.billing.scheduled_close.then(|| {
        let api = &state.api;
        let invoicing = Invoicing {
            control: api.control.clone(),
            store: api.billing.clone(),
            stripe: api.stripe.clone(),
            pricing: api.pricing.clone(),
            catalog: api.catalog.clone(),
        };
        tokio::spawn(invoicing.run_scheduled("serve".to_owned()))
    });

    announce(&Started {
        url: format!("http://{local}"),
        admin_key,
    });

    let app = crate::api::router(state.api.clone())
        .layer(axum::middleware::from_fn(crate::telemetry::http::track))
        .merge(crate::telemetry::routes(metrics))
        .merge(crate::capture_page::routes())
        .merge(crate::api_docs::routes())
        .merge(crate::web::routes(state.api.clone()));
    crate::admission::listener::serve(listener, app, &state.config.admission, shutdown_signal())
        .await;

    // Stop taking jobs; a job in flight may finish within the grace period,
    // otherwise it stays PROCESSING and the next start picks it up again.
    let _ = stop_tx.send(true);
    requeue.abort();
    if let Some(task) = scheduled_close {
        task.abort();
    }
    let grace = Duration::from_secs(state.config.processing.shutdown_grace_secs);
    if tokio::time::timeout(grace, workers).await.is_err() {
        ::tracing::warn!(
            "workers did not finish within {}s; their examples resume on the next start",
            grace.as_secs()
        );
    }
    // A callback in flight is either recorded as sent or sent again at the
    // next start.
    if tokio::time::timeout(grace, callbacks).await.is_err() {
        ::tracing::warn!(
            "status callbacks in flight did not finish within {}s",
            grace.as_secs()
        );
    }
    match sink.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => ::tracing::warn!("the table sink failed: {e}"),
        Err(e) => ::tracing::warn!("the table sink task failed: {e}"),
    }
    Ok(())
}

/// Uploads interrupted by a stop are never resumed.
fn clear_stale_uploads(dir: &Path) -> Result<(), ServiceError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ServiceError::io(format!("reading {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| ServiceError::io(format!("removing {}", path.display()), e))?;
    }
    Ok(())
}

/// Removes the stored objects of sessions the database does not know: what an
/// upload interrupted by a crash or a full disk left behind. Session ids are
/// fresh per upload and a session's row is written after its objects, so a
/// folder without a row belongs to no one; at start no upload is in flight.
async fn sweep_orphan_sessions(database: &Db, objects_dir: &Path) -> Result<(), ServiceError> {
    let sessions = objects_dir.join("sessions");
    let entries = match std::fs::read_dir(&sessions) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ServiceError::io(
                format!("reading {}", sessions.display()),
                e,
            ))
        }
    };
    let mut folders = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(id) = name.to_str().and_then(|n| Uuid::parse_str(n).ok()) {
            folders.push((id, entry.path()));
        }
    }
    let ids: Vec<Uuid> = folders.iter().map(|(id, _)| *id).collect();
    let known = database
        .call(move |conn| db::existing_sessions(conn, &ids))
        .await?;
    for (id, path) in folders {
        if !known.contains(&id) {
            std::fs::remove_dir_all(&path)
                .map_err(|e| ServiceError::io(format!("removing {}", path.display()), e))?;
            ::tracing::info!("removed the leftovers of interrupted upload {id}");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    crate::telemetry::health::stopping();
    ::tracing::info!("shutting down");
}
