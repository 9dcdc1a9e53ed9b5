//! `hocvuso stats rebuild`: recomputes every counter from the records, province by
//! province, compares with the stored ones and (with `--fix`) rewrites them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::base::error::ApiError;
use crate::base::time::local_day;
use crate::domain::stats::{
    apply, bucket_key, class_facts, dims_key, enrollment_facts, person_of, plain_fact, session_facts, trainee_facts, ClassInfo, Count,
    Deltas, EnrollmentInfo, Fact, Keyed, Person, TraineeCols,
};
use crate::store::db::AnyConnection;
use crate::store::schema::{
    class_sessions, class_topics, classes, enrollments, platform_certificates, stat_commune_buckets, stat_facts, stat_province_buckets,
    stat_province_dims, team_members, teams, trainees, units,
};

/// Every fact of the records of one province's communes, computed in bulk from the
/// records (a fact belongs to the commune of its record, so a province's facts and rollups
/// are complete on their own; the rebuild goes province by province to bound memory).
pub fn compute_province(conn: &mut AnyConnection, province: &str) -> Result<BTreeMap<Fact, Count>, ApiError> {
    let mut out = Vec::new();
    let mut sums: BTreeMap<Fact, Count> = BTreeMap::new();
    let mut fold = |out: &mut Vec<Keyed>| {
        for (f, k) in out.drain(..) {
            *sums.entry(f).or_default() += Count { n: 1, k };
        }
    };
    let communes: Vec<String> = units::table.filter(units::province_code.eq(province)).select(units::code).load(conn)?;
    // Classes of the province with their topics.
    let mut topics: HashMap<String, Vec<String>> = HashMap::new();
    for (c, t) in class_topics::table
        .inner_join(classes::table)
        .filter(classes::commune_code.eq_any(&communes))
        .select((class_topics::class_id, class_topics::topic_id))
        .order((class_topics::class_id, class_topics::topic_id))
        .load::<(String, String)>(conn)?
    {
        topics.entry(c).or_default().push(t);
    }
    type ClassCols = (String, String, String, String, Option<String>, String, NaiveDate, Option<chrono::NaiveDateTime>);
    let mut class_map: HashMap<String, ClassInfo> = HashMap::new();
    for r in classes::table
        .filter(classes::commune_code.eq_any(&communes))
        .select((
            classes::id,
            classes::commune_code,
            classes::team_id,
            classes::language,
            classes::campaign,
            classes::status,
            classes::start_date,
            classes::deleted_at,
        ))
        .load::<ClassCols>(conn)?
    {
        let info = ClassInfo {
            commune: r.1,
            team: r.2,
            language: r.3,
            campaign: r.4.unwrap_or_default(),
            status: r.5,
            start_date: r.6,
            live: r.7.is_none(),
            topics: topics.remove(&r.0).unwrap_or_default(),
        };
        class_facts(&info, &mut out);
        fold(&mut out);
        class_map.insert(r.0, info);
    }
    for (class_id, commune, held_on) in class_sessions::table
        .filter(class_sessions::commune_code.eq_any(&communes))
        .filter(class_sessions::deleted_at.is_null())
        .select((class_sessions::class_id, class_sessions::commune_code, class_sessions::held_on))
        .load::<(String, String, NaiveDate)>(conn)?
    {
        if let Some(c) = class_map.get(&class_id) {
            session_facts(&commune, held_on, c, &mut out);
            fold(&mut out);
        }
    }
    // First qualification of the province's people: passed completions (of live
    // enrollments in live, not cancelled classes, anywhere) and platform certificates.
    let mut qualified: HashMap<String, NaiveDate> = HashMap::new();
    for (t, d) in enrollments::table
        .inner_join(classes::table)
        .inner_join(trainees::table)
        .filter(trainees::commune_code.eq_any(&communes))
        .filter(enrollments::deleted_at.is_null())
        .filter(enrollments::completion_result.eq("passed"))
        .filter(classes::deleted_at.is_null())
        .filter(classes::status.ne("cancelled"))
        .select((enrollments::trainee_id, enrollments::completed_on))
        .load::<(String, Option<NaiveDate>)>(conn)?
    {
        if let Some(d) = d {
            let q = qualified.entry(t).or_insert(d);
            *q = (*q).min(d);
        }
    }
    for (t, d) in platform_certificates::table
        .inner_join(trainees::table)
        .filter(trainees::commune_code.eq_any(&communes))
        .filter(platform_certificates::deleted_at.is_null())
        .select((platform_certificates::trainee_id, platform_certificates::issued_on))
        .load::<(String, NaiveDate)>(conn)?
    {
        let q = qualified.entry(t).or_insert(d);
        *q = (*q).min(d);
    }
    let trainee_cols = (trainees::id, super::trainee_cols!());
    let mut people: HashMap<String, Person> = HashMap::new();
    for (id, r) in
        trainees::table.filter(trainees::commune_code.eq_any(&communes)).select(trainee_cols).load::<(String, TraineeCols)>(conn)?
    {
        let p = person_of(&r);
        if r.6.is_none() && r.7.is_none() {
            trainee_facts(&p, local_day(r.5), qualified.get(&id).copied(), &mut out);
            fold(&mut out);
        }
        people.insert(id, p);
    }
    type EnrollmentCols = (
        String,
        String,
        String,
        String,
        chrono::NaiveDateTime,
        Option<String>,
        Option<NaiveDate>,
        Option<String>,
        Option<chrono::NaiveDateTime>,
    );
    let enrollment_rows: Vec<EnrollmentCols> = enrollments::table
        .filter(enrollments::commune_code.eq_any(&communes))
        .filter(enrollments::deleted_at.is_null())
        .select((
            enrollments::class_id,
            enrollments::trainee_id,
            enrollments::commune_code,
            enrollments::status,
            enrollments::created_at,
            enrollments::completion_result,
            enrollments::completed_on,
            enrollments::verification,
            enrollments::verified_at,
        ))
        .load(conn)?;
    // People of other provinces enrolled here.
    let visitors: Vec<String> =
        enrollment_rows.iter().map(|e| e.1.clone()).filter(|t| !people.contains_key(t)).collect::<HashSet<_>>().into_iter().collect();
    for chunk in visitors.chunks(500) {
        for (id, r) in trainees::table.filter(trainees::id.eq_any(chunk)).select(trainee_cols).load::<(String, TraineeCols)>(conn)? {
            people.insert(id, person_of(&r));
        }
    }
    for e in enrollment_rows {
        let (Some(p), Some(c)) = (people.get(&e.1), class_map.get(&e.0)) else { continue };
        let info = EnrollmentInfo {
            commune: e.2,
            status: e.3,
            created: local_day(e.4),
            completion_result: e.5,
            completed_on: e.6,
            verification: e.7,
            verified_on: e.8.map(local_day),
        };
        enrollment_facts(&info, p, c, &mut out);
        fold(&mut out);
    }
    // Teams and members.
    let mut live_teams: HashSet<String> = HashSet::new();
    for (id, commune, created, active) in teams::table
        .filter(teams::commune_code.eq_any(&communes))
        .filter(teams::deleted_at.is_null())
        .select((teams::id, teams::commune_code, teams::created_at, teams::active))
        .load::<(String, String, chrono::NaiveDateTime, bool)>(conn)?
    {
        if active {
            out.push((plain_fact("teams_active", &commune, local_day(created), &id), 0));
        }
        live_teams.insert(id);
    }
    for (team, commune, created, joined, key) in team_members::table
        .filter(team_members::commune_code.eq_any(&communes))
        .filter(team_members::deleted_at.is_null())
        .filter(team_members::left_on.is_null())
        .select((
            team_members::team_id,
            team_members::commune_code,
            team_members::created_at,
            team_members::joined_on,
            team_members::cell_key,
        ))
        .load::<(String, String, chrono::NaiveDateTime, Option<NaiveDate>, i64)>(conn)?
    {
        if live_teams.contains(&team) {
            out.push((plain_fact("team_members", &commune, joined.unwrap_or(local_day(created)), &team), key));
        }
    }
    fold(&mut out);
    Ok(sums)
}

/// A counter that differs from the records: its count, or the sum of its people's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub key: String,
    pub stored: Count,
    pub computed: Count,
}

/// Recomputes every counter (facts and the three rollups) from the records, province by
/// province, and compares; with `fix`, rewrites the counters of each province.
pub fn rebuild(conn: &mut AnyConnection, fix: bool) -> Result<Vec<Difference>, ApiError> {
    let provinces: Vec<String> = crate::store::schema::provinces::table
        .select(crate::store::schema::provinces::code)
        .order(crate::store::schema::provinces::code)
        .load(conn)?;
    let mut diffs = Vec::new();
    // One transaction per province, holding the writers' lock (as a write does), so that
    // each province is computed, compared and rewritten from one state while the server
    // keeps running; writes wait for one province at a time, not for the country.
    for province in provinces {
        crate::store::db::write_tx(conn, |conn| -> Result<(), ApiError> {
            crate::store::db::ChangeSeq::serialise(conn)?;
            let computed = compute_province(conn, &province)?;
            let mut d = Deltas::default();
            for (f, n) in &computed {
                d.add(f, &province, *n);
            }
            drop(computed);
            if fix {
                diesel::delete(stat_facts::table.filter(stat_facts::province_code.eq(&province))).execute(conn)?;
                diesel::delete(stat_commune_buckets::table.filter(stat_commune_buckets::province_code.eq(&province))).execute(conn)?;
                diesel::delete(stat_province_buckets::table.filter(stat_province_buckets::province_code.eq(&province))).execute(conn)?;
                diesel::delete(stat_province_dims::table.filter(stat_province_dims::province_code.eq(&province))).execute(conn)?;
                return apply(conn, d);
            }
            let mut expected: HashMap<String, Count> = HashMap::new();
            for (f, n) in &d.facts {
                expected.insert(format!("fact {}", f.key()), *n);
            }
            for (k, (_, n)) in &d.communes {
                expected.insert(format!("commune {}", bucket_key(k)), *n);
            }
            for (k, n) in &d.provinces {
                expected.insert(format!("province {}", bucket_key(k)), *n);
            }
            for (k, n) in &d.dims {
                expected.insert(format!("dims {}", dims_key(k)), *n);
            }
            drop(d);
            let mut stored: Vec<(String, Count)> = Vec::new();
            macro_rules! load_stored {
                ($table:ident, $key:ident, $label:literal) => {
                    for (key, n, k) in $table::table
                        .filter($table::province_code.eq(&province))
                        .filter($table::n.ne(0).or($table::k.ne(0)))
                        .select(($table::$key, $table::n, $table::k))
                        .load::<(String, i64, i64)>(conn)?
                    {
                        stored.push((format!("{} {key}", $label), Count { n, k }));
                    }
                };
            }
            load_stored!(stat_facts, fact_key, "fact");
            load_stored!(stat_commune_buckets, bucket_key, "commune");
            load_stored!(stat_province_buckets, bucket_key, "province");
            load_stored!(stat_province_dims, dims_key, "dims");
            for (key, n) in stored {
                let c = expected.remove(&key).unwrap_or_default();
                if c != n {
                    diffs.push(Difference { key, stored: n, computed: c });
                }
            }
            for (key, n) in expected {
                if !n.is_zero() {
                    diffs.push(Difference { key, stored: Count::default(), computed: n });
                }
            }
            Ok(())
        })?;
    }
    diffs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(diffs)
}
