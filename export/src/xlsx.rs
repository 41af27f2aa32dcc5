//! XLSX workbooks: one sheet per table.
//!
//! Owns: the workbook — a bold, frozen header row with filters, numbers
//! as numbers, dates as dates (`yyyy-mm-dd`), instants as UTC date-times
//! (`yyyy-mm-dd hh:mm:ss`), booleans as booleans, text as text (cut at
//! Excel's 32,767 characters, marked with `…`). Must never: write a
//! formula: every cell is a value.

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use time::format_description::well_known::Rfc3339;

use crate::tidy::{Datum, Layout, TidyRow};
use crate::{Error, Result};

/// Excel's limits.
const MAX_ROWS: usize = 1_048_576;
const MAX_TEXT: usize = 32_767;

/// The workbook's bytes: one sheet per `(layout, rows)`.
pub fn workbook(sheets: &[(&Layout, &[TidyRow])]) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let instant = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (layout, rows) in sheets {
        if rows.len() + 1 > MAX_ROWS {
            return Err(Error::Xlsx(format!(
                "table {} has {} rows, more than a sheet holds ({}): export it as CSV",
                layout.table,
                rows.len(),
                MAX_ROWS - 1
            )));
        }
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name(&layout.name)).map_err(xlsx)?;
        for (c, name) in layout.columns.iter().enumerate() {
            sheet.write_string_with_format(0, col(c), name, &bold).map_err(xlsx)?;
        }
        for (r, row) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, d) in row.cells.iter().enumerate() {
                let c = col(c);
                match d {
                    Datum::Empty => continue,
                    Datum::Text(s) => sheet.write_string(r, c, cut(s)).map(|_| ()),
                    Datum::Integer(n) => sheet.write_number(r, c, *n as f64).map(|_| ()),
                    Datum::Number(f) => sheet.write_number(r, c, *f).map(|_| ()),
                    Datum::Boolean(b) => sheet.write_boolean(r, c, *b).map(|_| ()),
                    Datum::Date(s) => match ExcelDateTime::parse_from_str(s) {
                        Ok(d) => sheet.write_datetime_with_format(r, c, &d, &date).map(|_| ()),
                        Err(_) => sheet.write_string(r, c, cut(s)).map(|_| ()),
                    },
                    Datum::Timestamp(s) => match utc(s) {
                        Some(d) => sheet.write_datetime_with_format(r, c, &d, &instant).map(|_| ()),
                        None => sheet.write_string(r, c, cut(s)).map(|_| ()),
                    },
                }
                .map_err(xlsx)?;
            }
        }
        sheet.set_freeze_panes(1, 0).map_err(xlsx)?;
        if !layout.columns.is_empty() {
            sheet.autofilter(0, 0, rows.len() as u32, col(layout.columns.len() - 1)).map_err(xlsx)?;
        }
    }
    book.save_to_buffer().map_err(xlsx)
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// Sheet names: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    name.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect()
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_TEXT - 1).collect();
    out.push('…');
    out
}

/// An RFC 3339 instant in UTC, as Excel's date-time.
fn utc(s: &str) -> Option<ExcelDateTime> {
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok()?.to_offset(time::UtcOffset::UTC);
    let text = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    ExcelDateTime::parse_from_str(&text).ok()
}

fn xlsx(e: rust_xlsxwriter::XlsxError) -> Error {
    Error::Xlsx(e.to_string())
}
