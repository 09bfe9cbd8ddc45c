//! Coverage reports: the indicator dictionary (`indicators`), the counting queries
//! (`facts`, summing the `measures`), reports built from them (`coverage`, `trend`), CSV export (`export`),
//! population denominators from the admin API (`denominators`), and period arithmetic
//! (`period`). The review queue lives in `domain::review`.

pub mod cache;
mod contributions;
pub mod coverage;
pub mod denominators;
pub mod detail;
pub mod dhis2;
pub mod export;
pub mod facts;
pub mod fhir;
pub mod indicators;
pub mod measures;
pub mod period;
mod snapshots;
pub mod trend;
