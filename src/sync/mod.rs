//! The tablet sync protocol (docs/sync-protocol.md): the change log every write appends to, push,
//! pull with signed cursors.

pub mod admission;
pub mod blob;
pub mod bootstrap;
pub mod changelog;
pub mod cursor;
pub mod journal;
pub mod pull;
pub mod push;
pub mod quarantine;
pub mod rate_limit;
pub mod record;
pub mod replay;
pub mod snapshot;
