//! Devices that sync. Every pull (and, later, push) that names its device (`X-Device-Id`)
//! records the account, the app version (`X-App-Version`), the time, the number of
//! operations and rejects, and what the device says is still waiting in its outbox
//! (`X-Outbox-Depth`, `X-Oldest-Unsynced`). Rows are keyed by account *and* device, so
//! several members sharing one phone never overwrite each other. Officers list the devices
//! of their scope, oldest sync first, to see who has not synced.

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::{self, AnyConnection};
use crate::error::{self, ApiError, Problem, Text};
use crate::http;
use crate::policy::{self, Access, Capability, Principal, Scope};
use crate::records::{Page, Position};
use crate::schema::{sync_devices as d, users};
use crate::users::utc;

/// What a device reported in its headers.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    pub device_id: String,
    pub app_version: Option<String>,
    pub outbox_depth: Option<i32>,
    pub oldest_unsynced: Option<NaiveDateTime>,
}

fn bad_header(name: &str) -> ApiError {
    error::bad_request(
        "invalid_header",
        Text::new(format!("Giá trị của tiêu đề {name} không hợp lệ."), format!("The value of the {name} header is invalid.")),
    )
}

/// A device id sent in a body (a push, a conflict report): 1–100 visible ASCII characters.
pub fn check_device_id(raw: &str, errors: &mut Vec<crate::error::FieldError>) -> String {
    let device = raw.trim();
    if device.is_empty() || device.len() > 100 || !device.bytes().all(|b| b.is_ascii_graphic()) {
        errors.push(crate::error::FieldError::new(
            "device_id",
            "invalid_device_id",
            Text::new("Mã thiết bị phải có 1–100 ký tự ASCII nhìn thấy được.", "The device id must be 1–100 visible ASCII characters."),
        ));
    }
    device.to_owned()
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
                if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
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

/// Records a pull or push of `caller` from the reported device.
pub fn record(
    conn: &mut AnyConnection,
    caller: &Caller,
    report: &DeviceReport,
    push: bool,
    operations: i32,
    rejects: i32,
) -> Result<(), ApiError> {
    let now = db::now();
    let (commune, province) = match caller.scope() {
        Scope::Country => (None, None),
        Scope::Province(p) => (None, Some(p.clone())),
        Scope::Commune(c) => (Some(c.clone()), crate::units::province_of(conn, c)?),
    };
    let key = (caller.user.id.as_str(), report.device_id.as_str());
    let updated = diesel::update(d::table.find(key))
        .set((
            d::commune_code.eq(&commune),
            d::province_code.eq(&province),
            d::app_version.eq(&report.app_version),
            d::last_sync_at.eq(now),
            d::outbox_depth.eq(report.outbox_depth),
            d::oldest_unsynced.eq(report.oldest_unsynced),
        ))
        .execute(conn)?;
    if updated == 0 {
        let inserted = conn.transaction(|c| {
            diesel::insert_into(d::table)
                .values((
                    d::account_id.eq(key.0),
                    d::device_id.eq(key.1),
                    d::commune_code.eq(&commune),
                    d::province_code.eq(&province),
                    d::app_version.eq(&report.app_version),
                    d::last_sync_at.eq(now),
                    d::last_operations.eq(0),
                    d::last_rejects.eq(0),
                    d::outbox_depth.eq(report.outbox_depth),
                    d::oldest_unsynced.eq(report.oldest_unsynced),
                ))
                .execute(c)
        });
        match inserted {
            Ok(_) | Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if push {
        diesel::update(d::table.find(key))
            .set((d::last_push_at.eq(Some(now)), d::last_operations.eq(operations), d::last_rejects.eq(rejects)))
            .execute(conn)?;
    } else {
        diesel::update(d::table.find(key)).set(d::last_pull_at.eq(Some(now))).execute(conn)?;
    }
    Ok(())
}

/// A device of an account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"account_id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "username": "lan.tcns", "full_name": "Nguyễn Thị Lan",
    "device_id": "android-7f3a", "commune_code": "21025", "app_version": "1.4.2", "last_sync_at": "2026-11-26T08:00:00Z",
    "last_pull_at": "2026-11-26T08:00:00Z", "last_push_at": null, "last_operations": 0, "last_rejects": 0,
    "outbox_depth": 12, "oldest_unsynced": "2026-11-24T07:30:00Z"}))]
pub struct Device {
    pub account_id: String,
    pub username: String,
    pub full_name: String,
    pub device_id: String,
    pub commune_code: Option<String>,
    pub app_version: Option<String>,
    pub last_sync_at: DateTime<Utc>,
    pub last_pull_at: Option<DateTime<Utc>>,
    pub last_push_at: Option<DateTime<Utc>>,
    /// Operations in the last push.
    pub last_operations: i32,
    /// Rejected operations in the last push.
    pub last_rejects: i32,
    /// Items the device said were still waiting to be sent.
    pub outbox_depth: Option<i32>,
    /// The oldest of them, as the device reported.
    pub oldest_unsynced: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

type DeviceRow = (
    (
        String,
        String,
        Option<String>,
        Option<String>,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        i32,
        i32,
        Option<i32>,
        Option<NaiveDateTime>,
    ),
    (String, String),
);

/// Devices of the caller's scope, the longest without sync first (admins and officers).
#[utoipa::path(
    get, path = "/api/v1/sync/devices", tag = "sync", params(DeviceQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Devices, oldest sync first", body = Page<Device>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only officers and admins", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_devices(state: web::Data<AppState>, caller: Caller, query: web::Query<DeviceQuery>) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadAudit, None, Access::Read)?;
    let limit = http::page_limit(query.limit)?;
    let after: Option<Position> = query.cursor.as_deref().map(http::decode_cursor).transpose()?;
    let scope = caller.scope().clone();
    let page = state
        .db
        .run(move |conn| {
            let mut q = d::table
                .inner_join(users::table)
                .select((
                    (
                        d::account_id,
                        d::device_id,
                        d::commune_code,
                        d::app_version,
                        d::last_sync_at,
                        d::last_pull_at,
                        d::last_push_at,
                        d::last_operations,
                        d::last_rejects,
                        d::outbox_depth,
                        d::oldest_unsynced,
                    ),
                    (users::username, users::full_name),
                ))
                .into_boxed();
            q = match &scope {
                Scope::Country => q,
                Scope::Province(p) => q.filter(d::province_code.eq(p.clone())),
                Scope::Commune(c) => q.filter(d::commune_code.eq(c.clone())),
            };
            if let Some(Position(at, key)) = after {
                let at = NaiveDateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| http::invalid_cursor())?;
                let (account, device) = key.split_once('|').ok_or_else(http::invalid_cursor)?;
                q = q.filter(d::last_sync_at.gt(at).or(d::last_sync_at.eq(at).and(
                    d::account_id.gt(account.to_owned()).or(d::account_id.eq(account.to_owned()).and(d::device_id.gt(device.to_owned()))),
                )));
            }
            let rows: Vec<DeviceRow> = q.order((d::last_sync_at, d::account_id, d::device_id)).limit(limit + 1).load(conn)?;
            crate::records::page(
                rows,
                limit,
                |r| Position(r.0 .4.format("%Y-%m-%dT%H:%M:%S%.f").to_string(), format!("{}|{}", r.0 .0, r.0 .1)),
                |r| {
                    let (dv, (username, full_name)) = r;
                    Ok(Device {
                        account_id: dv.0.clone(),
                        username: username.clone(),
                        full_name: full_name.clone(),
                        device_id: dv.1.clone(),
                        commune_code: dv.2.clone(),
                        app_version: dv.3.clone(),
                        last_sync_at: utc(dv.4),
                        last_pull_at: dv.5.map(utc),
                        last_push_at: dv.6.map(utc),
                        last_operations: dv.7,
                        last_rejects: dv.8,
                        outbox_depth: dv.9,
                        oldest_unsynced: dv.10.map(utc),
                    })
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
