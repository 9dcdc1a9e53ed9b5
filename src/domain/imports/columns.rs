//! The columns of each kind of list, with their Vietnamese and English headers, and the
//! Vietnamese labels of every closed value set a cell may hold. The template, the export
//! and the reader all take them from here, so a sheet written by one is read by the other.

use crate::base::text::fold;
use crate::store::values::{
    Affiliation, ClassMode, CompletionResult, ConsentMethod, Evidence, Gender, ImportKind, MemberRole, TargetGroup, TeamKind, TeamLevel,
};

/// One column of a list.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The field it fills (`full_name`); also accepted as a header.
    pub key: &'static str,
    pub vi: &'static str,
    pub en: &'static str,
    pub required: bool,
    /// How to fill it, in the template's instruction sheet.
    pub help_vi: &'static str,
    pub help_en: &'static str,
    /// Written by the export for the reader's information; ignored on import.
    pub read_only: bool,
}

const fn col(
    key: &'static str,
    vi: &'static str,
    en: &'static str,
    required: bool,
    help_vi: &'static str,
    help_en: &'static str,
) -> Column {
    Column { key, vi, en, required, help_vi, help_en, read_only: false }
}

const fn shown(key: &'static str, vi: &'static str, en: &'static str, help_vi: &'static str, help_en: &'static str) -> Column {
    Column { key, vi, en, required: false, help_vi, help_en, read_only: true }
}

const COMPLETION: [Column; 6] = [
    col(
        "class_id",
        "Mã lớp",
        "Class id",
        false,
        "Mã (id) của lớp đã có trong hocvuso. Có mã lớp thì người học được ghi danh vào lớp.",
        "The id of a class already in hocvuso. With it the trainee is enrolled in the class.",
    ),
    col(
        "result",
        "Kết quả",
        "Result",
        false,
        "Đạt / Không đạt. Để trống nếu chưa có kết quả.",
        "Passed / Failed. Leave empty when there is no result yet.",
    ),
    col(
        "evidence",
        "Căn cứ công nhận",
        "Evidence",
        false,
        "Đánh giá tại lớp (mặc định) / Chứng chỉ nền tảng / Cán bộ xác nhận.",
        "In-class assessment (default) / Platform certificate / Officer confirmation.",
    ),
    col(
        "completed_on",
        "Ngày hoàn thành",
        "Completed on",
        false,
        "Ngày dạng dd/mm/yyyy; bắt buộc khi có kết quả.",
        "A date (dd/mm/yyyy); required with a result.",
    ),
    col("score", "Điểm", "Score", false, "0–100, không bắt buộc.", "0–100, optional."),
    col(
        "override_reason",
        "Lý do công nhận khi thiếu điểm danh",
        "Attendance override reason",
        false,
        "Bắt buộc khi ghi Đạt mà lớp không có đủ điểm danh (ví dụ lớp ghi trên giấy).",
        "Required to record a pass when the class's attendance does not reach its minimum (e.g. a class kept on paper).",
    ),
];

pub const TRAINEE_COLUMNS: &[Column] = &[
    col(
        "id",
        "Mã học viên",
        "Trainee id",
        false,
        "Để trống khi thêm mới. Tệp xuất từ hocvuso có sẵn mã: giữ nguyên để cập nhật đúng người.",
        "Leave empty for a new person. An export from hocvuso carries it: keep it to update the same person.",
    ),
    col(
        "commune_code",
        "Mã xã/phường",
        "Commune code",
        false,
        "Mã đơn vị hành chính cấp xã (5 chữ số). Cán bộ một xã có thể để trống.",
        "The commune-level unit code (5 digits). An officer of one commune may leave it empty.",
    ),
    col(
        "hamlet",
        "Thôn/tổ dân phố",
        "Hamlet",
        false,
        "Tên thôn/tổ dân phố (chọn trong danh sách) hoặc mã của nó.",
        "The hamlet's name (from the list) or its id.",
    ),
    col("full_name", "Họ và tên", "Full name", true, "Họ và tên đầy đủ.", "Full name."),
    col("gender", "Giới tính", "Gender", true, "Nam / Nữ / Khác / Không rõ.", "Male / Female / Other / Unspecified."),
    col(
        "birth_year",
        "Năm sinh",
        "Birth year",
        true,
        "Năm sinh (4 chữ số) hoặc ngày sinh dd/mm/yyyy.",
        "Birth year (4 digits) or birth date (dd/mm/yyyy).",
    ),
    col("phone", "Số điện thoại", "Phone", false, "Số di động Việt Nam, ví dụ 0912345678.", "A Vietnamese mobile number, e.g. 0912345678."),
    col(
        "personal_id",
        "Số định danh cá nhân",
        "Personal ID number",
        false,
        "12 chữ số (căn cước). Máy chủ chỉ giữ mã băm và 4 số cuối. Để trống thì không thay đổi.",
        "12 digits. The server keeps only a keyed hash and the last four. Empty leaves it unchanged.",
    ),
    shown(
        "personal_id_last4",
        "4 số cuối định danh",
        "Personal ID last four",
        "Chỉ để xem (tệp xuất); không được đọc khi nhập.",
        "For reading only (exports); ignored on import.",
    ),
    col(
        "ethnicity",
        "Dân tộc",
        "Ethnicity",
        false,
        "Tên dân tộc (Kinh, Hrê, Cơ-tu…) hoặc mã 01–54; chỉ ghi khi người học đồng ý riêng.",
        "The ethnic group's name or code 01–54; only with the person's separate consent.",
    ),
    col("consent_ethnicity", "Đồng ý ghi dân tộc", "Ethnicity consent", false, "Có / Không.", "Yes / No."),
    col(
        "target_groups",
        "Nhóm đối tượng",
        "Target groups",
        false,
        "Một hoặc nhiều nhóm, cách nhau bằng dấu chấm phẩy (;).",
        "One or more groups separated by semicolons (;).",
    ),
    col("occupation", "Nghề nghiệp", "Occupation", false, "Không bắt buộc.", "Optional."),
    col(
        "consent_basic",
        "Đồng ý xử lý dữ liệu cá nhân",
        "Personal data consent",
        true,
        "Phải là Có: người học đã đồng ý (Luật Bảo vệ dữ liệu cá nhân).",
        "Must be Yes: the person agreed (Personal Data Protection Law).",
    ),
    col(
        "consent_method",
        "Hình thức đồng ý",
        "Consent method",
        true,
        "Ký giấy / Trên ứng dụng / Nói, có người chứng kiến.",
        "Signed paper / In the app / Spoken, witnessed.",
    ),
    col("consent_date", "Ngày đồng ý", "Consent date", false, "dd/mm/yyyy; mặc định là hôm nay.", "dd/mm/yyyy; default today."),
    COMPLETION[0],
    COMPLETION[1],
    COMPLETION[2],
    COMPLETION[3],
    COMPLETION[4],
    COMPLETION[5],
];

pub const ENROLLMENT_COLUMNS: &[Column] = &[
    col("class_id", "Mã lớp", "Class id", true, "Mã (id) của lớp đã có trong hocvuso.", "The id of a class already in hocvuso."),
    col(
        "trainee_id",
        "Mã học viên",
        "Trainee id",
        false,
        "Mã của người học; nếu để trống thì tìm theo Họ và tên + Năm sinh trong xã của lớp.",
        "The trainee's id; when empty the trainee is found by full name + birth year in the class's commune.",
    ),
    col("full_name", "Họ và tên", "Full name", false, "Dùng khi không có mã học viên.", "Used when there is no trainee id."),
    col("birth_year", "Năm sinh", "Birth year", false, "Dùng khi không có mã học viên.", "Used when there is no trainee id."),
    COMPLETION[1],
    COMPLETION[2],
    COMPLETION[3],
    COMPLETION[4],
    COMPLETION[5],
];

/// Teams with their members: one row per member, the team's columns repeated on each of
/// its rows (a row without a member's name records the team alone).
pub const TEAM_COLUMNS: &[Column] = &[
    col("team_id", "Mã tổ", "Team id", false,
        "Để trống khi thêm mới; tệp xuất có sẵn mã.", "Leave empty for a new team; exports carry it."),
    col("commune_code", "Mã xã/phường", "Commune code", false,
        "Mã đơn vị cấp xã (5 chữ số). Cán bộ một xã có thể để trống.", "The commune code (5 digits). An officer of one commune may leave it empty."),
    col("hamlet", "Thôn/tổ dân phố", "Hamlet", false,
        "Bắt buộc với tổ cấp thôn: tên (trong danh sách) hoặc mã.", "Required for a hamlet-level team: its name (from the list) or id."),
    col("team_name", "Tên tổ", "Team name", true, "Ví dụ: Tổ công nghệ số cộng đồng thôn Phú Thọ.", "E.g. the community digital technology team of Phú Thọ."),
    col("team_kind", "Loại tổ", "Team kind", false,
        "Tổ công nghệ số cộng đồng (mặc định) / Đội thanh niên tình nguyện / Khác.", "Community tech team (default) / Youth volunteer team / Other."),
    col("team_level", "Cấp tổ", "Team level", false, "Xã / Thôn (mặc định: Thôn khi có thôn, Xã khi không).", "Commune / Hamlet (default: Hamlet with a hamlet, else Commune)."),
    col("decision_number", "Số quyết định thành lập", "Decision number", false, "Ví dụ 125/QĐ-UBND.", "E.g. 125/QĐ-UBND."),
    col("decision_date", "Ngày quyết định", "Decision date", false, "dd/mm/yyyy.", "dd/mm/yyyy."),
    col("member_id", "Mã thành viên", "Member id", false, "Để trống khi thêm mới.", "Leave empty for a new member."),
    col("member_name", "Họ và tên thành viên", "Member full name", false,
        "Để trống nếu dòng chỉ ghi tổ.", "Leave empty on a row that records the team alone."),
    col("member_phone", "Số điện thoại thành viên", "Member phone", false, "0912345678.", "0912345678."),
    col("member_role", "Vai trò", "Role", false, "Tổ trưởng / Tổ phó / Thành viên (mặc định).", "Leader / Deputy / Member (default)."),
    col("affiliation", "Thành phần", "Affiliation", false,
        "Trưởng thôn, Đoàn thanh niên, Hội phụ nữ, Công an xã, Giáo viên, Y tế, Viễn thông/CNTT, Cán bộ, Tình nguyện viên, Khác (mặc định).",
        "Hamlet leader, Youth union, Women's union, Commune police, Teacher, Health worker, Telecom/IT, Official, Volunteer, Other (default)."),
    col("joined_on", "Ngày tham gia", "Joined on", false, "dd/mm/yyyy.", "dd/mm/yyyy."),
    col("left_on", "Ngày rời tổ", "Left on", false, "dd/mm/yyyy.", "dd/mm/yyyy."),
];

/// Classes with the sessions held: one row per class.
pub const CLASS_COLUMNS: &[Column] = &[
    col(
        "class_id",
        "Mã lớp",
        "Class id",
        false,
        "Để trống khi thêm mới; tệp xuất có sẵn mã.",
        "Leave empty for a new class; exports carry it.",
    ),
    col(
        "commune_code",
        "Mã xã/phường",
        "Commune code",
        false,
        "Mã đơn vị cấp xã (5 chữ số). Cán bộ một xã có thể để trống.",
        "The commune code (5 digits). An officer of one commune may leave it empty.",
    ),
    col("hamlet", "Thôn/tổ dân phố", "Hamlet", false, "Tên (trong danh sách) hoặc mã.", "Its name (from the list) or id."),
    col("team", "Tổ phụ trách", "Team", true, "Tên tổ của xã hoặc mã tổ.", "The name of a team of the commune, or its id."),
    col("title", "Tên lớp", "Title", true, "Ví dụ: Cài đặt và sử dụng VNeID.", "E.g. Installing and using VNeID."),
    col(
        "topics",
        "Chủ đề",
        "Topics",
        true,
        "Một hoặc nhiều chủ đề (trong danh sách), cách nhau bằng dấu ;.",
        "One or more topics (from the list), separated by ;.",
    ),
    col("mode", "Hình thức học", "Mode", true, "Trực tiếp / Trực tuyến / Kết hợp.", "In person / Online / Mixed."),
    col(
        "language",
        "Ngôn ngữ",
        "Language",
        false,
        "vi (mặc định) hoặc mã ISO 639-3 của tiếng dân tộc.",
        "vi (default) or an ISO 639-3 code.",
    ),
    col("interpreter_used", "Có phiên dịch", "Interpreter used", false, "Có / Không.", "Yes / No."),
    col("venue", "Địa điểm", "Venue", false, "Ví dụ: Nhà văn hóa thôn.", "E.g. the hamlet's cultural house."),
    col("start_date", "Ngày bắt đầu", "Start date", true, "dd/mm/yyyy.", "dd/mm/yyyy."),
    col("end_date", "Ngày kết thúc", "End date", true, "dd/mm/yyyy.", "dd/mm/yyyy."),
    col("planned_sessions", "Số buổi dự kiến", "Planned sessions", true, "1–200.", "1–200."),
    col("campaign", "Đợt cao điểm", "Campaign", false, "Không bắt buộc.", "Optional."),
    col(
        "session_dates",
        "Ngày các buổi đã học",
        "Session dates",
        false,
        "Các ngày đã học (dd/mm/yyyy), cách nhau bằng dấu ;. Mỗi ngày là một buổi.",
        "The days held (dd/mm/yyyy) separated by ;. Each is one session.",
    ),
    col("session_minutes", "Thời lượng mỗi buổi (phút)", "Minutes per session", false, "Mặc định 90.", "Default 90."),
];

pub fn columns(kind: ImportKind) -> &'static [Column] {
    match kind {
        ImportKind::Trainees => TRAINEE_COLUMNS,
        ImportKind::Enrollments => ENROLLMENT_COLUMNS,
        ImportKind::Teams => TEAM_COLUMNS,
        ImportKind::Classes => CLASS_COLUMNS,
    }
}

/// The sheet names of a kind's list (the template writes the first).
pub fn sheet_names(kind: ImportKind) -> &'static [&'static str] {
    match kind {
        ImportKind::Trainees => &["Học viên", "Trainees"],
        ImportKind::Enrollments => &["Ghi danh", "Enrollments"],
        ImportKind::Teams => &["Tổ công nghệ số", "Teams"],
        ImportKind::Classes => &["Lớp học", "Classes"],
    }
}

/// A header as compared: folded (no diacritics, lower case), without a required marker.
fn header_key(raw: &str) -> String {
    let f = fold(raw);
    f.trim_end_matches(['*', ' ', '(', ')']).trim().replace(['_', '-'], " ")
}

/// The column a header names.
pub fn find(kind: ImportKind, header: &str) -> Option<&'static Column> {
    let h = header_key(header);
    if h.is_empty() {
        return None;
    }
    columns(kind).iter().find(|c| header_key(c.vi) == h || header_key(c.en) == h || header_key(c.key) == h)
}

/// The header the template writes for a column (required ones marked).
pub fn template_header(c: &Column) -> String {
    if c.required {
        format!("{} (*)", c.vi)
    } else {
        c.vi.to_owned()
    }
}

// ---- labels of closed sets ------------------------------------------------------------

pub const GENDERS: &[(Gender, &str, &str)] = &[
    (Gender::Male, "Nam", "Male"),
    (Gender::Female, "Nữ", "Female"),
    (Gender::Other, "Khác", "Other"),
    (Gender::Unspecified, "Không rõ", "Unspecified"),
];

pub const TARGET_GROUPS: &[(TargetGroup, &str, &str)] = &[
    (TargetGroup::Elderly, "Người cao tuổi", "Elderly"),
    (TargetGroup::Disability, "Người khuyết tật", "Person with disability"),
    (TargetGroup::EthnicMinority, "Đồng bào dân tộc thiểu số", "Ethnic minority"),
    (TargetGroup::Farmer, "Nông dân", "Farmer"),
    (TargetGroup::Worker, "Công nhân, người lao động", "Worker"),
    (TargetGroup::PupilStudent, "Học sinh, sinh viên", "Pupil or student"),
    (TargetGroup::PublicServant, "Cán bộ, công chức, viên chức", "Public servant"),
    (TargetGroup::BusinessHousehold, "Hộ kinh doanh", "Business household"),
    (TargetGroup::LowIncome, "Hộ nghèo, cận nghèo", "Low income"),
    (TargetGroup::RemoteArea, "Vùng sâu, vùng xa", "Remote area"),
    (TargetGroup::Other, "Khác", "Other"),
];

pub const CONSENT_METHODS: &[(ConsentMethod, &str, &str)] = &[
    (ConsentMethod::Paper, "Ký giấy", "Signed paper"),
    (ConsentMethod::App, "Trên ứng dụng", "In the app"),
    (ConsentMethod::WitnessedVerbal, "Nói, có người chứng kiến", "Spoken, witnessed"),
];

pub const RESULTS: &[(CompletionResult, &str, &str)] =
    &[(CompletionResult::Passed, "Đạt", "Passed"), (CompletionResult::Failed, "Không đạt", "Failed")];

pub const EVIDENCE: &[(Evidence, &str, &str)] = &[
    (Evidence::InClassAssessment, "Đánh giá tại lớp", "In-class assessment"),
    (Evidence::PlatformCertificate, "Chứng chỉ nền tảng", "Platform certificate"),
    (Evidence::OfficerConfirmation, "Cán bộ xác nhận", "Officer confirmation"),
];

pub const TEAM_KINDS: &[(TeamKind, &str, &str)] = &[
    (TeamKind::CommunityTechTeam, "Tổ công nghệ số cộng đồng", "Community tech team"),
    (TeamKind::YouthVolunteerTeam, "Đội thanh niên tình nguyện", "Youth volunteer team"),
    (TeamKind::Other, "Khác", "Other"),
];

pub const TEAM_LEVELS: &[(TeamLevel, &str, &str)] = &[(TeamLevel::Commune, "Xã", "Commune"), (TeamLevel::Hamlet, "Thôn", "Hamlet")];

pub const MEMBER_ROLES: &[(MemberRole, &str, &str)] =
    &[(MemberRole::Leader, "Tổ trưởng", "Leader"), (MemberRole::Deputy, "Tổ phó", "Deputy"), (MemberRole::Member, "Thành viên", "Member")];

pub const AFFILIATIONS: &[(Affiliation, &str, &str)] = &[
    (Affiliation::HamletLeader, "Trưởng thôn", "Hamlet leader"),
    (Affiliation::YouthUnion, "Đoàn thanh niên", "Youth union"),
    (Affiliation::WomenUnion, "Hội phụ nữ", "Women's union"),
    (Affiliation::CommunePolice, "Công an xã", "Commune police"),
    (Affiliation::Teacher, "Giáo viên", "Teacher"),
    (Affiliation::HealthWorker, "Y tế", "Health worker"),
    (Affiliation::TelecomIt, "Viễn thông/CNTT", "Telecom/IT"),
    (Affiliation::Official, "Cán bộ", "Official"),
    (Affiliation::Volunteer, "Tình nguyện viên", "Volunteer"),
    (Affiliation::Other, "Khác", "Other"),
];

pub const CLASS_MODES: &[(ClassMode, &str, &str)] =
    &[(ClassMode::InPerson, "Trực tiếp", "In person"), (ClassMode::Online, "Trực tuyến", "Online"), (ClassMode::Mixed, "Kết hợp", "Mixed")];

pub const YES_NO: &[(bool, &str, &str)] = &[(true, "Có", "Yes"), (false, "Không", "No")];

/// The value a cell names: its Vietnamese or English label or its code, compared folded.
pub fn label_value<T: Copy>(labels: &[(T, &str, &str)], code: impl Fn(T) -> &'static str, raw: &str) -> Option<T> {
    let f = fold(raw);
    labels.iter().find(|(v, vi, en)| fold(vi) == f || fold(en) == f || fold(code(*v)) == f).map(|(v, _, _)| *v)
}

/// The Vietnamese label of a value.
pub fn label_of<T: Copy + PartialEq>(labels: &[(T, &'static str, &'static str)], v: T) -> &'static str {
    labels.iter().find(|(x, _, _)| *x == v).map(|(_, vi, _)| *vi).unwrap_or("")
}

pub fn yes_no(raw: &str) -> Option<bool> {
    match fold(raw).as_str() {
        "x" | "1" | "true" | "dong y" | "co" | "yes" => Some(true),
        "0" | "false" | "khong dong y" | "khong" | "no" => Some(false),
        _ => None,
    }
}

/// The ethnic group a cell names: its code (`19`, `1` → `01`) or its name.
pub fn ethnicity(raw: &str) -> Option<&'static str> {
    let t = raw.trim();
    if let Ok(n) = t.parse::<u32>() {
        let code = format!("{n:02}");
        return crate::domain::ethnicities::GROUPS.iter().find(|(c, _)| *c == code).map(|(c, _)| *c);
    }
    let f = fold(t).replace(['-', ' '], "");
    crate::domain::ethnicities::GROUPS.iter().find(|(_, name)| fold(name).replace(['-', ' '], "") == f).map(|(c, _)| *c)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_in_both_languages_and_marked() {
        assert_eq!(find(ImportKind::Trainees, "Họ và tên (*)").map(|c| c.key), Some("full_name"));
        assert_eq!(find(ImportKind::Trainees, "HO VA TEN").map(|c| c.key), Some("full_name"));
        assert_eq!(find(ImportKind::Trainees, "Full name").map(|c| c.key), Some("full_name"));
        assert_eq!(find(ImportKind::Trainees, "birth_year").map(|c| c.key), Some("birth_year"));
        assert_eq!(find(ImportKind::Trainees, "Tên lửa").map(|c| c.key), None);
        assert_eq!(find(ImportKind::Enrollments, "Mã lớp (*)").map(|c| c.key), Some("class_id"));
    }

    #[test]
    fn labels_and_codes_are_read() {
        assert_eq!(label_value(GENDERS, Gender::as_str, "nữ"), Some(Gender::Female));
        assert_eq!(label_value(GENDERS, Gender::as_str, "female"), Some(Gender::Female));
        assert_eq!(label_value(RESULTS, CompletionResult::as_str, "Không đạt"), Some(CompletionResult::Failed));
        assert_eq!(ethnicity("Hrê"), Some("19"));
        assert_eq!(ethnicity("1"), Some("01"));
        assert_eq!(ethnicity("Ba Na"), Some("13"));
        assert_eq!(yes_no("Có"), Some(true));
        assert_eq!(yes_no("không"), Some(false));
    }
}
