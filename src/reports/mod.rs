//! Coverage reports: the indicator dictionary (`indicators`), the counting queries
//! (`facts`), reports built from them (`coverage`, `trend`), CSV export (`export`),
//! population denominators from the admin API (`denominators`), the review-queue count
//! (`review`), and period arithmetic (`period`).

pub mod cache;
pub mod coverage;
pub mod denominators;
pub mod export;
pub mod facts;
pub mod indicators;
pub mod period;
pub mod review;
pub mod trend;
