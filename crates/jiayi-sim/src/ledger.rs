//! The check after a run: the server against the tablets' own ledgers. Every op sent must
//! be on the server exactly once with the content sent, or be a recorded conflict, or a
//! rejection kept in quarantine; no record may exist that no tablet sent.
//!
//! The server is read through the API (a county administrator's bootstrap: every live
//! record of the county) and, when the database URL is known, directly: the idempotency
//! records, quarantine rows and conflict records of the run's ops.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use diesel::prelude::*;
use serde_json::Value;

use super::gen::{Group, Intent};
use super::tablet::{outcome, Tablet};
use jiayi::db::views::op_records;
use jiayi::db::Pool;
use jiayi::schema::{conflicts, quarantine};

/// Every live record of the county: id → (entity, data).
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    /// The records.
    pub records: HashMap<String, (String, Value)>,
}

impl Inventory {
    /// From bootstrap records.
    pub fn from_records(records: &[Value]) -> Inventory {
        let mut inv = Inventory::default();
        inv.extend(records.to_vec());
        inv
    }

    /// Adds a page of bootstrap records, keeping their data without copying it.
    pub fn extend(&mut self, records: Vec<Value>) {
        for mut r in records {
            if r["deleted"] == true {
                continue;
            }
            let (Some(id), Some(entity)) = (r["id"].as_str(), r["entity"].as_str()) else {
                continue;
            };
            let key = (id.to_string(), entity.to_string());
            self.records.insert(key.0, (key.1, r["data"].take()));
        }
    }
}

/// What the database says about the run's ops.
#[derive(Debug, Default)]
pub struct DbFacts {
    /// Op ids with an idempotency record, and how many (one, or the op is recorded twice).
    pub journaled: HashMap<String, usize>,
    /// Quarantine rows per op id.
    pub quarantined: HashMap<String, usize>,
    /// Conflict record ids that exist.
    pub conflicts: HashSet<String>,
}

impl DbFacts {
    /// Reads the facts for these ops, each named by its device (the server's id of it,
    /// `device_key` in `/me`: records are keyed by device and op id, so the look-up is
    /// indexed however large the ledger) and op id, and for these conflict ids.
    pub fn load(pool: &Pool, ops: &[(String, String)], conflict_ids: &[String]) -> Result<DbFacts, String> {
        let mut conn = pool.get().map_err(|e| format!("database: {e}"))?;
        let c = &mut *conn;
        let mut f = DbFacts::default();
        let err = |e: diesel::result::Error| format!("database: {e}");
        let mut by_device: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (device, op_id) in ops {
            by_device.entry(device).or_default().push(op_id);
        }
        for (device, op_ids) in &by_device {
            for chunk in op_ids.chunks(500) {
                let found: Vec<Option<String>> = op_records::table
                    .filter(op_records::device_id.eq(*device))
                    .filter(op_records::op_id.eq_any(chunk))
                    .select(op_records::op_id)
                    .load(c)
                    .map_err(err)?;
                for id in found.into_iter().flatten() {
                    *f.journaled.entry(id).or_default() += 1;
                }
            }
        }
        let op_ids: Vec<&str> = ops.iter().map(|(_, op)| op.as_str()).collect();
        for chunk in op_ids.chunks(500) {
            let rows: Vec<Option<String>> = quarantine::table
                .filter(quarantine::op_id.eq_any(chunk))
                .select(quarantine::op_id)
                .load(c)
                .map_err(err)?;
            for id in rows.into_iter().flatten() {
                *f.quarantined.entry(id).or_default() += 1;
            }
        }
        for chunk in conflict_ids.chunks(500) {
            f.conflicts.extend(
                conflicts::table
                    .filter(conflicts::id.eq_any(chunk))
                    .select(conflicts::id)
                    .load::<String>(c)
                    .map_err(err)?,
            );
        }
        Ok(f)
    }
}

/// Counts per entity.
#[derive(Debug, Default, Clone, Copy)]
pub struct Row {
    /// Ops sent.
    pub sent: usize,
    /// Answered applied.
    pub applied: usize,
    /// Answered conflict (stored, other side kept).
    pub conflict: usize,
    /// Answered rejected (expected to be in quarantine).
    pub rejected: usize,
    /// Stored per the answer but missing on the server, or never answered.
    pub lost: usize,
    /// On the server twice, or on the server though no tablet sent it / it was refused.
    pub doubled: usize,
    /// On the server with other content than sent.
    pub altered: usize,
    /// Answered otherwise than the tablet expected.
    pub unexpected: usize,
}

/// One thing wrong.
#[derive(Debug, Clone)]
pub struct Discrepancy {
    /// Short kind (`lost`, `doubled`, …).
    pub kind: &'static str,
    /// Entity.
    pub entity: String,
    /// Op or record id.
    pub id: String,
    /// What was seen.
    pub detail: String,
}

/// The check's outcome.
#[derive(Debug, Default)]
pub struct Report {
    /// Per entity.
    pub rows: BTreeMap<String, Row>,
    /// Everything wrong (empty when the run kept every record).
    pub discrepancies: Vec<Discrepancy>,
    /// Whether the database was read too.
    pub db_checked: bool,
}

impl Report {
    /// Nothing lost, doubled, altered or answered unexpectedly.
    pub fn clean(&self) -> bool {
        self.discrepancies.is_empty()
    }

    /// Totals over entities.
    pub fn total(&self) -> Row {
        self.rows.values().fold(Row::default(), |mut t, r| {
            t.sent += r.sent;
            t.applied += r.applied;
            t.conflict += r.conflict;
            t.rejected += r.rejected;
            t.lost += r.lost;
            t.doubled += r.doubled;
            t.altered += r.altered;
            t.unexpected += r.unexpected;
            t
        })
    }

    /// The summary table, and the first discrepancies.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<11} {:>7} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>11}",
            "entity", "sent", "applied", "conflict", "rejected", "lost", "doubled", "altered", "unexpected"
        );
        let line = |s: &mut String, name: &str, r: &Row| {
            let _ = writeln!(
                s,
                "{:<11} {:>7} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>11}",
                name, r.sent, r.applied, r.conflict, r.rejected, r.lost, r.doubled, r.altered, r.unexpected
            );
        };
        for (e, r) in &self.rows {
            line(&mut s, e, r);
        }
        line(&mut s, "total", &self.total());
        let _ = writeln!(
            s,
            "checked through: API (county bootstrap){}",
            if self.db_checked {
                " + database (idempotency, quarantine, conflicts)"
            } else {
                ""
            }
        );
        for d in self.discrepancies.iter().take(30) {
            let _ = writeln!(s, "  {} {} {}: {}", d.kind, d.entity, d.id, d.detail);
        }
        if self.discrepancies.len() > 30 {
            let _ = writeln!(s, "  … {} more", self.discrepancies.len() - 30);
        }
        s
    }
}

fn instant(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|d| d.timestamp_millis())
}

fn sorted(v: &Value, drop: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    out.retain(|t| !drop.contains(&t.as_str()));
    out.sort();
    out
}

/// Compares what a create op sent with the record on the server; the first difference.
pub fn differs(entity: &str, sent: &Value, stored: &Value) -> Option<String> {
    let same =
        |k: &str| -> Option<String> { (sent[k] != stored[k]).then(|| format!("{k}: {} ≠ {}", sent[k], stored[k])) };
    let same_instant = |k: &str| (instant(&sent[k]) != instant(&stored[k])).then(|| format!("{k} differs"));
    match entity {
        // A resident's values are personal: the difference is named, never shown.
        "resident" => ["village_code", "name", "sex", "birth_date", "household_id"]
            .iter()
            .find(|k| sent[**k] != stored[**k])
            .map(|k| format!("{k} differs"))
            .or_else(|| {
                // `elderly` and `child` are derived from the birth date, never sent.
                (sorted(&sent["tags"], &[]) != sorted(&stored["tags"], &["elderly", "child"]))
                    .then(|| "tags differ".to_string())
            }),
        "contract" => ["resident_id", "team_id", "effective_from"]
            .iter()
            .find_map(|k| same(k))
            .or_else(|| same_instant("signed_at"))
            .or_else(|| {
                (sorted(&sent["packages"], &[]) != sorted(&stored["packages"], &[])).then(|| "packages differ".into())
            })
            .or_else(|| {
                // A stored SIGNED contract reads as ACTIVE inside its term.
                let st = stored["status"].as_str().unwrap_or_default();
                (!matches!(st, "SIGNED" | "ACTIVE")).then(|| format!("status {st}"))
            }),
        "visit" => ["resident_id", "kind"]
            .iter()
            .find_map(|k| same(k))
            .or_else(|| (!sent["contract_id"].is_null()).then(|| same("contract_id")).flatten())
            .or_else(|| same_instant("occurred_at"))
            .or_else(|| {
                let m = sent["measurements"].as_object()?;
                m.iter().find_map(|(k, v)| {
                    let s = stored["measurements"][k].as_f64();
                    (v.as_f64() != s).then(|| format!("measurements.{k}: {v} ≠ {:?}", s))
                })
            }),
        "survey" => ["resident_id", "questionnaire", "questionnaire_version", "answers"]
            .iter()
            .find_map(|k| same(k))
            .or_else(|| same_instant("answered_at")),
        _ => None,
    }
}

/// Checks the server against the ledgers of the round's tablets. `baseline` is the county
/// before the round; `after` the county once every tablet is done.
pub fn check(tablets: &[Tablet], baseline: &Inventory, after: &Inventory, db: Option<&DbFacts>) -> Report {
    let mut rep = Report {
        db_checked: db.is_some(),
        ..Report::default()
    };
    let bad = |rep: &mut Report, kind: &'static str, entity: &str, id: &str, detail: String| {
        rep.discrepancies.push(Discrepancy {
            kind,
            entity: entity.to_string(),
            id: id.to_string(),
            detail,
        });
    };
    // Created ids the answers say are stored.
    let mut stored_ids: HashSet<String> = HashSet::new();
    let mut created_ids: HashSet<String> = HashSet::new();
    let mut groups: BTreeMap<Group, Vec<(i64, String, &'static str, Value)>> = BTreeMap::new();
    for t in tablets {
        for f in &t.failures {
            bad(&mut rep, "failed", "-", &format!("tablet {}", t.index), f.clone());
        }
        for e in &t.ledger {
            let op = &e.planned.op;
            let entity = op["entity"].as_str().unwrap_or_default().to_string();
            let id = op["id"].as_str().unwrap_or_default().to_string();
            let op_id = op["op_id"].as_str().unwrap_or_default();
            let create = op["action"] == "create";
            if create {
                created_ids.insert(id.clone());
            }
            let row = rep.rows.entry(entity.clone()).or_default();
            row.sent += 1;
            let Some(r) = &e.result else {
                row.lost += 1;
                bad(&mut rep, "lost", &entity, op_id, "no answer received".into());
                continue;
            };
            let got = outcome(r);
            match got {
                "applied" => row.applied += 1,
                "conflict" => row.conflict += 1,
                "rejected" => row.rejected += 1,
                _ => {}
            }
            let code = r.error.as_ref().map(|x| x.code.to_string()).unwrap_or_default();
            let as_expected = match e.expected.as_ref().unwrap_or(&e.planned.intent) {
                Intent::Store => got == "applied" || (got == "conflict" && e.planned.group.is_some()),
                Intent::Reject(codes) => got == "rejected" && codes.contains(&code.as_str()),
            };
            if !as_expected {
                row.unexpected += 1;
                let detail = format!("expected {:?}, answered {got} {code}", e.expected);
                bad(&mut rep, "unexpected", &entity, op_id, detail);
            }
            if let Some(m) = &e.replay_mismatch {
                rep.rows.entry(entity.clone()).or_default().unexpected += 1;
                bad(&mut rep, "replay", &entity, op_id, m.clone());
            }
            if let Some(db) = db {
                match db.journaled.get(op_id).copied().unwrap_or(0) {
                    0 => bad(&mut rep, "unjournaled", &entity, op_id, "no idempotency record".into()),
                    1 => {}
                    n => bad(&mut rep, "doubled", &entity, op_id, format!("{n} idempotency records")),
                }
                let q = db.quarantined.get(op_id).copied().unwrap_or(0);
                match (got, q) {
                    ("rejected", 1) | ("applied" | "conflict", 0) => {}
                    ("rejected", 0) => bad(
                        &mut rep,
                        "lost",
                        &entity,
                        op_id,
                        "rejected but not in quarantine".into(),
                    ),
                    (_, n) => bad(&mut rep, "doubled", &entity, op_id, format!("{n} quarantine rows")),
                }
                if let Some(c) = &r.conflict_id {
                    if !db.conflicts.contains(c) {
                        bad(&mut rep, "lost", &entity, op_id, "conflict record missing".into());
                    }
                }
            }
            if let Some(g) = &e.planned.group {
                if got != "rejected" {
                    groups.entry(g.clone()).or_default().push((
                        e.planned.clinical_ms,
                        id.clone(),
                        got,
                        op["data"].clone(),
                    ));
                }
            }
            if got == "rejected" {
                if create && after.records.contains_key(&id) && !baseline.records.contains_key(&id) {
                    rep.rows.entry(entity.clone()).or_default().doubled += 1;
                    bad(&mut rep, "doubled", &entity, &id, "rejected, yet on the server".into());
                }
                continue;
            }
            if !create {
                continue;
            }
            stored_ids.insert(id.clone());
            match after.records.get(&id) {
                None => {
                    rep.rows.entry(entity.clone()).or_default().lost += 1;
                    bad(
                        &mut rep,
                        "lost",
                        &entity,
                        &id,
                        format!("answered {got}, not on the server"),
                    );
                }
                Some((e2, _)) if *e2 != entity => {
                    rep.rows.entry(entity.clone()).or_default().altered += 1;
                    bad(&mut rep, "altered", &entity, &id, format!("stored as {e2}"));
                }
                Some((_, data)) => {
                    if let Some(d) = differs(&entity, &op["data"], data) {
                        rep.rows.entry(entity.clone()).or_default().altered += 1;
                        bad(&mut rep, "altered", &entity, &id, d);
                    }
                }
            }
            if !t.pulled.contains(&id) && t.failures.is_empty() {
                bad(
                    &mut rep,
                    "unpulled",
                    &entity,
                    &id,
                    "not delivered by the tablet's own pull".into(),
                );
            }
        }
    }
    for (g, members) in &groups {
        let conflicts = members.iter().filter(|m| m.2 == "conflict").count();
        if conflicts + 1 != members.len() {
            let detail = format!(
                "{} stored, {conflicts} answered conflict (expected all but one)",
                members.len()
            );
            bad(&mut rep, "unexpected", "group", &format!("{g:?}"), detail);
        }
        if let Group::Clash { resident, field } = g {
            // The edit with the latest clinical time holds the field, compared as the ops
            // carry it (whole seconds): edits of the same second tie, and the server keeps
            // whichever it stored first, so any of them may hold it.
            let latest = members.iter().map(|m| m.0.div_euclid(1000)).max();
            let winners: Vec<Value> = members
                .iter()
                .filter(|m| Some(m.0.div_euclid(1000)) == latest)
                .map(|m| m.3[field.as_str()].clone())
                .collect();
            let now = after.records.get(resident).map(|r| r.1[field.as_str()].clone());
            if !now.as_ref().is_some_and(|v| winners.contains(v)) {
                let detail = format!("{field} is {now:?}, the latest edit sent {winners:?}");
                bad(&mut rep, "altered", "resident", resident, detail);
            }
        }
    }
    // Records nobody sent: new since the baseline, not among the stored creates.
    for (id, (entity, _)) in &after.records {
        if !baseline.records.contains_key(id) && !stored_ids.contains(id) && !created_ids.contains(id) {
            rep.rows.entry(entity.clone()).or_default().doubled += 1;
            bad(
                &mut rep,
                "doubled",
                entity,
                id,
                "on the server, sent by no tablet".into(),
            );
        }
    }
    // Records of the baseline that vanished.
    for (id, (entity, _)) in &baseline.records {
        if !after.records.contains_key(id) {
            rep.rows.entry(entity.clone()).or_default().lost += 1;
            bad(&mut rep, "lost", entity, id, "was on the server before the run".into());
        }
    }
    rep
}
