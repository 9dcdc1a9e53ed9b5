//! Offline sync: the delta feed phones pull ([`feed`]), the batch push of their outbox
//! ([`push`]), the devices that sync ([`devices`]) and the conflicts they report
//! ([`conflicts`]).

pub mod conflicts;
pub mod devices;
pub mod feed;
pub mod push;
