//! A push batch's journal of what its ops leave on the ledger. Ops apply one by one, but
//! their ledger rows, their audit entries and their records for replays are kept here and
//! written with a few multi-row inserts at the end of the batch: an op's record and audit
//! entry on its first ledger row when they fit there, the rest to `applied_ops` and
//! `audit_log` (docs/architecture.md, "The ledger"). Ledger positions are taken then,
//! under the counter lock, so that lock is held only for the last moments of the
//! transaction and concurrent batches do the rest of their work side by side
//! ("Ledger positions").

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::insert_many;
use crate::schema::{applied_ops, audit_log, ledger};

use super::append::{lock_head, Change};
use super::audit::AuditRow;

/// An op's record as `applied_ops` stores it: the op's first answer, returned again when
/// the op is sent again.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = applied_ops)]
pub struct OpRecord {
    pub(crate) op_id: String,
    pub(crate) device_id: String,
    pub(crate) user_id: String,
    pub(crate) county_code: String,
    pub(crate) entity: String,
    pub(crate) entity_id: Option<String>,
    pub(crate) action: String,
    pub(crate) status: String,
    pub(crate) result: String,
    pub(crate) received_at: i64,
    /// The op's content digest (`sync::replay::digest`).
    pub(crate) digest: Option<String>,
}

/// An op's first answer as remembered.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// The first result, as JSON.
    pub result: String,
    /// The digest of the op's content; `None` for records kept before digests were.
    pub digest: Option<String>,
}

/// What the batch's ops leave, waiting for the end of the batch.
#[derive(Default)]
pub struct Journal {
    changes: Vec<Change>,
    audits: Vec<AuditRow>,
    /// Records of ops that changed nothing: written to `applied_ops`.
    applied: Vec<OpRecord>,
    /// Records of ops that changed something, each carried by the ledger row of the op's
    /// first change together with the op's audit entry when one describes that change.
    carried: Vec<Carried>,
    /// Where the journal stood when the last op's record was added: what comes after it
    /// is the next op's.
    op_start: Mark,
    /// Results of ops applied earlier in this batch, by op id.
    pub(crate) seen: HashMap<String, Earlier>,
}

/// A point to roll the journal back to when an op is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mark(usize, usize);

/// An op's record and audit entry, written on the ledger row of one of its changes.
struct Carried {
    /// Index of the change in the journal.
    change: usize,
    record: OpRecord,
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
    pub fn applied(&mut self, row: OpRecord) {
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
    /// Where the journal stands before an op.
    pub fn mark(&self) -> Mark {
        Mark(self.changes.len(), self.audits.len())
    }
    /// Forgets what a refused op added (its savepoint is rolled back too).
    pub fn rollback(&mut self, m: Mark) {
        self.changes.truncate(m.0);
        self.audits.truncate(m.1);
    }

    /// Takes the position counter's lock for the batch's changes and returns the newest
    /// position; `None` when the batch changed nothing.
    ///
    /// One op's record is kept in one of two tables — `applied_ops` if it changed nothing,
    /// the ledger if it did — so neither table's key alone would stop the same op being
    /// recorded once in each by two batches of one device running side by side (a tablet
    /// resending a batch whose answer it never got while the first still runs). They never
    /// do: every push begins by updating its device's row (`sync::push::push`), which holds
    /// the second batch until the first commits, and the second then finds the first's
    /// records when it looks its op ids up.
    pub fn lock(&mut self, conn: &mut DbConn) -> Result<Option<i64>, AppError> {
        if self.changes.is_empty() {
            return Ok(None);
        }
        Ok(Some(lock_head(conn)?))
    }

    /// Writes the ledger rows under positions after `base` (from [`Journal::lock`]), each
    /// op's record and audit entry on the row that carries them, corrects the `change_seq`
    /// of the records the batch wrote earlier (those in `settled` were written with their
    /// final one), then the audit and idempotency rows left.
    pub fn write(
        mut self,
        conn: &mut DbConn,
        base: i64,
        settled: &HashSet<(&'static str, String)>,
    ) -> Result<(), AppError> {
        if !self.changes.is_empty() {
            // The last provisional position of each entity is what its row carries.
            let mut entities: HashSet<(&'static str, String)> = HashSet::new();
            let mut rows: Vec<_> = std::mem::take(&mut self.changes)
                .into_iter()
                .enumerate()
                .map(|(i, c)| c.into_row(base + i as i64 + 1))
                .inspect(|r| {
                    if !settled.contains(&(r.entity, r.entity_id.clone())) {
                        entities.insert((r.entity, r.entity_id.clone()));
                    }
                })
                .collect();
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
        }
        self.write_unsequenced(conn)
    }

    /// Writes the audit and idempotency rows held so far: they carry no ledger position,
    /// so a batch writes them before it queues for the position counter, and the stretch
    /// concurrent batches take one at a time stays short.
    pub fn write_unsequenced(&mut self, conn: &mut DbConn) -> Result<(), AppError> {
        insert_many!(conn, audit_log::table, &self.audits)?;
        insert_many!(conn, applied_ops::table, &self.applied).map_err(failed("idempotency records"))?;
        self.audits.clear();
        self.applied.clear();
        Ok(())
    }
}

/// Turns a refused multi-row insert of checked rows into an internal error naming them.
/// A taken key is the exception: the batch checked the ids, so another batch wrote the
/// same record meanwhile (a tablet resending a batch whose answer it never got while the
/// first is still running); running this one again answers those ops as duplicates.
pub(crate) fn failed(what: &'static str) -> impl Fn(AppError) -> AppError {
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
    use crate::vocabulary::Entity;
    match Entity::parse(entity) {
        Some(Entity::Resident) => "residents",
        Some(Entity::Contract) => "contracts",
        Some(Entity::Visit) => "visits",
        Some(Entity::Survey) => "survey_responses",
        Some(Entity::Referral) => "referrals",
        Some(Entity::NotSigned) | None => "not_signed",
    }
}
