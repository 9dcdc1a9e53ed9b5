//! Statistics counters, kept in the write transaction.
//!
//! Every record that counts for a statistic contributes *facts*: (commune, day, measure,
//! facet, dimensions) → +1. The table `stat_facts` holds their sums. A write touches the
//! records it will change *before* changing them ([`Stats::touch`], through
//! `records::Write::touch`); when the write finishes, the facts of the touched records
//! are computed again, and the difference (after − before) is added to the counters. So a
//! counter is right the moment a record is saved, whatever the write did (create, edit,
//! move, delete, merge, erase, a pushed batch whose operations partly rolled back), and a
//! read sums a few counter rows instead of scanning trainees.
//!
//! Facts are computed by the same pure functions for one record (writes) and for all
//! records at once ([`rebuild`], `hocvuso stats rebuild`), which must agree.
//!
//! Measures (and the day they count on):
//! - `trainees`: a live trainee (not deleted or merged), on the day it was recorded;
//! - `people_confirmed`: a live trainee with a passed class completion or a platform
//!   certificate, once, on the first such date;
//! - `enrollments`: a live, not dropped enrollment, on its day;
//! - `completions_passed`: a passed completion, on its completion date;
//! - `completions_verified`: a verified passed completion, on its verification day;
//! - `sessions_held`: a live session, on the day it was held;
//! - `classes_<status>`: a live class, on its start date;
//! - `teams_active`: a live active team, on its creation day;
//! - `team_members`: a live member (not left) of a live team, on the day they joined.
//!
//! Person measures carry the person's gender, age band (age in the year of the day) and
//! ethnicity; class measures carry the class's team, teaching language and campaign.
//! Multi-valued dimensions get extra rows: `facet = "topic"` (one row per topic of the
//! class) and `facet = "target_group"` (one row per target group of the person); base rows
//! have `facet = ""`.

pub mod perturb;
pub mod query;
pub mod read;
pub mod rebuild;
pub mod reports;

use std::collections::BTreeMap;

// The write path's maps: SipHash over ids was 4 % of a push (issue #16).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;

use crate::base::error::ApiError;
use crate::base::time::local_day;
use crate::store::db::AnyConnection;
use crate::store::rows::{EnrollmentRow, TraineeRow};
use crate::store::schema::{
    class_sessions, class_topics, classes, enrollments, platform_certificates, stat_commune_buckets, stat_facts, stat_province_buckets,
    stat_province_dims, team_members, teams, trainees, units,
};

/// One counted thing's coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fact {
    pub commune: String,
    pub day: NaiveDate,
    pub measure: String,
    pub facet: &'static str,
    pub facet_value: String,
    pub gender: String,
    pub age_band: &'static str,
    pub ethnicity: String,
    pub team: String,
    pub language: String,
    pub campaign: String,
}

impl Fact {
    fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.commune,
            self.day,
            self.measure,
            self.facet,
            self.facet_value,
            self.gender,
            self.age_band,
            self.ethnicity,
            self.team,
            self.language,
            self.campaign
        )
    }
}

/// What a counter row holds: how many things it counts (`n`) and, for people, the sum of
/// their keys (`k`, [`perturb`]); both add up, so deltas and rollups keep them exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub n: i64,
    pub k: i64,
}

impl Count {
    pub fn is_zero(&self) -> bool {
        self.n == 0 && self.k == 0
    }
}

impl std::ops::AddAssign for Count {
    fn add_assign(&mut self, o: Count) {
        self.n += o.n;
        self.k += o.k;
    }
}

impl std::ops::SubAssign for Count {
    fn sub_assign(&mut self, o: Count) {
        self.n -= o.n;
        self.k -= o.k;
    }
}

/// A fact and the key it adds to its counters: the person's (trainees, members), 0 for
/// things that are not people (classes, sessions, teams).
pub type Keyed = (Fact, i64);

/// The half-month bucket of a day: the 1st or the 15th of its month.
pub fn bucket(day: NaiveDate) -> NaiveDate {
    let d = if day.day() < 15 { 1 } else { 15 };
    day.with_day(d).unwrap_or(day)
}

/// A rollup row's coordinates: (commune or province, bucket, measure, facet, facet value,
/// grain). Grain `h`: the bucket is a half-month's first day; `d`: the bucket is the day
/// itself (for the edges of periods off the half-month boundaries).
type BucketKey = (String, NaiveDate, String, &'static str, String, &'static str);

/// The row key; a day row's has `|d` after the facet value (the migration that added day
/// rows builds the same keys in SQL).
fn bucket_key(k: &BucketKey) -> String {
    let grain = if k.5 == "d" { "|d" } else { "" };
    format!("{}|{}|{}|{}|{}{grain}", k.0, k.1, k.2, k.3, k.4)
}

/// A province-dimensions rollup row: the bucket key plus gender, age band, ethnicity, language.
type DimsKey = (BucketKey, String, &'static str, String, String);

fn dims_key(k: &DimsKey) -> String {
    format!("{}|{}|{}|{}|{}", bucket_key(&k.0), k.1, k.2, k.3, k.4)
}

/// Counter deltas of the four tables.
#[derive(Default)]
struct Deltas {
    facts: BTreeMap<Fact, Count>,
    communes: BTreeMap<BucketKey, (String, Count)>,
    provinces: BTreeMap<BucketKey, Count>,
    dims: BTreeMap<DimsKey, Count>,
}

impl Deltas {
    fn add(&mut self, f: &Fact, province: &str, n: Count) {
        *self.facts.entry(f.clone()).or_default() += n;
        for (grain, b) in [("h", bucket(f.day)), ("d", f.day)] {
            let e = self
                .communes
                .entry((f.commune.clone(), b, f.measure.clone(), f.facet, f.facet_value.clone(), grain))
                .or_insert((province.to_owned(), Count::default()));
            e.1 += n;
            let pk: BucketKey = (province.to_owned(), b, f.measure.clone(), f.facet, f.facet_value.clone(), grain);
            *self.dims.entry((pk.clone(), f.gender.clone(), f.age_band, f.ethnicity.clone(), f.language.clone())).or_default() += n;
            *self.provinces.entry(pk).or_default() += n;
        }
    }
}

/// `<18`, `18-35`, `36-59`, `60+` from the age reached in `year`.
pub fn age_band(birth_year: i32, year: i32) -> &'static str {
    match year - birth_year {
        a if a < 18 => "<18",
        a if a <= 35 => "18-35",
        a if a <= 59 => "36-59",
        _ => "60+",
    }
}

pub const AGE_BANDS: &[&str] = &["<18", "18-35", "36-59", "60+"];

/// What facts need of a person.
#[derive(Debug, Clone)]
pub struct Person {
    pub commune: String,
    pub gender: String,
    pub birth_year: i32,
    pub ethnicity: String,
    pub target_groups: Vec<String>,
    /// The person's key ([`perturb`]).
    pub key: i64,
}

/// What facts need of a class.
#[derive(Debug, Clone)]
pub struct ClassInfo {
    pub commune: String,
    pub team: String,
    pub language: String,
    pub campaign: String,
    pub status: String,
    pub start_date: NaiveDate,
    pub live: bool,
    pub topics: Vec<String>,
}

fn person_fact(measure: &str, commune: &str, day: NaiveDate, p: &Person, class: Option<&ClassInfo>, out: &mut Vec<Keyed>) {
    let base = Fact {
        commune: commune.to_owned(),
        day,
        measure: measure.to_owned(),
        facet: "",
        facet_value: String::new(),
        gender: p.gender.clone(),
        age_band: age_band(p.birth_year, day.year()),
        ethnicity: p.ethnicity.clone(),
        team: class.map(|c| c.team.clone()).unwrap_or_default(),
        language: class.map(|c| c.language.clone()).unwrap_or_default(),
        campaign: class.map(|c| c.campaign.clone()).unwrap_or_default(),
    };
    for g in &p.target_groups {
        out.push((Fact { facet: "target_group", facet_value: g.clone(), ..base.clone() }, p.key));
    }
    if let Some(c) = class {
        for t in &c.topics {
            out.push((Fact { facet: "topic", facet_value: t.clone(), ..base.clone() }, p.key));
        }
    }
    out.push((base, p.key));
}

fn class_fact(measure: &str, commune: &str, day: NaiveDate, c: &ClassInfo, out: &mut Vec<Keyed>) {
    let base = Fact {
        commune: commune.to_owned(),
        day,
        measure: measure.to_owned(),
        facet: "",
        facet_value: String::new(),
        gender: String::new(),
        age_band: "",
        ethnicity: String::new(),
        team: c.team.clone(),
        language: c.language.clone(),
        campaign: c.campaign.clone(),
    };
    for t in &c.topics {
        out.push((Fact { facet: "topic", facet_value: t.clone(), ..base.clone() }, 0));
    }
    out.push((base, 0));
}

fn plain_fact(measure: &str, commune: &str, day: NaiveDate, team: &str) -> Fact {
    Fact {
        commune: commune.to_owned(),
        day,
        measure: measure.to_owned(),
        facet: "",
        facet_value: String::new(),
        gender: String::new(),
        age_band: "",
        ethnicity: String::new(),
        team: team.to_owned(),
        language: String::new(),
        campaign: String::new(),
    }
}

// ---- the facts of each kind of record (pure) -----------------------------------------------

pub fn trainee_facts(p: &Person, recorded: NaiveDate, first_qualified: Option<NaiveDate>, out: &mut Vec<Keyed>) {
    person_fact("trainees", &p.commune, recorded, p, None, out);
    if let Some(day) = first_qualified {
        person_fact("people_confirmed", &p.commune, day, p, None, out);
    }
}

/// An enrollment row's facts; `class` must be live (a deleted class counts nothing).
pub struct EnrollmentInfo {
    pub commune: String,
    pub status: String,
    pub created: NaiveDate,
    pub completion_result: Option<String>,
    pub completed_on: Option<NaiveDate>,
    pub verification: Option<String>,
    pub verified_on: Option<NaiveDate>,
}

pub fn enrollment_facts(e: &EnrollmentInfo, p: &Person, class: &ClassInfo, out: &mut Vec<Keyed>) {
    // A cancelled class did not happen: it counts in `classes_cancelled` only, none of its
    // enrollments or completions (docs/STATS.md).
    if !class.live || class.status == "cancelled" {
        return;
    }
    if e.status == "enrolled" {
        person_fact("enrollments", &e.commune, e.created, p, Some(class), out);
    }
    if e.completion_result.as_deref() == Some("passed") {
        if let Some(day) = e.completed_on {
            person_fact("completions_passed", &e.commune, day, p, Some(class), out);
        }
        if e.verification.as_deref() == Some("verified") {
            if let Some(day) = e.verified_on {
                person_fact("completions_verified", &e.commune, day, p, Some(class), out);
            }
        }
    }
}

pub fn class_facts(c: &ClassInfo, out: &mut Vec<Keyed>) {
    if c.live {
        class_fact(&format!("classes_{}", c.status), &c.commune, c.start_date, c, out);
    }
}

pub fn session_facts(commune: &str, held_on: NaiveDate, class: &ClassInfo, out: &mut Vec<Keyed>) {
    if class.live {
        class_fact("sessions_held", commune, held_on, class, out);
    }
}

// ---- loading one record's facts ---------------------------------------------------------------

/// A record whose facts a write changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rec {
    Trainee(String),
    Enrollment(String),
    Class(String),
    Session(String),
    Team(String),
    Member(String),
}

type TraineeCols = (String, String, i32, Option<String>, String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>, Option<String>, i64);

/// The columns of [`TraineeCols`].
macro_rules! trainee_cols {
    () => {
        (
            trainees::commune_code,
            trainees::gender,
            trainees::birth_year,
            trainees::ethnicity_code,
            trainees::target_groups,
            trainees::created_at,
            trainees::deleted_at,
            trainees::merged_into,
            trainees::cell_key,
        )
    };
}
pub(crate) use trainee_cols;

fn person_of(row: &TraineeCols) -> Person {
    Person {
        commune: row.0.clone(),
        gender: row.1.clone(),
        birth_year: row.2,
        ethnicity: row.3.clone().unwrap_or_default(),
        target_groups: serde_json::from_str(&row.4).unwrap_or_default(),
        key: row.8,
    }
}

/// Trainees and enrollments the write created and did not change since, by id: as they
/// stand in the database, so the statistics need not read them again.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    pub trainees: &'a HashMap<String, TraineeRow>,
    pub enrollments: &'a HashMap<String, EnrollmentRow>,
}

/// [`load_person`]'s answer for a row in hand.
fn person_known(t: &TraineeRow) -> (Person, NaiveDate, bool) {
    let person = Person {
        commune: t.commune_code.clone(),
        gender: t.gender.as_str().to_owned(),
        birth_year: t.birth_year,
        ethnicity: t.ethnicity_code.clone().unwrap_or_default(),
        target_groups: serde_json::from_str(&t.target_groups).unwrap_or_default(),
        key: t.cell_key,
    };
    (person, local_day(t.created_at), t.deleted_at.is_none() && t.merged_into.is_none())
}

/// An enrollment row in hand as [`enrollment_cols`] reads it.
fn enrollment_cols_of(e: &EnrollmentRow) -> EnrollmentCols {
    (
        e.class_id.clone(),
        e.trainee_id.clone(),
        e.commune_code.clone(),
        e.status.as_str().to_owned(),
        e.created_at,
        e.deleted_at,
        e.completion_result.map(|r| r.as_str().to_owned()),
        e.completed_on,
        e.verification.map(|v| v.as_str().to_owned()),
        e.verified_at,
    )
}

fn load_person(conn: &mut AnyConnection, id: &str) -> Result<Option<(Person, NaiveDate, bool)>, ApiError> {
    let row: Option<TraineeCols> = trainees::table.find(id).select(trainee_cols!()).first(conn).optional()?;
    Ok(row.map(|r| {
        let live = r.6.is_none() && r.7.is_none();
        (person_of(&r), local_day(r.5), live)
    }))
}

fn load_class_info(conn: &mut AnyConnection, id: &str) -> Result<Option<ClassInfo>, ApiError> {
    type Cols = (String, String, String, Option<String>, String, NaiveDate, Option<chrono::NaiveDateTime>);
    let row: Option<Cols> = classes::table
        .find(id)
        .select((
            classes::commune_code,
            classes::team_id,
            classes::language,
            classes::campaign,
            classes::status,
            classes::start_date,
            classes::deleted_at,
        ))
        .first(conn)
        .optional()?;
    let Some(r) = row else { return Ok(None) };
    let topics: Vec<String> = class_topics::table
        .filter(class_topics::class_id.eq(id))
        .select(class_topics::topic_id)
        .order(class_topics::topic_id)
        .load(conn)?;
    Ok(Some(ClassInfo {
        commune: r.0,
        team: r.1,
        language: r.2,
        campaign: r.3.unwrap_or_default(),
        status: r.4,
        start_date: r.5,
        live: r.6.is_none(),
        topics,
    }))
}

/// The first day a person qualified: a passed completion (of a live enrollment in a live
/// class) or a platform certificate.
fn first_qualified(conn: &mut AnyConnection, trainee_id: &str) -> Result<Option<NaiveDate>, ApiError> {
    let by_class = enrollments::table
        .inner_join(classes::table)
        .filter(enrollments::trainee_id.eq(trainee_id))
        .filter(enrollments::deleted_at.is_null())
        .filter(enrollments::completion_result.eq("passed"))
        .filter(classes::deleted_at.is_null())
        .filter(classes::status.ne("cancelled"))
        .select(diesel::dsl::min(enrollments::completed_on));
    let by_certificate = platform_certificates::table
        .filter(platform_certificates::trainee_id.eq(trainee_id))
        .filter(platform_certificates::deleted_at.is_null())
        .select(diesel::dsl::min(platform_certificates::issued_on));
    // One round trip: the two earliest days, the earlier of which counts. (`union_all`
    // does not compile through the MultiConnection: run it on the inner connection.)
    let both = by_class.union_all(by_certificate);
    let days: Vec<Option<NaiveDate>> = match conn {
        AnyConnection::Sqlite(c) => both.load(c)?,
        AnyConnection::Postgresql(c) => both.load(c)?,
    };
    Ok(days.into_iter().flatten().min())
}

/// People and classes read while computing facts at one moment (nothing is written in
/// between), so each is read once: a class's enrollments all carry the class.
#[derive(Default)]
struct Loaded {
    people: HashMap<String, Option<(Person, NaiveDate, bool)>>,
    classes: HashMap<String, Option<ClassInfo>>,
    enrollments: HashMap<String, Option<EnrollmentCols>>,
    first: HashMap<String, Option<NaiveDate>>,
}

/// What the statistics read of an enrollment.
type EnrollmentCols = (
    String,
    String,
    String,
    String,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
    Option<String>,
    Option<NaiveDate>,
    Option<String>,
    Option<chrono::NaiveDateTime>,
);

macro_rules! enrollment_cols {
    () => {
        (
            enrollments::id,
            (
                enrollments::class_id,
                enrollments::trainee_id,
                enrollments::commune_code,
                enrollments::status,
                enrollments::created_at,
                enrollments::deleted_at,
                enrollments::completion_result,
                enrollments::completed_on,
                enrollments::verification,
                enrollments::verified_at,
            ),
        )
    };
}

impl Loaded {
    /// Reads what the facts of many records need with a few queries per 500 records
    /// instead of several per record (a batch push, an import). What it does not hold is
    /// read one by one as before.
    fn prefetch(&mut self, conn: &mut AnyConnection, recs: &[Rec], known: Known<'_>) -> Result<(), ApiError> {
        // What the write created and left unchanged is known as it stands: not read again.
        for r in recs {
            match r {
                Rec::Enrollment(id) => {
                    if let Some(e) = known.enrollments.get(id) {
                        self.enrollments.insert(id.clone(), Some(enrollment_cols_of(e)));
                    }
                }
                Rec::Trainee(id) => {
                    if let Some(t) = known.trainees.get(id) {
                        self.people.insert(id.clone(), Some(person_known(t)));
                    }
                }
                _ => {}
            }
        }
        for e in self.enrollments.values().flatten() {
            if let Some(t) = known.trainees.get(&e.1) {
                if !self.people.contains_key(&e.1) {
                    self.people.insert(e.1.clone(), Some(person_known(t)));
                }
            }
        }
        let enrollment_ids: Vec<String> = recs
            .iter()
            .filter_map(|r| match r {
                Rec::Enrollment(id) if !self.enrollments.contains_key(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        if enrollment_ids.len() + recs.len() < 8 {
            return Ok(());
        }
        for chunk in enrollment_ids.chunks(500) {
            let rows: Vec<(String, EnrollmentCols)> =
                enrollments::table.filter(enrollments::id.eq_any(chunk)).select(enrollment_cols!()).load(conn)?;
            for id in chunk {
                self.enrollments.insert(id.clone(), None);
            }
            for (id, cols) in rows {
                self.enrollments.insert(id, Some(cols));
            }
        }
        let trainee_recs: Vec<String> =
            recs.iter().filter_map(|r| if let Rec::Trainee(id) = r { Some(id.clone()) } else { None }).collect();
        let mut people: HashSet<String> = trainee_recs.iter().cloned().collect();
        people.extend(self.enrollments.values().flatten().map(|e| e.1.clone()));
        let people: Vec<String> = people.into_iter().filter(|p| !self.people.contains_key(p)).collect();
        for chunk in people.chunks(500) {
            let rows: Vec<(String, TraineeCols)> =
                trainees::table.filter(trainees::id.eq_any(chunk)).select((trainees::id, trainee_cols!())).load(conn)?;
            for id in chunk {
                self.people.insert(id.clone(), None);
            }
            for (id, r) in rows {
                let live = r.6.is_none() && r.7.is_none();
                self.people.insert(id, Some((person_of(&r), local_day(r.5), live)));
            }
        }
        for chunk in trainee_recs.chunks(500) {
            // The passed enrollments by person first (the person index), then their classes:
            // joined in one statement, PostgreSQL's generic plan could walk every class and
            // test each enrollment against the whole list (hundreds of ms per batch).
            let passed: Vec<(String, String, Option<NaiveDate>)> = enrollments::table
                .filter(enrollments::trainee_id.eq_any(chunk))
                .filter(enrollments::deleted_at.is_null())
                .filter(enrollments::completion_result.eq("passed"))
                .select((enrollments::trainee_id, enrollments::class_id, enrollments::completed_on))
                .load(conn)?;
            let class_ids: Vec<&String> = passed.iter().map(|(_, c, _)| c).collect::<HashSet<_>>().into_iter().collect();
            let counted: HashSet<String> = if class_ids.is_empty() {
                HashSet::new()
            } else {
                classes::table
                    .filter(classes::id.eq_any(&class_ids))
                    .filter(classes::deleted_at.is_null())
                    .filter(classes::status.ne("cancelled"))
                    .select(classes::id)
                    .load::<String>(conn)?
                    .into_iter()
                    .collect()
            };
            let by_class: Vec<(String, Option<NaiveDate>)> =
                passed.into_iter().filter(|(_, c, _)| counted.contains(c)).map(|(t, _, day)| (t, day)).collect();
            let by_certificate: Vec<(String, Option<NaiveDate>)> = platform_certificates::table
                .filter(platform_certificates::trainee_id.eq_any(chunk))
                .filter(platform_certificates::deleted_at.is_null())
                .group_by(platform_certificates::trainee_id)
                .select((platform_certificates::trainee_id, diesel::dsl::min(platform_certificates::issued_on)))
                .load(conn)?;
            for id in chunk {
                self.first.insert(id.clone(), None);
            }
            for (id, day) in by_class.into_iter().chain(by_certificate) {
                let slot = self.first.entry(id).or_insert(None);
                *slot = match (*slot, day) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok(())
    }

    fn first_qualified(&mut self, conn: &mut AnyConnection, id: &str) -> Result<Option<NaiveDate>, ApiError> {
        match self.first.get(id) {
            Some(d) => Ok(*d),
            None => first_qualified(conn, id),
        }
    }
}

impl Loaded {
    fn person(&mut self, conn: &mut AnyConnection, id: &str) -> Result<Option<(Person, NaiveDate, bool)>, ApiError> {
        if let Some(p) = self.people.get(id) {
            return Ok(p.clone());
        }
        let p = load_person(conn, id)?;
        self.people.insert(id.to_owned(), p.clone());
        Ok(p)
    }

    fn class(&mut self, conn: &mut AnyConnection, id: &str) -> Result<Option<ClassInfo>, ApiError> {
        if let Some(c) = self.classes.get(id) {
            return Ok(c.clone());
        }
        let c = load_class_info(conn, id)?;
        self.classes.insert(id.to_owned(), c.clone());
        Ok(c)
    }
}

fn facts_of(conn: &mut AnyConnection, rec: &Rec, loaded: &mut Loaded, out: &mut Vec<Keyed>) -> Result<(), ApiError> {
    match rec {
        Rec::Trainee(id) => {
            if let Some((p, recorded, true)) = loaded.person(conn, id)? {
                let q = loaded.first_qualified(conn, id)?;
                trainee_facts(&p, recorded, q, out);
            }
        }
        Rec::Enrollment(id) => {
            let row: Option<EnrollmentCols> = match loaded.enrollments.get(id) {
                Some(r) => r.clone(),
                None => enrollments::table.find(id).select(enrollment_cols!().1).first(conn).optional()?,
            };
            let Some(r) = row else { return Ok(()) };
            if r.5.is_some() {
                return Ok(());
            }
            // A merged-away person's enrollments move to the survivor, so the person is
            // read whatever their state; a deleted person has no enrollments.
            let (Some((p, _, _)), Some(class)) = (loaded.person(conn, &r.1)?, loaded.class(conn, &r.0)?) else { return Ok(()) };
            let e = EnrollmentInfo {
                commune: r.2,
                status: r.3,
                created: local_day(r.4),
                completion_result: r.6,
                completed_on: r.7,
                verification: r.8,
                verified_on: r.9.map(local_day),
            };
            enrollment_facts(&e, &p, &class, out);
        }
        Rec::Class(id) => {
            if let Some(c) = loaded.class(conn, id)? {
                class_facts(&c, out);
            }
        }
        Rec::Session(id) => {
            let row: Option<(String, String, NaiveDate, Option<chrono::NaiveDateTime>)> = class_sessions::table
                .find(id)
                .select((class_sessions::class_id, class_sessions::commune_code, class_sessions::held_on, class_sessions::deleted_at))
                .first(conn)
                .optional()?;
            if let Some((class_id, commune, held_on, None)) = row {
                if let Some(c) = loaded.class(conn, &class_id)? {
                    session_facts(&commune, held_on, &c, out);
                }
            }
        }
        Rec::Team(id) => {
            let row: Option<(String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>, bool)> = teams::table
                .find(id)
                .select((teams::commune_code, teams::created_at, teams::deleted_at, teams::active))
                .first(conn)
                .optional()?;
            if let Some((commune, created, None, true)) = row {
                out.push((plain_fact("teams_active", &commune, local_day(created), id), 0));
            }
        }
        Rec::Member(id) => {
            type Cols = (String, String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>, Option<NaiveDate>, Option<NaiveDate>, i64);
            let row: Option<Cols> = team_members::table
                .find(id)
                .select((
                    team_members::team_id,
                    team_members::commune_code,
                    team_members::created_at,
                    team_members::deleted_at,
                    team_members::joined_on,
                    team_members::left_on,
                    team_members::cell_key,
                ))
                .first(conn)
                .optional()?;
            if let Some((team, commune, created, None, joined, None, key)) = row {
                let team_live: Option<Option<chrono::NaiveDateTime>> =
                    teams::table.find(&team).select(teams::deleted_at).first(conn).optional()?;
                if team_live == Some(None) {
                    out.push((plain_fact("team_members", &commune, joined.unwrap_or(local_day(created)), &team), key));
                }
            }
        }
    }
    Ok(())
}

/// The records a change to `rec` can move facts of: a trainee's enrollments carry the
/// trainee's dimensions; a class's sessions and enrollments carry the class's, and its
/// status decides whether its completions confirm its trainees; a team's members count
/// only while the team does.
fn expand(conn: &mut AnyConnection, rec: &Rec) -> Result<Vec<Rec>, ApiError> {
    let mut out = vec![rec.clone()];
    match rec {
        Rec::Trainee(id) => {
            let ids: Vec<String> = enrollments::table.filter(enrollments::trainee_id.eq(id)).select(enrollments::id).load(conn)?;
            out.extend(ids.into_iter().map(Rec::Enrollment));
        }
        Rec::Class(id) => {
            let s: Vec<String> = class_sessions::table.filter(class_sessions::class_id.eq(id)).select(class_sessions::id).load(conn)?;
            out.extend(s.into_iter().map(Rec::Session));
            let e: Vec<(String, String)> =
                enrollments::table.filter(enrollments::class_id.eq(id)).select((enrollments::id, enrollments::trainee_id)).load(conn)?;
            // A class's status decides whether its completions confirm a person.
            let mut people: Vec<String> = e.iter().map(|(_, t)| t.clone()).collect();
            people.sort();
            people.dedup();
            out.extend(e.into_iter().map(|(id, _)| Rec::Enrollment(id)));
            out.extend(people.into_iter().map(Rec::Trainee));
        }
        Rec::Team(id) => {
            let m: Vec<String> = team_members::table.filter(team_members::team_id.eq(id)).select(team_members::id).load(conn)?;
            out.extend(m.into_iter().map(Rec::Member));
        }
        _ => {}
    }
    Ok(out)
}

/// The statistics side of one write: what the touched records counted before.
#[derive(Debug, Default)]
pub struct Stats {
    touched: HashSet<Rec>,
    /// Records created in this write: they counted nothing before, and whatever hangs from
    /// them was created in this write too (and touched as it was).
    created: HashSet<Rec>,
    order: Vec<Rec>,
    before: HashMap<Fact, Count>,
}

impl Stats {
    /// Call before changing `rec` (and before creating it).
    pub fn touch(&mut self, conn: &mut AnyConnection, rec: Rec) -> Result<(), ApiError> {
        if self.created.contains(&rec) {
            return Ok(());
        }
        let mut loaded = Loaded::default();
        for r in expand(conn, &rec)? {
            if self.touched.insert(r.clone()) {
                let mut facts = Vec::new();
                facts_of(conn, &r, &mut loaded, &mut facts)?;
                for (f, k) in facts {
                    *self.before.entry(f).or_default() += Count { n: 1, k };
                }
                self.order.push(r);
            }
        }
        Ok(())
    }

    /// Call before creating `rec`, in place of [`Stats::touch`], when no record with its
    /// id exists: it counted nothing before and nothing hangs from it.
    pub fn touch_new(&mut self, rec: Rec) {
        if self.touched.insert(rec.clone()) {
            self.created.insert(rec.clone());
            self.order.push(rec);
        }
    }

    /// Adds (after − before) of every touched record to the counters. Call last.
    pub fn finish(&mut self, conn: &mut AnyConnection, known: Known<'_>) -> Result<(), ApiError> {
        if self.order.is_empty() {
            return Ok(());
        }
        let mut delta: BTreeMap<Fact, Count> = BTreeMap::new();
        for (f, n) in self.before.drain() {
            *delta.entry(f).or_default() -= n;
        }
        let mut loaded = Loaded::default();
        loaded.prefetch(conn, &self.order, known)?;
        for r in std::mem::take(&mut self.order) {
            let mut facts = Vec::new();
            facts_of(conn, &r, &mut loaded, &mut facts)?;
            for (f, k) in facts {
                *delta.entry(f).or_default() += Count { n: 1, k };
            }
        }
        self.touched.clear();
        self.created.clear();
        let mut provinces: HashMap<String, String> = HashMap::new();
        let mut deltas = Deltas::default();
        for (f, n) in delta {
            if !n.is_zero() {
                let province = match provinces.get(&f.commune) {
                    Some(p) => p.clone(),
                    None => {
                        let p: String = units::table.find(&f.commune).select(units::province_code).first(conn)?;
                        provinces.insert(f.commune.clone(), p.clone());
                        p
                    }
                };
                deltas.add(&f, &province, n);
            }
        }
        apply(conn, deltas)
    }
}

/// `INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n, k = k + excluded.k`: one statement per
/// counter row, whether it exists or not. `on_conflict` does not compile through the
/// `MultiConnection` enum (STACK.md), so the same statement is written for each backend.
macro_rules! bump {
    ($conn:expr, $table:ident, $key:ident, $values:expr) => {{
        use diesel::upsert::excluded;
        let values = $values;
        match $conn {
            AnyConnection::Sqlite(c) => diesel::insert_into($table::table)
                .values(values)
                .on_conflict($table::$key)
                .do_update()
                .set(($table::n.eq($table::n + excluded($table::n)), $table::k.eq($table::k + excluded($table::k))))
                .execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into($table::table)
                .values(values)
                .on_conflict($table::$key)
                .do_update()
                .set(($table::n.eq($table::n + excluded($table::n)), $table::k.eq($table::k + excluded($table::k))))
                .execute(c)?,
        }
    }};
}

/// Adds `d` to the counters (the four tables), one upsert per non-zero row.
fn apply(conn: &mut AnyConnection, d: Deltas) -> Result<(), ApiError> {
    let mut provinces: HashMap<String, String> = HashMap::new();
    for ((commune, _, _, _, _, _), (province, _)) in &d.communes {
        provinces.insert(commune.clone(), province.clone());
    }
    for (f, c) in d.facts.iter().filter(|(_, c)| !c.is_zero()) {
        let province = provinces.get(&f.commune).map(String::as_str).unwrap_or("");
        bump!(
            conn,
            stat_facts,
            fact_key,
            (
                (
                    stat_facts::fact_key.eq(f.key()),
                    stat_facts::commune_code.eq(&f.commune),
                    stat_facts::province_code.eq(province),
                    stat_facts::day.eq(f.day),
                    stat_facts::measure.eq(&f.measure),
                    stat_facts::facet.eq(f.facet),
                    stat_facts::facet_value.eq(&f.facet_value),
                ),
                (
                    stat_facts::gender.eq(&f.gender),
                    stat_facts::age_band.eq(f.age_band),
                    stat_facts::ethnicity.eq(&f.ethnicity),
                    stat_facts::team_id.eq(&f.team),
                    stat_facts::language.eq(&f.language),
                    stat_facts::campaign.eq(&f.campaign),
                    stat_facts::n.eq(c.n),
                    stat_facts::k.eq(c.k),
                ),
            )
        );
    }
    for (k, (province, c)) in d.communes.iter().filter(|(_, (_, c))| !c.is_zero()) {
        bump!(
            conn,
            stat_commune_buckets,
            bucket_key,
            (
                stat_commune_buckets::bucket_key.eq(bucket_key(k)),
                stat_commune_buckets::commune_code.eq(&k.0),
                stat_commune_buckets::province_code.eq(province),
                stat_commune_buckets::bucket.eq(k.1),
                stat_commune_buckets::measure.eq(&k.2),
                stat_commune_buckets::facet.eq(k.3),
                stat_commune_buckets::facet_value.eq(&k.4),
                stat_commune_buckets::n.eq(c.n),
                stat_commune_buckets::k.eq(c.k),
                stat_commune_buckets::grain.eq(k.5),
            )
        );
    }
    for (k, c) in d.provinces.iter().filter(|(_, c)| !c.is_zero()) {
        bump!(
            conn,
            stat_province_buckets,
            bucket_key,
            (
                stat_province_buckets::bucket_key.eq(bucket_key(k)),
                stat_province_buckets::province_code.eq(&k.0),
                stat_province_buckets::bucket.eq(k.1),
                stat_province_buckets::measure.eq(&k.2),
                stat_province_buckets::facet.eq(k.3),
                stat_province_buckets::facet_value.eq(&k.4),
                stat_province_buckets::n.eq(c.n),
                stat_province_buckets::k.eq(c.k),
                stat_province_buckets::grain.eq(k.5),
            )
        );
    }
    for (k, c) in d.dims.iter().filter(|(_, c)| !c.is_zero()) {
        bump!(
            conn,
            stat_province_dims,
            dims_key,
            (
                stat_province_dims::dims_key.eq(dims_key(k)),
                stat_province_dims::province_code.eq(&k.0 .0),
                stat_province_dims::bucket.eq(k.0 .1),
                stat_province_dims::measure.eq(&k.0 .2),
                stat_province_dims::facet.eq(k.0 .3),
                stat_province_dims::facet_value.eq(&k.0 .4),
                stat_province_dims::gender.eq(&k.1),
                stat_province_dims::age_band.eq(k.2),
                stat_province_dims::ethnicity.eq(&k.3),
                stat_province_dims::language.eq(&k.4),
                stat_province_dims::n.eq(c.n),
                stat_province_dims::k.eq(c.k),
                stat_province_dims::grain.eq(k.0 .5),
            )
        );
    }
    Ok(())
}

// ---- rebuild ------------------------------------------------------------------------------------
