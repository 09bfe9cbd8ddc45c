//! Coverage reports: the indicator dictionary (`indicators`), the counting queries
//! (`facts`, summing the `measures`), reports built from them (`coverage`, `trend`), CSV export (`export`),
//! the regions a report is over (`places`), and period arithmetic (`period`). Population
//! denominators are stored by the domain (`domain::population`) and read here from their
//! table. The review queue lives in `domain::review`.

pub mod cache;
mod contributions;
pub mod coverage;
pub mod detail;
pub mod dhis2;
pub mod export;
pub mod facts;
pub mod fhir;
pub mod indicators;
pub mod measures;
pub mod period;
pub mod places;
mod snapshots;
pub mod trend;
