//! Tidy tables: what a person expects in a spreadsheet row.
//!
//! Owns: which of [`ayni_node::tables`]' columns an export shows and how —
//! the record's key and title first, document IDs replaced by the key and
//! title of the record they name (`event_id` → `event_key`,
//! `event_title`), lists and JSON as text, each row's point (its own, else
//! its zone's, else its record's) and a stable feature ID (`KIND:KEY`, and
//! `/`-joined item keys for a collection's rows). Must never: read the
//! store (references are looked up through [`References`]) or encode a
//! format.

use std::collections::HashMap;

use ayni_node::node::Record;
use ayni_node::tables::{Cell, ColumnType, Meta, Source, Table, Tables};
use serde_json::Value;

use crate::{Error, Result};

/// Lists (of enum values, of reference keys) are joined with this.
pub const LIST_SEPARATOR: &str = "; ";

/// One value of a tidy row.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// Nothing.
    Empty,
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A finite number.
    Number(f64),
    /// True or false.
    Boolean(bool),
    /// A date, `YYYY-MM-DD`.
    Date(String),
    /// An instant, RFC 3339.
    Timestamp(String),
}

impl Datum {
    /// As a JSON value, `None` when empty.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Datum::Empty => None,
            Datum::Text(s) | Datum::Date(s) | Datum::Timestamp(s) => Some(Value::String(s.clone())),
            Datum::Integer(n) => Some((*n).into()),
            Datum::Number(f) => serde_json::Number::from_f64(*f).map(Value::Number),
            Datum::Boolean(b) => Some(Value::Bool(*b)),
        }
    }
}

/// Where one output column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Cell(usize),
    RefKey(usize),
    RefTitle(usize),
    RecordKey,
    RecordTitle,
}

/// One table as an export shows it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Its short name (sheet, layer): the kind, or the collection.
    pub name: String,
    /// Its full table name (`edan_tallies`).
    pub table: String,
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Each column's type (references and lists are text).
    pub types: Vec<ColumnType>,
    plans: Vec<Plan>,
    index: usize,
    point: Option<(usize, usize)>,
    zone: Option<usize>,
}

/// One row: its feature ID, its values, its point as `(longitude, latitude)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TidyRow {
    /// Stable: `KIND:KEY`, or `KIND:KEY/ITEM[/ITEM]` for a collection's row.
    pub id: String,
    /// One value per column of its layout.
    pub cells: Vec<Datum>,
    /// Longitude and latitude (WGS 84), when the row has a place.
    pub point: Option<(f64, f64)>,
}

/// Looks references up by document ID, each once.
pub struct References<'f> {
    find: Box<dyn FnMut(&str) -> Option<(String, Option<String>)> + 'f>,
    cache: HashMap<String, Option<(String, Option<String>)>>,
}

impl<'f> References<'f> {
    /// `find` returns a record's key and title by its ID, `None` when this
    /// node does not hold it (the ID is shown then).
    pub fn new(find: impl FnMut(&str) -> Option<(String, Option<String>)> + 'f) -> References<'f> {
        References { find: Box::new(find), cache: HashMap::new() }
    }

    fn get(&mut self, id: &str) -> (String, String) {
        if !self.cache.contains_key(id) {
            let found = (self.find)(id);
            self.cache.insert(id.to_string(), found);
        }
        match self.cache.get(id) {
            Some(Some((key, title))) => (key.clone(), title.clone().unwrap_or_default()),
            _ => (id.to_string(), String::new()),
        }
    }
}

/// The tables of one kind, as an export shows them.
#[derive(Debug, Clone)]
pub struct Tidy {
    tables: Tables,
    kind: String,
    /// The chosen tables.
    pub layouts: Vec<Layout>,
    /// The kind table's point columns, for rows without a place of their own.
    record_point: Option<(usize, usize)>,
    /// The kind's collection keyed by zone that has points.
    zones: Option<(usize, (usize, usize))>,
}

impl Tidy {
    /// The tables of `kind`: only `table` (the kind itself, a collection
    /// such as `tallies`, or a full name such as `edan_tallies`), or all.
    pub fn new(tables: Tables, kind: &str, table: Option<&str>) -> Result<Tidy> {
        let of_kind: Vec<(usize, &Table)> = tables.tables.iter().enumerate().filter(|(_, t)| t.kind == kind).collect();
        if of_kind.is_empty() {
            return Err(Error::UnknownKind(kind.to_string()));
        }
        let short = |t: &Table| t.collection.clone().unwrap_or_else(|| t.kind.clone());
        let chosen: Vec<(usize, &Table)> = match table {
            None => of_kind.clone(),
            Some(name) => {
                let found: Vec<(usize, &Table)> =
                    of_kind.iter().copied().filter(|(_, t)| t.name == name || short(t) == name).take(1).collect();
                if found.is_empty() {
                    return Err(Error::UnknownTable {
                        kind: kind.to_string(),
                        table: name.to_string(),
                        choices: of_kind.iter().map(|(_, t)| short(t)).collect(),
                    });
                }
                found
            }
        };
        let layouts = chosen.iter().map(|(i, t)| layout(*i, t, short(t))).collect();
        let record_point = of_kind.iter().find(|(_, t)| t.collection.is_none()).and_then(|(_, t)| point_columns(t));
        let zones = of_kind
            .iter()
            .filter(|(_, t)| t.depth == 1 && t.primary_key.get(1).is_some_and(|k| k == "zone"))
            .find_map(|(i, t)| point_columns(t).map(|p| (*i, p)));
        Ok(Tidy { tables, kind: kind.to_string(), layouts, record_point, zones })
    }

    /// The rows `record` makes in layout `n`.
    pub fn rows(&self, n: usize, record: &Record, refs: &mut References) -> Vec<TidyRow> {
        let Some(layout) = self.layouts.get(n) else { return vec![] };
        if record.kind != self.kind {
            return vec![];
        }
        let table = &self.tables.tables[layout.index];
        let rows = self.tables.rows(layout.index, 0, record);
        let mut places: Option<Places> = None;
        rows.iter()
            .map(|row| {
                let mut cells = Vec::with_capacity(layout.plans.len());
                for plan in &layout.plans {
                    cells.push(match *plan {
                        Plan::Cell(i) => datum(table.columns[i].ty, &row.cells[i]),
                        Plan::RecordKey => Datum::Text(record.key.clone()),
                        Plan::RecordTitle => record.title.clone().map(Datum::Text).unwrap_or(Datum::Empty),
                        Plan::RefKey(i) | Plan::RefTitle(i) => {
                            let ids: Vec<&str> = match &row.cells[i] {
                                Cell::Text(id) => vec![id],
                                Cell::TextList(ids) => ids.clone(),
                                _ => vec![],
                            };
                            let found: Vec<(String, String)> = ids.iter().map(|id| refs.get(id)).collect();
                            let parts: Vec<String> = found
                                .into_iter()
                                .map(|(k, t)| if matches!(plan, Plan::RefKey(_)) { k } else { t })
                                .collect();
                            if parts.iter().all(String::is_empty) {
                                Datum::Empty
                            } else {
                                Datum::Text(parts.join(LIST_SEPARATOR))
                            }
                        }
                    });
                }
                let own = layout.point.and_then(|p| point(&row.cells, p));
                let point = own.or_else(|| {
                    let places = places.get_or_insert_with(|| self.places(record));
                    let zone = layout.zone.and_then(|z| match &row.cells[z] {
                        Cell::Text(z) => places.zones.get(*z).copied(),
                        _ => None,
                    });
                    zone.or(places.record)
                });
                let id = if row.keys.is_empty() {
                    format!("{}:{}", record.kind, record.key)
                } else {
                    format!("{}:{}/{}", record.kind, record.key, row.keys.join("/"))
                };
                TidyRow { id, cells, point }
            })
            .collect()
    }

    fn places(&self, record: &Record) -> Places {
        let kind_index = self.tables.tables.iter().position(|t| t.kind == self.kind && t.collection.is_none());
        let record_point = match (kind_index, self.record_point) {
            (Some(i), Some(p)) => self.tables.rows(i, 0, record).first().and_then(|r| point(&r.cells, p)),
            _ => None,
        };
        let mut zones = HashMap::new();
        if let Some((i, p)) = self.zones {
            for row in self.tables.rows(i, 0, record) {
                if let (Some(zone), Some(pt)) = (row.keys.first(), point(&row.cells, p)) {
                    zones.insert(zone.to_string(), pt);
                }
            }
        }
        Places { record: record_point, zones }
    }
}

struct Places {
    record: Option<(f64, f64)>,
    zones: HashMap<String, (f64, f64)>,
}

fn layout(index: usize, table: &Table, name: String) -> Layout {
    let mut columns = vec![];
    let mut types = vec![];
    let mut plans = vec![];
    let mut push = |name: String, ty: ColumnType, plan: Plan| {
        columns.push(name);
        types.push(ty);
        plans.push(plan);
    };
    for (i, c) in table.columns.iter().enumerate() {
        match (&c.source, &c.reference) {
            (Source::Record(Meta::Id), _) if table.collection.is_some() => {
                push(format!("{}_key", table.kind), ColumnType::Text, Plan::RecordKey);
                push(format!("{}_title", table.kind), ColumnType::Text, Plan::RecordTitle);
            }
            (Source::Record(Meta::Id | Meta::Heads | Meta::Fields | Meta::Position), _) => {}
            (_, Some(_)) => {
                let (stem, plural) = match (c.name.strip_suffix("_ids"), c.name.strip_suffix("_id")) {
                    (Some(stem), _) => (stem, "s"),
                    (None, Some(stem)) => (stem, ""),
                    (None, None) => (c.name.as_str(), if c.ty == ColumnType::TextList { "s" } else { "" }),
                };
                push(format!("{stem}_key{plural}"), ColumnType::Text, Plan::RefKey(i));
                push(format!("{stem}_title{plural}"), ColumnType::Text, Plan::RefTitle(i));
            }
            _ => {
                let ty = if matches!(c.ty, ColumnType::TextList | ColumnType::Json) { ColumnType::Text } else { c.ty };
                push(c.name.clone(), ty, Plan::Cell(i));
            }
        }
    }
    let zone = table.columns.iter().position(|c| c.name == "zone" && c.ty == ColumnType::Text);
    Layout { name, table: table.name.clone(), columns, types, plans, index, point: point_columns(table), zone }
}

/// The first pair of number columns `X_lat`, `X_lon` (or `lat`, `lon`).
fn point_columns(table: &Table) -> Option<(usize, usize)> {
    let numbers = |suffix: &str| {
        table
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ty == ColumnType::Number)
            .filter_map(move |(i, c)| c.name.strip_suffix(suffix).map(|stem| (i, stem.to_string())))
            .collect::<Vec<_>>()
    };
    let lons = numbers("lon");
    numbers("lat").into_iter().find_map(|(lat, stem)| lons.iter().find(|(_, s)| *s == stem).map(|(lon, _)| (lat, *lon)))
}

/// `(longitude, latitude)` when both are there and in range.
fn point(cells: &[Cell], (lat, lon): (usize, usize)) -> Option<(f64, f64)> {
    let number = |c: &Cell| match c {
        Cell::Number(f) => Some(*f),
        Cell::Integer(n) => Some(*n as f64),
        _ => None,
    };
    let (lat, lon) = (number(cells.get(lat)?)?, number(cells.get(lon)?)?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lon, lat))
}

fn datum(ty: ColumnType, cell: &Cell) -> Datum {
    match cell {
        Cell::Empty => Datum::Empty,
        Cell::Text(s) if ty == ColumnType::Date => Datum::Date(s.to_string()),
        Cell::Text(s) if ty == ColumnType::Timestamp => Datum::Timestamp(s.to_string()),
        Cell::Text(s) => Datum::Text(s.to_string()),
        Cell::Integer(n) => Datum::Integer(*n),
        Cell::Number(f) => Datum::Number(*f),
        Cell::Boolean(b) => Datum::Boolean(*b),
        Cell::TextList(items) if items.is_empty() => Datum::Empty,
        Cell::TextList(items) => Datum::Text(items.join(LIST_SEPARATOR)),
        Cell::Json(v) => Datum::Text(v.to_string()),
    }
}
