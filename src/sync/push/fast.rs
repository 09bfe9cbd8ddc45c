//! The fast path: new records whose references and ids the batch settles from what it
//! loaded, checked by the same rule code and written in multi-row inserts
//! (docs/architecture.md, "Ledger positions").

use super::*;
use crate::vocabulary::ContractStatus;

/// New residents, contracts, visits and survey responses whose references and ids the
/// batch settles without a query take the fast path; this names which, if any.
pub(super) fn fast_kind(op: &PushOp) -> Option<&'static str> {
    let plain = op.action == "create" && op.data.get("amends").is_none_or(|a| a.is_null());
    match op.entity.as_str() {
        "resident" if plain => Some("resident"),
        "contract" if plain => Some("contract"),
        "visit" if plain => Some("visit"),
        "survey" if plain => Some("survey"),
        _ => None,
    }
}

/// What the fast path needs, loaded with one query per table.
pub(super) struct FastPath {
    pub(super) residents: HashMap<String, Resident>,
    pub(super) merged: HashMap<String, String>,
    pub(super) redirected: HashMap<String, Resident>,
    pub(super) known_ids: HashSet<String>,
    pub(super) questionnaires: HashMap<(String, i32), Option<survey::Questionnaire>>,
    pub(super) id_hashes_taken: HashSet<String>,
    pub(super) in_effect: HashMap<String, Vec<(NaiveDate, NaiveDate)>>,
    pub(super) signing: Option<(contract::Catalog, u32)>,
}

/// Loads what the batch's creates refer to: the residents their records name (visible to
/// the caller), which of their ids exist already, which of the new residents' ID numbers
/// are registered, the contracts in effect of the residents being signed, the catalog and
/// term, and the questionnaire versions named.
pub(super) fn fast_path_context(
    conn: &mut DbConn,
    auth: &Caller,
    ops: &[serde_json::Value],
    id_hash_secret: &str,
) -> Result<FastPath, AppError> {
    use crate::schema::{contracts, residents, survey_responses, visits};
    let kind = |o: &serde_json::Value| {
        let e = o.get("entity").and_then(|e| e.as_str());
        let create = o.get("action").and_then(|e| e.as_str()) == Some("create");
        e.filter(|e| create && matches!(*e, "resident" | "contract" | "visit" | "survey"))
            .map(str::to_string)
    };
    // Text holding NUL cannot reach a query (PostgreSQL refuses it); such ops are refused.
    let text = |o: &serde_json::Value, path: &[&str]| {
        path.iter()
            .try_fold(o, |v, k| v.get(k))
            .and_then(|v| v.as_str())
            .filter(|s| !s.contains('\0'))
            .map(str::to_string)
    };
    let new: Vec<(String, &serde_json::Value)> = ops.iter().filter_map(|o| kind(o).map(|k| (k, o))).collect();
    let referring = |kinds: &[&str]| -> Vec<String> {
        let mut ids: Vec<String> = new
            .iter()
            .filter(|(e, _)| kinds.contains(&e.as_str()))
            .filter_map(|(_, o)| text(o, &["data", "resident_id"]))
            .map(|s| canonical(&s))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    // Every resident an op names: new records' residents, and residents being edited
    // (to find those merged away).
    let mut resident_ids: Vec<String> = ops
        .iter()
        .filter_map(|o| {
            let edit = o.get("entity").and_then(|e| e.as_str()) == Some("resident")
                && o.get("action").and_then(|e| e.as_str()) == Some("update");
            if edit {
                text(o, &["id"])
            } else {
                text(o, &["data", "resident_id"])
            }
        })
        .map(|s| canonical(&s))
        .collect();
    resident_ids.sort();
    resident_ids.dedup();
    let mut residents_found = HashMap::new();
    let mut merged_away = Vec::new();
    for chunk in resident_ids.chunks(500) {
        let list: Vec<Resident> = residents::table
            .filter(residents::id.eq_any(chunk))
            .select(Resident::as_select())
            .load(conn)?;
        for r in list {
            if r.merged_into.is_some() {
                merged_away.push(r);
            } else if !r.deleted && auth.scope.covers_village(&r.village_code) {
                residents_found.insert(r.id.clone(), r);
            }
        }
    }
    let (merged, redirected) = survivors(conn, auth, merged_away)?;
    let ids_of = |k: &str| -> Vec<String> {
        new.iter()
            .filter(|(e, _)| e == k)
            .filter_map(|(_, o)| text(o, &["id"]))
            .map(|s| canonical(&s))
            .collect()
    };
    let mut known_ids = HashSet::new();
    macro_rules! existing {
        ($kind:expr, $table:ident) => {
            for chunk in ids_of($kind).chunks(500) {
                known_ids.extend(
                    $table::table
                        .filter($table::id.eq_any(chunk))
                        .select($table::id)
                        .load::<String>(conn)?,
                );
            }
        };
    }
    existing!("resident", residents);
    existing!("contract", contracts);
    existing!("visit", visits);
    existing!("survey", survey_responses);
    // A number that does not parse is refused by the op's own checks.
    let hashes: Vec<String> = new
        .iter()
        .filter(|(e, _)| e == "resident")
        .filter_map(|(_, o)| text(o, &["data", "id_number"]))
        .filter_map(|n| IdNumber::parse(&n).ok())
        .map(|n| n.keyed_hash(id_hash_secret))
        .collect();
    // Read without the county's registration lock, so that batches work side by side;
    // `Held::confirm_registrations` takes the lock just before writing and checks again.
    let id_hashes_taken: HashSet<String> = resident::registered(conn, &auth.county_code, &hashes)?
        .into_iter()
        .map(|(_, hash)| hash)
        .collect();
    let signed_for = referring(&["contract"]);
    // A batch signing the same resident at the same moment waits for this one (PostgreSQL),
    // so the contracts in effect read here stay true until commit.
    resident::lock_rows(conn, &signed_for)?;
    let mut in_effect: HashMap<String, Vec<(NaiveDate, NaiveDate)>> = HashMap::new();
    for chunk in signed_for.chunks(500) {
        let rows: Vec<(String, String, String)> = contracts::table
            .filter(contracts::resident_id.eq_any(chunk))
            .filter(contracts::deleted.eq(false))
            .filter(contracts::status.eq_any(contract::IN_EFFECT.map(ContractStatus::as_str)))
            .filter(contracts::ended_on.is_null())
            .select((
                contracts::resident_id,
                contracts::effective_from,
                contracts::effective_to,
            ))
            .load(conn)?;
        for (r, from, to) in rows {
            if let (Some(from), Some(to)) = (contract::stored_date(&from), contract::stored_date(&to)) {
                in_effect.entry(r).or_default().push((from, to));
            }
        }
    }
    let signing = if new.iter().any(|(e, _)| e == "contract") {
        Some((
            contract::catalog(conn, &auth.county_code)?,
            contract::term_months(conn, &auth.county_code)?,
        ))
    } else {
        None
    };
    let mut questionnaires = HashMap::new();
    for (_, o) in new.iter().filter(|(e, _)| e == "survey") {
        let code = text(o, &["data", "questionnaire"]);
        let version = o
            .get("data")
            .and_then(|d| d.get("questionnaire_version"))
            .and_then(|v| v.as_i64());
        if let (Some(code), Some(version)) = (code, version.and_then(|v| i32::try_from(v).ok())) {
            if !questionnaires.contains_key(&(code.clone(), version)) {
                let q = survey::questionnaire(conn, &auth.county_code, &code, version)?;
                questionnaires.insert((code, version), q);
            }
        }
    }
    Ok(FastPath {
        residents: residents_found,
        merged,
        redirected,
        known_ids,
        questionnaires,
        id_hashes_taken,
        in_effect,
        signing,
    })
}

/// Merged-away id → survivor id, and merged-away id → survivor for the fast path.
type Survivors = (HashMap<String, String>, HashMap<String, Resident>);

/// Each merged-away resident's survivor (merged-away id → survivor id), and the survivors
/// of those the caller could see (by merged-away id) for the fast path.
pub(super) fn survivors(conn: &mut DbConn, auth: &Caller, merged_away: Vec<Resident>) -> Result<Survivors, AppError> {
    let (mut merged, mut redirected) = (HashMap::new(), HashMap::new());
    for r in merged_away {
        if let Some(s) = domain::review::survivor_of(conn, &r.id)?.filter(|s| !s.deleted) {
            merged.insert(r.id.clone(), s.id.clone());
            if auth.scope.covers_village(&r.village_code) {
                redirected.insert(r.id, s);
            }
        }
    }
    Ok((merged, redirected))
}

/// Points an op that names a merged-away resident at the survivor. An edit of the merged-away
/// record is merged field by field into the survivor as if made on its first version: what the
/// survivor changed later in clinical time stays, and the edit's losing values go to a field
/// clash for review. Returns the merged-away id when the op was redirected.
pub(super) fn redirect(merged: &HashMap<String, String>, op: &mut PushOp) -> Option<String> {
    let named = match (op.entity.as_str(), op.action.as_str()) {
        ("resident", "update") => canonical(&op.id),
        ("resident", _) => return None,
        _ => canonical(op.data.get("resident_id")?.as_str()?),
    };
    let survivor = merged.get(&named)?;
    if op.entity == "resident" {
        op.id = survivor.clone();
        op.base_version = Some(1);
    } else if let Some(d) = op.data.as_object_mut() {
        d.insert("resident_id".into(), survivor.clone().into());
    }
    Some(named)
}

/// Applies a create on the fast path: checked in Rust against what the batch loaded, its
/// rows held (`sync::held`). `Ok(None)` when the batch cannot settle it without the
/// database (the op then takes the full path, which gives the same answer).
/// `via` names the merged-away resident the op was redirected from: its survivor comes
/// from the batch's redirections (a new visit or response), and a new contract for it takes
/// the full path, which reads the survivor's contracts in effect.
pub(super) fn apply_fast(
    b: &Batch,
    ctx: &WriteCtx,
    op: &PushOp,
    kind: &str,
    recorded: crate::time::ClinicalTime,
    via: Option<&str>,
) -> Result<Option<Applied>, AppError> {
    let id = result_id(op);
    let resident_of = |data: &serde_json::Value| match via {
        Some(_) if kind == "contract" => None,
        Some(away) => b.redirected.borrow().get(away).cloned(),
        None => data
            .get("resident_id")
            .and_then(|v| v.as_str())
            .and_then(|r| b.residents.borrow().get(&canonical(r)).cloned()),
    };
    let unused = |id: &str| {
        !b.known_ids.contains(id) && {
            let j = b.held.borrow();
            !j.new_ids.contains(id) && !j.new_visit_ids.contains(id) && !j.new_survey_ids.contains(id)
        }
    };
    match kind {
        "resident" => {
            let d: resident::ResidentData = parse(&op.data)?;
            let settled = |id: &str, hash: &str| {
                unused(id) && !b.id_hashes_taken.contains(hash) && !b.held.borrow().new_id_hashes.contains(hash)
            };
            let Some((a, new)) = resident::create_in_batch(ctx, &op.id, &d, recorded.at, recorded.local_date, settled)?
            else {
                return Ok(None);
            };
            b.residents.borrow_mut().insert(new.row.id.clone(), new.row.clone());
            b.held.borrow_mut().resident(new.row, new.tags);
            Ok(Some(a))
        }
        "contract" => {
            let (Some(res), Some((catalog, term_months)), false) =
                (resident_of(&op.data), b.signing.as_ref(), b.contracts_touched.get())
            else {
                return Ok(None);
            };
            let d: contract::ContractData = parse(&op.data)?;
            let signed = ContractStatus::parse(&d.status) == Some(ContractStatus::Signed);
            let settled = |id: &str, from: NaiveDate, to: NaiveDate| {
                let overlaps = b
                    .in_effect
                    .borrow()
                    .get(&res.id)
                    .is_some_and(|terms| terms.iter().any(|(f, t)| *f <= to && *t >= from));
                unused(id) && !(signed && overlaps)
            };
            let known = contract::BatchSigning {
                catalog,
                term_months: *term_months,
            };
            let Some((a, new)) = contract::create_in_batch(ctx, &op.id, &d, &res, &known, recorded.at, settled)? else {
                return Ok(None);
            };
            if signed {
                let terms = (
                    contract::stored_date(&new.row.effective_from),
                    contract::stored_date(&new.row.effective_to),
                );
                if let (Some(f), Some(t)) = terms {
                    b.in_effect.borrow_mut().entry(res.id.clone()).or_default().push((f, t));
                }
            }
            b.held.borrow_mut().contract(new.row, new.packages);
            Ok(Some(a))
        }
        _ => {
            let Some(res) = resident_of(&op.data).filter(|_| unused(&id)) else {
                return Ok(None);
            };
            if kind == "visit" {
                let (a, row) = visit::create_in_batch(ctx, &op.id, &parse(&op.data)?, &res)?;
                b.held.borrow_mut().visit(row);
                Ok(Some(a))
            } else {
                let d: survey::SurveyData = parse(&op.data)?;
                let q = b
                    .questionnaires
                    .get(&(d.questionnaire.clone(), d.questionnaire_version))
                    .cloned()
                    .flatten();
                let (a, row) = survey::create_in_batch(ctx, &op.id, &d, &res, q.as_ref())?;
                b.held.borrow_mut().survey(row);
                Ok(Some(a))
            }
        }
    }
}
