//! The protocol's vocabularies (crates/jiayi-protocol: `vocabulary`): entity and action
//! kinds, contract states, and the review queue's kinds, states and decisions, where the
//! server's code names them, and how it reads them back from the database. Beside them,
//! the stored texts the domain writes and the reports count by (tags, follow-up kinds,
//! referral directions and states), so both name them from here.

pub use jiayi_protocol::vocabulary::*;

use crate::error::AppError;

/// A vocabulary value read back from `column`. The server wrote it, so text it does not
/// know is corrupt or foreign data: an internal error naming the column and the text,
/// never a panic and never a guess.
pub fn stored<T>(column: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T, AppError> {
    parse(text).ok_or_else(|| AppError::internal(format!("{column} holds {text:?}, which is no value it takes")))
}

/// [`stored`] for a nullable column.
pub fn stored_opt<T>(column: &str, text: Option<&str>, parse: fn(&str) -> Option<T>) -> Result<Option<T>, AppError> {
    text.map(|t| stored(column, t, parse)).transpose()
}

/// Key-population tags recorded on a resident (docs/sync-protocol.md, "Enumerated values").
pub const RECORDED_TAGS: [&str; 10] = [
    "hypertension",
    "diabetes",
    "pregnant",
    "severe_mental",
    "tuberculosis",
    "disability",
    "poverty",
    "dibao",
    "tekun",
    "family_planning_special",
];

/// Visit kinds that count as follow-ups (随访).
pub const FOLLOWUP_KINDS: [&str; 4] = ["htn_followup", "dm_followup", "smi_followup", "tb_followup"];

/// Referral directions and states as stored (docs/sync-protocol.md, "Enumerated values").
pub mod referral {
    /// The directions.
    pub const DIRECTIONS: [&str; 2] = [UP, DOWN];
    /// 上转: to a county or higher hospital.
    pub const UP: &str = "up";
    /// 下转: from a hospital back to the team.
    pub const DOWN: &str = "down";

    /// Referral states.
    pub mod status {
        /// Recorded and sent; the receiving side has not confirmed.
        pub const SENT: &str = "SENT";
        /// The receiving side confirmed.
        pub const RECEIVED: &str = "RECEIVED";
        /// Sent back down to the team with a summary.
        pub const RETURNED: &str = "RETURNED";
        /// Finished without a return.
        pub const CLOSED: &str = "CLOSED";
        /// Withdrawn before it was received.
        pub const CANCELLED: &str = "CANCELLED";
        /// Every state.
        pub const ALL: [&str; 5] = [SENT, RECEIVED, RETURNED, CLOSED, CANCELLED];
    }
}
