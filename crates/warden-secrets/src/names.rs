//! Secret-name validation: a secret name is an environment variable name, `[A-Z_][A-Z0-9_]*`.

use crate::SecretError;

/// The longest secret name accepted.
pub const MAX_SECRET_NAME_LEN: usize = 128;

/// Checks that `name` is `[A-Z_][A-Z0-9_]*` and at most [`MAX_SECRET_NAME_LEN`] bytes, the
/// same rule warden-config applies to a tool's `secrets = [...]`.
pub fn validate_secret_name(name: &str) -> Result<(), SecretError> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_SECRET_NAME_LEN {
        Some("is longer than 128 characters")
    } else if name.as_bytes()[0].is_ascii_digit() {
        Some("starts with a digit")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("is not an environment variable name ([A-Z_][A-Z0-9_]*)")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(SecretError::BadName {
            name: name.chars().take(MAX_SECRET_NAME_LEN).collect(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_env_names_and_rejects_others() {
        assert!(validate_secret_name("ORDERS_API_KEY").is_ok());
        assert!(validate_secret_name("_X1").is_ok());
        for bad in ["", "1A", "lower", "A-B", "A.B", "A B"] {
            assert!(validate_secret_name(bad).is_err(), "{bad}");
        }
        assert!(validate_secret_name(&"A".repeat(129)).is_err());
    }
}
