//! Assembles the events a reader found into a [`Session`]: one clock, time order,
//! derived same-document navigations, and privacy scrubbing.

use crate::privacy;
use tracepipe_schemas::{Event, EventKind, Navigation, Session, SourceFormat};

/// Collects events on the recording's own clock (microseconds) as they are read.
pub struct SessionBuilder {
    source: SourceFormat,
    events: Vec<Event>,
    started_at: Option<String>,
    user_agent: Option<String>,
    suite: Option<String>,
    /// Where the recording's clock starts, when it says so.
    origin_us: Option<i64>,
    /// Screenshots painted over or left out while reading.
    screenshots_redacted: usize,
    screenshots_dropped: usize,
}

impl SessionBuilder {
    pub fn new(source: SourceFormat) -> Self {
        SessionBuilder {
            source,
            events: Vec::new(),
            started_at: None,
            user_agent: None,
            suite: None,
            origin_us: None,
            screenshots_redacted: 0,
            screenshots_dropped: 0,
        }
    }

    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    pub fn set_started_at(&mut self, at: String) {
        self.started_at.get_or_insert(at);
    }

    pub fn set_user_agent(&mut self, ua: String) {
        self.user_agent.get_or_insert(ua);
    }

    pub fn set_suite(&mut self, suite: String) {
        self.suite.get_or_insert(suite);
    }

    pub fn set_origin(&mut self, ts: i64) {
        self.origin_us = Some(self.origin_us.map_or(ts, |o| o.min(ts)));
    }

    /// A screenshot was stored painted over.
    pub fn screenshot_redacted(&mut self) {
        self.screenshots_redacted += 1;
    }

    /// A screenshot was left out (no event, nothing stored).
    pub fn screenshot_dropped(&mut self) {
        self.screenshots_dropped += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Orders the events, re-bases them on the session clock, adds the
    /// navigations implied by URL changes, and scrubs secrets.
    pub fn finish(mut self, session_id: String) -> (Session, Scrubbed) {
        let mut scrubbed = Scrubbed {
            screenshots_redacted: self.screenshots_redacted,
            screenshots_dropped: self.screenshots_dropped,
            ..Scrubbed::default()
        };
        // Stable: events at the same instant keep the order they were recorded in.
        self.events.sort_by_key(|e| e.t_us);
        let t0 = self
            .events
            .first()
            .map(|e| e.t_us)
            .into_iter()
            .chain(self.origin_us)
            .min()
            .unwrap_or(0);
        let mut events = Vec::with_capacity(self.events.len() + 8);
        let mut current_url: Option<String> = None;
        for mut e in self.events {
            // Saturating: a trace's times are whatever it says (`ts` of
            // ±1e30, a fuzzing input, overflowed the subtraction).
            e.t_us = e.t_us.saturating_sub(t0);
            if let Some(n) = &mut e.network {
                if let Some(end) = &mut n.end_us {
                    *end = end.saturating_sub(t0);
                }
            }
            scrub(&mut e, &mut scrubbed);
            match e.kind {
                EventKind::Navigation => {
                    if let Some(url) = &e.url {
                        if current_url.as_deref() == Some(url.as_str()) {
                            // Already known from a mark's URL: keep one.
                            continue;
                        }
                        if let Some(nav) = &mut e.navigation {
                            if nav.from_url.is_none() {
                                nav.from_url = current_url.clone();
                            }
                            nav.same_document =
                                nav.same_document || same_document(current_url.as_deref(), url);
                        }
                        current_url = Some(url.clone());
                    }
                }
                // A view's URL is where the page was when it was described:
                // it neither moves the page nor names a page visited.
                EventKind::NetworkRequest
                | EventKind::Screenshot
                | EventKind::Input
                | EventKind::View => {}
                _ => {
                    if let Some(url) = &e.url {
                        if current_url.as_deref() != Some(url.as_str()) {
                            if current_url.is_some() {
                                let mut nav = Event::new(EventKind::Navigation, e.t_us);
                                nav.url = Some(url.clone());
                                nav.navigation = Some(Navigation {
                                    same_document: same_document(current_url.as_deref(), url),
                                    from_url: current_url.clone(),
                                });
                                events.push(nav);
                            }
                            current_url = Some(url.clone());
                        }
                    }
                }
            }
            events.push(e);
        }
        let mut pages: Vec<String> = Vec::new();
        for e in &events {
            if matches!(
                e.kind,
                EventKind::Navigation
                    | EventKind::Click
                    | EventKind::Change
                    | EventKind::Submit
                    | EventKind::Key
                    | EventKind::Scroll
            ) {
                if let Some(url) = &e.url {
                    if !pages.iter().any(|p| p == url) {
                        pages.push(url.clone());
                    }
                }
            }
        }
        let duration_us = events.last().map_or(0, |e| e.t_us);
        let session = Session {
            session_id,
            source: self.source,
            suite: self.suite,
            started_at: self.started_at,
            duration_us,
            user_agent: self.user_agent,
            pages,
            events,
            // The reader sees bytes, not files: the caller knows the name.
            source_name: None,
            source_sha256: None,
        };
        (session, scrubbed)
    }
}

/// What normalisation had to take out because the recording carried it: a
/// recording with any of these must not be kept verbatim anywhere.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scrubbed {
    /// Values of password, credential and card fields that were present.
    pub secret_values: usize,
    /// Texts and URLs in which a card number was masked.
    pub card_numbers: usize,
    /// URLs that lost embedded credentials or secret query parameters.
    pub urls: usize,
    /// Screenshots stored with sensitive fields painted over. Whether the
    /// recording still holds them as recorded is the
    /// [`ScreenshotGuard`](crate::redact::ScreenshotGuard)'s question (a JSON
    /// Lines recording only names its image files), not part of [`any`](Self::any).
    pub screenshots_redacted: usize,
    /// Screenshots left out: taken where nothing said where secrets were, or
    /// not redactable.
    pub screenshots_dropped: usize,
}

impl Scrubbed {
    pub fn any(&self) -> bool {
        self.secret_values + self.card_numbers + self.urls > 0
    }
}

/// Whether moving from `from` to `to` only changes the fragment.
fn same_document(from: Option<&str>, to: &str) -> bool {
    let strip = |u: &str| u.split_once('#').map_or(u, |(base, _)| base).to_string();
    from.is_some_and(|f| strip(f) == strip(to))
}

fn scrub(e: &mut Event, report: &mut Scrubbed) {
    if let Some(t) = &mut e.target {
        // Only a value can leak; a click on a button named "PIN" is not a secret.
        if (e.value.is_some() || e.kind == EventKind::Change) && privacy::is_secret_field(t) {
            e.masked = true;
        }
        for text in [&mut t.label, &mut t.text, &mut t.href]
            .into_iter()
            .flatten()
        {
            report.card_numbers += usize::from(privacy::scrub_text(text));
        }
    }
    if e.masked && e.value.take().is_some() {
        report.secret_values += 1;
    }
    if let Some(v) = &mut e.value {
        report.card_numbers += usize::from(privacy::scrub_text(v));
    }
    if let Some(u) = &mut e.url {
        report.urls += usize::from(privacy::scrub_url(u));
    }
    if let Some(view) = &mut e.view {
        for item in view.items.iter_mut().chain(view.open.as_mut()) {
            for text in item
                .name
                .iter_mut()
                .chain(item.data.values_mut())
                .chain(item.fields.values_mut())
            {
                report.card_numbers += usize::from(privacy::scrub_text(text));
            }
        }
    }
    if let Some(nav) = &mut e.navigation {
        if let Some(u) = &mut nav.from_url {
            report.urls += usize::from(privacy::scrub_url(u));
        }
    }
}
