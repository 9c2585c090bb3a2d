//! Web sessions: the random token in the session cookie, the hash of it the
//! server stores, and the `Set-Cookie` values that set and clear the cookie.
//!
//! Only the SHA-256 of a token is stored, so a leaked copy of the session
//! table cannot be replayed as cookies.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::TryRngCore as _;
use sha2::{Digest, Sha256};

/// Random bytes in a session token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// 32 random bytes from the operating system, base64url without padding.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    // The OS random source failing leaves no safe way to go on.
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new web session's token.
pub struct SessionToken;

impl SessionToken {
    /// A fresh token, for every sign-in (a new session id each time, so a
    /// session fixed before sign-in is never promoted). Returns the value
    /// for the cookie (43 base64url characters) and the hash to store
    /// (64 lowercase hex digits, [`hash_token`] of the cookie value).
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (String, String) {
        let cookie_value = random_token();
        let stored_hash = hash_token(&cookie_value);
        (cookie_value, stored_hash)
    }
}

/// The SHA-256 of a token, as lowercase hex: what is stored and looked up.
/// A plain hash is enough because the token has 256 bits of entropy.
pub fn hash_token(cookie_value: &str) -> String {
    let digest = Sha256::digest(cookie_value.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// The session cookie's name and attributes for one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    secure: bool,
    max_age: Duration,
}

impl SessionCookie {
    /// Behind an `https` public base URL the cookie is `Secure` and takes the
    /// `__Host-` prefix, which browsers only accept from a secure origin with
    /// `Path=/` and no `Domain`: no subdomain or plain-http page can set or
    /// overwrite it. Over plain http (a laptop, tests) it has neither.
    pub fn new(public_base_url: &url::Url, max_age: Duration) -> Self {
        Self {
            secure: public_base_url.scheme() == "https",
            max_age,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        if self.secure {
            "__Host-tp_session"
        } else {
            "tp_session"
        }
    }

    /// The `Set-Cookie` header value that stores `cookie_value` for
    /// `max_age`. `HttpOnly`: page scripts never see it. `SameSite=Lax`: it
    /// rides along on top-level navigations from elsewhere (following a link
    /// into the app, the OpenID provider's redirect back), never on
    /// cross-site form posts or fetches.
    pub fn set(&self, cookie_value: &str) -> String {
        self.header(cookie_value, self.max_age.as_secs())
    }

    /// The `Set-Cookie` header value that removes the cookie (sign-out).
    /// The server deletes the stored session as well; this only tidies the
    /// browser.
    pub fn clear(&self) -> String {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age_secs: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}",
            self.name()
        )
    }

    /// This cookie's value in a request's `Cookie` header, if present and
    /// shaped like a token (anything else cannot be a session).
    pub fn value_in<'h>(&self, cookie_header: &'h str) -> Option<&'h str> {
        cookie_header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name())
            .map(|(_, value)| value)
            .filter(|value| looks_like_token(value))
    }
}

fn looks_like_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    #[test]
    fn new_tokens_are_43_base64url_chars_and_unique() {
        let (a, a_hash) = SessionToken::new();
        let (b, _) = SessionToken::new();
        assert_ne!(a, b);
        assert!(looks_like_token(&a), "{a}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64url").len(), 32);
        assert_eq!(a_hash, hash_token(&a));
        assert_eq!(a_hash.len(), 64);
        assert_ne!(a_hash, a);
    }

    #[test]
    fn hash_token_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn cookie_over_https_is_secure_and_host_prefixed() {
        let cookie = SessionCookie::new(
            &url("https://tracepipe.example/"),
            Duration::from_secs(1_209_600),
        );
        assert_eq!(
            cookie.set("tok"),
            "__Host-tp_session=tok; Path=/; Max-Age=1209600; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            cookie.clear(),
            "__Host-tp_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn cookie_over_http_is_not_secure() {
        let cookie = SessionCookie::new(&url("http://127.0.0.1:8080"), Duration::from_secs(60));
        assert_eq!(
            cookie.set("tok"),
            "tp_session=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        assert_eq!(cookie.name(), "tp_session");
    }

    #[test]
    fn value_in_finds_the_cookie_among_others_and_ignores_junk() {
        let cookie = SessionCookie::new(&url("http://localhost"), Duration::from_secs(60));
        let (token, _) = SessionToken::new();
        let header = format!("theme=dark; tp_session={token}; other=1");
        assert_eq!(cookie.value_in(&header), Some(token.as_str()));
        assert_eq!(cookie.value_in("tp_session=short"), None);
        assert_eq!(cookie.value_in("xtp_session=abc"), None);
        assert_eq!(cookie.value_in(""), None);
        // The https name is a different cookie.
        let secure = SessionCookie::new(&url("https://x.example"), Duration::from_secs(60));
        assert_eq!(secure.value_in(&header), None);
    }
}
