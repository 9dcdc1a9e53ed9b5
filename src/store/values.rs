//! Closed value sets: every field of a record or a request that takes one of a fixed list
//! of values is one of these enums. Each is stored as its snake_case text (so the columns
//! stay readable and both backends agree), sent and received as that text (serde), and
//! listed with its values in the OpenAPI document (utoipa), so generated clients get real
//! enum types.
//!
//! Request forms take a [`Choice`] of a set: an unknown value does not stop the parsing of
//! the form, so that validation reports every failing field at once, each with the
//! allowed values (422 `invalid_choice`).

use std::fmt;
use std::marker::PhantomData;

use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::base::error::{FieldError, Text as T};
use crate::store::db::MultiBackend;

/// What every closed set offers: its values as text, and parsing from text.
pub trait ClosedSet: Copy + Sized + 'static {
    /// Every value's text, in the documented order.
    const NAMES: &'static [&'static str];
    fn as_str(self) -> &'static str;
    fn parse(raw: &str) -> Option<Self>;

    /// The allowed values, for messages: `a, b, c`.
    fn listed() -> String {
        Self::NAMES.join(", ")
    }

    /// Parses `raw` for `field`; an unknown value adds a 422 entry naming the allowed ones.
    fn check(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Self> {
        let v = Self::parse(raw.trim());
        if v.is_none() {
            errors.push(invalid_choice(field, &Self::listed()));
        }
        v
    }
}

/// The 422 entry of a value outside its closed set.
pub fn invalid_choice(field: &str, allowed: &str) -> FieldError {
    FieldError::new(
        field,
        "invalid_choice",
        T::new(format!("Giá trị phải là một trong: {allowed}."), format!("Must be one of: {allowed}.")),
    )
}

/// Declares a closed set: the enum, its text, serde, the OpenAPI schema and the diesel
/// mapping to a text column.
macro_rules! closed_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl ClosedSet for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl $name {
            /// The value's text (as stored and sent).
            pub fn as_str(self) -> &'static str {
                <Self as ClosedSet>::as_str(self)
            }

            /// The value a text names, if any.
            pub fn parse(raw: &str) -> Option<Self> {
                <Self as ClosedSet>::parse(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let raw = <String as FromSql<Text, MultiBackend>>::from_sql(bytes)?;
                <Self as ClosedSet>::parse(&raw)
                    .ok_or_else(|| format!("`{raw}` is not a {} ({})", stringify!($name), <Self as ClosedSet>::listed()).into())
            }
        }

        impl ToSql<Text, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                <str as ToSql<Text, MultiBackend>>::to_sql(<Self as ClosedSet>::as_str(*self), out)
            }
        }

        // Queries built before they are boxed for the MultiBackend (e.g. a subquery) bind
        // their values for each backend.
        impl ToSql<Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
                <str as ToSql<Text, diesel::pg::Pg>>::to_sql(<Self as ClosedSet>::as_str(*self), out)
            }
        }

        impl ToSql<Text, diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
                <str as ToSql<Text, diesel::sqlite::Sqlite>>::to_sql(<Self as ClosedSet>::as_str(*self), out)
            }
        }
    };
}

/// A value of a closed set as a request sent it: known, or the unknown text (kept so that
/// validation can name it among every failing field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<S> {
    Known(S),
    Unknown(String),
}

impl<S: ClosedSet> Choice<S> {
    /// The value, or a 422 entry for `field` with the allowed values.
    pub fn check(&self, field: &str, errors: &mut Vec<FieldError>) -> Option<S> {
        match self {
            Choice::Known(v) => Some(*v),
            Choice::Unknown(_) => {
                errors.push(invalid_choice(field, &S::listed()));
                None
            }
        }
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Choice::Known(v) => v.as_str(),
            Choice::Unknown(s) => s,
        }
    }
}

impl<S: ClosedSet> From<S> for Choice<S> {
    fn from(v: S) -> Self {
        Choice::Known(v)
    }
}

impl<'de, S: ClosedSet> Deserialize<'de> for Choice<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(PhantomData<S>);
        impl<S: ClosedSet> serde::de::Visitor<'_> for V<S> {
            type Value = Choice<S>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "one of: {}", S::listed())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(match S::parse(v.trim()) {
                    Some(s) => Choice::Known(s),
                    None => Choice::Unknown(v.to_owned()),
                })
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// Serialised as sent (create digests are computed from the typed form).
impl<S: ClosedSet> Serialize for Choice<S> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Every choice of a list checked: the known values, or `None` after adding one 422 entry.
pub fn check_all<S: ClosedSet>(field: &str, list: &[Choice<S>], errors: &mut Vec<FieldError>) -> Option<Vec<S>> {
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        match c {
            Choice::Known(v) => out.push(*v),
            Choice::Unknown(_) => {
                errors.push(invalid_choice(field, &S::listed()));
                return None;
            }
        }
    }
    Some(out)
}

// ---- accounts -------------------------------------------------------------------------

closed_set! {
    /// Account role.
    Role {
        /// Manages accounts inside its scope; everything an officer may do.
        Admin = "admin",
        /// Reads everything in its scope and verifies completions.
        Officer = "officer",
        /// Records field work (classes, trainees, attendance) in its commune.
        TeamMember = "team_member",
        /// Sees aggregate statistics only, never a person's data.
        Analyst = "analyst",
    }
}

closed_set! {
    /// Kind of area an account is responsible for.
    ScopeKind { Country = "country", Province = "province", Commune = "commune" }
}

// ---- reference data -------------------------------------------------------------------

closed_set! {
    /// Kind of commune-level unit since the July 2025 reform.
    UnitKind { Commune = "commune", Ward = "ward", SpecialZone = "special_zone" }
}

closed_set! {
    /// `village` (thôn, làng, bản, buôn…), `residential_group` (tổ dân phố) or `other`.
    HamletKind { Village = "village", ResidentialGroup = "residential_group", Other = "other" }
}

// ---- teams ------------------------------------------------------------------------------

closed_set! {
    /// Kind of team.
    TeamKind { CommunityTechTeam = "community_tech_team", YouthVolunteerTeam = "youth_volunteer_team", Other = "other" }
}

closed_set! {
    /// Where a team works: the whole commune, or one hamlet (then `hamlet_id` is required).
    TeamLevel { Commune = "commune", Hamlet = "hamlet" }
}

closed_set! {
    /// A member's role in the team.
    MemberRole { Leader = "leader", Deputy = "deputy", Member = "member" }
}

closed_set! {
    /// Where a member comes from.
    Affiliation {
        HamletLeader = "hamlet_leader",
        YouthUnion = "youth_union",
        WomenUnion = "women_union",
        CommunePolice = "commune_police",
        Teacher = "teacher",
        HealthWorker = "health_worker",
        TelecomIt = "telecom_it",
        Official = "official",
        Volunteer = "volunteer",
        Other = "other",
    }
}

// ---- classes ----------------------------------------------------------------------------

closed_set! {
    /// How a class is held.
    ClassMode { InPerson = "in_person", Online = "online", Mixed = "mixed" }
}

closed_set! {
    /// A class moves `planned → ongoing → completed`, or is cancelled from planned or
    /// ongoing.
    ClassStatus { Planned = "planned", Ongoing = "ongoing", Completed = "completed", Cancelled = "cancelled" }
}

// ---- trainees ---------------------------------------------------------------------------

closed_set! {
    /// Gender as the person states it.
    Gender { Female = "female", Male = "male", Other = "other", Unspecified = "unspecified" }
}

closed_set! {
    /// Groups the movement counts separately (a person may be in several).
    TargetGroup {
        Elderly = "elderly",
        Disability = "disability",
        EthnicMinority = "ethnic_minority",
        Farmer = "farmer",
        Worker = "worker",
        PupilStudent = "pupil_student",
        PublicServant = "public_servant",
        BusinessHousehold = "business_household",
        LowIncome = "low_income",
        RemoteArea = "remote_area",
        Other = "other",
    }
}

closed_set! {
    /// How consent was given.
    ConsentMethod { Paper = "paper", App = "app", WitnessedVerbal = "witnessed_verbal" }
}

closed_set! {
    /// Which consent is withdrawn: `ethnicity` (the ethnicity is erased) or `basic` (the
    /// person is erased).
    ConsentKind { Ethnicity = "ethnicity", Basic = "basic" }
}

closed_set! {
    /// A trainee list filter on the outcome of their classes.
    CompletionFilter { None = "none", Passed = "passed", Failed = "failed", Verified = "verified" }
}

// ---- enrollment and completion ---------------------------------------------------------

closed_set! {
    /// The outcome of a class for a trainee.
    CompletionResult { Passed = "passed", Failed = "failed" }
}

closed_set! {
    /// What a completion rests on.
    Evidence {
        InClassAssessment = "in_class_assessment",
        PlatformCertificate = "platform_certificate",
        OfficerConfirmation = "officer_confirmation",
    }
}

closed_set! {
    /// An officer's decision on a recorded completion.
    VerificationDecision { Verified = "verified", Rejected = "rejected" }
}

// ---- imports ----------------------------------------------------------------------------

closed_set! {
    ImportKind { Trainees = "trainees", Enrollments = "enrollments", Teams = "teams", Classes = "classes" }
}

closed_set! {
    ImportOutcome { Created = "created", Updated = "updated", Unchanged = "unchanged", Skipped = "skipped", Failed = "failed" }
}

// ---- sync -------------------------------------------------------------------------------

closed_set! {
    /// Record types a device may push.
    PushType {
        Class = "class",
        ClassSession = "class_session",
        Trainee = "trainee",
        Enrollment = "enrollment",
        /// A session's attendance list (id = session id).
        Attendance = "attendance",
        /// A completion (id = enrollment id).
        Completion = "completion",
    }
}

closed_set! {
    /// What an operation does.
    PushAction { Upsert = "upsert", Delete = "delete" }
}

closed_set! {
    /// What happened to one pushed operation.
    OpStatus {
        Applied = "applied",
        Duplicate = "duplicate",
        Conflict = "conflict",
        Rejected = "rejected",
        DependencyFailed = "dependency_failed",
    }
}

closed_set! {
    /// Record types of the delta feed.
    ChangeType {
        Hamlet = "hamlet",
        Team = "team",
        TeamMember = "team_member",
        Topic = "topic",
        Class = "class",
        ClassSession = "class_session",
        Trainee = "trainee",
        Enrollment = "enrollment",
        /// A session's attendance list (id = session id).
        Attendance = "attendance",
        /// A removal of a record whose type the server no longer knows.
        Record = "record",
    }
}

closed_set! {
    /// Whether a reported conflict still waits for an officer.
    ConflictStatus { Open = "open", Resolved = "resolved" }
}

closed_set! {
    /// An officer's resolution of a reported conflict.
    ConflictDecision {
        /// The server's record stands.
        KeepServer = "keep_server",
        /// The device's version is written on top of the current one.
        ApplyDevice = "apply_device",
        /// The officer's own `body` is written on top of the current one.
        Apply = "apply",
    }
}

// ---- statistics -------------------------------------------------------------------------

closed_set! {
    /// Rows of a per-unit table.
    UnitLevel { Commune = "commune", Province = "province" }
}

closed_set! {
    /// A dimension statistics can be broken down by.
    BreakdownDim {
        Gender = "gender",
        AgeBand = "age_band",
        TargetGroup = "target_group",
        Ethnicity = "ethnicity",
        Topic = "topic",
        Team = "team",
        Language = "language",
        Month = "month",
    }
}

closed_set! {
    /// Age at the time counted.
    AgeBand { Under18 = "<18", From18To35 = "18-35", From36To59 = "36-59", From60 = "60+" }
}

closed_set! {
    /// How a report is sent.
    ReportFormat { Json = "json", Csv = "csv", Xlsx = "xlsx" }
}

closed_set! {
    /// Whether a trainee is still in a class.
    EnrollmentStatus { Enrolled = "enrolled", Dropped = "dropped" }
}

closed_set! {
    /// Whether a periodic report follows the live counters (`open`) or is frozen (`closed`).
    ReportStatus { Open = "open", Closed = "closed" }
}

closed_set! {
    /// Kind of area a statistics row stands for: a province, or a commune-level unit.
    AreaKind { Commune = "commune", Ward = "ward", SpecialZone = "special_zone", Province = "province" }
}

impl From<UnitKind> for AreaKind {
    fn from(k: UnitKind) -> AreaKind {
        match k {
            UnitKind::Commune => AreaKind::Commune,
            UnitKind::Ward => AreaKind::Ward,
            UnitKind::SpecialZone => AreaKind::SpecialZone,
        }
    }
}
