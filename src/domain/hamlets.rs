//! Hamlets (thôn) and residential groups (tổ dân phố) of a commune. They have no official
//! codes, so they are identified by UUIDs; officers and admins of the commune maintain them.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Area, Capability};
use crate::base::error::{self, ApiError};
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::store::db::AnyConnection;
use crate::store::rows::HamletRow;
use crate::store::schema::{classes, hamlets, teams, trainees, units};
use crate::store::values::{Choice, HamletKind};

/// A hamlet or residential group.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "5b7e0c52-3f0a-4b8e-8f6e-0d9c2f1a7b34", "commune_code": "21025", "name": "Thôn Phú Thọ",
    "kind": "village", "version": 1, "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct Hamlet {
    pub id: String,
    pub commune_code: String,
    pub name: String,
    pub kind: HamletKind,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&HamletRow> for Hamlet {
    fn from(r: &HamletRow) -> Self {
        Hamlet {
            id: r.id.clone(),
            commune_code: r.commune_code.clone(),
            name: r.name.clone(),
            kind: r.kind,
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A new hamlet. Re-sending the same request with the same `id` returns the stored record.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "5b7e0c52-3f0a-4b8e-8f6e-0d9c2f1a7b34", "name": "Thôn Phú Thọ", "kind": "village"}))]
pub struct NewHamlet {
    pub id: Option<String>,
    /// 1–200 characters.
    pub name: String,
    #[schema(value_type = HamletKind)]
    pub kind: Choice<HamletKind>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Thôn Phú Thọ 2"}))]
pub struct HamletPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<HamletKind>)]
    pub kind: Option<Choice<HamletKind>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn load(conn: &mut crate::store::db::AnyConnection, id: &str) -> Result<HamletRow, ApiError> {
    Ok(hamlets::table.find(id).filter(hamlets::deleted_at.is_null()).first(conn)?)
}

/// Checks that `commune` is a commune-level unit and that the caller may act there.
fn commune_area(
    conn: &mut crate::store::db::AnyConnection,
    caller: &Caller,
    commune: &str,
    cap: Capability,
    access: Access,
) -> Result<Area, ApiError> {
    let exists: i64 = units::table.filter(units::code.eq(commune)).count().get_result(conn)?;
    if exists == 0 {
        return Err(error::not_found());
    }
    let area = Area::of_commune(conn, commune)?;
    policy::authorize(caller, cap, Some(&area), access)?;
    Ok(area)
}

/// Checks an optional hamlet reference: it must exist, be live and lie in `commune`.
pub fn check_hamlet(conn: &mut crate::store::db::AnyConnection, hamlet_id: Option<&str>, commune: &str) -> Result<(), ApiError> {
    let Some(h) = hamlet_id else { return Ok(()) };
    let found: Option<String> =
        hamlets::table.find(h).filter(hamlets::deleted_at.is_null()).select(hamlets::commune_code).first(conn).optional()?;
    match found {
        Some(c) if c == commune => Ok(()),
        Some(_) => Err(error::validation(vec![error::FieldError::new(
            "hamlet_id",
            "other_commune",
            error::Text::new("Thôn/tổ dân phố thuộc xã khác.", "The hamlet belongs to another commune."),
        )])),
        None => Err(records::unknown_reference("hamlet_id")),
    }
}

/// Hamlets of a commune, by name.
pub fn list_hamlets(conn: &mut AnyConnection, caller: &Caller, path: &str, query: PageQuery) -> Result<Page<Hamlet>, ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let limit = page_limit(query.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(query.cursor.as_deref())?;
    let code = path.to_owned();
    {
        commune_area(conn, caller, &code, Capability::ReadFieldRecords, Access::Read)?;
        let mut q = hamlets::table.filter(hamlets::commune_code.eq(&code)).filter(hamlets::deleted_at.is_null()).into_boxed();
        if let Some(Position(name, id)) = after {
            q = q.filter(hamlets::search_name.gt(name.clone()).or(hamlets::search_name.eq(name).and(hamlets::id.gt(id))));
        }
        let rows: Vec<HamletRow> = q.order((hamlets::search_name, hamlets::id)).limit(limit + 1).load(conn)?;
        records::page(rows, limit, |r| Position(r.search_name.clone(), r.id.clone()), |r| Ok(Hamlet::from(r)))
    }
}

/// Add a hamlet to a commune (officer or admin of that commune).
pub fn create_hamlet(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: NewHamlet,
) -> Result<(CreateOutcome, Hamlet), ApiError> {
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let name = records::required_text("name", &form.name, 200, &mut errors);
    let kind = form.kind.check("kind", &mut errors);
    records::fail_if_any(errors)?;
    let kind = records::valid(kind)?;
    let code = path.to_owned();
    let (outcome, row) = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            commune_area(conn, caller, &code, Capability::ManageTeams, Access::Write)?;
            let existing = hamlets::table
                .find(&id)
                .select((hamlets::create_digest, hamlets::deleted_at.is_not_null(), hamlets::commune_code))
                .first::<(String, bool, String)>(conn)
                .optional()?;
            if records::check_replay_in(existing, &code, &digest, &form)? == CreateOutcome::Replay {
                return Ok((CreateOutcome::Replay, load(conn, &id)?));
            }
            let seq = w.seq(conn)?;
            diesel::insert_into(hamlets::table)
                .values((
                    hamlets::id.eq(&id),
                    hamlets::version.eq(1i64),
                    hamlets::created_at.eq(w.now),
                    hamlets::updated_at.eq(w.now),
                    hamlets::deleted_at.eq(None::<NaiveDateTime>),
                    hamlets::change_seq.eq(seq),
                    hamlets::create_digest.eq(digest.stored()),
                    hamlets::commune_code.eq(&code),
                    hamlets::name.eq(&name),
                    hamlets::kind.eq(kind),
                    hamlets::search_name.eq(crate::base::text::fold(&name)),
                ))
                .execute(conn)?;
            w.audit(conn, "create", "hamlet", &id, Some(&code), &["name", "kind"])?;
            w.finish(conn)?;
            Ok((CreateOutcome::New, load(conn, &id)?))
        })
    }?;
    Ok((outcome, Hamlet::from(&row)))
}

/// Rename a hamlet or change its kind. Needs `If-Match`.
pub fn update_hamlet(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: &str,
    patch: HamletPatch,
) -> Result<Hamlet, ApiError> {
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let id = parse_uuid(path)?;
    let mut errors = Vec::new();
    let name = patch.name.as_deref().map(|n| records::required_text("name", n, 200, &mut errors));
    let kind = patch.kind.as_ref().map(|k| k.check("kind", &mut errors));
    records::fail_if_any(errors)?;
    let kind = kind.map(records::valid).transpose()?;
    let row = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = load(conn, &id)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
            if_match.check(row.version)?;
            let mut changed = Vec::new();
            if name.as_ref().is_some_and(|n| n != &row.name) {
                changed.push("name");
            }
            if kind.is_some_and(|k| k != row.kind) {
                changed.push("kind");
            }
            if changed.is_empty() {
                return Ok(row);
            }
            let seq = w.seq(conn)?;
            let name = name.unwrap_or(row.name.clone());
            diesel::update(hamlets::table.find(&id))
                .set((
                    hamlets::search_name.eq(crate::base::text::fold(&name)),
                    hamlets::name.eq(name),
                    hamlets::kind.eq(kind.unwrap_or(row.kind)),
                    hamlets::version.eq(row.version + 1),
                    hamlets::updated_at.eq(w.now),
                    hamlets::change_seq.eq(seq),
                ))
                .execute(conn)?;
            w.audit(conn, "update", "hamlet", &id, Some(&row.commune_code), &changed)?;
            w.finish(conn)?;
            load(conn, &id)
        })
    }?;
    Ok(Hamlet::from(&row))
}

/// Delete a hamlet that no live team, class or trainee names (a tombstone).
pub fn delete_hamlet(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: &str,
) -> Result<(), ApiError> {
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let id = parse_uuid(path)?;
    {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = load(conn, &id)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
            if_match.check(row.version)?;
            let used = |n: i64| n > 0;
            let teams_n: i64 =
                teams::table.filter(teams::hamlet_id.eq(&id)).filter(teams::deleted_at.is_null()).count().get_result(conn)?;
            let classes_n: i64 =
                classes::table.filter(classes::hamlet_id.eq(&id)).filter(classes::deleted_at.is_null()).count().get_result(conn)?;
            let trainees_n: i64 =
                trainees::table.filter(trainees::hamlet_id.eq(&id)).filter(trainees::deleted_at.is_null()).count().get_result(conn)?;
            if used(teams_n) || used(classes_n) || used(trainees_n) {
                return Err(records::in_use(
                    "hamlet_in_use",
                    format!(
                        "Thôn/tổ dân phố đang được dùng ({teams_n} tổ, {classes_n} lớp, {trainees_n} người học); hãy chuyển các bản ghi đó trước khi xóa."
                    ),
                    format!(
                        "The hamlet is in use ({teams_n} teams, {classes_n} classes, {trainees_n} trainees); move those records before deleting it."
                    ),
                ));
            }
            let seq = w.seq(conn)?;
            records::tombstone!(conn, hamlets, &id, row.version, w.now, seq);
            w.audit(conn, "delete", "hamlet", &id, Some(&row.commune_code), &[])?;
            w.finish(conn)
        })
    }
}
