//! The EDAN form as an XLSForm, the spreadsheet ODK Central and
//! KoboToolbox build forms from: sheets `survey`, `choices` and
//! `settings`, labels in Spanish (every one from `schemas/labels.es.json`).
//!
//! Owns: writing [`crate::edan_form`] in XLSForm's conventions (groups and
//! repeats, `start`/`end` metadata, constraints for counts and IDs).
//! Must never: describe a question the import does not read.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::edan_form::{sections, Kind, NAME_PATTERN};
use crate::Error;

fn xlsx(e: XlsxError) -> Error {
    Error::Xlsx(e.to_string())
}

/// The XLSForm's bytes.
pub fn edan_xlsform() -> Result<Vec<u8>, Error> {
    let sections = sections()?;
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let mut survey: Vec<[String; 7]> = vec![];
    let mut choices: Vec<[String; 3]> = vec![];
    let s = |x: &str| x.to_string();
    for sec in &sections {
        if !sec.name.is_empty() {
            let kind = if sec.repeat { "begin_repeat" } else { "begin_group" };
            survey.push([s(kind), s(sec.name), s(sec.label), s(""), s(""), s(""), s("")]);
        }
        for q in &sec.questions {
            let (ty, constraint, message) = match &q.kind {
                Kind::Meta(m) => (s(m), s(""), s("")),
                Kind::Text if q.name == "zone_id" || q.name == "team" => {
                    (s("text"), format!("regex(., '{NAME_PATTERN}')"), s("Letras, números, - o _ (sin espacios)"))
                }
                Kind::Text => (s("text"), s(""), s("")),
                Kind::Integer => (s("integer"), s(". >= 0"), s("No puede ser negativo")),
                Kind::Decimal => (s("decimal"), s(". >= 0"), s("No puede ser negativo")),
                Kind::One(list, values) | Kind::Many(list, values) => {
                    for v in values {
                        if !choices.iter().any(|c| c[0] == *list && c[1] == *v) {
                            choices.push([list.clone(), v.clone(), ayni_export::labels::label(v)]);
                        }
                    }
                    let t = if matches!(q.kind, Kind::One(..)) { "select_one" } else { "select_multiple" };
                    (format!("{t} {list}"), s(""), s(""))
                }
                Kind::Geopoint => (s("geopoint"), s(""), s("")),
                Kind::Image => (s("image"), s(""), s("")),
            };
            let required = if q.required { "yes" } else { "" };
            survey.push([ty, q.name.clone(), q.label.clone(), s(required), constraint, message, s("")]);
        }
        if !sec.name.is_empty() {
            let kind = if sec.repeat { "end_repeat" } else { "end_group" };
            survey.push([s(kind), s(sec.name), s(""), s(""), s(""), s(""), s("")]);
        }
    }
    let head = [
        "type",
        "name",
        "label::Español (es)",
        "required",
        "constraint",
        "constraint_message::Español (es)",
        "appearance",
    ];
    let sheet = book.add_worksheet();
    sheet.set_name("survey").map_err(xlsx)?;
    for (c, h) in head.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(xlsx)?;
    }
    for (r, row) in survey.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, v).map_err(xlsx)?;
            }
        }
    }
    let sheet = book.add_worksheet();
    sheet.set_name("choices").map_err(xlsx)?;
    for (c, h) in ["list_name", "name", "label::Español (es)"].iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(xlsx)?;
    }
    for (r, row) in choices.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, v).map_err(xlsx)?;
        }
    }
    let sheet = book.add_worksheet();
    sheet.set_name("settings").map_err(xlsx)?;
    for (c, (h, v)) in [
        ("form_title", crate::edan_form::FORM_TITLE),
        ("form_id", crate::edan_form::FORM_ID),
        ("version", "1"),
        ("default_language", "Español (es)"),
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(xlsx)?;
        sheet.write_string(1, c as u16, *v).map_err(xlsx)?;
    }
    book.save_to_buffer().map_err(xlsx)
}
