//! Community digital technology teams (Tổ công nghệ số cộng đồng) and their members.
//! A commune sets up one team per village or residential group, sometimes one at commune
//! level; officers and admins of the commune maintain them. Team size limits differ by
//! province, so none is enforced here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::AnyConnection;
use crate::error::{self, ApiError, FieldError, Problem, Text};
use crate::http::{self, IfMatch, RequestMeta};
use crate::policy::{self, filter_to_scope, Access, Area, Capability, Principal};
use crate::records::{self, CreateOutcome, Page, Position, Write};
use crate::schema::{classes, team_members, teams, units, users};
use crate::stats::Rec;
use crate::users::utc;

pub const KINDS: &[&str] = &["community_tech_team", "youth_volunteer_team", "other"];
pub const LEVELS: &[&str] = &["commune", "hamlet"];
pub const MEMBER_ROLES: &[&str] = &["leader", "deputy", "member"];
pub const AFFILIATIONS: &[&str] = &[
    "hamlet_leader",
    "youth_union",
    "women_union",
    "commune_police",
    "teacher",
    "health_worker",
    "telecom_it",
    "official",
    "volunteer",
    "other",
];

#[derive(Debug, Clone, Queryable)]
pub struct TeamRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub level: String,
    pub decision_number: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub active: bool,
}

/// A community digital technology team.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "8d1f6a8e-2b1c-4c3e-9a7d-1e2f3a4b5c6d", "commune_code": "21025",
    "hamlet_id": "5b7e0c52-3f0a-4b8e-8f6e-0d9c2f1a7b34", "name": "Tổ công nghệ số cộng đồng thôn Phú Thọ",
    "kind": "community_tech_team", "level": "hamlet", "decision_number": "125/QĐ-UBND", "decision_date": "2025-08-12",
    "active": true, "version": 1, "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct Team {
    pub id: String,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub name: String,
    /// `community_tech_team`, `youth_volunteer_team` or `other`.
    pub kind: String,
    /// `commune` or `hamlet`.
    pub level: String,
    /// Number of the commune's establishing decision.
    pub decision_number: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&TeamRow> for Team {
    fn from(r: &TeamRow) -> Self {
        Team {
            id: r.id.clone(),
            commune_code: r.commune_code.clone(),
            hamlet_id: r.hamlet_id.clone(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            level: r.level.clone(),
            decision_number: r.decision_number.clone(),
            decision_date: r.decision_date,
            active: r.active,
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A new team. Re-sending the same request with the same `id` returns the stored record.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"commune_code": "21025", "hamlet_id": "5b7e0c52-3f0a-4b8e-8f6e-0d9c2f1a7b34",
    "name": "Tổ công nghệ số cộng đồng thôn Phú Thọ", "kind": "community_tech_team", "level": "hamlet",
    "decision_number": "125/QĐ-UBND", "decision_date": "2025-08-12"}))]
pub struct NewTeam {
    pub id: Option<String>,
    pub commune_code: String,
    /// Required when `level` is `hamlet`; must be a hamlet of the same commune.
    pub hamlet_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub level: String,
    /// Up to 100 characters.
    #[validate(length(max = 100))]
    pub decision_number: Option<String>,
    /// YYYY-MM-DD.
    pub decision_date: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// Changes to a team; `""` clears an optional text or date.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub hamlet_id: Option<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub level: Option<String>,
    #[validate(length(max = 100))]
    pub decision_number: Option<String>,
    pub decision_date: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamQuery {
    /// Only teams of this commune.
    pub commune: Option<String>,
    /// Only teams of this hamlet.
    pub hamlet: Option<String>,
    /// Only active (`true`) or inactive (`false`) teams.
    pub active: Option<bool>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn load_team(conn: &mut AnyConnection, id: &str) -> Result<TeamRow, ApiError> {
    Ok(teams::table.find(id).filter(teams::deleted_at.is_null()).first(conn)?)
}

fn check_level(level: &str, hamlet_id: Option<&str>) -> Result<(), ApiError> {
    if level == "hamlet" && hamlet_id.is_none() {
        return Err(error::validation(vec![FieldError::new(
            "hamlet_id",
            "required",
            Text::new("Tổ cấp thôn cần có thôn/tổ dân phố.", "A hamlet-level team needs its hamlet."),
        )]));
    }
    Ok(())
}

/// Teams in the caller's scope, by name.
#[utoipa::path(
    get, path = "/api/v1/teams", tag = "teams", params(TeamQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Teams", body = Page<Team>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_teams(state: web::Data<AppState>, caller: Caller, query: web::Query<TeamQuery>) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let q = query.into_inner();
    let limit = http::page_limit(q.limit)?;
    let after: Option<Position> = q.cursor.as_deref().map(http::decode_cursor).transpose()?;
    let scope = caller.scope().clone();
    let page = state
        .db
        .run(move |conn| {
            let mut query = filter_to_scope!(teams::table.filter(teams::deleted_at.is_null()).into_boxed(), teams::commune_code, &scope);
            if let Some(c) = q.commune {
                query = query.filter(teams::commune_code.eq(c));
            }
            if let Some(h) = q.hamlet {
                query = query.filter(teams::hamlet_id.eq(h));
            }
            if let Some(a) = q.active {
                query = query.filter(teams::active.eq(a));
            }
            if let Some(Position(name, id)) = after {
                query = query.filter(teams::name.gt(name.clone()).or(teams::name.eq(name).and(teams::id.gt(id))));
            }
            let rows: Vec<TeamRow> = query.order((teams::name, teams::id)).limit(limit + 1).load(conn)?;
            records::page(rows, limit, |r| Position(r.name.clone(), r.id.clone()), |r| Ok(Team::from(r)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Set up a team (officer or admin of the commune).
#[utoipa::path(
    post, path = "/api/v1/teams", tag = "teams", request_body = NewTeam,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 200, description = "Replay of an earlier identical create", body = Team),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not manage teams, or the commune is outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different record", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or references", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_team(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewTeam>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageTeams, None, Access::Write)?;
    let form = form.into_inner();
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let name = records::required_text("name", &form.name, 200, &mut errors);
    let kind = records::choice("kind", &form.kind, KINDS, &mut errors);
    let level = records::choice("level", &form.level, LEVELS, &mut errors);
    let hamlet_id = form.hamlet_id.as_deref().filter(|h| !h.is_empty()).map(|h| records::reference("hamlet_id", h, &mut errors));
    records::validate_form(&form, &mut errors);
    let decision_number = records::optional_text(form.decision_number.as_deref());
    let decision_date = records::optional_date("decision_date", form.decision_date.as_deref(), &mut errors);
    records::fail_if_any(errors)?;
    check_level(&level, hamlet_id.as_deref())?;
    let commune = form.commune_code.trim().to_owned();
    let active = form.active.unwrap_or(true);
    let (outcome, row) = state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let mut w = Write::new(&caller, &meta);
                w.serialise(conn)?;
                let existing = teams::table
                    .find(&id)
                    .select((teams::create_digest, teams::deleted_at.is_not_null()))
                    .first::<(String, bool)>(conn)
                    .optional()?;
                if records::check_replay(existing, &digest)? == CreateOutcome::Replay {
                    let row = load_team(conn, &id)?;
                    let area = Area::of_commune(conn, &row.commune_code)?;
                    policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                    return Ok((CreateOutcome::Replay, row));
                }
                let area = commune_of(conn, "commune_code", &commune)?;
                policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                crate::hamlets::check_hamlet(conn, hamlet_id.as_deref(), &commune)?;
                w.touch_new(Rec::Team(id.clone()));
                let seq = w.seq(conn)?;
                diesel::insert_into(teams::table)
                    .values((
                        teams::id.eq(&id),
                        teams::version.eq(1i64),
                        teams::created_at.eq(w.now),
                        teams::updated_at.eq(w.now),
                        teams::deleted_at.eq(None::<NaiveDateTime>),
                        teams::change_seq.eq(seq),
                        teams::create_digest.eq(&digest),
                        teams::commune_code.eq(&commune),
                        teams::hamlet_id.eq(&hamlet_id),
                        teams::name.eq(&name),
                        teams::kind.eq(&kind),
                        teams::level.eq(&level),
                        teams::decision_number.eq(&decision_number),
                        teams::decision_date.eq(decision_date),
                        teams::active.eq(active),
                    ))
                    .execute(conn)?;
                w.audit(
                    conn,
                    "create",
                    "team",
                    &id,
                    Some(&commune),
                    &["commune_code", "hamlet_id", "name", "kind", "level", "decision", "active"],
                )?;
                w.finish(conn)?;
                Ok((CreateOutcome::New, load_team(conn, &id)?))
            })
        })
        .await?;
    Ok(records::created(outcome, row.version, &Team::from(&row)))
}

/// The area of a commune named in a request body: 422 when no such unit exists.
pub fn commune_of(conn: &mut AnyConnection, field: &str, code: &str) -> Result<Area, ApiError> {
    let province: Option<String> = units::table.find(code).select(units::province_code).first(conn).optional()?;
    match province {
        Some(province) => Ok(Area::Commune { code: code.to_owned(), province }),
        None => Err(unknown_unit(field)),
    }
}

/// 422: `field` names no commune-level unit.
pub fn unknown_unit(field: &str) -> ApiError {
    error::validation(vec![FieldError::new(
        field,
        "unknown_unit",
        Text::new("Không có xã/phường với mã này.", "No commune-level unit has this code."),
    )])
}

/// One team.
#[utoipa::path(
    get, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "Team id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team; ETag carries its version", body = Team),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_team(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let id = http::parse_uuid(&path)?;
    let row = state
        .db
        .run(move |conn| {
            let row = load_team(conn, &id)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(&caller, Capability::ReadFieldRecords, Some(&area), Access::Read)?;
            Ok(row)
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, row.version, &Team::from(&row)))
}

/// Change a team. Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/teams/{id}", tag = "teams", request_body = TeamPatch,
    params(("id" = String, Path, description = "Team id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Team),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_team(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<TeamPatch>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let id = http::parse_uuid(&path)?;
    let p = patch.into_inner();
    let mut errors = Vec::new();
    let name = p.name.as_deref().map(|n| records::required_text("name", n, 200, &mut errors));
    let kind = p.kind.as_deref().map(|k| records::choice("kind", k, KINDS, &mut errors));
    let level = p.level.as_deref().map(|k| records::choice("level", k, LEVELS, &mut errors));
    let hamlet_id: Option<Option<String>> =
        p.hamlet_id.as_deref().map(|h| if h.is_empty() { None } else { Some(records::reference("hamlet_id", h, &mut errors)) });
    let decision_number: Option<Option<String>> = p.decision_number.as_deref().map(|d| records::optional_text(Some(d)));
    records::validate_form(&p, &mut errors);
    let decision_date: Option<Option<NaiveDate>> =
        p.decision_date.as_deref().map(|d| records::optional_date("decision_date", Some(d), &mut errors));
    records::fail_if_any(errors)?;
    let row = state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let mut w = Write::new(&caller, &meta);
                w.serialise(conn)?;
                let row = load_team(conn, &id)?;
                let area = Area::of_commune(conn, &row.commune_code)?;
                policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                if_match.check(row.version)?;
                let new_hamlet = hamlet_id.clone().unwrap_or(row.hamlet_id.clone());
                let new_level = level.clone().unwrap_or(row.level.clone());
                check_level(&new_level, new_hamlet.as_deref())?;
                if hamlet_id.is_some() {
                    crate::hamlets::check_hamlet(conn, new_hamlet.as_deref(), &row.commune_code)?;
                }
                let new_name = name.clone().unwrap_or(row.name.clone());
                let new_kind = kind.clone().unwrap_or(row.kind.clone());
                let new_number = decision_number.clone().unwrap_or(row.decision_number.clone());
                let new_date = decision_date.unwrap_or(row.decision_date);
                let new_active = p.active.unwrap_or(row.active);
                let changed = records::changed_fields(&[
                    ("hamlet_id", new_hamlet != row.hamlet_id),
                    ("name", new_name != row.name),
                    ("kind", new_kind != row.kind),
                    ("level", new_level != row.level),
                    ("decision_number", new_number != row.decision_number),
                    ("decision_date", new_date != row.decision_date),
                    ("active", new_active != row.active),
                ]);
                if changed.is_empty() {
                    return Ok(row);
                }
                w.touch(conn, Rec::Team(id.clone()))?;
                let seq = w.seq(conn)?;
                diesel::update(teams::table.find(&id))
                    .set((
                        teams::hamlet_id.eq(new_hamlet),
                        teams::name.eq(new_name),
                        teams::kind.eq(new_kind),
                        teams::level.eq(new_level),
                        teams::decision_number.eq(new_number),
                        teams::decision_date.eq(new_date),
                        teams::active.eq(new_active),
                        teams::version.eq(row.version + 1),
                        teams::updated_at.eq(w.now),
                        teams::change_seq.eq(seq),
                    ))
                    .execute(conn)?;
                w.audit(conn, "update", "team", &id, Some(&row.commune_code), &changed)?;
                w.finish(conn)?;
                load_team(conn, &id)
            })
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, row.version, &Team::from(&row)))
}

/// Delete a team (tombstone). Refused while classes of the team exist: cancel or move them
/// first, or mark the team inactive instead.
#[utoipa::path(
    delete, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "Team id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The team has classes (`team_has_classes`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_team(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let id = http::parse_uuid(&path)?;
    state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let mut w = Write::new(&caller, &meta);
                w.serialise(conn)?;
                let row = load_team(conn, &id)?;
                let area = Area::of_commune(conn, &row.commune_code)?;
                policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                if_match.check(row.version)?;
                let n: i64 =
                    classes::table.filter(classes::team_id.eq(&id)).filter(classes::deleted_at.is_null()).count().get_result(conn)?;
                if n > 0 {
                    return Err(error::conflict(
                        "team_has_classes",
                        Text::new(
                            format!("Tổ có {n} lớp học; hãy đánh dấu tổ ngừng hoạt động thay vì xóa."),
                            format!("The team has {n} classes; mark it inactive instead of deleting it."),
                        ),
                    ));
                }
                w.touch(conn, Rec::Team(id.clone()))?;
                let seq = w.seq(conn)?;
                records::tombstone!(conn, teams, &id, row.version, w.now, seq);
                w.audit(conn, "delete", "team", &id, Some(&row.commune_code), &[])?;
                w.finish(conn)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- members --------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable)]
pub struct MemberRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub team_id: String,
    pub commune_code: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub role: String,
    pub affiliation: String,
    pub joined_on: Option<NaiveDate>,
    pub left_on: Option<NaiveDate>,
    pub user_id: Option<String>,
}

/// A member of a team.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "c4d2e1f0-6a5b-4c3d-8e9f-0a1b2c3d4e5f", "team_id": "8d1f6a8e-2b1c-4c3e-9a7d-1e2f3a4b5c6d",
    "commune_code": "21025", "full_name": "Trần Văn Bình", "phone": "0912345678", "role": "leader", "affiliation": "youth_union",
    "joined_on": "2025-08-12", "left_on": null, "user_id": null, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct Member {
    pub id: String,
    pub team_id: String,
    pub commune_code: String,
    pub full_name: String,
    pub phone: Option<String>,
    /// `leader`, `deputy` or `member`.
    pub role: String,
    /// `hamlet_leader`, `youth_union`, `women_union`, `commune_police`, `teacher`,
    /// `health_worker`, `telecom_it`, `official`, `volunteer` or `other`.
    pub affiliation: String,
    pub joined_on: Option<NaiveDate>,
    pub left_on: Option<NaiveDate>,
    /// The login account of this person, if any (so a team_member account knows its team).
    pub user_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&MemberRow> for Member {
    fn from(r: &MemberRow) -> Self {
        Member {
            id: r.id.clone(),
            team_id: r.team_id.clone(),
            commune_code: r.commune_code.clone(),
            full_name: r.full_name.clone(),
            phone: r.phone.clone(),
            role: r.role.clone(),
            affiliation: r.affiliation.clone(),
            joined_on: r.joined_on,
            left_on: r.left_on,
            user_id: r.user_id.clone(),
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A new member of a team.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"full_name": "Trần Văn Bình", "phone": "0912 345 678", "role": "leader", "affiliation": "youth_union", "joined_on": "2025-08-12"}))]
pub struct NewMember {
    pub id: Option<String>,
    pub full_name: String,
    pub phone: Option<String>,
    pub role: String,
    pub affiliation: String,
    pub joined_on: Option<String>,
    pub left_on: Option<String>,
    /// An account whose scope is this commune.
    pub user_id: Option<String>,
}

/// Changes to a member; `""` clears phone, dates or the account link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"left_on": "2026-10-31"}))]
pub struct MemberPatch {
    pub full_name: Option<String>,
    pub phone: Option<String>,
    pub role: Option<String>,
    pub affiliation: Option<String>,
    pub joined_on: Option<String>,
    pub left_on: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Include members who have left (default true).
    pub include_left: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn load_member(conn: &mut AnyConnection, team_id: &str, id: &str) -> Result<MemberRow, ApiError> {
    Ok(team_members::table.find(id).filter(team_members::team_id.eq(team_id)).filter(team_members::deleted_at.is_null()).first(conn)?)
}

fn check_dates(joined: Option<NaiveDate>, left: Option<NaiveDate>) -> Result<(), ApiError> {
    match (joined, left) {
        (Some(j), Some(l)) if l < j => Err(error::validation(vec![FieldError::new(
            "left_on",
            "before_joined_on",
            Text::new("Ngày rời tổ không thể trước ngày vào tổ.", "left_on cannot be before joined_on."),
        )])),
        _ => Ok(()),
    }
}

/// A person is in one team per commune at a time: the same account or the same phone may
/// not have another current membership (not left, not deleted) in a team of the commune.
fn check_single_membership(
    conn: &mut AnyConnection,
    commune: &str,
    member_id: &str,
    user_id: Option<&str>,
    phone: Option<&str>,
    left: Option<NaiveDate>,
) -> Result<(), ApiError> {
    if left.is_some() {
        return Ok(());
    }
    let current = team_members::table
        .filter(team_members::commune_code.eq(commune))
        .filter(team_members::deleted_at.is_null())
        .filter(team_members::left_on.is_null())
        .filter(team_members::id.ne(member_id))
        .into_boxed();
    let clash: i64 = match (user_id, phone) {
        (None, None) => 0,
        (Some(u), None) => current.filter(team_members::user_id.eq(u)).count().get_result(conn)?,
        (None, Some(p)) => current.filter(team_members::phone.eq(p)).count().get_result(conn)?,
        (Some(u), Some(p)) => current.filter(team_members::user_id.eq(u).or(team_members::phone.eq(p))).count().get_result(conn)?,
    };
    if clash > 0 {
        return Err(error::conflict(
            "already_in_team",
            Text::new(
                "Người này đang là thành viên một tổ khác của xã; hãy ghi ngày rời tổ cũ trước.",
                "This person is a current member of another team of the commune; record the day they left it first.",
            ),
        ));
    }
    Ok(())
}

/// The linked account must exist and work in the team's commune.
fn check_account(conn: &mut AnyConnection, user_id: Option<&str>, commune: &str) -> Result<(), ApiError> {
    let Some(u) = user_id else { return Ok(()) };
    let found: Option<(String, Option<String>)> =
        users::table.find(u).filter(users::deleted_at.is_null()).select((users::scope_kind, users::scope_code)).first(conn).optional()?;
    match found {
        Some((kind, code)) if kind == "commune" && code.as_deref() == Some(commune) => Ok(()),
        Some(_) => Err(error::validation(vec![FieldError::new(
            "user_id",
            "other_commune",
            Text::new("Tài khoản này không thuộc xã của tổ.", "This account does not belong to the team's commune."),
        )])),
        None => Err(records::unknown_reference("user_id")),
    }
}

/// Members of a team.
#[utoipa::path(
    get, path = "/api/v1/teams/{id}/members", tag = "teams",
    params(("id" = String, Path, description = "Team id"), MemberQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Members by name", body = Page<Member>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_members(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let team_id = http::parse_uuid(&path)?;
    let q = query.into_inner();
    let limit = http::page_limit(q.limit)?;
    let after: Option<Position> = q.cursor.as_deref().map(http::decode_cursor).transpose()?;
    let page = state
        .db
        .run(move |conn| {
            let team = load_team(conn, &team_id)?;
            let area = Area::of_commune(conn, &team.commune_code)?;
            policy::authorize(&caller, Capability::ReadFieldRecords, Some(&area), Access::Read)?;
            let mut query =
                team_members::table.filter(team_members::team_id.eq(&team_id)).filter(team_members::deleted_at.is_null()).into_boxed();
            if !q.include_left.unwrap_or(true) {
                query = query.filter(team_members::left_on.is_null());
            }
            if let Some(Position(name, id)) = after {
                query = query
                    .filter(team_members::full_name.gt(name.clone()).or(team_members::full_name.eq(name).and(team_members::id.gt(id))));
            }
            let rows: Vec<MemberRow> = query.order((team_members::full_name, team_members::id)).limit(limit + 1).load(conn)?;
            records::page(rows, limit, |r| Position(r.full_name.clone(), r.id.clone()), |r| Ok(Member::from(r)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Add a member to a team (officer or admin of the commune).
#[utoipa::path(
    post, path = "/api/v1/teams/{id}/members", tag = "teams", request_body = NewMember,
    params(("id" = String, Path, description = "Team id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Member),
        (status = 200, description = "Replay of an earlier identical create", body = Member),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Id used by another record, or the person is in another team of the commune", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_member(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<NewMember>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageTeams, None, Access::Write)?;
    let team_id = http::parse_uuid(&path)?;
    let form = form.into_inner();
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let full_name = crate::users::check_name("full_name", &form.full_name, &mut errors);
    let phone = crate::users::check_phone("phone", form.phone.as_deref(), &mut errors);
    let role = records::choice("role", &form.role, MEMBER_ROLES, &mut errors);
    let affiliation = records::choice("affiliation", &form.affiliation, AFFILIATIONS, &mut errors);
    let joined_on = records::optional_date("joined_on", form.joined_on.as_deref(), &mut errors);
    let left_on = records::optional_date("left_on", form.left_on.as_deref(), &mut errors);
    let user_id = form.user_id.as_deref().filter(|u| !u.is_empty()).map(|u| records::reference("user_id", u, &mut errors));
    records::fail_if_any(errors)?;
    check_dates(joined_on, left_on)?;
    let (outcome, row) = state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let mut w = Write::new(&caller, &meta);
                w.serialise(conn)?;
                let team = load_team(conn, &team_id)?;
                let area = Area::of_commune(conn, &team.commune_code)?;
                policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                let existing = team_members::table
                    .find(&id)
                    .select((team_members::create_digest, team_members::deleted_at.is_not_null()))
                    .first::<(String, bool)>(conn)
                    .optional()?;
                if records::check_replay(existing, &digest)? == CreateOutcome::Replay {
                    return Ok((CreateOutcome::Replay, load_member(conn, &team_id, &id)?));
                }
                check_account(conn, user_id.as_deref(), &team.commune_code)?;
                check_single_membership(conn, &team.commune_code, &id, user_id.as_deref(), phone.as_deref(), left_on)?;
                w.touch_new(Rec::Member(id.clone()));
                let seq = w.seq(conn)?;
                diesel::insert_into(team_members::table)
                    .values((
                        team_members::id.eq(&id),
                        team_members::version.eq(1i64),
                        team_members::created_at.eq(w.now),
                        team_members::updated_at.eq(w.now),
                        team_members::deleted_at.eq(None::<NaiveDateTime>),
                        team_members::change_seq.eq(seq),
                        team_members::create_digest.eq(&digest),
                        team_members::team_id.eq(&team_id),
                        team_members::commune_code.eq(&team.commune_code),
                        team_members::full_name.eq(&full_name),
                        team_members::phone.eq(&phone),
                        team_members::role.eq(&role),
                        team_members::affiliation.eq(&affiliation),
                        team_members::joined_on.eq(joined_on),
                        team_members::left_on.eq(left_on),
                        team_members::user_id.eq(&user_id),
                    ))
                    .execute(conn)?;
                w.audit(
                    conn,
                    "create",
                    "team_member",
                    &id,
                    Some(&team.commune_code),
                    &["full_name", "phone", "role", "affiliation", "dates", "user_id"],
                )?;
                w.finish(conn)?;
                Ok((CreateOutcome::New, load_member(conn, &team_id, &id)?))
            })
        })
        .await?;
    Ok(records::created(outcome, row.version, &Member::from(&row)))
}

/// Change a member (e.g. record the day they left). Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/teams/{id}/members/{member_id}", tag = "teams", request_body = MemberPatch,
    params(("id" = String, Path, description = "Team id"), ("member_id" = String, Path, description = "Member id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Member),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member of this team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The person is in another team of the commune", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_member(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    patch: web::Json<MemberPatch>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let (team_id, member_id) = path.into_inner();
    let (team_id, member_id) = (http::parse_uuid(&team_id)?, http::parse_uuid(&member_id)?);
    let p = patch.into_inner();
    let mut errors = Vec::new();
    let full_name = p.full_name.as_deref().map(|n| crate::users::check_name("full_name", n, &mut errors));
    let phone: Option<Option<String>> = p.phone.as_deref().map(|v| crate::users::check_phone("phone", Some(v), &mut errors));
    let role = p.role.as_deref().map(|v| records::choice("role", v, MEMBER_ROLES, &mut errors));
    let affiliation = p.affiliation.as_deref().map(|v| records::choice("affiliation", v, AFFILIATIONS, &mut errors));
    let joined_on: Option<Option<NaiveDate>> = p.joined_on.as_deref().map(|v| records::optional_date("joined_on", Some(v), &mut errors));
    let left_on: Option<Option<NaiveDate>> = p.left_on.as_deref().map(|v| records::optional_date("left_on", Some(v), &mut errors));
    let user_id: Option<Option<String>> =
        p.user_id.as_deref().map(|v| if v.is_empty() { None } else { Some(records::reference("user_id", v, &mut errors)) });
    records::fail_if_any(errors)?;
    let row = state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let mut w = Write::new(&caller, &meta);
                w.serialise(conn)?;
                let row = load_member(conn, &team_id, &member_id)?;
                let area = Area::of_commune(conn, &row.commune_code)?;
                policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                if_match.check(row.version)?;
                let n_name = full_name.clone().unwrap_or(row.full_name.clone());
                let n_phone = phone.clone().unwrap_or(row.phone.clone());
                let n_role = role.clone().unwrap_or(row.role.clone());
                let n_aff = affiliation.clone().unwrap_or(row.affiliation.clone());
                let n_joined = joined_on.unwrap_or(row.joined_on);
                let n_left = left_on.unwrap_or(row.left_on);
                let n_user = user_id.clone().unwrap_or(row.user_id.clone());
                check_dates(n_joined, n_left)?;
                if n_user != row.user_id {
                    check_account(conn, n_user.as_deref(), &row.commune_code)?;
                }
                check_single_membership(conn, &row.commune_code, &row.id, n_user.as_deref(), n_phone.as_deref(), n_left)?;
                let changed = records::changed_fields(&[
                    ("full_name", n_name != row.full_name),
                    ("phone", n_phone != row.phone),
                    ("role", n_role != row.role),
                    ("affiliation", n_aff != row.affiliation),
                    ("joined_on", n_joined != row.joined_on),
                    ("left_on", n_left != row.left_on),
                    ("user_id", n_user != row.user_id),
                ]);
                if changed.is_empty() {
                    return Ok(row);
                }
                w.touch(conn, Rec::Member(row.id.clone()))?;
                let seq = w.seq(conn)?;
                diesel::update(team_members::table.find(&row.id))
                    .set((
                        team_members::full_name.eq(n_name),
                        team_members::phone.eq(n_phone),
                        team_members::role.eq(n_role),
                        team_members::affiliation.eq(n_aff),
                        team_members::joined_on.eq(n_joined),
                        team_members::left_on.eq(n_left),
                        team_members::user_id.eq(n_user),
                        team_members::version.eq(row.version + 1),
                        team_members::updated_at.eq(w.now),
                        team_members::change_seq.eq(seq),
                    ))
                    .execute(conn)?;
                w.audit(conn, "update", "team_member", &row.id, Some(&row.commune_code), &changed)?;
                w.finish(conn)?;
                load_member(conn, &team_id, &member_id)
            })
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, row.version, &Member::from(&row)))
}

/// Remove a member record (tombstone). To record that someone left, set `left_on` instead.
#[utoipa::path(
    delete, path = "/api/v1/teams/{id}/members/{member_id}", tag = "teams",
    params(("id" = String, Path, description = "Team id"), ("member_id" = String, Path, description = "Member id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member of this team", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_member(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let (team_id, member_id) = path.into_inner();
    let (team_id, member_id) = (http::parse_uuid(&team_id)?, http::parse_uuid(&member_id)?);
    state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let mut w = Write::new(&caller, &meta);
                w.serialise(conn)?;
                let row = load_member(conn, &team_id, &member_id)?;
                let area = Area::of_commune(conn, &row.commune_code)?;
                policy::authorize(&caller, Capability::ManageTeams, Some(&area), Access::Write)?;
                if_match.check(row.version)?;
                w.touch(conn, Rec::Member(row.id.clone()))?;
                let seq = w.seq(conn)?;
                records::tombstone!(conn, team_members, &row.id, row.version, w.now, seq);
                w.audit(conn, "delete", "team_member", &row.id, Some(&row.commune_code), &[])?;
                w.finish(conn)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
