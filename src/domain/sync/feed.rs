//! The delta-sync pull feed for the field app: `GET /sync/changes` returns, in
//! change-sequence order, every record created, changed or deleted since the cursor within
//! the caller's scope, with its full body (or a tombstone), and removals for records that
//! left the scope. The first call (no cursor) is a snapshot of the scope.
//!
//! Change numbers come from one counter that writers lock until commit (`db::ChangeSeq`),
//! so a number is visible only after every smaller one is: reading "everything above N"
//! never skips a row that commits later. Cursors are opaque (base64 of the last number and
//! the time they were issued) and expire after the configured horizon (410).

use chrono::Utc;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::Caller;
use crate::access::policy::{self, filter_to_scope, Access, Capability, Principal, Scope};
use crate::access::token::JwtKeys;
use crate::base::error::{self, ApiError, Text};
use crate::domain::records::{self, decode_cursor, encode_cursor};
use crate::domain::sync::devices::{self, DeviceReport};
use crate::store::db::{self, AnyConnection};
use crate::store::schema::{
    class_sessions, classes, enrollments, hamlets, provinces, session_attendance, sync_removals, team_members, teams, topics, trainees,
    units,
};
use crate::store::values::ChangeType;

/// One change in the feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"seq": 1042, "type": "class", "id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "version": 3,
    "deleted": false, "removed": false, "body": {"title": "…"}}))]
pub struct Change {
    /// Change-sequence number (increasing).
    pub seq: i64,
    /// The record's type (`attendance`: id = session id).
    #[serde(rename = "type")]
    pub kind: ChangeType,
    pub id: String,
    pub version: i64,
    /// A tombstone: the record was deleted; `body` is absent.
    pub deleted: bool,
    /// The record left the caller's scope (e.g. a trainee moved to another commune): drop it.
    pub removed: bool,
    /// The record as the API's GET returns it.
    #[schema(value_type = Object)]
    pub body: Option<serde_json::Value>,
    /// On the tombstone of a trainee merged into another: the survivor's id (re-point
    /// local links to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"changes": [{"seq": 1042, "type": "class", "id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "version": 3, "deleted": false, "removed": false, "body": {"id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "title": "Cài đặt VNeID", "status": "ongoing", "version": 3}}, {"seq": 1043, "type": "trainee", "id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "version": 5, "deleted": true, "removed": false, "body": null}], "next_cursor": "eyJzIjoxMDQzfQ.c2lnbmF0dXJl", "has_more": false}))]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// Pass as `cursor` next time (also when `has_more` is false: it is where you are).
    pub next_cursor: String,
    pub has_more: bool,
    /// On the first page of a snapshot only: the units of the caller's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<crate::domain::units::Unit>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// `next_cursor` of the previous call; absent for a full snapshot.
    pub cursor: Option<String>,
    /// 1–1,000 (default 500).
    #[param(minimum = 1, maximum = 1000, default = 500)]
    pub limit: Option<i64>,
}

/// A feed position. Sent as `2.<payload>.<mac>`: base64url JSON and a keyed MAC (HMAC-SHA256
/// with the server's token secret, which every instance shares), so a phone can neither
/// forge nor alter one, and bound to the scope it was issued for.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Last change number delivered.
    s: i64,
    /// When the feed position was first taken (unix seconds); kept across pages.
    t: i64,
    /// The scope the cursor was issued for (`n`, `p:51`, `c:21025`).
    k: String,
}

/// The cursors before they were signed: `{s, t}` without a MAC.
#[derive(Debug, Deserialize)]
struct UnsignedCursor {
    #[allow(dead_code)]
    s: i64,
    t: i64,
}

const CURSOR_VERSION: &str = "2";
/// How far ahead of this server's clock a cursor's time may be (another instance's clock).
const CLOCK_SKEW_SECS: i64 = 300;

fn scope_key(scope: &Scope) -> String {
    match scope {
        Scope::Country => "n".to_owned(),
        Scope::Province(p) => format!("p:{p}"),
        Scope::Commune(c) => format!("c:{c}"),
    }
}

fn cursor_mac(keys: &JwtKeys, payload: &str) -> String {
    // Domain-separated from the token secret's other uses; 128 bits are plenty for a MAC.
    keys.keyed_hash(&format!("hocvuso sync cursor {CURSOR_VERSION}:{payload}"))[..32].to_owned()
}

fn sign(keys: &JwtKeys, c: &Cursor) -> String {
    let payload = encode_cursor(c);
    let mac = cursor_mac(keys, &payload);
    format!("{CURSOR_VERSION}.{payload}.{mac}")
}

fn resync(en: &str, vi: &str) -> ApiError {
    ApiError::gone("resync_required", Text::new(vi, en))
}

fn tampered() -> ApiError {
    error::bad_request(
        "cursor_tampered",
        Text::new(
            "Con trỏ đồng bộ đã bị sửa hoặc không do máy chủ cấp; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
            "The sync cursor was altered or not issued by the server; sync the whole scope again (call without a cursor).",
        ),
    )
}

/// Reads a cursor sent by `scope`'s caller at `now` (unix seconds).
fn open_cursor(keys: &JwtKeys, raw: &str, scope: &Scope, now: i64, horizon_days: i64) -> Result<Cursor, ApiError> {
    let Some(rest) = raw.strip_prefix(&format!("{CURSOR_VERSION}.")) else {
        // A cursor of the unsigned kind that phones held before cursors were signed: it
        // cannot be trusted, and the phone only needs to start again.
        if let Ok(old) = decode_cursor::<UnsignedCursor>(raw) {
            if now - old.t > horizon_days * 86_400 {
                return Err(resync(
                    "The sync cursor is too old; sync the whole scope again (call without a cursor).",
                    "Con trỏ đồng bộ đã quá hạn; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
                ));
            }
            return Err(resync(
                "This sync cursor is of an old kind; sync the whole scope again (call without a cursor).",
                "Con trỏ đồng bộ thuộc kiểu cũ; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
            ));
        }
        return Err(records::invalid_cursor());
    };
    let (payload, mac) = rest.rsplit_once('.').ok_or_else(records::invalid_cursor)?;
    // Compared in constant time: the MAC must not be guessable byte by byte.
    let expected = cursor_mac(keys, payload);
    if !crate::base::config::same_bytes(expected.as_bytes(), mac.as_bytes()) {
        return Err(tampered());
    }
    let c: Cursor = decode_cursor(payload).map_err(|_| tampered())?;
    if c.t > now + CLOCK_SKEW_SECS || c.s < 0 {
        return Err(error::bad_request(
            "cursor_from_future",
            Text::new(
                "Con trỏ đồng bộ mang thời điểm trong tương lai; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
                "The sync cursor is dated in the future; sync the whole scope again (call without a cursor).",
            ),
        ));
    }
    if c.k != scope_key(scope) {
        return Err(resync(
            "This sync cursor belongs to another area than your account's; sync your area again (call without a cursor).",
            "Con trỏ đồng bộ thuộc địa bàn khác với tài khoản của bạn; hãy đồng bộ lại địa bàn của bạn (gọi không kèm cursor).",
        ));
    }
    if now - c.t > horizon_days * 86_400 {
        return Err(resync(
            "The sync cursor is too old; sync the whole scope again (call without a cursor).",
            "Con trỏ đồng bộ đã quá hạn; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
        ));
    }
    Ok(c)
}

fn json<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// Removals that concern `scope`: the record left one of its communes for a place outside
/// it. A scope that holds both communes of a move gets the record's update, never a
/// removal.
fn removals_in<'a>(
    q: sync_removals::BoxedQuery<'a, crate::store::db::MultiBackend>,
    scope: &Scope,
) -> sync_removals::BoxedQuery<'a, crate::store::db::MultiBackend> {
    use sync_removals::{commune_code as from, to_commune_code as to};
    match scope {
        // Everything is in a country scope: only removals that went nowhere (none today).
        Scope::Country => q.filter(to.is_null()),
        Scope::Province(p) => {
            let communes = || units::table.filter(units::province_code.eq(p.clone())).select(units::code);
            q.filter(from.eq_any(communes())).filter(to.is_null().or(to.ne_all(communes().select(units::code.nullable()))))
        }
        Scope::Commune(c) => q.filter(from.eq(c.clone())).filter(to.is_null().or(to.ne(c.clone()))),
    }
}

/// Changes above `after` in `scope`, at most `limit + 1` per kind (so "more" is known).
fn collect(conn: &mut AnyConnection, scope: &Scope, after: i64, snapshot: bool, limit: i64) -> Result<Vec<Change>, ApiError> {
    let mut out: Vec<Change> = Vec::new();
    let n = limit + 1;
    // First the page's last change number, from the change numbers alone (index-only
    // reads): then each kind loads only the rows of this page, not `n` rows of every kind.
    let mut numbers: Vec<i64> = Vec::new();
    // The smallest number found per table: a table without one in the page is not read again.
    let mut firsts: std::collections::HashMap<&'static str, i64> = std::collections::HashMap::new();
    macro_rules! numbers {
        ($table:ident) => {{
            let mut q = filter_to_scope!($table::table.filter($table::change_seq.gt(after)).into_boxed(), $table::commune_code, scope);
            if snapshot {
                q = q.filter($table::deleted_at.is_null());
            }
            let found = q.order($table::change_seq).limit(n).select($table::change_seq).load::<i64>(conn)?;
            if let Some(first) = found.first() {
                firsts.insert(stringify!($table), *first);
            }
            numbers.extend(found);
        }};
    }
    numbers!(hamlets);
    numbers!(teams);
    numbers!(team_members);
    numbers!(classes);
    numbers!(class_sessions);
    numbers!(trainees);
    numbers!(enrollments);
    numbers!(session_attendance);
    let found = topics::table
        .filter(topics::change_seq.gt(after))
        .order(topics::change_seq)
        .limit(n)
        .select(topics::change_seq)
        .load::<i64>(conn)?;
    if let Some(first) = found.first() {
        firsts.insert("topics", *first);
    }
    numbers.extend(found);
    if !snapshot {
        let found = removals_in(sync_removals::table.filter(sync_removals::change_seq.gt(after)).into_boxed(), scope)
            .order(sync_removals::change_seq)
            .limit(n)
            .select(sync_removals::change_seq)
            .load::<i64>(conn)?;
        if let Some(first) = found.first() {
            firsts.insert("sync_removals", *first);
        }
        numbers.extend(found);
    }
    numbers.sort_unstable();
    let upto = numbers.get(n as usize - 1).copied().unwrap_or(i64::MAX);
    let in_page = |table: &str| firsts.get(table).is_some_and(|first| *first <= upto);
    macro_rules! load {
        ($table:ident, $row:ty) => {{
            if !in_page(stringify!($table)) {
                Vec::<$row>::new()
            } else {
                let mut q = filter_to_scope!(
                    $table::table.filter($table::change_seq.gt(after)).filter($table::change_seq.le(upto)).into_boxed(),
                    $table::commune_code,
                    scope
                );
                if snapshot {
                    q = q.filter($table::deleted_at.is_null());
                }
                q.order($table::change_seq).limit(n).load::<$row>(conn)?
            }
        }};
    }
    for r in load!(hamlets, crate::store::rows::HamletRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::Hamlet,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::domain::hamlets::Hamlet::from(&r))).flatten(),
            merged_into: None,
        });
    }
    for r in load!(teams, crate::store::rows::TeamRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::Team,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::domain::teams::Team::from(&r))).flatten(),
            merged_into: None,
        });
    }
    for r in load!(team_members, crate::store::rows::MemberRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::TeamMember,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::domain::members::Member::from(&r))).flatten(),
            merged_into: None,
        });
    }
    let class_rows = load!(classes, crate::store::rows::ClassRow);
    let ids: Vec<String> = class_rows.iter().map(|r| r.id.clone()).collect();
    let (mut t, mut i) = if ids.is_empty() { Default::default() } else { crate::domain::classes::links(conn, &ids)? };
    for r in class_rows {
        let deleted = r.deleted_at.is_some();
        let view = crate::domain::classes::view(&r, t.remove(&r.id).unwrap_or_default(), i.remove(&r.id).unwrap_or_default());
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::Class,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&view)).flatten(),
            merged_into: None,
        });
    }
    for r in load!(class_sessions, crate::store::rows::SessionRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::ClassSession,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::domain::sessions::Session::from(&r))).flatten(),
            merged_into: None,
        });
    }
    for r in load!(trainees, crate::store::rows::TraineeRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::Trainee,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::domain::trainees::Trainee::from(&r))).flatten(),
            merged_into: if deleted { r.merged_into.clone() } else { None },
        });
    }
    let enrollment_rows = load!(enrollments, crate::store::rows::EnrollmentRow);
    let trainee_ids: Vec<String> = enrollment_rows.iter().map(|r| r.trainee_id.clone()).collect();
    let names: std::collections::HashMap<String, String> = if trainee_ids.is_empty() {
        Default::default()
    } else {
        trainees::table
            .filter(trainees::id.eq_any(&trainee_ids))
            .select((trainees::id, trainees::full_name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    for r in enrollment_rows {
        let deleted = r.deleted_at.is_some();
        let view = crate::domain::enrollments::view(&r, names.get(&r.trainee_id).cloned().unwrap_or_default());
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::Enrollment,
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&view)).flatten(),
            merged_into: None,
        });
    }
    let mut attendance = filter_to_scope!(
        session_attendance::table
            .filter(session_attendance::change_seq.gt(after))
            .filter(session_attendance::change_seq.le(upto))
            .into_boxed(),
        session_attendance::commune_code,
        scope
    );
    if snapshot {
        attendance = attendance.filter(session_attendance::deleted_at.is_null());
    }
    let attendance: Vec<(String, i64, i64, String, bool)> = if !in_page("session_attendance") {
        Vec::new()
    } else {
        attendance
            .order(session_attendance::change_seq)
            .limit(n)
            .select((
                session_attendance::session_id,
                session_attendance::version,
                session_attendance::change_seq,
                session_attendance::class_id,
                session_attendance::deleted_at.is_not_null(),
            ))
            .load(conn)?
    };
    for (session_id, version, seq, class_id, deleted) in attendance {
        // The list of a deleted session is a tombstone (it went with the session).
        let body = if deleted { None } else { json(&crate::domain::enrollments::load_attendance(conn, &class_id, &session_id)?) };
        out.push(Change { seq, kind: ChangeType::Attendance, id: session_id, version, deleted, removed: false, body, merged_into: None });
    }
    let topic_rows: Vec<crate::store::rows::TopicRow> = if !in_page("topics") {
        Vec::new()
    } else {
        topics::table
            .filter(topics::change_seq.gt(after))
            .filter(topics::change_seq.le(upto))
            .order(topics::change_seq)
            .limit(n)
            .load(conn)?
    };
    for r in topic_rows {
        out.push(Change {
            seq: r.change_seq,
            kind: ChangeType::Topic,
            id: r.id.clone(),
            version: r.version,
            deleted: false,
            removed: false,
            body: json(&crate::domain::topics::Topic::from(&r)),
            merged_into: None,
        });
    }
    if !snapshot && in_page("sync_removals") {
        let removals: Vec<(i64, String, String, i64)> = removals_in(
            sync_removals::table.filter(sync_removals::change_seq.gt(after)).filter(sync_removals::change_seq.le(upto)).into_boxed(),
            scope,
        )
        .order(sync_removals::change_seq)
        .limit(n)
        .select((sync_removals::change_seq, sync_removals::entity, sync_removals::entity_id, sync_removals::version))
        .load(conn)?;
        for (seq, entity, id, version) in removals {
            let kind = ChangeType::parse(&entity).unwrap_or(ChangeType::Record);
            out.push(Change { seq, kind, id, version, deleted: false, removed: true, body: None, merged_into: None });
        }
    }
    out.sort_by_key(|c| c.seq);
    Ok(out)
}

fn scope_units(conn: &mut AnyConnection, scope: &Scope) -> Result<Vec<crate::domain::units::Unit>, ApiError> {
    let q = units::table
        .inner_join(provinces::table)
        .select((units::code, units::name, units::kind, units::province_code, provinces::name))
        .into_boxed();
    let q = match scope {
        Scope::Country => q,
        Scope::Province(p) => q.filter(units::province_code.eq(p.clone())),
        Scope::Commune(c) => q.filter(units::code.eq(c.clone())),
    };
    let rows: Vec<(String, String, crate::store::values::UnitKind, String, String)> = q.order(units::code).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(code, name, kind, province_code, province_name)| crate::domain::units::Unit {
            code,
            name,
            kind,
            province_code,
            province_name,
        })
        .collect())
}

/// A page of the delta feed of the caller's scope (team members, officers, admins),
/// recording the pull of a device that names itself.
pub fn list_changes(
    conn: &mut AnyConnection,
    caller: &Caller,
    keys: &JwtKeys,
    horizon_days: i64,
    query: ChangesQuery,
    device: Option<DeviceReport>,
) -> Result<ChangePage, ApiError> {
    policy::authorize(caller, Capability::ReadPersonData, None, Access::Read)?;
    let limit = match query.limit {
        None => 500,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return Err(error::validation(vec![error::FieldError::new(
                "limit",
                "range",
                Text::new("Giá trị phải từ 1 đến 1000.", "Must be between 1 and 1000."),
            )]))
        }
    };
    let now = Utc::now().timestamp();
    let scope = caller.scope();
    // An empty `cursor=` is the first page, like no cursor.
    let cursor = match query.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(raw) => Some(open_cursor(keys, raw, scope, now, horizon_days)?),
        None => None,
    };
    let snapshot = cursor.is_none();
    let after = cursor.as_ref().map(|c| c.s).unwrap_or(0);
    let taken = cursor.as_ref().map(|c| c.t).unwrap_or(now);
    // Every statement of a page reads one snapshot of the database (see docs/SYNC.md).
    let (mut changes, units) = db::snapshot_tx(conn, |conn| {
        let changes = collect(conn, scope, after, snapshot, limit)?;
        let units = if snapshot { Some(scope_units(conn, scope)?) } else { None };
        Ok((changes, units))
    })?;
    if let Some(report) = &device {
        devices::record_pull(conn, caller, report)?;
    }
    let has_more = changes.len() as i64 > limit;
    changes.truncate(limit as usize);
    let last = changes.last().map(|c| c.seq).unwrap_or(after);
    let next_cursor = sign(keys, &Cursor { s: last, t: if has_more { taken } else { now }, k: scope_key(scope) });
    Ok(ChangePage { changes, next_cursor, has_more, units })
}
