//! The push request and answer and the pull page as they travel (the server's
//! docs/sync-protocol.md §2).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorDetail;

/// The push request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Must be the device the access token was issued to.
    pub device_id: String,
    /// The ops, applied in order. Each is checked on its own; a malformed op is refused
    /// alone, so ops are taken as raw JSON here.
    #[schema(value_type = Vec<PushOp>)]
    pub ops: Vec<serde_json::Value>,
}

/// One op as the tablet queued it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushOp {
    /// Client-generated UUID, the idempotency key.
    pub op_id: String,
    /// `resident`, `contract`, `visit`, `survey`, `not_signed` or `referral`.
    pub entity: String,
    /// `create`, `update`, `transition`, `amend` or `delete`.
    pub action: String,
    /// The entity's id (UUIDv7 generated on the tablet).
    pub id: String,
    /// The version the tablet's edit was based on (updates).
    #[serde(default)]
    pub base_version: Option<i64>,
    /// The entity's fields, by entity and action (docs/sync-protocol.md §6): `resident`
    /// create `ResidentPush`, update the changed fields of it; `contract` create
    /// `ContractPush`, transition `ContractTransitionPush`; `visit` and `survey` create or
    /// amend `VisitPush`, `SurveyPush`; `not_signed` create `NotSignedPush`; `referral`
    /// create or amend `ReferralPush`, transition `ReferralTransitionPush`; any delete `{}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Clinical time the tablet recorded the op, RFC 3339 with offset.
    pub recorded_at: String,
}

/// Every value of [`OpResult::status`]; the OpenAPI document lists these as its enum.
pub const OP_STATUSES: [&str; 4] = ["applied", "duplicate", "conflict", "rejected"];

/// What happened to one op (`OpResult::status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Applied now.
    Applied,
    /// A replay of an op applied before: nothing changed this time.
    Duplicate,
    /// Applied by a rule that kept the other side in a conflict record.
    Conflict,
    /// Refused; `error` says why.
    Rejected,
}

impl std::fmt::Display for OpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OpStatus {
    /// The wire text.
    pub const fn as_str(self) -> &'static str {
        match self {
            OpStatus::Applied => "applied",
            OpStatus::Duplicate => "duplicate",
            OpStatus::Conflict => "conflict",
            OpStatus::Rejected => "rejected",
        }
    }
}

/// What happened to one op.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OpResult {
    /// The op's position in the batch, from 0: names the op even when its `op_id` could
    /// not be read.
    #[serde(default)]
    #[schema(required = true)]
    pub index: usize,
    /// The op's id (empty when the op was too malformed to carry one).
    pub op_id: String,
    /// `applied`, `duplicate` (a replay of an applied op), `conflict` or `rejected`. A
    /// replay keeps its first verdict, so a replayed `conflict` or `rejected` reads the same.
    #[schema(value_type = String)]
    pub status: OpStatus,
    /// The entity's version after the op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The conflict record keeping the losing side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict_id: Option<String>,
    /// Why the op was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// Present (`true`) when this device sent the op id before: the answer is the first
    /// one, and nothing changed this time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// The push answer: one result per op, in order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushResponse {
    /// Results in the order of the ops.
    pub results: Vec<OpResult>,
    /// The server's clock, RFC 3339.
    pub server_time: String,
    /// The change-log position the batch reached and this server's mark there
    /// (`<position>.<mark>`): every op answered lies at or before it. Keep the newest and
    /// send it as `X-Sync-Checkpoint` on pushes and pulls; a server restored from an
    /// older backup answers it 409 `resync_required` (`reason: server_restored`).
    pub checkpoint: String,
}

/// One change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PulledChange {
    /// Entity kind.
    pub entity: String,
    /// Entity id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// A tombstone: drop the record.
    pub deleted: bool,
    /// The entity's current fields (null for a tombstone).
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<serde_json::value::RawValue>>,
    /// On a resident's tombstone after a duplicate merge (重复档案合并): the record that
    /// survives. The tablet re-points what it holds for the merged-away id to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

/// A page of changes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PullResponse {
    /// Changes in server order.
    pub changes: Vec<PulledChange>,
    /// Pass back to get what follows.
    pub cursor: String,
    /// More changes are waiting.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_status_is_listed_with_its_wire_text() {
        let all = [
            OpStatus::Applied,
            OpStatus::Duplicate,
            OpStatus::Conflict,
            OpStatus::Rejected,
        ];
        assert_eq!(all.map(OpStatus::as_str), OP_STATUSES);
        for st in all {
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
    }
}
