//! The rules of the family-doctor service, free of HTTP. A push op and an admin request
//! that change the same record go through the same function here.

pub mod audit;
pub mod catalog;
pub mod contract;
pub mod id_number;
pub mod not_signed;
pub mod population;
pub mod region;
pub mod resident;
pub mod survey;
pub mod team;
pub mod user;
pub mod validate;
pub mod visit;

use crate::auth::Auth;
use crate::time::Millis;

/// Who is writing, from which device, in answer to which op, and when the server received it.
pub struct WriteCtx<'a> {
    /// The caller.
    pub auth: &'a Auth,
    /// The sync op being applied, if any.
    pub op_id: Option<&'a str>,
    /// Server receive time.
    pub now: Millis,
    /// Key for ID-number lookup hashes.
    pub id_hash_secret: &'a str,
    /// Allowed clock skew for clinical times, in milliseconds.
    pub max_skew_ms: i64,
}

/// What a write did: the entity's new version and, if the rules kept a losing side, the conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The entity's id.
    pub id: String,
    /// Its version after the write.
    pub version: i64,
    /// Set when the write was applied by a rule that kept the other side in a conflict record.
    pub conflict_id: Option<String>,
}
