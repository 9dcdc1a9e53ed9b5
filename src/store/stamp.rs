//! How the rows that a write inserts by the hundred (trainees, enrollments, attendance,
//! audit entries, applied operations) bind their timestamps.
//!
//! diesel writes a SQLite timestamp with chrono's `format("%F %T%.f")`, which parses the
//! format string again for every value: a push of 1,000 operations binds about 4,400
//! timestamps, and that parsing was 5 % of its instructions. A field marked
//! `#[diesel(serialize_as = Stamp)]` is written by [`Stamp`] instead, as the very same
//! text (a unit test compares the two over edge cases and random instants); PostgreSQL's
//! binary timestamps go through diesel's own code.
//!
//! A struct with such a field is insertable by value only (diesel's rule for
//! `serialize_as`), which is how [`crate::store::db::insert_chunked`] inserts.

use chrono::{Datelike, NaiveDateTime, Timelike};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Timestamp;

/// A timestamp as an insert binds it (see the module's documentation).
#[derive(Debug, Clone, Copy, diesel::AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct Stamp(pub NaiveDateTime);

impl From<NaiveDateTime> for Stamp {
    fn from(t: NaiveDateTime) -> Self {
        Stamp(t)
    }
}

/// `t` as diesel's SQLite text (`%F %T%.f`): written digit by digit for the years 0–9999
/// and times without a leap second, handed to chrono otherwise.
fn sqlite_text(t: &NaiveDateTime) -> String {
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return t.format("%F %T%.f").to_string();
    }
    // The exact length: diesel turns the text into a boxed `str`, which would reallocate.
    let fraction = match nano {
        0 => 0,
        n if n % 1_000_000 == 0 => 4,
        n if n % 1_000 == 0 => 7,
        _ => 10,
    };
    let mut s = String::with_capacity(19 + fraction);
    put(&mut s, year as u32, 4, None);
    put(&mut s, t.month(), 2, Some('-'));
    put(&mut s, t.day(), 2, Some('-'));
    put(&mut s, t.hour(), 2, Some(' '));
    put(&mut s, t.minute(), 2, Some(':'));
    put(&mut s, t.second(), 2, Some(':'));
    // `%.f`: nothing for a whole second, else 3, 6 or 9 digits, the fewest that are exact.
    if nano != 0 {
        if nano % 1_000_000 == 0 {
            put(&mut s, nano / 1_000_000, 3, Some('.'));
        } else if nano % 1_000 == 0 {
            put(&mut s, nano / 1_000, 6, Some('.'));
        } else {
            put(&mut s, nano, 9, Some('.'));
        }
    }
    s
}

/// Appends `sep` (if any), then `n` in `width` digits with leading zeros.
fn put(s: &mut String, n: u32, width: u32, sep: Option<char>) {
    if let Some(c) = sep {
        s.push(c);
    }
    let mut p = 10u32.pow(width - 1);
    while p > 0 {
        s.push(char::from(b'0' + ((n / p) % 10) as u8));
        p /= 10;
    }
}

impl ToSql<Timestamp, diesel::sqlite::Sqlite> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
        out.set_value(sqlite_text(&self.0));
        Ok(serialize::IsNull::No)
    }
}

impl ToSql<Timestamp, diesel::pg::Pg> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, diesel::pg::Pg>>::to_sql(&self.0, &mut out.reborrow())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn chrono_text(t: &NaiveDateTime) -> String {
        t.format("%F %T%.f").to_string()
    }

    #[test]
    fn the_text_is_diesels_for_edge_cases_and_random_instants() -> Result<(), String> {
        let at = |y, mo, d, h, mi, s, nano| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|d| d.and_hms_nano_opt(h, mi, s, nano))
                .ok_or_else(|| format!("bad instant {y}-{mo}-{d} {h}:{mi}:{s}.{nano}"))
        };
        let mut cases = vec![
            at(2026, 12, 7, 14, 5, 9, 0)?,
            at(2026, 1, 1, 0, 0, 0, 1)?,
            at(2026, 6, 20, 23, 59, 59, 999_999_999)?,
            at(2026, 6, 20, 23, 59, 59, 120_000_000)?,
            at(2026, 6, 20, 23, 59, 59, 123_456_000)?,
            at(2026, 6, 20, 23, 59, 59, 123_456_789)?,
            at(2026, 6, 20, 23, 59, 59, 5_000)?,
            at(0, 1, 1, 0, 0, 0, 0)?,
            at(9999, 12, 31, 23, 59, 59, 999_000)?,
            at(10_000, 1, 1, 0, 0, 0, 0)?,
            at(-1, 3, 4, 5, 6, 7, 8)?,
            // A leap second.
            at(2016, 12, 31, 23, 59, 59, 1_500_000_000)?,
            crate::store::db::now(),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % (9_000 * 366 * 86_400)) as i64 - 62_000_000_000;
            let nano = match x % 4 {
                0 => 0,
                1 => ((x >> 20) % 1_000) as u32 * 1_000_000,
                2 => ((x >> 20) % 1_000_000) as u32 * 1_000,
                _ => ((x >> 20) % 1_000_000_000) as u32,
            };
            cases.push(chrono::DateTime::from_timestamp(secs, nano).ok_or("out of range")?.naive_utc());
        }
        for t in &cases {
            let text = sqlite_text(t);
            assert_eq!(text, chrono_text(t), "{t:?}");
            if (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000 {
                assert_eq!(text.capacity(), text.len(), "{t:?}");
            }
        }
        Ok(())
    }
}
