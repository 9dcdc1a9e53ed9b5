//! The base layer: what every other layer uses and that uses nothing of ours: the API
//! error type, configuration, Vietnamese text folding, time helpers.

pub mod config;
pub mod error;
pub mod text;
pub mod time;
