//! Tracepipe accounts: the security-critical pieces of email + password and
//! OpenID Connect sign-in that need no storage. The caller stores what these
//! functions return (password hashes, session token hashes) and calls them on
//! each request.
//!
//! - [`password`]: the password policy, argon2id hashing and verification.
//! - [`session`]: session tokens (only their hash is stored) and the session
//!   cookie.
//! - [`csrf`]: synchronizer tokens bound to the session.
//! - [`throttle`]: in-memory sign-in throttling per email and per address.
//! - [`oidc`]: an OpenID Connect relying party (authorization code + PKCE).

pub mod csrf;
pub mod oidc;
pub mod password;
pub mod session;
pub mod throttle;

pub use csrf::{CsrfKey, CsrfKeyError, CSRF_FORM_FIELD, CSRF_HEADER};
pub use oidc::{
    AuthorizationResponse, ClientSecret, OidcClient, OidcConfig, OidcError, PendingAuthorization,
    VerifiedClaims,
};
pub use password::{
    check_password_policy, hash_password, verify_password, verify_password_for_missing_account,
    HashCost, Password, PasswordHashError, PasswordPolicyError,
};
pub use session::{hash_token, SessionCookie, SessionToken};
pub use throttle::{Clock, SignInThrottle, SystemClock, ThrottleConfig, Throttled};
