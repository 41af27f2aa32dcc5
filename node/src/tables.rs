//! The records as tables, derived from their JSON Schemas: the one
//! tabular shape both the PostgreSQL mirror and the spreadsheet and map
//! exports use.
//!
//! Owns: which tables and typed columns each kind gets (one table per
//! kind, one child table per keyed collection) and the cells a record
//! becomes in them. Must never: know a field by name — everything comes
//! from `schemas/` (`x-keys` names a collection's key columns, `item_id`
//! otherwise; `x-ref` marks references) — or encode cells for a
//! particular format (SQL `COPY`, CSV dialects, XLSX: the callers do).
//!
//! Rules, applied to each kind's schema (`$ref`s followed):
//! - a scalar field becomes a typed column: `string` → text (`date`,
//!   `date-time` formats → date, timestamp), `integer`, `number`,
//!   `boolean`, an `enum` → text with its allowed values; an array of
//!   strings → a text list;
//! - an object with `properties` is flattened: `location.department` →
//!   `location_department` (so a point gives `geo_lat`, `geo_lon`);
//! - an object keyed by names or IDs (`additionalProperties`) at the top
//!   of a record is a child table `KIND_FIELD`, one row per key (per key
//!   path when its values are keyed again, as EDAN tallies per zone and
//!   team), with the item's scalars typed as above; deeper keyed objects
//!   and other arrays stay JSON;
//! - every kind table also has the record's ID, key, title, status,
//!   conflict count, flags, creation, heads, all its fields as JSON and
//!   its feed position; every child row its record's ID and key path.
//!   Nothing is lost: the typed columns are a convenience over the JSON.
//! - a value that is not of its column's type (or outside its enum) is
//!   an empty cell there; the JSON keeps it.

use serde_json::Value;

use crate::node::Record;
use crate::schema::Schemas;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (an enum's allowed values are in [`Column::allowed`]).
    Text,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// True or false.
    Boolean,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// An RFC 3339 instant.
    Timestamp,
    /// A list of texts.
    TextList,
    /// Anything else, as JSON.
    Json,
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A field at this path inside the record's fields (kind tables) or
    /// the item (child tables).
    Field(Vec<String>),
    /// Part of the record itself.
    Record(Meta),
    /// The row's key at this depth (child tables).
    KeyPart(usize),
}

/// The parts of a record that are not its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// Its document ID (the `record_id` of child rows).
    Id,
    /// Its key.
    Key,
    /// Its title.
    Title,
    /// Its lifecycle state.
    Status,
    /// Its conflict count.
    Conflicts,
    /// Its flags.
    Flags,
    /// When it was created.
    CreatedAt,
    /// The node that created it.
    CreatedBy,
    /// Its document heads.
    Heads,
    /// All its fields, as JSON.
    Fields,
    /// The change feed position the row was made at.
    Position,
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name (a lower-case identifier).
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// The values an enum allows.
    pub allowed: Option<Vec<String>>,
    /// Never empty.
    pub required: bool,
    /// The kind of record it refers to (`x-ref`): its text (or each text
    /// of its list) is a document ID.
    pub reference: Option<String>,
    /// Where its value comes from.
    pub source: Source,
}

/// One table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its name: the kind, or `KIND_FIELD` for a child table.
    pub name: String,
    /// The kind whose records fill it.
    pub kind: String,
    /// For a child table, the collection's field; `None` for a kind table.
    pub collection: Option<String>,
    /// How deep the collection's keys go (1, or 2 for keyed-by-keyed).
    pub depth: usize,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// The columns that identify a row.
    pub primary_key: Vec<String>,
}

/// Every table, kind tables first (a child table refers to its kind's).
#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    /// The tables.
    pub tables: Vec<Table>,
}

/// One cell: a value of its column's type, borrowed from the record
/// where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'r> {
    /// No value (or one not of the column's type).
    Empty,
    /// Text, a date or a timestamp.
    Text(&'r str),
    /// A whole number.
    Integer(i64),
    /// A finite number.
    Number(f64),
    /// True or false.
    Boolean(bool),
    /// A list of texts.
    TextList(Vec<&'r str>),
    /// JSON.
    Json(&'r Value),
}

/// One row of a table.
#[derive(Debug, Clone)]
pub struct Row<'r> {
    /// Its table's index in [`Tables::tables`].
    pub table: usize,
    /// The record's fields (kind tables) or the item (child tables).
    pub item: &'r Value,
    /// The item's key path (child tables; empty for kind tables).
    pub keys: Vec<&'r str>,
    /// One cell per column.
    pub cells: Vec<Cell<'r>>,
}

impl Column {
    /// A field kept as JSON.
    fn json(path: Vec<String>) -> Column {
        Column {
            name: path.join("_"),
            ty: ColumnType::Json,
            allowed: None,
            required: false,
            reference: None,
            source: Source::Field(path),
        }
    }

    fn meta(name: &str, ty: ColumnType, required: bool, source: Source) -> Column {
        Column { name: name.to_string(), ty, allowed: None, required, reference: None, source }
    }
}

/// A schema node's place: the file it sits in and the node.
type At<'a> = (&'a str, &'a Value);

struct Walker<'a> {
    schemas: &'a Schemas,
}

impl<'a> Walker<'a> {
    /// Follows `$ref` (same file or another schema file) until a node
    /// without one; merges nothing (the caller reads `properties` of both).
    fn deref(&self, at: At<'a>) -> Option<At<'a>> {
        let r = at.1.get("$ref")?.as_str()?;
        let (file, pointer) = r.split_once('#').unwrap_or((r, ""));
        let name: &'a str = if file.is_empty() { at.0 } else { file.trim_end_matches(".schema.json") };
        let doc = self.schemas.document(name)?;
        Some((name, doc.pointer(pointer)?))
    }

    /// The node and every node its `$ref` chain leads to.
    fn chain(&self, at: At<'a>) -> Vec<At<'a>> {
        let mut out = vec![at];
        let mut cur = at;
        while let Some(next) = self.deref(cur) {
            out.push(next);
            cur = next;
            if out.len() > 16 {
                break;
            }
        }
        out
    }

    fn get(&self, at: At<'a>, key: &str) -> Option<&'a Value> {
        self.chain(at).into_iter().find_map(|(_, v)| v.get(key))
    }

    /// `properties` of the node and of what it refers to, in order.
    fn properties(&self, at: At<'a>) -> Vec<(String, At<'a>)> {
        let mut out: Vec<(String, At<'a>)> = vec![];
        for (doc, v) in self.chain(at) {
            if let Some(p) = v.get("properties").and_then(Value::as_object) {
                for (k, s) in p {
                    if !out.iter().any(|(n, _)| n == k) {
                        out.push((k.clone(), (doc, s)));
                    }
                }
            }
        }
        out
    }

    /// The schema of a keyed object's values, when it is one.
    fn keyed(&self, at: At<'a>) -> Option<At<'a>> {
        self.chain(at)
            .into_iter()
            .find_map(|(doc, v)| v.get("additionalProperties").filter(|a| a.is_object()).map(|a| (doc, a)))
    }

    /// What a scalar node becomes, if it is a scalar.
    fn scalar(&self, at: At<'a>) -> Option<(ColumnType, Option<Vec<String>>)> {
        if let Some(values) = self.get(at, "enum").and_then(Value::as_array) {
            let allowed: Option<Vec<String>> = values.iter().map(|v| v.as_str().map(String::from)).collect();
            return allowed.map(|a| (ColumnType::Text, Some(a)));
        }
        match self.get(at, "type").and_then(Value::as_str)? {
            "string" => Some(match self.get(at, "format").and_then(Value::as_str) {
                Some("date") => (ColumnType::Date, None),
                Some("date-time") => (ColumnType::Timestamp, None),
                _ => (ColumnType::Text, None),
            }),
            "integer" => Some((ColumnType::Integer, None)),
            "number" => Some((ColumnType::Number, None)),
            "boolean" => Some((ColumnType::Boolean, None)),
            "array" => {
                let items = self.chain(at).into_iter().find_map(|(doc, v)| v.get("items").map(|i| (doc, i)))?;
                match self.scalar(items) {
                    Some((ColumnType::Text, _)) => Some((ColumnType::TextList, None)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The kind a reference field (or a list of them) points to: the
    /// schema's `x-ref`.
    fn reference(&self, at: At<'a>) -> Option<String> {
        let items = self.chain(at).into_iter().find_map(|(doc, v)| v.get("items").map(|i| (doc, i)));
        self.get(at, "x-ref")
            .or_else(|| items.and_then(|i| self.get(i, "x-ref")))
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// The typed columns of an object's fields, flattened; keyed objects
    /// inside go to `nested` (top level) or stay `jsonb`.
    fn columns(
        &self,
        at: At<'a>,
        path: &[String],
        out: &mut Vec<Column>,
        nested: &mut Option<&mut Vec<(String, At<'a>)>>,
    ) {
        for (name, child) in self.properties(at) {
            let mut p = path.to_vec();
            p.push(name.clone());
            if let Some((ty, allowed)) = self.scalar(child) {
                let reference = self.reference(child);
                out.push(Column {
                    name: p.join("_"),
                    ty,
                    allowed,
                    required: false,
                    reference,
                    source: Source::Field(p),
                });
            } else if self.keyed(child).is_some() {
                match nested {
                    Some(list) if path.is_empty() => list.push((name, child)),
                    _ => out.push(Column::json(p)),
                }
            } else if !self.properties(child).is_empty() {
                self.columns(child, &p, out, &mut None);
            } else {
                out.push(Column::json(p));
            }
        }
    }
}

/// Column names the record's own columns take; a field of that name gets
/// a `field_` prefix.
const KIND_META: &[&str] = &[
    "id",
    "key",
    "title",
    "status",
    "conflicts",
    "flags",
    "created_at",
    "created_by",
    "heads",
    "fields",
    "feed_position",
];

impl Tables {
    /// The tables for every kind the node knows.
    pub fn of(schemas: &Schemas) -> Tables {
        let walker = Walker { schemas };
        let mut kinds = vec![];
        let mut children = vec![];
        for kind in crate::schema::KINDS {
            let Some(doc) = schemas.document(kind) else { continue };
            let title_field = schemas.kind(kind).ok().and_then(|k| k.title_field.clone());
            let mut fields = vec![];
            let mut nested = vec![];
            walker.columns((kind, doc), &[], &mut fields, &mut Some(&mut nested));
            let meta = |name: &str, ty, required, m| Column::meta(name, ty, required, Source::Record(m));
            let mut columns = vec![
                meta("id", ColumnType::Text, true, Meta::Id),
                meta("key", ColumnType::Text, true, Meta::Key),
                meta("title", ColumnType::Text, false, Meta::Title),
                meta("status", ColumnType::Text, false, Meta::Status),
                meta("conflicts", ColumnType::Integer, true, Meta::Conflicts),
                meta("flags", ColumnType::TextList, true, Meta::Flags),
                meta("created_at", ColumnType::Timestamp, false, Meta::CreatedAt),
                meta("created_by", ColumnType::Text, false, Meta::CreatedBy),
                meta("heads", ColumnType::TextList, true, Meta::Heads),
                meta("fields", ColumnType::Json, true, Meta::Fields),
                meta("feed_position", ColumnType::Integer, true, Meta::Position),
            ];
            for mut c in fields {
                if KIND_META.contains(&c.name.as_str()) {
                    // the title field is the `title` column already
                    if Some(&c.name) == title_field.as_ref() && c.name == "title" {
                        continue;
                    }
                    c.name = format!("field_{}", c.name);
                }
                columns.push(c);
            }
            kinds.push(Table {
                name: kind.to_string(),
                kind: kind.to_string(),
                collection: None,
                depth: 0,
                columns,
                primary_key: vec!["id".into()],
            });
            for (field, at) in nested {
                children.push(child_table(&walker, kind, &field, at));
            }
        }
        kinds.extend(children);
        Tables { tables: kinds }
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<(usize, &Table)> {
        self.tables.iter().enumerate().find(|(_, t)| t.name == name)
    }

    /// The rows `record` makes in table `index` (none for a deleted
    /// record). `position` fills the `feed_position` column.
    pub fn rows<'r>(&self, index: usize, position: u64, record: &'r Record) -> Vec<Row<'r>> {
        let mut out = vec![];
        let Some(table) = self.tables.get(index) else { return out };
        if record.deleted || table.kind != record.kind {
            return out;
        }
        let fields = &record.fields;
        let cells = |item: &'r Value, keys: &[&'r str]| -> Vec<Cell<'r>> {
            table
                .columns
                .iter()
                .map(|c| match &c.source {
                    Source::Field(p) => value_at(item, p).map(|v| cell(c, v)).unwrap_or(Cell::Empty),
                    Source::Record(m) => meta_cell(*m, position, record),
                    Source::KeyPart(n) => keys.get(*n).map(|k| Cell::Text(k)).unwrap_or(Cell::Empty),
                })
                .collect()
        };
        match &table.collection {
            None => out.push(Row { table: index, item: fields, keys: vec![], cells: cells(fields, &[]) }),
            Some(field) => {
                let Some(items) = fields.get(field) else { return out };
                let mut keyed = vec![];
                collect_items(items, table.depth, &mut vec![], &mut keyed);
                for (keys, item) in keyed {
                    let cells = cells(item, &keys);
                    out.push(Row { table: index, item, keys, cells });
                }
            }
        }
        out
    }

    /// Every row `record` makes, table by table.
    pub fn all_rows<'r>(&self, position: u64, record: &'r Record) -> Vec<Row<'r>> {
        (0..self.tables.len()).flat_map(|i| self.rows(i, position, record)).collect()
    }
}

fn child_table<'a>(walker: &Walker<'a>, kind: &str, field: &str, at: At<'a>) -> Table {
    let key_names: Vec<String> = walker
        .get(at, "x-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    // how deep the keys go: values that are keyed again (and not objects
    // with properties of their own) add a level
    let mut item = walker.keyed(at).unwrap_or(at);
    let mut depth = 1;
    while walker.properties(item).is_empty() && depth < key_names.len().max(1) {
        match walker.keyed(item) {
            Some(next) => {
                item = next;
                depth += 1;
            }
            None => break,
        }
    }
    let key_column = |n: usize| {
        key_names
            .get(n)
            .cloned()
            .unwrap_or_else(|| if n == 0 { "item_id".into() } else { format!("item_key_{}", n + 1) })
    };
    let mut columns = vec![Column::meta("record_id", ColumnType::Text, true, Source::Record(Meta::Id))];
    for n in 0..depth {
        columns.push(Column::meta(&key_column(n), ColumnType::Text, true, Source::KeyPart(n)));
    }
    let taken: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    if let Some((ty, allowed)) = walker.scalar(item) {
        let reference = walker.reference(item);
        columns.push(Column {
            name: "value".into(),
            ty,
            allowed,
            required: false,
            reference,
            source: Source::Field(vec![]),
        });
    } else {
        let mut fields = vec![];
        walker.columns(item, &[], &mut fields, &mut None);
        for mut c in fields {
            if taken.contains(&c.name) {
                c.name = format!("field_{}", c.name);
            }
            columns.push(c);
        }
    }
    let primary_key = columns.iter().take(depth + 1).map(|c| c.name.clone()).collect();
    Table {
        name: format!("{kind}_{field}"),
        kind: kind.to_string(),
        collection: Some(field.to_string()),
        depth,
        columns,
        primary_key,
    }
}

fn collect_items<'v>(v: &'v Value, depth: usize, keys: &mut Vec<&'v str>, out: &mut Vec<(Vec<&'v str>, &'v Value)>) {
    let Some(map) = v.as_object() else { return };
    for (k, item) in map {
        keys.push(k);
        if depth <= 1 {
            out.push((keys.clone(), item));
        } else {
            collect_items(item, depth - 1, keys, out);
        }
        keys.pop();
    }
}

fn value_at<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |cur, seg| cur.get(seg))
}

fn meta_cell(m: Meta, position: u64, r: &Record) -> Cell<'_> {
    match m {
        Meta::Id => Cell::Text(&r.id),
        Meta::Key => Cell::Text(&r.key),
        Meta::Title => r.title.as_deref().map(Cell::Text).unwrap_or(Cell::Empty),
        Meta::Status => r.status.as_deref().map(Cell::Text).unwrap_or(Cell::Empty),
        Meta::Conflicts => Cell::Integer(r.conflicts as i64),
        Meta::Flags => Cell::TextList(r.flags.iter().map(String::as_str).collect()),
        Meta::CreatedAt => non_empty(&r.created_at),
        Meta::CreatedBy => non_empty(&r.created_by),
        Meta::Heads => Cell::TextList(r.heads.iter().map(String::as_str).collect()),
        Meta::Fields => Cell::Json(&r.fields),
        Meta::Position => Cell::Integer(position as i64),
    }
}

fn non_empty(s: &str) -> Cell<'_> {
    if s.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(s)
    }
}

/// A value as its column's cell, or empty when it is not of the column's
/// type.
fn cell<'v>(c: &Column, v: &'v Value) -> Cell<'v> {
    let typed = match c.ty {
        ColumnType::Text | ColumnType::Date | ColumnType::Timestamp => v
            .as_str()
            .filter(|s| c.allowed.as_ref().is_none_or(|allowed| allowed.iter().any(|a| a == s)))
            .map(Cell::Text),
        ColumnType::Integer => v.as_i64().map(Cell::Integer),
        ColumnType::Number => v.as_f64().filter(|f| f.is_finite()).map(Cell::Number),
        ColumnType::Boolean => v.as_bool().map(Cell::Boolean),
        ColumnType::TextList => {
            let items: Option<Vec<&str>> = v.as_array().and_then(|a| a.iter().map(Value::as_str).collect());
            items.map(Cell::TextList)
        }
        ColumnType::Json => Some(Cell::Json(v)),
    };
    typed.unwrap_or(Cell::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table<'p>(p: &'p Tables, name: &str) -> &'p Table {
        p.table(name).unwrap_or_else(|| panic!("no table {name}")).1
    }

    fn column<'t>(t: &'t Table, name: &str) -> &'t Column {
        t.columns.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no column {name} in {}", t.name))
    }

    #[test]
    fn the_edan_schema_gives_typed_columns_and_child_tables() {
        let p = Tables::of(crate::schema::schemas().unwrap());
        let edan = table(&p, "edan");
        assert_eq!(column(edan, "evaluation_started_at").ty, ColumnType::Timestamp);
        assert_eq!(column(edan, "event_id").ty, ColumnType::Text);
        assert_eq!(column(edan, "geo_lat").ty, ColumnType::Number);
        assert_eq!(column(edan, "location_department").allowed.as_ref().unwrap()[0], "la_paz");
        assert_eq!(column(edan, "edan_type").allowed.as_ref().unwrap().len(), 4);
        let tallies = table(&p, "edan_tallies");
        assert_eq!(tallies.primary_key, ["record_id", "zone", "team"]);
        assert_eq!(column(tallies, "dead").ty, ColumnType::Integer);
        assert_eq!(column(tallies, "crop_ha_lost").ty, ColumnType::Number);
        assert_eq!(column(tallies, "livestock_dead").ty, ColumnType::Json);
        let needs = table(&p, "edan_needs");
        assert_eq!(needs.primary_key, ["record_id", "item_id"]);
        assert_eq!(table(&p, "edan_accepted").primary_key, ["record_id", "zone"]);
        assert_eq!(column(table(&p, "edan_accepted"), "values_dead").ty, ColumnType::Integer);
        assert!(table(&p, "mission_follow_ups").columns.len() > 3);
        // every name is unique within its table and fits PostgreSQL's 63 bytes
        for t in &p.tables {
            let mut names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            assert!(names.iter().all(|n| n.len() <= 63), "{}", t.name);
            names.sort();
            names.dedup();
            assert_eq!(names.len(), t.columns.len(), "duplicate column in {}", t.name);
        }
        // kind tables come before the child tables that refer to them
        let first_child = p.tables.iter().position(|t| t.collection.is_some()).unwrap();
        assert!(p.tables[first_child..].iter().all(|t| t.collection.is_some()));
    }

    #[test]
    fn references_are_marked_with_their_kind() {
        let p = Tables::of(crate::schema::schemas().unwrap());
        let edan = table(&p, "edan");
        assert_eq!(column(edan, "event_id").reference.as_deref(), Some("event"));
        assert_eq!(column(edan, "requesting_entity_ids").reference.as_deref(), Some("entity"));
        assert_eq!(column(edan, "requesting_entity_ids").ty, ColumnType::TextList);
        assert_eq!(column(edan, "edan_type").reference, None);
    }
}
