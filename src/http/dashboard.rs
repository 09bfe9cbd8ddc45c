//! The console's page (`/`) and Apache ECharts, compiled into the binary so the console
//! works without any network at run time. The page loads the console's modules from
//! `/console/` (web/console/, docs/console.md), which talk to the API with the access
//! token they get from `/api/v1/auth/login`.

use actix_web::http::header;
use actix_web::HttpResponse;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const ECHARTS_JS: &str = include_str!("../../web/vendor/echarts/echarts.common.min.js");
const ECHARTS_LICENSE: &str = include_str!("../../web/vendor/echarts/LICENSE");

fn asset(content_type: &str, body: &'static str, cache: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CACHE_CONTROL,
            if cache { "public, max-age=3600" } else { "no-cache" },
        ));
    res.body(body)
}

/// `GET /`: the dashboard page.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 200, description = "the dashboard page", content_type = "text/html")))]
pub async fn index() -> HttpResponse {
    let mut res = asset("text/html; charset=utf-8", INDEX_HTML, false);
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'",
        ),
    );
    res
}

/// `GET /assets/echarts.min.js`: Apache ECharts 5 (vendored, Apache-2.0).
#[utoipa::path(get, path = "/assets/echarts.min.js", tag = "dashboard",
    responses((status = 200, description = "Apache ECharts", content_type = "text/javascript")))]
pub async fn echarts() -> HttpResponse {
    asset("text/javascript; charset=utf-8", ECHARTS_JS, true)
}

/// `GET /assets/echarts-LICENSE.txt`: ECharts' licence, served with it.
#[utoipa::path(get, path = "/assets/echarts-LICENSE.txt", tag = "dashboard",
    responses((status = 200, description = "the licence text", content_type = "text/plain")))]
pub async fn echarts_license() -> HttpResponse {
    asset("text/plain; charset=utf-8", ECHARTS_LICENSE, true)
}
