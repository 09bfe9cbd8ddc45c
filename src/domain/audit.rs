//! The audit log: append-only, written in the same transaction as the change it records.

use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::Auth;
use crate::db::DbConn;
use crate::domain::user::User;
use crate::error::AppError;
use crate::schema::audit_log;
use crate::time::{now_ms, Millis};

/// One audit entry being built.
#[derive(Debug, Default)]
pub struct Entry {
    action: &'static str,
    at: Option<Millis>,
    clinical_at: Option<Millis>,
    county_code: Option<String>,
    user_id: Option<String>,
    device_id: Option<String>,
    entity: Option<&'static str>,
    entity_id: Option<String>,
    detail: Option<serde_json::Value>,
}

impl Entry {
    /// An action with no user (failed login, start-up, import).
    pub fn system(action: &'static str) -> Entry {
        Entry {
            action,
            ..Default::default()
        }
    }
    /// An action by a user on a device.
    pub fn by(user: &User, device_id: &str, action: &'static str) -> Entry {
        Entry {
            action,
            county_code: Some(user.county_code.clone()),
            user_id: Some(user.id.clone()),
            device_id: Some(device_id.to_string()),
            ..Default::default()
        }
    }
    /// An action by the authenticated caller.
    pub fn actor(a: &Auth, action: &'static str) -> Entry {
        Entry {
            action,
            county_code: Some(a.county_code.clone()),
            user_id: Some(a.user_id.clone()),
            device_id: Some(a.device_id.clone()),
            ..Default::default()
        }
    }
    /// Sets the device.
    pub fn device(mut self, id: &str) -> Entry {
        self.device_id = Some(id.to_string());
        self
    }
    /// Sets the county.
    pub fn county(mut self, code: &str) -> Entry {
        self.county_code = Some(code.to_string());
        self
    }
    /// Sets the entity touched.
    pub fn entity(mut self, kind: &'static str, id: &str) -> Entry {
        self.entity = Some(kind);
        self.entity_id = Some(id.to_string());
        self
    }
    /// Adds detail (never PII).
    pub fn detail(mut self, d: serde_json::Value) -> Entry {
        self.detail = Some(d);
        self
    }
    /// Server time of the action.
    pub fn at(mut self, ms: Millis) -> Entry {
        self.at = Some(ms);
        self
    }
    /// Clinical time of the recorded event.
    pub fn clinical(mut self, ms: Millis) -> Entry {
        self.clinical_at = Some(ms);
        self
    }
}

/// An audit row as stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    id: String,
    at: i64,
    clinical_at: Option<i64>,
    county_code: Option<String>,
    user_id: Option<String>,
    device_id: Option<String>,
    action: &'static str,
    entity: Option<&'static str>,
    entity_id: Option<String>,
    detail: Option<String>,
}

impl Entry {
    /// The row this entry becomes.
    pub fn into_row(self) -> AuditRow {
        AuditRow {
            id: Uuid::now_v7().to_string(),
            at: self.at.unwrap_or_else(now_ms),
            clinical_at: self.clinical_at,
            county_code: self.county_code,
            user_id: self.user_id,
            device_id: self.device_id,
            action: self.action,
            entity: self.entity,
            entity_id: self.entity_id,
            detail: self.detail.map(|d| d.to_string()),
        }
    }
}

/// Appends an entry.
pub fn record(conn: &mut DbConn, e: Entry) -> Result<(), AppError> {
    diesel::insert_into(audit_log::table)
        .values(e.into_row())
        .execute(conn)?;
    Ok(())
}

/// Appends an entry for a write: with the batch's journal when there is one (written with
/// the batch), at once otherwise.
pub fn record_for(conn: &mut DbConn, ctx: &super::WriteCtx, e: Entry) -> Result<(), AppError> {
    match ctx.journal {
        Some(j) => {
            j.borrow_mut().audit(e.into_row());
            Ok(())
        }
        None => record(conn, e),
    }
}

/// Appends an entry stamped now.
pub fn record_now(conn: &mut DbConn, e: Entry) -> Result<(), AppError> {
    record(conn, e.at(now_ms()))
}
