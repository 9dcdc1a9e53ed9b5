//! The end-to-end tests, one module per area, in one test binary: one crate to compile and
//! link instead of one per file (CI builds them all from a clean clone). A test that needs
//! the process to itself (it changes process-wide state) lives beside this folder in a
//! binary of its own, like `tests/storage_full.rs`.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod backup;
mod cli;
mod config;
mod errors;
mod feed_concurrency;
mod gates;
mod idempotency;
mod imports;
mod layers;
mod metrics;
mod openapi;
mod phone;
mod privacy;
mod push;
mod schema_parity;
mod server;
mod stats;
mod stats_api;
mod stats_meaning;
mod stats_privacy;
mod sync;
mod teams_classes;
mod tolerance;
mod trainees;
mod units_import;
mod users;
