//! The time as the API reads it, held in [`crate::api::ApiState`]: the
//! system's in both deployments, another in tests that need time to pass
//! (a deposit's hold running out) without waiting for it or rewriting
//! stored times.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock: what `serve` and the gateway run with.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
