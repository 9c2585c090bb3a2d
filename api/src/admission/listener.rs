//! The HTTP/1 accept loop both APIs run on, in place of `axum::serve`, which
//! sets no header-read deadline and no connection cap.
//!
//! - Every connection must send each request's headers within
//!   `header_read_timeout_secs` (hyper's `header_read_timeout`, which needs a
//!   timer); otherwise it is closed. A connection that sends nothing is closed
//!   after the same time.
//! - At most `max_connections` are open at once: when all are taken the loop
//!   stops accepting, and new clients wait in the kernel's backlog rather
//!   than costing a file descriptor each.
//! - On shutdown the loop stops accepting, asks every connection to finish
//!   its request in flight and close, and waits for them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::AdmissionConfig;

/// How long to pause accepting after an accept error (file descriptors
/// exhausted, for one): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Descriptors the process needs besides its connections: files, the
/// database, object-store and Kafka sockets.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The soft limit on open files (Linux `/proc/self/limits`), if known.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for the
/// open connections to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &AdmissionConfig,
    shutdown: impl Future<Output = ()>,
) {
    let max = config.max_connections;
    if let Some(limit) = open_files_limit() {
        if max as u64 + RESERVED_DESCRIPTORS > limit {
            // Accept would then fail for lack of descriptors before the cap
            // is reached; the loop survives that, but the files the server
            // opens for its own work may fail too.
            ::tracing::warn!(
                "admission: max_connections {max} leaves fewer than {RESERVED_DESCRIPTORS} of the {limit} file descriptors this process may open; lower it or raise the limit"
            );
        }
    }
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout());
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    // A connection closed by a timeout or by its client is
                    // not an error of the server.
                    _ = connection.as_mut() => break,
                    changed = stop.changed(), if !stopping => {
                        stopping = true;
                        if changed.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}
