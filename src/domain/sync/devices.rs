//! Devices that sync. Every pull (and, later, push) that names its device (`X-Device-Id`)
//! records the account, the app version (`X-App-Version`), the time, the number of
//! operations and rejects, and what the device says is still waiting in its outbox
//! (`X-Outbox-Depth`, `X-Oldest-Unsynced`). Rows are keyed by account *and* device, so
//! several members sharing one phone never overwrite each other. Officers list the devices
//! of their scope, oldest sync first, to see who has not synced.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::Caller;
use crate::access::policy::{self, Access, Capability, Principal, Scope};
use crate::base::error::{ApiError, Text};
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, Page, Position};
use crate::store::db::{self, AnyConnection};
use crate::store::schema::{sync_devices as d, users};

/// What a device reported in its headers.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    pub device_id: String,
    pub app_version: Option<String>,
    pub outbox_depth: Option<i32>,
    pub oldest_unsynced: Option<NaiveDateTime>,
}

/// A device id sent in a body (a push, a conflict report): 1–100 visible ASCII characters.
pub fn check_device_id(raw: &str, errors: &mut Vec<crate::base::error::FieldError>) -> String {
    let device = raw.trim();
    if device.is_empty() || device.len() > 100 || !device.bytes().all(|b| b.is_ascii_graphic()) {
        errors.push(crate::base::error::FieldError::new(
            "device_id",
            "invalid_device_id",
            Text::new("Mã thiết bị phải có 1–100 ký tự ASCII nhìn thấy được.", "The device id must be 1–100 visible ASCII characters."),
        ));
    }
    device.to_owned()
}

/// [`record`] for a pull, which must not make the read wait behind writers (a pull's
/// report of its device is worth less than that):
/// - on PostgreSQL, in a transaction of its own that does not wait for the log to reach
///   the disk (`synchronous_commit = off`): a burst of pushes' log flushes would otherwise
///   hold the answer back; a crash may lose the last fraction of a second of reports;
/// - on SQLite, without waiting for the database's write lock (`busy_timeout` 0 for this
///   statement): while another write holds it, the report of this pull is skipped (the
///   next pull records the device). Before, a pull could wait seconds behind a burst.
pub fn record_pull(conn: &mut AnyConnection, caller: &Caller, report: &DeviceReport) -> Result<(), ApiError> {
    use diesel::connection::SimpleConnection;
    if matches!(conn, AnyConnection::Postgresql(_)) {
        return conn.transaction(|conn| {
            conn.batch_execute("SET LOCAL synchronous_commit = off")?;
            record(conn, caller, report, false, 0, 0)
        });
    }
    conn.batch_execute("PRAGMA busy_timeout = 0")?;
    let recorded = record(conn, caller, report, false, 0, 0);
    conn.batch_execute(crate::store::db::SQLITE_BUSY_TIMEOUT)?;
    match recorded {
        Err(e) if e.cause.as_deref().is_some_and(|c| c.contains("database is locked")) => {
            tracing::debug!(device = %report.device_id, "pull not recorded: the database was busy with a write");
            Ok(())
        }
        other => other,
    }
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
        Scope::Commune(c) => (Some(c.clone()), crate::access::policy::province_of(conn, c)?),
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
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
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
pub fn list_devices(conn: &mut AnyConnection, caller: &Caller, query: DeviceQuery) -> Result<Page<Device>, ApiError> {
    policy::authorize(caller, Capability::ReadAudit, None, Access::Read)?;
    let limit = page_limit(query.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(query.cursor.as_deref())?;
    let scope = caller.scope().clone();
    {
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
            let at = NaiveDateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| records::invalid_cursor())?;
            let (account, device) = key.split_once('|').ok_or_else(records::invalid_cursor)?;
            q = q.filter(d::last_sync_at.gt(at).or(d::last_sync_at.eq(at).and(
                d::account_id.gt(account.to_owned()).or(d::account_id.eq(account.to_owned()).and(d::device_id.gt(device.to_owned()))),
            )));
        }
        let rows: Vec<DeviceRow> = q.order((d::last_sync_at, d::account_id, d::device_id)).limit(limit + 1).load(conn)?;
        crate::domain::records::page(
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
    }
}

/// Per province, the oldest change a device last said it still holds unsent: the sync lag
/// the operators' metrics show. Devices of accounts without a province (the country's
/// admins) come under `None`.
pub fn oldest_unsynced_by_province(conn: &mut AnyConnection) -> Result<Vec<(Option<String>, NaiveDateTime)>, ApiError> {
    let rows: Vec<(Option<String>, Option<NaiveDateTime>)> = d::table
        .filter(d::oldest_unsynced.is_not_null())
        .group_by(d::province_code)
        .select((d::province_code, diesel::dsl::min(d::oldest_unsynced)))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(province, oldest)| oldest.map(|o| (province, o))).collect())
}
