//! The records behind `Idempotency-Key` (the HTTP middleware is `crate::http::idempotency`): `Idempotency-Key` for POST requests (IETF httpapi draft): the first response to a POST
//! with a key is stored for 24 hours and replayed for the same key and the same request;
//! the same key with another request is 422 `idempotency_key_reused`; a key whose first
//! request is still being processed is 409 `idempotency_key_in_progress`.
//!
//! Keys belong to the signed-in account (two accounts on one phone never collide). The
//! record lives in the database, so a retry that reaches another instance is answered
//! the same. Sign-in, refresh, reset and password changes are excluded: their responses
//! carry secrets that must not be stored. Server errors (5xx) are not stored, so the
//! client may retry them. A `processing` record older than a minute is treated as
//! abandoned (its instance died) and taken over.

use chrono::Duration;
use diesel::prelude::*;

use crate::base::error::{self, ApiError, Text};
use crate::store::db;
use crate::store::schema::idempotency_keys::dsl as k;

const KEEP_HOURS: i64 = 24;
const ABANDONED_AFTER_SECS: i64 = 60;

/// What to do with a request that carries a key.
pub enum Claim {
    /// We own the key now: run the request and store its response.
    Run,
    /// A finished first response to replay.
    Replay { status: u16, body: String, content_type: Option<String>, etag: Option<String> },
}

/// A first response, as stored for replays.
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// Takes the key for this request, or says what to do instead (replay, 409, 422).
pub fn claim(conn: &mut db::AnyConnection, account: &str, key: &str, hash: &str) -> Result<Claim, ApiError> {
    db::write_tx(conn, |conn| -> Result<_, ApiError> {
        let now = db::now();
        type Row =
            (String, String, Option<i32>, Option<String>, Option<String>, Option<String>, chrono::NaiveDateTime, chrono::NaiveDateTime);
        let existing: Option<Row> = k::idempotency_keys
            .find((account, key))
            .select((
                k::request_hash,
                k::state,
                k::response_status,
                k::response_body,
                k::response_content_type,
                k::response_etag,
                k::created_at,
                k::expires_at,
            ))
            .first(conn)
            .optional()?;
        match existing {
            Some((h, state, status, body, ct, etag, created, expires)) if expires > now => {
                if h != hash {
                    return Err(error::unprocessable(
                        "idempotency_key_reused",
                        Text::new(
                            "Idempotency-Key này đã dùng cho một yêu cầu khác.",
                            "This Idempotency-Key was used for a different request.",
                        ),
                    ));
                }
                if state == "done" {
                    return Ok(Claim::Replay {
                        status: status.unwrap_or(200) as u16,
                        body: body.unwrap_or_default(),
                        content_type: ct,
                        etag,
                    });
                }
                if now - created < Duration::seconds(ABANDONED_AFTER_SECS) {
                    return Err(error::conflict(
                        "idempotency_key_in_progress",
                        Text::new(
                            "Yêu cầu đầu tiên với Idempotency-Key này vẫn đang xử lý; hãy thử lại sau.",
                            "The first request with this Idempotency-Key is still being processed; retry later.",
                        ),
                    ));
                }
                // Abandoned by an instance that died: take it over.
                diesel::update(k::idempotency_keys.find((account, key))).set(k::created_at.eq(now)).execute(conn)?;
                Ok(Claim::Run)
            }
            Some(_) => {
                diesel::update(k::idempotency_keys.find((account, key)))
                    .set((
                        k::request_hash.eq(hash),
                        k::state.eq("processing"),
                        k::response_status.eq(None::<i32>),
                        k::response_body.eq(None::<String>),
                        k::created_at.eq(now),
                        k::expires_at.eq(now + Duration::hours(KEEP_HOURS)),
                    ))
                    .execute(conn)?;
                Ok(Claim::Run)
            }
            None => {
                diesel::insert_into(k::idempotency_keys)
                    .values((
                        k::account_id.eq(account),
                        k::idem_key.eq(key),
                        k::request_hash.eq(hash),
                        k::state.eq("processing"),
                        k::created_at.eq(now),
                        k::expires_at.eq(now + Duration::hours(KEEP_HOURS)),
                    ))
                    .execute(conn)
                    .map_err(|e| match e {
                        // Another instance claimed it a moment ago.
                        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => error::conflict(
                            "idempotency_key_in_progress",
                            Text::new(
                                "Yêu cầu đầu tiên với Idempotency-Key này vẫn đang xử lý; hãy thử lại sau.",
                                "The first request with this Idempotency-Key is still being processed; retry later.",
                            ),
                        ),
                        other => other.into(),
                    })?;
                Ok(Claim::Run)
            }
        }
    })
}

/// Stores the first response to a key's request.
pub fn store(conn: &mut db::AnyConnection, account: &str, key: &str, response: StoredResponse) -> Result<(), ApiError> {
    diesel::update(k::idempotency_keys.find((account, key)))
        .set((
            k::state.eq("done"),
            k::response_status.eq(Some(i32::from(response.status))),
            k::response_body.eq(Some(response.body)),
            k::response_content_type.eq(response.content_type),
            k::response_etag.eq(response.etag),
        ))
        .execute(conn)?;
    Ok(())
}

/// Drops the claim after a failure the client may retry.
pub fn forget(conn: &mut db::AnyConnection, account: &str, key: &str) -> Result<(), ApiError> {
    diesel::delete(k::idempotency_keys.find((account, key))).execute(conn)?;
    Ok(())
}

/// Deletes expired records (run periodically).
pub fn purge(conn: &mut db::AnyConnection) -> Result<usize, ApiError> {
    Ok(diesel::delete(k::idempotency_keys.filter(k::expires_at.lt(db::now()))).execute(conn)?)
}
