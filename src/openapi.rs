//! The OpenAPI document, generated from the handlers and types. `api-spec/openapi.json`
//! is this document committed; a test fails when they differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "jiayi", description = "Sync and coverage server for family-doctor contracting teams (家庭医生签约服务).", license(name = "Apache-2.0")),
    paths(
        http::health::healthz,
        http::health::readyz,
        http::health::metrics,
        http::health::openapi,
        http::auth::login,
        http::auth::refresh,
        http::auth::me,
        http::auth::list_devices,
        http::auth::revoke_device,
        http::audit::list,
        http::admin::create_region,
        http::admin::create_team,
        http::admin::set_team_villages,
        http::admin::create_user,
        http::admin::region_children,
        http::residents::get_resident,
        http::sync::push,
        http::sync::pull,
        http::sync::bootstrap,
        http::sync::put_blob,
        http::sync::head_blob,
        http::sync::get_blob,
        http::sync::missing_blobs,
        http::reports::indicators,
        http::reports::coverage,
        http::reports::trend,
        http::reports::upload_population,
        // Work list and questionnaire versions.
        http::worklist::worklist,
        http::questionnaires::list,
        http::questionnaires::create,
        // Review queue.
        http::review::count,
        http::review::list,
        http::review::get,
        http::review::decide,
    ),
    components(schemas(
        crate::error::ErrorBody,
        crate::error::ErrorDetail,
        crate::sync::push::PushOp,
        crate::domain::resident::ResidentData,
        crate::domain::contract::ContractData,
        crate::domain::contract::ContractView,
        crate::domain::visit::VisitData,
        crate::domain::visit::Measurements,
        crate::domain::survey::SurveyData,
        crate::domain::not_signed::NotSignedData,
        crate::sync::pull::PulledChange,
        crate::reports::denominators::PopulationRow,
        crate::domain::contract::transition::TransitionData,
        // Work list and questionnaire versions.
        crate::domain::worklist::Worklist,
        crate::domain::questionnaire::NewQuestionnaire,
        crate::domain::questionnaire::QuestionnaireView,
        crate::domain::review::decide::Changed,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login, tokens, devices"),
        (name = "admin", description = "Regions, teams, users"),
        (name = "residents", description = "Health records"),
        (name = "sync", description = "Tablet sync protocol v1"),
        (name = "reports", description = "Coverage indicators"),
        (name = "review", description = "Supervisor review queue (审核队列) and its decisions"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "teams", description = "Team work list: follow-ups, recalls, referrals, renewals, elderly checks"),
        (name = "surveys", description = "Questionnaire versions"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as pretty JSON with a trailing newline (the committed file's form).
pub fn json() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().expect("serialisable");
    s.push('\n');
    s
}
