//! The tablet sync protocol (docs/sync-protocol.md): push, pull with signed cursors and
//! bootstrap, over the ledger every write appends to (`crate::ledger`).

pub mod admission;
pub mod blob;
pub mod bootstrap;
pub mod cursor;
pub mod held;
pub mod pull;
pub mod push;
pub mod quarantine;
pub mod rate_limit;
pub mod record;
pub mod replay;
pub mod snapshot;
