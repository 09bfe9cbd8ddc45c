//! The audit log: append-only, written in the same transaction as the change it records.

use diesel::prelude::*;
use uuid::Uuid;

use crate::access::Caller;
use crate::db::DbConn;
use crate::domain::user::User;
use crate::error::AppError;
use crate::error_codes::Code;
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
    pub fn actor(a: &Caller, action: &'static str) -> Entry {
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

pub use crate::ledger::audit::AuditRow;

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
    crate::ledger::audit::record(conn, e.into_row())
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

/// Filters for reading the audit log.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Entity kind, e.g. `contract`.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Acting user.
    pub user_id: Option<String>,
    /// Acting device.
    pub device_id: Option<String>,
    /// What was done, e.g. `review_decided`.
    pub action: Option<String>,
    /// Server time from (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Server time to (RFC 3339, exclusive).
    pub to: Option<String>,
    /// Entries older than this entry id (the previous page's `next_before`).
    pub before: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
}

/// One audit entry as supervisors read it.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditView {
    /// Entry id (UUIDv7, time-ordered).
    pub id: String,
    /// Server time.
    pub at: String,
    /// Clinical time of the recorded event, if any.
    pub clinical_at: Option<String>,
    /// Acting user.
    pub user_id: Option<String>,
    /// Acting device.
    pub device_id: Option<String>,
    /// What was done.
    pub action: String,
    /// Entity kind.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Detail (codes and ids, never personal data).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// A page of the audit log, newest first.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries, newest first.
    pub entries: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<String>,
}

/// Reads the audit log in the caller's reach: an admin their county, a supervisor what was
/// done by the staff of their township. Nothing in the API edits or deletes it.
pub fn list(conn: &mut DbConn, auth: &Caller, f: &AuditFilter) -> Result<AuditPage, AppError> {
    use crate::access::Scope;
    use crate::schema::users;
    let limit = f.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(Code::InvalidLimit, "limit must be 1–500").with_field("limit"));
    }
    let instant = |v: &Option<String>, field: &str| -> Result<Option<i64>, AppError> {
        v.as_deref()
            .map(|s| {
                crate::time::parse_clinical(s).map(|t| t.at).ok_or_else(|| {
                    AppError::bad_request(Code::InvalidTime, format!("{field} must be RFC 3339 with offset"))
                        .with_field(field)
                })
            })
            .transpose()
    };
    let (from, to) = (instant(&f.from, "from")?, instant(&f.to, "to")?);
    let before = f
        .before
        .as_deref()
        .map(|v| {
            // A page key is an entry id; anything else is a caller's mistake, not an empty page.
            super::validate::uuid(v, "before").map_err(|_| {
                AppError::bad_request(Code::InvalidQuery, "before must be the next_before of a previous page")
                    .with_field("before")
            })
        })
        .transpose()?;
    // The entries live in two tables (the audit log, and the ledger rows that stand for an
    // op's entry): the newest `limit + 1` of each, merged, are the newest of both.
    macro_rules! newest {
        ($t:ident, $id:ident, $at:ident, $action:ident, $cols:expr $(, $only:expr)?) => {{
            let mut q = $t::table
                .left_join(users::table.on(users::id.nullable().eq($t::user_id)))
                .filter($t::county_code.eq(&auth.county_code))
                $(.filter($only))?
                .select($cols)
                .order($t::$id.desc())
                .limit(limit + 1)
                .into_boxed();
            if let Scope::Township(t) = &auth.scope {
                q = q.filter(users::region_code.eq(t.clone()));
            }
            if let Some(v) = &f.entity {
                q = q.filter($t::entity.eq(v.clone()));
            }
            if let Some(v) = &f.entity_id {
                q = q.filter($t::entity_id.eq(v.clone()));
            }
            if let Some(v) = &f.user_id {
                q = q.filter($t::user_id.eq(v.clone()));
            }
            if let Some(v) = &f.device_id {
                q = q.filter($t::device_id.eq(v.clone()));
            }
            if let Some(v) = &f.action {
                q = q.filter($t::$action.eq(v.clone()));
            }
            if let Some(v) = from {
                q = q.filter($t::$at.ge(v));
            }
            if let Some(v) = to {
                q = q.filter($t::$at.lt(v));
            }
            if let Some(id) = &before {
                q = q.filter($t::$id.lt(id.clone()));
            }
            q.load::<ViewRow>(conn)?
        }};
    }
    use crate::schema::ledger;
    let mut rows = newest!(audit_log, id, at, action, VIEW_COLUMNS);
    rows.extend(newest!(
        ledger,
        audit_id,
        changed_at,
        audit_action,
        crate::ledger_view_columns!(),
        ledger::audit_id.is_not_null()
    ));
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|r| r.0.clone()) } else { None };
    let entries = rows.into_iter().map(view_of).collect();
    Ok(AuditPage { entries, next_before })
}

/// The columns an [`AuditView`] is read from, for `select`.
pub const VIEW_COLUMNS: (
    audit_log::id,
    audit_log::at,
    audit_log::clinical_at,
    audit_log::user_id,
    audit_log::device_id,
    audit_log::action,
    audit_log::entity,
    audit_log::entity_id,
    audit_log::detail,
) = (
    audit_log::id,
    audit_log::at,
    audit_log::clinical_at,
    audit_log::user_id,
    audit_log::device_id,
    audit_log::action,
    audit_log::entity,
    audit_log::entity_id,
    audit_log::detail,
);

/// The columns of the ledger rows that stand for an op's audit entry, read as
/// [`VIEW_COLUMNS`] reads the audit log (for rows with an `audit_id`).
#[macro_export]
macro_rules! ledger_view_columns {
    () => {{
        use $crate::schema::ledger;
        (
            ledger::audit_id.assume_not_null(),
            ledger::changed_at,
            ledger::clinical_at,
            ledger::user_id,
            ledger::device_id,
            ledger::audit_action.assume_not_null(),
            ledger::entity.nullable(),
            ledger::entity_id.nullable(),
            ledger::detail,
        )
    }};
}

/// One entry as [`VIEW_COLUMNS`] read it.
pub type ViewRow = (
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The view of a row read with [`VIEW_COLUMNS`].
pub fn view_of(r: ViewRow) -> AuditView {
    let (id, at, clinical_at, user_id, device_id, action, entity, entity_id, detail) = r;
    AuditView {
        id,
        at: crate::time::fmt_instant(at),
        clinical_at: clinical_at.map(crate::time::fmt_instant),
        user_id,
        device_id,
        action,
        entity,
        entity_id,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
    }
}
