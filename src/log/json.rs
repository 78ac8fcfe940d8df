//! The one check of a JSON payload, shared by every path that accepts one (the EventLog
//! service's appends and every log backend): it must parse, and its arrays and objects may nest
//! at most [`MAX_JSON_DEPTH`] deep. The depth is measured on the bytes before parsing, so a
//! payload nested a million levels deep costs one pass over its bytes and no recursion.

/// The deepest nesting of arrays and objects a JSON payload may have. Every event of the
/// domain nests a handful of levels; readers that decode payloads recursively stay far from
/// their own limits.
pub const MAX_JSON_DEPTH: usize = 64;

/// Checks that `data` is JSON nested at most [`MAX_JSON_DEPTH`] deep; the error is the rule
/// broken, to be prefixed with the field.
pub fn check_json(data: &[u8]) -> Result<(), String> {
    let depth = max_depth(data);
    if depth > MAX_JSON_DEPTH {
        return Err(format!(
            "is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects; flatten the \
             payload"
        ));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(data)
        .map(|_| ())
        .map_err(|e| format!("is not valid JSON: {e}"))
}

/// The deepest nesting of `[` and `{` outside strings, stopping once past the bound.
fn max_depth(data: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in data {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_JSON_DEPTH {
                    return deepest;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_is_bounded_and_strings_do_not_count() {
        assert!(check_json(nested(MAX_JSON_DEPTH).as_bytes()).is_ok());
        let too_deep = check_json(nested(MAX_JSON_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(too_deep.contains("nested deeper than 64"), "{too_deep}");
        assert!(check_json(nested(1_000_000).as_bytes()).is_err());
        let quoted = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(check_json(quoted.as_bytes()).is_ok());
        assert!(check_json(br#"{"a":[{"b":[1,2,{"c":null}]}]}"#).is_ok());
        assert!(
            check_json(b"{")
                .unwrap_err()
                .starts_with("is not valid JSON")
        );
        assert!(check_json(b"").is_err());
    }
}
