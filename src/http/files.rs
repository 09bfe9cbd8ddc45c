//! Static files compiled into the binary (rust-embed): the field app under `/field/` and
//! the console's modules under `/console/`. Release builds carry them, so a county needs
//! nothing but the binary; debug builds read them from disk.

use actix_web::http::header;
use actix_web::HttpResponse;
use rust_embed::RustEmbed;

use crate::error::AppError;

/// Everything under `web/field/`.
#[derive(RustEmbed)]
#[folder = "web/field/"]
pub struct FieldFiles;

/// Everything under `web/console/`.
#[derive(RustEmbed)]
#[folder = "web/console/"]
pub struct ConsoleFiles;

/// The content type of a served file, from its extension; `None` for a type neither app
/// has a use for, which is then not served.
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

/// Scripts from this server only, no eval, no inline script; `worker-src 'self'` for the
/// field app's service worker.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                       script-src 'self'; worker-src 'self'; connect-src 'self'; manifest-src 'self'";

/// Answers the file `path` of the embedded tree `E` (`index.html` for a directory), or
/// 404 `not_found` naming `what`.
pub fn serve<E: RustEmbed>(path: &str, what: &'static str) -> Result<HttpResponse, AppError> {
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let not_found = || AppError::not_found(what);
    // Debug builds read from disk: nothing may name a file outside the tree.
    if path
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.contains('\\'))
        || path.starts_with('/')
    {
        return Err(not_found());
    }
    let kind = content_type(&path).ok_or_else(not_found)?;
    let file = E::get(&path).ok_or_else(not_found)?;
    let mut res = HttpResponse::Ok();
    res.content_type(kind)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The field app's service worker keeps its own copy; the browser asks again each time.
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
