//! The new records a push batch's fast path checked without a query (residents,
//! contracts, visits, survey responses): held here and written table by table, with
//! multi-row inserts, before the first op that reads the database or at the end of the
//! batch — then with their final ledger position (docs/architecture.md, "Ledger
//! positions"). What the ops leave on the ledger is in `ledger::Journal`.

use std::collections::HashSet;

use crate::db::DbConn;
use crate::domain::contract::{Contract, PackageRow};
use crate::domain::resident::{Resident, TagRow};
use crate::domain::survey::SurveyRow;
use crate::domain::visit::VisitRow;
use crate::error::AppError;
use crate::insert_many;
use crate::ledger::journal::failed;
use crate::schema::{contract_packages, contracts, resident_tags, residents, survey_responses, visits};

/// New records waiting to be written.
#[derive(Default)]
pub struct Held {
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

impl Held {
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

    /// Gives the rows still held their final ledger positions (`base` is the newest
    /// position before the batch's) and returns which records they are: a held row saw no
    /// other change in the batch (any op reading it would have written it first), so its
    /// creation position is its final one and it needs no correcting afterwards.
    pub fn settle(&mut self, base: i64) -> HashSet<(&'static str, String)> {
        let settle = |seq: &mut i64| {
            if *seq < 0 {
                *seq = base - *seq;
            }
        };
        let mut held = HashSet::new();
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
        held
    }
}
