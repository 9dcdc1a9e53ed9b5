//! The audit log: every write through the API appends who did what to which record, in
//! the same transaction as the write, so the log and the data never disagree.

use diesel::prelude::*;

use crate::db::{self, AnyConnection};
use crate::error::ApiError;
use crate::policy::Role;
use crate::schema::audit_log;

/// One audit entry. `changed_fields` lists field names only, never values: the log must
/// not become a second copy of personal data.
pub struct AuditEntry<'a> {
    pub actor_id: Option<&'a str>,
    pub actor_role: Option<Role>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub commune_code: Option<&'a str>,
    pub province_code: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub changed_fields: &'a [&'a str],
}

pub fn record(conn: &mut AnyConnection, entry: &AuditEntry<'_>) -> Result<(), ApiError> {
    let fields = serde_json::to_string(entry.changed_fields)
        .map_err(|e| ApiError::internal(format!("audit fields: {e}")))?;
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(db::now()),
            audit_log::actor_id.eq(entry.actor_id),
            audit_log::actor_role.eq(entry.actor_role.map(Role::as_str)),
            audit_log::action.eq(entry.action),
            audit_log::entity.eq(entry.entity),
            audit_log::entity_id.eq(entry.entity_id),
            audit_log::commune_code.eq(entry.commune_code),
            audit_log::province_code.eq(entry.province_code),
            audit_log::request_id.eq(entry.request_id),
            audit_log::changed_fields.eq(fields),
        ))
        .execute(conn)?;
    Ok(())
}
