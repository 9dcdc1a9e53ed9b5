//! hocvuso: the REST API behind the "Bình dân học vụ số" field app.
//!
//! Layers, top to bottom; a module imports only from its own layer or the ones below it
//! (`tests/layers.rs` checks this, and that no file imports in a circle):
//!
//! - [`cli`]: the command line (the binary's `main` calls [`cli::run`]);
//! - [`server`]: start-up and the assembled HTTP server;
//! - [`http`]: routes, handlers, extractors, middleware, the OpenAPI document;
//! - [`domain`]: records, sync, statistics and reports: rules, queries, the write
//!   functions that REST and the sync push share (no actix-web type);
//! - [`access`]: roles, scopes, policy, sign-in and sessions;
//! - [`store`]: connections, schema, migrations, transactions, row types, audit writing;
//! - [`base`]: errors, configuration, text and time helpers.
//!
//! docs/ARCHITECTURE.md draws the request path and says where new code goes.

pub mod cli;
pub mod server;

pub mod http;

pub mod domain;

pub mod access;

pub mod store;

pub mod base;
