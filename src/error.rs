//! One error type for the whole server, turned into one JSON shape:
//! `{ "error": { "code": "snake_case", "message": "…", "field": "…"?, "reason": "…"? } }`.
//! Codes are stable API: tablets switch on them.

use crate::error_codes::Code;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
pub use jiayi_protocol::error::{ErrorDetail, Kind};
use serde::Serialize;
use utoipa::ToSchema;

/// An error with a stable code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    /// Decides the HTTP status.
    pub kind: Kind,
    /// Stable code (`error.code` on the wire is its text).
    pub code: Code,
    /// Human-readable; never contains an ID number, phone or name.
    pub message: String,
    /// The offending field, when there is one.
    pub field: Option<String>,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
    /// Why, when one code has causes a client must tell apart (`resync_required`:
    /// `scope_changed` or `server_restored`).
    pub reason: Option<&'static str>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

impl AppError {
    /// A new error of a kind with a code and message.
    pub fn new(kind: Kind, code: Code, message: impl Into<String>) -> Self {
        AppError {
            kind,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            reason: None,
        }
    }
    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    /// Tells which of the code's causes this is (see [`ErrorDetail::reason`]).
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
    /// 422 for a field that fails validation.
    pub fn invalid(code: Code, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, code, message).with_field(field)
    }
    /// 400 for a request that cannot be read.
    pub fn bad_request(code: Code, message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, code, message)
    }
    /// 401.
    pub fn unauthorized(code: Code, message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, code, message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, Code::Forbidden, message)
    }
    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(Kind::NotFound, Code::NotFound, format!("{what} not found"))
    }
    /// 409.
    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, code, message)
    }
    /// 500; the detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            Kind::Internal,
            Code::InternalError,
            "internal error; see the server log",
        )
    }
    /// 503 with `Retry-After: 1`: the transaction clashed with a concurrent one and was
    /// rolled back whole; sending the same request again is safe.
    pub fn write_clash() -> Self {
        Self::try_again(
            Code::WriteClash,
            "a concurrent write clashed with this one; nothing was kept, send it again",
            1,
        )
    }
    /// 503 with `Retry-After: 1`: no database connection could be had, or the one in use
    /// was cut (the database restarting). Nothing was kept; the same request again is safe.
    pub fn database_unavailable() -> Self {
        Self::try_again(Code::DatabaseUnavailable, "the database is unavailable", 1)
    }
    /// 503 with `Retry-After: 60`: the database's disk (or quota) is full. The statement
    /// failed inside its transaction, which rolls back whole: nothing of the request was
    /// kept, and everything acknowledged before is untouched.
    pub fn storage_full() -> Self {
        Self::try_again(
            Code::StorageFull,
            "the server's storage is full; nothing was kept: send the same request again later",
            60,
        )
    }
    /// 503 with `Retry-After: 10`: a read ran past the report pool's statement timeout
    /// (`JIAYI_REPORT_TIMEOUT_SECS`) and was cancelled; nothing was changed.
    pub fn query_timeout() -> Self {
        Self::try_again(
            Code::QueryTimeout,
            "the query ran longer than this server allows and was stopped; nothing was changed, try again later",
            10,
        )
    }
    /// 503 with `Retry-After`: a passing condition; nothing was kept and the same request
    /// again after `secs` seconds is safe.
    pub fn try_again(code: Code, message: impl Into<String>, secs: u64) -> Self {
        let mut e = Self::new(Kind::Unavailable, code, message);
        e.retry_after = Some(secs);
        e
    }
    /// The wire detail of this error.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.to_string(),
            message: self.message.clone(),
            field: self.field.clone(),
            reason: self.reason.map(str::to_string),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::not_found("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                // The table and constraint, never the values (they may be ID numbers).
                tracing::debug!(table = ?info.table_name(), constraint = ?info.constraint_name(), "unique violation");
                AppError::conflict(Code::AlreadyExists, "a record with that key already exists")
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                AppError::invalid(Code::UnknownReference, "", "a referenced record does not exist")
            }
            // Two transactions waited on each other (PostgreSQL aborted one) or could not be
            // serialised: nothing was kept, and the same request again will go through.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => AppError::write_clash(),
            Error::DatabaseError(_, info) if info.message().contains("deadlock detected") => AppError::write_clash(),
            // PostgreSQL's statement_timeout (the report pool's bound) cancelled it.
            Error::DatabaseError(_, info)
                if info.message().contains("canceling statement due to statement timeout") =>
            {
                tracing::warn!("a statement ran past the statement timeout and was cancelled");
                AppError::query_timeout()
            }
            // Cancelled by this server's shutdown (db::dialect::cancel_statements_of):
            // the transaction is rolled back whole, and the request goes through again.
            Error::DatabaseError(_, info) if info.message().contains("canceling statement due to user request") => {
                AppError::database_unavailable()
            }
            // A report on a hot standby cancelled because the primary's changes had to be
            // applied under it: nothing was wrong with the request, and asked again it runs.
            Error::DatabaseError(_, info) if info.message().contains("due to conflict with recovery") => {
                tracing::warn!("a read on the replica was cancelled by recovery");
                AppError::database_unavailable()
            }
            // The connection was cut under the request (PostgreSQL restarting or shut down:
            // SQLSTATE class 57, or the socket gone): the transaction is lost whole, and the
            // request goes through again once the database is back.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                tracing::warn!("database connection closed under a request");
                AppError::database_unavailable()
            }
            // SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) or a tablespace quota.
            Error::DatabaseError(_, info) if disk_full(info.message()) => {
                tracing::error!("the database's disk is full: writes are refused until space is freed");
                AppError::storage_full()
            }
            Error::DatabaseError(_, info) if connection_cut(info.message()) => {
                tracing::warn!(error = info.message(), "database connection cut under a request");
                AppError::database_unavailable()
            }
            other => AppError::internal(other),
        }
    }
}

/// PostgreSQL's messages when it ends a session itself or the socket breaks.
fn disk_full(message: &str) -> bool {
    [
        "database or disk is full",
        "No space left on device",
        "could not extend file",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn connection_cut(message: &str) -> bool {
    [
        "terminating connection",
        "server closed the connection unexpectedly",
        "the database system is shutting down",
        "the database system is starting up",
        "no connection to the server",
    ]
    .iter()
    .any(|m| message.contains(m))
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::error!(error = %e, "database pool");
        AppError::database_unavailable()
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody { error: self.detail() })
    }
}

/// Turns actix's JSON extractor failures into the error shape.
pub fn json_error(err: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let e = match &err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => AppError::new(
            Kind::PayloadTooLarge,
            Code::PayloadTooLarge,
            "the request body is too large",
        ),
        J::ContentType => AppError::new(
            Kind::UnsupportedMediaType,
            Code::UnsupportedMediaType,
            "send the body as application/json",
        ),
        J::Deserialize(de) if de.is_data() => AppError::new(
            Kind::Invalid,
            Code::InvalidField,
            without_quoted_values(&de.to_string()),
        ),
        J::Deserialize(de) => AppError::bad_request(
            Code::MalformedJson,
            format!("the body is not valid JSON: {}", without_quoted_values(&de.to_string())),
        ),
        _ => AppError::bad_request(Code::MalformedJson, "the body could not be read"),
    };
    e.into()
}

/// Turns query-string failures into the error shape.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    AppError::bad_request(Code::InvalidQuery, format!("bad query parameters: {err}")).into()
}

/// Turns path-segment failures into the error shape.
pub fn path_error(err: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    AppError::bad_request(Code::InvalidPath, format!("bad path parameter: {err}")).into()
}

/// A field or variant name this server defines (a letter or `_`, then letters, digits and
/// `_`, at most 64): text of that form may be echoed in an error; any other key or value
/// the tablet sent may be personal data and is not.
pub fn is_name(s: &str) -> bool {
    s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// serde quotes the offending value in its messages, strings in double quotes
/// ("invalid type: string \"…\"") and numbers, characters and unknown names in backticks
/// ("invalid type: integer `…`"). Any value may be an ID number or a phone, so every quoted
/// text is blanked, except the names serde quotes in backticks that are field or variant
/// names this server defines (a letter or `_`, then letters, digits and `_`): a key the
/// client made up that looks like a number is blanked like a value.
pub fn without_quoted_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(open) = rest.find(['"', '`']) {
        let q = rest.as_bytes()[open] as char;
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(q) else {
            // An unclosed quote: blank to the end.
            out.push('…');
            return out;
        };
        let inner = &after[..close];
        let a_name = q == '`' && is_name(inner);
        out.push_str(if a_name { inner } else { "…" });
        out.push(q);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    fn db_error(kind: DatabaseErrorKind, message: &str) -> AppError {
        AppError::from(Error::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn serde_messages_lose_every_quoted_value_however_quoted() {
        let cases = [
            (
                "invalid type: integer `431126198001011236`, expected a string",
                "invalid type: integer `…`, expected a string",
            ),
            (
                "invalid type: string \"13800138000\", expected i64",
                "invalid type: string \"…\", expected i64",
            ),
            (
                "invalid type: floating point `13800138000.5`, expected a string",
                "invalid type: floating point `…`, expected a string",
            ),
            (
                "unknown field `431126198001011236`, expected one of `village_code`, `name`",
                "unknown field `…`, expected one of `village_code`, `name`",
            ),
            ("missing field `id_number`", "missing field `id_number`"),
            (
                "unknown variant `x y`, expected `a`",
                "unknown variant `…`, expected `a`",
            ),
            ("broken `4311261980", "broken `…"),
        ];
        for (msg, want) in cases {
            assert_eq!(without_quoted_values(msg), want);
        }
    }

    #[test]
    fn a_connection_cut_under_a_request_is_503_to_retry_not_500() {
        for e in [
            db_error(DatabaseErrorKind::ClosedConnection, "connection closed"),
            db_error(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            db_error(DatabaseErrorKind::Unknown, "server closed the connection unexpectedly"),
        ] {
            assert_eq!(
                (e.kind, e.code, e.retry_after),
                (Kind::Unavailable, Code::DatabaseUnavailable, Some(1))
            );
        }
        let other = db_error(DatabaseErrorKind::Unknown, "division by zero");
        assert_eq!(other.code, Code::InternalError);
    }
}
