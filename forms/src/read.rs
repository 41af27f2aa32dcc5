//! Reading a form export's tables into submissions: whichever tool wrote
//! them, a root table (one row per submission) and one table per repeat,
//! linked by a key column, with group paths joined by a separator.
//!
//! Owns: finding each question's column (by its full path, or by its name
//! at the end of one), turning cells into typed values (each bad cell
//! named by file, row and column), and building the EDAN record a
//! submission becomes. Must never: open files (`odk` and `kobo` do) or
//! decide whether a submission may be written (the node does).

use std::collections::BTreeMap;

use ayni_node::submissions::{Cell, Photo, Submission};
use serde_json::{json, Map, Value};

use crate::edan_form::{sections, Kind, Question, Target};
use crate::Error;

/// One table of an export.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The file (or sheet) it came from.
    pub file: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of cells (as text; empty for none).
    pub rows: Vec<Vec<String>>,
}

/// How a tool lays its export out.
pub struct Layout<'a> {
    /// The tool, for record keys (`odk`, `kobo`).
    pub tool: &'static str,
    /// Group path separator (`-` ODK, `/` Kobo).
    pub sep: char,
    /// The root table.
    pub root: Table,
    /// Repeat tables by repeat name.
    pub repeats: BTreeMap<String, Table>,
    /// Columns holding the submission's stable ID, in preference order.
    pub id_columns: &'a [&'a str],
    /// The column holding when the server received the submission.
    pub time_column: &'a str,
    /// The root's column a repeat's rows point at, and the repeat's column pointing at it.
    pub link: (&'a str, &'a str),
    /// A photo's bytes by file name.
    pub media: &'a dyn Fn(&str) -> Option<Vec<u8>>,
    /// What to say when a photo is missing.
    pub media_hint: &'a str,
    /// Geopoint columns: (path, part) → candidate column names.
    pub geo_columns: &'a dyn Fn(&[&str], &str) -> Vec<String>,
}

impl Table {
    fn find(&self, path: &[&str], sep: char) -> Option<usize> {
        let full: String = path.join(&sep.to_string());
        if let Some(i) = self.columns.iter().position(|c| *c == full) {
            return Some(i);
        }
        let name = path.last()?;
        let suffix = format!("{sep}{name}");
        let hits: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.columns[i] == *name || self.columns[i].ends_with(&suffix))
            .collect();
        (hits.len() == 1).then(|| hits[0])
    }
}

type Errors = Vec<(String, String)>;

fn cell(t: &Table, row: usize, column: &str) -> Cell {
    Cell { file: t.file.clone(), row: row + 2, column: column.to_string() }
}

/// One question's value in one row, typed; errors are pushed.
fn value(
    layout: &Layout,
    t: &Table,
    row: usize,
    path: &[&str],
    q: &Question,
    errors: &mut Errors,
) -> Option<(Value, Cell)> {
    let r = &t.rows[row];
    if q.kind == Kind::Geopoint {
        let find = |p: &str| (layout.geo_columns)(path, p).iter().find_map(|c| t.columns.iter().position(|x| x == c));
        let (lat, lon, accuracy, column) = match (find("latitude"), find("longitude")) {
            (Some(a), Some(b)) if !r[a].trim().is_empty() => {
                let accuracy = find("accuracy").map(|i| r[i].trim().to_string());
                (r[a].trim().to_string(), r[b].trim().to_string(), accuracy, t.columns[a].clone())
            }
            _ => {
                // "lat lon altitude accuracy" in the question's own column
                let i = t.find(path, layout.sep)?;
                let parts: Vec<&str> = r[i].split_whitespace().collect();
                if parts.len() < 2 {
                    return None;
                }
                let accuracy = parts.get(3).map(|a| a.to_string());
                (parts[0].to_string(), parts[1].to_string(), accuracy, t.columns[i].clone())
            }
        };
        let at = cell(t, row, &column);
        return match (lat.parse::<f64>(), lon.parse::<f64>()) {
            (Ok(lat), Ok(lon)) => {
                let mut point = json!({"lat": lat, "lon": lon, "captured_by": "gps"});
                // the receiver's accuracy, metres, when the tool recorded one
                if let Some(a) = accuracy.and_then(|a| a.parse::<f64>().ok()).filter(|a| a.is_finite() && *a >= 0.0) {
                    point["accuracy_m"] = json!(a);
                }
                Some((point, at))
            }
            _ => {
                errors.push((at.to_string(), format!("'{lat} {lon}' is not a GPS point")));
                None
            }
        };
    }
    let i = t.find(path, layout.sep)?;
    let text = r[i].trim();
    let at = cell(t, row, &t.columns[i]);
    if text.is_empty() {
        return None;
    }
    let bad = |errors: &mut Errors, what: &str| {
        errors.push((at.to_string(), format!("'{text}' is not {what}")));
        None
    };
    let v = match &q.kind {
        Kind::Integer => match text
            .parse::<i64>()
            .ok()
            .or_else(|| text.parse::<f64>().ok().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        {
            Some(n) => json!(n),
            None => return bad(errors, "a whole number"),
        },
        Kind::Decimal => match text.replace(',', ".").parse::<f64>() {
            Ok(f) if f.is_finite() => json!(f),
            _ => return bad(errors, "a number"),
        },
        Kind::Many(..) => Value::Array(text.split_whitespace().map(|s| json!(s)).collect()),
        _ => json!(text),
    };
    Some((v, at))
}

/// Every submission of the export, as EDAN records.
pub fn submissions(layout: &Layout) -> Result<Vec<Submission>, Error> {
    let sections = sections()?;
    let mut errors: Errors = vec![];
    let mut out = vec![];
    let root = &layout.root;
    // a file with none of the tool's instance-ID columns is no export of
    // submissions (the blank form, another spreadsheet): one line says so
    if !layout.id_columns.iter().any(|c| root.columns.iter().any(|x| x == c)) {
        let form = root.columns.iter().any(|c| c == "type") && root.columns.iter().any(|c| c == "name");
        return Err(Error::File {
            file: root.file.clone(),
            reason: format!(
                "this is not a {} submissions export: it has none of the columns {}{}",
                layout.tool,
                layout.id_columns.join(", "),
                if form { " (it is a form: export the submissions collected with it)" } else { "" }
            ),
        });
    }
    for row in 0..root.rows.len() {
        let here = |c: &str| cell(root, row, c);
        let id = layout.id_columns.iter().find_map(|c| {
            let i = root.columns.iter().position(|x| x == c)?;
            let v = root.rows[row][i].trim();
            (!v.is_empty()).then(|| v.trim_start_matches("uuid:").to_string())
        });
        let Some(id) = id else {
            errors
                .push((here(layout.id_columns.first().copied().unwrap_or("KEY")).to_string(), "no instance ID".into()));
            continue;
        };
        let mut fields = Map::new();
        let mut provenance = vec![];
        let mut references = vec![];
        let (mut team, mut zone, mut zone_name, mut zone_geo) = (None, None, None, None);
        let mut tally = Map::new();
        let mut tally_at = vec![];
        for sec in sections.iter().filter(|s| !s.repeat) {
            for q in &sec.questions {
                let path: Vec<&str> = if sec.name.is_empty() { vec![&q.name] } else { vec![sec.name, &q.name] };
                let got = value(layout, root, row, &path, q, &mut errors);
                if got.is_none() && q.required {
                    let column = path.join(&layout.sep.to_string());
                    errors.push((here(&column).to_string(), format!("{} is required", q.name)));
                }
                let Some((v, at)) = got else { continue };
                match &q.target {
                    Target::Start => fields.insert("evaluation_started_at".into(), v),
                    Target::End => fields.insert("evaluation_ended_at".into(), v),
                    Target::Event => {
                        references.push((
                            "event_id".to_string(),
                            "event".to_string(),
                            v.as_str().unwrap_or("").to_string(),
                            at.clone(),
                        ));
                        provenance.push(("event_id".to_string(), at));
                        None
                    }
                    Target::Team => {
                        team = v.as_str().map(String::from).map(|t| (t, at));
                        None
                    }
                    Target::ZoneId => {
                        zone = v.as_str().map(String::from).map(|z| (z, at));
                        None
                    }
                    Target::ZoneName => {
                        zone_name = Some(v);
                        None
                    }
                    Target::ZoneGeo => {
                        zone_geo = Some((v, at));
                        None
                    }
                    Target::Field(p) => {
                        provenance.push((p.join("."), at));
                        match p.as_slice() {
                            [one] => fields.insert(one.to_string(), v),
                            [a, b] => {
                                let obj = fields.entry(a.to_string()).or_insert_with(|| json!({}));
                                obj.as_object_mut().map(|o| o.insert(b.to_string(), v));
                                None
                            }
                            _ => None,
                        }
                    }
                    Target::Tally(f) => {
                        tally_at.push((f.clone(), at));
                        tally.insert(f.clone(), v)
                    }
                    _ => None,
                };
            }
        }
        let (Some((team, team_at)), Some((zone, zone_at))) = (team, zone) else { continue };
        provenance.push((format!("tallies.{zone}"), zone_at.clone()));
        provenance.push((format!("tallies.{zone}.{team}"), team_at.clone()));
        provenance.push((format!("zones.{zone}"), zone_at.clone()));
        for (f, at) in tally_at {
            provenance.push((format!("tallies.{zone}.{team}.{f}"), at));
        }
        let mut z = Map::new();
        z.insert("name".into(), zone_name.unwrap_or_else(|| json!(zone)));
        if let Some((g, at)) = zone_geo {
            provenance.push((format!("zones.{zone}.geo"), at));
            z.insert("geo".into(), g);
        }
        z.insert("assigned_team".into(), json!(team));
        fields.insert("zones".into(), json!({ &zone: z }));
        fields.insert("tallies".into(), json!({ &zone: { &team: tally } }));
        fields.insert(
            "title".into(),
            json!(format!("EDAN {team} — zona {zone} ({} {})", layout.tool, id.chars().take(8).collect::<String>())),
        );
        fields.insert("provenance".into(), json!("import"));
        fields.insert("source_ref".into(), json!(format!("{}:{id}", layout.tool)));
        // repeats: needs and photos of this submission
        let link = root.columns.iter().position(|c| c == layout.link.0).map(|i| root.rows[row][i].clone());
        let mut needs = Map::new();
        let mut photos = vec![];
        for sec in sections.iter().filter(|s| s.repeat) {
            let Some(t) = layout.repeats.get(sec.name) else { continue };
            let Some(parent) = t.columns.iter().position(|c| c == layout.link.1) else {
                errors.push((format!("{} row 1", t.file), format!("no {} column", layout.link.1)));
                continue;
            };
            let mine = (0..t.rows.len()).filter(|&r| Some(&t.rows[r][parent]) == link.as_ref());
            for (n, r) in mine.enumerate() {
                let mut item = Map::new();
                let mut photo: Option<(String, Cell)> = None;
                let mut caption = None;
                for q in &sec.questions {
                    let path = [sec.name, q.name.as_str()];
                    let got = value(layout, t, r, &path, q, &mut errors);
                    if got.is_none() && q.required {
                        errors.push((
                            cell(t, r, &path.join(&layout.sep.to_string())).to_string(),
                            format!("{} is required", q.name),
                        ));
                    }
                    let Some((v, at)) = got else { continue };
                    match &q.target {
                        Target::Need(f) => {
                            provenance.push((format!("needs.n{}.{f}", n + 1), at));
                            item.insert(f.clone(), v);
                        }
                        Target::Photo => photo = v.as_str().map(|p| (p.to_string(), at)),
                        Target::Caption => caption = v.as_str().map(String::from),
                        _ => {}
                    }
                }
                if sec.name == "needs" && !item.is_empty() {
                    item.insert("zone".into(), json!(zone));
                    item.insert("identified_by_team".into(), json!(team));
                    needs.insert(format!("n{}", n + 1), Value::Object(item));
                }
                if let Some((name, at)) = photo {
                    match (layout.media)(&name) {
                        Some(bytes) => photos.push(Photo { name, bytes, caption, at }),
                        None => errors
                            .push((at.to_string(), format!("photo {name} is not in the export{}", layout.media_hint))),
                    }
                }
            }
        }
        if !needs.is_empty() {
            fields.insert("needs".into(), Value::Object(needs));
        }
        let submitted_at = root.columns.iter().position(|x| x == layout.time_column).and_then(|i| {
            let v = root.rows[row][i].trim();
            (!v.is_empty() && v.len() <= 64).then(|| v.to_string())
        });
        out.push(Submission {
            kind: "edan".into(),
            key: format!("{}-{id}", layout.tool),
            tool: layout.tool.to_string(),
            submitted_at,
            fields,
            references,
            photos,
            provenance,
            row: here(layout.id_columns.first().copied().unwrap_or("KEY")),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Rows(errors))
    }
}
