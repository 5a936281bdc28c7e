//! A field of a configuration or a scenario section that is wrong, and why: the one error a
//! `check` returns, so that the loader can name the field in the user's file.

/// A field that is wrong: its path inside the section that was checked (e.g.
/// `"ufls[2].below_hz"`, or `"access.success"` inside an attack; empty for the section as a
/// whole) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    /// The field's path inside the checked section.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// The error of `field`: `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, its field now inside `parent` (`access.at` inside `delivery` is
    /// `delivery.access.at`).
    pub fn inside(self, parent: &str) -> FieldError {
        FieldError {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}
