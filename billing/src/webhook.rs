//! Stripe's webhook signatures: checking the `Stripe-Signature` header of an
//! incoming event, and making one (for tests).
//!
//! Stripe signs `"{t}.{payload}"` with HMAC-SHA256 under the endpoint's
//! signing secret and sends `t=<unix seconds>,v1=<hex>`; during a secret
//! rotation there are several `v1` entries, and a `v0` one (an older scheme)
//! may appear and is ignored. The timestamp is signed too, so refusing old
//! ones bounds how long a captured request can be replayed.
//!
//! The signature does not stop a replay inside the tolerance: the caller must
//! record [`WebhookEvent::id`] when it acts on an event and ignore an id it
//! has seen before.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's own libraries refuse events signed more than five minutes ago.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A verified event, as Stripe sent it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEvent {
    /// `evt_…`: unique per event, the same on every delivery of it. The
    /// caller records it to refuse replays.
    pub id: String,
    /// e.g. `checkout.session.completed`, `invoice.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub livemode: bool,
    pub data: WebhookEventData,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEventData {
    /// The object the event is about (a Checkout Session, an Invoice, …), in
    /// the API version of the endpoint.
    pub object: serde_json::Value,
}

impl WebhookEvent {
    /// The `id` of the object the event is about (`cs_…`, `in_…`, …).
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.get("id")?.as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    #[error("the Stripe-Signature header is malformed: {0}")]
    MalformedHeader(&'static str),
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("no v1 signature matches the payload under the endpoint secret")]
    SignatureMismatch,
    /// Too old (a possible replay) or too far in the future (a wrong clock).
    #[error("the event was signed at {signed_at}, outside the tolerance of {tolerance_secs} s around {now}")]
    OutsideTolerance {
        signed_at: i64,
        now: i64,
        tolerance_secs: u64,
    },
    /// Correctly signed, but not an event this code understands.
    #[error("the signed payload is not a Stripe event: {0}")]
    InvalidEvent(String),
}

/// Checks `stripe_signature_header` over `payload` (the request body exactly
/// as received) and, if it holds and was made within `tolerance` of `now`,
/// parses the event. Signatures are compared in constant time.
pub fn verify_webhook(
    payload: &[u8],
    stripe_signature_header: &str,
    endpoint_secret: &str,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<WebhookEvent, WebhookError> {
    let header = SignatureHeader::parse(stripe_signature_header)?;
    let tolerance_secs = tolerance.as_secs();
    let skew = now.timestamp().abs_diff(header.timestamp);
    if skew > tolerance_secs {
        return Err(WebhookError::OutsideTolerance {
            signed_at: header.timestamp,
            now: now.timestamp(),
            tolerance_secs,
        });
    }
    let matches = header.v1_signatures.iter().any(|signature| {
        // verify_slice compares in constant time.
        signed_payload_mac(payload, endpoint_secret, header.timestamp)
            .verify_slice(signature)
            .is_ok()
    });
    if !matches {
        return Err(WebhookError::SignatureMismatch);
    }
    serde_json::from_slice(payload).map_err(|e| WebhookError::InvalidEvent(e.to_string()))
}

/// The `Stripe-Signature` header Stripe would send for `payload` signed at
/// `timestamp` (unix seconds) with `secret`.
pub fn sign_webhook(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let signature = signed_payload_mac(payload, secret, timestamp)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", to_hex(&signature))
}

fn signed_payload_mac(payload: &[u8], secret: &str, timestamp: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

struct SignatureHeader {
    timestamp: i64,
    /// Decoded; entries that are not 32 bytes of hex are dropped (they can
    /// match nothing).
    v1_signatures: Vec<Vec<u8>>,
}

impl SignatureHeader {
    fn parse(header: &str) -> Result<SignatureHeader, WebhookError> {
        let mut timestamp = None;
        let mut v1_signatures = Vec::new();
        let mut saw_v1 = false;
        for item in header.split(',') {
            let (key, value) = item
                .trim()
                .split_once('=')
                .ok_or(WebhookError::MalformedHeader("an entry without '='"))?;
            match key {
                "t" => {
                    if timestamp.is_some() {
                        return Err(WebhookError::MalformedHeader("more than one timestamp"));
                    }
                    let t = value.parse::<i64>().map_err(|_| {
                        WebhookError::MalformedHeader("the timestamp is not a number")
                    })?;
                    timestamp = Some(t);
                }
                "v1" => {
                    saw_v1 = true;
                    if let Some(bytes) = from_hex(value).filter(|b| b.len() == 32) {
                        v1_signatures.push(bytes);
                    }
                }
                // v0 (a legacy scheme) and whatever Stripe adds later.
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(WebhookError::MalformedHeader("no timestamp"))?;
        if !saw_v1 {
            return Err(WebhookError::NoSignature);
        }
        Ok(SignatureHeader {
            timestamp,
            v1_signatures,
        })
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "whsec_test_endpoint_secret";
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed","created":1795000000,"livemode":false,"data":{"object":{"id":"cs_test_1","object":"checkout.session","mode":"setup","customer":"cus_1"}}}"#;
    const SIGNED_AT: i64 = 1_795_000_000;

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).single().expect("time")
    }

    fn verify(payload: &[u8], header: &str, now: i64) -> Result<WebhookEvent, WebhookError> {
        verify_webhook(payload, header, SECRET, at(now), DEFAULT_TOLERANCE)
    }

    #[test]
    fn a_valid_signature_gives_the_parsed_event() {
        let header = sign_webhook(PAYLOAD, SECRET, SIGNED_AT);
        assert!(header.starts_with("t=1795000000,v1="));
        let event = verify(PAYLOAD, &header, SIGNED_AT + 10).expect("valid");
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.event_type, "checkout.session.completed");
        assert_eq!(event.created, at(1_795_000_000));
        assert!(!event.livemode);
        assert_eq!(event.object_id(), Some("cs_test_1"));
        assert_eq!(event.data.object["customer"], "cus_1");
    }

    #[test]
    fn matches_stripe_s_published_scheme() {
        // HMAC-SHA256("{t}.{payload}") computed independently of this module
        // (Python's hmac module) for the secret, time and payload below.
        let header = sign_webhook(b"{}", "whsec_x", 1_700_000_000);
        assert_eq!(
            header,
            "t=1700000000,v1=be8cb8325f2202445260a855532f967e30ad2a9394ce28da66ee02880ddcb661"
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let header = sign_webhook(PAYLOAD, SECRET, SIGNED_AT);
        let tampered = String::from_utf8(PAYLOAD.to_vec())
            .expect("utf-8")
            .replace("cus_1", "cus_2");
        assert_eq!(
            verify(tampered.as_bytes(), &header, SIGNED_AT),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_signature_under_another_secret_is_refused() {
        let header = sign_webhook(PAYLOAD, "whsec_someone_else", SIGNED_AT);
        assert_eq!(
            verify(PAYLOAD, &header, SIGNED_AT),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_moved_timestamp_breaks_the_signature() {
        let header = sign_webhook(PAYLOAD, SECRET, SIGNED_AT);
        let moved = header.replace("t=1795000000", "t=1795000100");
        assert_eq!(
            verify(PAYLOAD, &moved, SIGNED_AT + 100),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn too_old_and_too_far_ahead_are_refused_at_the_edge_not_before() {
        let header = sign_webhook(PAYLOAD, SECRET, SIGNED_AT);
        assert!(verify(PAYLOAD, &header, SIGNED_AT + 300).is_ok());
        assert!(verify(PAYLOAD, &header, SIGNED_AT - 300).is_ok());
        assert_eq!(
            verify(PAYLOAD, &header, SIGNED_AT + 301),
            Err(WebhookError::OutsideTolerance {
                signed_at: SIGNED_AT,
                now: SIGNED_AT + 301,
                tolerance_secs: 300
            })
        );
        assert!(matches!(
            verify(PAYLOAD, &header, SIGNED_AT - 301),
            Err(WebhookError::OutsideTolerance { .. })
        ));
        // A custom tolerance.
        assert!(verify_webhook(
            PAYLOAD,
            &header,
            SECRET,
            at(SIGNED_AT + 20),
            Duration::from_secs(10)
        )
        .is_err());
    }

    #[test]
    fn any_one_of_several_v1_signatures_may_match_and_v0_is_ignored() {
        let good = sign_webhook(PAYLOAD, SECRET, SIGNED_AT);
        let good_v1 = good.split_once(",v1=").expect("v1").1;
        let old_secret = sign_webhook(PAYLOAD, "whsec_rotated_out", SIGNED_AT);
        let old_v1 = old_secret.split_once(",v1=").expect("v1").1;
        let header = format!("t={SIGNED_AT},v1={old_v1},v1={good_v1},v0=deadbeef");
        assert!(verify(PAYLOAD, &header, SIGNED_AT).is_ok());
        let header = format!("t={SIGNED_AT}, v0={good_v1}, v1={old_v1}, v1=zz");
        assert_eq!(
            verify(PAYLOAD, &header, SIGNED_AT),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let good = sign_webhook(PAYLOAD, SECRET, SIGNED_AT);
        let v1 = good.split_once(",v1=").expect("v1").1;
        for (header, expected) in [
            (
                String::new(),
                WebhookError::MalformedHeader("an entry without '='"),
            ),
            (
                format!("v1={v1}"),
                WebhookError::MalformedHeader("no timestamp"),
            ),
            (format!("t={SIGNED_AT}"), WebhookError::NoSignature),
            (format!("t={SIGNED_AT},v0={v1}"), WebhookError::NoSignature),
            (
                format!("t=soon,v1={v1}"),
                WebhookError::MalformedHeader("the timestamp is not a number"),
            ),
            (
                format!("t={SIGNED_AT},t={SIGNED_AT},v1={v1}"),
                WebhookError::MalformedHeader("more than one timestamp"),
            ),
        ] {
            assert_eq!(
                verify(PAYLOAD, &header, SIGNED_AT),
                Err(expected),
                "{header:?}"
            );
        }
    }

    #[test]
    fn a_signed_payload_that_is_not_an_event_is_refused() {
        let payload = br#"{"hello":"world"}"#;
        let header = sign_webhook(payload, SECRET, SIGNED_AT);
        assert!(matches!(
            verify(payload, &header, SIGNED_AT),
            Err(WebhookError::InvalidEvent(_))
        ));
    }

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("ABcd"), Some(vec![0xab, 0xcd]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
