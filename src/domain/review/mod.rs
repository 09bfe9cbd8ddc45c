//! The supervisor review queue (审核队列). Its inputs are conflict records (each keeps the
//! side a sync rule did not apply, so nothing a tablet sent is silently overwritten),
//! quarantined ops and contracts held for review; `queue` reads it, `decide` resolves an
//! item with a decision, `merge` joins duplicate residents (重复档案合并).

pub mod decide;
mod merge;
pub mod queue;

pub(crate) use merge::survivor_of;

use super::{conflict, WriteCtx};
use crate::db::DbConn;
use crate::error::AppError;
use crate::sync::quarantine::sealed;
use crate::vocabulary::{ConflictKind, Decision, ItemKind};

/// The decisions an item of `kind` takes while open.
pub fn decisions_for(kind: ItemKind) -> &'static [Decision] {
    use Decision::*;
    match kind {
        ItemKind::Conflict(ConflictKind::FieldClash) => &[KeepServer, KeepClient],
        ItemKind::Conflict(ConflictKind::DoubleSigning) | ItemKind::PendingContract => &[Accept, Void, KeepServer],
        ItemKind::Conflict(ConflictKind::DuplicateResident) => &[Merge, Dismiss],
        ItemKind::Conflict(ConflictKind::DivergentAppend) => &[KeepServer],
        ItemKind::Quarantine => &[Accept, Void],
    }
}

/// A conflict to record.
pub struct NewConflict<'a> {
    /// What the conflict is about.
    pub kind: ConflictKind,
    /// Entity kind.
    pub entity: &'static str,
    /// The entity the op concerned.
    pub entity_id: &'a str,
    /// The other record involved, if any.
    pub other_entity_id: Option<&'a str>,
    /// The fields that clashed, comma-separated.
    pub field: Option<String>,
    /// The county.
    pub county_code: &'a str,
    /// The village, for the township's queue.
    pub village_code: Option<&'a str>,
    /// The server side (what is or was stored).
    pub server_value: Option<serde_json::Value>,
    /// The client side (what the op sent).
    pub client_value: Option<serde_json::Value>,
}

/// Opens a conflict record in the review queue and returns its id.
pub fn open_conflict(conn: &mut DbConn, ctx: &WriteCtx, c: NewConflict) -> Result<String, AppError> {
    let id = uuid::Uuid::now_v7().to_string();
    // Phones (a field clash on one) are kept as quarantine keeps them: not in clear.
    let seal = |v: Option<serde_json::Value>| v.map(|v| sealed(&v, ctx.id_hash_secret).to_string());
    conflict::insert(
        conn,
        conflict::NewRow {
            id: &id,
            county_code: c.county_code,
            village_code: c.village_code,
            kind: c.kind.as_str(),
            entity: c.entity,
            entity_id: c.entity_id,
            other_entity_id: c.other_entity_id,
            field: c.field,
            op_id: ctx.op_id,
            device_id: &ctx.auth.device_id,
            server_value: seal(c.server_value),
            client_value: seal(c.client_value),
            created_at: ctx.now,
        },
    )?;
    Ok(id)
}
