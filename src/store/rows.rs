//! Stored rows, column for column, as diesel loads them. Read models (what the API
//! sends) and write forms (what it takes) live in the domain layer; a row type is shared
//! by every module that reads its table.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::store::values::*;

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
    pub kind: TeamKind,
    pub level: TeamLevel,
    pub decision_number: Option<String>,
    pub decision_date: Option<NaiveDate>,
    pub active: bool,
}

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
    pub role: MemberRole,
    pub affiliation: Affiliation,
    pub joined_on: Option<NaiveDate>,
    pub left_on: Option<NaiveDate>,
    pub user_id: Option<String>,
    /// Random, never shown: the person's key in the cell-key perturbation of statistics.
    pub cell_key: i64,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = crate::store::schema::enrollments, treat_none_as_default_value = false)]
pub struct EnrollmentRow {
    pub id: String,
    pub version: i64,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub class_id: String,
    pub trainee_id: String,
    pub commune_code: String,
    pub status: EnrollmentStatus,
    pub drop_reason: Option<String>,
    pub completion_result: Option<CompletionResult>,
    pub completion_evidence: Option<Evidence>,
    pub completed_on: Option<NaiveDate>,
    pub score: Option<f64>,
    pub certificate_ref: Option<String>,
    pub attendance_override_reason: Option<String>,
    pub completion_recorded_by: Option<String>,
    pub verification: Option<VerificationDecision>,
    pub verification_reason: Option<String>,
    pub verified_by: Option<String>,
    pub verified_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable)]
pub struct HamletRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub commune_code: String,
    pub name: String,
    pub kind: HamletKind,
    pub search_name: String,
}

/// A stored account, column for column.
#[derive(Debug, Clone, Queryable)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub scope_kind: ScopeKind,
    pub scope_code: Option<String>,
    pub password_hash: String,
    pub active: bool,
    pub password_changed_at: NaiveDateTime,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
}

#[derive(Debug, Clone, Queryable)]
pub struct ClassRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub team_id: String,
    pub title: String,
    pub mode: ClassMode,
    pub language: String,
    pub interpreter_used: bool,
    pub venue: Option<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub planned_sessions: i32,
    pub campaign: Option<String>,
    pub status: ClassStatus,
    pub cancel_reason: Option<String>,
    pub min_attendance_ratio: f64,
}

#[derive(Debug, Clone, Queryable)]
pub struct SessionRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub class_id: String,
    pub commune_code: String,
    pub held_on: NaiveDate,
    pub duration_minutes: i32,
    pub topic_ids: String,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Queryable)]
pub struct TopicRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub name_vi: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = crate::store::schema::trainees, treat_none_as_default_value = false)]
pub struct TraineeRow {
    pub id: String,
    pub version: i64,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub full_name: String,
    pub search_name: String,
    pub gender: Gender,
    pub birth_year: i32,
    pub phone: Option<String>,
    pub id_hash: Option<String>,
    pub id_last4: Option<String>,
    pub ethnicity_code: Option<String>,
    pub target_groups: String,
    pub occupation: Option<String>,
    pub consent_basic: bool,
    pub consent_ethnicity: bool,
    pub consent_method: ConsentMethod,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    pub consent_at: NaiveDateTime,
    pub consent_by: Option<String>,
    pub merged_into: Option<String>,
    pub erased_at: Option<NaiveDateTime>,
    /// Random, never shown: the person's key in the cell-key perturbation of statistics.
    pub cell_key: i64,
}
