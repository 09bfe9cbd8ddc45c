//! The rules of the family-doctor service, free of HTTP. A push op and an admin request
//! that change the same record go through the same function here.

pub mod audit;
pub mod caller;
pub mod catalog;
pub mod conflict;
pub mod contract;
pub mod device;
pub mod followup;
pub mod id_number;
pub mod not_signed;
pub mod population;
pub mod quarantined;
pub mod questionnaire;
pub mod referral;
pub mod refresh_token;
pub mod region;
pub mod resident;
pub mod review;
pub mod staff;
pub mod survey;
pub mod team;
pub mod user;
pub mod validate;
pub mod visit;
pub mod worklist;

use crate::access::Caller;
use crate::error_codes::Code;
use crate::time::Millis;

/// Who is writing, from which device, in answer to which op, and when the server received it.
pub struct WriteCtx<'a> {
    /// The caller.
    pub auth: &'a Caller,
    /// The sync op being applied, if any.
    pub op_id: Option<&'a str>,
    /// Server receive time.
    pub now: Millis,
    /// Key for ID-number lookup hashes.
    pub id_hash_secret: &'a str,
    /// Allowed clock skew for clinical times, in milliseconds.
    pub max_skew_ms: i64,
    /// A push batch's journal: ledger and audit rows written together at the end of the
    /// batch. `None` writes them at once.
    pub journal: Option<&'a std::cell::RefCell<crate::ledger::Journal>>,
}

impl WriteCtx<'_> {
    /// A change to the ledger by this writer (its op, device and receive time).
    pub fn change(&self, county: &str, entity: &'static str, id: &str, version: i64) -> crate::ledger::Change {
        crate::ledger::Change::new(self.op_id, &self.auth.device_id, self.now, county, entity, id, version)
    }
    /// Appends a change to the ledger (to the batch's journal inside a push) and returns
    /// its position.
    pub fn append(
        &self,
        conn: &mut crate::db::DbConn,
        change: &crate::ledger::Change,
    ) -> Result<i64, crate::error::AppError> {
        crate::ledger::append(conn, self.journal, change)
    }
}

/// What a write did: the entity's new version and, if the rules kept a losing side, the conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The entity's id.
    pub id: String,
    /// Its version after the write.
    pub version: i64,
    /// Set when the write was applied by a rule that kept the other side in a conflict record.
    pub conflict_id: Option<String>,
}

/// The refusal of a new record whose id another record holds. A record the caller's scope
/// holds is named (`already_exists`: a tablet re-sending its own record under a new op id
/// learns it is there). Any other answers `id_taken`, the same whatever the record is,
/// whose and where, so that ids cannot be probed across teams.
/// `message` is the in-scope answer's.
pub(crate) fn id_in_use(in_scope: bool, message: &'static str) -> crate::error::AppError {
    if in_scope {
        crate::error::AppError::conflict(Code::AlreadyExists, message).with_field("id")
    } else {
        crate::error::AppError::invalid(
            Code::IdTaken,
            "id",
            "this id cannot be used: give the record a new id and send it as a new op",
        )
    }
}

/// Journals a new append-only record made on the push fast path: its change-log entry and
/// its audit entry go to the batch's journal. Returns its provisional change position.
pub(crate) fn journal_new(
    ctx: &WriteCtx,
    change: crate::ledger::Change,
    action: &'static str,
    entity: &'static str,
    id: &str,
    clinical_at: i64,
) -> Result<i64, crate::error::AppError> {
    journal_entry(
        ctx,
        change,
        audit::Entry::actor(ctx.auth, action)
            .entity(entity, id)
            .at(ctx.now)
            .clinical(clinical_at),
    )
}

/// [`journal_new`] with an audit entry the caller built (one carrying detail, say).
pub(crate) fn journal_entry(
    ctx: &WriteCtx,
    change: crate::ledger::Change,
    entry: audit::Entry,
) -> Result<i64, crate::error::AppError> {
    let journal = ctx
        .journal
        .ok_or_else(|| crate::error::AppError::internal("a fast-path write needs the batch's journal"))?;
    let mut j = journal.borrow_mut();
    let seq = j.change(change);
    j.audit(entry.into_row());
    Ok(seq)
}

/// Points an append-only record (visit, survey) at the amendment that replaces it: a new
/// version carrying `amended_by`, and a change-log entry built by `$change(version)`.
#[macro_export]
macro_rules! mark_amended {
    ($conn:expr, $ctx:expr, $table:ident, $original:expr, $amendment:expr, $change:expr) => {{
        use diesel::prelude::*;
        use $crate::schema::$table;
        let version: i64 = $table::table.find($original).select($table::version).first($conn)?;
        let seq = $crate::ledger::append($conn, $ctx.journal, &$change(version + 1))?;
        diesel::update($table::table.find($original))
            .set((
                $table::amended_by.eq($amendment),
                $table::version.eq(version + 1),
                $table::change_seq.eq(seq),
            ))
            .execute($conn)?;
    }};
}

/// Soft-deletes an append-only record (visit, survey, not-signed) in the caller's scope:
/// a new version marked deleted, a tombstone in the change log, an audit entry.
#[macro_export]
macro_rules! tombstone {
    ($conn:expr, $ctx:expr, $table:ident, $entity:expr, $id:expr) => {{
        use diesel::prelude::*;
        use $crate::schema::$table;
        let id = $crate::domain::validate::uuid($id, "id")?;
        let row: Option<(String, String, i64, bool)> = $table::table
            .find(&id)
            .select((
                $table::county_code,
                $table::village_code,
                $table::version,
                $table::deleted,
            ))
            .first($conn)
            .optional()?;
        match row {
            Some((county, village, version, deleted)) if $ctx.auth.scope.covers_village(&village) => {
                if deleted {
                    Ok($crate::domain::Applied {
                        id,
                        version,
                        conflict_id: None,
                    })
                } else {
                    let change = $ctx
                        .change(&county, $entity, &id, version + 1)
                        .village(&village)
                        .deleted(true);
                    let seq = $crate::ledger::append($conn, $ctx.journal, &change)?;
                    diesel::update($table::table.find(&id))
                        .set((
                            $table::deleted.eq(true),
                            $table::version.eq(version + 1),
                            $table::change_seq.eq(seq),
                        ))
                        .execute($conn)?;
                    $crate::domain::audit::record_for(
                        $conn,
                        $ctx,
                        $crate::domain::audit::Entry::actor($ctx.auth, "record_deleted")
                            .entity($entity, &id)
                            .at($ctx.now),
                    )?;
                    Ok($crate::domain::Applied {
                        id,
                        version: version + 1,
                        conflict_id: None,
                    })
                }
            }
            _ => Err($crate::error::AppError::invalid(
                $crate::error_codes::Code::UnknownRecord,
                "id",
                "no such record in your scope",
            )),
        }
    }};
}
