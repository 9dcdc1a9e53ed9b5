//! Time helpers shared by every layer, and the local calendar: statistics, reports and
//! date checks count in the days of the configured time zone (`HOCVUSO_TIME_ZONE`,
//! Vietnam's UTC+07:00 by default), not in UTC days — a record made at 06:30 in Quảng Ngãi
//! belongs to that day, not the day before.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};

/// A stored (naive UTC) time as the API sends it.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&t)
}

/// Vietnam's offset (Asia/Ho_Chi_Minh has kept UTC+07:00, without daylight saving, since 1975).
pub const VIETNAM: i32 = 7 * 3600;

static ZONE: OnceLock<FixedOffset> = OnceLock::new();

/// Sets the zone of the local calendar once, at start-up (later calls are ignored: one
/// process counts in one zone).
pub fn set_zone(offset: FixedOffset) {
    let _ = ZONE.set(offset);
}

/// The zone of the local calendar (Vietnam's unless configured otherwise).
pub fn zone() -> FixedOffset {
    *ZONE.get_or_init(|| FixedOffset::east_opt(VIETNAM).unwrap_or_else(|| Utc.fix()))
}

/// The local calendar day of a stored (UTC) time.
pub fn local_day(t: NaiveDateTime) -> NaiveDate {
    zone().from_utc_datetime(&t).date_naive()
}

/// Today in the local calendar.
pub fn local_today() -> NaiveDate {
    local_day(Utc::now().naive_utc())
}

/// Parses `HOCVUSO_TIME_ZONE`: `Asia/Ho_Chi_Minh` (or `Asia/Saigon`), `UTC`, or a fixed
/// offset `+07:00` / `-03:30`.
pub fn parse_zone(raw: &str) -> Option<FixedOffset> {
    match raw.trim() {
        "Asia/Ho_Chi_Minh" | "Asia/Saigon" => FixedOffset::east_opt(VIETNAM),
        "UTC" | "Etc/UTC" | "Z" => FixedOffset::east_opt(0),
        s => {
            let (sign, rest) = match s.as_bytes().first()? {
                b'+' => (1, &s[1..]),
                b'-' => (-1, &s[1..]),
                _ => return None,
            };
            let (h, m) = rest.split_once(':')?;
            let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
            if (0..=14).contains(&h) && (0..60).contains(&m) {
                FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_days_start_at_17_utc() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_default();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap_or_default();
        // 23:30 and 00:30 in Quảng Ngãi around the 14/15 June window edge.
        assert_eq!(local_day(t("2026-06-14 16:30")), d(2026, 6, 14));
        assert_eq!(local_day(t("2026-06-14 17:30")), d(2026, 6, 15));
        assert_eq!(parse_zone("+07:00"), FixedOffset::east_opt(VIETNAM));
        assert_eq!(parse_zone("-03:30"), FixedOffset::west_opt(3 * 3600 + 1800));
        assert_eq!(parse_zone("Asia/Ho_Chi_Minh"), FixedOffset::east_opt(VIETNAM));
        assert_eq!(parse_zone("Mars/Olympus"), None);
        assert_eq!(parse_zone("+25:00"), None);
    }
}
