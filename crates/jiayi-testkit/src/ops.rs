//! Push ops as a tablet queues them (docs/sync-protocol.md §2), built in one place. Each
//! test file used to carry its own `fn op(...)` — ten of them, each with its own argument
//! order and its own idea of `recorded_at` — so the envelope was written out a dozen
//! times and a test's call said little about what it varied. [`Op`] has one constructor
//! per op kind the protocol knows (the record's id and its `data`; a delete has no data)
//! and setters for what tests vary:
//!
//! ```
//! use jiayi_testkit::Op;
//! use serde_json::{json, Value};
//!
//! let (rid, vid) = ("0190a1b2-0000-7000-8000-000000000001", "0190a1b2-0000-7000-8000-000000000002");
//! let ops: Vec<Value> = vec![
//!     Op::resident_update(rid, json!({ "phone": "13900000001" })).base_version(1).into(),
//!     Op::visit_delete(vid).recorded_at("2026-03-01T09:30:00+08:00").into(),
//! ];
//! assert_eq!(ops[0]["base_version"], 1);
//! assert_eq!(ops[1]["data"], json!({}));
//! ```
//!
//! Defaults: a fresh UUID v7 `op_id`, `recorded_at` a minute ago in China Standard Time
//! ([`now_cst`]), no `base_version`. Both are fixed when the builder is made, so a clone
//! is the same op (a replay). [`Op::new`] builds any entity and action, also ones the
//! protocol refuses.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::now_cst;
use crate::records::rfc3339;

/// A push op being built: `Value::from(op)` (or `.into()`, or [`Op::build`]) makes the
/// JSON a tablet sends.
#[derive(Clone, Debug)]
#[must_use = "an op is sent only once built into a Value"]
pub struct Op {
    op_id: String,
    entity: String,
    action: String,
    id: String,
    base_version: Option<i64>,
    recorded_at: String,
    data: Value,
}

impl Op {
    /// Any op: `entity`, `action`, the record's `id` and its `data` — for the kinds below
    /// and for ones the protocol does not know (refusal tests).
    pub fn new(entity: &str, action: &str, id: impl Into<String>, data: Value) -> Op {
        Op {
            op_id: Uuid::now_v7().to_string(),
            entity: entity.into(),
            action: action.into(),
            id: id.into(),
            base_version: None,
            recorded_at: now_cst().0,
            data,
        }
    }

    /// A resident registered.
    pub fn resident_create(id: impl Into<String>, data: Value) -> Op {
        Op::new("resident", "create", id, data)
    }

    /// A resident's changed fields (give the edited version with [`Op::base_version`]).
    pub fn resident_update(id: impl Into<String>, data: Value) -> Op {
        Op::new("resident", "update", id, data)
    }

    /// A resident deleted.
    pub fn resident_delete(id: impl Into<String>) -> Op {
        Op::new("resident", "delete", id, json!({}))
    }

    /// A contract created (signed, or a draft).
    pub fn contract_create(id: impl Into<String>, data: Value) -> Op {
        Op::new("contract", "create", id, data)
    }

    /// A contract moved to another state (`to`, `reason`, `at`).
    pub fn contract_transition(id: impl Into<String>, data: Value) -> Op {
        Op::new("contract", "transition", id, data)
    }

    /// A contract deleted.
    pub fn contract_delete(id: impl Into<String>) -> Op {
        Op::new("contract", "delete", id, json!({}))
    }

    /// A visit recorded.
    pub fn visit_create(id: impl Into<String>, data: Value) -> Op {
        Op::new("visit", "create", id, data)
    }

    /// A visit's correction: a new visit whose `data.amends` names the one it replaces.
    pub fn visit_amend(id: impl Into<String>, data: Value) -> Op {
        Op::new("visit", "amend", id, data)
    }

    /// A visit deleted.
    pub fn visit_delete(id: impl Into<String>) -> Op {
        Op::new("visit", "delete", id, json!({}))
    }

    /// A survey answered.
    pub fn survey_create(id: impl Into<String>, data: Value) -> Op {
        Op::new("survey", "create", id, data)
    }

    /// A survey's correction: a new response whose `data.amends` names the one it replaces.
    pub fn survey_amend(id: impl Into<String>, data: Value) -> Op {
        Op::new("survey", "amend", id, data)
    }

    /// A survey deleted.
    pub fn survey_delete(id: impl Into<String>) -> Op {
        Op::new("survey", "delete", id, json!({}))
    }

    /// A resident's reason for not signing, recorded.
    pub fn not_signed_create(id: impl Into<String>, data: Value) -> Op {
        Op::new("not_signed", "create", id, data)
    }

    /// A not-signed record deleted.
    pub fn not_signed_delete(id: impl Into<String>) -> Op {
        Op::new("not_signed", "delete", id, json!({}))
    }

    /// A referral sent.
    pub fn referral_create(id: impl Into<String>, data: Value) -> Op {
        Op::new("referral", "create", id, data)
    }

    /// A referral's correction: a new referral whose `data.amends` names the one it replaces.
    pub fn referral_amend(id: impl Into<String>, data: Value) -> Op {
        Op::new("referral", "amend", id, data)
    }

    /// A referral moved to another state (`to`, `at`, …).
    pub fn referral_transition(id: impl Into<String>, data: Value) -> Op {
        Op::new("referral", "transition", id, data)
    }

    /// A referral deleted.
    pub fn referral_delete(id: impl Into<String>) -> Op {
        Op::new("referral", "delete", id, json!({}))
    }

    /// When the tablet recorded the op (RFC 3339), instead of a minute ago.
    pub fn recorded_at(mut self, at: impl Into<String>) -> Op {
        self.recorded_at = at.into();
        self
    }

    /// When the tablet recorded the op, in milliseconds since the epoch (written +08:00).
    pub fn recorded_ms(self, ms: i64) -> Op {
        self.recorded_at(rfc3339(ms))
    }

    /// Recorded `minutes` before now (which of two edits is the later in clinical time).
    pub fn recorded_minutes_ago(self, minutes: i64) -> Op {
        self.recorded_ms((chrono::Utc::now() - chrono::Duration::minutes(minutes)).timestamp_millis())
    }

    /// The record's version the edit started from.
    pub fn base_version(mut self, version: i64) -> Op {
        self.base_version = Some(version);
        self
    }

    /// This `op_id` instead of a fresh one (a replay, a reused id).
    pub fn op_id(mut self, op_id: impl Into<String>) -> Op {
        self.op_id = op_id.into();
        self
    }

    /// The op as JSON; `base_version` only when set (the server reads an absent one as it
    /// reads `null`: no base).
    pub fn build(self) -> Value {
        let mut op = json!({ "op_id": self.op_id, "entity": self.entity, "action": self.action, "id": self.id,
                             "recorded_at": self.recorded_at, "data": self.data });
        if let Some(v) = self.base_version {
            op["base_version"] = json!(v);
        }
        op
    }
}

impl From<Op> for Value {
    fn from(op: Op) -> Value {
        op.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_fresh_v7_op_id_a_minute_ago_and_no_base_version() {
        let (a, b) = (Op::visit_delete("v").build(), Op::visit_delete("v").build());
        assert_ne!(a["op_id"], b["op_id"]);
        let id = Uuid::parse_str(a["op_id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert!(a["recorded_at"].as_str().unwrap().ends_with("+08:00"), "{a}");
        assert!(a.get("base_version").is_none(), "{a}");
        assert_eq!(
            (&a["entity"], &a["action"], &a["id"], &a["data"]),
            (&json!("visit"), &json!("delete"), &json!("v"), &json!({}))
        );
    }

    #[test]
    fn setters_replace_the_defaults_and_a_clone_is_the_same_op() {
        let op = Op::resident_update("r", json!({ "phone": "1" }))
            .base_version(3)
            .recorded_at("2026-03-01T09:30:00+08:00")
            .op_id("o");
        assert_eq!(
            Value::from(op.clone()),
            json!({ "op_id": "o", "entity": "resident", "action": "update", "id": "r", "base_version": 3,
                    "recorded_at": "2026-03-01T09:30:00+08:00", "data": { "phone": "1" } })
        );
        assert_eq!(op.clone().build(), op.build());
        let ms = Op::visit_create("v", json!({})).recorded_ms(1_772_328_600_000).build();
        assert_eq!(ms["recorded_at"], "2026-03-01T09:30:00+08:00");
    }
}
