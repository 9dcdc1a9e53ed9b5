//! The 54 ethnic groups of Vietnam with the statistics office's codes (01 Kinh … 54
//! Rơ-măm). Ethnicity is sensitive personal data (Law 91/2025/QH15): it is stored only with
//! its own consent and reported only as suppressed aggregates.

/// (code, name). Every group other than Kinh (01) is an ethnic minority.
pub const GROUPS: &[(&str, &str)] = &[
    ("01", "Kinh"),
    ("02", "Tày"),
    ("03", "Thái"),
    ("04", "Hoa"),
    ("05", "Khơ-me"),
    ("06", "Mường"),
    ("07", "Nùng"),
    ("08", "HMông"),
    ("09", "Dao"),
    ("10", "Gia-rai"),
    ("11", "Ngái"),
    ("12", "Ê-đê"),
    ("13", "Ba na"),
    ("14", "Xơ-Đăng"),
    ("15", "Sán Chay"),
    ("16", "Cơ-ho"),
    ("17", "Chăm"),
    ("18", "Sán Dìu"),
    ("19", "Hrê"),
    ("20", "Mnông"),
    ("21", "Ra-glai"),
    ("22", "Xtiêng"),
    ("23", "Bru-Vân Kiều"),
    ("24", "Thổ"),
    ("25", "Giáy"),
    ("26", "Cơ-tu"),
    ("27", "Gié Triêng"),
    ("28", "Mạ"),
    ("29", "Khơ-mú"),
    ("30", "Co"),
    ("31", "Tà-ôi"),
    ("32", "Chơ-ro"),
    ("33", "Kháng"),
    ("34", "Xinh-mun"),
    ("35", "Hà Nhì"),
    ("36", "Chu ru"),
    ("37", "Lào"),
    ("38", "La Chí"),
    ("39", "La Ha"),
    ("40", "Phù Lá"),
    ("41", "La Hủ"),
    ("42", "Lự"),
    ("43", "Lô Lô"),
    ("44", "Chứt"),
    ("45", "Mảng"),
    ("46", "Pà Thẻn"),
    ("47", "Co Lao"),
    ("48", "Cống"),
    ("49", "Bố Y"),
    ("50", "Si La"),
    ("51", "Pu Péo"),
    ("52", "Brâu"),
    ("53", "Ơ Đu"),
    ("54", "Rơ-măm"),
];

pub fn name(code: &str) -> Option<&'static str> {
    GROUPS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

pub fn is_minority(code: &str) -> bool {
    code != "01"
}

#[cfg(test)]
mod tests {
    #[test]
    fn fifty_four_groups_with_two_digit_codes() {
        assert_eq!(super::GROUPS.len(), 54);
        for (i, (code, _)) in super::GROUPS.iter().enumerate() {
            assert_eq!(*code, format!("{:02}", i + 1));
        }
        assert_eq!(super::name("19"), Some("Hrê"));
    }
}
