//! The rows of team lists (a team with its members) and class lists (a class with the
//! sessions held), planned from their cells and applied through the teams', members',
//! classes' and sessions' own `*_in` functions.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::{columns, derived_id, uuid_cell, Cells, Context, RowDone};
use crate::access::policy::{self, Access, Capability};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::text::fold;
use crate::domain::records::{CreateOutcome, IfMatch, Write};
use crate::store::db::AnyConnection;
use crate::store::rows::{ClassRow, MemberRow, TeamRow};
use crate::store::schema::{class_sessions, class_topics, classes, team_members, teams};
use crate::store::values::{Affiliation, Choice, ClassMode, ImportOutcome, MemberRole, TeamKind, TeamLevel};

/// What the rows applied so far have settled, so that a team named on several rows is
/// created or updated once (kept only for rows that went through).
#[derive(Default)]
pub(super) struct RunState {
    pub teams_done: HashMap<String, String>,
}

pub(super) struct TeamPlan {
    key: String,
    id: String,
    named_id: bool,
    commune: String,
    hamlet: Option<Option<String>>,
    name: String,
    kind: TeamKind,
    level: TeamLevel,
    decision_number: Option<Option<String>>,
    decision_date: Option<Option<NaiveDate>>,
    member: Option<MemberPlan>,
}

struct MemberPlan {
    id: String,
    named_id: bool,
    full_name: String,
    phone: Option<Option<String>>,
    role: MemberRole,
    affiliation: Affiliation,
    joined_on: Option<Option<NaiveDate>>,
    left_on: Option<Option<NaiveDate>>,
}

pub(super) struct ClassPlan {
    id: String,
    named_id: bool,
    commune: String,
    hamlet: Option<Option<String>>,
    team: String,
    title: String,
    topics: Vec<String>,
    mode: ClassMode,
    language: Option<String>,
    interpreter_used: Option<bool>,
    venue: Option<Option<String>>,
    start_date: NaiveDate,
    end_date: NaiveDate,
    planned_sessions: i32,
    campaign: Option<Option<String>>,
    sessions: Vec<NaiveDate>,
    session_minutes: i32,
}

fn commune_of_row(c: &mut Cells<'_>, ctx: &Context<'_>) -> Option<String> {
    let commune = match c.get("commune_code") {
        Some(v) => Some(v.trim().to_owned()),
        None => ctx.default_commune.clone(),
    };
    if commune.is_none() {
        c.problem("commune_code", "required", Text::new("Cần mã xã/phường.", "The commune code is required."));
    }
    commune
}

/// A hamlet cell, by its name in the commune's list or its id: `Some(None)` when the file
/// has no such column, `Some(Some(None))` when the cell is empty, `None` (with the row's
/// problem noted) when it names no single hamlet.
pub(super) fn hamlet_of_row(c: &mut Cells<'_>, ctx: &Context<'_>, commune: &str) -> Option<Option<Option<String>>> {
    if !c.present("hamlet") {
        return Some(None);
    }
    let Some(raw) = c.get("hamlet") else { return Some(Some(None)) };
    if let Ok(u) = uuid::Uuid::parse_str(raw.trim()) {
        return Some(Some(Some(u.to_string())));
    }
    match ctx.hamlets_by_name.get(&(commune.to_owned(), fold(raw))).map(Vec::as_slice) {
        Some([one]) => Some(Some(Some(one.clone()))),
        Some([_, _, ..]) => {
            c.problem(
                "hamlet",
                "ambiguous_hamlet",
                Text::new("Xã có nhiều thôn cùng tên này: ghi mã của thôn.", "The commune has several hamlets of this name: write its id."),
            );
            None
        }
        _ => {
            c.problem(
                "hamlet",
                "unknown_hamlet",
                Text::new("Không có thôn/tổ dân phố tên này trong xã.", "The commune has no hamlet of this name."),
            );
            None
        }
    }
}

fn optional_text(c: &Cells<'_>, key: &str) -> Option<Option<String>> {
    c.present(key).then(|| c.get(key).map(|v| v.trim().to_owned()))
}

fn optional_date(c: &mut Cells<'_>, key: &str) -> Option<Option<NaiveDate>> {
    if !c.present(key) {
        return None;
    }
    if c.get(key).is_none() {
        return Some(None);
    }
    c.date(key).map(Some)
}

pub(super) fn plan_team(c: &mut Cells<'_>, ctx: &mut Context<'_>) -> Option<TeamPlan> {
    let named = uuid_cell(c, "team_id");
    let commune = commune_of_row(c, ctx);
    let name = c.required("team_name").map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "));
    let kind = c.choice("team_kind", columns::TEAM_KINDS, TeamKind::as_str).unwrap_or(TeamKind::CommunityTechTeam);
    let level = c.choice("team_level", columns::TEAM_LEVELS, TeamLevel::as_str);
    let decision_number = optional_text(c, "decision_number");
    let decision_date = optional_date(c, "decision_date");
    let member_named = uuid_cell(c, "member_id");
    let member_name = c.get("member_name").map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "));
    if member_name.is_none() && (member_named.is_some() || c.get("member_phone").is_some()) {
        c.problem("member_name", "required", Text::new("Cần họ tên thành viên.", "The member's full name is required."));
    }
    let phone = c.present("member_phone").then(|| c.get("member_phone").map(|p| super::restore_leading_zero(p, 10)));
    let role = c.choice("member_role", columns::MEMBER_ROLES, MemberRole::as_str).unwrap_or(MemberRole::Member);
    let affiliation = c.choice("affiliation", columns::AFFILIATIONS, Affiliation::as_str).unwrap_or(Affiliation::Other);
    let joined_on = optional_date(c, "joined_on");
    let left_on = optional_date(c, "left_on");
    let commune = commune?;
    let hamlet = hamlet_of_row(c, ctx, &commune);
    if !c.problems.is_empty() {
        return None;
    }
    let (name, hamlet) = (name?, hamlet?);
    let level = level.unwrap_or(if matches!(hamlet, Some(Some(_))) { TeamLevel::Hamlet } else { TeamLevel::Commune });
    let key = match &named {
        Some(id) => id.clone(),
        None => format!("{commune}\n{}\n{}", ctx.file_key, fold(&name)),
    };
    let (id, named_id) = match named {
        Some(id) => (id, true),
        None => (derived_id(ctx.secret, &["team", &key]), false),
    };
    let member = match member_name {
        None => None,
        Some(full_name) => {
            let (mid, member_named_id) = match member_named {
                Some(m) => (m, true),
                None => {
                    let mkey = format!("{id}\n{}", fold(&full_name));
                    let n = ctx.seen.entry(mkey.clone()).or_insert(0);
                    *n += 1;
                    (derived_id(ctx.secret, &["team_member", &mkey, &n.to_string()]), false)
                }
            };
            Some(MemberPlan { id: mid, named_id: member_named_id, full_name, phone, role, affiliation, joined_on, left_on })
        }
    };
    Some(TeamPlan { key, id, named_id, commune, hamlet, name, kind, level, decision_number, decision_date, member })
}

pub(super) fn apply_team(conn: &mut AnyConnection, w: &mut Write<'_>, state: &RunState, p: &TeamPlan) -> Result<RowDone, ApiError> {
    let area = w.unit(conn, "commune_code", &p.commune)?;
    policy::authorize(w.caller, Capability::ImportRecords, Some(&area), Access::Write)?;
    let mut outcome = ImportOutcome::Unchanged;
    if !state.teams_done.contains_key(&p.key) {
        let existing: Option<TeamRow> = teams::table.find(&p.id).first(conn).optional()?;
        match existing {
            Some(row) if row.deleted_at.is_some() => return Err(error::gone_record()),
            Some(row) => {
                if row.commune_code != p.commune {
                    return Err(error::validation(vec![FieldError::new(
                        "commune_code",
                        "team_in_other_commune",
                        Text::new("Tổ này thuộc xã khác.", "This team belongs to another commune."),
                    )]));
                }
                let mut patch = crate::domain::teams::TeamPatch {
                    hamlet_id: None,
                    name: None,
                    kind: None,
                    level: None,
                    decision_number: None,
                    decision_date: None,
                    active: None,
                };
                let mut any = false;
                if let Some(h) = &p.hamlet {
                    if *h != row.hamlet_id {
                        patch.hamlet_id = Some(h.clone().unwrap_or_default());
                        any = true;
                    }
                }
                if p.name != row.name {
                    patch.name = Some(p.name.clone());
                    any = true;
                }
                if p.kind != row.kind {
                    patch.kind = Some(Choice::Known(p.kind));
                    any = true;
                }
                if p.level != row.level {
                    patch.level = Some(Choice::Known(p.level));
                    any = true;
                }
                if let Some(d) = &p.decision_number {
                    if *d != row.decision_number {
                        patch.decision_number = Some(d.clone().unwrap_or_default());
                        any = true;
                    }
                }
                if let Some(d) = &p.decision_date {
                    if *d != row.decision_date {
                        patch.decision_date = Some(d.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default());
                        any = true;
                    }
                }
                if any {
                    crate::domain::teams::update_team_in(conn, w, &IfMatch::version(row.version), &p.id, patch)?;
                    outcome = ImportOutcome::Updated;
                }
            }
            None if p.named_id => return Err(error::not_found()),
            None => {
                let form = crate::domain::teams::NewTeam {
                    id: Some(p.id.clone()),
                    commune_code: p.commune.clone(),
                    hamlet_id: p.hamlet.clone().flatten(),
                    name: p.name.clone(),
                    kind: Choice::Known(p.kind),
                    level: Choice::Known(p.level),
                    decision_number: p.decision_number.clone().flatten(),
                    decision_date: p.decision_date.flatten().map(|d| d.format("%Y-%m-%d").to_string()),
                    active: None,
                };
                crate::domain::teams::create_team_in(conn, w, form)?;
                outcome = ImportOutcome::Created;
            }
        }
    }
    let mut member_id = None;
    if let Some(m) = &p.member {
        member_id = Some(m.id.clone());
        let existing: Option<MemberRow> = team_members::table.find(&m.id).first(conn).optional()?;
        let member_outcome = match existing {
            Some(row) if row.deleted_at.is_some() => return Err(error::gone_record()),
            Some(row) if row.team_id != p.id => {
                return Err(error::validation(vec![FieldError::new(
                    "member_id",
                    "member_of_other_team",
                    Text::new("Thành viên này thuộc tổ khác.", "This member belongs to another team."),
                )]))
            }
            Some(row) => {
                let mut patch = crate::domain::members::MemberPatch {
                    full_name: None,
                    phone: None,
                    role: None,
                    affiliation: None,
                    joined_on: None,
                    left_on: None,
                    user_id: None,
                };
                let mut any = false;
                if m.full_name != row.full_name {
                    patch.full_name = Some(m.full_name.clone());
                    any = true;
                }
                if let Some(phone) = &m.phone {
                    let normalized = phone.as_deref().map(|v| crate::base::text::normalize_phone(v).unwrap_or_else(|| v.to_owned()));
                    if normalized != row.phone {
                        patch.phone = Some(phone.clone().unwrap_or_default());
                        any = true;
                    }
                }
                if m.role != row.role {
                    patch.role = Some(Choice::Known(m.role));
                    any = true;
                }
                if m.affiliation != row.affiliation {
                    patch.affiliation = Some(Choice::Known(m.affiliation));
                    any = true;
                }
                let date = |d: &Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
                if let Some(d) = &m.joined_on {
                    if *d != row.joined_on {
                        patch.joined_on = Some(date(d));
                        any = true;
                    }
                }
                if let Some(d) = &m.left_on {
                    if *d != row.left_on {
                        patch.left_on = Some(date(d));
                        any = true;
                    }
                }
                if any {
                    crate::domain::members::update_member_in(conn, w, &IfMatch::version(row.version), (p.id.clone(), m.id.clone()), patch)?;
                }
                if any {
                    ImportOutcome::Updated
                } else {
                    ImportOutcome::Unchanged
                }
            }
            None if m.named_id => return Err(error::not_found()),
            None => {
                let form = crate::domain::members::NewMember {
                    id: Some(m.id.clone()),
                    full_name: m.full_name.clone(),
                    phone: m.phone.clone().flatten(),
                    role: Choice::Known(m.role),
                    affiliation: Choice::Known(m.affiliation),
                    joined_on: m.joined_on.flatten().map(|d| d.format("%Y-%m-%d").to_string()),
                    left_on: m.left_on.flatten().map(|d| d.format("%Y-%m-%d").to_string()),
                    user_id: None,
                };
                let (o, _) = crate::domain::members::create_member_in(conn, w, &p.id, form)?;
                if o == CreateOutcome::New {
                    ImportOutcome::Created
                } else {
                    ImportOutcome::Unchanged
                }
            }
        };
        // The row's outcome: created if it created the team or the member, else updated
        // if it changed either.
        outcome = match (outcome, member_outcome) {
            (ImportOutcome::Created, _) | (_, ImportOutcome::Created) => ImportOutcome::Created,
            (ImportOutcome::Updated, _) | (_, ImportOutcome::Updated) => ImportOutcome::Updated,
            _ => ImportOutcome::Unchanged,
        };
    }
    Ok(RowDone {
        outcome,
        id: p.id.clone(),
        enrollment: None,
        member: member_id,
        created_trainee: None,
        team_done: Some((p.key.clone(), p.id.clone())),
    })
}

pub(super) fn plan_class(c: &mut Cells<'_>, ctx: &mut Context<'_>) -> Option<ClassPlan> {
    let named = uuid_cell(c, "class_id");
    let commune = commune_of_row(c, ctx);
    let team = c.required("team").map(str::trim).map(str::to_owned);
    let title = c.required("title").map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut topics = Vec::new();
    if let Some(raw) = c.required("topics") {
        for part in raw.split([';', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            match ctx.topics.iter().find(|(id, vi, en)| id == part || fold(vi) == fold(part) || fold(en) == fold(part)) {
                Some((id, _, _)) => topics.push(id.clone()),
                None => {
                    c.problem(
                        "topics",
                        "unknown_topic",
                        Text::new("Có chủ đề không có trong danh mục.", "A topic is not in the catalogue."),
                    );
                    break;
                }
            }
        }
    }
    let mode =
        if c.get("mode").is_some() { c.choice("mode", columns::CLASS_MODES, ClassMode::as_str) } else { c.required("mode").and(None) };
    let language = c.get("language").map(|l| l.trim().to_lowercase());
    let interpreter_used = c.yes_no("interpreter_used");
    let venue = optional_text(c, "venue");
    let start = if c.get("start_date").is_some() { c.date("start_date") } else { c.required("start_date").and(None) };
    let end = if c.get("end_date").is_some() { c.date("end_date") } else { c.required("end_date").and(None) };
    let planned = match c.required("planned_sessions") {
        Some(raw) => match raw.trim().parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => {
                c.problem(
                    "planned_sessions",
                    "invalid_number",
                    Text::new("Số buổi phải là số nguyên.", "The number of sessions must be a whole number."),
                );
                None
            }
        },
        None => None,
    };
    let campaign = optional_text(c, "campaign");
    let mut sessions = Vec::new();
    if let Some(raw) = c.get("session_dates") {
        for part in raw.split([';', '\n', ',']).map(str::trim).filter(|p| !p.is_empty()) {
            match super::parse_date(part) {
                Some(d) => sessions.push(d),
                None => {
                    c.problem(
                        "session_dates",
                        "invalid_date",
                        Text::new("Ngày phải có dạng dd/mm/yyyy.", "A date must look like dd/mm/yyyy."),
                    );
                    break;
                }
            }
        }
    }
    let session_minutes = match c.get("session_minutes") {
        None => Some(90),
        Some(raw) => raw.trim().parse::<i32>().ok().or_else(|| {
            c.problem(
                "session_minutes",
                "invalid_number",
                Text::new("Thời lượng phải là số phút.", "The duration must be a number of minutes."),
            );
            None
        }),
    };
    let commune = commune?;
    let hamlet = hamlet_of_row(c, ctx, &commune);
    if !c.problems.is_empty() {
        return None;
    }
    let (team, title, mode, start_date, end_date, planned_sessions, hamlet, session_minutes) =
        (team?, title?, mode?, start?, end?, planned?, hamlet?, session_minutes?);
    let (id, named_id) = match named {
        Some(id) => (id, true),
        None => {
            let key = format!("{commune}\n{}\n{}\n{start_date}", ctx.file_key, fold(&title));
            let n = ctx.seen.entry(key.clone()).or_insert(0);
            *n += 1;
            (derived_id(ctx.secret, &["class", &key, &n.to_string()]), false)
        }
    };
    Some(ClassPlan {
        id,
        named_id,
        commune,
        hamlet,
        team,
        title,
        topics,
        mode,
        language,
        interpreter_used,
        venue,
        start_date,
        end_date,
        planned_sessions,
        campaign,
        sessions,
        session_minutes,
    })
}

/// The team a class row names: its id, or its name among the commune's teams.
fn team_of(conn: &mut AnyConnection, commune: &str, raw: &str) -> Result<String, ApiError> {
    if let Ok(u) = uuid::Uuid::parse_str(raw) {
        return Ok(u.to_string());
    }
    let rows: Vec<(String, String)> = teams::table
        .filter(teams::commune_code.eq(commune))
        .filter(teams::deleted_at.is_null())
        .select((teams::id, teams::name))
        .load(conn)?;
    let found: Vec<&String> = rows.iter().filter(|(_, n)| fold(n) == fold(raw)).map(|(id, _)| id).collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(error::validation(vec![FieldError::new(
            "team",
            "unknown_team",
            Text::new(
                "Xã không có tổ tên này (nhập danh sách tổ trước).",
                "The commune has no team of this name (import the teams first).",
            ),
        )])),
        _ => Err(error::validation(vec![FieldError::new(
            "team",
            "ambiguous_team",
            Text::new("Xã có nhiều tổ cùng tên này: ghi mã tổ.", "The commune has several teams of this name: write the team id."),
        )])),
    }
}

pub(super) fn apply_class(conn: &mut AnyConnection, w: &mut Write<'_>, ctx: &Context<'_>, p: &ClassPlan) -> Result<RowDone, ApiError> {
    let area = w.unit(conn, "commune_code", &p.commune)?;
    policy::authorize(w.caller, Capability::ImportRecords, Some(&area), Access::Write)?;
    let team_id = team_of(conn, &p.commune, &p.team)?;
    let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let existing: Option<ClassRow> = classes::table.find(&p.id).first(conn).optional()?;
    let mut outcome = ImportOutcome::Unchanged;
    match existing {
        Some(row) if row.deleted_at.is_some() => return Err(error::gone_record()),
        Some(row) => {
            let stored_topics: Vec<String> = class_topics::table
                .filter(class_topics::class_id.eq(&row.id))
                .select(class_topics::topic_id)
                .order(class_topics::topic_id)
                .load(conn)?;
            let mut topics = p.topics.clone();
            topics.sort();
            topics.dedup();
            let mut patch = crate::domain::classes::ClassPatch {
                hamlet_id: None,
                team_id: None,
                title: None,
                topic_ids: None,
                mode: None,
                language: None,
                interpreter_used: None,
                venue: None,
                start_date: None,
                end_date: None,
                planned_sessions: None,
                campaign: None,
                instructor_ids: None,
                status: None,
                min_attendance_ratio: None,
            };
            let mut any = false;
            macro_rules! differs {
                ($cond:expr, $set:expr) => {
                    if $cond {
                        $set;
                        any = true;
                    }
                };
            }
            if let Some(h) = &p.hamlet {
                differs!(*h != row.hamlet_id, patch.hamlet_id = Some(h.clone().unwrap_or_default()));
            }
            differs!(team_id != row.team_id, patch.team_id = Some(team_id.clone()));
            differs!(p.title != row.title, patch.title = Some(p.title.clone()));
            differs!(topics != stored_topics, patch.topic_ids = Some(topics.clone()));
            differs!(p.mode != row.mode, patch.mode = Some(Choice::Known(p.mode)));
            if let Some(l) = &p.language {
                differs!(*l != row.language, patch.language = Some(l.clone()));
            }
            if let Some(i) = p.interpreter_used {
                differs!(i != row.interpreter_used, patch.interpreter_used = Some(i));
            }
            if let Some(v) = &p.venue {
                differs!(*v != row.venue, patch.venue = Some(v.clone().unwrap_or_default()));
            }
            differs!(p.start_date != row.start_date, patch.start_date = Some(date(p.start_date)));
            differs!(p.end_date != row.end_date, patch.end_date = Some(date(p.end_date)));
            differs!(p.planned_sessions != row.planned_sessions, patch.planned_sessions = Some(p.planned_sessions));
            if let Some(c) = &p.campaign {
                differs!(*c != row.campaign, patch.campaign = Some(c.clone().unwrap_or_default()));
            }
            if any {
                crate::domain::classes::update_class_in(conn, w, p.id.clone(), &IfMatch::version(row.version), patch)?;
                outcome = ImportOutcome::Updated;
            }
        }
        None if p.named_id => return Err(error::not_found()),
        None => {
            let form = crate::domain::classes::NewClass {
                id: Some(p.id.clone()),
                commune_code: p.commune.clone(),
                hamlet_id: p.hamlet.clone().flatten(),
                team_id,
                title: p.title.clone(),
                topic_ids: p.topics.clone(),
                mode: Choice::Known(p.mode),
                language: p.language.clone().unwrap_or_else(|| "vi".to_owned()),
                interpreter_used: p.interpreter_used,
                venue: p.venue.clone().flatten(),
                start_date: date(p.start_date),
                end_date: date(p.end_date),
                planned_sessions: p.planned_sessions,
                campaign: p.campaign.clone().flatten(),
                instructor_ids: None,
                min_attendance_ratio: None,
            };
            crate::domain::classes::create_class_in(conn, w, form)?;
            outcome = ImportOutcome::Created;
        }
    }
    // Sessions: each date of the list is a session; one already recorded for the class on
    // that day (as many as the list names) counts as that one. Others are left alone.
    let held: Vec<NaiveDate> = class_sessions::table
        .filter(class_sessions::class_id.eq(&p.id))
        .filter(class_sessions::deleted_at.is_null())
        .select(class_sessions::held_on)
        .load(conn)?;
    let mut have: HashMap<NaiveDate, usize> = HashMap::new();
    for d in held {
        *have.entry(d).or_default() += 1;
    }
    let mut want: HashMap<NaiveDate, usize> = HashMap::new();
    for (i, d) in p.sessions.iter().enumerate() {
        let n = want.entry(*d).or_default();
        *n += 1;
        if have.get(d).copied().unwrap_or(0) >= *n {
            continue;
        }
        let form = crate::domain::sessions::NewSession {
            id: Some(derived_id(ctx.secret, &["class_session", &p.id, &date(*d), &n.to_string()])),
            held_on: date(*d),
            duration_minutes: p.session_minutes,
            topic_ids: None,
            notes: None,
        };
        crate::domain::sessions::create_session_in(conn, w, p.id.clone(), form).map_err(|e| at_session(e, i))?;
        if outcome == ImportOutcome::Unchanged {
            outcome = ImportOutcome::Updated;
        }
    }
    Ok(RowDone { outcome, id: p.id.clone(), enrollment: None, member: None, created_trainee: None, team_done: None })
}

/// A session's refusal, naming the session column.
fn at_session(mut e: ApiError, _index: usize) -> ApiError {
    for f in e.errors.iter_mut() {
        f.field = format!("session_dates.{}", f.field);
    }
    e
}
