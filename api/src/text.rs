//! Text a client sent, on its way into storage or back out in an error, for
//! both deployments (`serve` and the gateway).
//!
//! Control characters in stored text (a `description`) are refused rather than
//! escaped: what a client reads back is then exactly what it sent, and a
//! terminal or log showing it cannot be driven by it. Tab and line breaks are
//! text. Error messages may quote the request (a JSON key, a form field's
//! name): they are cut, so an error is never larger than a few kilobytes
//! whatever the request held.

/// Characters of an error's `field` sent back (a client may name a field).
pub const MAX_FIELD_CHARS: usize = 64;
/// Bytes of an error message sent back; the rest is cut.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// A control character in a text field.
#[derive(Debug, thiserror::Error)]
#[error("`{field}` contains the control character U+{code:04X} at character {at}; only tab, line feed and carriage return are allowed")]
pub struct ControlCharacter {
    pub field: &'static str,
    pub code: u32,
    /// 0-based index of the character.
    pub at: usize,
}

/// Refuses control characters other than tab, line feed and carriage return.
pub fn check_text(field: &'static str, text: &str) -> Result<(), ControlCharacter> {
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some((at, c)) => Err(ControlCharacter {
            field,
            code: u32::from(c),
            at,
        }),
        None => Ok(()),
    }
}

/// `message` cut to at most [`MAX_MESSAGE_BYTES`] (on a character boundary).
pub fn capped_message(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.into();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut; {} bytes in all)", &message[..end], message.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_with_their_place() {
        assert!(check_text("description", "two lines\n\tand a tab\r\n").is_ok());
        let e = check_text("description", "bell\u{7} and escape\u{1b}[31m").expect_err("bell");
        assert_eq!((e.code, e.at), (7, 4));
        assert!(e.to_string().contains("U+0007"), "{e}");
        assert!(check_text("description", "c1 \u{9b}").is_err());
        assert!(check_text("description", "del \u{7f}").is_err());
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1 << 19);
        let capped = capped_message(&long);
        assert!(capped.len() < MAX_MESSAGE_BYTES + 64, "{}", capped.len());
        assert!(capped.ends_with("(cut; 1048576 bytes in all)"));
        assert_eq!(capped_message("short"), "short");
    }
}
