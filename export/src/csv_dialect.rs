//! CSV in the two dialects people meet.
//!
//! Owns: `excel` — what Excel and LibreOffice open with a double click in
//! a Spanish-speaking locale: UTF-8 with a byte-order mark, `;` between
//! fields, a decimal comma, CRLF line ends, and text cells that start
//! with `=`, `+`, `-`, `@`, a tab or a carriage return prefixed with `'`
//! so a spreadsheet never runs them as formulas (numbers are written as
//! numbers and are not touched); `rfc4180` — the data as it is: `,`, a
//! decimal point, CRLF, no mark, no escaping. Must never: decide the
//! columns or their values (that is [`crate::tidy`]).

use std::io::Write;

use crate::tidy::{Datum, Layout, TidyRow};
use crate::Result;

/// A CSV dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// For spreadsheets: BOM, `;`, decimal comma, formulas neutralised.
    Excel,
    /// RFC 4180: `,`, decimal point, the text as it is.
    Rfc4180,
}

/// Writes one table, header first.
pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    dialect: Dialect,
}

impl<W: Write> CsvWriter<W> {
    /// Starts the file: the mark (Excel) and the header row.
    pub fn new(mut w: W, dialect: Dialect, layout: &Layout) -> Result<CsvWriter<W>> {
        if dialect == Dialect::Excel {
            w.write_all("\u{FEFF}".as_bytes())?;
        }
        let out = csv::WriterBuilder::new()
            .delimiter(if dialect == Dialect::Excel { b';' } else { b',' })
            .terminator(csv::Terminator::CRLF)
            .from_writer(w);
        let mut writer = CsvWriter { out, dialect };
        let header: Vec<String> = layout.columns.iter().map(|c| writer.text(c)).collect();
        writer.out.write_record(&header).map_err(csv_error)?;
        Ok(writer)
    }

    /// One line per row.
    pub fn rows(&mut self, rows: &[TidyRow]) -> Result<()> {
        for row in rows {
            let fields: Vec<String> = row.cells.iter().map(|d| self.field(d)).collect();
            self.out.write_record(&fields).map_err(csv_error)?;
        }
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }

    fn field(&self, d: &Datum) -> String {
        match d {
            Datum::Empty => String::new(),
            Datum::Text(s) => self.text(s),
            Datum::Date(s) | Datum::Timestamp(s) => s.clone(),
            Datum::Integer(n) => n.to_string(),
            Datum::Number(f) if self.dialect == Dialect::Excel => f.to_string().replace('.', ","),
            Datum::Number(f) => f.to_string(),
            Datum::Boolean(b) => b.to_string(),
        }
    }

    fn text(&self, s: &str) -> String {
        let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
        if self.dialect == Dialect::Excel && risky {
            format!("'{s}")
        } else {
            s.to_string()
        }
    }
}

fn csv_error(e: csv::Error) -> crate::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => crate::Error::Io(e),
        other => crate::Error::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_escapes_formula_text_but_not_negative_numbers() {
        let w = CsvWriter { out: csv::Writer::from_writer(vec![]), dialect: Dialect::Excel };
        assert_eq!(w.field(&Datum::Text("-1+1".into())), "'-1+1");
        assert_eq!(w.field(&Datum::Text("@SUM(A1)".into())), "'@SUM(A1)");
        assert_eq!(w.field(&Datum::Text("agua".into())), "agua");
        assert_eq!(w.field(&Datum::Number(-64.79)), "-64,79");
        assert_eq!(w.field(&Datum::Integer(-3)), "-3");
        let raw = CsvWriter { out: csv::Writer::from_writer(vec![]), dialect: Dialect::Rfc4180 };
        assert_eq!(raw.field(&Datum::Text("=1".into())), "=1");
        assert_eq!(raw.field(&Datum::Number(-64.79)), "-64.79");
    }
}
