//! The supervisor review queue (审核队列). Its inputs are conflict records (each keeps the
//! side a sync rule did not apply, so nothing a tablet sent is silently overwritten),
//! quarantined ops and contracts held for review; `queue` reads it, `decide` resolves an
//! item with a decision, `merge` joins duplicate residents (重复档案合并).

pub mod decide;
mod merge;
pub mod queue;

pub(crate) use merge::survivor_of;

use diesel::prelude::*;

use super::WriteCtx;
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::conflicts;
use crate::sync::quarantine::sealed;

/// Conflict kinds.
pub mod kind {
    /// The same resident field changed on two tablets; the later clinical time won.
    pub const FIELD_CLASH: &str = "field_clash";
    /// Two contracts in effect for one resident; the later one is held for review.
    pub const DOUBLE_SIGNING: &str = "double_signing";
    /// An append-only record arrived again under its id with other content, or two
    /// amendments of the same record arrived.
    pub const DIVERGENT_APPEND: &str = "divergent_append";
    /// The same ID number registered twice.
    pub const DUPLICATE_RESIDENT: &str = "duplicate_resident";
}

/// Decisions (docs/review.md).
pub mod decision {
    /// Keep what the server holds (a field clash: the server side's values stand).
    pub const KEEP_SERVER: &str = "keep_server";
    /// Apply the tablet's side of a field clash.
    pub const KEEP_CLIENT: &str = "keep_client";
    /// Take the held contract into effect, or re-apply a quarantined op.
    pub const ACCEPT: &str = "accept";
    /// Void the held contract, or close a quarantined op (its payload is kept).
    pub const VOID: &str = "void";
    /// Merge duplicate residents into one record.
    pub const MERGE: &str = "merge";
    /// Close a duplicate candidate whose records no longer share an ID number.
    pub const DISMISS: &str = "dismiss";
    /// Every decision.
    pub const ALL: [&str; 6] = [KEEP_SERVER, KEEP_CLIENT, ACCEPT, VOID, MERGE, DISMISS];
}

/// The decisions an item of `kind` takes.
pub fn decisions_for(kind: &str) -> Vec<String> {
    use decision::*;
    let list: &[&str] = match kind {
        kind::FIELD_CLASH => &[KEEP_SERVER, KEEP_CLIENT],
        kind::DOUBLE_SIGNING | queue::item_kind::PENDING_CONTRACT => &[ACCEPT, VOID, KEEP_SERVER],
        kind::DUPLICATE_RESIDENT => &[MERGE, DISMISS],
        kind::DIVERGENT_APPEND => &[KEEP_SERVER],
        queue::item_kind::QUARANTINE => &[ACCEPT, VOID],
        _ => &[],
    };
    list.iter().map(|d| d.to_string()).collect()
}

/// A conflict to record.
pub struct NewConflict<'a> {
    /// One of [`kind`].
    pub kind: &'static str,
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
    diesel::insert_into(conflicts::table)
        .values((
            conflicts::id.eq(&id),
            conflicts::county_code.eq(c.county_code),
            conflicts::village_code.eq(c.village_code),
            conflicts::kind.eq(c.kind),
            conflicts::entity.eq(c.entity),
            conflicts::entity_id.eq(c.entity_id),
            conflicts::other_entity_id.eq(c.other_entity_id),
            conflicts::field.eq(c.field),
            conflicts::op_id.eq(ctx.op_id),
            conflicts::device_id.eq(&ctx.auth.device_id),
            // Phones (a field clash on one) are kept as quarantine keeps them: not in clear.
            conflicts::server_value.eq(c.server_value.map(|v| sealed(&v, ctx.id_hash_secret).to_string())),
            conflicts::client_value.eq(c.client_value.map(|v| sealed(&v, ctx.id_hash_secret).to_string())),
            conflicts::status.eq(crate::vocabulary::ItemStatus::Open.as_str()),
            conflicts::created_at.eq(ctx.now),
        ))
        .execute(conn)?;
    Ok(id)
}
