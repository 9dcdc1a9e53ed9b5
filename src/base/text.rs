//! Text rules for Vietnamese data: diacritic-insensitive search keys and phone numbers.

use unicode_normalization::UnicodeNormalization;

/// Search key: lowercase, without diacritics (đ → d), whitespace collapsed. Both tone-mark
/// placements ("Thủy"/"Thuỷ") fold to the same key because NFD separates the marks
/// from the letters before they are dropped.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = true;
    for c in s.nfd() {
        if ('\u{0300}'..='\u{036f}').contains(&c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            continue;
        }
        last_space = false;
        out.extend(c.to_lowercase());
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Normalises a Vietnamese phone number to its national form `0XXXXXXXXX`. Accepts
/// `0…`, `84…` and `+84…`, with spaces, dots or dashes; mobile numbers start with 3, 5, 7,
/// 8 or 9 after the leading 0, landlines with 2 (ten or eleven digits in all).
pub fn normalize_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, trimmed),
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' => {}
            _ => return None,
        }
    }
    let national = if let Some(r) = digits.strip_prefix("84").filter(|r| plus || r.len() >= 9) {
        format!("0{r}")
    } else if plus {
        return None;
    } else {
        digits
    };
    let bytes = national.as_bytes();
    let ok = match bytes.get(1) {
        Some(b'3' | b'5' | b'7' | b'8' | b'9') => national.len() == 10,
        Some(b'2') => national.len() == 11,
        _ => false,
    };
    (bytes.first() == Some(&b'0') && ok).then_some(national)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold("Sơn Hà"), "son ha");
        assert_eq!(fold("Sơn Hạ"), "son ha");
        assert_eq!(fold("Thủy"), "thuy");
        assert_eq!(fold("Thuỷ"), "thuy");
        assert_eq!(fold("  Đặc  khu Lý Sơn "), "dac khu ly son");
        assert_eq!(fold("NGUYỄN Văn A"), "nguyen van a");
    }

    #[test]
    fn phones() {
        assert_eq!(normalize_phone("0912 345 678").as_deref(), Some("0912345678"));
        assert_eq!(normalize_phone("+84912345678").as_deref(), Some("0912345678"));
        assert_eq!(normalize_phone("84912345678").as_deref(), Some("0912345678"));
        assert_eq!(normalize_phone("0255 3822 123").as_deref(), Some("02553822123"));
        assert_eq!(normalize_phone("0112345678"), None);
        assert_eq!(normalize_phone("091234567"), None);
        assert_eq!(normalize_phone("+1 555 1234"), None);
        assert_eq!(normalize_phone("09123a5678"), None);
    }
}
