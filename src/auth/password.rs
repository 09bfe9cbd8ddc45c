//! Password hashing (argon2id) and the password rules.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::AppError;

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (argon2 cost grows with input).
pub const MAX_LEN: usize = 256;

/// Checks the password rules; `field` names the request field for the error.
pub fn check_rules(password: &str, username: &str, field: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(AppError::invalid(
            "weak_password",
            field,
            format!("a password needs at least {MIN_LEN} characters"),
        ));
    }
    if chars > MAX_LEN {
        return Err(AppError::invalid(
            "weak_password",
            field,
            format!("a password may have at most {MAX_LEN} characters"),
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(AppError::invalid(
            "weak_password",
            field,
            "the password must differ from the username",
        ));
    }
    let first = password.chars().next();
    if password.chars().all(|c| Some(c) == first) {
        return Err(AppError::invalid(
            "weak_password",
            field,
            "the password must not repeat one character",
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// Verifies a password against a stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that unknown usernames take
/// as long as wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy-password-never-matches").unwrap_or_default())
}
