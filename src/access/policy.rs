//! Who may do what, where. Every access decision of the API is made here: handlers ask
//! `authorize(caller, capability, area, access)` and build list queries with the scope
//! filters below; they never compare unit codes themselves.
//!
//! Rules: a role without the capability gets 403 `forbidden`. A record outside the
//! caller's scope is a 404 on reads (its existence is not revealed) and a 403
//! `out_of_scope` on writes.

use diesel::prelude::*;

use crate::base::error::{self, ApiError, FieldError, Text};
use crate::store::db::AnyConnection;
use crate::store::schema::{provinces, units};
use crate::store::values::{Role, ScopeKind};

/// The area an account is responsible for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Country,
    Province(String),
    Commune(String),
}

impl Scope {
    /// From the stored `(scope_kind, scope_code)` pair; `None` for an impossible pair.
    pub fn from_parts(kind: ScopeKind, code: Option<&str>) -> Option<Scope> {
        match (kind, code) {
            (ScopeKind::Country, None) => Some(Scope::Country),
            (ScopeKind::Province, Some(c)) => Some(Scope::Province(c.to_owned())),
            (ScopeKind::Commune, Some(c)) => Some(Scope::Commune(c.to_owned())),
            _ => None,
        }
    }

    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Country => ScopeKind::Country,
            Scope::Province(_) => ScopeKind::Province,
            Scope::Commune(_) => ScopeKind::Commune,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Scope::Country => None,
            Scope::Province(c) | Scope::Commune(c) => Some(c),
        }
    }

    /// Checks a requested scope against the reference data: the province or commune must
    /// exist, and a country scope takes no code.
    pub fn validate(conn: &mut AnyConnection, kind: ScopeKind, code: Option<&str>) -> Result<Scope, ApiError> {
        let unknown = |what: &str| {
            error::validation(vec![FieldError::new(
                "scope_code",
                "unknown_unit",
                Text::new(format!("Không có {what} với mã này."), format!("No {what} has this code.")),
            )])
        };
        match (kind, code) {
            (ScopeKind::Country, None) => Ok(Scope::Country),
            (ScopeKind::Country, Some(_)) => Err(error::validation(vec![FieldError::new(
                "scope_code",
                "must_be_empty",
                Text::new("Phạm vi toàn quốc không có mã.", "A country scope takes no code."),
            )])),
            (_, None) => Err(error::validation(vec![FieldError::new(
                "scope_code",
                "required",
                Text::new("Cần mã tỉnh hoặc mã xã.", "A province or commune code is required."),
            )])),
            (ScopeKind::Province, Some(c)) => {
                let found: i64 = provinces::table.filter(provinces::code.eq(c)).count().get_result(conn)?;
                if found == 0 {
                    return Err(unknown("tỉnh/thành phố"));
                }
                Ok(Scope::Province(c.to_owned()))
            }
            (ScopeKind::Commune, Some(c)) => {
                let found: i64 = units::table.filter(units::code.eq(c)).count().get_result(conn)?;
                if found == 0 {
                    return Err(unknown("xã/phường"));
                }
                Ok(Scope::Commune(c.to_owned()))
            }
        }
    }
}

/// Where a record lives, as far as access is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    Country,
    Province(String),
    Commune { code: String, province: String },
}

impl Area {
    /// The area a scope covers (a commune's province is looked up in the reference data).
    pub fn of_scope(conn: &mut AnyConnection, scope: &Scope) -> Result<Area, ApiError> {
        Ok(match scope {
            Scope::Country => Area::Country,
            Scope::Province(p) => Area::Province(p.clone()),
            Scope::Commune(c) => Area::of_commune(conn, c)?,
        })
    }

    pub fn of_commune(conn: &mut AnyConnection, commune: &str) -> Result<Area, ApiError> {
        let province: String = units::table.filter(units::code.eq(commune)).select(units::province_code).first(conn)?;
        Ok(Area::Commune { code: commune.to_owned(), province })
    }
}

impl Scope {
    /// Whether this scope covers the whole of `area`.
    pub fn covers(&self, area: &Area) -> bool {
        match (self, area) {
            (Scope::Country, _) => true,
            (Scope::Province(p), Area::Province(q)) => p == q,
            (Scope::Province(p), Area::Commune { province, .. }) => p == province,
            (Scope::Commune(c), Area::Commune { code, .. }) => c == code,
            _ => false,
        }
    }
}

/// Things a caller may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// List and read accounts.
    ReadAccounts,
    /// Create accounts, change role, scope or status.
    ManageAccounts,
    /// Issue a one-time password reset code for an account.
    IssueResetCode,
    /// Read field records (hamlets, teams, members, classes, sessions) in scope.
    ReadFieldRecords,
    /// Create, change and delete hamlets, teams and team members.
    ManageTeams,
    /// Create and change classes and their sessions.
    RecordClasses,
    /// Add, rename and retire topics of the national catalogue.
    ManageTopics,
    /// Read the audit log of the scope.
    ReadAudit,
    /// Read person-level records (trainees, enrollments, attendance, completions).
    ReadPersonData,
    /// Record trainees, enrollments, attendance, completions and consent withdrawals.
    RecordPersonData,
    /// Verify or reject completions; override the attendance minimum; merge duplicates;
    /// export and erase a person's data.
    VerifyAndManagePersonData,
    /// Read aggregate statistics and reports of the scope.
    ReadStats,
    /// Importing lists from spreadsheets and exporting them (docs/IMPORT.md).
    ImportRecords,
}

/// Read or write: decides between 404 and 403 for a record outside the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The role matrix.
pub fn role_can(role: Role, capability: Capability) -> bool {
    use Capability::*;
    match capability {
        ReadAccounts | IssueResetCode => matches!(role, Role::Admin | Role::Officer),
        ManageAccounts | ManageTopics => role == Role::Admin,
        ReadFieldRecords | RecordClasses | ReadPersonData | RecordPersonData => {
            matches!(role, Role::Admin | Role::Officer | Role::TeamMember)
        }
        ManageTeams | ReadAudit | VerifyAndManagePersonData | ImportRecords => matches!(role, Role::Admin | Role::Officer),
        ReadStats => matches!(role, Role::Admin | Role::Officer | Role::Analyst),
    }
}

/// The caller as far as policy is concerned.
pub trait Principal {
    fn role(&self) -> Role;
    fn scope(&self) -> &Scope;
}

/// Checks the role, then (when given) that the record's area lies in the caller's scope.
pub fn authorize(caller: &impl Principal, capability: Capability, area: Option<&Area>, access: Access) -> Result<(), ApiError> {
    if !role_can(caller.role(), capability) {
        return Err(error::forbidden());
    }
    match area {
        Some(area) if !caller.scope().covers(area) => Err(match access {
            Access::Read => error::not_found(),
            Access::Write => error::out_of_scope(),
        }),
        _ => Ok(()),
    }
}

/// Extra rule for account management: an officer may issue reset codes only for field
/// accounts (team members), never for admins, other officers or analysts.
pub fn may_reset_role(caller: &impl Principal, target_role: Role) -> Result<(), ApiError> {
    match caller.role() {
        Role::Admin => Ok(()),
        Role::Officer if target_role == Role::TeamMember => Ok(()),
        _ => Err(error::forbidden()),
    }
}

/// Roles that need a particular kind of scope: a team member works in one commune.
pub fn check_role_scope(role: Role, scope: &Scope) -> Result<(), ApiError> {
    if role == Role::TeamMember && !matches!(scope, Scope::Commune(_)) {
        return Err(error::validation(vec![FieldError::new(
            "scope_kind",
            "commune_required",
            Text::new("Thành viên tổ công nghệ số phải có phạm vi là một xã/phường.", "A team member's scope must be one commune."),
        )]));
    }
    Ok(())
}

/// SQL filter: accounts whose scope lies inside `scope`.
pub fn users_in_scope<'a>(
    query: crate::store::schema::users::BoxedQuery<'a, crate::store::db::MultiBackend>,
    scope: &Scope,
) -> crate::store::schema::users::BoxedQuery<'a, crate::store::db::MultiBackend> {
    use crate::store::schema::users;
    match scope {
        Scope::Country => query,
        Scope::Province(p) => query.filter(
            users::scope_kind.eq("province").and(users::scope_code.eq(p.clone())).or(users::scope_kind
                .eq("commune")
                .and(users::scope_code.eq_any(units::table.filter(units::province_code.eq(p.clone())).select(units::code.nullable())))),
        ),
        Scope::Commune(c) => query.filter(users::scope_kind.eq("commune").and(users::scope_code.eq(c.clone()))),
    }
}

/// Restricts a boxed list query to rows whose commune column lies in `scope`
/// (`$query.filter(...)` on a commune-code column). Kept here so handlers never compare
/// codes themselves.
macro_rules! filter_to_scope {
    ($query:expr, $commune_col:expr, $scope:expr) => {{
        use diesel::prelude::*;
        match $scope {
            $crate::access::policy::Scope::Country => $query,
            $crate::access::policy::Scope::Province(p) => $query.filter(
                $commune_col.eq_any(
                    $crate::store::schema::units::table
                        .filter($crate::store::schema::units::province_code.eq(p.clone()))
                        .select($crate::store::schema::units::code),
                ),
            ),
            $crate::access::policy::Scope::Commune(c) => $query.filter($commune_col.eq(c.clone())),
        }
    }};
}
pub(crate) use filter_to_scope;

/// The province of a commune-level unit, if the unit exists.
pub fn province_of(conn: &mut AnyConnection, commune: &str) -> Result<Option<String>, ApiError> {
    Ok(units::table.find(commune).select(units::province_code).first(conn).optional()?)
}
