//! Processing metrics shared by `tracepipe serve`'s workers and `tracepipe
//! processor`: both run the pipeline's synthesis stage.

use std::time::Duration;

use super::name;

/// A session became an Example: its classification time and its actions
/// (name, low confidence), by suite and action (both from the catalog, so
/// bounded).
pub fn synthesized<'a>(
    suite: &str,
    classification: Duration,
    actions: impl IntoIterator<Item = (&'a str, bool)>,
) {
    metrics::histogram!(name("classification_duration_seconds"), "suite" => suite.to_owned())
        .record(classification.as_secs_f64());
    for (action, low_confidence) in actions {
        let labels = [("suite", suite.to_owned()), ("action", action.to_owned())];
        metrics::counter!(name("actions_total"), &labels).increment(1);
        if low_confidence {
            metrics::counter!(name("low_confidence_actions_total"), &labels).increment(1);
        }
    }
}

/// A session reached a final status: `completed` or `failed`. `suite` must
/// be a catalog suite's name (callers pass `unknown` otherwise).
pub fn session_processed(suite: &str, outcome: &'static str, took: Option<Duration>) {
    metrics::counter!(
        name("sessions_processed_total"),
        "suite" => suite.to_owned(),
        "outcome" => outcome,
    )
    .increment(1);
    if let Some(took) = took {
        metrics::histogram!(name("session_duration_seconds"), "suite" => suite.to_owned())
            .record(took.as_secs_f64());
    }
}

/// A message left for the dead-letter topic, by its short code.
pub fn dead_lettered(error_code: &str) {
    metrics::counter!(name("dead_letters_total"), "error_code" => error_code.to_owned())
        .increment(1);
}

/// A message taken off `topic`.
pub fn consumed(topic: &str) {
    metrics::counter!(name("events_consumed_total"), "topic" => topic.to_owned()).increment(1);
}
