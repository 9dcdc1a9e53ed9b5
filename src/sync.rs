//! The delta-sync pull feed for the field app: `GET /sync/changes` returns, in
//! change-sequence order, every record created, changed or deleted since the cursor within
//! the caller's scope, with its full body (or a tombstone), and removals for records that
//! left the scope. The first call (no cursor) is a snapshot of the scope.
//!
//! Change numbers come from one counter that writers lock until commit (`db::ChangeSeq`),
//! so a number is visible only after every smaller one is: reading "everything above N"
//! never skips a row that commits later. Cursors are opaque (base64 of the last number and
//! the time they were issued) and expire after the configured horizon (410).

use actix_web::{web, HttpResponse};
use chrono::Utc;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::AnyConnection;
use crate::error::{self, ApiError, Problem, Text};
use crate::http::{self, RequestMeta};
use crate::policy::{self, filter_to_scope, Access, Capability, Principal, Scope};
use crate::records::Write;
use crate::schema::{
    class_sessions, classes, enrollments, hamlets, provinces, session_attendance, sync_removals, team_members, teams, topics, trainees,
    units,
};

/// One change in the feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"seq": 1042, "type": "class", "id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "version": 3,
    "deleted": false, "removed": false, "body": {"title": "…"}}))]
pub struct Change {
    /// Change-sequence number (increasing).
    pub seq: i64,
    /// `hamlet`, `team`, `team_member`, `topic`, `class`, `class_session`, `trainee`,
    /// `enrollment` or `attendance` (id = session id).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub version: i64,
    /// A tombstone: the record was deleted; `body` is absent.
    pub deleted: bool,
    /// The record left the caller's scope (e.g. a trainee moved to another commune): drop it.
    pub removed: bool,
    /// The record as the API's GET returns it.
    #[schema(value_type = Object)]
    pub body: Option<serde_json::Value>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// Pass as `cursor` next time (also when `has_more` is false: it is where you are).
    pub next_cursor: String,
    pub has_more: bool,
    /// On the first page of a snapshot only: the units of the caller's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<crate::units::Unit>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// `next_cursor` of the previous call; absent for a full snapshot.
    pub cursor: Option<String>,
    /// 1–1,000 (default 500).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Last change number delivered.
    s: i64,
    /// When the feed position was first taken (unix seconds); kept across pages.
    t: i64,
}

/// Notes that a record left a commune, so that commune's devices drop it.
pub fn record_removal(conn: &mut AnyConnection, w: &mut Write<'_>, entity: &str, id: &str, commune: &str) -> Result<(), ApiError> {
    let seq = w.seq(conn)?;
    diesel::insert_into(sync_removals::table)
        .values((
            sync_removals::change_seq.eq(seq),
            sync_removals::entity.eq(entity),
            sync_removals::entity_id.eq(id),
            sync_removals::commune_code.eq(commune),
            sync_removals::at.eq(w.now),
        ))
        .execute(conn)?;
    Ok(())
}

fn json<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// Changes above `after` in `scope`, at most `limit + 1` per kind (so "more" is known).
fn collect(conn: &mut AnyConnection, scope: &Scope, after: i64, snapshot: bool, limit: i64) -> Result<Vec<Change>, ApiError> {
    let mut out: Vec<Change> = Vec::new();
    let n = limit + 1;
    // First the page's last change number, from the change numbers alone (index-only
    // reads): then each kind loads only the rows of this page, not `n` rows of every kind.
    let mut numbers: Vec<i64> = Vec::new();
    macro_rules! numbers {
        ($table:ident) => {{
            let mut q = filter_to_scope!($table::table.filter($table::change_seq.gt(after)).into_boxed(), $table::commune_code, scope);
            if snapshot {
                q = q.filter($table::deleted_at.is_null());
            }
            numbers.extend(q.order($table::change_seq).limit(n).select($table::change_seq).load::<i64>(conn)?);
        }};
    }
    numbers!(hamlets);
    numbers!(teams);
    numbers!(team_members);
    numbers!(classes);
    numbers!(class_sessions);
    numbers!(trainees);
    numbers!(enrollments);
    numbers.extend(
        filter_to_scope!(
            session_attendance::table.filter(session_attendance::change_seq.gt(after)).into_boxed(),
            session_attendance::commune_code,
            scope
        )
        .order(session_attendance::change_seq)
        .limit(n)
        .select(session_attendance::change_seq)
        .load::<i64>(conn)?,
    );
    numbers.extend(
        topics::table
            .filter(topics::change_seq.gt(after))
            .order(topics::change_seq)
            .limit(n)
            .select(topics::change_seq)
            .load::<i64>(conn)?,
    );
    if !snapshot {
        numbers.extend(
            filter_to_scope!(
                sync_removals::table.filter(sync_removals::change_seq.gt(after)).into_boxed(),
                sync_removals::commune_code,
                scope
            )
            .order(sync_removals::change_seq)
            .limit(n)
            .select(sync_removals::change_seq)
            .load::<i64>(conn)?,
        );
    }
    numbers.sort_unstable();
    let upto = numbers.get(n as usize - 1).copied().unwrap_or(i64::MAX);
    macro_rules! load {
        ($table:ident, $row:ty) => {{
            let mut q = filter_to_scope!(
                $table::table.filter($table::change_seq.gt(after)).filter($table::change_seq.le(upto)).into_boxed(),
                $table::commune_code,
                scope
            );
            if snapshot {
                q = q.filter($table::deleted_at.is_null());
            }
            q.order($table::change_seq).limit(n).load::<$row>(conn)?
        }};
    }
    for r in load!(hamlets, crate::hamlets::HamletRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: "hamlet",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::hamlets::Hamlet::from(&r))).flatten(),
        });
    }
    for r in load!(teams, crate::teams::TeamRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: "team",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::teams::Team::from(&r))).flatten(),
        });
    }
    for r in load!(team_members, crate::teams::MemberRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: "team_member",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::teams::Member::from(&r))).flatten(),
        });
    }
    let class_rows = load!(classes, crate::classes::ClassRow);
    let ids: Vec<String> = class_rows.iter().map(|r| r.id.clone()).collect();
    let (mut t, mut i) = crate::classes::links(conn, &ids)?;
    for r in class_rows {
        let deleted = r.deleted_at.is_some();
        let view = crate::classes::view(&r, t.remove(&r.id).unwrap_or_default(), i.remove(&r.id).unwrap_or_default());
        out.push(Change {
            seq: r.change_seq,
            kind: "class",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&view)).flatten(),
        });
    }
    for r in load!(class_sessions, crate::classes::SessionRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: "class_session",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::classes::Session::from(&r))).flatten(),
        });
    }
    for r in load!(trainees, crate::trainees::TraineeRow) {
        let deleted = r.deleted_at.is_some();
        out.push(Change {
            seq: r.change_seq,
            kind: "trainee",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&crate::trainees::Trainee::from(&r))).flatten(),
        });
    }
    let enrollment_rows = load!(enrollments, crate::enrollments::EnrollmentRow);
    let trainee_ids: Vec<String> = enrollment_rows.iter().map(|r| r.trainee_id.clone()).collect();
    let names: std::collections::HashMap<String, String> = trainees::table
        .filter(trainees::id.eq_any(&trainee_ids))
        .select((trainees::id, trainees::full_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    for r in enrollment_rows {
        let deleted = r.deleted_at.is_some();
        let view = crate::enrollments::view(&r, names.get(&r.trainee_id).cloned().unwrap_or_default());
        out.push(Change {
            seq: r.change_seq,
            kind: "enrollment",
            id: r.id.clone(),
            version: r.version,
            deleted,
            removed: false,
            body: (!deleted).then(|| json(&view)).flatten(),
        });
    }
    let attendance: Vec<(String, i64, i64, String)> = filter_to_scope!(
        session_attendance::table
            .filter(session_attendance::change_seq.gt(after))
            .filter(session_attendance::change_seq.le(upto))
            .into_boxed(),
        session_attendance::commune_code,
        scope
    )
    .order(session_attendance::change_seq)
    .limit(n)
    .select((session_attendance::session_id, session_attendance::version, session_attendance::change_seq, session_attendance::class_id))
    .load(conn)?;
    for (session_id, version, seq, class_id) in attendance {
        let list = crate::enrollments::load_attendance(conn, &class_id, &session_id)?;
        out.push(Change { seq, kind: "attendance", id: session_id, version, deleted: false, removed: false, body: json(&list) });
    }
    let topic_rows: Vec<crate::topics::TopicRow> = topics::table
        .filter(topics::change_seq.gt(after))
        .filter(topics::change_seq.le(upto))
        .order(topics::change_seq)
        .limit(n)
        .load(conn)?;
    for r in topic_rows {
        out.push(Change {
            seq: r.change_seq,
            kind: "topic",
            id: r.id.clone(),
            version: r.version,
            deleted: false,
            removed: false,
            body: json(&crate::topics::Topic::from(&r)),
        });
    }
    if !snapshot {
        let removals: Vec<(i64, String, String)> = filter_to_scope!(
            sync_removals::table.filter(sync_removals::change_seq.gt(after)).filter(sync_removals::change_seq.le(upto)).into_boxed(),
            sync_removals::commune_code,
            scope
        )
        .order(sync_removals::change_seq)
        .limit(n)
        .select((sync_removals::change_seq, sync_removals::entity, sync_removals::entity_id))
        .load(conn)?;
        for (seq, entity, id) in removals {
            let kind = if entity == "trainee" { "trainee" } else { "record" };
            out.push(Change { seq, kind, id, version: 0, deleted: false, removed: true, body: None });
        }
    }
    out.sort_by_key(|c| c.seq);
    Ok(out)
}

/// The delta feed of the caller's scope (team members, officers, admins; access-logged).
#[utoipa::path(
    get, path = "/api/v1/sync/changes", tag = "sync",
    params(
        ChangesQuery,
        ("X-Device-Id" = Option<String>, Header, description = "The device (recorded with the account for GET /sync/devices)"),
        ("X-App-Version" = Option<String>, Header, description = "The app version"),
        ("X-Outbox-Depth" = Option<i32>, Header, description = "Items waiting in the device's outbox"),
        ("X-Oldest-Unsynced" = Option<String>, Header, description = "RFC 3339 time of the oldest of them"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changes in change-sequence order", body = ChangePage),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts do not sync person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cursor is older than the sync horizon (`resync_required`): start again without a cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_changes(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    req: actix_web::HttpRequest,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadPersonData, None, Access::Read)?;
    let device = crate::devices::report_from(req.headers())?;
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
    let cursor: Option<Cursor> = query.cursor.as_deref().map(http::decode_cursor).transpose()?;
    if let Some(c) = &cursor {
        if now - c.t > state.config.sync_horizon_days * 86_400 {
            return Err(ApiError::gone(
                "resync_required",
                Text::new(
                    "Con trỏ đồng bộ đã quá hạn; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
                    "The sync cursor is too old; sync the whole scope again (call without a cursor).",
                ),
            ));
        }
    }
    let snapshot = cursor.is_none();
    let after = cursor.as_ref().map(|c| c.s).unwrap_or(0);
    let taken = cursor.as_ref().map(|c| c.t).unwrap_or(now);
    let scope = caller.scope().clone();
    let who = caller.clone();
    let (mut changes, units) = state
        .db
        .run(move |conn| {
            let changes = collect(conn, &scope, after, snapshot, limit)?;
            let units = if snapshot { Some(scope_units(conn, &scope)?) } else { None };
            if let Some(report) = &device {
                crate::devices::record(conn, &who, report, false, 0, 0)?;
            }
            Ok((changes, units))
        })
        .await?;
    let has_more = changes.len() as i64 > limit;
    changes.truncate(limit as usize);
    let last = changes.last().map(|c| c.seq).unwrap_or(after);
    let rows = changes.iter().filter(|c| c.kind == "trainee" || c.kind == "enrollment").count();
    if rows > 0 {
        state.access_log.record(&caller, &meta.request_id, "sync_pull", "trainee", None, rows);
    }
    let next_cursor = http::encode_cursor(&Cursor { s: last, t: if has_more { taken } else { now } });
    Ok(HttpResponse::Ok().json(ChangePage { changes, next_cursor, has_more, units }))
}

fn scope_units(conn: &mut AnyConnection, scope: &Scope) -> Result<Vec<crate::units::Unit>, ApiError> {
    let q = units::table
        .inner_join(provinces::table)
        .select((units::code, units::name, units::kind, units::province_code, provinces::name))
        .into_boxed();
    let q = match scope {
        Scope::Country => q,
        Scope::Province(p) => q.filter(units::province_code.eq(p.clone())),
        Scope::Commune(c) => q.filter(units::code.eq(c.clone())),
    };
    let rows: Vec<(String, String, String, String, String)> = q.order(units::code).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(code, name, kind, province_code, province_name)| crate::units::Unit { code, name, kind, province_code, province_name })
        .collect())
}
