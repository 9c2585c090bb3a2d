//! Gateway-only metrics.

use super::name;

/// A session stored and announced on the sessions topic (201).
pub fn session_accepted(suite: &str) {
    metrics::counter!(name("sessions_accepted_total"), "suite" => suite.to_owned()).increment(1);
}

/// A status event consumed: its status lower-cased (`processing`,
/// `completed`, `failed`), `other` for a status this build does not know,
/// `skipped` (`None`) when it did not decode.
pub fn status_event(status: Option<&str>) {
    let outcome = match status {
        Some("PROCESSING") => "processing",
        Some("COMPLETED") => "completed",
        Some("FAILED") => "failed",
        Some(_) => "other",
        None => "skipped",
    };
    metrics::counter!(name("status_events_total"), "outcome" => outcome).increment(1);
}

/// Outbox messages the relay published (Kafka acknowledged them).
pub fn outbox_published(messages: usize) {
    metrics::counter!(name("outbox_published_total")).increment(messages as u64);
}

/// Age in seconds of the oldest outbox message the relay found waiting (0
/// when the outbox was empty): how far the sessions topic is behind the
/// acknowledged uploads.
pub fn outbox_oldest(seconds: f64) {
    metrics::gauge!(name("outbox_oldest_seconds")).set(seconds);
}
