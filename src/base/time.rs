//! Time helpers shared by every layer.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// A stored (naive UTC) time as the API sends it.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&t)
}
