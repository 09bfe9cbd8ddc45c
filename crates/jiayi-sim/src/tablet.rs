//! One simulated tablet: logs in on its own device, bootstraps its team, works offline,
//! keeps its queue and the answers it got (its ledger), pushes in batches and pulls.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{Net, Session};
use super::gen::{self, Intent, KnownResident, Planned, Profile};
use jiayi::sync::push::OpResult;

/// Faults a tablet's own sync injects.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every batch is sent twice; the second answer must repeat the first, marked `replayed`.
    pub double: bool,
    /// Batches go out in a shuffled order.
    pub reorder: bool,
    /// Share of pushes first sent half-way over a raw connection, then cut.
    pub cut_off: f64,
    /// Share of pushes first sent whole and dropped before the answer.
    pub drop_answer: f64,
}

/// One queued op and what became of it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The op and what the tablet expected of it on its own.
    pub planned: Planned,
    /// The expectation when it was sent (records it refers to may not have been on the
    /// server then, when batches go out of order).
    pub expected: Option<Intent>,
    /// The last answer received for it.
    pub result: Option<OpResult>,
    /// Set when a replayed batch did not answer this op with its first answer, marked `replayed`.
    pub replay_mismatch: Option<String>,
}

/// What an answer amounts to: a replay keeps its first verdict, and `duplicate` is the
/// replay of an applied op.
pub fn outcome(r: &OpResult) -> &'static str {
    match r.status.as_str() {
        "applied" | "duplicate" => "applied",
        "conflict" => "conflict",
        "rejected" => "rejected",
        _ => "unknown",
    }
}

/// A simulated tablet.
pub struct Tablet {
    /// Number in the run.
    pub index: usize,
    /// Its session.
    pub session: Session,
    /// Team id.
    pub team_id: String,
    /// Team villages.
    pub villages: Vec<String>,
    /// Residents from bootstrap.
    pub shared: Vec<KnownResident>,
    /// Pull cursor from bootstrap.
    pub cursor: String,
    /// Every op and its answer.
    pub ledger: Vec<Entry>,
    /// Ids that came back in the pull after the storm (not tombstones).
    pub pulled: HashSet<String>,
    /// Requests that failed for good.
    pub failures: Vec<String>,
}

impl Tablet {
    /// Logs in and bootstraps.
    pub async fn start(
        net: Arc<Net>,
        index: usize,
        user: &str,
        password: &str,
        device: &str,
    ) -> Result<Tablet, String> {
        let base = net.base.clone();
        Tablet::start_at(net, &base, index, user, password, device).await
    }

    /// [`Tablet::start`] against the server at `base` (one of several on one database).
    pub async fn start_at(
        net: Arc<Net>,
        base: &str,
        index: usize,
        user: &str,
        password: &str,
        device: &str,
    ) -> Result<Tablet, String> {
        let mut session = Session::login_at(net, base, user, password, device).await?;
        let team_id = session.me["team_id"]
            .as_str()
            .ok_or("a tablet user must belong to a team")?;
        let team_id = team_id.to_string();
        let villages: Vec<String> = session.me["villages"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if villages.is_empty() {
            return Err(format!("{user}'s team has no villages"));
        }
        let (records, cursor) = session.bootstrap(5000).await?;
        let mut shared: Vec<KnownResident> = records
            .iter()
            .filter(|r| r["entity"] == "resident" && r["deleted"] != true)
            .filter(|r| r["data"]["merged_into"].is_null())
            .filter_map(|r| {
                Some(KnownResident {
                    id: r["id"].as_str()?.to_string(),
                    version: r["version"].as_i64()?,
                    birth_date: r["data"]["birth_date"].as_str().and_then(|d| d.parse().ok()),
                    tags: r["data"]["tags"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                        .unwrap_or_default(),
                })
            })
            .collect();
        shared.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Tablet {
            index,
            session,
            team_id,
            villages,
            shared,
            cursor,
            ledger: Vec::new(),
            pulled: HashSet::new(),
            failures: Vec::new(),
        })
    }

    /// Records the offline days' work in the queue.
    pub fn plan(&mut self, profile: &Profile, now_ms: i64) {
        let mut p = profile.clone();
        p.team_id = self.team_id.clone();
        p.villages = self.villages.clone();
        self.queue(gen::offline_work(&p, &self.shared, now_ms));
    }

    /// Puts already generated work in the queue (a registration day, `gen::registration_day`).
    pub fn queue(&mut self, planned: Vec<Planned>) {
        self.ledger = planned
            .into_iter()
            .map(|planned| Entry {
                planned,
                expected: None,
                result: None,
                replay_mismatch: None,
            })
            .collect();
    }

    /// Pushes the whole queue in batches.
    pub async fn sync(&mut self, batch: usize, faults: &Faults, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..self.ledger.len().div_ceil(batch.max(1))).collect();
        if faults.reorder {
            order.shuffle(&mut rng);
        }
        // Ids this tablet created that the server holds, by the answers received.
        let mut known: HashSet<String> = HashSet::new();
        for b in order {
            let range = b * batch..((b + 1) * batch).min(self.ledger.len());
            // What to expect, given what the server has from this tablet by now and what
            // this batch stores before each op (kept apart: `known` grows with the queue).
            let mut in_batch: HashSet<String> = HashSet::new();
            for e in &mut self.ledger[range.clone()] {
                let missing: Vec<&'static str> = e
                    .planned
                    .deps
                    .iter()
                    .filter(|(id, _)| !known.contains(id) && !in_batch.contains(id))
                    .map(|(_, code)| *code)
                    .collect();
                let expected = match (&e.planned.intent, missing.is_empty()) {
                    (Intent::Store, true) => Intent::Store,
                    (Intent::Store, false) => Intent::Reject(missing),
                    (Intent::Reject(c), _) => Intent::Reject(c.iter().copied().chain(missing).collect()),
                };
                if expected == Intent::Store {
                    in_batch.insert(e.planned.op["id"].as_str().unwrap_or_default().to_string());
                }
                e.expected = Some(expected);
            }
            let ops: Vec<Value> = self.ledger[range.clone()]
                .iter()
                .map(|e| e.planned.op.clone())
                .collect();
            let body = json!({ "device_id": self.session.device_id, "ops": ops });
            let net = self.session.net().clone();
            // Serialized here only for the raw faults: the plain push costs no extra copy.
            let bytes = || serde_json::to_vec(&body).unwrap_or_default();
            if faults.cut_off > 0.0 && rng.gen_bool(faults.cut_off) {
                net.raw_push(&self.session.access, &bytes(), false).await;
            }
            if faults.drop_answer > 0.0 && rng.gen_bool(faults.drop_answer) {
                net.raw_push(&self.session.access, &bytes(), true).await;
            }
            let first = match self.session.call(Method::POST, "/api/v1/sync/push", Some(&body)).await {
                Ok((v, latency)) => {
                    let mut st = net.lock();
                    st.pushes += 1;
                    st.push_ms.push(latency.as_secs_f64() * 1000.0);
                    v
                }
                Err(e) => {
                    self.failures.push(format!("push of batch {b}: {e}"));
                    continue;
                }
            };
            let results: Vec<OpResult> = serde_json::from_value(first["results"].clone()).unwrap_or_default();
            if results.len() != range.len() {
                self.failures.push(format!(
                    "push of batch {b}: {} results for {} ops",
                    results.len(),
                    range.len()
                ));
                continue;
            }
            for (e, r) in self.ledger[range.clone()].iter_mut().zip(&results) {
                let o = outcome(r);
                if (o == "applied" || o == "conflict") && r.op_id == e.planned.op["op_id"].as_str().unwrap_or_default()
                {
                    known.insert(e.planned.op["id"].as_str().unwrap_or_default().to_string());
                }
                e.result = Some(r.clone());
            }
            net.acked.fetch_add(range.len(), Ordering::Relaxed);
            if faults.double {
                match self.session.call(Method::POST, "/api/v1/sync/push", Some(&body)).await {
                    Ok((v, latency)) => {
                        {
                            let mut st = net.lock();
                            st.pushes += 1;
                            st.push_ms.push(latency.as_secs_f64() * 1000.0);
                        }
                        let again: Vec<OpResult> = serde_json::from_value(v["results"].clone()).unwrap_or_default();
                        for (i, e) in self.ledger[range.clone()].iter_mut().enumerate() {
                            let first = &results[i];
                            let same = again.get(i).is_some_and(|a| {
                                a.replayed
                                    && a.op_id == first.op_id
                                    && outcome(a) == outcome(first)
                                    && a.version == first.version
                                    && a.conflict_id == first.conflict_id
                                    && a.error.as_ref().map(|x| &x.code) == first.error.as_ref().map(|x| &x.code)
                            });
                            if !same {
                                e.replay_mismatch = Some(format!(
                                    "first {:?}, replay {:?}",
                                    first.status,
                                    again.get(i).map(|a| &a.status)
                                ));
                            }
                        }
                    }
                    Err(e) => self.failures.push(format!("replay of batch {b}: {e}")),
                }
            }
        }
    }

    /// Pulls from the bootstrap cursor: everything the team changed, own pushes included.
    pub async fn pull(&mut self) {
        let mut pulled = HashSet::new();
        let got = self
            .session
            .pull_pages(&self.cursor, |page| {
                pulled.extend(page.into_iter().filter(|c| !c.deleted).map(|c| c.id));
            })
            .await;
        match got {
            Ok(cursor) => {
                self.cursor = cursor;
                self.pulled = pulled;
            }
            Err(e) => self.failures.push(format!("pull: {e}")),
        }
    }
}
