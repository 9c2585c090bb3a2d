//! Scrubbing secrets out of normalised events.
//!
//! The capture script already withholds secret field values at the source, but a
//! recording may have been made without it, so the same rules are applied again
//! here: values of password, credential and payment-card fields are dropped, any
//! Luhn-valid card number in free text is masked, and URLs lose embedded
//! credentials and secret-looking query parameters. Request headers are never kept
//! at all, so `Authorization` and `Cookie` cannot survive.

use tracepipe_schemas::Target;

/// `autocomplete` tokens that name a credential or a payment card.
const SECRET_AUTOCOMPLETE: &[&str] = &[
    "current-password",
    "new-password",
    "one-time-code",
    "cc-number",
    "cc-csc",
    "cc-exp",
    "cc-exp-month",
    "cc-exp-year",
    "cc-name",
    "cc-given-name",
    "cc-family-name",
    "cc-type",
];

/// Words in a field's name, id or label that mark it as secret when nothing
/// more specific (type, autocomplete) says so.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passcode",
    "pwd",
    "secret",
    "token",
    "otp",
    "cvv",
    "cvc",
    "csc",
    "pin",
    "ssn",
    "card number",
    "cardnumber",
    "card-number",
    "card_number",
    "cc-number",
    "ccnum",
    "api key",
    "api_key",
    "apikey",
    "security code",
];

/// Query parameters whose values are credentials.
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "client_secret",
    "code",
    "auth",
    "sig",
    "signature",
    "session",
    "sessionid",
];

pub const MASK: &str = "[masked]";
pub const CARD_MASK: &str = "[card]";

/// Whether a field's value must never be kept.
pub fn is_secret_field(target: &Target) -> bool {
    if target
        .input_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("password"))
    {
        return true;
    }
    if let Some(ac) = &target.autocomplete {
        if ac.split_ascii_whitespace().any(|tok| {
            SECRET_AUTOCOMPLETE
                .iter()
                .any(|s| tok.eq_ignore_ascii_case(s))
        }) {
            return true;
        }
    }
    [&target.name, &target.id, &target.label]
        .into_iter()
        .flatten()
        .any(|text| names_secret(text))
}

fn names_secret(text: &str) -> bool {
    let lower = text.to_lowercase();
    SECRET_WORDS.iter().any(|w| {
        // Whole-word match, so "pinned" or "spinner" is not a PIN.
        lower.match_indices(w).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let after = lower[i + w.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// Masks every Luhn-valid card number (13–19 digits, optionally grouped by
/// spaces or dashes) in `text`. Returns None when nothing changed.
pub fn mask_card_numbers(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        // Longest run of digits with single separators between them.
        let mut j = i;
        let mut digits = Vec::with_capacity(19);
        let mut last_digit_end = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b - b'0');
                j += 1;
                last_digit_end = j;
            } else if (b == b' ' || b == b'-')
                && j + 1 < bytes.len()
                && bytes[j + 1].is_ascii_digit()
                && j > i
            {
                j += 1;
            } else {
                break;
            }
            if digits.len() > 19 {
                break;
            }
        }
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            let s = out.get_or_insert_with(String::new);
            s.push_str(&text[copied..i]);
            s.push_str(CARD_MASK);
            copied = last_digit_end;
        }
        i = last_digit_end.max(i + 1);
    }
    out.map(|mut s| {
        s.push_str(&text[copied..]);
        s
    })
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = d as u32;
            if k % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Applies card masking in place; true when something was masked.
pub fn scrub_text(text: &mut String) -> bool {
    match mask_card_numbers(text) {
        Some(masked) => {
            *text = masked;
            true
        }
        None => false,
    }
}

/// Removes `user:password@` and masks secret query parameters and card numbers
/// in a URL, leaving the rest (including the fragment route) untouched; true
/// when something was removed.
pub fn scrub_url(url: &mut String) -> bool {
    let original = url.clone();
    if let Some(scheme_end) = url.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = url[auth_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |k| auth_start + k);
        if let Some(at) = url[auth_start..auth_end].rfind('@') {
            url.replace_range(auth_start..auth_start + at + 1, "");
        }
    }
    if let Some(q) = url.find('?') {
        let query_end = url[q..].find('#').map_or(url.len(), |k| q + k);
        let query = &url[q + 1..query_end];
        let mut changed = false;
        let rebuilt: Vec<String> = query
            .split('&')
            .map(|pair| {
                let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
                if pair.contains('=') && SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                    changed = true;
                    format!("{k}={MASK}")
                } else {
                    pair.to_string()
                }
            })
            .collect();
        if changed {
            url.replace_range(q + 1..query_end, &rebuilt.join("&"));
        }
    }
    scrub_text(url);
    *url != original
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_numbers_are_masked_in_free_text() {
        assert_eq!(
            mask_card_numbers("pay 4111 1111 1111 1111 now").as_deref(),
            Some("pay [card] now")
        );
        assert_eq!(
            mask_card_numbers("4111-1111-1111-1111").as_deref(),
            Some("[card]")
        );
        assert_eq!(
            mask_card_numbers("5500005555555559,x").as_deref(),
            Some("[card],x")
        );
        // Not Luhn-valid, or too short: untouched.
        assert_eq!(mask_card_numbers("4111 1111 1111 1112"), None);
        assert_eq!(mask_card_numbers("call 555 1234"), None);
        assert_eq!(mask_card_numbers("order 18c2f0a1b2c3d4e5"), None);
    }

    #[test]
    fn secret_fields_are_recognised_by_type_autocomplete_and_name() {
        let t = |f: fn(&mut Target)| {
            let mut target = Target::default();
            f(&mut target);
            is_secret_field(&target)
        };
        assert!(t(|t| t.input_type = Some("PASSWORD".into())));
        assert!(t(|t| t.autocomplete = Some("section-pay cc-number".into())));
        assert!(t(|t| t.name = Some("user_password".into())));
        assert!(t(|t| t.label = Some("App password".into())));
        assert!(t(|t| t.label = Some("Card number".into())));
        assert!(!t(|t| t.label = Some("Subject".into())));
        assert!(!t(|t| t.label = Some("Pinned messages".into())));
        assert!(!t(|t| t.autocomplete = Some("email".into())));
    }

    #[test]
    fn urls_lose_credentials_and_secret_parameters() {
        let mut u = "https://bob:hunter2@mail.example.com/api?q=hello&access_token=abc123#inbox"
            .to_string();
        scrub_url(&mut u);
        assert_eq!(
            u,
            "https://mail.example.com/api?q=hello&access_token=[masked]#inbox"
        );
        let mut plain = "http://localhost:8765/#search/from%3Aalice".to_string();
        scrub_url(&mut plain);
        assert_eq!(plain, "http://localhost:8765/#search/from%3Aalice");
    }
}
