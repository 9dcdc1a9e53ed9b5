//! The access log of personal data: every read of a trainee's record and every list that
//! returns names is recorded (who, what, when, how many rows). Entries are buffered in
//! memory and written in batches once a second (and at shutdown), so logging does not add a
//! database write to every read. The price: entries of the last second before a crash can
//! be lost. Nothing else reads the buffer, so several instances each keep their own.

use std::sync::Mutex;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::access::caller::Caller;
use crate::access::policy::Principal;
use crate::base::error::ApiError;
use crate::store::db::{self, AnyConnection, Db};
use crate::store::schema::access_log;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = access_log)]
pub struct AccessEntry {
    pub at: NaiveDateTime,
    pub actor_id: String,
    pub actor_role: String,
    /// What was read: `read` (a person's record), `list` (a list or search; one entry for
    /// the list and one per person), `export`, `sync` (a page of the delta feed),
    /// `conflicts` (the conflict queue or a push's conflict results), `duplicates`
    /// (duplicate hints shown while recording someone).
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub row_count: i32,
    pub request_id: Option<String>,
}

#[derive(Default)]
pub struct AccessLog {
    buffer: Mutex<Vec<AccessEntry>>,
}

impl AccessLog {
    /// Entries waiting to be written.
    pub fn buffered(&self) -> usize {
        self.buffer.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Queues one entry (never blocks on the database).
    pub fn record(&self, caller: &Caller, request_id: &str, action: &str, entity: &str, entity_id: Option<&str>, rows: usize) {
        let entry = AccessEntry {
            at: db::now(),
            actor_id: caller.user.id.clone(),
            actor_role: caller.role().as_str().to_owned(),
            action: action.to_owned(),
            entity: entity.to_owned(),
            entity_id: entity_id.map(str::to_owned),
            row_count: i32::try_from(rows).unwrap_or(i32::MAX),
            request_id: Some(request_id.to_owned()),
        };
        if let Ok(mut b) = self.buffer.lock() {
            b.push(entry);
        }
    }

    /// Queues one entry per person whose data a response returned (`action` says how:
    /// `list`, `sync`, `conflicts`, …), so that each person's export lists every read of
    /// their data, not only reads of their own record.
    pub fn record_people<'a>(&self, caller: &Caller, request_id: &str, action: &str, people: impl IntoIterator<Item = &'a str>) {
        let mut seen = std::collections::BTreeSet::new();
        let at = db::now();
        let entries: Vec<AccessEntry> = people
            .into_iter()
            .filter(|id| seen.insert(*id))
            .map(|id| AccessEntry {
                at,
                actor_id: caller.user.id.clone(),
                actor_role: caller.role().as_str().to_owned(),
                action: action.to_owned(),
                entity: "trainee".to_owned(),
                entity_id: Some(id.to_owned()),
                row_count: 1,
                request_id: Some(request_id.to_owned()),
            })
            .collect();
        if let Ok(mut b) = self.buffer.lock() {
            b.extend(entries);
        }
    }

    /// Writes the queued entries in one transaction; on failure they are queued again.
    pub async fn flush(&self, db: &Db) -> Result<usize, ApiError> {
        let batch: Vec<AccessEntry> = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        let kept = batch.clone();
        let written = db.run(move |conn| db::write_tx(conn, |conn| insert(conn, &batch))).await;
        if let Err(e) = written {
            if let Ok(mut b) = self.buffer.lock() {
                let mut again = kept;
                again.append(&mut b);
                *b = again;
            }
            return Err(e);
        }
        Ok(n)
    }
}

fn insert(conn: &mut AnyConnection, rows: &[AccessEntry]) -> Result<(), ApiError> {
    // Multi-row inserts do not compile through the MultiConnection: run the same statement
    // on the inner connection.
    for chunk in rows.chunks(500) {
        match conn {
            AnyConnection::Sqlite(c) => diesel::insert_into(access_log::table).values(chunk).execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into(access_log::table).values(chunk).execute(c)?,
        };
    }
    Ok(())
}

/// Keyed hash (HMAC-SHA256, hex) of a personal ID number: equal numbers give equal hashes
/// under the same key, so duplicates are found without storing the number.
pub fn id_hash(secret: &crate::base::config::Secret, personal_id: &str) -> String {
    use hmac::{Hmac, Mac};
    match <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.expose()) {
        Ok(mut mac) => {
            mac.update(personal_id.as_bytes());
            base16ct::lower::encode_string(&mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => String::new(),
    }
}

/// How a personal ID number is held anywhere after it arrives (a stored body, a digest, a
/// form passed on inside the server): `hmac-sha256:<keyed hash>:<last four digits>`. The
/// number itself is never stored, not even inside a JSON body or under a plain hash.
pub const REDUCED_ID_PREFIX: &str = "hmac-sha256:";

/// A personal ID number reduced to its keyed hash and last four digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReducedId {
    pub hash: String,
    pub last4: String,
}

impl ReducedId {
    /// From a 12-digit number (spaces allowed) or an already reduced token; `None` for
    /// anything else.
    pub fn from_input(secret: &crate::base::config::Secret, raw: &str) -> Option<ReducedId> {
        if let Some(rest) = raw.strip_prefix(REDUCED_ID_PREFIX) {
            let (hash, last4) = rest.split_once(':')?;
            let ok = hash.len() == 64
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && last4.len() == 4
                && last4.bytes().all(|b| b.is_ascii_digit());
            return ok.then(|| ReducedId { hash: hash.to_owned(), last4: last4.to_owned() });
        }
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(ReducedId { hash: id_hash(secret, &digits), last4: digits[8..].to_owned() })
    }

    pub fn token(&self) -> String {
        format!("{REDUCED_ID_PREFIX}{}:{}", self.hash, self.last4)
    }

    /// What a reader may see: the last four digits.
    pub fn masked(&self) -> String {
        format!("********{}", self.last4)
    }
}

/// Reduces the `personal_id` of a JSON body (a pushed operation, a conflict report) before
/// anything stores or digests it. A valid number becomes its token; anything else that
/// is not already a token is replaced by `"invalid"` when `drop_invalid` (a body that is
/// stored as sent), or left for validation to refuse (an operation that is about to run:
/// a refused operation is not stored).
pub fn reduce_id_in_body(secret: &crate::base::config::Secret, body: &mut serde_json::Value, drop_invalid: bool) {
    let Some(obj) = body.as_object_mut() else { return };
    let Some(v) = obj.get_mut("personal_id") else { return };
    let reduced = v.as_str().and_then(|s| ReducedId::from_input(secret, s));
    match reduced {
        Some(r) => *v = serde_json::Value::String(r.token()),
        None if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) => {}
        None if drop_invalid => *v = serde_json::Value::String("invalid".to_owned()),
        None => {}
    }
}

/// A body as shown to readers: a reduced ID as its last four digits.
pub fn mask_id_in_body(body: &mut serde_json::Value) {
    let Some(v) = body.as_object_mut().and_then(|o| o.get_mut("personal_id")) else { return };
    if let Some(token) = v.as_str().and_then(|s| s.strip_prefix(REDUCED_ID_PREFIX)) {
        let last4 = token.rsplit(':').next().unwrap_or("");
        *v = serde_json::Value::String(format!("********{last4}"));
    }
}
