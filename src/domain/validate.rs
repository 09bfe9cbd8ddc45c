//! Small field checks shared by the domain modules. Each names the field it refuses.

use chrono::NaiveDate;
use uuid::Uuid;

use super::WriteCtx;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::time::{parse_clinical, parse_date, ClinicalTime};

/// A UUID in canonical text form, lower-cased.
pub fn uuid(value: &str, field: &str) -> Result<String, AppError> {
    Uuid::parse_str(value)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::invalid(Code::InvalidId, field, format!("{field} must be a UUID")))
}

/// Printable text of 1..=max characters (trimmed).
pub fn text(value: &str, field: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::invalid(
            Code::InvalidText,
            field,
            format!("{field} must be 1–{max} printable characters"),
        ));
    }
    Ok(v.to_string())
}

/// Optional printable text.
pub fn opt_text(value: &Option<String>, field: &str, max: usize) -> Result<Option<String>, AppError> {
    value.as_deref().map(|v| text(v, field, max)).transpose()
}

/// A `YYYY-MM-DD` date.
pub fn date(value: &str, field: &str) -> Result<NaiveDate, AppError> {
    parse_date(value).ok_or_else(|| {
        AppError::invalid(
            Code::InvalidDate,
            field,
            format!("{field} must be a date YYYY-MM-DD between 1900 and 9999"),
        )
    })
}

/// A clinical instant (RFC 3339 with offset) not further in the future than the allowed skew.
pub fn clinical(value: &str, field: &str, ctx: &WriteCtx) -> Result<ClinicalTime, AppError> {
    let t = parse_clinical(value).ok_or_else(|| {
        AppError::invalid(
            Code::InvalidTimestamp,
            field,
            format!("{field} must be an RFC 3339 time with offset, e.g. 2026-03-01T09:30:00+08:00"),
        )
    })?;
    if t.at > ctx.now + ctx.max_skew_ms {
        return Err(AppError::invalid(
            Code::FutureTimestamp,
            field,
            format!("{field} is in the future; check the tablet's clock"),
        ));
    }
    Ok(t)
}

/// A 64-character lower-case hex SHA-256.
pub fn sha256(value: &str, field: &str) -> Result<String, AppError> {
    let v = value.to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            Code::InvalidSha256,
            field,
            format!("{field} must be 64 hex characters"),
        ))
    }
}

/// A new record names no record it corrects: that is an amendment, sent as `amend`.
pub fn not_amending(amends: &Option<String>) -> Result<(), AppError> {
    match amends {
        Some(_) => Err(AppError::invalid(
            Code::UseAmend,
            "amends",
            "send an amendment with action \"amend\"",
        )),
        None => Ok(()),
    }
}

/// The record an amendment corrects (`what` names its kind in the message), as a UUID.
pub fn amended(amends: &Option<String>, what: &str) -> Result<String, AppError> {
    let original = amends.as_deref().ok_or_else(|| {
        AppError::invalid(
            Code::MissingField,
            "amends",
            format!("an amendment names the {what} it corrects"),
        )
    })?;
    uuid(original, "amends")
}
