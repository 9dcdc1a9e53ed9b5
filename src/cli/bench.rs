//! Synthetic data for the benchmarks (`hocvuso bench seed`): teams, members, classes and
//! sessions in the communes of one province, written in large batches straight to the
//! database. Not used by the API.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::domain::stats::perturb::new_person_key;
use crate::store::db::{self, AnyConnection};
use crate::store::schema::{
    attendance_marks, change_counter, class_sessions, class_topics, classes, enrollments, team_members, teams, trainees, units,
};

#[derive(Insertable)]
#[diesel(table_name = teams)]
struct TeamIn {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    change_seq: i64,
    create_digest: String,
    commune_code: String,
    name: String,
    kind: &'static str,
    level: &'static str,
    active: bool,
}

#[derive(Insertable)]
#[diesel(table_name = team_members)]
struct MemberIn {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    change_seq: i64,
    create_digest: String,
    team_id: String,
    commune_code: String,
    full_name: String,
    role: &'static str,
    affiliation: &'static str,
    cell_key: i64,
}

#[derive(Insertable)]
#[diesel(table_name = classes)]
struct ClassIn {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    change_seq: i64,
    create_digest: String,
    commune_code: String,
    team_id: String,
    title: String,
    mode: &'static str,
    language: &'static str,
    interpreter_used: bool,
    start_date: NaiveDate,
    end_date: NaiveDate,
    planned_sessions: i32,
    status: &'static str,
    min_attendance_ratio: f64,
}

#[derive(Insertable)]
#[diesel(table_name = class_topics)]
struct ClassTopicIn {
    class_id: String,
    topic_id: &'static str,
}

#[derive(Insertable)]
#[diesel(table_name = class_sessions)]
struct SessionIn {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    change_seq: i64,
    create_digest: String,
    class_id: String,
    commune_code: String,
    held_on: NaiveDate,
    duration_minutes: i32,
    topic_ids: &'static str,
}

#[derive(Insertable)]
#[diesel(table_name = attendance_marks)]
struct MarkIn {
    session_id: String,
    trainee_id: String,
    class_id: String,
}

/// Multi-row inserts in chunks on the inner connection (they do not compile through the
/// MultiConnection).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {{
        for chunk in $rows.chunks(1000) {
            match $conn {
                AnyConnection::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                AnyConnection::Postgresql(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
    }};
}

#[derive(Insertable)]
#[diesel(table_name = trainees)]
struct TraineeIn {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    change_seq: i64,
    create_digest: String,
    commune_code: String,
    full_name: String,
    search_name: String,
    gender: &'static str,
    birth_year: i32,
    phone: Option<String>,
    target_groups: &'static str,
    consent_basic: bool,
    consent_ethnicity: bool,
    consent_method: &'static str,
    consent_at: NaiveDateTime,
    cell_key: i64,
}

#[derive(Insertable)]
#[diesel(table_name = enrollments)]
struct EnrollmentIn {
    id: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    change_seq: i64,
    create_digest: String,
    class_id: String,
    trainee_id: String,
    commune_code: String,
    status: &'static str,
    completion_result: Option<&'static str>,
    completion_evidence: Option<&'static str>,
    completed_on: Option<NaiveDate>,
    verification: Option<&'static str>,
    verified_at: Option<NaiveDateTime>,
}

pub const FAMILY: &[&str] =
    &["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Đinh"];
pub const MIDDLE: &[&str] = &["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh"];
pub const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quang", "Sơn",
    "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Xuân", "Yến",
];

/// What was written.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub communes: usize,
    pub teams: usize,
    pub classes: usize,
    pub sessions: usize,
    pub trainees: usize,
    pub enrollments: usize,
    pub marks: usize,
}

/// How much synthetic data to write.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub province: String,
    /// The first N communes (by code) of the province.
    pub communes: usize,
    /// Teams per commune, one member each.
    pub teams_per_commune: usize,
    pub classes_per_team: usize,
    pub sessions_per_class: usize,
    pub trainees_per_commune: usize,
    /// Enrollments per trainee, in classes of its commune.
    pub enrollments_per_trainee: usize,
}

/// Writes the plan's data, one transaction per commune.
pub fn seed(conn: &mut AnyConnection, plan: &SeedPlan) -> Result<SeedReport, String> {
    let SeedPlan {
        province,
        communes,
        teams_per_commune,
        classes_per_team,
        sessions_per_class,
        trainees_per_commune,
        enrollments_per_trainee,
    } = plan.clone();
    // `all`: the first N communes of every province (N ≥ 200 covers the whole country).
    let provinces: Vec<String> = if province == "all" {
        crate::store::schema::provinces::table
            .select(crate::store::schema::provinces::code)
            .order(crate::store::schema::provinces::code)
            .load(conn)
            .map_err(|e| format!("reading provinces: {e}"))?
    } else {
        vec![province.clone()]
    };
    let mut codes: Vec<String> = Vec::new();
    for p in &provinces {
        let some: Vec<String> = units::table
            .filter(units::province_code.eq(p))
            .order(units::code)
            .limit(communes as i64)
            .select(units::code)
            .load(conn)
            .map_err(|e| format!("reading units: {e}"))?;
        codes.extend(some);
    }
    let mut report = SeedReport { communes: codes.len(), ..Default::default() };
    let base = NaiveDate::from_ymd_opt(2026, 1, 5).ok_or("bad base date")?;
    for (ci, commune) in codes.iter().enumerate() {
        let per_commune =
            teams_per_commune * (2 + classes_per_team * (2 + sessions_per_class)) + trainees_per_commune * (1 + enrollments_per_trainee);
        let r = db::write_tx(conn, |conn| -> Result<(usize, usize, usize, usize, usize, usize), diesel::result::Error> {
            // Reserve this commune's change numbers in one step.
            let first: i64 = diesel::update(change_counter::table.filter(change_counter::id.eq(1)))
                .set(change_counter::value.eq(change_counter::value + per_commune as i64))
                .returning(change_counter::value)
                .get_result::<i64>(conn)?
                - per_commune as i64;
            let mut seq = first;
            let mut next = || {
                seq += 1;
                seq
            };
            let now = db::now();
            let (mut ts, mut ms, mut cs, mut cts, mut ss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            // The first session of each class (by position in `cs`): enrolled trainees attend it.
            let mut first_session: Vec<Option<String>> = Vec::new();
            for t in 0..teams_per_commune {
                let team_id = db::new_id();
                ts.push(TeamIn {
                    id: team_id.clone(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    change_seq: next(),
                    create_digest: String::new(),
                    commune_code: commune.clone(),
                    name: format!("Tổ công nghệ số cộng đồng số {}", t + 1),
                    kind: "community_tech_team",
                    level: "commune",
                    active: true,
                });
                ms.push(MemberIn {
                    id: db::new_id(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    change_seq: next(),
                    create_digest: String::new(),
                    team_id: team_id.clone(),
                    commune_code: commune.clone(),
                    full_name: format!("Thành viên {}-{}", ci + 1, t + 1),
                    role: "leader",
                    affiliation: "youth_union",
                    cell_key: new_person_key(),
                });
                for k in 0..classes_per_team {
                    let class_id = db::new_id();
                    let start = base + Duration::days(((t * classes_per_team + k) % 330) as i64);
                    cs.push(ClassIn {
                        id: class_id.clone(),
                        version: 1,
                        created_at: now,
                        updated_at: now,
                        change_seq: next(),
                        create_digest: String::new(),
                        commune_code: commune.clone(),
                        team_id: team_id.clone(),
                        title: format!("Lớp kỹ năng số {}", k + 1),
                        mode: "in_person",
                        language: if k % 5 == 0 { "hre" } else { "vi" },
                        interpreter_used: k % 5 == 0,
                        start_date: start,
                        end_date: start + Duration::days(30),
                        planned_sessions: sessions_per_class.max(1) as i32,
                        status: if k % 3 == 0 { "completed" } else { "ongoing" },
                        min_attendance_ratio: 0.75,
                    });
                    cts.push(ClassTopicIn { class_id: class_id.clone(), topic_id: "vneid_e_identity" });
                    first_session.push(None);
                    for s in 0..sessions_per_class {
                        let session_id = db::new_id();
                        if s == 0 {
                            if let Some(last) = first_session.last_mut() {
                                *last = Some(session_id.clone());
                            }
                        }
                        ss.push(SessionIn {
                            id: session_id,
                            version: 1,
                            created_at: now,
                            updated_at: now,
                            change_seq: next(),
                            create_digest: String::new(),
                            class_id: class_id.clone(),
                            commune_code: commune.clone(),
                            held_on: start + Duration::days((s * 3) as i64),
                            duration_minutes: 90,
                            topic_ids: "[\"vneid_e_identity\"]",
                        });
                    }
                }
            }
            let (mut trs, mut ens, mut marks) = (Vec::new(), Vec::new(), Vec::new());
            let mut marked: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
            let class_ids: Vec<String> = cs.iter().map(|c| c.id.clone()).collect();
            for k in 0..trainees_per_commune {
                let n = ci * trainees_per_commune + k;
                let name = format!("{} {} {}", FAMILY[n % FAMILY.len()], MIDDLE[(n / 3) % MIDDLE.len()], GIVEN[(n / 7) % GIVEN.len()]);
                let trainee_id = db::new_id();
                // Recorded over the year, as in the field (statistics count by day).
                let recorded = (base + Duration::days((n % 320) as i64)).and_hms_opt(8, 0, 0).unwrap_or(now);
                trs.push(TraineeIn {
                    id: trainee_id.clone(),
                    version: 1,
                    created_at: recorded,
                    updated_at: recorded,
                    change_seq: next(),
                    create_digest: String::new(),
                    commune_code: commune.clone(),
                    search_name: crate::base::text::fold(&name),
                    full_name: name,
                    gender: if n % 2 == 0 { "female" } else { "male" },
                    birth_year: 1940 + (n % 70) as i32,
                    phone: Some(format!("09{:08}", n % 100_000_000)),
                    target_groups: if n % 4 == 0 { "[\"farmer\"]" } else { "[]" },
                    consent_basic: true,
                    consent_ethnicity: false,
                    consent_method: "paper",
                    consent_at: now,
                    cell_key: new_person_key(),
                });
                for j in 0..enrollments_per_trainee.min(class_ids.len()) {
                    // Every third enrollment passed a month later; every sixth was verified.
                    let passed = (k + j) % 3 == 0;
                    let done = recorded.date() + Duration::days(30);
                    let class_index = (k * 7 + j * 13) % class_ids.len();
                    if let Some(Some(session_id)) = first_session.get(class_index) {
                        if marked.insert((class_index, k)) {
                            marks.push(MarkIn {
                                session_id: session_id.clone(),
                                trainee_id: trainee_id.clone(),
                                class_id: class_ids[class_index].clone(),
                            });
                        }
                    }
                    ens.push(EnrollmentIn {
                        id: db::new_id(),
                        version: 1,
                        created_at: recorded,
                        updated_at: recorded,
                        change_seq: next(),
                        create_digest: String::new(),
                        class_id: class_ids[class_index].clone(),
                        trainee_id: trainee_id.clone(),
                        commune_code: commune.clone(),
                        status: "enrolled",
                        completion_result: passed.then_some("passed"),
                        completion_evidence: passed.then_some("in_class_assessment"),
                        completed_on: passed.then_some(done),
                        verification: (passed && (k + j) % 6 == 0).then_some("verified"),
                        verified_at: (passed && (k + j) % 6 == 0).then(|| done.and_hms_opt(9, 0, 0).unwrap_or(now)),
                    });
                }
            }
            let counts = (ts.len(), cs.len(), ss.len(), trs.len(), ens.len(), marks.len());
            insert_all!(conn, teams::table, ts);
            insert_all!(conn, team_members::table, ms);
            insert_all!(conn, classes::table, cs);
            insert_all!(conn, class_topics::table, cts);
            insert_all!(conn, class_sessions::table, ss);
            insert_all!(conn, trainees::table, trs);
            insert_all!(conn, enrollments::table, ens);
            insert_all!(conn, attendance_marks::table, marks);
            Ok(counts)
        })
        .map_err(|e| format!("seeding commune {commune}: {e}"))?;
        report.teams += r.0;
        report.classes += r.1;
        report.sessions += r.2;
        report.trainees += r.3;
        report.enrollments += r.4;
        report.marks += r.5;
    }
    // A database in service has its planner statistics (autovacuum keeps them); one
    // seeded seconds ago has none, and PostgreSQL then plans the sync feed's first page
    // as a read of the whole commune (a bitmap scan and a sort) instead of a walk of the
    // (commune, change number) index: ≈ 2 ms instead of 0.05 ms, and 150 ms under load.
    if matches!(conn, AnyConnection::Postgresql(_)) {
        diesel::connection::SimpleConnection::batch_execute(conn, "ANALYZE").map_err(|e| format!("analysing the seeded tables: {e}"))?;
    }
    Ok(report)
}

/// A synthetic trainee list in the import template's layout: `rows` people of `commune`,
/// each enrolled in `class` with a result (three in four passed).
pub fn import_file(rows: usize, commune: &str, class: &str) -> Result<Vec<u8>, String> {
    use crate::domain::imports::columns::{self, TRAINEE_COLUMNS};
    let fail = |e: rust_xlsxwriter::XlsxError| format!("xlsx: {e}");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Học viên").map_err(fail)?;
    const FAMILY: [&str; 8] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ", "Đinh", "Hồ"];
    const MIDDLE: [&str; 6] = ["Thị", "Văn", "Hữu", "Ngọc", "Minh", "Thanh"];
    const GIVEN: [&str; 10] = ["Lan", "Hùng", "Tâm", "Hoa", "Nam", "Mai", "Tuấn", "Hương", "Dũng", "Yến"];
    for (c, col) in TRAINEE_COLUMNS.iter().enumerate() {
        sheet.write_string(0, c as u16, columns::template_header(col)).map_err(fail)?;
    }
    for i in 0..rows {
        let r = 1 + i as u32;
        let name = format!("{} {} {} {}", FAMILY[i % 8], MIDDLE[(i / 8) % 6], GIVEN[(i / 48) % 10], i);
        for (c, col) in TRAINEE_COLUMNS.iter().enumerate() {
            let v = match col.key {
                "commune_code" => commune.to_owned(),
                "full_name" => name.clone(),
                "gender" => if i % 2 == 0 { "Nữ" } else { "Nam" }.to_owned(),
                "birth_year" => (1950 + i % 50).to_string(),
                "phone" if i % 3 == 0 => format!("09{:08}", i),
                "target_groups" => if i % 4 == 0 { "Nông dân; Người cao tuổi" } else { "Nông dân" }.to_owned(),
                "consent_basic" => "Có".to_owned(),
                "consent_method" => "Ký giấy".to_owned(),
                "class_id" => class.to_owned(),
                "result" => if i % 4 == 3 { "Không đạt" } else { "Đạt" }.to_owned(),
                "completed_on" => "15/11/2026".to_owned(),
                "override_reason" => "Lớp ghi trên giấy".to_owned(),
                _ => continue,
            };
            sheet.write_string(r, c as u16, v).map_err(fail)?;
        }
    }
    book.save_to_buffer().map_err(fail)
}
