//! Refuses NUL characters before any handler sees them. PostgreSQL cannot store or compare
//! text holding U+0000, so a NUL reaching a query is a 500 there (and SQLite would keep it);
//! no field of this API ever needs one. URLs with `%00` and JSON or CSV bodies with a NUL
//! answer 400 `invalid_character`. Push bodies are exempt: push refuses such ops one by one,
//! so one bad op never blocks a tablet's queue (`sync::push`).

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, BytesMut};
use actix_web::HttpMessage;
use futures_util::StreamExt;

use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::state::AppState;

fn refused(where_: &str) -> AppError {
    AppError::bad_request(
        Code::InvalidCharacter,
        format!("the {where_} contains a NUL character, which no field accepts"),
    )
}

/// Does JSON text hold a `\u0000` escape (a NUL once parsed)? A raw NUL byte is invalid
/// JSON already; an escaped backslash followed by `u0000` is plain text.
pub fn json_has_nul(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' {
            if body[i + 1..].starts_with(b"u0000") {
                return true;
            }
            // Skip the escaped character, so `\\` never starts an escape.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The middleware.
pub async fn refuse_nul(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let uri = req.uri().to_string();
    if uri.contains("%00") {
        return Err(refused("URL").into());
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = content_type.starts_with("application/json");
    let csv = content_type.starts_with("text/csv");
    if (json || csv) && req.path() != "/api/v1/sync/push" {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(usize::MAX, |s| s.config.max_body_bytes);
        let mut payload = req.take_payload();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| AppError::bad_request(Code::MalformedBody, "the body could not be read"))?;
            if body.len() + chunk.len() > limit {
                return Err(AppError::new(
                    Kind::PayloadTooLarge,
                    Code::PayloadTooLarge,
                    "the request body is too large",
                )
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        if body.contains(&0) || (json && json_has_nul(&body)) {
            return Err(refused("body").into());
        }
        req.set_payload(Payload::from(body.freeze()));
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::json_has_nul;

    #[test]
    fn finds_escaped_nuls_and_nothing_else() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\u0001 \n \\"}"#));
        assert!(!json_has_nul(b"\\"));
    }
}
