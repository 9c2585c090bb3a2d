//! Account passwords: the policy a new password must meet, and argon2id
//! hashes stored as PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroize;

/// The fewest characters (Unicode scalar values) a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most bytes a password may have: long enough for any passphrase or
/// password manager, short enough that a request cannot make hashing costly.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as the user typed it. It never appears in `Debug` or `Display`
/// output (so not in logs or error messages either), and its memory is
/// overwritten when it is dropped.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps what the user typed, unchanged: no trimming, no normalisation,
    /// so the same keystrokes always give the same password.
    pub fn new(typed: impl Into<String>) -> Self {
        Self(typed.into())
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Password {
    fn from(typed: String) -> Self {
        Self(typed)
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a new password is refused. The messages are written for the person
/// choosing the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordPolicyError {
    #[error("the password must have at least {min} characters")]
    TooShort { min: usize },
    #[error("the password must be at most {max} bytes long")]
    TooLong { max: usize },
    #[error("the password must not be only spaces")]
    OnlyWhitespace,
}

/// Checks a password someone is setting (registration, password change).
/// Signing in does not check it: a password that was allowed when it was set
/// keeps working if the policy changes.
pub fn check_password_policy(password: &Password) -> Result<(), PasswordPolicyError> {
    if password.0.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordPolicyError::TooLong {
            max: MAX_PASSWORD_BYTES,
        });
    }
    if password.0.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    if password.0.chars().all(char::is_whitespace) {
        return Err(PasswordPolicyError::OnlyWhitespace);
    }
    Ok(())
}

/// How much work a new hash costs. Verification always uses the parameters
/// recorded in the stored hash, so hashes of either cost verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashCost {
    /// argon2id with 19 MiB of memory, 2 passes, 1 lane: OWASP's
    /// recommended minimum for argon2id.
    #[default]
    Standard,
    /// The smallest argon2id parameters (8 KiB, 1 pass). Only for tests that
    /// create many accounts; never for real accounts.
    TestOnly,
}

impl HashCost {
    fn params(self) -> Params {
        match self {
            HashCost::Standard => Params::DEFAULT,
            HashCost::TestOnly => Params::new(
                Params::MIN_M_COST,
                Params::MIN_T_COST,
                Params::MIN_P_COST,
                None,
            )
            .unwrap_or(Params::DEFAULT),
        }
    }
}

/// A stored hash could not be used, or hashing failed. A wrong password is
/// not an error: [`verify_password`] returns `Ok(false)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordHashError {
    #[error("the stored password hash is not a valid PHC string: {0}")]
    MalformedHash(String),
    #[error("the stored password hash uses an unsupported algorithm or parameters: {0}")]
    UnsupportedHash(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn argon2id(cost: HashCost) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params())
}

/// Hashes a password with argon2id and a random 16-byte salt; returns the PHC
/// string to store.
pub fn hash_password(password: &Password, cost: HashCost) -> Result<String, PasswordHashError> {
    let hash: PasswordHash = argon2id(cost)
        .hash_password(password.as_bytes())
        .map_err(|e| PasswordHashError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string. The comparison of the
/// computed and stored hash is constant-time.
pub fn verify_password(password: &Password, stored: &str) -> Result<bool, PasswordHashError> {
    let parsed =
        PasswordHash::new(stored).map_err(|e| PasswordHashError::MalformedHash(e.to_string()))?;
    if parsed.algorithm.as_str() != Algorithm::Argon2id.as_str() {
        return Err(PasswordHashError::UnsupportedHash(format!(
            "algorithm {}",
            parsed.algorithm.as_str()
        )));
    }
    match argon2id(HashCost::Standard).verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(PasswordHashError::UnsupportedHash(e.to_string())),
    }
}

/// Spends the time a real verification takes, for a sign-in whose email has
/// no account (or no password, e.g. OpenID-only): answering faster would tell
/// an attacker which emails are registered. Always `false`.
pub fn verify_password_for_missing_account(password: &Password) -> bool {
    static DECOY: OnceLock<Option<String>> = OnceLock::new();
    let decoy = DECOY.get_or_init(|| {
        hash_password(
            &Password::new("decoy password, never anyone's"),
            HashCost::Standard,
        )
        .ok()
    });
    if let Some(decoy) = decoy {
        // The result is irrelevant: only the time spent matters.
        let _ = verify_password(password, decoy);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_accepts_twelve_characters_and_refuses_eleven() {
        assert_eq!(
            check_password_policy(&Password::new("abcdefghijkl")),
            Ok(())
        );
        assert_eq!(
            check_password_policy(&Password::new("abcdefghijk")),
            Err(PasswordPolicyError::TooShort { min: 12 })
        );
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // Twelve characters of two bytes each: long enough.
        assert_eq!(
            check_password_policy(&Password::new("éééééééééééé")),
            Ok(())
        );
        // Eleven such characters (22 bytes): too short.
        assert!(matches!(
            check_password_policy(&Password::new("ééééééééééé")),
            Err(PasswordPolicyError::TooShort { .. })
        ));
    }

    #[test]
    fn policy_refuses_more_than_1024_bytes() {
        assert_eq!(
            check_password_policy(&Password::new("a".repeat(1024))),
            Ok(())
        );
        assert_eq!(
            check_password_policy(&Password::new("a".repeat(1025))),
            Err(PasswordPolicyError::TooLong { max: 1024 })
        );
    }

    #[test]
    fn policy_refuses_only_whitespace() {
        assert_eq!(
            check_password_policy(&Password::new(" \t\u{a0}         ")),
            Err(PasswordPolicyError::OnlyWhitespace)
        );
        // Spaces inside a passphrase are fine.
        assert_eq!(
            check_password_policy(&Password::new("  correct horse  ")),
            Ok(())
        );
    }

    #[test]
    fn policy_errors_read_as_advice() {
        let e = check_password_policy(&Password::new("short")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the password must have at least 12 characters"
        );
    }

    #[test]
    fn debug_and_display_never_show_the_password() {
        let p = Password::new("hunter2-but-longer");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert_eq!(format!("{p}"), "<redacted>");
        let e = PasswordHashError::Hashing("x".into());
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    #[test]
    fn standard_hash_is_argon2id_phc_with_owasp_parameters_and_verifies() {
        let p = Password::new("correct horse battery staple");
        let stored = hash_password(&p, HashCost::Standard).expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains("correct horse"));
        assert!(verify_password(&p, &stored).expect("verify"));
        assert!(
            !verify_password(&Password::new("correct horse battery stapler"), &stored)
                .expect("verify")
        );
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let p = Password::new("the same password twice");
        let a = hash_password(&p, HashCost::TestOnly).expect("hash");
        let b = hash_password(&p, HashCost::TestOnly).expect("hash");
        assert_ne!(a, b, "a fresh salt per hash");
        assert!(verify_password(&p, &a).expect("verify"));
        assert!(verify_password(&p, &b).expect("verify"));
    }

    #[test]
    fn test_only_cost_is_recorded_in_the_hash() {
        let stored = hash_password(&Password::new("cheap for tests only"), HashCost::TestOnly)
            .expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
            "{stored}"
        );
    }

    #[test]
    fn malformed_and_foreign_hashes_are_errors_not_mismatches() {
        let p = Password::new("whatever it is, it is long");
        assert!(matches!(
            verify_password(&p, "not a hash"),
            Err(PasswordHashError::MalformedHash(_))
        ));
        let argon2i = "$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
                       q3Ct5Ry0D1Dh0bRcInnxXQzCzLtkDmWU4OWGJYtmAfA";
        assert!(matches!(
            verify_password(&p, argon2i),
            Err(PasswordHashError::UnsupportedHash(_))
        ));
    }

    #[test]
    fn a_missing_account_never_verifies() {
        assert!(!verify_password_for_missing_account(&Password::new(
            "decoy password, never anyone's"
        )));
    }
}
