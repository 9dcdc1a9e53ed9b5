//! The batch push of the field app: `POST /sync/push` applies up to 1,000 operations from a
//! device's outbox, in order, in one write transaction, and answers each with `applied`,
//! `duplicate`, `conflict`, `rejected` or `dependency_failed`.
//!
//! - The batch runs first without a savepoint per operation (two statements each saved);
//!   if an operation fails, that attempt is rolled back whole and the batch runs again
//!   with a savepoint per operation, so that the failed one alone is undone.
//! - An operation runs the very code of the REST endpoint it stands for (`*_in`
//!   functions of the record modules), so validation, scope and audit are the same.
//! - Applied operations are remembered by `op_id` (table `sync_ops`, kept for the sync
//!   horizon): the same operation sent again is `duplicate`, with the original result,
//!   and changes nothing. A different operation under a used `op_id` is rejected.
//! - `base_version` is compared with the stored version before anything is written: a
//!   stale one is a `conflict` carrying the server's record and the fields that differ;
//!   nothing is overwritten.
//! - An operation that names a record whose operation failed earlier in the batch (a
//!   trainee, then its enrollment) is `dependency_failed`, not tried.
//! - A server-side failure (not the operation's fault) aborts the whole batch with the
//!   usual problem response: nothing of it is kept, and the phone sends it again.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Area, Capability};
use crate::base::config::Secret;
use crate::base::error::{self, ApiError, FieldError, Lang, Problem, Text};
use crate::domain::records::{self, CreateOutcome, IfMatch, Write};
use crate::domain::sync::devices::{self, DeviceReport};
use crate::store::db::{self, AnyConnection};
use crate::store::schema::{class_sessions, classes, enrollments, session_attendance, sync_ops, trainees};
use crate::store::values::{Choice, OpStatus, PushAction, PushType};

/// Most operations in one push.
pub const MAX_OPERATIONS: usize = 1000;

/// A push.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"device_id": "android-7f3a", "operations": [
    {"op_id": "c0a80101-0000-4000-8000-000000000001", "type": "trainee", "action": "upsert",
     "id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
     "body": {"commune_code": "21025", "full_name": "Đinh Thị Lan", "gender": "female", "birth_year": 1968,
              "consent": {"basic": true, "method": "paper"}}},
    {"op_id": "c0a80101-0000-4000-8000-000000000002", "type": "enrollment", "action": "upsert",
     "id": "4d3c2b1a-6f5e-4e8f-9a0b-7c3d2e6b1f4a",
     "body": {"class_id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "trainee_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}},
    {"op_id": "c0a80101-0000-4000-8000-000000000003", "type": "trainee", "action": "upsert",
     "id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "base_version": 2, "body": {"phone": "0912 345 678"}}
]}))]
pub struct PushRequest {
    /// The installation (1–100 visible ASCII characters), as in `X-Device-Id`.
    pub device_id: String,
    /// Up to 1,000 operations, applied in order. An item that is not a well-formed
    /// operation is rejected on its own; the others still run.
    #[schema(value_type = Vec<Operation>)]
    pub operations: Vec<Value>,
}

/// One operation of the outbox.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"op_id": "c0a80101-0000-4000-8000-000000000001", "type": "trainee", "action": "upsert",
    "id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "base_version": 2, "body": {"phone": "0912 345 678"}}))]
pub struct Operation {
    /// A UUID the device gives the operation once, and keeps when it sends it again.
    pub op_id: String,
    /// The record type (`attendance`: id = session id; `completion`: id = enrollment id).
    #[serde(rename = "type")]
    #[schema(value_type = PushType)]
    pub kind: Choice<PushType>,
    #[schema(value_type = PushAction)]
    pub action: Choice<PushAction>,
    /// The record's UUID (made by the device for a new record).
    pub id: String,
    /// The version the device's edit is based on; absent for a new record.
    pub base_version: Option<i64>,
    /// The record's fields, as the REST endpoint takes them (a new session or enrollment
    /// also names its `class_id`; an attendance list or a drop may, and then it must match).
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
}

/// What happened to one operation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"index": 2, "op_id": "c0a80101-0000-4000-8000-000000000003", "status": "conflict", "type": "trainee",
    "id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "version": 3, "deleted": false, "differing_fields": ["phone"],
    "current": {"id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "phone": "0905 333 444", "version": 3}}))]
pub struct OpResult {
    /// Position of the operation in the request (from 0).
    pub index: usize,
    /// The operation's `op_id` (absent when the item had none).
    pub op_id: Option<String>,
    pub status: OpStatus,
    /// The operation's type (absent when the item named none that the server knows).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PushType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `applied` / `duplicate`: the record's version after the operation; `conflict`:
    /// the server's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `conflict`: the record as the server has it (`null` when it was deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<Value>,
    /// `conflict`: whether the server's record is a tombstone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// `conflict`: the fields of the operation's body whose value differs from the server's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differing_fields: Option<Vec<String>>,
    /// `rejected`: why, as a problem object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// `dependency_failed`: the id of the record whose operation failed in this batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<String>,
}

impl OpResult {
    fn new(index: usize, op_id: Option<String>, status: OpStatus) -> Self {
        OpResult {
            index,
            op_id,
            status,
            kind: None,
            id: None,
            version: None,
            current: None,
            deleted: None,
            differing_fields: None,
            problem: None,
            depends_on: None,
        }
    }

    fn of(index: usize, op: &Operation, status: OpStatus) -> Self {
        let mut r = Self::new(index, Some(op.op_id.clone()), status);
        r.kind = match op.kind {
            Choice::Known(k) => Some(k),
            Choice::Unknown(_) => None,
        };
        r.id = Some(op.id.clone());
        r
    }
}

/// The answer to a push: one result per operation, in order, and the counts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"results": [
    {"index": 0, "op_id": "c0a80101-0000-4000-8000-000000000001", "status": "applied", "type": "trainee",
     "id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "version": 1},
    {"index": 1, "op_id": "c0a80101-0000-4000-8000-000000000002", "status": "applied", "type": "enrollment",
     "id": "4d3c2b1a-6f5e-4e8f-9a0b-7c3d2e6b1f4a", "version": 1},
    {"index": 2, "op_id": "c0a80101-0000-4000-8000-000000000003", "status": "conflict", "type": "trainee",
     "id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "version": 3, "deleted": false, "differing_fields": ["phone"],
     "current": {"id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "phone": "0905 333 444", "version": 3}}
], "applied": 2, "duplicates": 0, "conflicts": 1, "rejected": 0, "dependency_failed": 0}))]
pub struct PushResponse {
    pub results: Vec<OpResult>,
    pub applied: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub rejected: usize,
    pub dependency_failed: usize,
}

/// An operation's outcome before it is rendered.
enum Outcome {
    Applied(i64),
    Duplicate(i64),
    Conflict(Current),
    Rejected(ApiError),
}

/// A record as the server has it, for a conflict.
pub struct Current {
    pub commune: String,
    pub version: i64,
    pub deleted: bool,
    pub body: Option<Value>,
}

/// Checks a push's envelope before anything runs: the caller may record, the device id
/// is sane, and there are at most [`MAX_OPERATIONS`] operations. Returns the device id.
pub fn check_push(caller: &Caller, device_id: &str, operations: &[Value]) -> Result<String, ApiError> {
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let mut errors = Vec::new();
    let device = devices::check_device_id(device_id, &mut errors);
    if operations.len() > MAX_OPERATIONS {
        errors.push(FieldError::new(
            "operations",
            "too_many_operations",
            Text::new(
                format!("Mỗi lần gửi tối đa {MAX_OPERATIONS} thao tác; hãy chia nhỏ."),
                format!("At most {MAX_OPERATIONS} operations per push; split the outbox."),
            ),
        ));
    }
    records::fail_if_any(errors)?;
    Ok(device)
}

/// Applies a batch of outbox operations in one write transaction and records the push of
/// the device. Problems of rejected operations are rendered in `lang`.
pub fn push(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    secret: &Secret,
    report: &DeviceReport,
    operations: Vec<Value>,
    lang: Lang,
) -> Result<PushResponse, ApiError> {
    // First without a savepoint per operation (two statements each): when every
    // operation goes through, that is all. When one fails on the way, that attempt
    // is rolled back whole and the batch runs again with a savepoint per operation,
    // so that the failed one alone is undone.
    let attempt = |conn: &mut AnyConnection, operations: &[Value], savepoints: bool| {
        db::write_tx(conn, |conn| -> Result<_, Attempt> {
            let mut w = Write::new(caller, meta);
            let results = apply_batch(conn, &mut w, secret, &report.device_id, operations, lang, savepoints)?;
            let response = summarise(results);
            let rejects = (response.rejected + response.dependency_failed + response.conflicts) as i32;
            devices::record(conn, caller, report, true, response.results.len() as i32, rejects)?;
            // Last: what it locks for other writers is held until commit.
            w.finish(conn)?;
            Ok(response)
        })
    };
    match attempt(conn, &operations, false) {
        Err(Attempt::NeedsSavepoints) => attempt(conn, &operations, true),
        other => other,
    }
    .map_err(|e| match e {
        Attempt::Failed(e) => e,
        Attempt::NeedsSavepoints => ApiError::internal("push: an operation failed with savepoints on"),
    })
}

fn summarise(results: Vec<OpResult>) -> PushResponse {
    let count = |s: OpStatus| results.iter().filter(|r| r.status == s).count();
    PushResponse {
        applied: count(OpStatus::Applied),
        duplicates: count(OpStatus::Duplicate),
        conflicts: count(OpStatus::Conflict),
        rejected: count(OpStatus::Rejected),
        dependency_failed: count(OpStatus::DependencyFailed),
        results,
    }
}

/// Why an attempt at a push was rolled back.
enum Attempt {
    /// An operation failed while running without its own savepoint.
    NeedsSavepoints,
    Failed(ApiError),
}

impl From<ApiError> for Attempt {
    fn from(e: ApiError) -> Self {
        Attempt::Failed(e)
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

/// Applies `operations` in order inside the caller's write transaction, each in its own
/// savepoint when `savepoints`; without, the first operation that fails ends the attempt
/// ([`Attempt::NeedsSavepoints`]).
fn apply_batch(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    secret: &Secret,
    device_id: &str,
    operations: &[Value],
    lang: Lang,
    savepoints: bool,
) -> Result<Vec<OpResult>, Attempt> {
    // Lock the caller's area before the first savepoint: a lock taken inside a savepoint
    // that is rolled back is released on PostgreSQL.
    w.serialise(conn)?;
    // The operations already applied, looked up at once; this batch's are found by their
    // index in `applied` as they apply (an op_id sent twice in one batch is a duplicate the
    // second time) and inserted together at the end.
    let known = known_ops(conn, operations)?;
    let mut applied_here: HashMap<String, usize> = HashMap::with_capacity(operations.len());
    look_ahead(conn, w, operations)?;
    if !savepoints {
        // New trainees and enrollments are inserted together, before any other kind of
        // operation and at the end (a failure there reruns the batch with savepoints,
        // where every row is inserted at once and the failing operation is found).
        w.defer_inserts();
        // Attendance lists are held as well: their sessions and stored lists are read
        // ahead for the whole batch.
        let sessions: Vec<String> = operations.iter().filter_map(list_session).collect();
        w.lists.read_ahead(conn, &sessions)?;
    }
    let mut applied: Vec<SyncOpRow> = Vec::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut results = Vec::with_capacity(operations.len());
    for (index, raw) in operations.iter().enumerate() {
        let raw_op_id = raw.get("op_id").and_then(Value::as_str).map(str::to_owned);
        let op = match parse_operation(raw) {
            Ok(mut op) => {
                // The digest kept for duplicates, and everything after, see the ID number
                // only as its keyed hash.
                if let Some(body) = op.body.as_mut() {
                    crate::domain::privacy::reduce_id_in_body(secret, body, false);
                }
                op
            }
            Err(e) => {
                let mut r = OpResult::new(index, raw_op_id, OpStatus::Rejected);
                r.problem = Some(e.problem(lang, None));
                results.push(r);
                continue;
            }
        };
        let digest = records::plain_digest(&op);
        if let Some(k) = known.get(&op.op_id).or_else(|| applied_here.get(&op.op_id).map(|&i| &applied[i])) {
            let mut r = OpResult::new(index, Some(op.op_id.clone()), OpStatus::Duplicate);
            if k.account_id == w.caller.user.id && k.digest == digest {
                (r.kind, r.id, r.version) = (PushType::parse(&k.entity), Some(k.entity_id.clone()), Some(k.version));
            } else {
                r.status = OpStatus::Rejected;
                r.problem = Some(op_id_reused().problem(lang, None));
                failed.insert(op.id.clone());
            }
            results.push(r);
            continue;
        }
        if let Some(dep) = depends_on_failed(&op, &failed) {
            let mut r = OpResult::of(index, &op, OpStatus::DependencyFailed);
            r.depends_on = Some(dep);
            failed.insert(op.id.clone());
            results.push(r);
            continue;
        }
        let creates = op.base_version.is_none() && op.action.as_str() == "upsert" && matches!(op.kind.as_str(), "trainee" | "enrollment");
        // A new list of a live session is held too; anything else first writes what is
        // held and forgets what was read ahead, so that it reads and changes the database
        // as it stands.
        let held_list = !savepoints
            && op.base_version.is_none()
            && op.action.as_str() == "upsert"
            && op.kind.as_str() == "attendance"
            && w.lists.live_session(conn, &op.id)?.is_some();
        if !savepoints && !creates && !held_list {
            w.flush(conn).map_err(|_| Attempt::NeedsSavepoints)?;
            w.lists.forget_reads();
        }
        let mark = w.mark();
        let ran = if held_list {
            apply_list_held(conn, w, &op)
        } else if savepoints {
            conn.transaction(|conn| apply_one(conn, w, secret, &op))
        } else {
            apply_one(conn, w, secret, &op)
        };
        let outcome = match ran {
            Ok(Outcome::Applied(version)) => {
                let row = SyncOpRow {
                    op_id: op.op_id.clone(),
                    account_id: w.caller.user.id.clone(),
                    device_id: device_id.to_owned(),
                    digest,
                    entity: op.kind.as_str().to_owned(),
                    entity_id: op.id.clone(),
                    version,
                    applied_at: w.now,
                };
                applied_here.insert(op.op_id.clone(), applied.len());
                applied.push(row);
                Outcome::Applied(version)
            }
            Ok(other) => other,
            Err(e) if e.is_server_error() => return Err(e.into()),
            // What the operation wrote before it failed must be undone: start again with
            // savepoints.
            Err(_) if !savepoints => return Err(Attempt::NeedsSavepoints),
            // A stale version noticed by the endpoint itself (a concurrent writer got in
            // between): the same answer as the check before it.
            Err(e) if e.code == "precondition_failed" => match current(conn, w.caller, op.kind.as_str(), &op.id)? {
                Some(c) => Outcome::Conflict(c),
                None => Outcome::Rejected(e),
            },
            Err(e) => Outcome::Rejected(e),
        };
        if !matches!(outcome, Outcome::Applied(_)) {
            // The savepoint was rolled back (or nothing was written): so are the audit
            // entries the operation made.
            w.rollback_to(mark);
        }
        let r = match outcome {
            Outcome::Applied(version) => {
                let mut r = OpResult::of(index, &op, OpStatus::Applied);
                r.version = Some(version);
                r
            }
            Outcome::Duplicate(version) => {
                let mut r = OpResult::of(index, &op, OpStatus::Duplicate);
                r.version = Some(version);
                r
            }
            Outcome::Conflict(c) => {
                failed.insert(op.id.clone());
                let mut r = OpResult::of(index, &op, OpStatus::Conflict);
                r.differing_fields = Some(differing_fields(op.body.as_ref(), c.body.as_ref()));
                (r.version, r.deleted, r.current) = (Some(c.version), Some(c.deleted), Some(c.body.unwrap_or(Value::Null)));
                r
            }
            Outcome::Rejected(e) => {
                failed.insert(op.id.clone());
                let mut r = OpResult::of(index, &op, OpStatus::Rejected);
                r.problem = Some(e.problem(lang, None));
                r
            }
        };
        results.push(r);
    }
    if !savepoints {
        w.flush(conn).map_err(|_| Attempt::NeedsSavepoints)?;
    }
    crate::store::db::insert_chunked!(conn, sync_ops::table, applied);
    Ok(results)
}

/// An applied operation, as remembered in `sync_ops`.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_ops, treat_none_as_default_value = false)]
struct SyncOpRow {
    op_id: String,
    account_id: String,
    device_id: String,
    digest: String,
    entity: String,
    entity_id: String,
    version: i64,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    applied_at: chrono::NaiveDateTime,
}

/// The remembered operations among the `op_id`s of `operations`, by `op_id`.
fn known_ops(conn: &mut AnyConnection, operations: &[Value]) -> Result<HashMap<String, SyncOpRow>, ApiError> {
    // As `parse_operation` will write them: canonical UUIDs.
    let ids: Vec<String> = operations
        .iter()
        .filter_map(|o| o.get("op_id").and_then(Value::as_str))
        .filter_map(|raw| uuid::Uuid::parse_str(raw.trim()).ok())
        .map(|u| u.to_string())
        .collect();
    let mut known = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<SyncOpRow> = sync_ops::table.filter(sync_ops::op_id.eq_any(chunk)).select(SyncOpRow::as_select()).load(conn)?;
        known.extend(rows.into_iter().map(|r| (r.op_id.clone(), r)));
    }
    Ok(known)
}

/// Notes, under the write's lock, which ids of the batch's new trainees and enrollments
/// name no record yet (one query per table and 500 ids), so that each of those creates
/// skips its own look-up ([`Write::take_absent`]). Ids it cannot read are left to the
/// operation, which rejects them.
fn look_ahead(conn: &mut AnyConnection, w: &mut Write<'_>, operations: &[Value]) -> Result<(), ApiError> {
    let (mut new_trainees, mut new_enrollments) = (Vec::new(), Vec::new());
    for o in operations {
        match (new_record_id(o), o.get("type").and_then(Value::as_str)) {
            (Some(id), Some("trainee")) => new_trainees.push(id),
            (Some(id), Some("enrollment")) => new_enrollments.push(id),
            _ => {}
        }
    }
    let mut found: HashSet<String> = HashSet::new();
    for chunk in new_trainees.chunks(500) {
        found.extend(trainees::table.filter(trainees::id.eq_any(chunk)).select(trainees::id).load::<String>(conn)?);
    }
    w.note_absent("trainees", new_trainees.into_iter().filter(|id| !found.contains(id)));
    found.clear();
    for chunk in new_enrollments.chunks(500) {
        found.extend(enrollments::table.filter(enrollments::id.eq_any(chunk)).select(enrollments::id).load::<String>(conn)?);
    }
    w.note_absent("enrollments", new_enrollments.into_iter().filter(|id| !found.contains(id)));
    Ok(())
}

fn op_id_reused() -> ApiError {
    error::unprocessable(
        "op_id_reused",
        Text::new("Mã thao tác (op_id) này đã được dùng cho một thao tác khác.", "This op_id was already used for a different operation."),
    )
}

fn unsupported(kind: &str, action: &str) -> ApiError {
    error::unprocessable(
        "unsupported_operation",
        Text::new(
            format!("Không hỗ trợ thao tác {action} cho loại {kind}."),
            format!("The action {action} is not supported for type {kind}."),
        ),
    )
}

/// Reads and checks one item: a well-formed operation with UUIDs, a known type and action.
fn parse_operation(raw: &Value) -> Result<Operation, ApiError> {
    let mut op = Operation::deserialize(raw).map_err(|e| {
        error::validation(vec![FieldError::new(
            "operation",
            "invalid_operation",
            Text::new(format!("Thao tác không hợp lệ: {e}."), format!("Not a valid operation: {e}.")),
        )])
    })?;
    let mut errors = Vec::new();
    op.op_id = records::reference("op_id", &op.op_id, &mut errors);
    op.id = records::reference("id", &op.id, &mut errors);
    op.kind.check("type", &mut errors);
    op.action.check("action", &mut errors);
    if op.base_version.is_some_and(|v| v < 0) {
        errors.push(FieldError::new("base_version", "range", Text::new("Phiên bản không thể âm.", "A version cannot be negative.")));
    }
    if op.body.as_ref().is_some_and(|b| !b.is_object()) {
        errors.push(FieldError::new("body", "not_an_object", Text::new("body phải là một đối tượng JSON.", "body must be a JSON object.")));
    }
    records::fail_if_any(errors)?;
    Ok(op)
}

/// The id of a failed record of this batch that `op` names (as its own id or anywhere in
/// its body), if any.
fn depends_on_failed(op: &Operation, failed: &HashSet<String>) -> Option<String> {
    fn scan(v: &Value, failed: &HashSet<String>) -> Option<String> {
        match v {
            Value::String(s) if failed.contains(s) => Some(s.clone()),
            Value::Array(items) => items.iter().find_map(|i| scan(i, failed)),
            Value::Object(map) => map.values().find_map(|i| scan(i, failed)),
            _ => None,
        }
    }
    if failed.is_empty() {
        return None;
    }
    if failed.contains(&op.id) {
        return Some(op.id.clone());
    }
    op.body.as_ref().and_then(|b| scan(b, failed))
}

/// The names of the body's fields whose value differs from the server's record.
fn differing_fields(body: Option<&Value>, current: Option<&Value>) -> Vec<String> {
    let (Some(Value::Object(body)), Some(Value::Object(current))) = (body, current) else { return Vec::new() };
    let mut fields: Vec<String> =
        body.iter().filter(|(k, v)| current.get(k.as_str()).is_some_and(|c| c != *v)).map(|(k, _)| k.clone()).collect();
    fields.sort();
    fields
}

/// The body as a form of type `T`, with `id` set to the operation's id (for creates) and
/// the `extra` keys taken out first (returned, e.g. a session's `class_id`).
fn form<T: serde::de::DeserializeOwned>(op: &Operation, with_id: bool, extra: &[&str]) -> Result<(T, Vec<Option<String>>), ApiError> {
    let mut map = match &op.body {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    let taken = extra.iter().map(|k| map.remove(*k).and_then(|v| v.as_str().map(str::to_owned))).collect();
    if with_id {
        if map.get("id").and_then(Value::as_str).is_some_and(|i| i != op.id) {
            return Err(error::validation(vec![FieldError::new(
                "body.id",
                "id_mismatch",
                Text::new("body.id khác id của thao tác.", "body.id differs from the operation's id."),
            )]));
        }
        map.insert("id".into(), Value::String(op.id.clone()));
    } else {
        map.remove("id");
    }
    let value = serde_json::from_value(Value::Object(map)).map_err(|e| {
        error::validation(vec![FieldError::new(
            "body",
            "invalid_body",
            Text::new(format!("Nội dung không hợp lệ: {e}."), format!("The body is not valid: {e}.")),
        )])
    })?;
    Ok((value, taken))
}

/// A body that names its `class_id` (an attendance list, a dropped enrollment) must name
/// the class the record belongs to; leaving it out is fine.
fn class_named_is(named: Option<String>, actual: &str) -> Result<(), ApiError> {
    let Some(named) = named else { return Ok(()) };
    match uuid::Uuid::parse_str(named.trim()) {
        Ok(u) if u.to_string() == actual => Ok(()),
        _ => Err(error::validation(vec![FieldError::new(
            "body.class_id",
            "class_mismatch",
            Text::new("class_id không phải lớp của bản ghi này.", "class_id is not the class this record belongs to."),
        )])),
    }
}

fn required_class_id(taken: Option<String>) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    let raw = taken.unwrap_or_default();
    if raw.is_empty() {
        errors.push(FieldError::new("body.class_id", "required", Text::new("Cần class_id.", "class_id is required.")));
    }
    let id = records::reference("body.class_id", &raw, &mut errors);
    records::fail_if_any(errors)?;
    Ok(id)
}

/// The class of a session (live or not); 404 when there is no such session.
fn class_of_session(conn: &mut AnyConnection, session_id: &str) -> Result<String, ApiError> {
    Ok(class_sessions::table.find(session_id).select(class_sessions::class_id).first(conn)?)
}

/// The id of a raw operation that makes a new record or list (an upsert without a base
/// version), as `parse_operation` will write it; `None` for any other operation or an id
/// that is not a UUID (the operation itself rejects that).
fn new_record_id(o: &Value) -> Option<String> {
    let new = o.get("action").and_then(Value::as_str) == Some("upsert") && o.get("base_version").is_none_or(Value::is_null);
    let id = o.get("id").and_then(Value::as_str).and_then(|raw| uuid::Uuid::parse_str(raw.trim()).ok());
    id.filter(|_| new).map(|u| u.to_string())
}

/// The session of a new attendance list among the raw operations.
fn list_session(o: &Value) -> Option<String> {
    new_record_id(o).filter(|_| o.get("type").and_then(Value::as_str) == Some("attendance"))
}

/// A new attendance list of a live session, held in `w` (see [`crate::domain::held::HeldLists`]).
fn apply_list_held(conn: &mut AnyConnection, w: &mut Write<'_>, op: &Operation) -> Result<Outcome, ApiError> {
    let (f, mut named) = form(op, false, &["class_id"])?;
    let (class_id, commune) = w.lists.live_session(conn, &op.id)?.ok_or_else(error::internal_invariant)?;
    class_named_is(named.remove(0), &class_id)?;
    Ok(Outcome::Applied(crate::domain::enrollments::put_attendance_held(conn, w, class_id, op.id.clone(), commune, f)?.version))
}

/// Runs one operation (inside its savepoint).
fn apply_one(conn: &mut AnyConnection, w: &mut Write<'_>, secret: &Secret, op: &Operation) -> Result<Outcome, ApiError> {
    let creating = op.action == Choice::Known(PushAction::Upsert)
        && op.base_version.is_none()
        && !matches!(op.kind.as_str(), "attendance" | "completion");
    // An attendance list without a base version conflicts only with a deleted session: that
    // alone is looked at first (the list is read, for the answer, only then).
    let live_list = op.kind.as_str() == "attendance" && op.base_version.is_none() && {
        let deleted: Option<Option<chrono::NaiveDateTime>> =
            class_sessions::table.find(&op.id).select(class_sessions::deleted_at).first(conn).optional()?;
        !matches!(deleted, Some(Some(_)))
    };
    if !creating && !live_list {
        // Edits and deletes of a record in scope: compare versions before anything runs.
        if let Some(c) = current(conn, w.caller, op.kind.as_str(), &op.id)? {
            if c.deleted || op.base_version.is_some_and(|b| b != c.version) {
                return Ok(Outcome::Conflict(c));
            }
        }
    }
    let base = || op.base_version.map(IfMatch::version).unwrap_or_else(IfMatch::none);
    let created = |(outcome, version): (CreateOutcome, i64)| match outcome {
        CreateOutcome::New => Outcome::Applied(version),
        CreateOutcome::Replay => Outcome::Duplicate(version),
    };
    Ok(match (op.kind.as_str(), op.action.as_str()) {
        ("trainee", "upsert") if creating => {
            let (f, _) = form(op, true, &[])?;
            let (outcome, row) = crate::domain::trainees::create_in(conn, w, secret, f)?;
            created((outcome, row.version))
        }
        ("trainee", "upsert") => {
            let (f, _) = form(op, false, &[])?;
            Outcome::Applied(crate::domain::trainees::update_in(conn, w, secret, &op.id, &base(), f)?.version)
        }
        ("trainee", "delete") => Outcome::Applied(crate::domain::trainees::delete_in(conn, w, &op.id, &base())?),
        ("class", "upsert") if creating => {
            let (f, _) = form(op, true, &[])?;
            let (outcome, (version, _)) = crate::domain::classes::create_class_in(conn, w, f)?;
            created((outcome, version))
        }
        ("class", "upsert") => {
            let (f, _) = form(op, false, &[])?;
            Outcome::Applied(crate::domain::classes::update_class_in(conn, w, op.id.clone(), &base(), f)?.0)
        }
        // Classes are never deleted: a delete cancels the class (the body gives the reason).
        ("class", "delete") => {
            let (f, _) = form(op, false, &[])?;
            Outcome::Applied(crate::domain::classes::cancel_class_in(conn, w, op.id.clone(), &base(), f)?.0)
        }
        ("class_session", "upsert") if creating => {
            let (f, mut taken) = form(op, true, &["class_id"])?;
            let class_id = required_class_id(taken.remove(0))?;
            let (outcome, row) = crate::domain::sessions::create_session_in(conn, w, class_id, f)?;
            created((outcome, row.version))
        }
        ("class_session", "upsert") => {
            let (f, _) = form(op, false, &["class_id"])?;
            let class_id = class_of_session(conn, &op.id)?;
            Outcome::Applied(crate::domain::sessions::update_session_in(conn, w, class_id, op.id.clone(), &base(), f)?.version)
        }
        ("class_session", "delete") => {
            let class_id = class_of_session(conn, &op.id)?;
            Outcome::Applied(crate::domain::sessions::delete_session_in(conn, w, class_id, op.id.clone(), &base())?)
        }
        ("enrollment", "upsert") if creating => {
            let (f, mut taken) = form(op, true, &["class_id"])?;
            let class_id = required_class_id(taken.remove(0))?;
            let (outcome, _, version) = crate::domain::enrollments::create_enrollment_in(conn, w, class_id, f)?;
            created((outcome, version))
        }
        ("enrollment", "delete") => {
            let (f, mut named) = form(op, false, &["class_id"])?;
            let class_id: String = enrollments::table.find(&op.id).select(enrollments::class_id).first(conn)?;
            class_named_is(named.remove(0), &class_id)?;
            Outcome::Applied(crate::domain::enrollments::drop_enrollment_in(conn, w, class_id, op.id.clone(), &base(), f)?.1)
        }
        ("attendance", "upsert") => {
            let (f, mut named) = form(op, false, &["class_id"])?;
            let class_id = class_of_session(conn, &op.id)?;
            class_named_is(named.remove(0), &class_id)?;
            Outcome::Applied(crate::domain::enrollments::put_attendance_in(conn, w, class_id, op.id.clone(), &base(), f)?.version)
        }
        ("completion", "upsert") => {
            let (f, _) = form(op, false, &[])?;
            Outcome::Applied(crate::domain::enrollments::record_completion_in(conn, w, op.id.clone(), f)?.1)
        }
        (kind, action) => return Err(unsupported(kind, action)),
    })
}

/// Applies an officer's resolution of a reported conflict: the edit `body` on top of the
/// record's `base_version`, through the same code as a pushed operation.
pub(crate) fn apply_edit(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    secret: &Secret,
    kind: &str,
    id: &str,
    base_version: i64,
    body: Value,
) -> Result<i64, ApiError> {
    let op = Operation {
        op_id: String::new(),
        kind: PushType::parse(kind).map(Choice::Known).unwrap_or_else(|| Choice::Unknown(kind.to_owned())),
        action: Choice::Known(PushAction::Upsert),
        id: id.to_owned(),
        base_version: Some(base_version),
        body: Some(body),
    };
    match apply_one(conn, w, secret, &op)? {
        Outcome::Applied(v) | Outcome::Duplicate(v) => Ok(v),
        Outcome::Rejected(e) => Err(e),
        Outcome::Conflict(c) => Err(error::precondition_failed(c.version)),
    }
}

/// The record `id` of `kind` as the server has it (tombstones included), when the caller
/// may read it; `None` when it does not exist or is outside the caller's scope.
pub fn current(conn: &mut AnyConnection, caller: &Caller, kind: &str, id: &str) -> Result<Option<Current>, ApiError> {
    let visible = |conn: &mut AnyConnection, commune: &str| -> Result<bool, ApiError> {
        let area = Area::of_commune(conn, commune)?;
        Ok(policy::authorize(caller, Capability::ReadPersonData, Some(&area), Access::Read).is_ok())
    };
    let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| ApiError::internal(format!("record to JSON: {e}")));
    Ok(match kind {
        "trainee" => {
            let Some(r) = trainees::table.find(id).first::<crate::store::rows::TraineeRow>(conn).optional()? else { return Ok(None) };
            if !visible(conn, &r.commune_code)? {
                return Ok(None);
            }
            let deleted = r.deleted_at.is_some();
            let body = if deleted { None } else { Some(json(serde_json::to_value(crate::domain::trainees::Trainee::from(&r)))?) };
            Some(Current { commune: r.commune_code.clone(), version: r.version, deleted, body })
        }
        "class" => {
            let Some(r) = classes::table.find(id).first::<crate::store::rows::ClassRow>(conn).optional()? else { return Ok(None) };
            if !visible(conn, &r.commune_code)? {
                return Ok(None);
            }
            let (mut t, mut i) = crate::domain::classes::links(conn, std::slice::from_ref(&r.id))?;
            let view = crate::domain::classes::view(&r, t.remove(&r.id).unwrap_or_default(), i.remove(&r.id).unwrap_or_default());
            let deleted = r.deleted_at.is_some();
            let body = if deleted { None } else { Some(json(serde_json::to_value(view))?) };
            Some(Current { commune: r.commune_code.clone(), version: r.version, deleted, body })
        }
        "class_session" => {
            let Some(r) = class_sessions::table.find(id).first::<crate::store::rows::SessionRow>(conn).optional()? else { return Ok(None) };
            if !visible(conn, &r.commune_code)? {
                return Ok(None);
            }
            let deleted = r.deleted_at.is_some();
            let body = if deleted { None } else { Some(json(serde_json::to_value(crate::domain::sessions::Session::from(&r)))?) };
            Some(Current { commune: r.commune_code.clone(), version: r.version, deleted, body })
        }
        "enrollment" | "completion" => {
            let Some(r) = enrollments::table.find(id).first::<crate::store::rows::EnrollmentRow>(conn).optional()? else {
                return Ok(None);
            };
            if !visible(conn, &r.commune_code)? {
                return Ok(None);
            }
            let deleted = r.deleted_at.is_some();
            let body = if deleted { None } else { Some(json(serde_json::to_value(crate::domain::enrollments::with_name(conn, &r)?))?) };
            Some(Current { commune: r.commune_code.clone(), version: r.version, deleted, body })
        }
        "attendance" => {
            let Some((class_id, commune, deleted_at)) = class_sessions::table
                .find(id)
                .select((class_sessions::class_id, class_sessions::commune_code, class_sessions::deleted_at))
                .first::<(String, String, Option<chrono::NaiveDateTime>)>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            if !visible(conn, &commune)? {
                return Ok(None);
            }
            let version: i64 = session_attendance::table.find(id).select(session_attendance::version).first(conn).optional()?.unwrap_or(0);
            let deleted = deleted_at.is_some();
            let body = if deleted {
                None
            } else {
                Some(json(serde_json::to_value(crate::domain::enrollments::load_attendance(conn, &class_id, id)?))?)
            };
            Some(Current { commune, version, deleted, body })
        }
        _ => None,
    })
}

/// Forgets applied operations older than the sync horizon (a device that has not synced
/// for longer must resync from a snapshot anyway).
pub fn purge(conn: &mut AnyConnection, horizon_days: i64) -> Result<usize, ApiError> {
    let before = crate::store::db::now() - chrono::Duration::days(horizon_days);
    Ok(diesel::delete(sync_ops::table.filter(sync_ops::applied_at.lt(before))).execute(conn)?)
}
