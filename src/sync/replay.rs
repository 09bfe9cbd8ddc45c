//! Idempotency of push ops. An op id names one op of one device: each op's first answer
//! is kept under (device, op id) with a digest of the op's content — on the ledger row of
//! the op's first change, or in `applied_ops` for an op that changed nothing
//! (`ledger::Journal::applied`). A replay (the same op
//! sent again after a lost answer) gets its first verdict again, marked `replayed`; an op
//! id reused for other content is refused, never taken for a replay.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::access::Caller;
use crate::db::DbConn;
use crate::error::AppError;
use crate::error_codes::Code;
use crate::schema::{applied_ops, ledger};

use super::push::{OpResult, OpStatus};

/// The namespace a device's op ids live in: the device the token was issued to (push
/// checks the body's `device_id` against it). The one place that says what a device is
/// for idempotency.
pub(crate) fn device_key(auth: &Caller) -> &str {
    &auth.device_id
}

pub(crate) use crate::ledger::Earlier;

/// The fields of an op that make its content: everything but the op id.
const CONTENT: [&str; 6] = ["entity", "action", "id", "base_version", "data", "recorded_at"];

/// SHA-256 (hex) of an op's content in a canonical form: the content fields in a fixed
/// order (an absent one as `null`), object keys sorted at every depth. Taken from the op
/// as sent, so a malformed op has a digest too.
pub(crate) fn digest(raw: &Value) -> String {
    let mut h = Sha256::new();
    for field in CONTENT {
        canonical(&mut h, raw.get(field).unwrap_or(&Value::Null));
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Writes a value as JSON with its object keys sorted, whatever order the map keeps them
/// in (serde_json's `preserve_order` feature, if anything in the build enabled it, would
/// keep the tablet's order).
fn canonical(h: &mut Sha256, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            h.update(b"{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(h, &Value::String(k.clone()));
                h.update(b":");
                canonical(h, &m[k]);
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(h, x);
            }
            h.update(b"]");
        }
        scalar => {
            // A scalar's JSON text is already canonical.
            let _ = serde_json::to_writer(HashWriter(h), scalar);
        }
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Looks up, in one query per 500 ops, which of the batch's op ids this device sent before.
pub(crate) fn earlier_results(
    conn: &mut DbConn,
    auth: &Caller,
    ops: &[Value],
) -> Result<HashMap<String, Earlier>, AppError> {
    let ids: Vec<String> = ops
        .iter()
        .filter_map(|o| o.get("op_id").and_then(|v| v.as_str()))
        .filter_map(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.hyphenated().to_string())
        .collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, Option<String>)> = applied_ops::table
            .filter(applied_ops::device_id.eq(device_key(auth)))
            .filter(applied_ops::op_id.eq_any(chunk))
            .select((applied_ops::op_id, applied_ops::result, applied_ops::digest))
            .load(conn)?;
        out.extend(
            rows.into_iter()
                .map(|(id, result, digest)| (id, Earlier { result, digest })),
        );
        // An op that changed something has its record on its first ledger row.
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = ledger::table
            .filter(ledger::device_id.eq(device_key(auth)))
            .filter(ledger::op_id.eq_any(chunk))
            .filter(ledger::result.is_not_null())
            .select((ledger::op_id, ledger::result, ledger::digest))
            .load(conn)?;
        out.extend(rows.into_iter().filter_map(|(id, result, digest)| {
            Some((
                id?,
                Earlier {
                    result: result?,
                    digest,
                },
            ))
        }));
    }
    Ok(out)
}

/// The answer to an op whose id was seen before, at `index` in this batch: its first
/// verdict again (`applied` reads `duplicate`, since nothing changed this time), marked
/// `replayed`; or, when the content differs from the first op's, a refusal
/// (`op_id_reused`) that is neither stored nor remembered.
pub(crate) fn answer(first: &Earlier, op_id: &str, digest: &str, index: usize) -> Result<OpResult, AppError> {
    if first.digest.as_deref().is_some_and(|d| d != digest) {
        let err = AppError::invalid(
            Code::OpIdReused,
            "op_id",
            "this op_id was already used by this device for another op; send this one with a new op_id",
        );
        return Ok(OpResult {
            index,
            op_id: op_id.to_string(),
            status: OpStatus::Rejected,
            version: None,
            conflict_id: None,
            error: Some(err.detail()),
            replayed: false,
        });
    }
    let mut r: OpResult = serde_json::from_str(&first.result).map_err(AppError::internal)?;
    if r.status == OpStatus::Applied {
        r.status = OpStatus::Duplicate;
    }
    r.index = index;
    r.replayed = true;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_key_order_and_the_op_id() {
        let a = json!({ "op_id": "a", "entity": "visit", "action": "create", "id": "x",
                        "recorded_at": "t", "data": { "kind": "k", "measurements": { "systolic": 120, "diastolic": 80 } } });
        let text = r#"{ "data": { "measurements": { "diastolic": 80, "systolic": 120 }, "kind": "k" },
                        "recorded_at": "t", "id": "x", "action": "create", "entity": "visit", "op_id": "b" }"#;
        let b: Value = serde_json::from_str(text).unwrap();
        assert_eq!(digest(&a), digest(&b));
        let mut c = a.clone();
        c["data"]["measurements"]["systolic"] = json!(121);
        assert_ne!(digest(&a), digest(&c));
        let mut d = a.clone();
        d["base_version"] = json!(1);
        assert_ne!(digest(&a), digest(&d));
    }
}
