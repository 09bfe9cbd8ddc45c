//! The error vocabulary (crates/jiayi-protocol: `codes`), where the server's code names it.

pub use jiayi_protocol::codes::*;
