//! The mirror's SQL shape: the record tables of [`ayni_node::tables`] as
//! PostgreSQL tables, and a batch of feed entries as `COPY` text.
//!
//! Owns: each column's SQL type (text, `bigint`, `double precision`,
//! `boolean`, `date`, `timestamptz`, `text[]`, `jsonb`; an enum's allowed
//! values as a `CHECK`), the `CREATE TABLE` and `COPY` statements,
//! turning feed entries into rows, and the states the lifecycles name by a
//! date (the cooperation views show them as of today). Must never: talk to a database, or
//! decide which tables and columns exist (the schemas do, through
//! [`ayni_node::tables`]).

use std::collections::BTreeMap;

use ayni_node::schema::Schemas;
pub use ayni_node::tables::{Column, Table};
use ayni_node::tables::{ColumnType, Meta, Source, Tables};

use crate::copy_text::{csv_line, has_nul, without_nul};

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
    /// The type of `column`.
    pub fn of(column: &Column) -> SqlType {
        match column.ty {
            // a record's conflict count stays small
            ColumnType::Integer if column.source == Source::Record(Meta::Conflicts) => SqlType::Integer,
            ColumnType::Integer => SqlType::BigInt,
            ColumnType::Text => SqlType::Text,
            ColumnType::Number => SqlType::Double,
            ColumnType::Boolean => SqlType::Boolean,
            ColumnType::Date => SqlType::Date,
            ColumnType::Timestamp => SqlType::Timestamp,
            ColumnType::TextList => SqlType::TextArray,
            ColumnType::Json => SqlType::Jsonb,
        }
    }

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
    shape: Tables,
    by_date: Vec<ByDate>,
}

/// A state shown by a date (a lifecycle's `derived` rule), for SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByDate {
    pub kind: String,
    pub state: String,
    pub date_field: String,
    pub warn_days: i64,
    pub names: [String; 3],
}

/// The date-driven states of every kind's lifecycle.
pub fn by_date(schemas: &Schemas) -> Vec<ByDate> {
    let mut out = vec![];
    for kind in ayni_node::schema::KINDS {
        let Some(lifecycle) = schemas.kind(kind).ok().and_then(|k| k.lifecycle.as_ref()) else { continue };
        for (state, d) in &lifecycle.derived {
            out.push(ByDate {
                kind: kind.to_string(),
                state: state.clone(),
                date_field: d.date_field.clone(),
                warn_days: d.warn_days,
                names: [d.before.clone(), d.warning.clone(), d.after.clone()],
            });
        }
    }
    out
}

/// `"name"`, quoted for SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal for SQL.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `"ayni"."name"`.
pub fn qualified(table: &Table) -> String {
    format!("{}.{}", ident(SCHEMA), ident(&table.name))
}

/// The `CREATE TABLE` statement.
pub fn create_sql(table: &Table) -> String {
    let mut parts: Vec<String> = table.columns.iter().map(definition).collect();
    parts.push(format!("PRIMARY KEY ({})", table.primary_key.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")));
    format!("CREATE TABLE {} (\n  {}\n)", qualified(table), parts.join(",\n  "))
}

/// `COPY … FROM STDIN` for its rows as [`Projection::rows`] writes them.
pub fn copy_sql(table: &Table) -> String {
    let cols: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
    format!("COPY {} ({}) FROM STDIN (FORMAT csv)", qualified(table), cols.join(", "))
}

/// A column's definition in `CREATE TABLE` / `ADD COLUMN`.
pub fn definition(column: &Column) -> String {
    let mut d = format!("{} {}", ident(&column.name), SqlType::of(column).ddl());
    if column.required {
        d.push_str(" NOT NULL");
    }
    if let Some(allowed) = &column.allowed {
        let list: Vec<String> = allowed.iter().map(|a| literal(a)).collect();
        d.push_str(&format!(" CHECK ({} IN ({}))", ident(&column.name), list.join(", ")));
    }
    d
}

impl Projection {
    /// The tables for every kind the node knows.
    pub fn of(schemas: &Schemas) -> Projection {
        Projection { shape: Tables::of(schemas), by_date: by_date(schemas) }
    }

    /// The tables, kind tables first.
    pub fn tables(&self) -> &[Table] {
        &self.shape.tables
    }

    /// The states the lifecycles name by a date (for the views).
    pub fn by_date(&self) -> &[ByDate] {
        &self.by_date
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
    /// record becomes none. PostgreSQL's text holds no NUL character: it
    /// becomes U+FFFD.
    pub fn rows(&self, position: u64, record: &ayni_node::node::Record) -> Vec<(usize, String)> {
        let cleaned;
        let record = if has_nul(&record.fields) {
            let mut r = record.clone();
            r.fields = without_nul(r.fields);
            cleaned = r;
            &cleaned
        } else {
            record
        };
        self.shape.all_rows(position, record).into_iter().map(|row| (row.table, csv_line(&row.cells))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn projection() -> Projection {
        Projection::of(ayni_node::schema::schemas().unwrap())
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
        let name = |i: usize| p.tables()[i].name.as_str();
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
