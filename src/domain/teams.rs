//! Community digital technology teams (Tổ công nghệ số cộng đồng) and their members.
//! A commune sets up one team per village or residential group, sometimes one at commune
//! level; officers and admins of the commune maintain them. Team size limits differ by
//! province, so none is enforced here.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, filter_to_scope, Access, Area, Capability, Principal};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::text::fold;
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::domain::stats::Rec;
use crate::store::db::AnyConnection;
use crate::store::rows::TeamRow;
use crate::store::schema::{classes, team_members, teams, units};
use crate::store::values::{Choice, TeamKind, TeamLevel};

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
    pub kind: TeamKind,
    pub level: TeamLevel,
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
            kind: r.kind,
            level: r.level,
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
    #[schema(value_type = TeamKind)]
    pub kind: Choice<TeamKind>,
    #[schema(value_type = TeamLevel)]
    pub level: Choice<TeamLevel>,
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
#[schema(example = json!({"name": "Tổ công nghệ số cộng đồng thôn Phú Thọ", "decision_number": "131/QĐ-UBND", "active": true}))]
pub struct TeamPatch {
    pub hamlet_id: Option<String>,
    pub name: Option<String>,
    #[schema(value_type = Option<TeamKind>)]
    pub kind: Option<Choice<TeamKind>>,
    #[schema(value_type = Option<TeamLevel>)]
    pub level: Option<Choice<TeamLevel>>,
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
    /// Text in the name or decision number, without diacritics ("phu tho" finds "Tổ công
    /// nghệ số thôn Phú Thọ").
    pub q: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn load_team(conn: &mut AnyConnection, id: &str) -> Result<TeamRow, ApiError> {
    Ok(teams::table.find(id).filter(teams::deleted_at.is_null()).first(conn)?)
}

fn check_level(level: TeamLevel, hamlet_id: Option<&str>) -> Result<(), ApiError> {
    if level == TeamLevel::Hamlet && hamlet_id.is_none() {
        return Err(error::validation(vec![FieldError::new(
            "hamlet_id",
            "required",
            Text::new("Tổ cấp thôn cần có thôn/tổ dân phố.", "A hamlet-level team needs its hamlet."),
        )]));
    }
    Ok(())
}

/// The area of a commune named in a request body: 422 when no such unit exists.
pub fn commune_of(conn: &mut AnyConnection, field: &str, code: &str) -> Result<Area, ApiError> {
    let province: Option<String> = units::table.find(code).select(units::province_code).first(conn).optional()?;
    match province {
        Some(province) => Ok(Area::Commune { code: code.to_owned(), province }),
        None => Err(records::unknown_unit(field)),
    }
}

// ---- members --------------------------------------------------------------------------

/// Teams in the caller's scope, by name.
pub fn list_teams(conn: &mut AnyConnection, caller: &Caller, query: TeamQuery) -> Result<Page<Team>, ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let q = query;
    let limit = page_limit(q.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let scope = caller.scope().clone();
    {
        let load = |conn: &mut AnyConnection, after: Option<Position>, n: i64| -> Result<Vec<TeamRow>, ApiError> {
            let mut query = filter_to_scope!(teams::table.filter(teams::deleted_at.is_null()).into_boxed(), teams::commune_code, &scope);
            if let Some(c) = q.commune.clone() {
                query = query.filter(teams::commune_code.eq(c));
            }
            if let Some(h) = q.hamlet.clone() {
                query = query.filter(teams::hamlet_id.eq(h));
            }
            if let Some(a) = q.active {
                query = query.filter(teams::active.eq(a));
            }
            if let Some(Position(name, id)) = after {
                query = query.filter(teams::name.gt(name.clone()).or(teams::name.eq(name).and(teams::id.gt(id))));
            }
            Ok(query.order((teams::name, teams::id)).limit(n).load(conn)?)
        };
        let key = |r: &TeamRow| Position(r.name.clone(), r.id.clone());
        let rows = match records::search_text(q.q.as_deref()) {
            None => load(conn, after, limit + 1)?,
            Some(text) => records::scan_matching(
                after,
                limit,
                key,
                |after, n| load(conn, after, n),
                |r| fold(&r.name).contains(&text) || r.decision_number.as_deref().is_some_and(|d| fold(d).contains(&text)),
            )?,
        };
        records::page(rows, limit, key, |r| Ok(Team::from(r)))
    }
}

/// Set up a team (officer or admin of the commune).
pub fn create_team(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    form: NewTeam,
) -> Result<(CreateOutcome, Team), ApiError> {
    let (outcome, row) = records::in_write_tx(conn, caller, meta, |conn, w| create_team_in(conn, w, form))?;
    Ok((outcome, Team::from(&row)))
}

/// [`create_team`] inside the caller's write transaction (REST and roster import).
pub(crate) fn create_team_in(conn: &mut AnyConnection, w: &mut Write<'_>, form: NewTeam) -> Result<(CreateOutcome, TeamRow), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    let digest = records::digest_with(&form, &[("active", serde_json::json!(true))]);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let name = records::required_text("name", &form.name, 200, &mut errors);
    let kind = form.kind.check("kind", &mut errors);
    let level = form.level.check("level", &mut errors);
    let hamlet_id = form.hamlet_id.as_deref().filter(|h| !h.is_empty()).map(|h| records::reference("hamlet_id", h, &mut errors));
    records::validate_form(&form, &mut errors);
    let decision_number = records::optional_text(form.decision_number.as_deref());
    let decision_date = records::optional_date("decision_date", form.decision_date.as_deref(), &mut errors);
    records::fail_if_any(errors)?;
    let (kind, level) = (records::valid(kind)?, records::valid(level)?);
    check_level(level, hamlet_id.as_deref())?;
    let commune = form.commune_code.trim().to_owned();
    let active = form.active.unwrap_or(true);
    let existing =
        teams::table.find(&id).select((teams::create_digest, teams::deleted_at.is_not_null())).first::<(String, bool)>(conn).optional()?;
    if records::check_replay(existing, &digest, &form)? == CreateOutcome::Replay {
        let row = load_team(conn, &id)?;
        let area = Area::of_commune(conn, &row.commune_code)?;
        policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
        return Ok((CreateOutcome::Replay, row));
    }
    let area = commune_of(conn, "commune_code", &commune)?;
    policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
    crate::domain::hamlets::check_hamlet(conn, hamlet_id.as_deref(), &commune)?;
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
            teams::create_digest.eq(digest.stored()),
            teams::commune_code.eq(&commune),
            teams::hamlet_id.eq(&hamlet_id),
            teams::name.eq(&name),
            teams::kind.eq(kind),
            teams::level.eq(level),
            teams::decision_number.eq(&decision_number),
            teams::decision_date.eq(decision_date),
            teams::active.eq(active),
        ))
        .execute(conn)?;
    w.audit(conn, "create", "team", &id, Some(&commune), &["commune_code", "hamlet_id", "name", "kind", "level", "decision", "active"])?;
    Ok((CreateOutcome::New, load_team(conn, &id)?))
}

/// One team.
pub fn get_team(conn: &mut AnyConnection, caller: &Caller, path: &str) -> Result<Team, ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let id = parse_uuid(path)?;
    let row = {
        let row = load_team(conn, &id)?;
        let area = Area::of_commune(conn, &row.commune_code)?;
        policy::authorize(caller, Capability::ReadFieldRecords, Some(&area), Access::Read)?;
        row
    };
    Ok(Team::from(&row))
}

/// Change a team. Needs `If-Match`.
pub fn update_team(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: &str,
    patch: TeamPatch,
) -> Result<Team, ApiError> {
    let row = records::in_write_tx(conn, caller, meta, |conn, w| update_team_in(conn, w, if_match, path, patch))?;
    Ok(Team::from(&row))
}

/// [`update_team`] inside the caller's write transaction (REST and roster import).
pub(crate) fn update_team_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    if_match: &IfMatch,
    path: &str,
    patch: TeamPatch,
) -> Result<TeamRow, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let id = parse_uuid(path)?;
    let p = patch;
    let mut errors = Vec::new();
    let name = p.name.as_deref().map(|n| records::required_text("name", n, 200, &mut errors));
    let kind = p.kind.as_ref().map(|k| k.check("kind", &mut errors));
    let level = p.level.as_ref().map(|k| k.check("level", &mut errors));
    let hamlet_id: Option<Option<String>> =
        p.hamlet_id.as_deref().map(|h| if h.is_empty() { None } else { Some(records::reference("hamlet_id", h, &mut errors)) });
    let decision_number: Option<Option<String>> = p.decision_number.as_deref().map(|d| records::optional_text(Some(d)));
    records::validate_form(&p, &mut errors);
    let decision_date: Option<Option<NaiveDate>> =
        p.decision_date.as_deref().map(|d| records::optional_date("decision_date", Some(d), &mut errors));
    records::fail_if_any(errors)?;
    let kind = kind.map(records::valid).transpose()?;
    let level = level.map(records::valid).transpose()?;
    let row = load_team(conn, &id)?;
    let area = Area::of_commune(conn, &row.commune_code)?;
    policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
    if_match.check(row.version)?;
    let new_hamlet = hamlet_id.clone().unwrap_or(row.hamlet_id.clone());
    let new_level = level.unwrap_or(row.level);
    check_level(new_level, new_hamlet.as_deref())?;
    if hamlet_id.is_some() {
        crate::domain::hamlets::check_hamlet(conn, new_hamlet.as_deref(), &row.commune_code)?;
    }
    let new_name = name.clone().unwrap_or(row.name.clone());
    let new_kind = kind.unwrap_or(row.kind);
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
    load_team(conn, &id)
}

/// Delete a team (tombstone). Refused while classes of the team exist: cancel or move them
/// first, or mark the team inactive instead.
pub fn delete_team(conn: &mut AnyConnection, caller: &Caller, meta: &RequestMeta, if_match: &IfMatch, path: &str) -> Result<(), ApiError> {
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let id = parse_uuid(path)?;
    {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = load_team(conn, &id)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
            if_match.check(row.version)?;
            let n: i64 = classes::table.filter(classes::team_id.eq(&id)).filter(classes::deleted_at.is_null()).count().get_result(conn)?;
            if n > 0 {
                return Err(error::conflict(
                    "team_has_classes",
                    Text::new(
                        format!("Tổ có {n} lớp học; hãy đánh dấu tổ ngừng hoạt động thay vì xóa."),
                        format!("The team has {n} classes; mark it inactive instead of deleting it."),
                    ),
                ));
            }
            let members_n: i64 = team_members::table
                .filter(team_members::team_id.eq(&id))
                .filter(team_members::deleted_at.is_null())
                .count()
                .get_result(conn)?;
            if members_n > 0 {
                return Err(records::in_use(
                    "team_has_members",
                    format!("Tổ có {members_n} thành viên; hãy xóa hoặc chuyển họ trước, hoặc đánh dấu tổ ngừng hoạt động."),
                    format!("The team has {members_n} members; remove them first, or mark the team inactive."),
                ));
            }
            w.touch(conn, Rec::Team(id.clone()))?;
            let seq = w.seq(conn)?;
            records::tombstone!(conn, teams, &id, row.version, w.now, seq);
            w.audit(conn, "delete", "team", &id, Some(&row.commune_code), &[])?;
            w.finish(conn)
        })
    }?;
    Ok(())
}
