//! The catalogue of class topics. No official national list exists, so it starts with the
//! common Bình dân học vụ số themes and grows; admins add, rename and retire topics.
//! Retired topics stay on the classes that used them but cannot be chosen for new ones.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Capability};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::records::{self, IfMatch, Write};
use crate::store::db::{AnyConnection, ChangeSeq};
use crate::store::rows::TopicRow;
use crate::store::schema::topics;

/// The seed catalogue: (id, Vietnamese name, English name).
pub const SEED: &[(&str, &str, &str)] = &[
    ("digital_devices_basics", "Sử dụng điện thoại thông minh và máy tính cơ bản", "Smartphone and computer basics"),
    ("vneid_e_identity", "Ứng dụng VNeID và định danh điện tử", "VNeID and electronic identity"),
    ("online_public_services", "Dịch vụ công trực tuyến", "Online public services"),
    ("cashless_payment", "Thanh toán không dùng tiền mặt", "Cashless payment"),
    ("e_commerce", "Thương mại điện tử, bán hàng trực tuyến", "E-commerce and selling online"),
    ("cyber_safety_fraud", "An toàn không gian mạng, phòng chống lừa đảo trực tuyến", "Cyber safety and online fraud"),
    ("personal_data_protection", "Bảo vệ dữ liệu cá nhân", "Personal data protection"),
    ("ai_basics", "Trí tuệ nhân tạo (AI) cơ bản", "AI basics"),
    ("digital_signature_vneid", "Chữ ký số qua VNeID", "Digital signature via VNeID"),
    ("digital_health", "Sức khỏe số: sổ sức khỏe điện tử, đặt lịch khám", "Digital health: e-health book, appointments"),
];

/// A topic of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "vneid_e_identity", "name_vi": "Ứng dụng VNeID và định danh điện tử",
    "name_en": "VNeID and electronic identity", "retired": false, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct Topic {
    /// Stable snake_case identifier.
    pub id: String,
    pub name_vi: String,
    pub name_en: String,
    /// Retired topics stay on old classes but cannot be chosen for new ones.
    pub retired: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&TopicRow> for Topic {
    fn from(r: &TopicRow) -> Self {
        Topic {
            id: r.id.clone(),
            name_vi: r.name_vi.clone(),
            name_en: r.name_en.clone(),
            retired: r.retired_at.is_some(),
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A new topic (admins).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "digital_agriculture", "name_vi": "Nông nghiệp số", "name_en": "Digital agriculture"}))]
pub struct NewTopic {
    /// 3–64 characters: lowercase letters, digits and `_`.
    pub id: String,
    pub name_vi: String,
    pub name_en: String,
}

/// Rename or retire/restore a topic (admins).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"retired": true}))]
pub struct TopicPatch {
    pub name_vi: Option<String>,
    pub name_en: Option<String>,
    pub retired: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopicQuery {
    /// Include retired topics (default false).
    pub include_retired: Option<bool>,
}

/// Loads the seed catalogue into an empty topics table.
pub fn seed_if_empty(conn: &mut AnyConnection) -> Result<(), String> {
    let n: i64 = topics::table.count().get_result(conn).map_err(|e| format!("reading topics: {e}"))?;
    if n > 0 {
        return Ok(());
    }
    crate::store::db::write_tx(conn, |conn| -> Result<(), diesel::result::Error> {
        let now = crate::store::db::now();
        let mut seq = ChangeSeq::default();
        for (id, vi, en) in SEED {
            let s = seq.next(conn)?;
            diesel::insert_into(topics::table)
                .values((
                    topics::id.eq(id),
                    topics::version.eq(1i64),
                    topics::created_at.eq(now),
                    topics::updated_at.eq(now),
                    topics::retired_at.eq(None::<NaiveDateTime>),
                    topics::change_seq.eq(s),
                    topics::name_vi.eq(vi),
                    topics::name_en.eq(en),
                ))
                .execute(conn)?;
        }
        seq.finish(conn)
    })
    .map_err(|e| format!("seeding topics: {e}"))
}

/// Checks topic ids chosen for a class or session: each must exist; a new choice must not
/// be retired (`allow_retired` lists ids already on the record, which may stay).
pub fn check_topics(conn: &mut AnyConnection, field: &str, ids: &[String], allow_retired: &[String]) -> Result<(), ApiError> {
    let rows: Vec<(String, Option<NaiveDateTime>)> =
        topics::table.filter(topics::id.eq_any(ids)).select((topics::id, topics::retired_at)).load(conn)?;
    let mut errors = Vec::new();
    for id in ids {
        match rows.iter().find(|(t, _)| t == id) {
            None => errors.push(FieldError::new(
                field,
                "unknown_topic",
                Text::new(format!("Không có chủ đề `{id}`."), format!("There is no topic `{id}`.")),
            )),
            Some((_, Some(_))) if !allow_retired.contains(id) => errors.push(FieldError::new(
                field,
                "retired_topic",
                Text::new(format!("Chủ đề `{id}` đã ngừng sử dụng."), format!("Topic `{id}` has been retired.")),
            )),
            _ => {}
        }
    }
    records::fail_if_any(errors)
}

fn check_names(vi: Option<&str>, en: Option<&str>, errors: &mut Vec<FieldError>) -> (Option<String>, Option<String>) {
    (vi.map(|v| records::required_text("name_vi", v, 200, errors)), en.map(|v| records::required_text("name_en", v, 200, errors)))
}

/// The topic catalogue (every signed-in role, analysts included: it is reference data).
pub fn list_topics(conn: &mut AnyConnection, _caller: &Caller, query: TopicQuery) -> Result<Vec<Topic>, ApiError> {
    let all = query.include_retired.unwrap_or(false);
    let rows: Vec<TopicRow> = {
        let mut q = topics::table.into_boxed();
        if !all {
            q = q.filter(topics::retired_at.is_null());
        }
        q.order(topics::id).load(conn)?
    };
    Ok(rows.iter().map(Topic::from).collect())
}

/// Add a topic (admins).
pub fn create_topic(conn: &mut AnyConnection, caller: &Caller, meta: &RequestMeta, form: NewTopic) -> Result<Topic, ApiError> {
    policy::authorize(caller, Capability::ManageTopics, None, Access::Write)?;
    let mut errors = Vec::new();
    let id = form.id.trim().to_owned();
    if !(3..=64).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        errors.push(FieldError::new(
            "id",
            "invalid_topic_id",
            Text::new(
                "Mã chủ đề gồm 3–64 ký tự: chữ thường không dấu, số, gạch dưới.",
                "A topic id has 3–64 lowercase letters, digits or '_'.",
            ),
        ));
    }
    let (vi, en) = check_names(Some(&form.name_vi), Some(&form.name_en), &mut errors);
    records::fail_if_any(errors)?;
    let row = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise_everything(conn)?;
            let exists: i64 = topics::table.filter(topics::id.eq(&id)).count().get_result(conn)?;
            if exists > 0 {
                return Err(error::conflict("topic_exists", Text::new("Đã có chủ đề với mã này.", "A topic with this id exists.")));
            }
            let seq = w.seq(conn)?;
            diesel::insert_into(topics::table)
                .values((
                    topics::id.eq(&id),
                    topics::version.eq(1i64),
                    topics::created_at.eq(w.now),
                    topics::updated_at.eq(w.now),
                    topics::retired_at.eq(None::<NaiveDateTime>),
                    topics::change_seq.eq(seq),
                    topics::name_vi.eq(vi.unwrap_or_default()),
                    topics::name_en.eq(en.unwrap_or_default()),
                ))
                .execute(conn)?;
            w.audit(conn, "create", "topic", &id, None, &["name_vi", "name_en"])?;
            w.finish(conn)?;
            Ok(topics::table.find(&id).first::<TopicRow>(conn)?)
        })
    }?;
    Ok(Topic::from(&row))
}

/// Rename, retire or restore a topic (admins). Needs `If-Match`.
pub fn update_topic(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    path: &str,
    patch: TopicPatch,
) -> Result<Topic, ApiError> {
    policy::authorize(caller, Capability::ManageTopics, None, Access::Write)?;
    if_match.require()?;
    let mut errors = Vec::new();
    let (vi, en) = check_names(patch.name_vi.as_deref(), patch.name_en.as_deref(), &mut errors);
    records::fail_if_any(errors)?;
    let id = path;
    let row = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise_everything(conn)?;
            let row: TopicRow = topics::table.find(&id).first(conn)?;
            if_match.check(row.version)?;
            let mut changed = Vec::new();
            if vi.as_ref().is_some_and(|v| v != &row.name_vi) {
                changed.push("name_vi");
            }
            if en.as_ref().is_some_and(|v| v != &row.name_en) {
                changed.push("name_en");
            }
            if patch.retired.is_some_and(|r| r != row.retired_at.is_some()) {
                changed.push("retired");
            }
            if changed.is_empty() {
                return Ok(row);
            }
            let seq = w.seq(conn)?;
            let retired_at = match patch.retired {
                Some(true) => row.retired_at.or(Some(w.now)),
                Some(false) => None,
                None => row.retired_at,
            };
            diesel::update(topics::table.find(&id))
                .set((
                    topics::name_vi.eq(vi.unwrap_or(row.name_vi.clone())),
                    topics::name_en.eq(en.unwrap_or(row.name_en.clone())),
                    topics::retired_at.eq(retired_at),
                    topics::version.eq(row.version + 1),
                    topics::updated_at.eq(w.now),
                    topics::change_seq.eq(seq),
                ))
                .execute(conn)?;
            w.audit(conn, "update", "topic", id, None, &changed)?;
            w.finish(conn)?;
            Ok(topics::table.find(&id).first::<TopicRow>(conn)?)
        })
    }?;
    Ok(Topic::from(&row))
}
