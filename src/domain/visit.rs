//! Service visits (服务记录): follow-ups, health checks, home visits. Append-only; a
//! correction is an amendment that points at the original.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::resident::{self, Resident};
use super::{audit, review, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::ledger::{self, Change};
use crate::schema::visits;
use crate::time::fmt_date;
use crate::vocabulary::ConflictKind;

/// Visit kinds (docs/sync-protocol.md, "Enumerated values").
pub const KINDS: [&str; 10] = [
    "htn_followup",
    "dm_followup",
    "elderly_check",
    "smi_followup",
    "tb_followup",
    "maternal",
    "child_health",
    "home_visit",
    "consultation",
    "health_education",
];

// Named in the vocabulary because the reports count by it too.
pub use crate::vocabulary::FOLLOWUP_KINDS;

/// Typed measurements; every value range-checked.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Measurements {
    /// Systolic blood pressure, mmHg, 50–300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic: Option<i32>,
    /// Diastolic blood pressure, mmHg, 30–200, below systolic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic: Option<i32>,
    /// Fasting glucose, mmol/L, 1–35.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fasting_glucose: Option<f64>,
    /// Weight, kg, 1–300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// Height, cm, 30–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_cm: Option<f64>,
    /// Heart rate, beats/min, 20–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate: Option<i32>,
    /// Waist, cm, 30–200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waist_cm: Option<f64>,
}

fn range<T: PartialOrd + Copy + std::fmt::Display>(v: Option<T>, lo: T, hi: T, field: &str) -> Result<(), AppError> {
    match v {
        Some(x) if !(x >= lo && x <= hi) => Err(AppError::invalid(
            Code::OutOfRange,
            format!("measurements.{field}"),
            format!("{field} must be between {lo} and {hi}"),
        )),
        _ => Ok(()),
    }
}

impl Measurements {
    /// Range checks (docs/domain.md, "Service visits") and what a kind requires.
    pub fn check(&self, kind: &str) -> Result<(), AppError> {
        range(self.systolic, 50, 300, "systolic")?;
        range(self.diastolic, 30, 200, "diastolic")?;
        range(self.fasting_glucose, 1.0, 35.0, "fasting_glucose")?;
        range(self.weight_kg, 1.0, 300.0, "weight_kg")?;
        range(self.height_cm, 30.0, 250.0, "height_cm")?;
        range(self.heart_rate, 20, 250, "heart_rate")?;
        range(self.waist_cm, 30.0, 200.0, "waist_cm")?;
        if let (Some(s), Some(d)) = (self.systolic, self.diastolic) {
            if d >= s {
                return Err(AppError::invalid(
                    Code::OutOfRange,
                    "measurements.diastolic",
                    "diastolic must be below systolic",
                ));
            }
        }
        let need = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                Err(AppError::invalid(
                    Code::MissingField,
                    format!("measurements.{field}"),
                    format!("a {kind} records {field}"),
                ))
            }
        };
        match kind {
            "htn_followup" => {
                need(self.systolic.is_some(), "systolic")?;
                need(self.diastolic.is_some(), "diastolic")
            }
            "dm_followup" => need(self.fasting_glucose.is_some(), "fasting_glucose"),
            _ => Ok(()),
        }
    }
}

/// A visit as a tablet sends it (`data` of a `visit` create op).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VisitPush)]
pub struct VisitData {
    /// The resident.
    pub resident_id: String,
    /// The contract it serves, if any.
    #[serde(default)]
    pub contract_id: Option<String>,
    /// Visit kind.
    pub kind: String,
    /// Clinical time, RFC 3339 with offset.
    pub occurred_at: String,
    /// Measurements.
    #[serde(default)]
    pub measurements: Measurements,
    /// Free-text notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// For an amendment: the original visit's id.
    #[serde(default)]
    pub amends: Option<String>,
}

/// Records a visit. The same id sent again with the same content is accepted once; with
/// other content it is a conflict: the stored visit stays and the other content is kept
/// in the conflict record.
pub fn create(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &VisitData) -> Result<Applied, AppError> {
    validate::not_amending(&d.amends)?;
    record(conn, ctx, id, d, None)
}

/// Records an amendment of `data.amends`. Reads and counts then use the amendment. If the
/// original was already amended (two tablets correcting it offline), this one amends the
/// newest amendment and a conflict record flags the pair for review.
pub fn amend(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &VisitData) -> Result<Applied, AppError> {
    let original = validate::amended(&d.amends, "visit")?;
    record(conn, ctx, id, d, Some(&original))
}

type Stored = (
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    i64,
    bool,
    Option<String>,
);

fn load(conn: &mut DbConn, id: &str) -> Result<Option<Stored>, AppError> {
    Ok(visits::table
        .find(id)
        .select((
            visits::resident_id,
            visits::kind,
            visits::occurred_at,
            visits::measurements,
            visits::notes,
            visits::amends,
            visits::version,
            visits::deleted,
            visits::amended_by,
        ))
        .first(conn)
        .optional()?)
}

/// A visit row as stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = visits)]
pub struct VisitRow {
    pub(crate) id: String,
    county_code: String,
    village_code: String,
    resident_id: String,
    contract_id: Option<String>,
    team_id: Option<String>,
    kind: String,
    occurred_at: i64,
    occurred_on: String,
    systolic: Option<i32>,
    diastolic: Option<i32>,
    fasting_glucose: Option<f64>,
    weight_kg: Option<f64>,
    height_cm: Option<f64>,
    measurements: String,
    notes: Option<String>,
    amends: Option<String>,
    version: i64,
    deleted: bool,
    created_at: i64,
    pub(crate) change_seq: i64,
    created_by: String,
    device_id: Option<String>,
}

/// What the checks that need no database yield.
struct Checked {
    id: String,
    resident_id: String,
    when: crate::time::ClinicalTime,
    notes: Option<String>,
    contract_id: Option<String>,
    measurements: String,
}

fn check(ctx: &WriteCtx, id: &str, d: &VisitData) -> Result<Checked, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    if !KINDS.contains(&d.kind.as_str()) {
        return Err(AppError::invalid(Code::InvalidKind, "kind", "unknown visit kind"));
    }
    let when = validate::clinical(&d.occurred_at, "occurred_at", ctx)?;
    d.measurements.check(&d.kind)?;
    Ok(Checked {
        id,
        resident_id,
        when,
        notes: validate::opt_text(&d.notes, "notes", 2000)?,
        contract_id: d
            .contract_id
            .as_deref()
            .map(|c| validate::uuid(c, "contract_id"))
            .transpose()?,
        measurements: serde_json::to_string(&d.measurements).map_err(AppError::internal)?,
    })
}

fn build_row(ctx: &WriteCtx, c: Checked, d: &VisitData, res: &Resident, amends: Option<String>, seq: i64) -> VisitRow {
    let m = &d.measurements;
    VisitRow {
        id: c.id,
        county_code: res.county_code.clone(),
        village_code: res.village_code.clone(),
        resident_id: c.resident_id,
        contract_id: c.contract_id,
        team_id: ctx.auth.team_id.clone(),
        kind: d.kind.clone(),
        occurred_at: c.when.at,
        occurred_on: fmt_date(c.when.local_date),
        systolic: m.systolic,
        diastolic: m.diastolic,
        fasting_glucose: m.fasting_glucose,
        weight_kg: m.weight_kg,
        height_cm: m.height_cm,
        measurements: c.measurements,
        notes: c.notes,
        amends,
        version: 1,
        deleted: false,
        created_at: ctx.now,
        change_seq: seq,
        created_by: ctx.auth.user_id.clone(),
        device_id: Some(ctx.auth.device_id.clone()),
    }
}

fn change_of(ctx: &WriteCtx, res: &Resident, id: &str, version: i64) -> Change {
    let c = ctx
        .change(&res.county_code, "visit", id, version)
        .village(&res.village_code);
    match &ctx.auth.team_id {
        Some(t) => c.team(t),
        None => c,
    }
}

/// Records a new visit inside a push batch whose resident (visible to the caller) was
/// loaded with the batch and whose id is new: the rules of [`create`], with the row
/// returned to be written together with the batch's other new visits.
pub fn create_in_batch(
    ctx: &WriteCtx,
    id: &str,
    d: &VisitData,
    res: &Resident,
) -> Result<(Applied, VisitRow), AppError> {
    validate::not_amending(&d.amends)?;
    let c = check(ctx, id, d)?;
    let seq = super::journal_new(
        ctx,
        change_of(ctx, res, &c.id, 1),
        "visit_recorded",
        "visit",
        &c.id,
        c.when.at,
    )?;
    let row = build_row(ctx, c, d, res, None, seq);
    Ok((
        Applied {
            id: row.id.clone(),
            version: 1,
            conflict_id: None,
        },
        row,
    ))
}

fn record(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    id: &str,
    d: &VisitData,
    amends: Option<&str>,
) -> Result<Applied, AppError> {
    let c = check(ctx, id, d)?;
    let (id, resident_id, when, notes, measurements) = (
        c.id.clone(),
        c.resident_id.clone(),
        c.when,
        c.notes.clone(),
        c.measurements.clone(),
    );
    let res = resident::find_visible(conn, &ctx.auth.scope, &resident_id)
        .map_err(|_| AppError::invalid(Code::UnknownResident, "resident_id", "no such resident in your scope"))?;
    if let Some((r, kind, at, m, n, a, version, _, _)) = load(conn, &id)? {
        // Another team's visit under this id: refused without a word about it.
        let village: String = visits::table.find(&id).select(visits::village_code).first(conn)?;
        if !ctx.auth.scope.covers_village(&village) {
            return Err(super::id_in_use(false, "a visit with this id exists"));
        }
        let same = r == resident_id
            && kind == d.kind
            && at == when.at
            && m == measurements
            && n == notes
            && a.as_deref() == amends;
        let conflict_id = if same {
            None
        } else {
            Some(review::open_conflict(
                conn,
                ctx,
                review::NewConflict {
                    kind: ConflictKind::DivergentAppend,
                    entity: "visit",
                    entity_id: &id,
                    other_entity_id: None,
                    field: None,
                    county_code: &res.county_code,
                    village_code: Some(&res.village_code),
                    server_value: None,
                    client_value: Some(serde_json::json!({
                        "resident_id": resident_id, "kind": d.kind, "occurred_at": d.occurred_at,
                        "measurements": d.measurements, "notes": notes, "amends": amends,
                    })),
                },
            )?)
        };
        return Ok(Applied {
            id,
            version,
            conflict_id,
        });
    }
    // The record this one amends: the newest in the original's chain.
    let mut conflict_id = None;
    let target = match amends {
        None => None,
        Some(original) => {
            let mut tip = original.to_string();
            let first = load(conn, original)?;
            match &first {
                Some((r, _, _, _, _, _, _, false, _)) if *r == resident_id => {}
                _ => {
                    return Err(AppError::invalid(
                        Code::UnknownVisit,
                        "amends",
                        "no such visit of this resident",
                    ))
                }
            }
            let mut next = first.and_then(|s| s.8);
            while let Some(n) = next {
                tip = n;
                next = load(conn, &tip)?.and_then(|s| s.8);
            }
            if tip != original {
                conflict_id = Some(review::open_conflict(
                    conn,
                    ctx,
                    review::NewConflict {
                        kind: ConflictKind::DivergentAppend,
                        entity: "visit",
                        entity_id: &id,
                        other_entity_id: Some(&tip),
                        field: Some("amends".into()),
                        county_code: &res.county_code,
                        village_code: Some(&res.village_code),
                        server_value: None,
                        client_value: None,
                    },
                )?);
            }
            Some(tip)
        }
    };
    let seq = ledger::append(conn, ctx.journal, &change_of(ctx, &res, &id, 1))?;
    diesel::insert_into(visits::table)
        .values(build_row(ctx, c, d, &res, target.clone(), seq))
        .execute(conn)?;
    if let Some(t) = &target {
        crate::mark_amended!(conn, ctx, visits, t, &id, |v| change_of(ctx, &res, t, v));
    }
    let action = if target.is_some() {
        "visit_amended"
    } else {
        "visit_recorded"
    };
    audit::record_for(
        conn,
        ctx,
        audit::Entry::actor(ctx.auth, action)
            .entity("visit", &id)
            .at(ctx.now)
            .clinical(when.at),
    )?;
    Ok(Applied {
        id,
        version: 1,
        conflict_id,
    })
}

/// Deletes a visit recorded in error: a tombstone that pulls carry; it no longer counts.
pub fn delete(conn: &mut DbConn, ctx: &WriteCtx, id: &str) -> Result<Applied, AppError> {
    crate::tombstone!(conn, ctx, visits, "visit", id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(s: i32, d: i32) -> Measurements {
        Measurements {
            systolic: Some(s),
            diastolic: Some(d),
            ..Default::default()
        }
    }

    #[test]
    fn blood_pressure_edges() {
        assert!(bp(50, 30).check("htn_followup").is_ok());
        assert!(bp(300, 200).check("htn_followup").is_ok());
        assert_eq!(
            bp(49, 30).check("htn_followup").unwrap_err().field.as_deref(),
            Some("measurements.systolic")
        );
        assert_eq!(
            bp(301, 90).check("htn_followup").unwrap_err().field.as_deref(),
            Some("measurements.systolic")
        );
        assert_eq!(
            bp(120, 29).check("htn_followup").unwrap_err().field.as_deref(),
            Some("measurements.diastolic")
        );
        assert_eq!(
            bp(120, 120).check("htn_followup").unwrap_err().field.as_deref(),
            Some("measurements.diastolic")
        );
        assert_eq!(
            Measurements::default().check("htn_followup").unwrap_err().code,
            Code::MissingField
        );
    }

    #[test]
    fn every_measurement_range_edge() {
        type Set = fn(&mut Measurements, f64);
        // (field, lowest accepted, highest accepted, step just outside, setter)
        let cases: [(&str, f64, f64, f64, Set); 7] = [
            ("systolic", 50.0, 300.0, 1.0, |m, v| {
                m.systolic = Some(v as i32);
                m.diastolic = Some(30);
            }),
            ("diastolic", 30.0, 200.0, 1.0, |m, v| {
                m.diastolic = Some(v as i32);
                m.systolic = Some(300);
            }),
            ("fasting_glucose", 1.0, 35.0, 0.1, |m, v| m.fasting_glucose = Some(v)),
            ("weight_kg", 1.0, 300.0, 0.1, |m, v| m.weight_kg = Some(v)),
            ("height_cm", 30.0, 250.0, 0.1, |m, v| m.height_cm = Some(v)),
            ("heart_rate", 20.0, 250.0, 1.0, |m, v| m.heart_rate = Some(v as i32)),
            ("waist_cm", 30.0, 200.0, 0.1, |m, v| m.waist_cm = Some(v)),
        ];
        for (field, lo, hi, step, set) in cases {
            let with = |v: f64| {
                let mut m = Measurements::default();
                set(&mut m, v);
                m.check("home_visit")
            };
            assert!(with(lo).is_ok(), "{field} {lo}");
            assert!(with(hi).is_ok(), "{field} {hi}");
            for bad in [lo - step, hi + step] {
                let e = with(bad).unwrap_err();
                assert_eq!(e.code, Code::OutOfRange, "{field} {bad}");
                assert_eq!(e.field.as_deref(), Some(format!("measurements.{field}").as_str()));
            }
        }
        // Not a number is never in range.
        let m = Measurements {
            weight_kg: Some(f64::NAN),
            ..Default::default()
        };
        assert_eq!(
            m.check("home_visit").unwrap_err().field.as_deref(),
            Some("measurements.weight_kg")
        );
        // Diastolic just below systolic is fine; a diabetes follow-up needs its glucose.
        assert!(bp(121, 120).check("htn_followup").is_ok());
        assert_eq!(
            Measurements::default()
                .check("dm_followup")
                .unwrap_err()
                .field
                .as_deref(),
            Some("measurements.fasting_glucose")
        );
        assert!(Measurements::default().check("elderly_check").is_ok());
    }

    #[test]
    fn glucose_edges() {
        let g = |v| Measurements {
            fasting_glucose: Some(v),
            ..Default::default()
        };
        assert!(g(1.0).check("dm_followup").is_ok());
        assert!(g(35.0).check("dm_followup").is_ok());
        assert!(g(0.9).check("dm_followup").is_err());
        assert!(g(35.1).check("dm_followup").is_err());
        assert!(g(f64::NAN).check("dm_followup").is_err());
    }
}
