//! The HTTP layer: every route ([`routes`]), the handlers (one file per resource, named
//! like its domain module), extractors, middleware, problem rendering and the OpenAPI
//! document. A handler extracts, runs the domain on the blocking pool and builds the
//! response; it writes no SQL.

pub mod audit;
pub mod auth;
pub mod classes;
pub mod enrollments;
pub mod extract;
pub mod hamlets;
pub mod idempotency;
pub mod imports;
pub mod known_params;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod reports;
pub mod respond;
pub mod responses;
pub mod routes;
pub mod state;
pub mod stats;
pub mod sync;
pub mod teams;
pub mod text_guard;
pub mod topics;
pub mod trainees;
pub mod units;
pub mod users;
