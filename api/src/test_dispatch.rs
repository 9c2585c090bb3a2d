//! Dispatches for in-process tests of the router, where no processor runs.

use uuid::Uuid;

use crate::api::{Dispatch, Reservation};

/// Takes every Example and leaves it PENDING: the test finishes it, or
/// looks at what an upload is before any processor reads it.
pub struct KeepPending;

impl Dispatch for KeepPending {
    fn reserve(&self) -> Option<Box<dyn Reservation>> {
        Some(Box::new(KeepPending))
    }
}

impl Reservation for KeepPending {
    fn send(self: Box<Self>, _example_id: Uuid) {}
}

/// Takes nothing: uploads and `POST /examples` answer 503, as when the
/// processors are saturated.
pub struct TakesNothing;

impl Dispatch for TakesNothing {
    fn reserve(&self) -> Option<Box<dyn Reservation>> {
        None
    }
}
