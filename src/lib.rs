//! hocvuso: the REST API behind the "Bình dân học vụ số" field app.
//!
//! Shared plumbing: [`config`], [`db`], [`error`], [`http`], [`middleware`], [`policy`],
//! [`audit`], [`openapi`], [`routes`]. Resources: [`auth`], [`users`], [`units`], [`ops`].
//! See docs/ARCHITECTURE.md for the request path.

pub mod app;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod classes;
pub mod cli;
pub mod config;
pub mod conflicts;
pub mod db;
pub mod devices;
pub mod enrollments;
pub mod error;
pub mod ethnicities;
pub mod hamlets;
pub mod http;
pub mod idempotency;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod policy;
pub mod privacy;
pub mod push;
pub mod records;
pub mod reports;
pub mod routes;
pub mod schema;
pub mod stats;
pub mod stats_api;
pub mod sync;
pub mod teams;
pub mod text;
pub mod topics;
pub mod trainees;
pub mod units;
pub mod users;
