//! A push batch's journal. Ops apply one by one, but what every op leaves besides its
//! entity — its ledger rows, its audit entry, its record for replays — is kept here and
//! written with a few multi-row inserts at the end of the batch, an op's record and audit
//! entry on its first ledger row when they fit there (docs/architecture.md, "The
//! ledger"). Ledger positions are taken then, under the counter lock, so that lock is held only for the last moments
//! of the transaction and concurrent batches do the rest of their work side by side.
//! New records the fast path checked without a query (residents, contracts, visits,
//! survey responses) are held here too and written table by table, with multi-row inserts,
//! before the first op that reads the database or at the end.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::domain::audit::AuditRow;
use crate::domain::contract::{Contract, PackageRow};
use crate::domain::resident::{Resident, TagRow};
use crate::domain::survey::SurveyRow;
use crate::domain::visit::VisitRow;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::insert_many;
use crate::schema::{
    applied_ops, audit_log, contract_packages, contracts, ledger, resident_tags, residents, survey_responses, visits,
};

use super::changelog::{self, Change};
use super::push::AppliedOpRow;
use super::replay::Earlier;

/// Rows waiting for the end of the batch.
#[derive(Default)]
pub struct Journal {
    changes: Vec<Change>,
    audits: Vec<AuditRow>,
    /// Records of ops that changed nothing: written to `applied_ops`.
    applied: Vec<AppliedOpRow>,
    /// Records of ops that changed something, each carried by the ledger row of the op's
    /// first change together with the op's audit entry when one describes that change.
    carried: Vec<Carried>,
    /// Where the journal stood when the last op's record was added: what comes after it
    /// is the next op's.
    op_start: Mark,
    /// (device, op id) of the records already written to `applied_ops`.
    recorded: Vec<(String, String)>,
    /// Results of ops applied earlier in this batch, by op id.
    pub(crate) seen: HashMap<String, Earlier>,
    /// New residents checked on the fast path, written together (with their tag rows).
    pending_residents: Vec<Resident>,
    pending_tags: Vec<TagRow>,
    /// New contracts checked on the fast path, written together (with their package rows).
    pending_contracts: Vec<Contract>,
    pending_packages: Vec<PackageRow>,
    /// ID-number hashes of the residents the fast path registered, judged unregistered
    /// from a read made without the county's registration lock.
    fast_id_hashes: Vec<String>,
    /// Ids of the residents and contracts created in this batch, on either path.
    pub(crate) new_ids: HashSet<String>,
    /// ID-number hashes of the residents registered in this batch, on either path.
    pub(crate) new_id_hashes: HashSet<String>,
    /// New visits checked on the fast path, written together.
    pending_visits: Vec<VisitRow>,
    /// New survey responses checked on the fast path, written together.
    pending_surveys: Vec<SurveyRow>,
    /// Ids of the responses the fast path created in this batch.
    pub(crate) new_survey_ids: HashSet<String>,
    /// Ids of the visits the fast path created in this batch, written or not: a second op
    /// with one of them takes the full path, which compares it with the first.
    pub(crate) new_visit_ids: HashSet<String>,
}

/// A point to roll the journal back to when an op is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mark(usize, usize);

/// An op's record and audit entry, written on the ledger row of one of its changes.
struct Carried {
    /// Index of the change in the journal.
    change: usize,
    record: AppliedOpRow,
    audit: Option<AuditRow>,
}

impl Journal {
    /// Adds a change; returns its provisional position (negative, unique in the batch).
    pub fn change(&mut self, c: Change) -> i64 {
        self.changes.push(c);
        -(self.changes.len() as i64)
    }
    /// Adds an audit row.
    pub fn audit(&mut self, row: AuditRow) {
        self.audits.push(row);
    }
    /// Adds an op's record (its first answer, for replays). An op that changed something
    /// has it carried by the ledger row of its first change, with the audit entry that
    /// describes that change; an op that changed nothing keeps it in `applied_ops`.
    pub fn applied(&mut self, row: AppliedOpRow) {
        let first = Earlier {
            result: row.result.clone(),
            digest: row.digest.clone(),
        };
        self.seen.insert(row.op_id.clone(), first);
        let Mark(c0, a0) = self.op_start;
        let change = (c0..self.changes.len()).find(|&i| self.changes[i].by_op(&row.device_id, &row.op_id));
        match change {
            Some(i) => {
                let c = &self.changes[i];
                let audit = (a0..self.audits.len())
                    .find(|&k| {
                        let a = &self.audits[k];
                        c.described_by(a) && a.user_id.as_deref() == Some(row.user_id.as_str())
                    })
                    .map(|k| self.audits.remove(k));
                self.carried.push(Carried {
                    change: i,
                    record: row,
                    audit,
                });
            }
            None => self.applied.push(row),
        }
        self.op_start = self.mark();
    }
    /// Adds a new visit's row (fast path).
    pub fn visit(&mut self, row: VisitRow) {
        self.new_visit_ids.insert(row.id.clone());
        self.pending_visits.push(row);
    }

    /// Adds a new survey response's row (fast path).
    pub fn survey(&mut self, row: SurveyRow) {
        self.new_survey_ids.insert(row.id.clone());
        self.pending_surveys.push(row);
    }

    /// Adds a new resident's rows (fast path).
    pub fn resident(&mut self, row: Resident, tags: Vec<TagRow>) {
        self.new_ids.insert(row.id.clone());
        self.new_id_hashes.insert(row.id_hash.clone());
        self.fast_id_hashes.push(row.id_hash.clone());
        self.pending_residents.push(row);
        self.pending_tags.extend(tags);
    }

    /// Adds a new contract's rows (fast path).
    pub fn contract(&mut self, row: Contract, packages: Vec<PackageRow>) {
        self.new_ids.insert(row.id.clone());
        self.pending_contracts.push(row);
        self.pending_packages.extend(packages);
    }

    /// Whether the fast path holds rows back.
    pub fn has_pending(&self) -> bool {
        !(self.pending_residents.is_empty()
            && self.pending_contracts.is_empty()
            && self.pending_visits.is_empty()
            && self.pending_surveys.is_empty())
    }

    /// Writes the rows the fast path holds back, parents first, so that what follows in
    /// the batch can read them. Every row was checked on the way in; a refusal here is a
    /// bug, and the batch fails whole (nothing stored) so the tablet retries it.
    pub fn write_pending(&mut self, conn: &mut DbConn) -> Result<(), AppError> {
        if !self.pending_residents.is_empty() {
            insert_many!(conn, residents::table, &self.pending_residents).map_err(failed("new residents"))?;
            insert_many!(conn, resident_tags::table, &self.pending_tags).map_err(failed("new residents' tags"))?;
            self.pending_residents.clear();
            self.pending_tags.clear();
        }
        if !self.pending_contracts.is_empty() {
            insert_many!(conn, contracts::table, &self.pending_contracts).map_err(failed("new contracts"))?;
            insert_many!(conn, contract_packages::table, &self.pending_packages)
                .map_err(failed("new contracts' packages"))?;
            self.pending_contracts.clear();
            self.pending_packages.clear();
        }
        if !self.pending_surveys.is_empty() {
            insert_many!(conn, survey_responses::table, &self.pending_surveys)
                .map_err(failed("new survey responses"))?;
            self.pending_surveys.clear();
        }
        if !self.pending_visits.is_empty() {
            insert_many!(conn, visits::table, &self.pending_visits).map_err(failed("new visits"))?;
            self.pending_visits.clear();
        }
        Ok(())
    }

    /// Makes sure no one registered the fast path's new residents' ID numbers while the
    /// batch ran (PostgreSQL; SQLite has one writer at a time). The batch read them
    /// without the county's registration lock, so that concurrent batches do their
    /// checking side by side; the lock is taken here, just before the rows are written,
    /// and held to commit. A number registered meanwhile by another batch makes this one
    /// run again (`write_clash`), and the rerun sees that registration and records the
    /// duplicate as the full path would have.
    pub fn confirm_registrations(&self, conn: &mut DbConn, county: &str) -> Result<(), AppError> {
        use crate::domain::resident;
        if self.fast_id_hashes.is_empty() || crate::db::dialect::writers_are_serial(conn) {
            return Ok(());
        }
        resident::serialise_registrations(conn, county)?;
        // The batch's own rows may be written already; a concurrent replay of this very
        // batch carries the same ids and is caught by the primary key instead.
        let holders = resident::registered(conn, county, &self.fast_id_hashes)?;
        if holders.iter().any(|(id, _)| !self.new_ids.contains(id)) {
            tracing::info!("an ID number was registered by a concurrent batch; running the batch again");
            return Err(AppError::write_clash());
        }
        Ok(())
    }

    /// Where the journal stands before an op.
    pub fn mark(&self) -> Mark {
        Mark(self.changes.len(), self.audits.len())
    }
    /// Forgets what a refused op added (its savepoint is rolled back too).
    pub fn rollback(&mut self, m: Mark) {
        self.changes.truncate(m.0);
        self.audits.truncate(m.1);
    }

    /// Writes everything: positions for the changes, the entities' `change_seq`, audit and
    /// idempotency rows. Rows the fast path still holds are written after the positions
    /// are known, carrying their final `change_seq`; rows written earlier in the batch
    /// are corrected in place.
    pub fn flush(mut self, conn: &mut DbConn) -> Result<(), AppError> {
        if self.changes.is_empty() && self.recorded.is_empty() {
            self.write_pending(conn)?;
            return self.write_unsequenced(conn);
        }
        // Taken by every batch that records an op, changes or not: see `check_records`.
        let base = changelog::lock_head(conn)?;
        self.check_records(conn)?;
        if !self.changes.is_empty() {
            let settle = |seq: &mut i64| {
                if *seq < 0 {
                    *seq = base - *seq;
                }
            };
            // A held row saw no other change in the batch (any op reading it would have
            // written it first), so its creation position is its final one.
            let mut held: HashSet<(&str, String)> = HashSet::new();
            for r in &mut self.pending_residents {
                settle(&mut r.change_seq);
                held.insert(("resident", r.id.clone()));
            }
            for r in &mut self.pending_contracts {
                settle(&mut r.change_seq);
                held.insert(("contract", r.id.clone()));
            }
            for r in &mut self.pending_visits {
                settle(&mut r.change_seq);
                held.insert(("visit", r.id.clone()));
            }
            for r in &mut self.pending_surveys {
                settle(&mut r.change_seq);
                held.insert(("survey", r.id.clone()));
            }
            self.write_pending(conn)?;
            // The last provisional position of each entity is what its row carries.
            let mut entities: HashSet<(&'static str, String)> = HashSet::new();
            let rows: Vec<_> = std::mem::take(&mut self.changes)
                .into_iter()
                .enumerate()
                .map(|(i, c)| c.into_row(base + i as i64 + 1))
                .inspect(|r| {
                    if !held.contains(&(r.entity, r.entity_id.clone())) {
                        entities.insert((r.entity, r.entity_id.clone()));
                    }
                })
                .collect();
            let mut rows = rows;
            for Carried { change, record, audit } in std::mem::take(&mut self.carried) {
                let r = &mut rows[change];
                r.user_id = Some(record.user_id);
                r.status = Some(record.status);
                r.result = Some(record.result);
                r.digest = record.digest;
                if let Some(a) = audit {
                    r.audit_id = Some(a.id);
                    r.audit_action = Some(a.action);
                    r.clinical_at = a.clinical_at;
                    r.detail = a.detail;
                }
            }
            insert_many!(conn, ledger::table, &rows).map_err(failed("ledger rows"))?;
            let mut by_table: HashMap<&'static str, Vec<String>> = HashMap::new();
            for (entity, id) in entities {
                by_table.entry(table_of(entity)).or_default().push(id);
            }
            for (table, ids) in by_table {
                for chunk in ids.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(",");
                    let sql = format!(
                        "UPDATE {table} SET change_seq = ? - change_seq WHERE change_seq < 0 AND id IN ({marks})"
                    );
                    let mut binds: Vec<Bind> = vec![Bind::Int(base)];
                    binds.extend(chunk.iter().map(|id| Bind::Text(id.clone())));
                    raw::execute(conn, &sql, &binds)?;
                }
            }
        } else {
            self.write_pending(conn)?;
        }
        self.write_unsequenced(conn)
    }

    /// Writes the audit and idempotency rows held so far: they carry no change-log
    /// position, so a batch writes them before it queues for the position counter, and
    /// the stretch concurrent batches take one at a time stays short.
    pub fn write_unsequenced(&mut self, conn: &mut DbConn) -> Result<(), AppError> {
        insert_many!(conn, audit_log::table, &self.audits)?;
        insert_many!(conn, applied_ops::table, &self.applied).map_err(failed("idempotency records"))?;
        self.audits.clear();
        self.recorded
            .extend(self.applied.drain(..).map(|r| (r.device_id, r.op_id)));
        Ok(())
    }

    /// Makes sure no concurrent batch recorded one of this batch's ops meanwhile
    /// (PostgreSQL; SQLite has one writer at a time). An op's record is kept in one of two
    /// tables — `applied_ops` if it changed nothing, the ledger if it did — so neither
    /// table's key alone stops the same op (a tablet resending a batch whose answer it
    /// never got while the first is still running) being recorded once in each. Every
    /// batch that records an op checks here, under the position counter's lock, which it
    /// holds to commit: whichever batch comes second sees the first's records and runs
    /// again (`write_clash`), answering those ops as replays.
    fn check_records(&self, conn: &mut DbConn) -> Result<(), AppError> {
        if crate::db::dialect::writers_are_serial(conn) {
            return Ok(());
        }
        let carried: Vec<&AppliedOpRow> = self.carried.iter().map(|c| &c.record).collect();
        let Some(device) = carried
            .first()
            .map(|r| r.device_id.as_str())
            .or_else(|| self.recorded.first().map(|(d, _)| d.as_str()))
        else {
            return Ok(());
        };
        let mine: Vec<&str> = carried.iter().map(|r| r.op_id.as_str()).collect();
        let all: Vec<&str> = mine
            .iter()
            .copied()
            .chain(self.recorded.iter().map(|(_, o)| o.as_str()))
            .collect();
        for chunk in all.chunks(500) {
            let taken: i64 = ledger::table
                .filter(ledger::device_id.eq(device))
                .filter(ledger::op_id.eq_any(chunk))
                .filter(ledger::result.is_not_null())
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(clash());
            }
        }
        for chunk in mine.chunks(500) {
            let taken: i64 = applied_ops::table
                .filter(applied_ops::device_id.eq(device))
                .filter(applied_ops::op_id.eq_any(chunk))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(clash());
            }
        }
        Ok(())
    }
}

fn clash() -> AppError {
    tracing::info!("a concurrent batch recorded the same ops; running the batch again");
    AppError::write_clash()
}

/// Turns a refused multi-row insert of checked rows into an internal error naming them.
/// A taken key is the exception: the batch checked the ids, so another batch wrote the
/// same record meanwhile (a tablet resending a batch whose answer it never got while the
/// first is still running); running this one again answers those ops as duplicates.
fn failed(what: &'static str) -> impl Fn(AppError) -> AppError {
    move |e| {
        if e.code == Code::AlreadyExists {
            tracing::info!(
                what,
                "a concurrent batch wrote the same records; running the batch again"
            );
            AppError::write_clash()
        } else {
            AppError::internal(format!("writing a batch's {what}: {}", e.code))
        }
    }
}

/// The table an entity kind lives in (a fixed list: never user input).
fn table_of(entity: &str) -> &'static str {
    crate::vocabulary::Entity::parse(entity).map_or("not_signed", |e| e.table())
}
