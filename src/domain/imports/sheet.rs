//! Reading an uploaded roster into a table of text cells, refusing what is not one before
//! anything is written: an XLSX workbook (read with calamine, its archive checked first so
//! that a zip bomb is refused before it is unpacked) or a CSV file in UTF-8 (with or
//! without BOM), UTF-16 with BOM, or Windows-1258 (CP1258, what Vietnamese Excel still
//! saves as "CSV").
//!
//! Every refusal is a 4xx problem naming what is wrong: not a spreadsheet, too large
//! (packed or unpacked), too many rows, a formula, merged cells in the list, no header row.

use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};
use unicode_normalization::UnicodeNormalization;

use crate::base::error::{self, ApiError, Text};

/// Largest file accepted (bytes).
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;
/// Most data rows in one file.
pub const MAX_ROWS: usize = 50_000;
/// Most bytes an XLSX archive may unpack to (all its parts together). A 20 MB workbook of
/// 50,000 full rows unpacks to well under this.
const MAX_UNPACKED_BYTES: u64 = 400 * 1024 * 1024;
/// Most columns read; cells to the right are ignored.
const MAX_COLUMNS: usize = 64;
/// Most cells (empty ones included) a sheet may hold before it is refused: a sheet of a
/// million styled but empty rows ends here, long before memory does.
const MAX_CELLS: usize = 4_000_000;
/// The header row is looked for among the first rows (a title may stand above it).
const HEADER_SEARCH_ROWS: usize = 20;

/// The text encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvEncoding {
    /// UTF-8 when the bytes are UTF-8 (with or without BOM), UTF-16 with a BOM,
    /// otherwise Windows-1258.
    Auto,
    Utf8,
    Windows1258,
}

impl CsvEncoding {
    pub fn parse(raw: &str) -> Option<CsvEncoding> {
        match raw.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "" | "auto" => Some(CsvEncoding::Auto),
            "utf-8" | "utf8" => Some(CsvEncoding::Utf8),
            "windows-1258" | "cp1258" | "win1258" => Some(CsvEncoding::Windows1258),
            _ => None,
        }
    }
}

/// A sheet read as text: its header row and its non-empty rows below.
#[derive(Debug)]
pub struct Table {
    /// `xlsx` or `csv`.
    pub format: &'static str,
    /// The encoding a CSV file was read in (`utf-8`, `utf-16`, `windows-1258`).
    pub encoding: Option<&'static str>,
    /// The sheet of a workbook that was read.
    pub sheet: Option<String>,
    /// The header cells, trimmed.
    pub headers: Vec<String>,
    /// The row number of the header row.
    pub header_row: usize,
    /// The rows under the header that hold anything: (row number as the spreadsheet
    /// shows it, from 1; the cells, as many as the headers).
    pub rows: Vec<(usize, Vec<String>)>,
}

fn bad_file(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> ApiError {
    error::unprocessable(code, Text::new(vi, en))
}

pub fn not_a_spreadsheet() -> ApiError {
    bad_file(
        "not_a_spreadsheet",
        "Tệp không phải bảng tính Excel (.xlsx) hay CSV đọc được.",
        "The file is not a readable Excel workbook (.xlsx) or CSV file.",
    )
}

fn too_many_rows() -> ApiError {
    bad_file(
        "too_many_rows",
        format!("Mỗi tệp tối đa {MAX_ROWS} dòng dữ liệu; hãy chia tệp."),
        format!("At most {MAX_ROWS} data rows per file; split the file."),
    )
}

fn unpacks_too_large() -> ApiError {
    bad_file(
        "file_too_large_unpacked",
        "Tệp Excel giải nén ra quá lớn (có thể là tệp độc hại).",
        "The workbook unpacks to too much data (it may be a malicious file).",
    )
}

/// The column letters of a 0-based column index (`0` → `A`, `27` → `AB`).
pub fn column_letters(mut col: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Reads an uploaded file: XLSX when it is a ZIP archive, CSV otherwise. `kind_sheets` are
/// the sheet names that hold this kind's list (the template's, in both languages);
/// `known` says whether a header text names a column of this kind (to find the header row).
pub fn read(bytes: &[u8], encoding: CsvEncoding, kind_sheets: &[&str], known: &dyn Fn(&str) -> bool) -> Result<Table, ApiError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(error::payload_too_large(MAX_FILE_BYTES));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(bad_file("empty_file", "Tệp trống.", "The file is empty."));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes, kind_sheets, known)
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        Err(bad_file(
            "legacy_excel_format",
            "Tệp Excel cũ (.xls) chưa được hỗ trợ: hãy lưu lại dưới dạng .xlsx (Lưu thành → Sổ làm việc Excel).",
            "Old Excel files (.xls) are not supported: save the file as .xlsx (Save As → Excel Workbook).",
        ))
    } else {
        read_csv(bytes, encoding, known)
    }
}

// ---- XLSX ---------------------------------------------------------------------------

/// Checks the archive before calamine unpacks anything: every part is decompressed into
/// nothing, counting, and the whole must stay under [`MAX_UNPACKED_BYTES`] (the sizes the
/// archive declares are not trusted).
fn check_archive(bytes: &[u8]) -> Result<(), ApiError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| not_a_spreadsheet())?;
    if archive.len() > 10_000 {
        return Err(unpacks_too_large());
    }
    // What the archive declares first (cheap), then what it really inflates to: the zip
    // reader stops a part at its declared size, so a part that lies fails to read.
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        declared += archive.by_index_raw(i).map_err(|_| not_a_spreadsheet())?.size();
        if declared > MAX_UNPACKED_BYTES {
            return Err(unpacks_too_large());
        }
    }
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).map_err(|_| not_a_spreadsheet())?;
        loop {
            let n = part.read(&mut buf).map_err(|_| not_a_spreadsheet())?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > MAX_UNPACKED_BYTES {
                return Err(unpacks_too_large());
            }
        }
    }
    Ok(())
}

fn read_xlsx(bytes: &[u8], kind_sheets: &[&str], known: &dyn Fn(&str) -> bool) -> Result<Table, ApiError> {
    check_archive(bytes)?;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|_| not_a_spreadsheet())?;
    let names: Vec<(String, bool)> =
        book.sheets_metadata().iter().map(|s| (s.name.clone(), s.visible == calamine::SheetVisible::Visible)).collect();
    let folded = |s: &str| crate::base::text::fold(s);
    // The kind's own sheet when there is one, else the first visible sheet.
    let sheet = names
        .iter()
        .find(|(n, _)| kind_sheets.iter().any(|k| folded(k) == folded(n)))
        .or_else(|| names.iter().find(|(_, visible)| *visible))
        .map(|(n, _)| n.clone())
        .ok_or_else(not_a_spreadsheet)?;
    let mut cells: Vec<((u32, u32), String)> = Vec::new();
    {
        let mut reader = book.worksheet_cells_reader(&sheet).map_err(|_| not_a_spreadsheet())?;
        let mut seen = 0usize;
        let mut data_rows = 0usize;
        let mut last_row: Option<u32> = None;
        let mut row_has_data = false;
        while let Some(cell) = reader.next_cell_with_formula().map_err(|_| not_a_spreadsheet())? {
            seen += 1;
            if seen > MAX_CELLS {
                return Err(too_many_rows());
            }
            let (row, col) = cell.pos;
            if cell.formula.as_deref().is_some_and(|f| !f.is_empty()) {
                let at = format!("{}{}", column_letters(col as usize), row + 1);
                return Err(bad_file(
                    "formulas_not_allowed",
                    format!("Ô {at} chứa công thức. Hãy sao chép rồi dán dạng giá trị (Dán đặc biệt → Giá trị) trước khi tải lên."),
                    format!("Cell {at} holds a formula. Copy and paste as values (Paste Special → Values) before uploading."),
                ));
            }
            if last_row != Some(row) {
                if row_has_data {
                    data_rows += 1;
                    if data_rows > MAX_ROWS + HEADER_SEARCH_ROWS {
                        return Err(too_many_rows());
                    }
                }
                last_row = Some(row);
                row_has_data = false;
            }
            if col as usize >= MAX_COLUMNS {
                continue;
            }
            let text = cell_text(&cell.value);
            if !text.is_empty() {
                row_has_data = true;
                cells.push(((row, col), text));
            }
        }
    }
    // Rows as the cells came (row-major).
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    for ((row, col), text) in cells {
        let number = row as usize + 1;
        if rows.last().is_none_or(|(n, _)| *n != number) {
            rows.push((number, Vec::new()));
        }
        if let Some((_, r)) = rows.last_mut() {
            if r.len() <= col as usize {
                r.resize(col as usize + 1, String::new());
            }
            r[col as usize] = text;
        }
    }
    let mut table = into_table(rows, known)?;
    // Merged cells inside the list (from the header row down) would silently lose values.
    let header_row = table.header_row;
    let merged = book.merge_cells_by_sheet_name(&sheet).map_err(|_| not_a_spreadsheet())?;
    if let Some(m) = merged.iter().find(|d| d.end.0 as usize + 1 >= header_row) {
        let range = format!("{}{}:{}{}", column_letters(m.start.1 as usize), m.start.0 + 1, column_letters(m.end.1 as usize), m.end.0 + 1);
        return Err(bad_file(
            "merged_cells",
            format!("Vùng {range} là ô gộp. Hãy bỏ gộp ô (Merge & Center → Unmerge) và ghi giá trị vào từng dòng."),
            format!("Cells {range} are merged. Unmerge them and write the value on every row."),
        ));
    }
    table.format = "xlsx";
    table.sheet = Some(sheet);
    Ok(table)
}

/// A cell as text: numbers without a needless fraction (`1961`, not `1961.0`), dates as
/// `YYYY-MM-DD`, booleans as `TRUE`/`FALSE`.
fn cell_text(v: &DataRef<'_>) -> String {
    match v {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => d.as_f64().to_string(),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

// ---- CSV ------------------------------------------------------------------------------

fn read_csv(bytes: &[u8], encoding: CsvEncoding, known: &dyn Fn(&str) -> bool) -> Result<Table, ApiError> {
    let (text, used) = decode(bytes, encoding)?;
    if text.contains('\0') {
        return Err(not_a_spreadsheet());
    }
    let delimiter = sniff_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut non_empty = 0usize;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|_| not_a_spreadsheet())?;
        let cells: Vec<String> = record.iter().take(MAX_COLUMNS).map(str::to_owned).collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        non_empty += 1;
        if non_empty > MAX_ROWS + HEADER_SEARCH_ROWS {
            return Err(too_many_rows());
        }
        rows.push((i + 1, cells));
    }
    let mut table = into_table(rows, known)?;
    table.format = "csv";
    table.encoding = Some(used);
    Ok(table)
}

/// The file's text, NFC-normalised (Windows-1258 writes tone marks as combining
/// characters), and the name of the encoding used.
fn decode(bytes: &[u8], encoding: CsvEncoding) -> Result<(String, &'static str), ApiError> {
    let unreadable = || {
        bad_file(
            "invalid_encoding",
            "Tệp CSV không phải UTF-8. Hãy chọn encoding=windows-1258 hoặc lưu lại dạng \"CSV UTF-8\".",
            "The CSV file is not UTF-8. Choose encoding=windows-1258 or save it as \"CSV UTF-8\".",
        )
    };
    let (text, used): (String, &'static str) = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        (std::str::from_utf8(rest).map_err(|_| unreadable())?.to_owned(), "utf-8")
    } else if encoding == CsvEncoding::Auto && (bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF")) {
        let enc = if bytes.starts_with(b"\xFF\xFE") { encoding_rs::UTF_16LE } else { encoding_rs::UTF_16BE };
        let (text, _, had_errors) = enc.decode(bytes);
        if had_errors {
            return Err(not_a_spreadsheet());
        }
        (text.into_owned(), "utf-16")
    } else {
        match (encoding, std::str::from_utf8(bytes)) {
            (CsvEncoding::Windows1258, _) | (CsvEncoding::Auto, Err(_)) => {
                let (text, _, had_errors) = encoding_rs::WINDOWS_1258.decode(bytes);
                if had_errors {
                    return Err(unreadable());
                }
                (text.into_owned(), "windows-1258")
            }
            (_, Ok(s)) => (s.to_owned(), "utf-8"),
            (CsvEncoding::Utf8, Err(_)) => return Err(unreadable()),
        }
    };
    Ok((text.nfc().collect(), used))
}

/// Comma, semicolon (Excel in locales whose decimal mark is a comma) or tab: whichever the
/// first line holds most of.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |c: char| first.matches(c).count();
    [(b',', count(',')), (b';', count(';')), (b'\t', count('\t'))].into_iter().max_by_key(|(_, n)| *n).map(|(d, _)| d).unwrap_or(b',')
}

// ---- both -------------------------------------------------------------------------------

/// Finds the header row (the first of the first rows naming at least two known columns,
/// or one when the sheet has a single column) and keeps the rows below it.
fn into_table(rows: Vec<(usize, Vec<String>)>, known: &dyn Fn(&str) -> bool) -> Result<Table, ApiError> {
    let position = rows.iter().take(HEADER_SEARCH_ROWS).position(|(_, cells)| {
        let hits = cells.iter().filter(|c| known(c.trim())).count();
        hits >= 2 || (hits == 1 && cells.iter().filter(|c| !c.trim().is_empty()).count() == 1)
    });
    let Some(position) = position else {
        return Err(bad_file(
            "missing_header_row",
            "Không tìm thấy dòng tiêu đề cột: hãy dùng tiêu đề của tệp mẫu (GET /api/v1/imports/templates/{kind}.xlsx).",
            "No header row was found: use the headers of the template (GET /api/v1/imports/templates/{kind}.xlsx).",
        ));
    };
    let mut rows = rows.into_iter().skip(position);
    let Some((header_row, headers)) = rows.next() else { return Err(not_a_spreadsheet()) };
    let headers: Vec<String> = headers.iter().map(|h| h.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let width = headers.len();
    let rows: Vec<(usize, Vec<String>)> = rows
        .map(|(n, mut cells)| {
            cells.resize(width, String::new());
            (n, cells)
        })
        .collect();
    if rows.len() > MAX_ROWS {
        return Err(too_many_rows());
    }
    Ok(Table { format: "", encoding: None, sheet: None, headers, header_row, rows })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_run_like_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn windows_1258_is_read_and_normalised() {
        // "Hồ" in Windows-1258: H, o with circumflex (0xF4), combining grave (0xCC).
        let bytes = b"H\xF4\xCC,1961\n";
        let (text, used) = decode(bytes, CsvEncoding::Auto).unwrap();
        assert_eq!(used, "windows-1258");
        assert_eq!(text, "H\u{1ED3},1961\n");
    }

    #[test]
    fn delimiters_are_sniffed() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2;3"), b';');
        assert_eq!(sniff_delimiter("a,b\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
    }
}
