//! The domain layer: the records of the field app and the rules that keep them right.
//! Each module holds a resource's read models, input forms, validation, queries and the
//! `*_in` write functions that the REST handlers and the sync push share. Nothing here
//! names a type of the web framework (`tests/layers.rs`).

pub mod audit;
pub mod classes;
pub mod enrollments;
pub mod ethnicities;
pub mod hamlets;
pub mod held;
pub mod idempotency;
pub mod imports;
pub mod members;
pub mod privacy;
pub mod records;
pub mod rights;
pub mod sessions;
pub mod stats;
pub mod sync;
pub mod teams;
pub mod topics;
pub mod trainees;
pub mod units;
pub mod users;
pub mod values;
