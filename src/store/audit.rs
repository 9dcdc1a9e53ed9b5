//! The audit log: every write through the API appends who did what to which record, in
//! the same transaction as the write, so the log and the data never disagree.

use diesel::prelude::*;

use crate::base::error::ApiError;
use crate::store::db::{self, AnyConnection};
use crate::store::schema::audit_log;

/// One audit entry. `changed_fields` lists field names only, never values: the log must
/// not become a second copy of personal data.
pub struct AuditEntry<'a> {
    pub actor_id: Option<&'a str>,
    /// The actor's role (`admin`, `officer`, …).
    pub actor_role: Option<&'a str>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub commune_code: Option<&'a str>,
    pub province_code: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub changed_fields: &'a [&'a str],
}

/// An audit entry held until the end of its write ([`crate::domain::records::Write`]), then
/// inserted with the others of the write in one statement.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct PendingEntry {
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    pub at: chrono::NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub commune_code: Option<String>,
    pub province_code: Option<String>,
    pub request_id: Option<String>,
    pub changed_fields: String,
}

impl PendingEntry {
    pub fn new(entry: &AuditEntry<'_>) -> Result<Self, ApiError> {
        Ok(PendingEntry {
            at: db::now(),
            actor_id: entry.actor_id.map(str::to_owned),
            actor_role: entry.actor_role.map(str::to_owned),
            action: entry.action.to_owned(),
            entity: entry.entity.to_owned(),
            entity_id: entry.entity_id.to_owned(),
            commune_code: entry.commune_code.map(str::to_owned),
            province_code: entry.province_code.map(str::to_owned),
            request_id: entry.request_id.map(str::to_owned),
            changed_fields: serde_json::to_string(entry.changed_fields).map_err(|e| ApiError::internal(format!("audit fields: {e}")))?,
        })
    }
}

/// Inserts held entries, in order (their ids follow that order).
pub fn record_many(conn: &mut AnyConnection, entries: Vec<PendingEntry>) -> Result<(), ApiError> {
    db::insert_chunked!(conn, audit_log::table, entries);
    Ok(())
}

/// Inserts one entry now (writes that are not a [`crate::domain::records::Write`]: accounts,
/// sign-in events).
pub fn record(conn: &mut AnyConnection, entry: &AuditEntry<'_>) -> Result<(), ApiError> {
    record_many(conn, vec![PendingEntry::new(entry)?])
}
