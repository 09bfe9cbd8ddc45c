//! The test kit: what the server's tests, the simulator and the benchmarks share — the
//! real app on port 0 against a fresh database (`spawn_app`), push ops (`ops::Op`, one
//! constructor per op kind), valid records and ID numbers (`records`), the raw insert
//! floor (`raw`) and latency quantiles (`stats`).
//! docs/architecture.md says where it sits: it depends on the server, nothing in the
//! server depends on it.

pub mod app;
pub mod ops;
pub mod raw;
pub mod records;
pub mod stats;
pub mod template;

pub use app::*;
pub use ops::Op;
