//! The field app and its sync SDK (`web/field/`, docs/field-sdk.md): static files under
//! `/field/`, compiled into release builds so a tablet can load them from the server
//! alone. The SDK module is at `/field/sdk/jiayi-sync.js`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use rust_embed::RustEmbed;

use crate::error::AppError;

/// Everything under `web/field/`.
#[derive(RustEmbed)]
#[folder = "web/field/"]
struct FieldFiles;

/// The content type of a served file, from its extension; `None` for a type the field app
/// has no use for, which is then not served.
fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" | "md" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

/// The same policy as the dashboard: scripts from this server only, no eval, no inline
/// script; `worker-src 'self'` for the service worker that keeps the app offline.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; worker-src 'self'; connect-src 'self'; manifest-src 'self'";

/// `GET /field/{path}`: a file of the field app (`/field/` is its page).
#[utoipa::path(get, path = "/field/{path}", tag = "field",
    params(("path" = String, Path, description = "a file under web/field/, e.g. sdk/jiayi-sync.js; empty for the app's page")),
    responses(
        (status = 200, description = "the file", content_type = "text/javascript"),
        (status = 404, description = "no such file", body = crate::error::ErrorBody),
    ))]
pub async fn file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let path = path.into_inner();
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path
    };
    let not_found = || AppError::not_found("field app file");
    // Debug builds read from disk: nothing may name a file outside web/field/.
    if path
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.contains('\\'))
        || path.starts_with('/')
    {
        return Err(not_found());
    }
    let kind = content_type(&path).ok_or_else(not_found)?;
    let file = FieldFiles::get(&path).ok_or_else(not_found)?;
    let mut res = HttpResponse::Ok();
    res.content_type(kind)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The service worker keeps its own copy; the browser asks again each time.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::ETAG,
            format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12])),
        ));
    if kind.starts_with("text/html") {
        res.insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    }
    Ok(res.body(file.data.into_owned()))
}
