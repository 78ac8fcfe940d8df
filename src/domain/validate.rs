//! Checks of form shared by every aggregate: required text, bounded lengths, SHA-256 digests,
//! moments not in the future. Each returns a [`Rejection::Invalid`] naming the field and the rule.
//!
//! The length bounds are guards against abuse of the input, not supervision policy: no committee
//! would want a 10,000-character name, and the log should not store one.

use chrono::{DateTime, Utc};

use super::Rejection;

/// Longest name, title or reference (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// Longest free text: notes, reasons, summaries, evaluations (characters).
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Most items in a list given in one command (organs, problems, hashes, laws …).
pub const MAX_ITEMS: usize = 200;

/// A required short text: not blank, at most [`MAX_NAME_CHARS`].
pub fn name(field: &str, value: &str) -> Result<(), Rejection> {
    bounded(field, value, MAX_NAME_CHARS)
}

/// A required free text: not blank, at most [`MAX_TEXT_CHARS`].
pub fn text(field: &str, value: &str) -> Result<(), Rejection> {
    bounded(field, value, MAX_TEXT_CHARS)
}

/// An optional free text: may be empty, at most [`MAX_TEXT_CHARS`].
pub fn optional_text(field: &str, value: &str) -> Result<(), Rejection> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(Rejection::invalid(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return Err(Rejection::invalid(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(Rejection::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A list of required short texts: at most [`MAX_ITEMS`], each a valid name, no repeats.
pub fn names(field: &str, values: &[String], required: bool) -> Result<(), Rejection> {
    if required && values.is_empty() {
        return Err(Rejection::invalid(field, "must not be empty"));
    }
    items(field, values.len())?;
    for (i, value) in values.iter().enumerate() {
        name(&format!("{field}[{i}]"), value)?;
        if values[..i].contains(value) {
            return Err(Rejection::invalid(
                format!("{field}[{i}]"),
                "must not repeat an earlier entry",
            ));
        }
    }
    Ok(())
}

/// A list of free texts: at most [`MAX_ITEMS`], each a valid text.
pub fn texts(field: &str, values: &[String]) -> Result<(), Rejection> {
    items(field, values.len())?;
    for (i, value) in values.iter().enumerate() {
        text(&format!("{field}[{i}]"), value)?;
    }
    Ok(())
}

/// At most [`MAX_ITEMS`] entries.
pub fn items(field: &str, len: usize) -> Result<(), Rejection> {
    if len > MAX_ITEMS {
        return Err(Rejection::invalid(
            field,
            format!("must have at most {MAX_ITEMS} entries"),
        ));
    }
    Ok(())
}

/// A SHA-256 digest written as 64 lowercase hex characters. Lowercase only, so one document has
/// exactly one spelling and digests compare as strings.
pub fn sha256_hex(field: &str, value: &str) -> Result<(), Rejection> {
    if value.len() != 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Rejection::invalid(
            field,
            "must be a sha-256 digest of 64 lowercase hex characters",
        ));
    }
    Ok(())
}

/// A moment that has already happened by the time the command is decided.
pub fn not_in_future(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Rejection> {
    if at > now {
        return Err(Rejection::invalid(field, "must not be in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_overlong_texts_are_refused() {
        assert_eq!(
            name("name", "  ").unwrap_err(),
            Rejection::invalid("name", "must not be blank")
        );
        assert!(name("name", &"字".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(name("name", &"字".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(optional_text("notes", "").is_ok());
    }

    #[test]
    fn only_lowercase_64_hex_is_a_digest() {
        let ok = "a".repeat(64);
        assert!(sha256_hex("h", &ok).is_ok());
        assert!(sha256_hex("h", &"A".repeat(64)).is_err());
        assert!(sha256_hex("h", &"a".repeat(63)).is_err());
        assert!(sha256_hex("h", &"g".repeat(64)).is_err());
    }

    #[test]
    fn repeated_names_are_refused_with_their_index() {
        let err = names("organs", &["a".into(), "a".into()], true).unwrap_err();
        assert_eq!(
            err,
            Rejection::invalid("organs[1]", "must not repeat an earlier entry")
        );
        assert!(names("organs", &[], true).is_err());
        assert!(names("organs", &[], false).is_ok());
    }
}
