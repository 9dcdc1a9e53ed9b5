//! Offline sync: `GET /sync/changes`, `POST /sync/push`, `GET /sync/devices`,
//! `/sync/conflicts`. The device headers (`X-Device-Id`, `X-App-Version`,
//! `X-Outbox-Depth`, `X-Oldest-Unsynced`) are read here.

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::DateTime;

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{self, ApiError, Problem, Text};
use crate::domain::records::Page;
use crate::domain::sync::conflicts::{self, Conflict, ConflictQuery, NewConflict, Resolution};
use crate::domain::sync::devices::{self, Device, DeviceQuery, DeviceReport};
use crate::domain::sync::feed::{self, ChangePage, ChangesQuery};
use crate::domain::sync::push::{self, PushRequest, PushResponse};
use crate::http::problem::lang_of;
use crate::http::respond::{created, ok_with_etag};
use crate::http::responses::{InvalidFields, Unauthorized};
use crate::http::state::AppState;
use crate::store::db;
use crate::store::values::ChangeType;

fn bad_header(name: &str) -> ApiError {
    error::bad_request(
        "invalid_header",
        Text::new(format!("Giá trị của tiêu đề {name} không hợp lệ."), format!("The value of the {name} header is invalid.")),
    )
}

/// Reads the device headers; `None` when the request names no device.
pub fn report_from(headers: &HeaderMap) -> Result<Option<DeviceReport>, ApiError> {
    read(headers, None)
}

/// Reads the device headers of a request that names its device in the body (a push).
pub fn report_for(headers: &HeaderMap, device_id: &str) -> Result<DeviceReport, ApiError> {
    Ok(read(headers, Some(device_id.to_owned()))?.unwrap_or_default())
}

fn read(headers: &HeaderMap, device_id: Option<String>) -> Result<Option<DeviceReport>, ApiError> {
    let text = |name: &str, max: usize| -> Result<Option<String>, ApiError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => {
                let s = v.to_str().map_err(|_| bad_header(name))?.trim().to_owned();
                // An empty header is an absent one (some HTTP stacks send every header).
                if s.is_empty() {
                    return Ok(None);
                }
                if s.len() > max || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                    return Err(bad_header(name));
                }
                Ok(Some(s))
            }
        }
    };
    let Some(device_id) = (match device_id {
        Some(d) => Some(d),
        None => text("x-device-id", 100)?,
    }) else {
        return Ok(None);
    };
    let app_version = text("x-app-version", 50)?;
    let outbox_depth = match text("x-outbox-depth", 10)? {
        Some(s) => Some(s.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| bad_header("X-Outbox-Depth"))?),
        None => None,
    };
    let oldest_unsynced = match text("x-oldest-unsynced", 40)? {
        Some(s) => Some(db::truncate_micros(DateTime::parse_from_rfc3339(&s).map_err(|_| bad_header("X-Oldest-Unsynced"))?.naive_utc())),
        None => None,
    };
    Ok(Some(DeviceReport { device_id, app_version, outbox_depth, oldest_unsynced }))
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
        (status = 400, description = "A cursor that is not one (`invalid_cursor`), altered or not signed by the server (`cursor_tampered`), or dated in the future (`cursor_from_future`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not sync person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`resync_required`: the cursor is older than the sync horizon, of the old unsigned kind, or of another scope than the account's: start again without a cursor", body = Problem, content_type = "application/problem+json"),
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
    let device = report_from(req.headers())?;
    let horizon = state.config.sync_horizon_days;
    let who = caller.clone();
    let st = state.clone();
    let page = state.db.run(move |conn| feed::list_changes(conn, &who, &st.jwt, horizon, query.into_inner(), device)).await?;
    // Every person whose data the page holds: trainees, and the trainees of enrollments.
    let people = page.changes.iter().filter(|c| c.body.is_some()).filter_map(|c| match c.kind {
        ChangeType::Trainee => Some(c.id.as_str()),
        ChangeType::Enrollment => c.body.as_ref().and_then(|b| b["trainee_id"].as_str()),
        _ => None,
    });
    state.access_log.record_people(&caller, &meta.request_id, "sync", people);
    Ok(HttpResponse::Ok().json(page))
}

/// Apply a batch of outbox operations (team members, officers, admins).
#[utoipa::path(
    post, path = "/api/v1/sync/push", tag = "sync", request_body = PushRequest,
    params(
        ("X-App-Version" = Option<String>, Header, description = "The app version"),
        ("X-Outbox-Depth" = Option<i32>, Header, description = "Items waiting in the device's outbox (before this push)"),
        ("X-Oldest-Unsynced" = Option<String>, Header, description = "RFC 3339 time of the oldest of them"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per operation (also when some or all were not applied)", body = PushResponse),
        (status = 400, description = "Malformed JSON or headers", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not record", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 8 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad device_id, or more than 1,000 operations", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn push(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    req: HttpRequest,
    form: web::Json<PushRequest>,
) -> Result<HttpResponse, ApiError> {
    let lang = lang_of(req.headers());
    let PushRequest { device_id, operations } = form.into_inner();
    let device = push::check_push(&caller, &device_id, &operations)?;
    let report = report_for(req.headers(), &device)?;
    let st = state.clone();
    let (who, request_id) = (caller.clone(), meta.request_id.clone());
    let response = state.db.run(move |conn| push::push(conn, &caller, &meta, &st.config.id_hash_secret, &report, operations, lang)).await?;
    // Conflict results carry the server's record: the people in them were read.
    state.metrics.observe_push(response.results.iter().map(|r| &r.status));
    // Only those: an applied or duplicate result returns nothing the device did not send.
    let people = response
        .results
        .iter()
        .filter(|r| r.current.is_some())
        .filter_map(|r| person_in(r.kind.map(|k| k.as_str()), r.id.as_deref(), r.current.as_ref()));
    state.access_log.record_people(&who, &request_id, "conflicts", people);
    Ok(HttpResponse::Ok().json(response))
}

/// Devices of the caller's scope, the longest without sync first (admins and officers).
#[utoipa::path(
    get, path = "/api/v1/sync/devices", tag = "sync", params(DeviceQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Devices, oldest sync first", body = Page<Device>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Only officers and admins", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_devices(state: web::Data<AppState>, caller: Caller, query: web::Query<DeviceQuery>) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| devices::list_devices(conn, &caller, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Report a conflict the device could not resolve (team members, officers, admins).
#[utoipa::path(
    post, path = "/api/v1/sync/conflicts", tag = "sync", request_body = NewConflict,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Reported", body = Conflict),
        (status = 200, description = "Replay of an earlier identical report", body = Conflict),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not record", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record in the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different report", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn report_conflict(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewConflict>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let (outcome, view) =
        state.db.run(move |conn| conflicts::report_conflict(conn, &caller, &meta, &st.config.id_hash_secret, form.into_inner())).await?;
    Ok(created(outcome, view.version, &view))
}

/// Reported conflicts, oldest first: officers and admins see those of their scope, team
/// members those their own account filed (`?device_id=` narrows to one device).
#[utoipa::path(
    get, path = "/api/v1/sync/conflicts", tag = "sync", params(ConflictQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Conflicts with the record as it is now", body = Page<Conflict>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad status or limit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_conflicts(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    query: web::Query<ConflictQuery>,
) -> Result<HttpResponse, ApiError> {
    let who = caller.clone();
    let page = state.db.run(move |conn| conflicts::list_conflicts(conn, &caller, query.into_inner())).await?;
    let people = page.items.iter().filter_map(|c| person_in(Some(c.kind.as_str()), Some(&c.record_id), c.current.as_ref()));
    state.access_log.record_people(&who, &meta.request_id, "conflicts", people);
    Ok(HttpResponse::Ok().json(page))
}

/// The person a record of `kind` is about, if it is about one: a trainee itself, or the
/// trainee of an enrollment (from the record's body).
fn person_in<'a>(kind: Option<&str>, id: Option<&'a str>, body: Option<&'a serde_json::Value>) -> Option<&'a str> {
    match kind? {
        "trainee" => id,
        "enrollment" | "completion" => body.and_then(|b| b["trainee_id"].as_str()),
        _ => None,
    }
}

/// Resolve a reported conflict (officers, admins of the record's commune). An applied
/// decision writes through the same checks as a pushed edit, on top of the current
/// version; if that edit is refused, the conflict stays open and the refusal is returned.
#[utoipa::path(
    post, path = "/api/v1/sync/conflicts/{id}/resolve", tag = "sync", request_body = Resolution,
    params(("id" = String, Path, description = "Conflict id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resolved", body = Conflict),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Only officers and admins", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conflict in the caller's scope, or the record is gone", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already resolved (`already_resolved`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad decision, or the applied edit is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resolve_conflict(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<Resolution>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let view = state
        .db
        .run(move |conn| conflicts::resolve_conflict(conn, &caller, &meta, &st.config.id_hash_secret, &path, form.into_inner()))
        .await?;
    Ok(ok_with_etag(view.version, &view))
}
