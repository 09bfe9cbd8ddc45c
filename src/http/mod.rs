//! HTTP handlers only: parse, authorise, call the domain, serialise. No SQL here.

pub mod admin;
pub mod auth;
pub mod health;
pub mod reports;
pub mod residents;
pub mod sync;

use actix_web::web;

use crate::error::AppError;
use crate::state::AppState;

/// Shared state as handlers receive it.
pub type State = web::Data<AppState>;

/// Registers every route under its path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/api-docs/openapi.json", web::get().to(health::openapi))
        .service(
            web::scope("/api/v1")
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/refresh", web::post().to(auth::refresh))
                .route("/me", web::get().to(auth::me))
                .route("/devices", web::get().to(auth::list_devices))
                .route("/devices/{id}/revoke", web::post().to(auth::revoke_device))
                .route("/admin/regions", web::post().to(admin::create_region))
                .route("/admin/teams", web::post().to(admin::create_team))
                .route("/admin/users", web::post().to(admin::create_user))
                .route("/regions/{code}/children", web::get().to(admin::region_children))
                .route("/residents/{id}", web::get().to(residents::get_resident))
                .route("/sync/push", web::post().to(sync::push))
                .route("/sync/pull", web::get().to(sync::pull))
                .route("/reports/indicators", web::get().to(reports::indicators))
                .route("/reports/coverage", web::get().to(reports::coverage)),
        );
}

/// Answer for any path no route matches.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::not_found("resource"))
}
