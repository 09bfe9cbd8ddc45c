//! The test kit's app and helpers (crates/jiayi-testkit), under the name the tests use.

pub use jiayi_testkit::*;
