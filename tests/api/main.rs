//! API tests: each starts the real app on port 0 against its own database — a fresh
//! SQLite file, or a fresh PostgreSQL database when `DATABASE_URL=postgres://…` is set.

mod admin;
mod architecture;
mod auth;
mod authz;
mod browser_suites;
mod cli;
mod contract;
mod create_fields;
mod csv_exports;
mod dashboard_browser;
mod doc_examples;
mod domain_rules;
mod error_codes;
mod field_files;
mod fuzz;
mod helpers;
mod hostile;
mod operations;
mod pii_at_rest;
mod questionnaires;
mod record_shapes;
mod replay;
mod report_exactness;
mod report_incremental;
mod reports;
mod residents;
mod review;
mod scope_oracles;
mod staff;
mod storm;
mod sync;
mod sync_scenarios;
mod transitions;
mod upkeep;
mod worklist;
