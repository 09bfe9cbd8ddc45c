//! HTTP handlers only: parse, authorise, call the domain, serialise. No SQL here.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod exports;
pub mod field;
pub mod files;
pub mod health;
pub mod input;
pub mod latency;
pub mod packages;
pub mod questionnaires;
pub mod reports;
pub mod residents;
pub mod review;
pub mod staff;
pub mod sync;
pub mod worklist;

use actix_web::web;

use crate::error::AppError;
use crate::state::AppState;

/// Shared state as handlers receive it.
pub type State = web::Data<AppState>;

/// Registers every route under its path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/api-docs/openapi.json", web::get().to(health::openapi))
        .route("/", web::get().to(dashboard::index))
        .route("/assets/echarts.min.js", web::get().to(dashboard::echarts))
        .route("/assets/echarts-LICENSE.txt", web::get().to(dashboard::echarts_license))
        .route("/field/{path:.*}", web::get().to(field::file))
        .route("/console/{path:.*}", web::get().to(field::console_file))
        .service(
            web::scope("/api/v1")
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/refresh", web::post().to(auth::refresh))
                .route("/me", web::get().to(auth::me))
                .route("/me/password", web::post().to(auth::change_password))
                .route("/me/sign-out-everywhere", web::post().to(auth::sign_out_everywhere))
                .route("/audit", web::get().to(audit::list))
                .route("/devices", web::get().to(auth::list_devices))
                .route("/devices/{id}/revoke", web::post().to(auth::revoke_device))
                .route("/admin/regions", web::post().to(admin::create_region))
                .service(
                    web::resource("/admin/teams")
                        .route(web::get().to(staff::list_teams))
                        .route(web::post().to(admin::create_team)),
                )
                .route("/admin/teams/{id}/villages", web::put().to(admin::set_team_villages))
                .service(
                    web::resource("/admin/users")
                        .route(web::get().to(staff::list_users))
                        .route(web::post().to(admin::create_user)),
                )
                .route("/admin/users/{id}", web::patch().to(staff::update_user))
                .route("/admin/users/{id}/deactivate", web::post().to(staff::deactivate_user))
                .route(
                    "/admin/users/{id}/reset-password",
                    web::post().to(staff::reset_password),
                )
                .route("/admin/villages/{code}/move", web::post().to(staff::move_village))
                .route("/regions/{code}/children", web::get().to(admin::region_children))
                .route("/residents", web::get().to(residents::search_residents))
                .route("/residents/{id}", web::get().to(residents::get_resident))
                .route("/residents/{id}/record", web::get().to(residents::resident_record))
                .service(
                    web::resource("/sync/push")
                        .wrap(actix_web::middleware::from_fn(sync::push_gate))
                        .route(web::post().to(sync::push)),
                )
                .route("/sync/pull", web::get().to(sync::pull))
                .route("/sync/bootstrap", web::get().to(sync::bootstrap))
                .route("/blobs/missing", web::get().to(sync::missing_blobs))
                .service(
                    web::resource("/blobs/{sha256}")
                        .route(web::put().to(sync::put_blob))
                        .route(web::head().to(sync::head_blob))
                        .route(web::get().to(sync::get_blob)),
                )
                .route("/reports/indicators", web::get().to(reports::indicators))
                .route("/reports/coverage", web::get().to(reports::coverage))
                .route("/reports/trend", web::get().to(reports::trend))
                .route("/admin/population", web::post().to(reports::upload_population))
                // Standard exports (FHIR R4, DHIS2).
                .route("/exports/fhir", web::get().to(exports::fhir_manifest))
                .route("/exports/fhir/{file}", web::get().to(exports::fhir_file))
                .route(
                    "/exports/dhis2/dataValueSets",
                    web::get().to(exports::dhis2_data_values),
                )
                .route("/exports/dhis2/metadata", web::get().to(exports::dhis2_metadata))
                // Work list, questionnaire versions and service packages.
                .route("/teams/{id}/worklist", web::get().to(worklist::worklist))
                .route("/packages", web::get().to(packages::list))
                .route("/questionnaires", web::get().to(questionnaires::list))
                .route("/admin/questionnaires", web::post().to(questionnaires::create))
                // Review queue (审核队列).
                .route("/review/count", web::get().to(review::count))
                .route("/review/items", web::get().to(review::list))
                .route("/review/items/{id}", web::get().to(review::get))
                .route("/review/items/{id}/decision", web::post().to(review::decide)),
        );
}

/// Answer for any path no route matches.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::not_found("resource"))
}
