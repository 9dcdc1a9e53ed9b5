//! Trainees: the people trained, with the privacy the Personal Data Protection Law
//! (91/2025/QH15) and Decree 356/2025 require. Personal ID numbers are kept only as a keyed
//! hash and their last four digits; ethnicity only with its own consent; every read is
//! access-logged; a person's data can be exported and erased (keeping de-identified facts
//! so statistics stay right). Duplicates are reported, never merged silently.

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, filter_to_scope, Access, Area, Capability, Principal};
use crate::base::config::Secret;
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::domain::stats::Rec;
use crate::store::db::AnyConnection;
use crate::store::rows::TraineeRow;
use crate::store::schema::{enrollments, team_members, trainees};
use crate::store::values::{Choice, CompletionFilter, ConsentMethod, Gender, TargetGroup, VerificationDecision};

/// The consent a trainee gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct Consent {
    /// Consent to process basic personal data (required to record a trainee).
    pub basic: bool,
    /// Separate consent to record ethnicity (sensitive data).
    pub ethnicity: bool,
    pub method: ConsentMethod,
    pub obtained_at: DateTime<Utc>,
    /// The team member who obtained it.
    pub obtained_by: Option<String>,
}

/// A trainee.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "commune_code": "21025", "hamlet_id": null,
    "full_name": "Đinh Thị Lan", "gender": "female", "birth_year": 1961, "phone": "0912345678", "personal_id_last4": "4821",
    "ethnicity_code": "19", "ethnicity_name": "Hrê", "is_ethnic_minority": true, "target_groups": ["elderly", "farmer"],
    "occupation": "Nông dân", "consent": {"basic": true, "ethnicity": true, "method": "paper",
    "obtained_at": "2026-11-20T08:00:00Z", "obtained_by": null}, "merged_into": null, "erased": false, "version": 1,
    "created_at": "2026-11-20T08:00:00Z", "updated_at": "2026-11-20T08:00:00Z"}))]
pub struct Trainee {
    pub id: String,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub full_name: String,
    pub gender: Gender,
    pub birth_year: i32,
    pub phone: Option<String>,
    /// Last four digits of the personal ID number (the number itself is never stored).
    pub personal_id_last4: Option<String>,
    /// Statistics office code (01 Kinh … 54 Rơ-măm); only with ethnicity consent.
    pub ethnicity_code: Option<String>,
    pub ethnicity_name: Option<String>,
    pub is_ethnic_minority: Option<bool>,
    pub target_groups: Vec<TargetGroup>,
    pub occupation: Option<String>,
    pub consent: Consent,
    /// Set when this record was merged into another (the survivor).
    pub merged_into: Option<String>,
    /// True once the person's data was erased (de-identified facts remain).
    pub erased: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&TraineeRow> for Trainee {
    fn from(r: &TraineeRow) -> Self {
        Trainee {
            id: r.id.clone(),
            commune_code: r.commune_code.clone(),
            hamlet_id: r.hamlet_id.clone(),
            full_name: r.full_name.clone(),
            gender: r.gender,
            birth_year: r.birth_year,
            phone: r.phone.clone(),
            personal_id_last4: r.id_last4.clone(),
            ethnicity_code: r.ethnicity_code.clone(),
            ethnicity_name: r.ethnicity_code.as_deref().and_then(crate::domain::ethnicities::name).map(str::to_owned),
            is_ethnic_minority: r.ethnicity_code.as_deref().map(crate::domain::ethnicities::is_minority),
            target_groups: serde_json::from_str(&r.target_groups).unwrap_or_default(),
            occupation: r.occupation.clone(),
            consent: Consent {
                basic: r.consent_basic,
                ethnicity: r.consent_ethnicity,
                method: r.consent_method,
                obtained_at: utc(r.consent_at),
                obtained_by: r.consent_by.clone(),
            },
            merged_into: r.merged_into.clone(),
            erased: r.erased_at.is_some(),
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A possible duplicate found when recording a trainee (never merged automatically).
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateHint {
    pub id: String,
    pub full_name: String,
    pub birth_year: i32,
    pub commune_code: String,
    /// `same_personal_id` or `same_name_birth_year_commune`.
    pub reason: String,
}

/// A trainee as returned by create and update, with possible duplicates in the caller's scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraineeWithWarnings {
    #[serde(flatten)]
    pub trainee: Trainee,
    pub possible_duplicates: Vec<DuplicateHint>,
}

/// Consent given when recording a trainee.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentForm {
    /// Must be true.
    pub basic: bool,
    /// Required (true) to record `ethnicity_code`.
    pub ethnicity: Option<bool>,
    /// `paper`, `app` or `witnessed_verbal`.
    #[schema(value_type = ConsentMethod)]
    pub method: Choice<ConsentMethod>,
    /// Default: now.
    pub obtained_at: Option<DateTime<Utc>>,
    /// Team member id.
    pub obtained_by: Option<String>,
}

/// A new trainee.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"commune_code": "21025", "full_name": "Đinh Thị Lan", "gender": "female", "birth_year": 1961,
    "phone": "0912 345 678", "personal_id": "051161004821", "ethnicity_code": "19", "target_groups": ["elderly", "farmer"],
    "occupation": "Nông dân", "consent": {"basic": true, "ethnicity": true, "method": "paper"}}))]
pub struct NewTrainee {
    pub id: Option<String>,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub full_name: String,
    #[schema(value_type = Gender)]
    pub gender: Choice<Gender>,
    pub birth_year: i32,
    pub phone: Option<String>,
    /// The 12-digit personal ID number (căn cước). Only its keyed hash and last four
    /// digits are kept.
    pub personal_id: Option<String>,
    pub ethnicity_code: Option<String>,
    #[schema(value_type = Option<Vec<TargetGroup>>)]
    pub target_groups: Option<Vec<Choice<TargetGroup>>>,
    #[validate(length(max = 200))]
    pub occupation: Option<String>,
    pub consent: ConsentForm,
}

/// Changes to a trainee; `""` clears an optional field. Recording an ethnicity needs
/// `consent_ethnicity: true` (now or earlier).
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "0912 345 678", "occupation": "Nông dân", "target_groups": ["farmer", "elderly"]}))]
pub struct TraineePatch {
    pub commune_code: Option<String>,
    pub hamlet_id: Option<String>,
    pub full_name: Option<String>,
    #[schema(value_type = Option<Gender>)]
    pub gender: Option<Choice<Gender>>,
    pub birth_year: Option<i32>,
    pub phone: Option<String>,
    pub personal_id: Option<String>,
    pub ethnicity_code: Option<String>,
    pub consent_ethnicity: Option<bool>,
    #[schema(value_type = Option<Vec<TargetGroup>>)]
    pub target_groups: Option<Vec<Choice<TargetGroup>>>,
    #[validate(length(max = 200))]
    pub occupation: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TraineeQuery {
    /// Name or phone, without diacritics ("nguyen van a" finds "Nguyễn Văn A").
    pub q: Option<String>,
    pub commune: Option<String>,
    pub hamlet: Option<String>,
    #[param(value_type = Option<TargetGroup>)]
    pub target_group: Option<Choice<TargetGroup>>,
    /// Trainees enrolled in this class.
    pub class: Option<String>,
    /// `none`, `passed`, `failed` or `verified`.
    #[param(value_type = Option<CompletionFilter>)]
    pub completion: Option<Choice<CompletionFilter>>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn load_trainee(conn: &mut AnyConnection, id: &str) -> Result<TraineeRow, ApiError> {
    Ok(trainees::table.find(id).filter(trainees::deleted_at.is_null()).first(conn)?)
}

/// The trainee, checked against the caller's scope (404 reads, 403 writes outside it).
pub fn trainee_in_scope(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: &str,
    cap: Capability,
    access: Access,
) -> Result<TraineeRow, ApiError> {
    let row = load_trainee(conn, id)?;
    let area = Area::of_commune(conn, &row.commune_code)?;
    policy::authorize(caller, cap, Some(&area), access)?;
    Ok(row)
}

fn check_birth_year(v: i32, errors: &mut Vec<FieldError>) {
    let this_year = Utc::now().year();
    if !(1900..=this_year).contains(&v) {
        errors.push(FieldError::new(
            "birth_year",
            "range",
            Text::new(format!("Năm sinh phải từ 1900 đến {this_year}."), format!("The birth year must be between 1900 and {this_year}.")),
        ));
    }
}

/// A 12-digit personal ID number → (keyed hash, last four digits).
/// A personal ID number (12 digits, or a token the server reduced it to earlier) as its
/// keyed hash and last four digits; the number itself goes no further.
fn check_personal_id(raw: &str, secret: &crate::base::config::Secret, errors: &mut Vec<FieldError>) -> Option<(String, String)> {
    match crate::domain::privacy::ReducedId::from_input(secret, raw) {
        Some(r) => Some((r.hash, r.last4)),
        None => {
            errors.push(FieldError::new(
                "personal_id",
                "invalid_personal_id",
                Text::new("Số định danh cá nhân gồm đúng 12 chữ số.", "A personal ID number has exactly 12 digits."),
            ));
            None
        }
    }
}

fn check_ethnicity(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let code = raw.trim().to_owned();
    if crate::domain::ethnicities::name(&code).is_none() {
        errors.push(FieldError::new(
            "ethnicity_code",
            "unknown_ethnicity",
            Text::new(
                "Mã dân tộc phải là một trong 54 mã của Tổng cục Thống kê (01–54).",
                "The ethnicity code must be one of the 54 statistics office codes (01–54).",
            ),
        ));
    }
    code
}

fn ethnicity_needs_consent() -> FieldError {
    FieldError::new(
        "ethnicity_code",
        "consent_required",
        Text::new(
            "Chỉ ghi dân tộc khi người học đồng ý riêng cho dữ liệu này (consent.ethnicity = true).",
            "Ethnicity is recorded only with its own consent (consent.ethnicity = true).",
        ),
    )
}

/// The groups as stored: known values only, deduplicated, in the order of their names.
fn check_target_groups(raw: &[Choice<TargetGroup>], errors: &mut Vec<FieldError>) -> Vec<TargetGroup> {
    let mut v: Vec<TargetGroup> = raw.iter().filter_map(|g| g.check("target_groups", errors)).collect();
    v.sort_by_key(|g| g.as_str());
    v.dedup();
    v
}

/// Possible duplicates of a trainee inside the caller's scope: the same personal ID hash
/// anywhere in scope, or the same folded name and birth year in the same commune.
fn duplicates(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: &str,
    id_hash: Option<&str>,
    search_name: &str,
    birth_year: i32,
    commune: &str,
) -> Result<Vec<DuplicateHint>, ApiError> {
    let probe = Probe { id, id_hash, search_name, birth_year, commune };
    Ok(duplicates_many(conn, caller, &[probe])?.pop().unwrap_or_default())
}

/// What [`duplicates_many`] compares of one trainee.
pub(crate) struct Probe<'a> {
    pub id: &'a str,
    pub id_hash: Option<&'a str>,
    pub search_name: &'a str,
    pub birth_year: i32,
    pub commune: &'a str,
}

impl<'a> Probe<'a> {
    pub fn of(row: &'a TraineeRow) -> Self {
        Probe {
            id: &row.id,
            id_hash: row.id_hash.as_deref(),
            search_name: &row.search_name,
            birth_year: row.birth_year,
            commune: &row.commune_code,
        }
    }
}

/// [`duplicates`] of many trainees at once (an import), one query per 200 of them; the
/// answer has one list per probe, in order, each of at most 20 look-alikes by id.
pub(crate) fn duplicates_many(
    conn: &mut AnyConnection,
    caller: &Caller,
    probes: &[Probe<'_>],
) -> Result<Vec<Vec<DuplicateHint>>, ApiError> {
    let scope = caller.scope().clone();
    let mut out = Vec::with_capacity(probes.len());
    for chunk in probes.chunks(200) {
        // Each list without repeats: PostgreSQL probes the index once per pair of values.
        let set = |v: Vec<String>| v.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>();
        let communes = set(chunk.iter().map(|p| p.commune.to_owned()).collect());
        let names = set(chunk.iter().map(|p| p.search_name.to_owned()).collect());
        let hashes = set(chunk.iter().filter_map(|p| p.id_hash.map(str::to_owned)).collect());
        let base = trainees::table.filter(trainees::deleted_at.is_null()).filter(trainees::erased_at.is_null()).into_boxed();
        let base = filter_to_scope!(base, trainees::commune_code, &scope);
        let same_name = trainees::commune_code.eq_any(communes).and(trainees::search_name.eq_any(names));
        let candidates: Vec<TraineeRow> = if hashes.is_empty() {
            base.filter(same_name).order(trainees::id).load(conn)?
        } else {
            base.filter(same_name.or(trainees::id_hash.eq_any(hashes))).order(trainees::id).load(conn)?
        };
        for p in chunk {
            let hits = candidates
                .iter()
                .filter(|c| c.id != p.id)
                .filter(|c| {
                    let same_id = p.id_hash.is_some() && c.id_hash.as_deref() == p.id_hash;
                    same_id || (c.commune_code == p.commune && c.birth_year == p.birth_year && c.search_name == p.search_name)
                })
                .take(20)
                .map(|r| DuplicateHint {
                    reason: if p.id_hash.is_some() && r.id_hash.as_deref() == p.id_hash {
                        "same_personal_id"
                    } else {
                        "same_name_birth_year_commune"
                    }
                    .to_owned(),
                    id: r.id.clone(),
                    full_name: r.full_name.clone(),
                    birth_year: r.birth_year,
                    commune_code: r.commune_code.clone(),
                })
                .collect();
            out.push(hits);
        }
    }
    Ok(out)
}

fn check_member(conn: &mut AnyConnection, member: Option<&str>) -> Result<(), ApiError> {
    let Some(m) = member else { return Ok(()) };
    let n: i64 = team_members::table.filter(team_members::id.eq(m)).filter(team_members::deleted_at.is_null()).count().get_result(conn)?;
    if n == 0 {
        return Err(records::unknown_reference("consent.obtained_by"));
    }
    Ok(())
}

/// Creates a trainee inside the caller's write transaction (REST create and batch push).
pub(crate) fn create_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    secret: &crate::base::config::Secret,
    mut form: NewTrainee,
) -> Result<(CreateOutcome, TraineeRow), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let mut errors = Vec::new();
    records::validate_form(&form, &mut errors);
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let full_name = crate::domain::users::check_name("full_name", &form.full_name, &mut errors);
    let gender = form.gender.check("gender", &mut errors);
    check_birth_year(form.birth_year, &mut errors);
    let phone = crate::domain::users::check_phone("phone", form.phone.as_deref(), &mut errors);
    let pid = form.personal_id.as_deref().filter(|p| !p.trim().is_empty()).and_then(|p| check_personal_id(p, secret, &mut errors));
    let ethnicity = form.ethnicity_code.as_deref().filter(|e| !e.trim().is_empty()).map(|e| check_ethnicity(e, &mut errors));
    let consent_ethnicity = form.consent.ethnicity.unwrap_or(false);
    if ethnicity.is_some() && !consent_ethnicity {
        errors.push(ethnicity_needs_consent());
    }
    if !form.consent.basic {
        errors.push(FieldError::new(
            "consent.basic",
            "consent_required",
            Text::new("Cần sự đồng ý của người học để ghi dữ liệu cá nhân.", "The trainee's consent is needed to record personal data."),
        ));
    }
    let method = form.consent.method.check("consent.method", &mut errors);
    let groups = check_target_groups(form.target_groups.as_deref().unwrap_or(&[]), &mut errors);
    let occupation = records::optional_text(form.occupation.as_deref());
    let hamlet_id = form.hamlet_id.as_deref().filter(|h| !h.is_empty()).map(|h| records::reference("hamlet_id", h, &mut errors));
    let obtained_by =
        form.consent.obtained_by.as_deref().filter(|m| !m.is_empty()).map(|m| records::reference("consent.obtained_by", m, &mut errors));
    records::fail_if_any(errors)?;
    let (gender, method) = (records::valid(gender)?, records::valid(method)?);
    // The replay digest must not become a second, brute-forceable copy of the ID number.
    form.personal_id = pid.as_ref().map(|(h, _)| h.clone());
    let digest = records::digest_with(&form, &[("target_groups", serde_json::json!([])), ("consent.ethnicity", serde_json::json!(false))]);
    let commune = form.commune_code.trim().to_owned();
    let consent_at = form.consent.obtained_at.map(|t| crate::store::db::truncate_micros(t.naive_utc()));
    let birth_year = form.birth_year;
    let existing = if w.take_absent("trainees", &id) {
        None
    } else {
        if w.holds("trainees", &id) {
            w.flush(conn)?;
        }
        trainees::table
            .find(&id)
            .select((trainees::create_digest, trainees::deleted_at.is_not_null()))
            .first::<(String, bool)>(conn)
            .optional()?
    };
    if records::check_replay(existing, &digest, &form)? == CreateOutcome::Replay {
        let row = trainee_in_scope(conn, caller, &id, Capability::RecordPersonData, Access::Write)?;
        return Ok((CreateOutcome::Replay, row));
    }
    let area = w.unit(conn, "commune_code", &commune)?;
    policy::authorize(caller, Capability::RecordPersonData, Some(&area), Access::Write)?;
    crate::domain::hamlets::check_hamlet(conn, hamlet_id.as_deref(), &commune)?;
    check_member(conn, obtained_by.as_deref())?;
    w.touch_new(Rec::Trainee(id.clone()));
    let seq = w.seq(conn)?;
    let search_name = crate::base::text::fold(&full_name);
    let row = TraineeRow {
        id: id.clone(),
        version: 1,
        created_at: w.now,
        updated_at: w.now,
        deleted_at: None,
        change_seq: seq,
        create_digest: digest.stored().to_owned(),
        commune_code: commune.clone(),
        hamlet_id,
        full_name,
        search_name,
        gender,
        birth_year,
        phone,
        id_hash: pid.as_ref().map(|p| p.0.clone()),
        id_last4: pid.as_ref().map(|p| p.1.clone()),
        ethnicity_code: ethnicity,
        target_groups: serde_json::to_string(&groups).unwrap_or_else(|_| "[]".into()),
        occupation,
        consent_basic: true,
        consent_ethnicity,
        consent_method: method,
        consent_at: consent_at.unwrap_or(w.now),
        consent_by: obtained_by,
        merged_into: None,
        erased_at: None,
        cell_key: crate::domain::stats::perturb::new_person_key(),
    };
    let row = w.insert_trainee(conn, row)?;
    w.cache_trainee(&row);
    w.audit(conn, "create", "trainee", &id, Some(&commune), &["personal data", "consent"])?;
    Ok((CreateOutcome::New, row))
}

/// Changes a trainee inside the caller's write transaction (REST PATCH and batch push).
pub(crate) fn update_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    secret: &crate::base::config::Secret,
    id: &str,
    if_match: &IfMatch,
    p: TraineePatch,
) -> Result<TraineeRow, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    if_match.require()?;
    let mut errors = Vec::new();
    records::validate_form(&p, &mut errors);
    let full_name = p.full_name.as_deref().map(|n| crate::domain::users::check_name("full_name", n, &mut errors));
    let gender = p.gender.as_ref().map(|g| g.check("gender", &mut errors));
    if let Some(y) = p.birth_year {
        check_birth_year(y, &mut errors);
    }
    let phone: Option<Option<String>> = p.phone.as_deref().map(|v| crate::domain::users::check_phone("phone", Some(v), &mut errors));
    let pid: Option<Option<(String, String)>> =
        p.personal_id.as_deref().map(|v| if v.trim().is_empty() { None } else { check_personal_id(v, secret, &mut errors) });
    let ethnicity: Option<Option<String>> =
        p.ethnicity_code.as_deref().map(|e| if e.trim().is_empty() { None } else { Some(check_ethnicity(e, &mut errors)) });
    let groups = p.target_groups.as_deref().map(|g| check_target_groups(g, &mut errors));
    let occupation: Option<Option<String>> = p.occupation.as_deref().map(|o| records::optional_text(Some(o)));
    let hamlet_id: Option<Option<String>> =
        p.hamlet_id.as_deref().map(|h| if h.is_empty() { None } else { Some(records::reference("hamlet_id", h, &mut errors)) });
    records::fail_if_any(errors)?;
    let gender = gender.map(records::valid).transpose()?;
    let row = trainee_in_scope(conn, caller, id, Capability::RecordPersonData, Access::Write)?;
    if_match.check(row.version)?;
    if row.erased_at.is_some() {
        return Err(trainee_erased());
    }
    let new_commune = p.commune_code.clone().map(|c| c.trim().to_owned()).unwrap_or(row.commune_code.clone());
    if new_commune != row.commune_code {
        let area = crate::domain::teams::commune_of(conn, "commune_code", &new_commune)?;
        policy::authorize(caller, Capability::RecordPersonData, Some(&area), Access::Write)?;
    }
    let new_hamlet = match &hamlet_id {
        Some(h) => h.clone(),
        None if new_commune != row.commune_code => None,
        None => row.hamlet_id.clone(),
    };
    if new_hamlet != row.hamlet_id {
        crate::domain::hamlets::check_hamlet(conn, new_hamlet.as_deref(), &new_commune)?;
    }
    let consent_eth = p.consent_ethnicity.unwrap_or(row.consent_ethnicity);
    let mut new_eth = ethnicity.clone().unwrap_or(row.ethnicity_code.clone());
    if !consent_eth {
        if ethnicity.as_ref().is_some_and(|e| e.is_some()) {
            return Err(error::validation(vec![ethnicity_needs_consent()]));
        }
        // Consent withdrawn through PATCH: the ethnicity goes with it.
        new_eth = None;
    }
    let new_name = full_name.clone().unwrap_or(row.full_name.clone());
    let new_gender = gender.unwrap_or(row.gender);
    let new_year = p.birth_year.unwrap_or(row.birth_year);
    let new_phone = phone.clone().unwrap_or(row.phone.clone());
    let (new_hash, new_last4) = match &pid {
        Some(Some((h, l))) => (Some(h.clone()), Some(l.clone())),
        Some(None) => (None, None),
        None => (row.id_hash.clone(), row.id_last4.clone()),
    };
    let new_groups = groups.clone().map(|g| serde_json::to_string(&g).unwrap_or_else(|_| "[]".into())).unwrap_or(row.target_groups.clone());
    let new_occupation = occupation.clone().unwrap_or(row.occupation.clone());
    let changed = records::changed_fields(&[
        ("commune_code", new_commune != row.commune_code),
        ("hamlet_id", new_hamlet != row.hamlet_id),
        ("full_name", new_name != row.full_name),
        ("gender", new_gender != row.gender),
        ("birth_year", new_year != row.birth_year),
        ("phone", new_phone != row.phone),
        ("personal_id", new_hash != row.id_hash),
        ("ethnicity_code", new_eth != row.ethnicity_code),
        ("consent_ethnicity", consent_eth != row.consent_ethnicity),
        ("target_groups", new_groups != row.target_groups),
        ("occupation", new_occupation != row.occupation),
    ]);
    let row = if changed.is_empty() {
        row
    } else {
        w.touch(conn, Rec::Trainee(id.to_owned()))?;
        let seq = w.seq(conn)?;
        diesel::update(trainees::table.find(id))
            .set((
                (
                    trainees::commune_code.eq(&new_commune),
                    trainees::hamlet_id.eq(new_hamlet),
                    trainees::search_name.eq(crate::base::text::fold(&new_name)),
                    trainees::full_name.eq(new_name),
                    trainees::gender.eq(new_gender),
                    trainees::birth_year.eq(new_year),
                    trainees::phone.eq(new_phone),
                    trainees::id_hash.eq(new_hash),
                    trainees::id_last4.eq(new_last4),
                ),
                (
                    trainees::ethnicity_code.eq(new_eth),
                    trainees::consent_ethnicity.eq(consent_eth),
                    trainees::target_groups.eq(new_groups),
                    trainees::occupation.eq(new_occupation),
                    trainees::version.eq(row.version + 1),
                    trainees::updated_at.eq(w.now),
                    trainees::change_seq.eq(seq),
                ),
            ))
            .execute(conn)?;
        w.audit(conn, "update", "trainee", id, Some(&new_commune), &changed)?;
        if changed.contains(&"full_name") {
            // Enrollments show the trainee's name: phones get them again.
            resend_enrollments(conn, w, id, false)?;
        }
        if new_commune != row.commune_code {
            // The old commune's officers must see the move in their log too, and
            // its devices must be told to drop the record.
            w.audit(conn, "move_out", "trainee", id, Some(&row.commune_code), &["commune_code"])?;
            records::record_removal(conn, w, "trainee", id, &row.commune_code, Some(&new_commune), row.version + 1)?;
        }
        load_trainee(conn, id)?
    };
    Ok(row)
}

pub fn trainee_erased() -> ApiError {
    error::conflict("trainee_erased", Text::new("Dữ liệu cá nhân của người này đã bị xóa.", "This person's data has been erased."))
}

/// Deletes a trainee inside the caller's write transaction (REST DELETE and batch push).
pub(crate) fn delete_in(conn: &mut AnyConnection, w: &mut Write<'_>, id: &str, if_match: &IfMatch) -> Result<i64, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    if_match.require()?;
    let row = trainee_in_scope(conn, caller, id, Capability::RecordPersonData, Access::Write)?;
    if_match.check(row.version)?;
    let n: i64 =
        enrollments::table.filter(enrollments::trainee_id.eq(id)).filter(enrollments::deleted_at.is_null()).count().get_result(conn)?;
    if n > 0 {
        // Dropped enrollments refer to the trainee too: they would point at a deleted record.
        return Err(error::conflict(
            "trainee_has_enrollments",
            Text::new(
                "Người học có lượt ghi danh lớp học (kể cả đã rút tên); hãy gộp bản ghi hoặc xóa dữ liệu cá nhân (erase).",
                "The trainee has enrollments (dropped ones too); merge the record, or erase the personal data instead.",
            ),
        ));
    }
    w.touch(conn, Rec::Trainee(id.to_owned()))?;
    let seq = w.seq(conn)?;
    records::tombstone!(conn, trainees, id, row.version, w.now, seq);
    w.audit(conn, "delete", "trainee", id, Some(&row.commune_code), &[])?;
    Ok(row.version + 1)
}

/// Gives each live enrollment of a trainee a new change number, so that the sync feed sends
/// it again: enrollments show the trainee's name, and a phone's copy must follow a rename
/// or an erasure. `changed` also moves their version on (their stored fields changed).
pub fn resend_enrollments(conn: &mut AnyConnection, w: &mut Write<'_>, trainee_id: &str, changed: bool) -> Result<(), ApiError> {
    let ids: Vec<String> = enrollments::table
        .filter(enrollments::trainee_id.eq(trainee_id))
        .filter(enrollments::deleted_at.is_null())
        .order(enrollments::id)
        .select(enrollments::id)
        .load(conn)?;
    for eid in ids {
        // One number each: the feed pages by change number, and a page must never end
        // inside a group of records that share one.
        let seq = w.seq(conn)?;
        let row = diesel::update(enrollments::table.find(&eid));
        if changed {
            row.set((
                enrollments::change_seq.eq(seq),
                enrollments::version.eq(enrollments::version + 1),
                enrollments::updated_at.eq(w.now),
            ))
            .execute(conn)?;
        } else {
            row.set(enrollments::change_seq.eq(seq)).execute(conn)?;
        }
    }
    Ok(())
}

/// Record a trainee (team members of the commune, officers, admins).
pub fn create_trainee(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    secret: &Secret,
    form: NewTrainee,
) -> Result<(CreateOutcome, TraineeWithWarnings), ApiError> {
    let (outcome, row, dups) = {
        records::in_write_tx(conn, caller, meta, |conn, w| {
            let (outcome, row) = create_in(conn, w, secret, form)?;
            let dups = duplicates(conn, w.caller, &row.id, row.id_hash.as_deref(), &row.search_name, row.birth_year, &row.commune_code)?;
            Ok((outcome, row, dups))
        })
    }?;
    Ok((outcome, TraineeWithWarnings { trainee: Trainee::from(&row), possible_duplicates: dups }))
}

/// One trainee (access-logged).
pub fn get_trainee(conn: &mut AnyConnection, caller: &Caller, path: &str) -> Result<Trainee, ApiError> {
    policy::authorize(caller, Capability::ReadPersonData, None, Access::Read)?;
    let id = parse_uuid(path)?;
    match trainee_in_scope(conn, caller, &id, Capability::ReadPersonData, Access::Read) {
        Ok(row) => Ok(Trainee::from(&row)),
        // A duplicate merged away points to its survivor (for a caller who could read it).
        Err(e) if e.status == 404 => {
            let merged: Option<(String, Option<String>)> = trainees::table
                .find(&id)
                .filter(trainees::deleted_at.is_not_null())
                .select((trainees::commune_code, trainees::merged_into))
                .first(conn)
                .optional()?;
            match merged {
                Some((commune, Some(into))) if caller.scope().covers(&Area::of_commune(conn, &commune)?) => Err(error::merged(&into)),
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Trainees in the caller's scope, by name (access-logged with the number of rows).
pub fn list_trainees(conn: &mut AnyConnection, caller: &Caller, query: TraineeQuery) -> Result<Page<Trainee>, ApiError> {
    policy::authorize(caller, Capability::ReadPersonData, None, Access::Read)?;
    let q = query;
    let limit = page_limit(q.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let mut errors = Vec::new();
    let target_group = q.target_group.as_ref().map(|g| g.check("target_group", &mut errors));
    let completion = q.completion.as_ref().map(|c| c.check("completion", &mut errors));
    records::fail_if_any(errors)?;
    let target_group = target_group.map(records::valid).transpose()?;
    let completion = completion.map(records::valid).transpose()?;
    let scope = caller.scope().clone();
    let page = {
        let mut query =
            filter_to_scope!(trainees::table.filter(trainees::deleted_at.is_null()).into_boxed(), trainees::commune_code, &scope);
        if let Some(c) = q.commune {
            query = query.filter(trainees::commune_code.eq(c));
        }
        if let Some(h) = q.hamlet {
            query = query.filter(trainees::hamlet_id.eq(h));
        }
        if let Some(g) = target_group {
            query = query.filter(trainees::target_groups.like(format!("%\"{g}\"%")));
        }
        if let Some(text) = q.q.as_deref().map(crate::base::text::fold).filter(|t| !t.is_empty()) {
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() >= 3 && digits.len() == text.chars().filter(|c| !c.is_whitespace() && *c != '+').count() {
                query = query.filter(trainees::phone.like(format!("%{digits}%")));
            } else {
                query = query.filter(trainees::search_name.like(format!("%{escaped}%")).escape('\\'));
            }
        }
        let live = enrollments::table.filter(enrollments::deleted_at.is_null());
        if let Some(c) = q.class {
            query = query.filter(trainees::id.eq_any(live.filter(enrollments::class_id.eq(c)).select(enrollments::trainee_id)));
        }
        match completion {
            Some(CompletionFilter::None) => {
                query = query.filter(diesel::dsl::not(
                    trainees::id.eq_any(live.filter(enrollments::completion_result.is_not_null()).select(enrollments::trainee_id)),
                ))
            }
            Some(CompletionFilter::Verified) => {
                query = query.filter(
                    trainees::id
                        .eq_any(live.filter(enrollments::verification.eq(VerificationDecision::Verified)).select(enrollments::trainee_id)),
                )
            }
            Some(result @ (CompletionFilter::Passed | CompletionFilter::Failed)) => {
                query = query.filter(
                    trainees::id
                        .eq_any(live.filter(enrollments::completion_result.eq(result.as_str().to_owned())).select(enrollments::trainee_id)),
                )
            }
            None => {}
        }
        if let Some(Position(name, id)) = after {
            query = query.filter(trainees::search_name.gt(name.clone()).or(trainees::search_name.eq(name).and(trainees::id.gt(id))));
        }
        let rows: Vec<TraineeRow> = query.order((trainees::search_name, trainees::id)).limit(limit + 1).load(conn)?;
        records::page(rows, limit, |r| Position(r.search_name.clone(), r.id.clone()), |r| Ok(Trainee::from(r)))
    }?;
    Ok(page)
}

/// Change a trainee. Needs `If-Match`. Moving a trainee to another commune needs the
/// caller to cover both.
pub fn update_trainee(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: &str,
    secret: &Secret,
    patch: TraineePatch,
) -> Result<TraineeWithWarnings, ApiError> {
    let id = parse_uuid(path)?;
    let p = patch;
    let (row, dups) = {
        records::in_write_tx(conn, caller, meta, |conn, w| {
            let row = update_in(conn, w, secret, &id, if_match, p)?;
            let dups = duplicates(conn, w.caller, &row.id, row.id_hash.as_deref(), &row.search_name, row.birth_year, &row.commune_code)?;
            Ok((row, dups))
        })
    }?;
    Ok(TraineeWithWarnings { trainee: Trainee::from(&row), possible_duplicates: dups })
}

/// Delete a trainee recorded by mistake (tombstone). Refused while the trainee has
/// enrollments: drop them first, or merge the record into its duplicate.
pub fn delete_trainee(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: &str,
) -> Result<(), ApiError> {
    let id = parse_uuid(path)?;
    records::in_write_tx(conn, caller, meta, |conn, w| delete_in(conn, w, &id, if_match))?;
    Ok(())
}
