//! Members of a community digital technology team: one current team per person and
//! commune, an optional link to their account, the role they play and where they come from.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Area, Capability};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::domain::stats::Rec;
use crate::domain::teams::load_team;
use crate::store::db::AnyConnection;
use crate::store::rows::MemberRow;
use crate::store::schema::{class_instructors, classes, team_members, users};
use crate::store::values::{Affiliation, Choice, MemberRole};

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
    pub role: MemberRole,
    /// `hamlet_leader`, `youth_union`, `women_union`, `commune_police`, `teacher`,
    pub affiliation: Affiliation,
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
            role: r.role,
            affiliation: r.affiliation,
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
    #[schema(value_type = MemberRole)]
    pub role: Choice<MemberRole>,
    #[schema(value_type = Affiliation)]
    pub affiliation: Choice<Affiliation>,
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
    #[schema(value_type = Option<MemberRole>)]
    pub role: Option<Choice<MemberRole>>,
    #[schema(value_type = Option<Affiliation>)]
    pub affiliation: Option<Choice<Affiliation>>,
    pub joined_on: Option<String>,
    pub left_on: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Include members who have left (default true).
    pub include_left: Option<bool>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
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
pub fn list_members(conn: &mut AnyConnection, caller: &Caller, path: &str, query: MemberQuery) -> Result<Page<Member>, ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let team_id = parse_uuid(path)?;
    let q = query;
    let limit = page_limit(q.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    {
        let team = load_team(conn, &team_id)?;
        let area = Area::of_commune(conn, &team.commune_code)?;
        policy::authorize(caller, Capability::ReadFieldRecords, Some(&area), Access::Read)?;
        let mut query =
            team_members::table.filter(team_members::team_id.eq(&team_id)).filter(team_members::deleted_at.is_null()).into_boxed();
        if !q.include_left.unwrap_or(true) {
            query = query.filter(team_members::left_on.is_null());
        }
        if let Some(Position(name, id)) = after {
            query =
                query.filter(team_members::full_name.gt(name.clone()).or(team_members::full_name.eq(name).and(team_members::id.gt(id))));
        }
        let rows: Vec<MemberRow> = query.order((team_members::full_name, team_members::id)).limit(limit + 1).load(conn)?;
        records::page(rows, limit, |r| Position(r.full_name.clone(), r.id.clone()), |r| Ok(Member::from(r)))
    }
}

/// Add a member to a team (officer or admin of the commune).
pub fn create_member(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: NewMember,
) -> Result<(CreateOutcome, Member), ApiError> {
    let (outcome, row) = records::in_write_tx(conn, caller, meta, |conn, w| create_member_in(conn, w, path, form))?;
    Ok((outcome, Member::from(&row)))
}

/// [`create_member`] inside the caller's write transaction (REST and roster import).
pub(crate) fn create_member_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    path: &str,
    form: NewMember,
) -> Result<(CreateOutcome, MemberRow), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    let team_id = parse_uuid(path)?;
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let full_name = crate::domain::users::check_name("full_name", &form.full_name, &mut errors);
    let phone = crate::domain::users::check_phone("phone", form.phone.as_deref(), &mut errors);
    let role = form.role.check("role", &mut errors);
    let affiliation = form.affiliation.check("affiliation", &mut errors);
    let joined_on = records::optional_date("joined_on", form.joined_on.as_deref(), &mut errors);
    let left_on = records::optional_date("left_on", form.left_on.as_deref(), &mut errors);
    let user_id = form.user_id.as_deref().filter(|u| !u.is_empty()).map(|u| records::reference("user_id", u, &mut errors));
    records::fail_if_any(errors)?;
    let (role, affiliation) = (records::valid(role)?, records::valid(affiliation)?);
    check_dates(joined_on, left_on)?;
    let team = load_team(conn, &team_id)?;
    let area = Area::of_commune(conn, &team.commune_code)?;
    policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
    let existing = team_members::table
        .find(&id)
        .select((team_members::create_digest, team_members::deleted_at.is_not_null(), team_members::team_id))
        .first::<(String, bool, String)>(conn)
        .optional()?;
    if records::check_replay_in(existing, &team_id, &digest, &form)? == CreateOutcome::Replay {
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
            team_members::create_digest.eq(digest.stored()),
            team_members::team_id.eq(&team_id),
            team_members::commune_code.eq(&team.commune_code),
            team_members::full_name.eq(&full_name),
            team_members::phone.eq(&phone),
            team_members::role.eq(role),
            team_members::affiliation.eq(affiliation),
            team_members::joined_on.eq(joined_on),
            team_members::left_on.eq(left_on),
            (team_members::user_id.eq(&user_id), team_members::cell_key.eq(crate::domain::stats::perturb::new_person_key())),
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
    Ok((CreateOutcome::New, load_member(conn, &team_id, &id)?))
}

/// Change a member (e.g. record the day they left). Needs `If-Match`.
pub fn update_member(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: (String, String),
    patch: MemberPatch,
) -> Result<Member, ApiError> {
    let row = records::in_write_tx(conn, caller, meta, |conn, w| update_member_in(conn, w, if_match, path, patch))?;
    Ok(Member::from(&row))
}

/// [`update_member`] inside the caller's write transaction (REST and roster import).
pub(crate) fn update_member_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    if_match: &IfMatch,
    path: (String, String),
    patch: MemberPatch,
) -> Result<MemberRow, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let (team_id, member_id) = path;
    let (team_id, member_id) = (parse_uuid(&team_id)?, parse_uuid(&member_id)?);
    let p = patch;
    let mut errors = Vec::new();
    let full_name = p.full_name.as_deref().map(|n| crate::domain::users::check_name("full_name", n, &mut errors));
    let phone: Option<Option<String>> = p.phone.as_deref().map(|v| crate::domain::users::check_phone("phone", Some(v), &mut errors));
    let role = p.role.as_ref().map(|v| v.check("role", &mut errors));
    let affiliation = p.affiliation.as_ref().map(|v| v.check("affiliation", &mut errors));
    let joined_on: Option<Option<NaiveDate>> = p.joined_on.as_deref().map(|v| records::optional_date("joined_on", Some(v), &mut errors));
    let left_on: Option<Option<NaiveDate>> = p.left_on.as_deref().map(|v| records::optional_date("left_on", Some(v), &mut errors));
    let user_id: Option<Option<String>> =
        p.user_id.as_deref().map(|v| if v.is_empty() { None } else { Some(records::reference("user_id", v, &mut errors)) });
    records::fail_if_any(errors)?;
    let role = role.map(records::valid).transpose()?;
    let affiliation = affiliation.map(records::valid).transpose()?;
    let row = load_member(conn, &team_id, &member_id)?;
    let area = Area::of_commune(conn, &row.commune_code)?;
    policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
    if_match.check(row.version)?;
    let n_name = full_name.clone().unwrap_or(row.full_name.clone());
    let n_phone = phone.clone().unwrap_or(row.phone.clone());
    let n_role = role.unwrap_or(row.role);
    let n_aff = affiliation.unwrap_or(row.affiliation);
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
    load_member(conn, &team_id, &member_id)
}

/// Remove a member record (tombstone). To record that someone left, set `left_on` instead.
pub fn delete_member(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: (String, String),
) -> Result<(), ApiError> {
    policy::authorize(caller, Capability::ManageTeams, None, Access::Write)?;
    if_match.require()?;
    let (team_id, member_id) = path;
    let (team_id, member_id) = (parse_uuid(&team_id)?, parse_uuid(&member_id)?);
    {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = load_member(conn, &team_id, &member_id)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(caller, Capability::ManageTeams, Some(&area), Access::Write)?;
            if_match.check(row.version)?;
            let teaches: i64 = class_instructors::table
                .inner_join(classes::table)
                .filter(class_instructors::member_id.eq(&row.id))
                .filter(classes::deleted_at.is_null())
                .count()
                .get_result(conn)?;
            if teaches > 0 {
                return Err(records::in_use(
                    "member_teaches_classes",
                    format!("Thành viên đang dạy {teaches} lớp; hãy đổi người dạy của các lớp đó trước khi xóa."),
                    format!("The member teaches {teaches} classes; change their instructors before deleting the member."),
                ));
            }
            w.touch(conn, Rec::Member(row.id.clone()))?;
            let seq = w.seq(conn)?;
            records::tombstone!(conn, team_members, &row.id, row.version, w.now, seq);
            w.audit(conn, "delete", "team_member", &row.id, Some(&row.commune_code), &[])?;
            w.finish(conn)
        })
    }?;
    Ok(())
}
