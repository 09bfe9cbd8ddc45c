//! API tests: each starts the real app on port 0 against its own database — a fresh
//! SQLite file, or a fresh PostgreSQL database when `DATABASE_URL=postgres://…` is set.

mod admin;
mod auth;
mod cli;
mod dashboard_browser;
mod helpers;
mod operations;
mod report_exactness;
mod reports;
mod residents;
mod sim;
mod sync;
mod sync_scenarios;
