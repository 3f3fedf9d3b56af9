//! Field-level validation errors, collected so a client sees every problem at once.

use serde::Serialize;

/// One rejected field, named the way the client wrote it (`lines[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Marks a type whose values come only from its `parse`: the field is private,
/// so no other crate can build one that skipped the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Parsed;

/// A well-formed request that is not acceptable: becomes 422 `validation_failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// The control characters free text may not hold (Rust's `char::is_control`
/// less tab and newline), as a regular-expression class body.
const CONTROL_CLASS: &str = r"\u0000-\u0008\u000B-\u001F\u007F-\u009F";
/// What `str::trim` removes (Unicode `White_Space`), as a class body.
const SPACE_CLASS: &str =
    r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The ECMA-262 pattern of exactly the text [`check_text`] accepts within its
/// length: no control characters and, when `nonblank`, something besides
/// white space. Published in the OpenAPI document so the schema and the
/// server agree on every string.
pub fn text_pattern(nonblank: bool) -> String {
    if nonblank {
        format!("^[^{CONTROL_CLASS}]*[^{CONTROL_CLASS}{SPACE_CLASS}][^{CONTROL_CLASS}]*$")
    } else {
        format!("^[^{CONTROL_CLASS}]*$")
    }
}

/// Checks a free-text field: length in characters (not bytes), no control characters,
/// and, when `min > 0`, not blank.
pub fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let len = value.chars().count();
    if len < min || len > max {
        errors.push(FieldError::new(
            field,
            format!("must be {min} to {max} characters long (got {len})"),
        ));
    } else if min > 0 && value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be blank"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_length_counts_characters_not_bytes() {
        let mut errors = vec![];
        check_text(&mut errors, "name", "café", 1, 4);
        assert!(errors.is_empty(), "{errors:?}");
        check_text(&mut errors, "name", "cafés", 1, 4);
        assert_eq!(errors[0].field, "name");
    }

    #[test]
    fn blank_and_control_characters_are_rejected() {
        let mut errors = vec![];
        check_text(&mut errors, "a", "   ", 1, 10);
        check_text(&mut errors, "b", "x\u{0}y", 0, 10);
        check_text(&mut errors, "c", "", 0, 10);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
    }
}
