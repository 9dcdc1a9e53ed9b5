//! Throttling of failed sign-ins (login, password reset, password change), kept in the
//! database so that it holds across restarts and across instances behind a load balancer.
//!
//! Each key (`user:NAME`, `addr:IP`, `reset:NAME`) counts failures in a window; reaching the
//! limit blocks the key until the window length has passed since the last failure.
//! Counting uses single atomic UPDATE statements, so concurrent failures on PostgreSQL
//! are all counted (no read-modify-write race).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::base::error::{self, ApiError};
use crate::store::db::AnyConnection;
use crate::store::schema::login_throttle::dsl as t;

/// Returns 429 (with the seconds to wait) if any of `keys` is blocked at `now`.
pub fn check(conn: &mut AnyConnection, keys: &[&str], now: NaiveDateTime) -> Result<(), ApiError> {
    let blocked: Vec<Option<NaiveDateTime>> =
        t::login_throttle.filter(t::key.eq_any(keys)).filter(t::blocked_until.gt(now)).select(t::blocked_until).load(conn)?;
    if let Some(until) = blocked.into_iter().flatten().max() {
        let secs = (until - now).num_milliseconds().max(0) as u64;
        return Err(error::too_many_attempts(secs.div_ceil(1000).max(1)));
    }
    Ok(())
}

/// Counts one failure for `key`; blocks it when `limit` failures fall in one window.
pub fn record_failure(conn: &mut AnyConnection, key: &str, limit: i32, window_secs: i64, now: NaiveDateTime) -> Result<(), ApiError> {
    let window = Duration::seconds(window_secs);
    // A window that has run out starts again.
    diesel::update(t::login_throttle.filter(t::key.eq(key)).filter(t::window_started_at.lt(now - window)))
        .set((t::failures.eq(0), t::window_started_at.eq(now)))
        .execute(conn)?;
    let updated = diesel::update(t::login_throttle.filter(t::key.eq(key))).set(t::failures.eq(t::failures + 1)).execute(conn)?;
    if updated == 0 {
        // In a savepoint: on PostgreSQL a failed statement would otherwise abort the
        // surrounding transaction.
        let inserted = conn.transaction(|c| {
            diesel::insert_into(t::login_throttle)
                .values((t::key.eq(key), t::failures.eq(1), t::window_started_at.eq(now), t::blocked_until.eq(None::<NaiveDateTime>)))
                .execute(c)
        });
        match inserted {
            Ok(_) => {}
            // Another request inserted the row first: count on it instead.
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                diesel::update(t::login_throttle.filter(t::key.eq(key))).set(t::failures.eq(t::failures + 1)).execute(conn)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    diesel::update(t::login_throttle.filter(t::key.eq(key)).filter(t::failures.ge(limit)))
        .set(t::blocked_until.eq(Some(now + window)))
        .execute(conn)?;
    Ok(())
}

/// Forgets the failures of `key` (after a success).
pub fn clear(conn: &mut AnyConnection, key: &str) -> Result<(), ApiError> {
    diesel::delete(t::login_throttle.filter(t::key.eq(key))).execute(conn)?;
    Ok(())
}

pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

pub fn addr_key(addr: &str) -> String {
    format!("addr:{addr}")
}

pub fn reset_key(username: &str) -> String {
    format!("reset:{username}")
}
