//! The middleware that times every request for the metrics, under its route pattern.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// Middleware recording each request's latency under its route pattern (never its ids).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = std::time::Instant::now();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(s) = state {
        s.metrics
            .http_latency
            .with_label_values(&[&method, &route, res.status().as_str()])
            .observe(start.elapsed().as_secs_f64());
    }
    Ok(res)
}
