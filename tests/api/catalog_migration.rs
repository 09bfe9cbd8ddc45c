//! Migration `catalog_per_county` on a database that was in use: the catalog of before is
//! copied to every county, contracts keep their packages at the price they were signed at
//! and point at their own county's rows, survey responses keep the versions they name.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::helpers::{drop_database, fresh_database};
use jiayi::domain::{catalog, survey};
use jiayi::schema::{contract_packages, questionnaires, service_packages, survey_responses};

const A: &str = "431126000000";
const B: &str = "431127000000";

/// Two counties, each with a signed contract and a survey response, and a catalog of
/// three packages (one imported by hand) and two questionnaire versions: the rows an
/// older release left, in the shape it wrote them.
const BEFORE: &str = "
INSERT INTO regions (code, name, level, parent_code, county_code, created_at) VALUES
    ('431126000000', '示范县', 'county', NULL, '431126000000', 1),
    ('431126100000', '城关镇', 'township', '431126000000', '431126000000', 1),
    ('431126100201', '东门村', 'village', '431126100000', '431126000000', 1),
    ('431127000000', '邻县', 'county', NULL, '431127000000', 1),
    ('431127100000', '邻镇', 'township', '431127000000', '431127000000', 1),
    ('431127100201', '邻村', 'village', '431127100000', '431127000000', 1);
INSERT INTO teams (id, code, name, township_code, county_code, created_at) VALUES
    ('team-a', 'TA', '甲队', '431126100000', '431126000000', 1),
    ('team-b', 'TB', '乙队', '431127100000', '431127000000', 1);
INSERT INTO service_packages (code, name, kind, price_fen, self_pay_fen, active, created_at) VALUES
    ('BASIC', '基础公共卫生服务包', 'basic', 0, 0, TRUE, 10),
    ('HTN', '高血压管理包', 'personalised', 12000, 3000, TRUE, 10),
    ('REHAB', '康复护理包', 'personalised', 8050, 1025, FALSE, 20);
INSERT INTO questionnaires (code, version, title, definition, satisfaction_item, awareness_item, created_at) VALUES
    ('satisfaction', 1, '满意度调查', '{\"items\":[{\"code\":\"satisfaction\",\"options\":[\"satisfied\",\"dissatisfied\"]}],\"satisfied_options\":[\"satisfied\"]}', 'satisfaction', NULL, 10),
    ('satisfaction', 2, '满意度调查（第二版）', '{\"items\":[{\"code\":\"satisfaction\",\"options\":[\"yes\",\"no\"]}],\"satisfied_options\":[\"yes\"]}', 'satisfaction', NULL, 30);
INSERT INTO residents (id, county_code, village_code, name, sex, birth_date, id_hash, id_masked, phone, tags,
    household_id, registered_on, field_clock, merged_into, version, deleted, recorded_at, created_at, updated_at,
    change_seq, created_by, device_id) VALUES
    ('res-a', '431126000000', '431126100201', '甲', 'F', '1950-01-01', 'ha', '4311**', NULL, '[]', NULL,
     '2026-01-02', '{}', NULL, 1, FALSE, 1, 1, 1, 1, 'u', NULL),
    ('res-b', '431127000000', '431127100201', '乙', 'M', '1951-01-01', 'hb', '4311**', NULL, '[]', NULL,
     '2026-01-02', '{}', NULL, 1, FALSE, 1, 1, 1, 2, 'u', NULL);
INSERT INTO contracts (id, county_code, village_code, resident_id, team_id, doctor_id, status, signed_at, signed_on,
    effective_from, effective_to, ended_on, end_reason, end_reason_text, signature_sha256, renews, renewed_by,
    supersedes, version, deleted, recorded_at, created_at, updated_at, change_seq, created_by, device_id) VALUES
    ('con-a', '431126000000', '431126100201', 'res-a', 'team-a', NULL, 'SIGNED', 1, '2026-01-02', '2026-01-02',
     '2027-01-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, FALSE, 1, 1, 1, 3, 'u', NULL),
    ('con-b', '431127000000', '431127100201', 'res-b', 'team-b', NULL, 'SIGNED', 1, '2026-01-02', '2026-01-02',
     '2027-01-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, FALSE, 1, 1, 1, 4, 'u', NULL);
INSERT INTO contract_packages (contract_id, package_code, price_fen, self_pay_fen, county_code) VALUES
    ('con-a', 'BASIC', 0, 0, '431126000000'),
    ('con-a', 'HTN', 11000, 2500, '431126000000'),
    ('con-b', 'BASIC', 0, 0, '431127000000'),
    ('con-b', 'REHAB', 8050, 1025, '431127000000');
INSERT INTO survey_responses (id, county_code, village_code, resident_id, team_id, questionnaire,
    questionnaire_version, answers, satisfied, aware, answered_at, answered_on, amends, amended_by, version,
    deleted, created_at, change_seq, created_by, device_id) VALUES
    ('sur-a', '431126000000', '431126100201', 'res-a', 'team-a', 'satisfaction', 2, '{\"satisfaction\":\"yes\"}',
     TRUE, NULL, 1, '2026-01-02', NULL, NULL, 1, FALSE, 1, 5, 'u', NULL),
    ('sur-b', '431127000000', '431127100201', 'res-b', 'team-b', 'satisfaction', 1, '{\"satisfaction\":\"satisfied\"}',
     TRUE, NULL, 1, '2026-01-02', NULL, NULL, 1, FALSE, 1, 6, 'u', NULL);
";

type Package = (String, String, String, String, i64, i64, bool, i64);

#[test]
fn the_catalog_of_before_is_copied_to_every_county_and_no_contract_or_response_is_lost() {
    let (url, _dir, pg) = fresh_database();
    let pool = jiayi::db::open(&url, 1).expect("the database opens");
    let mut conn = pool.get().unwrap();
    jiayi::db::migrate_before(&mut conn, "2026-12-04-000003").expect("the migrations of before");
    conn.batch_execute(BEFORE)
        .expect("rows as the release before wrote them");
    jiayi::db::migrate(&mut conn).expect("the rest of the migrations");
    let c = &mut *conn;

    // Every county holds the whole catalog of before, row for row.
    let packages: Vec<Package> = service_packages::table
        .order((service_packages::county_code, service_packages::code))
        .select((
            service_packages::county_code,
            service_packages::code,
            service_packages::name,
            service_packages::kind,
            service_packages::price_fen,
            service_packages::self_pay_fen,
            service_packages::active,
            service_packages::created_at,
        ))
        .load(c)
        .unwrap();
    let row = |county: &str, code: &str, name: &str, kind: &str, price, self_pay, active, at| -> Package {
        let s = |x: &str| x.to_string();
        (s(county), s(code), s(name), s(kind), price, self_pay, active, at)
    };
    let mut expected = Vec::new();
    for county in [A, B] {
        expected.push(row(county, "BASIC", "基础公共卫生服务包", "basic", 0, 0, true, 10));
        expected.push(row(
            county,
            "HTN",
            "高血压管理包",
            "personalised",
            12000,
            3000,
            true,
            10,
        ));
        expected.push(row(
            county,
            "REHAB",
            "康复护理包",
            "personalised",
            8050,
            1025,
            false,
            20,
        ));
    }
    assert_eq!(packages, expected);
    let versions: Vec<(String, String, i32, String)> = questionnaires::table
        .order((questionnaires::county_code, questionnaires::version))
        .select((
            questionnaires::county_code,
            questionnaires::code,
            questionnaires::version,
            questionnaires::title,
        ))
        .load(c)
        .unwrap();
    assert_eq!(versions.len(), 4, "{versions:?}");
    for county in [A, B] {
        for (version, title) in [(1, "满意度调查"), (2, "满意度调查（第二版）")] {
            let want = (
                county.to_string(),
                "satisfaction".to_string(),
                version,
                title.to_string(),
            );
            assert!(versions.contains(&want), "{want:?} in {versions:?}");
        }
    }

    // Contracts keep their packages at the prices they were signed at, each joined to
    // its own county's row.
    let held: Vec<(String, String, i64, i64, String)> = contract_packages::table
        .inner_join(
            service_packages::table.on(service_packages::county_code
                .eq(contract_packages::county_code)
                .and(service_packages::code.eq(contract_packages::package_code))),
        )
        .order((contract_packages::contract_id, contract_packages::package_code))
        .select((
            contract_packages::contract_id,
            contract_packages::package_code,
            contract_packages::price_fen,
            contract_packages::self_pay_fen,
            service_packages::county_code,
        ))
        .load(c)
        .unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(
        held,
        vec![
            (s("con-a"), s("BASIC"), 0, 0, s(A)),
            (s("con-a"), s("HTN"), 11000, 2500, s(A)),
            (s("con-b"), s("BASIC"), 0, 0, s(B)),
            (s("con-b"), s("REHAB"), 8050, 1025, s(B)),
        ]
    );
    let responses: i64 = survey_responses::table.count().get_result(c).unwrap();
    assert_eq!(responses, 2);
    assert!(survey::questionnaire(c, A, "satisfaction", 2).unwrap().is_some());
    assert!(survey::questionnaire(c, B, "satisfaction", 1).unwrap().is_some());

    // The new foreign key holds: a contract's package must be in its own county's catalog.
    let refused = diesel::insert_into(contract_packages::table)
        .values((
            contract_packages::contract_id.eq("con-a"),
            contract_packages::package_code.eq("MCH"),
            contract_packages::price_fen.eq(15000_i64),
            contract_packages::self_pay_fen.eq(5000_i64),
            contract_packages::county_code.eq(A),
        ))
        .execute(c);
    assert!(refused.is_err(), "MCH is in no county's catalog yet");

    // Start-up then seeds what the default catalog has and a county lacks.
    catalog::ensure(c).unwrap();
    for county in [A, B] {
        let codes: Vec<String> = catalog::packages(c, county)
            .unwrap()
            .into_iter()
            .map(|p| p.code)
            .collect();
        assert_eq!(codes, ["BASIC", "DM", "ELDERLY", "HTN", "MCH", "REHAB"], "{county}");
    }
    drop(conn);
    drop(pool);
    drop_database(&pg);
}
