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
    /// `read`, `list`, `export`.
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
            mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
        }
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => String::new(),
    }
}
