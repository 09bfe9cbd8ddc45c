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

/// Query parameters whose values are what a person typed to find a resident (a name, a
/// whole ID number, the end of a phone): the request span logs them as `…`.
const TYPED_PARAMS: [&str; 1] = ["q"];

/// The request line as logged: the path and query, with the values of [`TYPED_PARAMS`]
/// replaced, so a search never leaves what was searched for in the log (docs/security.md,
/// "PII handling").
pub fn logged_target(uri: &actix_web::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_string();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if TYPED_PARAMS.contains(&k) => format!("{k}=…"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), redacted.join("&"))
}

/// tracing-actix-web's request span with the request line from [`logged_target`]; the
/// default span logs the raw query.
pub struct RedactedRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|r| r.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %logged_target(request.uri()),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::logged_target;

    #[test]
    fn a_search_query_is_logged_without_what_was_typed() {
        let uri: actix_web::http::Uri = "/api/v1/residents?village=431126100201&q=110101194802031234&limit=5"
            .parse()
            .unwrap();
        assert_eq!(
            logged_target(&uri),
            "/api/v1/residents?village=431126100201&q=…&limit=5"
        );
        let plain: actix_web::http::Uri = "/api/v1/sync/pull?cursor=v1.abc".parse().unwrap();
        assert_eq!(logged_target(&plain), "/api/v1/sync/pull?cursor=v1.abc");
        let bare: actix_web::http::Uri = "/healthz".parse().unwrap();
        assert_eq!(logged_target(&bare), "/healthz");
    }
}
