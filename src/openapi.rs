//! The OpenAPI document, generated from the handlers and types. `api-spec/openapi.json`
//! is this document committed; a test fails when they differ.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::http;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "jiayi", description = "Sync and coverage server for family-doctor contracting teams (家庭医生签约服务).", license(name = "Apache-2.0")),
    paths(
        http::health::healthz,
        http::health::readyz,
        http::health::openapi,
        http::dashboard::index,
        http::dashboard::echarts,
        http::dashboard::echarts_license,
        http::field::file,
        http::field::console_file,
        http::auth::login,
        http::auth::refresh,
        http::auth::me,
        http::auth::list_devices,
        http::auth::revoke_device,
        http::auth::change_password,
        http::auth::sign_out_everywhere,
        http::audit::list,
        http::admin::create_region,
        http::admin::create_team,
        http::admin::set_team_villages,
        http::admin::create_user,
        http::admin::region_children,
        http::staff::list_users,
        http::staff::update_user,
        http::staff::deactivate_user,
        http::staff::reset_password,
        http::staff::list_teams,
        http::staff::move_village,
        http::residents::get_resident,
        http::residents::search_residents,
        http::residents::resident_record,
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
        // Standard exports.
        http::exports::fhir_manifest,
        http::exports::fhir_file,
        http::exports::dhis2_data_values,
        http::exports::dhis2_metadata,
        // Work list, questionnaire versions and service packages.
        http::worklist::worklist,
        http::packages::list,
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
        crate::domain::resident::ResidentView,
        crate::sync::snapshot::VisitPulled,
        crate::sync::snapshot::SurveyPulled,
        crate::sync::snapshot::NotSignedPulled,
        crate::sync::snapshot::ReferralPulled,
        crate::domain::visit::VisitData,
        crate::domain::visit::Measurements,
        crate::domain::survey::SurveyData,
        crate::domain::not_signed::NotSignedData,
        crate::domain::referral::ReferralData,
        crate::domain::referral::Facility,
        crate::domain::referral::transition::TransitionData,
        crate::sync::pull::PulledChange,
        crate::domain::population::upload::PopulationRow,
        crate::domain::contract::transition::TransitionData,
        // Work list and questionnaire versions.
        crate::domain::worklist::Worklist,
        crate::domain::questionnaire::NewQuestionnaire,
        crate::domain::questionnaire::QuestionnaireView,
        crate::domain::catalog::PackageView,
        crate::domain::catalog::PackageKind,
        crate::reports::dhis2::OrgLevel,
        crate::domain::review::decide::Changed,
    )),
    modifiers(&BearerAuth, &StandardErrors, &PulledData),
    tags(
        (name = "auth", description = "Login, tokens, devices"),
        (name = "admin", description = "Regions, teams, users"),
        (name = "residents", description = "Health records"),
        (name = "sync", description = "Tablet sync protocol v1"),
        (name = "reports", description = "Coverage indicators"),
        (name = "exports", description = "FHIR R4 bulk export and DHIS2 aggregate export (docs/interop.md)"),
        (name = "review", description = "Supervisor review queue (审核队列) and its decisions"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "teams", description = "Team work list: follow-ups, recalls, referrals, renewals, elderly checks"),
        (name = "surveys", description = "Questionnaire versions"),
        (name = "contracts", description = "The service packages a contract may hold"),
        (name = "dashboard", description = "The supervisors' dashboard page and its assets"),
    )
)]
pub struct ApiDoc;

/// Each entity's schemas: (entity, `data` of its create op, `data` of its pulled change).
/// docs/sync-protocol.md §6 names the same; `tests/api/record_shapes.rs` checks real records
/// against them.
pub const RECORD_SHAPES: [(&str, &str, &str); 6] = [
    ("resident", "ResidentPush", "ResidentPulled"),
    ("contract", "ContractPush", "ContractPulled"),
    ("visit", "VisitPush", "VisitPulled"),
    ("survey", "SurveyPush", "SurveyPulled"),
    ("not_signed", "NotSignedPush", "NotSignedPulled"),
    ("referral", "ReferralPush", "ReferralPulled"),
];

/// A pulled change's `data` is one of the entities' pulled shapes, or null for a tombstone.
/// Their required fields tell them apart, so exactly one matches a record. A pushed op's
/// `data` stays an object described by entity: an update carries only some of a shape's
/// fields, so no one schema per entity would hold for it. The pulled shapes, a change and
/// an op's result are closed (`additionalProperties: false`), and a result's and a
/// contract's `status` list their values.
struct PulledData;

impl Modify for PulledData {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use crate::vocabulary::ContractStatus;
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
        let Some(components) = api.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(change))) = components.schemas.get_mut("PulledChange") else {
            return;
        };
        let mut one_of = OneOfBuilder::new().description(Some(
            "The entity's current fields, by `entity` (null for a tombstone): see docs/sync-protocol.md §6.",
        ));
        for (_, _, pulled) in RECORD_SHAPES {
            one_of = one_of.item(Ref::from_schema_name(pulled));
        }
        one_of = one_of.item(ObjectBuilder::new().schema_type(Type::Null));
        change.properties.insert("data".into(), one_of.into());
        // Closed shapes and closed lists: a field or value the server sends but the document
        // lacks fails tests/api/record_shapes.rs instead of reaching tablets undocumented.
        let pulled = RECORD_SHAPES.iter().map(|(_, _, pulled)| *pulled);
        for name in pulled.chain(["PulledChange", "OpResult"]) {
            let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(name) else {
                panic!("no object schema {name} to close");
            };
            o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
        use crate::domain::referral::{self, status as referral_status};
        let contract_states = ContractStatus::ALL.map(ContractStatus::as_str);
        let new_contract_states = [ContractStatus::Draft, ContractStatus::Signed].map(ContractStatus::as_str);
        let enums: [(&str, &str, &[&str]); 6] = [
            ("OpResult", "status", &crate::sync::push::OP_STATUSES),
            ("ContractPulled", "status", &contract_states),
            ("ContractPush", "status", &new_contract_states),
            ("ReferralPulled", "status", &referral_status::ALL),
            ("ReferralPush", "direction", &referral::DIRECTIONS),
            ("ReferralPulled", "direction", &referral::DIRECTIONS),
        ];
        for (schema, field, values) in enums {
            let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(schema) else {
                panic!("no object schema {schema}");
            };
            let Some(RefOr::T(Schema::Object(p))) = o.properties.get_mut(field) else {
                panic!("{schema} has no plain property {field}");
            };
            p.enum_values = Some(values.iter().map(|v| (*v).into()).collect());
        }
        // The codes of a rejected op, from the vocabulary, so the list cannot fall behind.
        if let Some(RefOr::T(Schema::Object(result))) = components.schemas.get_mut("OpResult") {
            let codes: Vec<&str> = crate::error_codes::push_refusals().iter().map(|c| c.code()).collect();
            let description = format!(
                "Why the op was rejected; `code` is one of: {} (docs/sync-protocol.md §8).",
                codes.join(", ")
            );
            let mut detail = Ref::from_schema_name("ErrorDetail");
            detail.description = description;
            let error = OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .item(detail);
            result.properties.insert("error".into(), error.into());
        }
    }
}

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

/// Adds to every operation the error responses the server's shared layers can give, so
/// that no handler has to repeat them and no later endpoint can forget them:
/// the NUL guard (400), the bearer extractor (401, and 403 `password_change_required`), the
/// JSON body extractor (400, 413, 415, 422), the query extractor (400), the database pool
/// (503). Each error response names its codes and refers to the one `ErrorBody` schema.
struct StandardErrors;

/// Codes the bearer-token extractor answers with.
pub const AUTH_CODES: &[&str] = &["missing_token", "invalid_token", "token_expired", "device_revoked"];

impl Modify for StandardErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in api.paths.paths.iter_mut() {
            // HEAD answers carry no body.
            add_standard_errors(path, item.head.as_mut(), false);
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ] {
                add_standard_errors(path, op.as_mut(), true);
            }
        }
    }
}

fn add_standard_errors(path: &str, op: Option<&mut Operation>, with_body: bool) {
    let Some(op) = op else { return };
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    // `http::input::refuse_nul`: a URL holding `%00`, or a JSON or CSV body holding a NUL.
    add_error(op, "400", &["invalid_character"], with_body);
    if secured {
        add_error(op, "401", AUTH_CODES, with_body);
        add_error(op, "503", &["database_unavailable"], with_body);
    }
    if json_body {
        add_error(op, "400", &["malformed_json"], true);
        add_error(op, "413", &["payload_too_large"], true);
        add_error(op, "415", &["unsupported_media_type"], true);
        add_error(op, "422", &["invalid_field"], true);
    }
    if has_query {
        add_error(op, "400", &["invalid_query"], true);
    }
    // Every 403 and 404 the server gives carries these codes (`AppError::forbidden`,
    // `AppError::not_found`); handlers document when, not which code.
    for (status, code) in [("403", "forbidden"), ("404", "not_found")] {
        if op.responses.responses.contains_key(status) {
            add_error(op, status, &[code], with_body);
        }
    }
    // After the loop above: this 403 comes from the bearer extractor, and an endpoint that
    // answers it does not answer `forbidden` for it.
    if secured && !crate::auth::extractor::PASSWORD_CHANGE_PATHS.contains(&path) {
        add_error(op, "403", &["password_change_required"], with_body);
    }
}

/// Adds `codes` to the response for `status`, creating it (with the `ErrorBody` schema when
/// `with_body`) if the handler did not document it.
fn add_error(op: &mut Operation, status: &str, codes: &[&str], with_body: bool) {
    let entry = op.responses.responses.entry(status.to_string()).or_insert_with(|| {
        let mut r = Response::new("");
        if with_body {
            r.content.insert(
                "application/json".into(),
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            );
        }
        RefOr::T(r)
    });
    if let RefOr::T(r) = entry {
        for code in codes {
            if !r
                .description
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == *code)
            {
                if r.description.is_empty() {
                    r.description = (*code).to_string();
                } else {
                    r.description = format!("{}, {code}", r.description);
                }
            }
        }
    }
}

/// The document as pretty JSON with a trailing newline (the committed file's form).
pub fn json() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().expect("serialisable");
    s.push('\n');
    s
}
