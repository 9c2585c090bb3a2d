//! API keys: `tp_live_` and 43 characters of base64url randomness (256 bits).
//!
//! Only a key's SHA-256 is stored; a plain hash suffices because the key is
//! random, not a password, so there is nothing to guess from the hash. The key
//! is looked up by its hash, so no comparison leaks timing about a stored key.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::error::{ApiError, ServiceError};
use super::ApiState;
use crate::control::{ExampleRecord, SessionRecord, User};

pub const KEY_PREFIX: &str = "tp_live_";
/// Characters of the random part shown at each end of a masked key: enough
/// to tell one's keys apart, 48 of 256 bits.
const SHOWN_CHARS: usize = 4;
pub const HEADER: &str = "x-api-key";

/// A freshly generated key: the secret (shown once) and what is stored.
pub struct NewKey {
    pub secret: String,
    pub hash: String,
    /// `tp_live_Ab12…xY9z`: how the key is listed.
    pub masked: String,
}

impl std::fmt::Debug for NewKey {
    // The secret never reaches a log by way of `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("masked", &self.masked)
            .finish_non_exhaustive()
    }
}

pub fn generate() -> Result<NewKey, ServiceError> {
    let secret = random_secret(KEY_PREFIX)?;
    Ok(NewKey {
        hash: hash(&secret),
        masked: mask(&secret),
        secret,
    })
}

/// `prefix` and 32 random bytes, base64url without padding (43 characters).
pub fn random_secret(prefix: &str) -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ServiceError::Random(e.to_string()))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The key's prefix and the first and last characters of its random part.
fn mask(secret: &str) -> String {
    let random = &secret[KEY_PREFIX.len()..];
    let head = &random[..SHOWN_CHARS];
    let tail = &random[random.len() - SHOWN_CHARS..];
    format!("{KEY_PREFIX}{head}…{tail}")
}

pub fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The authenticated user of a request, and the suites its key may be used
/// for.
#[derive(Debug, Clone)]
pub struct Caller(pub User, pub KeyScope);

/// The suites a request may touch: its API key's, or every suite (a key
/// without suites, a signed-in browser).
#[derive(Debug, Clone, Default)]
pub struct KeyScope(pub Option<Vec<uuid::Uuid>>);

impl KeyScope {
    pub fn allows(&self, suite_id: uuid::Uuid) -> bool {
        self.0
            .as_ref()
            .is_none_or(|suites| suites.contains(&suite_id))
    }

    /// Refuses a write to a suite the key is not for.
    pub fn check(&self, suite_id: uuid::Uuid) -> Result<(), ApiError> {
        if self.allows(suite_id) {
            Ok(())
        } else {
            Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "key_not_for_suite",
                format!("this API key is restricted to other suites than {suite_id}; use a key for that suite"),
            )
            .field("suite_id"))
        }
    }

    /// The suite a list is filtered to: the one asked for, if the key is for
    /// it; a key for one suite lists that suite; a key for several must name
    /// one.
    pub fn list_filter(&self, asked: Option<uuid::Uuid>) -> Result<Option<uuid::Uuid>, ApiError> {
        match (&self.0, asked) {
            (None, asked) => Ok(asked),
            (Some(_), Some(suite)) => self.check(suite).map(|()| Some(suite)),
            (Some(suites), None) => match suites.as_slice() {
                [only] => Ok(Some(*only)),
                _ => Err(ApiError::unprocessable(
                    "suite_id_required",
                    "this API key is restricted to several suites: name one with `suite_id`",
                )
                .field("suite_id")),
            },
        }
    }
}

impl Caller {
    /// The caller's session `id`, if it is theirs and in their key's suites:
    /// a client cannot tell "not yours" or "not for this key" from "not there".
    pub async fn session(
        &self,
        state: &ApiState,
        id: uuid::Uuid,
    ) -> Result<Option<SessionRecord>, ApiError> {
        let found = state.control.get_session(self.0.id, id).await?;
        Ok(found.filter(|s| self.1.allows(s.suite_id)))
    }

    /// The caller's Example `id`, on the same terms as [`Caller::session`].
    pub async fn example(
        &self,
        state: &ApiState,
        id: uuid::Uuid,
    ) -> Result<Option<ExampleRecord>, ApiError> {
        let found = state.control.get_example(self.0.id, id).await?;
        Ok(found.filter(|e| self.1.allows(e.suite_id)))
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    /// An API key in `X-API-Key`, or else a signed-in browser's session
    /// cookie; with the cookie, a method that changes something needs the
    /// session's CSRF token in `X-CSRF-Token`, so that another site cannot
    /// make the browser call the API.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(HEADER) else {
            return from_session_cookie(parts, state).await;
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| k.starts_with(KEY_PREFIX))
            .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
        let digest = hash(key);
        let owner = state
            .control
            .authenticate(&digest)
            .await
            .map_err(ServiceError::from)?;
        owner
            .map(|owner| Caller(owner.user, KeyScope(owner.suite_ids)))
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))
    }
}

async fn from_session_cookie(parts: &Parts, state: &ApiState) -> Result<Caller, ApiError> {
    let Some((user, session_hash)) = crate::web::session_of(state, &parts.headers)
        .await
        .map_err(ServiceError::from)?
    else {
        return Err(ApiError::unauthorized("missing X-API-Key header"));
    };
    if !parts.method.is_safe() {
        let key = state
            .web
            .csrf_key(state.accounts.as_ref())
            .await
            .map_err(ServiceError::from)?;
        let presented = parts
            .headers
            .get(tracepipe_accounts::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !key.verify(&session_hash, presented) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "csrf_token_invalid",
                "a request authenticated by the session cookie must carry the session's X-CSRF-Token header",
            ));
        }
    }
    Ok(Caller(user, KeyScope::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate().expect("key");
        let b = generate().expect("key");
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 43);
        assert!(a.masked.starts_with(&a.secret[..KEY_PREFIX.len() + 4]));
        assert!(a.masked.ends_with(&a.secret[a.secret.len() - 4..]));
        assert!(!a
            .masked
            .contains(&a.secret[KEY_PREFIX.len() + 4..a.secret.len() - 4]));
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
