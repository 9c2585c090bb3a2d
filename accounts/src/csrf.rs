//! Cross-site request forgery protection: a synchronizer token bound to the
//! web session.
//!
//! The token is the HMAC-SHA256 of the session's stored hash under a server
//! key, so nothing extra is stored per session, it changes whenever the
//! session does (a new one at every sign-in), and it is worthless for any
//! other session. Pages put it in a hidden form field
//! ([`CSRF_FORM_FIELD`]); scripts calling the API with the session cookie
//! send it in the [`CSRF_HEADER`] header. Requests authenticated with an API
//! key carry no cookie and need no token.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::TryRngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The hidden form field that carries the token.
pub const CSRF_FORM_FIELD: &str = "csrf_token";
/// The request header that carries the token on cookie-authenticated API
/// calls.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Bytes of key material: 256 bits, the strength HMAC-SHA256 offers.
const KEY_BYTES: usize = 32;

/// The server's CSRF key. Every instance behind one public URL must share it
/// (store it with the deployment's other secrets), or tokens from one
/// instance are refused by another. Never shown by `Debug`.
#[derive(Clone)]
pub struct CsrfKey([u8; KEY_BYTES]);

/// A CSRF key given as bytes was too short to be a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfKeyError {
    #[error("a CSRF key needs at least {min} bytes, got {got}")]
    TooShort { min: usize, got: usize },
}

impl CsrfKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_BYTES];
        OsRng
            .try_fill_bytes(&mut key)
            .expect("the operating system's random number generator failed");
        Self(key)
    }

    /// A key from stored bytes: exactly the first 32 of at least 32.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CsrfKeyError> {
        let key = bytes
            .get(..KEY_BYTES)
            .and_then(|b| <[u8; KEY_BYTES]>::try_from(b).ok())
            .ok_or(CsrfKeyError::TooShort {
                min: KEY_BYTES,
                got: bytes.len(),
            })?;
        Ok(Self(key))
    }

    /// The key's bytes, to store it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self, session_hash: &str) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        // A label, so this key's MACs can never be confused with another use.
        mac.update(b"tracepipe csrf v1\0");
        mac.update(session_hash.as_bytes());
        mac
    }

    /// The token for the session whose stored hash is `session_hash`
    /// (base64url, 43 characters).
    pub fn token_for(&self, session_hash: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session_hash).finalize().into_bytes())
    }

    /// Whether `presented` (from the form field or header) is this session's
    /// token. Constant-time in the token's content.
    pub fn verify(&self, session_hash: &str, presented: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
            return false;
        };
        let expected = self.mac(session_hash).finalize().into_bytes();
        presented.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&presented))
    }
}

impl Drop for CsrfKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionToken;

    #[test]
    fn a_sessions_token_verifies_for_that_session_only() {
        let key = CsrfKey::generate();
        let (_, session) = SessionToken::new();
        let (_, other_session) = SessionToken::new();
        let token = key.token_for(&session);
        assert_eq!(token.len(), 43);
        assert!(key.verify(&session, &token));
        assert!(!key.verify(&other_session, &token));
        assert_eq!(token, key.token_for(&session), "stable for the session");
    }

    #[test]
    fn another_key_refuses_the_token() {
        let (_, session) = SessionToken::new();
        let token = CsrfKey::generate().token_for(&session);
        assert!(!CsrfKey::generate().verify(&session, &token));
    }

    #[test]
    fn missing_truncated_or_altered_tokens_are_refused() {
        let key = CsrfKey::generate();
        let (_, session) = SessionToken::new();
        let token = key.token_for(&session);
        assert!(!key.verify(&session, ""));
        assert!(!key.verify(&session, &token[..42]));
        assert!(!key.verify(&session, "not base64 !!"));
        let mut altered = token.clone().into_bytes();
        altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
        assert!(!key.verify(&session, &String::from_utf8(altered).expect("ascii")));
    }

    #[test]
    fn key_round_trips_through_bytes_and_refuses_short_material() {
        let key = CsrfKey::generate();
        let again = CsrfKey::from_bytes(key.as_bytes()).expect("32 bytes");
        let (_, session) = SessionToken::new();
        assert!(again.verify(&session, &key.token_for(&session)));
        assert_eq!(
            CsrfKey::from_bytes(&[0u8; 16]).unwrap_err(),
            CsrfKeyError::TooShort { min: 32, got: 16 }
        );
        assert_eq!(format!("{key:?}"), "CsrfKey(<redacted>)");
    }
}
