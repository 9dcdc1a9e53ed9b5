//! The access layer: who is calling ([`caller`]), what they may do where ([`policy`]),
//! and how they sign in ([`auth`], [`password`], [`token`], [`throttle`]).

pub mod auth;
pub mod caller;
pub mod password;
pub mod policy;
pub mod throttle;
pub mod token;
