//! What every report page shares: the print-friendly stylesheet, Spanish
//! number formatting, the "generated on" label, and tables rendered the
//! same way as HTML (with raw values in `data-value`) and as Markdown.
//!
//! Owns: those. Must never: know which report it renders.

use std::fmt::Write;

use crate::svg::{escape, trim};

pub(crate) const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#111;line-height:1.4}\
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #333;padding-bottom:.2rem;margin-top:2rem}\
.sub{color:#444;margin-top:0}table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}\
th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.pending,td.pending{background:#fff3df}.total{font-weight:bold;background:#eef}.wide{overflow-x:auto}\
.note{background:#fff3df;border-left:4px solid #e08a00;padding:.4rem .7rem}svg{max-width:100%;height:auto}\
.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{border:1px solid #999;padding:.4rem .7rem;min-width:9rem}\
.card b{display:block;font-size:1.5rem}@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg,.card{break-inside:avoid}}";

/// "2026-11-26 23:13 UTC": when a report was made (the caller reads the
/// clock).
pub fn generated_label(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// Spanish number formatting: `1.800`, `2,5`.
pub fn number(v: f64) -> String {
    let text = trim(v);
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped},{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// One cell of a report table.
pub(crate) enum Value {
    Text(String),
    Number(f64),
    Empty,
}

/// One table of a report, with the `data-key` of each row.
pub(crate) struct Section {
    pub id: &'static str,
    pub title: String,
    pub intro: Option<String>,
    pub chart: Option<String>,
    pub head: Vec<String>,
    pub rows: Vec<(String, Vec<Value>)>,
    /// What to say when there are no rows.
    pub empty: &'static str,
}

/// A whole page: heading, subtitle lines, sections.
pub(crate) fn html(title: &str, heading: &str, sub: &[String], sections: &[Section]) -> String {
    let mut s = format!(
        r#"<!doctype html><html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>{CSS}</style></head><body><header><h1>{}</h1>"#,
        escape(title),
        escape(heading)
    );
    for line in sub {
        let _ = write!(s, r#"<p class="sub">{}</p>"#, escape(line));
    }
    s.push_str("</header>");
    for sec in sections {
        let _ = write!(s, r#"<section id="{}"><h2>{}</h2>"#, sec.id, escape(&sec.title));
        if let Some(intro) = &sec.intro {
            let _ = write!(s, "<p>{}</p>", escape(intro));
        }
        if sec.rows.is_empty() {
            let _ = write!(s, "<p>{}</p></section>", escape(sec.empty));
            continue;
        }
        if let Some(chart) = &sec.chart {
            s.push_str(chart);
        }
        s.push_str(r#"<div class="wide"><table><thead><tr>"#);
        for h in &sec.head {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr></thead><tbody>");
        for (key, cells) in &sec.rows {
            let _ = write!(s, r#"<tr data-key="{}">"#, escape(key));
            for (i, c) in cells.iter().enumerate() {
                let column = sec.head.get(i).map(|h| escape(h)).unwrap_or_default();
                match c {
                    Value::Text(t) => {
                        let _ = write!(s, "<td>{}</td>", escape(t));
                    }
                    Value::Number(v) => {
                        let _ = write!(
                            s,
                            r#"<td class="n" data-column="{column}" data-value="{}">{}</td>"#,
                            trim(*v),
                            number(*v)
                        );
                    }
                    Value::Empty => s.push_str("<td></td>"),
                }
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table></div></section>");
    }
    s.push_str("</body></html>\n");
    s
}

/// Markdown table cell text: no pipes, no line breaks.
pub(crate) fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The same page as Markdown (charts left out).
pub(crate) fn markdown(heading: &str, sub: &[String], sections: &[Section]) -> String {
    let mut s = format!("# {}\n\n", md(heading));
    for line in sub {
        let _ = writeln!(s, "{}\n", md(line));
    }
    markdown_sections(&mut s, sections);
    s
}

/// Sections as Markdown tables, appended to `s`.
pub(crate) fn markdown_sections(s: &mut String, sections: &[Section]) {
    for sec in sections {
        let _ = write!(s, "## {}\n\n", md(&sec.title));
        if let Some(intro) = &sec.intro {
            let _ = write!(s, "{}\n\n", md(intro));
        }
        if sec.rows.is_empty() {
            let _ = write!(s, "{}\n\n", md(sec.empty));
            continue;
        }
        let _ = writeln!(s, "| {} |", sec.head.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | "));
        let numeric = |i: usize| sec.rows.iter().any(|(_, cells)| matches!(cells.get(i), Some(Value::Number(_))));
        let align: Vec<&str> = (0..sec.head.len()).map(|i| if numeric(i) { "---:" } else { "---" }).collect();
        let _ = writeln!(s, "|{}|", align.join("|"));
        for (_, cells) in &sec.rows {
            let text: Vec<String> = cells
                .iter()
                .map(|c| match c {
                    Value::Text(t) => md(t),
                    Value::Number(v) => number(*v),
                    Value::Empty => String::new(),
                })
                .collect();
            let _ = writeln!(s, "| {} |", text.join(" | "));
        }
        s.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_the_spanish_way() {
        assert_eq!(number(1800.0), "1.800");
        assert_eq!(number(1234567.5), "1.234.567,5");
        assert_eq!(number(-21.48), "-21,48");
        assert_eq!(number(0.0), "0");
    }
}
