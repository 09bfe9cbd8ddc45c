//! The field app and its sync SDK (`web/field/`, docs/field-sdk.md): static files under
//! `/field/`, compiled into release builds so a tablet can load them from the server
//! alone. The SDK module is at `/field/sdk/jiayi-sync.js`.

use actix_web::{web, HttpResponse};

use super::files::{self, FieldFiles};
use crate::error::AppError;

/// `GET /field/{path}`: a file of the field app (`/field/` is its page).
#[utoipa::path(get, path = "/field/{path}", tag = "field",
    params(("path" = String, Path, description = "a file under web/field/, e.g. sdk/jiayi-sync.js; empty for the app's page")),
    responses(
        (status = 200, description = "the file", content_type = "text/javascript"),
        (status = 404, description = "no such file", body = crate::error::ErrorBody),
    ))]
pub async fn file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    files::serve::<FieldFiles>(&path.into_inner(), "field app file")
}

/// `GET /console/{path}`: a module of the supervisors' and administrators' console
/// (`web/console/`, docs/console.md), which the page at `/` loads.
#[utoipa::path(get, path = "/console/{path}", tag = "dashboard",
    params(("path" = String, Path, description = "a file under web/console/, e.g. main.js")),
    responses(
        (status = 200, description = "the file", content_type = "text/javascript"),
        (status = 404, description = "no such file", body = crate::error::ErrorBody),
    ))]
pub async fn console_file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    files::serve::<files::ConsoleFiles>(&path.into_inner(), "console file")
}
