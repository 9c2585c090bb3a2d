//! Per-API-key limits: a request rate (a token bucket of `requests_per_minute`
//! requests, refilled continuously) and the uploads a key may have in flight.
//!
//! Keys are told apart by the SHA-256 of the `X-API-Key` header, so the map
//! holds no secret. A key whose request is answered `401` is forgotten, so
//! made-up keys do not fill the map; idle keys are pruned as it grows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{refusal, retry_after, Admission};

/// The header both APIs read the key from.
const KEY_HEADER: &str = "x-api-key";
/// Longer values are no key (keys are 51 characters); they are not tracked.
const MAX_KEY_BYTES: usize = 256;
/// The map is pruned of idle keys when it grows past this, then past twice
/// what remained.
const PRUNE_FLOOR: usize = 4096;

type KeyId = [u8; 32];

/// The key a request presents, as its digest; `None` without one.
pub fn key_id(headers: &HeaderMap) -> Option<KeyId> {
    let value = headers.get(KEY_HEADER)?.as_bytes();
    if value.is_empty() || value.len() > MAX_KEY_BYTES {
        return None;
    }
    Some(Sha256::digest(value.trim_ascii()).into())
}

#[derive(Debug)]
struct KeyState {
    tokens: f64,
    refilled: Instant,
    uploads: u32,
}

/// The rate and upload counters of every key seen.
pub struct KeyLimits {
    /// Requests per minute; 0: no rate limit.
    per_minute: u32,
    /// Uploads in flight per key; 0: no limit.
    max_uploads: u32,
    keys: Mutex<HashMap<KeyId, KeyState>>,
    prune_at: Mutex<usize>,
}

/// What a request admitted under the rate limit may be told about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

/// A request over the rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    pub quota: Quota,
    /// Seconds until one request is allowed again.
    pub retry_after_secs: u64,
}

impl KeyLimits {
    pub fn new(per_minute: u32, max_uploads: u32) -> KeyLimits {
        KeyLimits {
            per_minute,
            max_uploads,
            keys: Mutex::new(HashMap::new()),
            prune_at: Mutex::new(PRUNE_FLOOR),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    fn refill(&self, state: &mut KeyState, now: Instant) {
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second()).min(f64::from(self.per_minute));
        state.refilled = now;
    }

    fn quota(&self, state: &KeyState) -> Quota {
        let missing = f64::from(self.per_minute) - state.tokens;
        Quota {
            limit: self.per_minute,
            remaining: state.tokens.floor().max(0.0) as u32,
            reset_secs: (missing / self.per_second()).ceil().max(0.0) as u64,
        }
    }

    fn new_state(&self, now: Instant) -> KeyState {
        KeyState {
            tokens: f64::from(self.per_minute),
            refilled: now,
            uploads: 0,
        }
    }

    /// Takes one request from `key`'s bucket. `Ok(None)` when there is no
    /// rate limit.
    pub fn take(&self, key: KeyId, now: Instant) -> Result<Option<Quota>, Limited> {
        if self.per_minute == 0 {
            return Ok(None);
        }
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        self.prune(&mut keys, now);
        let state = keys.entry(key).or_insert_with(|| self.new_state(now));
        self.refill(state, now);
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Ok(Some(self.quota(state)))
        } else {
            let retry = ((1.0 - state.tokens) / self.per_second()).ceil() as u64;
            Err(Limited {
                quota: self.quota(state),
                retry_after_secs: retry.max(1),
            })
        }
    }

    /// Drops `key`: it was refused as unknown or revoked.
    pub fn forget(&self, key: &KeyId) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.get(key).is_some_and(|s| s.uploads == 0) {
            keys.remove(key);
        }
    }

    /// Counts an upload of `key` until the returned slot is dropped; `None`
    /// when the key has `max_uploads` in flight already.
    pub fn start_upload(self: &Arc<Self>, key: KeyId, now: Instant) -> Option<UploadSlot> {
        if self.max_uploads == 0 {
            return Some(UploadSlot { owner: None, key });
        }
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let state = keys.entry(key).or_insert_with(|| self.new_state(now));
        if state.uploads >= self.max_uploads {
            return None;
        }
        state.uploads += 1;
        Some(UploadSlot {
            owner: Some(self.clone()),
            key,
        })
    }

    pub fn max_uploads(&self) -> u32 {
        self.max_uploads
    }

    /// Removes keys with a full bucket and no upload: they behave exactly as
    /// a key never seen.
    fn prune(&self, keys: &mut HashMap<KeyId, KeyState>, now: Instant) {
        let mut prune_at = self.prune_at.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() < *prune_at {
            return;
        }
        keys.retain(|_, state| {
            self.refill(state, now);
            state.uploads > 0 || state.tokens < f64::from(self.per_minute)
        });
        *prune_at = (keys.len() * 2).max(PRUNE_FLOOR);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// An upload in flight for one key; the count goes down when dropped.
pub struct UploadSlot {
    owner: Option<Arc<KeyLimits>>,
    key: KeyId,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        if let Some(owner) = &self.owner {
            let mut keys = owner.keys.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(state) = keys.get_mut(&self.key) {
                state.uploads = state.uploads.saturating_sub(1);
            }
        }
    }
}

fn set_quota_headers(response: &mut Response, quota: Quota) {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(quota.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(quota.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(quota.reset_secs));
}

/// Middleware over every `/v1` route: a key over its rate is answered `429`
/// before the handler runs; other answers carry the key's quota.
pub async fn limit_rate(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = key_id(request.headers()) else {
        return next.run(request).await;
    };
    match admission.keys.take(key, Instant::now()) {
        Ok(None) => next.run(request).await,
        Ok(Some(quota)) => {
            let mut response = next.run(request).await;
            if response.status() == StatusCode::UNAUTHORIZED {
                admission.keys.forget(&key);
            } else {
                set_quota_headers(&mut response, quota);
            }
            response
        }
        Err(limited) => {
            let mut response = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "this API key made more than {} requests in a minute; retry after {} s",
                    limited.quota.limit, limited.retry_after_secs
                ),
            );
            set_quota_headers(&mut response, limited.quota);
            retry_after(&mut response, limited.retry_after_secs);
            response
        }
    }
}

/// The answer for a key with all its upload slots taken.
pub fn too_many_uploads(max: u32) -> Response {
    let mut response = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_uploads",
        format!("this API key has {max} uploads in progress, the most allowed at once; retry when one has finished"),
    );
    retry_after(&mut response, 5);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(n: u8) -> KeyId {
        [n; 32]
    }

    #[test]
    fn a_key_over_its_rate_waits_and_others_are_unaffected() {
        let limits = KeyLimits::new(60, 0);
        let t0 = Instant::now();
        for i in 0..60 {
            let quota = limits
                .take(key(1), t0)
                .expect("within the rate")
                .expect("limited");
            assert_eq!(quota.remaining, 59 - i);
        }
        let limited = limits
            .take(key(1), t0)
            .expect_err("the 61st in the same instant");
        assert_eq!(limited.quota.remaining, 0);
        assert_eq!(limited.retry_after_secs, 1);
        assert_eq!(limited.quota.reset_secs, 60);
        // Another key has its own bucket.
        assert!(limits.take(key(2), t0).is_ok());
        // One second refills one request at 60 per minute.
        let later = t0 + Duration::from_secs(1);
        assert!(limits.take(key(1), later).is_ok());
        assert!(limits.take(key(1), later).is_err());
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limits = KeyLimits::new(0, 0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(limits.take(key(1), t0), Ok(None));
        }
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn uploads_are_counted_until_their_slot_drops() {
        let limits = Arc::new(KeyLimits::new(0, 2));
        let t0 = Instant::now();
        let a = limits.start_upload(key(1), t0).expect("first");
        let _b = limits.start_upload(key(1), t0).expect("second");
        assert!(limits.start_upload(key(1), t0).is_none(), "third refused");
        assert!(limits.start_upload(key(2), t0).is_some(), "another key");
        drop(a);
        assert!(
            limits.start_upload(key(1), t0).is_some(),
            "a slot came back"
        );
    }

    #[test]
    fn forgotten_and_idle_keys_leave_the_map() {
        let limits = KeyLimits::new(600, 0);
        let t0 = Instant::now();
        limits.take(key(1), t0).expect("ok");
        limits.forget(&key(1));
        assert_eq!(limits.tracked(), 0);
        for n in 0..=255u8 {
            for m in 0..16u8 {
                let mut id = key(n);
                id[1] = m;
                limits.take(id, t0).expect("ok");
            }
        }
        assert_eq!(limits.tracked(), PRUNE_FLOOR);
        // A minute later every bucket is full again: the next growth prunes them.
        let mut newcomer = key(7);
        newcomer[1] = 200;
        limits
            .take(newcomer, t0 + Duration::from_secs(61))
            .expect("ok");
        assert_eq!(limits.tracked(), 1);
    }
}
