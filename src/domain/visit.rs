//! Service visits (服务记录): follow-ups, health checks, home visits. Append-only; a
//! correction is an amendment that points at the original.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{audit, resident, validate, Applied, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::visits;
use crate::sync::changelog::{self, Change};
use crate::time::fmt_date;

/// Visit kinds (DESIGN §7).
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

/// Kinds that count as follow-ups (随访).
pub const FOLLOWUP_KINDS: [&str; 4] = ["htn_followup", "dm_followup", "smi_followup", "tb_followup"];

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
            "out_of_range",
            format!("measurements.{field}"),
            format!("{field} must be between {lo} and {hi}"),
        )),
        _ => Ok(()),
    }
}

impl Measurements {
    /// Range checks (DESIGN §3) and what a kind requires.
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
                    "out_of_range",
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
                    "missing_field",
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

/// Records a visit.
pub fn create(conn: &mut DbConn, ctx: &WriteCtx, id: &str, d: &VisitData) -> Result<Applied, AppError> {
    let id = validate::uuid(id, "id")?;
    let resident_id = validate::uuid(&d.resident_id, "resident_id")?;
    if !KINDS.contains(&d.kind.as_str()) {
        return Err(AppError::invalid("invalid_kind", "kind", "unknown visit kind"));
    }
    let when = validate::clinical(&d.occurred_at, "occurred_at", ctx)?;
    d.measurements.check(&d.kind)?;
    let notes = validate::opt_text(&d.notes, "notes", 2000)?;
    let contract_id = d
        .contract_id
        .as_deref()
        .map(|c| validate::uuid(c, "contract_id"))
        .transpose()?;
    let res = resident::find_visible(conn, &ctx.auth.scope, &resident_id)
        .map_err(|_| AppError::invalid("unknown_resident", "resident_id", "no such resident in your scope"))?;
    if d.amends.is_some() {
        return Err(AppError::invalid(
            "not_supported",
            "amends",
            "send an amendment with action \"amend\"",
        ));
    }
    if visits::table.find(&id).count().get_result::<i64>(conn)? > 0 {
        return Err(AppError::conflict("already_exists", "a visit with this id exists").with_field("id"));
    }
    let county = res.county_code.clone();
    let mut change = Change::new(ctx, &county, "visit", &id, 1).village(&res.village_code);
    if let Some(t) = &ctx.auth.team_id {
        change = change.team(t);
    }
    let seq = changelog::append(conn, &change)?;
    let m = &d.measurements;
    diesel::insert_into(visits::table)
        .values((
            visits::id.eq(&id),
            visits::county_code.eq(&county),
            visits::village_code.eq(&res.village_code),
            visits::resident_id.eq(&resident_id),
            visits::contract_id.eq(&contract_id),
            visits::team_id.eq(&ctx.auth.team_id),
            visits::kind.eq(&d.kind),
            visits::occurred_at.eq(when.at),
            visits::occurred_on.eq(fmt_date(when.local_date)),
            visits::systolic.eq(m.systolic),
            visits::diastolic.eq(m.diastolic),
            visits::fasting_glucose.eq(m.fasting_glucose),
            visits::weight_kg.eq(m.weight_kg),
            visits::height_cm.eq(m.height_cm),
            visits::measurements.eq(serde_json::to_string(m).map_err(AppError::internal)?),
            visits::notes.eq(&notes),
            visits::version.eq(1i64),
            visits::deleted.eq(false),
            visits::created_at.eq(ctx.now),
            visits::change_seq.eq(seq),
            visits::created_by.eq(&ctx.auth.user_id),
            visits::device_id.eq(&ctx.auth.device_id),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        audit::Entry::actor(ctx.auth, "visit_recorded")
            .entity("visit", &id)
            .at(ctx.now)
            .clinical(when.at),
    )?;
    Ok(Applied {
        id,
        version: 1,
        conflict_id: None,
    })
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
            "missing_field"
        );
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
