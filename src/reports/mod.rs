//! Coverage reports: the indicator dictionary (`indicators`), the queries that compute it
//! (`coverage`), and period arithmetic (`period`).

pub mod coverage;
pub mod indicators;
pub mod period;
