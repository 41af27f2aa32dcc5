//! The relational shape of the records, derived from their JSON Schemas,
//! and the rows a record becomes in it.
//!
//! Owns: which tables and typed columns each kind gets (one table per kind,
//! one child table per keyed collection), and turning a record into rows
//! as `COPY … (FORMAT csv)` text. Must never: talk to a database, or know
//! a field by name — everything comes from `schemas/` (the `x-keys`
//! annotation names a collection's key columns; `item_id` otherwise).
//!
//! Rules, applied to each kind's schema (`$ref`s followed):
//! - a scalar field becomes a typed column: `string` → `text` (`date` →
//!   `date`, `date-time` → `timestamptz`), `integer` → `bigint`, `number`
//!   → `double precision`, `boolean`, an `enum` → `text` with a `CHECK`;
//!   an array of strings → `text[]`;
//! - an object with `properties` is flattened: `location.department` →
//!   `location_department` (so a point gives `geo_lat`, `geo_lon`);
//! - an object keyed by names or IDs (`additionalProperties`) at the top
//!   of a record is a child table `KIND_FIELD`, one row per key (per key
//!   path when its values are keyed again, as EDAN tallies per zone and
//!   team), with the item's scalars typed as above; deeper keyed objects
//!   and other arrays stay JSON (`jsonb`);
//! - every kind table also has the record's ID, key, title, status,
//!   conflict count, flags, heads and all its fields as `jsonb`; every
//!   child row its item as `jsonb`. Nothing is lost: the typed columns
//!   are a convenience over the JSON.

use std::collections::BTreeMap;

use ayni_node::schema::Schemas;
use serde_json::Value;

use crate::copy_text::{cell, csv_line, has_nul, text_array, without_nul};

/// The PostgreSQL schema holding the record tables.
pub const SCHEMA: &str = "ayni";

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Text,
    BigInt,
    Integer,
    Double,
    Boolean,
    Date,
    Timestamp,
    TextArray,
    Jsonb,
}

impl SqlType {
    /// How it is written in DDL.
    pub fn ddl(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::BigInt => "bigint",
            SqlType::Integer => "integer",
            SqlType::Double => "double precision",
            SqlType::Boolean => "boolean",
            SqlType::Date => "date",
            SqlType::Timestamp => "timestamptz",
            SqlType::TextArray => "text[]",
            SqlType::Jsonb => "jsonb",
        }
    }

    /// Its `udt_name` in `information_schema.columns`.
    pub fn udt(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::BigInt => "int8",
            SqlType::Integer => "int4",
            SqlType::Double => "float8",
            SqlType::Boolean => "bool",
            SqlType::Date => "date",
            SqlType::Timestamp => "timestamptz",
            SqlType::TextArray => "_text",
            SqlType::Jsonb => "jsonb",
        }
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A field at this path inside the record's fields (or the item).
    Field(Vec<String>),
    /// Part of the record itself (kind tables) or the row's key path
    /// (child tables).
    Meta(Meta),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Meta {
    Id,
    Key,
    Title,
    Status,
    Conflicts,
    Flags,
    CreatedAt,
    CreatedBy,
    Heads,
    Fields,
    Position,
    RecordId,
    KeyPart(usize),
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name (a lower-case identifier).
    pub name: String,
    /// Its type.
    pub ty: SqlType,
    /// The values an enum allows (a `CHECK`).
    pub allowed: Option<Vec<String>>,
    /// Never null.
    pub required: bool,
    source: Source,
}

/// One table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its name inside [`SCHEMA`].
    pub name: String,
    /// The kind whose records fill it.
    pub kind: String,
    /// For a child table, the collection's field; `None` for a kind table.
    pub collection: Option<String>,
    /// How deep the collection's keys go (1, or 2 for keyed-by-keyed).
    depth: usize,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
}

/// Feed entries made ready to write.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records' IDs by kind: their rows are replaced.
    pub ids: BTreeMap<String, Vec<String>>,
    /// `COPY` text by table index.
    pub rows: BTreeMap<usize, String>,
    /// Records written.
    pub records: usize,
    /// Records deleted.
    pub deleted: usize,
    /// The feed position after the batch.
    pub resume: u64,
}

/// Every table, kind tables first (a child table refers to its kind's).
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub tables: Vec<Table>,
}

/// `"name"`, quoted for SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal for SQL.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Table {
    /// `"ayni"."name"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", ident(SCHEMA), ident(&self.name))
    }

    /// The `CREATE TABLE` statement.
    pub fn create_sql(&self) -> String {
        let mut parts: Vec<String> = self.columns.iter().map(Column::definition).collect();
        parts.push(format!(
            "PRIMARY KEY ({})",
            self.primary_key.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
        ));
        format!("CREATE TABLE {} (\n  {}\n)", self.qualified(), parts.join(",\n  "))
    }

    /// `COPY … FROM STDIN` for its rows as [`Projection::rows`] writes them.
    pub fn copy_sql(&self) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| ident(&c.name)).collect();
        format!("COPY {} ({}) FROM STDIN (FORMAT csv)", self.qualified(), cols.join(", "))
    }
}

impl Column {
    /// Its definition in `CREATE TABLE` / `ADD COLUMN`.
    pub fn definition(&self) -> String {
        let mut d = format!("{} {}", ident(&self.name), self.ty.ddl());
        if self.required {
            d.push_str(" NOT NULL");
        }
        if let Some(allowed) = &self.allowed {
            let list: Vec<String> = allowed.iter().map(|a| literal(a)).collect();
            d.push_str(&format!(" CHECK ({} IN ({}))", ident(&self.name), list.join(", ")));
        }
        d
    }

    fn meta(name: &str, ty: SqlType, required: bool, meta: Meta) -> Column {
        Column { name: name.to_string(), ty, allowed: None, required, source: Source::Meta(meta) }
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
    fn scalar(&self, at: At<'a>) -> Option<(SqlType, Option<Vec<String>>)> {
        if let Some(values) = self.get(at, "enum").and_then(Value::as_array) {
            let allowed: Option<Vec<String>> = values.iter().map(|v| v.as_str().map(String::from)).collect();
            return allowed.map(|a| (SqlType::Text, Some(a)));
        }
        match self.get(at, "type").and_then(Value::as_str)? {
            "string" => Some(match self.get(at, "format").and_then(Value::as_str) {
                Some("date") => (SqlType::Date, None),
                Some("date-time") => (SqlType::Timestamp, None),
                _ => (SqlType::Text, None),
            }),
            "integer" => Some((SqlType::BigInt, None)),
            "number" => Some((SqlType::Double, None)),
            "boolean" => Some((SqlType::Boolean, None)),
            "array" => {
                let items = self.chain(at).into_iter().find_map(|(doc, v)| v.get("items").map(|i| (doc, i)))?;
                match self.scalar(items) {
                    Some((SqlType::Text, _)) => Some((SqlType::TextArray, None)),
                    _ => None,
                }
            }
            _ => None,
        }
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
                out.push(Column { name: p.join("_"), ty, allowed, required: false, source: Source::Field(p) });
            } else if self.keyed(child).is_some() {
                match nested {
                    Some(list) if path.is_empty() => list.push((name, child)),
                    _ => out.push(Column {
                        name: p.join("_"),
                        ty: SqlType::Jsonb,
                        allowed: None,
                        required: false,
                        source: Source::Field(p),
                    }),
                }
            } else if !self.properties(child).is_empty() {
                self.columns(child, &p, out, &mut None);
            } else {
                out.push(Column {
                    name: p.join("_"),
                    ty: SqlType::Jsonb,
                    allowed: None,
                    required: false,
                    source: Source::Field(p),
                });
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

impl Projection {
    /// The tables for every kind the node knows.
    pub fn of(schemas: &Schemas) -> Projection {
        let walker = Walker { schemas };
        let mut kinds = vec![];
        let mut children = vec![];
        for kind in ayni_node::schema::KINDS {
            let Some(doc) = schemas.document(kind) else { continue };
            let title_field = schemas.kind(kind).ok().and_then(|k| k.title_field.clone());
            let mut fields = vec![];
            let mut nested = vec![];
            walker.columns((kind, doc), &[], &mut fields, &mut Some(&mut nested));
            let mut columns = vec![
                Column::meta("id", SqlType::Text, true, Meta::Id),
                Column::meta("key", SqlType::Text, true, Meta::Key),
                Column::meta("title", SqlType::Text, false, Meta::Title),
                Column::meta("status", SqlType::Text, false, Meta::Status),
                Column::meta("conflicts", SqlType::Integer, true, Meta::Conflicts),
                Column::meta("flags", SqlType::TextArray, true, Meta::Flags),
                Column::meta("created_at", SqlType::Timestamp, false, Meta::CreatedAt),
                Column::meta("created_by", SqlType::Text, false, Meta::CreatedBy),
                Column::meta("heads", SqlType::TextArray, true, Meta::Heads),
                Column::meta("fields", SqlType::Jsonb, true, Meta::Fields),
                Column::meta("feed_position", SqlType::BigInt, true, Meta::Position),
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
        Projection { tables: kinds }
    }

    /// Prepares a batch of feed entries for [`crate::Mirror::write`]: each
    /// record once (its latest entry), its rows as `COPY` text per table.
    /// Pure work, no database: it can run beside the previous batch's
    /// transaction.
    pub fn batch(&self, changes: &[ayni_node::feed::Change], resume: u64) -> Batch {
        let mut latest: BTreeMap<&str, &ayni_node::feed::Change> = BTreeMap::new();
        for c in changes {
            latest.insert(c.record.id.as_str(), c);
        }
        let mut batch = Batch { resume, ..Batch::default() };
        for c in latest.values() {
            batch.ids.entry(c.record.kind.clone()).or_default().push(c.record.id.clone());
            if c.record.deleted {
                batch.deleted += 1;
            } else {
                batch.records += 1;
            }
            for (table, line) in self.rows(c.position, &c.record) {
                batch.rows.entry(table).or_default().push_str(&line);
            }
        }
        batch
    }

    /// The rows `record` becomes: `(table index, one CSV line)`. A deleted
    /// record becomes none.
    pub fn rows(&self, position: u64, record: &ayni_node::node::Record) -> Vec<(usize, String)> {
        let mut out = vec![];
        if record.deleted {
            return out;
        }
        let cleaned;
        let fields = if has_nul(&record.fields) {
            cleaned = without_nul(record.fields.clone());
            &cleaned
        } else {
            &record.fields
        };
        for (i, table) in self.tables.iter().enumerate() {
            if table.kind != record.kind {
                continue;
            }
            match &table.collection {
                None => {
                    let values: Vec<Option<String>> = table
                        .columns
                        .iter()
                        .map(|c| match &c.source {
                            Source::Field(p) => value_at(fields, p).and_then(|v| cell(c, v)),
                            Source::Meta(m) => kind_meta(*m, position, record, fields),
                        })
                        .collect();
                    out.push((i, csv_line(&values)));
                }
                Some(field) => {
                    let Some(items) = fields.get(field) else { continue };
                    let mut keyed = vec![];
                    collect_items(items, table.depth, &mut vec![], &mut keyed);
                    for (keys, item) in keyed {
                        let values: Vec<Option<String>> = table
                            .columns
                            .iter()
                            .map(|c| match &c.source {
                                Source::Field(p) => value_at(item, p).and_then(|v| cell(c, v)),
                                Source::Meta(Meta::RecordId) => Some(record.id.clone()),
                                Source::Meta(Meta::KeyPart(n)) => keys.get(*n).cloned(),
                                Source::Meta(_) => None,
                            })
                            .collect();
                        out.push((i, csv_line(&values)));
                    }
                }
            }
        }
        out
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
    let mut columns = vec![Column::meta("record_id", SqlType::Text, true, Meta::RecordId)];
    for n in 0..depth {
        columns.push(Column::meta(&key_column(n), SqlType::Text, true, Meta::KeyPart(n)));
    }
    let taken: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    if let Some((ty, allowed)) = walker.scalar(item) {
        columns.push(Column { name: "value".into(), ty, allowed, required: false, source: Source::Field(vec![]) });
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

/// The items of a keyed collection with their key paths, `depth` levels
/// down (what is not an object at a level is skipped: the JSON keeps it).
fn collect_items<'v>(v: &'v Value, depth: usize, keys: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'v Value)>) {
    let Some(map) = v.as_object() else { return };
    for (k, item) in map {
        keys.push(k.clone());
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

fn kind_meta(m: Meta, position: u64, r: &ayni_node::node::Record, fields: &Value) -> Option<String> {
    match m {
        Meta::Id => Some(r.id.clone()),
        Meta::Key => Some(r.key.clone()),
        Meta::Title => r.title.clone().map(|t| t.replace('\0', "\u{FFFD}")),
        Meta::Status => r.status.clone(),
        Meta::Conflicts => Some(r.conflicts.to_string()),
        Meta::Flags => Some(text_array(r.flags.iter().map(String::as_str))),
        Meta::CreatedAt => Some(r.created_at.clone()).filter(|t| !t.is_empty()),
        Meta::CreatedBy => Some(r.created_by.clone()),
        Meta::Heads => Some(text_array(r.heads.iter().map(String::as_str))),
        Meta::Fields => Some(fields.to_string()),
        Meta::Position => Some(position.to_string()),
        Meta::RecordId | Meta::KeyPart(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn projection() -> Projection {
        Projection::of(ayni_node::schema::schemas().unwrap())
    }

    fn table<'p>(p: &'p Projection, name: &str) -> &'p Table {
        p.tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no table {name}"))
    }

    fn column<'t>(t: &'t Table, name: &str) -> &'t Column {
        t.columns.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no column {name} in {}", t.name))
    }

    #[test]
    fn the_edan_schema_gives_typed_columns_and_child_tables() {
        let p = projection();
        let edan = table(&p, "edan");
        assert_eq!(column(edan, "evaluation_started_at").ty, SqlType::Timestamp);
        assert_eq!(column(edan, "event_id").ty, SqlType::Text);
        assert_eq!(column(edan, "geo_lat").ty, SqlType::Double);
        assert_eq!(column(edan, "location_department").allowed.as_ref().unwrap()[0], "la_paz");
        assert_eq!(column(edan, "edan_type").allowed.as_ref().unwrap().len(), 4);
        let tallies = table(&p, "edan_tallies");
        assert_eq!(tallies.primary_key, ["record_id", "zone", "team"]);
        assert_eq!(column(tallies, "dead").ty, SqlType::BigInt);
        assert_eq!(column(tallies, "crop_ha_lost").ty, SqlType::Double);
        assert_eq!(column(tallies, "livestock_dead").ty, SqlType::Jsonb);
        let needs = table(&p, "edan_needs");
        assert_eq!(needs.primary_key, ["record_id", "item_id"]);
        assert_eq!(table(&p, "edan_accepted").primary_key, ["record_id", "zone"]);
        assert_eq!(column(table(&p, "edan_accepted"), "values_dead").ty, SqlType::BigInt);
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
    fn a_record_becomes_csv_rows_typed_or_null_and_a_deleted_one_none() {
        let p = projection();
        let record: ayni_node::node::Record = serde_json::from_value(json!({
            "id": "2ZoVmWMSgytKnfXYzMoxHcQT9rQr", "kind": "edan", "key": "e1", "title": "Sama \"norte\"",
            "status": "draft", "deleted": false, "conflicts": 0, "created_at": "2026-01-01T00:00:00Z",
            "created_by": "n1", "heads": ["ab"], "fields": {
                "title": "Sama \"norte\"", "edan_type": "not-an-enum", "geo": {"lat": -16.5, "lon": -68.1},
                "tallies": {"z1": {"t1": {"dead": 2, "note": "a\u{0}b"}, "t2": {"dead": 3}}},
                "needs": {"n1": {"sector": "agua", "quantity": 10}}
            }
        }))
        .unwrap();
        let rows = p.rows(7, &record);
        let name = |i: usize| p.tables[i].name.as_str();
        assert_eq!(rows.iter().filter(|(i, _)| name(*i) == "edan_tallies").count(), 2);
        assert_eq!(rows.iter().filter(|(i, _)| name(*i) == "edan_needs").count(), 1);
        let (_, edan) = rows.iter().find(|(i, _)| name(*i) == "edan").unwrap();
        assert!(
            edan.starts_with("\"2ZoVmWMSgytKnfXYzMoxHcQT9rQr\",\"e1\",\"Sama \"\"norte\"\"\",\"draft\",\"0\",\"{}\""),
            "{edan}"
        );
        assert!(!edan.contains("not-an-enum\","), "a value outside the enum is NULL in its column: {edan}");
        assert!(edan.contains("\"-16.5\""));
        assert!(!edan.contains('\0'));
        let mut deleted = record.clone();
        deleted.deleted = true;
        assert!(p.rows(8, &deleted).is_empty());
    }
}
