//! Structured logs. Every request gets a request id (tracing-actix-web) that appears on
//! its log lines and in the `x-request-id` response header. Logs carry ids and codes,
//! never names, ID numbers or phones.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once: JSON lines when `JIAYI_LOG_FORMAT=json`, human
/// lines otherwise; level from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let json = std::env::var("JIAYI_LOG_FORMAT").is_ok_and(|v| v == "json");
    let result = if json {
        fmt()
            .with_env_filter(filter)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        fmt().with_env_filter(filter).with_target(false).try_init()
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    let _ = result;
}

/// Middleware returning the request id (set by `TracingLogger`, outside this one) in an
/// `x-request-id` header, so an operator can find a user's failed request in the log.
pub async fn request_id_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|r| r.to_string());
    let mut res = next.call(req).await?;
    if let Some(id) = id.and_then(|i| actix_web::http::header::HeaderValue::from_str(&i).ok()) {
        res.headers_mut()
            .insert(actix_web::http::header::HeaderName::from_static("x-request-id"), id);
    }
    Ok(res)
}
