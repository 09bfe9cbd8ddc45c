//! The ledger: what every write leaves behind (docs/architecture.md, "The ledger"). One
//! row per applied change, in server order — the axis every pull follows — carrying, on
//! an op's first row, the op's record for replays and its audit entry. Below the domain:
//! it knows positions, rows and records, not what the rules mean.

pub mod append;
pub mod audit;
pub mod journal;

pub use append::{append, head, head_mark, mark_at, mark_of, Change};
pub use journal::{Earlier, Journal, Mark, OpRecord};
