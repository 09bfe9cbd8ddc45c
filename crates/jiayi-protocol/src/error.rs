//! The error shape on the wire: `{ "error": { "code", "message", "field"?, "reason"? } }`,
//! and the kinds of failure that decide its HTTP status.

use serde::Serialize;
use utoipa::ToSchema;

/// What kind of failure, which decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400: the request cannot be read.
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: authenticated but not allowed.
    Forbidden,
    /// 404: no such thing in the caller's reach.
    NotFound,
    /// 409: the request clashes with the current state.
    Conflict,
    /// 413: too large.
    PayloadTooLarge,
    /// 415: not JSON.
    UnsupportedMediaType,
    /// 422: readable but invalid.
    Invalid,
    /// 426: sync protocol version not spoken.
    UpgradeRequired,
    /// 429: slow down.
    TooManyRequests,
    /// 503: a dependency (the database) is unavailable.
    Unavailable,
    /// 500: a bug or an unexpected database failure; details only in the log.
    Internal,
}

impl Kind {
    /// The HTTP status a kind is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Kind::BadRequest => 400,
            Kind::Unauthorized => 401,
            Kind::Forbidden => 403,
            Kind::NotFound => 404,
            Kind::Conflict => 409,
            Kind::PayloadTooLarge => 413,
            Kind::UnsupportedMediaType => 415,
            Kind::Invalid => 422,
            Kind::UpgradeRequired => 426,
            Kind::TooManyRequests => 429,
            Kind::Unavailable => 503,
            Kind::Internal => 500,
        }
    }
}

/// Code, message and field of an error.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema, Clone, PartialEq)]
pub struct ErrorDetail {
    /// Stable snake_case error code.
    pub code: String,
    /// Explanation for a person.
    pub message: String,
    /// The request field at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why, where one code has causes a client must tell apart: on `resync_required`,
    /// `scope_changed` (the cursor or page token belongs to another scope) or
    /// `server_restored` (this server was restored from a backup older than what the
    /// tablet holds: resend the acknowledged ops, docs/sync-protocol.md §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorDetail {
    /// A detail with no `reason`.
    pub fn of(code: String, message: String, field: Option<String>) -> ErrorDetail {
        ErrorDetail {
            code,
            message,
            field,
            reason: None,
        }
    }
}
