//! Conflicts a device could not resolve on its own (`POST /sync/conflicts`), listed for the
//! officers of the record's commune (`GET /sync/conflicts`) and resolved by them
//! (`POST /sync/conflicts/{id}/resolve`): keep the server's record, or apply the device's
//! (or an officer-edited) version on top of the current one, through the same code as a
//! pushed operation. Each report and decision is audited.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, filter_to_scope, Access, Area, Capability, Principal};
use crate::base::config::Secret;
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, Page, Position};
use crate::store::db::AnyConnection;
use crate::store::schema::sync_conflicts as sc;
use crate::store::values::{Choice, ConflictDecision, ConflictStatus, PushType};

/// A conflict the device reports.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "5b0f7a52-1c8e-4f3a-9d2b-6e7f8a9b0c1d", "device_id": "android-7f3a", "type": "trainee",
    "record_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "base_version": 1, "body": {"phone": "0987 654 321"},
    "note": "Người học báo đổi số điện thoại"}))]
pub struct NewConflict {
    /// The report's UUID (made by the device, so a re-sent report is not doubled).
    pub id: Option<String>,
    pub device_id: String,
    /// The record's type.
    #[serde(rename = "type")]
    #[schema(value_type = PushType)]
    pub kind: Choice<PushType>,
    pub record_id: String,
    /// The version the device's edit was based on.
    pub base_version: Option<i64>,
    /// The device's version of the fields (as it would have pushed them).
    #[schema(value_type = Object)]
    pub body: Value,
    /// Up to 1,000 characters.
    #[validate(length(max = 1000))]
    pub note: Option<String>,
}

/// An officer's decision.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "apply_device", "note": "Đã gọi điện xác nhận với người học"}))]
pub struct Resolution {
    #[schema(value_type = ConflictDecision)]
    pub decision: Choice<ConflictDecision>,
    /// For `apply`: the fields to write.
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
    #[validate(length(max = 1000))]
    pub note: Option<String>,
}

/// A reported conflict.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "5b0f7a52-1c8e-4f3a-9d2b-6e7f8a9b0c1d", "status": "open", "type": "trainee", "record_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "commune_code": "21025", "reported_by": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "device_id": "android-7f3a", "base_version": 1, "server_version": 3, "device_body": {"phone": "0987 654 321"}, "note": "Người học báo đổi số điện thoại", "current_version": 3, "current": {"id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "full_name": "Đinh Thị Lan", "phone": "0905 333 444", "version": 3}, "decision": null, "resolution_note": null, "resolved_by": null, "resolved_at": null, "result_version": null, "version": 1, "created_at": "2026-11-24T07:30:00Z"}))]
pub struct Conflict {
    pub id: String,
    pub status: ConflictStatus,
    #[serde(rename = "type")]
    pub kind: PushType,
    pub record_id: String,
    pub commune_code: String,
    pub reported_by: String,
    pub device_id: String,
    pub base_version: Option<i64>,
    /// The record's version when the conflict was reported.
    pub server_version: Option<i64>,
    #[schema(value_type = Object)]
    pub device_body: Value,
    pub note: Option<String>,
    /// The record as the server has it now (`null` when deleted or out of reach).
    #[schema(value_type = Option<Object>)]
    pub current: Option<Value>,
    pub current_version: Option<i64>,
    pub decision: Option<ConflictDecision>,
    pub resolution_note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The record's version after an applied resolution.
    pub result_version: Option<i64>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictQuery {
    /// Default `open`.
    #[param(value_type = Option<ConflictStatus>)]
    pub status: Option<Choice<ConflictStatus>>,
    /// Only the reports filed from this device (e.g. a phone checking what became of its own).
    pub device_id: Option<String>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Queryable)]
struct ConflictRow {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    _updated_at: NaiveDateTime,
    _create_digest: String,
    account_id: String,
    device_id: String,
    commune_code: String,
    _province_code: String,
    entity: PushType,
    entity_id: String,
    base_version: Option<i64>,
    server_version: Option<i64>,
    device_body: String,
    note: Option<String>,
    status: ConflictStatus,
    decision: Option<ConflictDecision>,
    resolution_note: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<NaiveDateTime>,
    result_version: Option<i64>,
}

fn view(conn: &mut AnyConnection, caller: &Caller, r: &ConflictRow) -> Result<Conflict, ApiError> {
    let current = crate::domain::sync::push::current(conn, caller, r.entity.as_str(), &r.entity_id)?;
    Ok(Conflict {
        id: r.id.clone(),
        status: r.status,
        kind: r.entity,
        record_id: r.entity_id.clone(),
        commune_code: r.commune_code.clone(),
        reported_by: r.account_id.clone(),
        device_id: r.device_id.clone(),
        base_version: r.base_version,
        server_version: r.server_version,
        device_body: {
            let mut body = serde_json::from_str(&r.device_body).unwrap_or(Value::Null);
            crate::domain::privacy::mask_id_in_body(&mut body);
            body
        },
        note: r.note.clone(),
        current_version: current.as_ref().map(|c| c.version),
        current: current.and_then(|c| c.body),
        decision: r.decision,
        resolution_note: r.resolution_note.clone(),
        resolved_by: r.resolved_by.clone(),
        resolved_at: r.resolved_at.map(utc),
        result_version: r.result_version,
        version: r.version,
        created_at: utc(r.created_at),
    })
}

fn decision_needs_body() -> ApiError {
    error::validation(vec![FieldError::new(
        "body",
        "required",
        Text::new("Quyết định apply cần body.", "The apply decision needs a body."),
    )])
}

/// Report a conflict the device could not resolve (team members, officers, admins).
pub fn report_conflict(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    secret: &Secret,
    mut form: NewConflict,
) -> Result<(CreateOutcome, Conflict), ApiError> {
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    // The body is stored as sent, but never with an ID number in it.
    crate::domain::privacy::reduce_id_in_body(secret, &mut form.body, true);
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    records::validate_form(&form, &mut errors);
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let device = crate::domain::sync::devices::check_device_id(&form.device_id, &mut errors);
    let kind = form.kind.check("type", &mut errors);
    let record_id = records::reference("record_id", &form.record_id, &mut errors);
    if !form.body.is_object() {
        errors.push(FieldError::new("body", "not_an_object", Text::new("body phải là một đối tượng JSON.", "body must be a JSON object.")));
    }
    records::fail_if_any(errors)?;
    let kind = records::valid(kind)?;
    let note = records::optional_text(form.note.as_deref());
    let body = form.body.to_string();
    let base_version = form.base_version;
    let (outcome, view) = {
        records::in_write_tx(conn, caller, meta, |conn, w| {
            let existing = sc::table
                .find(&id)
                .select((sc::create_digest, sc::account_id.ne(&caller.user.id)))
                .first::<(String, bool)>(conn)
                .optional()?
                // Another account's report under this id: never a replay.
                .map(|(d, other)| (if other { String::new() } else { d }, false));
            if records::check_replay(existing, &digest, &form)? == CreateOutcome::Replay {
                let row: ConflictRow = sc::table.find(&id).first(conn)?;
                return Ok((CreateOutcome::Replay, view(conn, caller, &row)?));
            }
            let Some(current) = crate::domain::sync::push::current(conn, caller, kind.as_str(), &record_id)? else {
                return Err(error::not_found());
            };
            let area = Area::of_commune(conn, &current.commune)?;
            policy::authorize(caller, Capability::RecordPersonData, Some(&area), Access::Write)?;
            let province = crate::access::policy::province_of(conn, &current.commune)?.unwrap_or_default();
            diesel::insert_into(sc::table)
                .values((
                    (
                        sc::id.eq(&id),
                        sc::version.eq(1i64),
                        sc::created_at.eq(w.now),
                        sc::updated_at.eq(w.now),
                        sc::create_digest.eq(digest.stored()),
                        sc::account_id.eq(&caller.user.id),
                        sc::device_id.eq(&device),
                        sc::commune_code.eq(&current.commune),
                        sc::province_code.eq(&province),
                        sc::entity.eq(kind),
                        sc::entity_id.eq(&record_id),
                    ),
                    (
                        sc::base_version.eq(base_version),
                        sc::server_version.eq(Some(current.version)),
                        sc::device_body.eq(&body),
                        sc::note.eq(&note),
                        sc::status.eq(ConflictStatus::Open),
                    ),
                ))
                .execute(conn)?;
            w.audit(conn, "report_conflict", "sync_conflict", &id, Some(&current.commune), &["record_id"])?;
            let row: ConflictRow = sc::table.find(&id).first(conn)?;
            Ok((CreateOutcome::New, view(conn, caller, &row)?))
        })
    }?;
    Ok((outcome, view))
}

/// Reported conflicts of the caller's scope, oldest first (officers, admins).
pub fn list_conflicts(conn: &mut AnyConnection, caller: &Caller, query: ConflictQuery) -> Result<Page<Conflict>, ApiError> {
    // Officers and admins: every report of their scope. Those who only record (team
    // members): the reports their own account filed, so a phone can see what became of them.
    let own_only = match policy::authorize(caller, Capability::VerifyAndManagePersonData, None, Access::Read) {
        Ok(()) => false,
        Err(e) => {
            policy::authorize(caller, Capability::RecordPersonData, None, Access::Write).map_err(|_| e)?;
            true
        }
    };
    let limit = page_limit(query.limit)?;
    let mut errors = Vec::new();
    let status = match &query.status {
        Some(s) => s.check("status", &mut errors),
        None => Some(ConflictStatus::Open),
    };
    records::fail_if_any(errors)?;
    let status = records::valid(status)?;
    let after: Option<Position> = crate::domain::records::cursor_position(query.cursor.as_deref())?;
    {
        let scope = caller.scope().clone();
        let mut q = filter_to_scope!(sc::table.filter(sc::status.eq(status)).into_boxed(), sc::commune_code, &scope);
        if own_only {
            q = q.filter(sc::account_id.eq(caller.user.id.clone()));
        }
        if let Some(device) = query.device_id.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            q = q.filter(sc::device_id.eq(device.to_owned()));
        }
        if let Some(Position(at, id)) = after {
            let at = NaiveDateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| records::invalid_cursor())?;
            q = q.filter(sc::created_at.gt(at).or(sc::created_at.eq(at).and(sc::id.gt(id))));
        }
        let rows: Vec<ConflictRow> = q.order((sc::created_at, sc::id)).limit(limit + 1).load(conn)?;
        records::page(
            rows,
            limit,
            |r| Position(r.created_at.format("%Y-%m-%dT%H:%M:%S%.f").to_string(), r.id.clone()),
            |r| view(conn, caller, r),
        )
    }
}

/// Resolve a reported conflict (officers, admins of the record's commune). An applied
/// decision writes through the same checks as a pushed edit, on top of the current
/// version; if that edit is refused, the conflict stays open and the refusal is returned.
pub fn resolve_conflict(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    secret: &Secret,
    path: &str,
    form: Resolution,
) -> Result<Conflict, ApiError> {
    policy::authorize(caller, Capability::VerifyAndManagePersonData, None, Access::Write)?;
    let id = parse_uuid(path)?;
    let mut errors = Vec::new();
    records::validate_form(&form, &mut errors);
    let decision = form.decision.check("decision", &mut errors);
    if form.body.as_ref().is_some_and(|b| !b.is_object()) {
        errors.push(FieldError::new("body", "not_an_object", Text::new("body phải là một đối tượng JSON.", "body must be a JSON object.")));
    }
    records::fail_if_any(errors)?;
    let decision = records::valid(decision)?;
    if decision == ConflictDecision::Apply && form.body.is_none() {
        return Err(decision_needs_body());
    }
    let note = records::optional_text(form.note.as_deref());
    let officer_body = form.body;
    let view = {
        records::in_write_tx(conn, caller, meta, |conn, w| {
            let row: ConflictRow = sc::table.find(&id).first(conn)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(caller, Capability::VerifyAndManagePersonData, Some(&area), Access::Read)?;
            if row.status != ConflictStatus::Open {
                return Err(error::conflict(
                    "already_resolved",
                    Text::new("Xung đột này đã được xử lý.", "This conflict has already been resolved."),
                ));
            }
            let result_version = match decision {
                ConflictDecision::KeepServer => None,
                _ => {
                    let Some(current) = crate::domain::sync::push::current(conn, caller, row.entity.as_str(), &row.entity_id)? else {
                        return Err(error::not_found());
                    };
                    if current.deleted {
                        return Err(error::gone_record());
                    }
                    let body = match officer_body {
                        Some(b) => b,
                        None => serde_json::from_str(&row.device_body).map_err(|e| ApiError::internal(format!("stored body: {e}")))?,
                    };
                    Some(crate::domain::sync::push::apply_edit(
                        conn,
                        w,
                        secret,
                        row.entity.as_str(),
                        &row.entity_id,
                        current.version,
                        body,
                    )?)
                }
            };
            let now = w.now;
            diesel::update(sc::table.find(&id))
                .set((
                    sc::status.eq(ConflictStatus::Resolved),
                    sc::decision.eq(Some(decision)),
                    sc::resolution_note.eq(&note),
                    sc::resolved_by.eq(Some(&caller.user.id)),
                    sc::resolved_at.eq(Some(now)),
                    sc::result_version.eq(result_version),
                    sc::version.eq(row.version + 1),
                    sc::updated_at.eq(now),
                ))
                .execute(conn)?;
            w.audit(conn, "resolve_conflict", "sync_conflict", &id, Some(&row.commune_code), &["decision"])?;
            let row: ConflictRow = sc::table.find(&id).first(conn)?;
            view(conn, caller, &row)
        })
    }?;
    Ok(view)
}
