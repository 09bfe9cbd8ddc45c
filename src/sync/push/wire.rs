//! The push request and answer as they travel (crates/jiayi-protocol: `wire`).

pub use jiayi_protocol::wire::*;
