//! The protocol's entity and action kinds and item statuses (crates/jiayi-protocol:
//! `vocabulary`), where the server's code names them.

pub use jiayi_protocol::vocabulary::*;
