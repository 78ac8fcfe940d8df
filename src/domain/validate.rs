//! Checks of form shared by every aggregate and by every boundary that parses a client's
//! input (the gRPC services, the pages): names, free texts, calendar dates, bounded lengths,
//! SHA-256 digests, moments not in the future. Each returns a [`Rejection::Invalid`] naming the
//! field and the rule.
//!
//! The length bounds are guards against abuse of the input, not supervision policy: no committee
//! would want a 10,000-character name, and the log should not store one.
//!
//! # Names and texts
//! A name (of a person, an organ, a post, a document) is one line of text as a person would
//! type it: it is refused when it starts or ends with a space, holds a line break, a control
//! character (C0, DEL, C1 — NUL included), a byte order mark or an explicit bidirectional
//! control (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, which can make a
//! name display as another), or is not in Unicode normalization form NFC. Boundaries turn what
//! a client sent into NFC with [`nfc`] before the domain sees it, so two spellings of one name
//! are one name. Everything real names need stays accepted: Uyghur and other Arabic-script
//! names, Mongolian with its zero-width joiner, variation selectors, free variation selectors
//! and narrow no-break space, Tibetan, and the middle dot (·) between the parts of a name.
//! A free text (notes, reasons) may hold line breaks and tabs; the other characters refused in
//! names are refused there too.
//!
//! # Dates
//! [`date`] is the one parser of calendar days: exactly `YYYY-MM-DD`, years 1900 to 9999.

use chrono::{DateTime, NaiveDate, Utc};
use unicode_normalization::UnicodeNormalization;

use super::Rejection;

/// Longest name, title or reference (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// Longest free text: notes, reasons, summaries, evaluations (characters).
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Most items in a list given in one command (organs, problems, hashes, laws …).
pub const MAX_ITEMS: usize = 200;

/// The earliest year a date may have.
pub const MIN_YEAR: i32 = 1900;
/// The latest year a date may have.
pub const MAX_YEAR: i32 = 9999;

/// `value` in Unicode normalization form NFC: what a boundary does to every name a client
/// sends before the domain checks it with [`name`].
pub fn nfc(value: String) -> String {
    if unicode_normalization::is_nfc(&value) {
        value
    } else {
        value.nfc().collect()
    }
}

/// [`nfc`] of every name of a list.
pub fn nfc_all(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(nfc).collect()
}

/// A required name: one line, not blank, no space at either end, no control or bidirectional
/// formatting character, in NFC, at most [`MAX_NAME_CHARS`].
pub fn name(field: &str, value: &str) -> Result<(), Rejection> {
    bounded(field, value, MAX_NAME_CHARS)?;
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(Rejection::invalid(
            field,
            "must not start or end with a space; remove the spaces around it",
        ));
    }
    characters(field, value, false)?;
    if !unicode_normalization::is_nfc(value) {
        return Err(Rejection::invalid(
            field,
            "must be in Unicode normalization form NFC",
        ));
    }
    Ok(())
}

/// A required free text: not blank, at most [`MAX_TEXT_CHARS`], line breaks allowed.
pub fn text(field: &str, value: &str) -> Result<(), Rejection> {
    bounded(field, value, MAX_TEXT_CHARS)?;
    characters(field, value, true)
}

/// An optional free text: may be empty, at most [`MAX_TEXT_CHARS`], line breaks allowed.
pub fn optional_text(field: &str, value: &str) -> Result<(), Rejection> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(Rejection::invalid(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    characters(field, value, true)
}

/// Refuses the characters no name or text may hold; `multiline` allows tab, line feed and
/// carriage return.
fn characters(field: &str, value: &str, multiline: bool) -> Result<(), Rejection> {
    for c in value.chars() {
        let what = match c {
            '\t' | '\n' | '\r' if multiline => continue,
            '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => "a line break",
            '\u{0}' => "a NUL character",
            c if c.is_control() => "a control character",
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                "a bidirectional control, which can make it display as other text"
            }
            '\u{feff}' => "a byte order mark",
            _ => continue,
        };
        return Err(Rejection::invalid(
            field,
            format!(
                "must not contain U+{:04X} ({what}); remove it",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// A calendar day written exactly `YYYY-MM-DD` (four-digit year from [`MIN_YEAR`] to
/// [`MAX_YEAR`], two-digit month and day): the one date parser of every boundary. The
/// rejection names `field` as the client sent it and quotes the value.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate, Rejection> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    let parsed = shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .filter(|day| (MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(day)));
    parsed.ok_or_else(|| {
        let shown: String = raw.chars().take(40).collect();
        Rejection::invalid(
            field,
            format!(
                "must be a date written YYYY-MM-DD with a year from {MIN_YEAR} to {MAX_YEAR}, \
                 not {shown:?}"
            ),
        )
    })
}

/// An optional calendar day: empty is `None`, anything else as [`date`].
pub fn optional_date(field: &str, raw: &str) -> Result<Option<NaiveDate>, Rejection> {
    if raw.is_empty() {
        Ok(None)
    } else {
        date(field, raw).map(Some)
    }
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

    /// Every name of the tests below, sent as a client would (then made NFC by the boundary).
    fn accepted(value: &str) {
        let normal = nfc(value.to_string());
        assert_eq!(name("name", &normal), Ok(()), "{value:?}");
    }

    #[test]
    fn names_refuse_spaces_at_the_ends_controls_bidi_controls_and_line_breaks() {
        for (bad, rule) in [
            (" 王明", "must not start or end with a space"),
            ("王明 ", "must not start or end with a space"),
            ("王明\u{3000}", "must not start or end with a space"),
            ("\u{a0}Zhang", "must not start or end with a space"),
            ("abc\u{202e}txt.exe", "U+202E (a bidirectional control"),
            ("\u{202a}王明", "U+202A (a bidirectional control"),
            ("王\u{2066}明\u{2069}", "U+2066 (a bidirectional control"),
            ("\u{feff}王明", "U+FEFF (a byte order mark"),
            ("王\u{0}明", "U+0000 (a NUL character"),
            ("王\u{7}明", "U+0007 (a control character"),
            ("王\u{7f}明", "U+007F (a control character"),
            ("王\u{9b}明", "U+009B (a control character"),
            ("王\t明", "U+0009 (a control character"),
            ("王\n明", "U+000A (a line break"),
            ("王\r明", "U+000D (a line break"),
            ("王\u{2028}明", "U+2028 (a line break"),
            ("Zoe\u{301}", "must be in Unicode normalization form NFC"),
        ] {
            let refused = name("name", bad).unwrap_err();
            let text = refused.to_string();
            assert!(text.starts_with("name "), "{bad:?}: {text}");
            assert!(text.contains(rule), "{bad:?}: {text}");
        }
    }

    #[test]
    fn free_texts_keep_line_breaks_and_refuse_the_rest() {
        assert!(text("notes", "第一行\n第二行\r\n\t缩进").is_ok());
        assert!(optional_text("notes", "line\nline").is_ok());
        for bad in [
            "a\u{0}b",
            "a\u{202e}b",
            "\u{feff}a",
            "a\u{1b}[31mb",
            "a\u{85}b",
        ] {
            assert!(text("notes", bad).is_err(), "{bad:?}");
            assert!(optional_text("notes", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_made_nfc_at_the_boundary() {
        assert_eq!(nfc("Zoe\u{301}".to_string()), "Zo\u{e9}");
        assert_eq!(nfc("王明".to_string()), "王明");
        assert_eq!(
            nfc_all(vec!["e\u{301}".into(), "a".into()]),
            vec!["\u{e9}".to_string(), "a".to_string()]
        );
        accepted("Zoe\u{301}");
    }

    #[test]
    fn uyghur_names_are_accepted() {
        accepted("ئابدۇرېشىت ئەخمەت");
        accepted("ئەخمەتجان قاسىمى");
    }

    #[test]
    fn mongolian_names_with_joiners_and_variation_selectors_are_accepted() {
        // Free variation selectors (U+180B–U+180D, U+180F), the zero-width joiner, the narrow
        // no-break space before a suffix and the Mongolian vowel separator.
        accepted("ᠪᠠᠲᠤ\u{180b}ᠮᠥᠩᠬᠡ");
        accepted("ᠣ\u{200d}ᠶᠤᠨ\u{180c}ᠲᠤᠶᠠ");
        accepted("ᠪᠠᠶᠠᠷ\u{202f}ᠤᠨ ᠭᠡᠷᠡᠯ");
        accepted("ᠨᠠ\u{180e}ᠠ\u{180f}");
        accepted("Бат-Эрдэнэ\u{fe00}");
    }

    #[test]
    fn tibetan_names_are_accepted() {
        accepted("བསྟན་འཛིན་རྒྱ་མཚོ");
        accepted("ཚེ་རིང་དོན་གྲུབ།");
    }

    #[test]
    fn names_with_a_middle_dot_are_accepted() {
        accepted("阿卜杜热西提·买买提");
        accepted("热依拉・达吾提");
        accepted("Jean·Dupont");
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd_from_1900_to_9999() {
        assert_eq!(
            date("on", "2017-12-23").unwrap(),
            NaiveDate::from_ymd_opt(2017, 12, 23).unwrap()
        );
        assert!(date("on", "1900-01-01").is_ok());
        assert!(date("on", "9999-12-31").is_ok());
        for bad in [
            "",
            "2026-1-5",
            "2026-01-5",
            "-0001-01-01",
            "+10000-01-01",
            "+2026-01-01",
            "1899-12-31",
            "0000-01-01",
            "2017/12/23",
            "2017-02-30",
            "2017-13-01",
            "23-12-2017",
            " 2017-12-23",
            "2017-12-23 ",
            "２０１７-12-23",
            "2017-12-23T00:00",
        ] {
            let refused = date("due_on", bad).unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!(
                    "due_on must be a date written YYYY-MM-DD with a year from 1900 to 9999, \
                     not {bad:?}"
                ),
                "{bad:?}"
            );
        }
        assert_eq!(optional_date("to", "").unwrap(), None);
        assert!(optional_date("to", "2026-1-5").is_err());
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
