//! Points as PostGIS geometry, when the database has PostGIS.
//!
//! Owns: finding the points among a table's columns (a `P_lat` and a
//! `P_lon`, both numbers, as the schemas' `point` and `site` flatten),
//! the generated `P_point geometry(Point, 4326)` column each point gets
//! with its GiST index, and finding out whether PostGIS is there
//! (installed in the database, else created when the server offers it and
//! the mirror's role may). Must never: make PostGIS a requirement — without
//! it the longitude/latitude columns are the points, as they always are —
//! or write a point itself: PostgreSQL computes the column from the two
//! numbers, so `COPY` and the rows stay as they are.

use crate::projection::{ident, literal, qualified, SqlType, Table};

/// A point among a table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// The geometry column: `P_point`.
    pub column: String,
    lat: String,
    lon: String,
}

/// PostGIS in the database the mirror writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Postgis {
    /// Installed (or created now): its version and schema.
    Present { version: String, schema: String },
    /// Not usable, and why.
    Absent(String),
}

impl Postgis {
    /// The schema of PostGIS's types and functions, when present.
    pub fn schema(&self) -> Option<&str> {
        match self {
            Postgis::Present { schema, .. } => Some(schema),
            Postgis::Absent(_) => None,
        }
    }

    /// What the mirror does with points, for its user.
    pub fn describe(&self) -> String {
        match self {
            Postgis::Present { version, .. } => {
                format!("PostGIS {version}: each point also as a geometry(Point, 4326) column *_point")
            }
            Postgis::Absent(why) => format!("no PostGIS ({why}): points as longitude/latitude columns"),
        }
    }
}

/// The `udt_name` of a geometry column.
pub const UDT: &str = "geometry";

/// The points of `table`, in column order.
pub fn points(table: &Table) -> Vec<Point> {
    let number = |name: &str| table.columns.iter().any(|c| c.name == name && SqlType::of(c) == SqlType::Double);
    table
        .columns
        .iter()
        .filter_map(|c| {
            let prefix = c.name.strip_suffix("_lat")?;
            let lon = format!("{prefix}_lon");
            (number(&c.name) && number(&lon)).then(|| Point {
                column: format!("{prefix}_point"),
                lat: c.name.clone(),
                lon,
            })
        })
        .collect()
}

/// The generated column's definition (`ADD COLUMN …`), with PostGIS in
/// `schema`: a point when both numbers are there, else NULL.
pub fn definition(point: &Point, schema: &str) -> String {
    let s = ident(schema);
    let (lat, lon) = (ident(&point.lat), ident(&point.lon));
    format!(
        "{col} {s}.geometry(Point, 4326) GENERATED ALWAYS AS \
         (CASE WHEN {lat} IS NULL OR {lon} IS NULL THEN NULL ELSE {s}.ST_SetSRID({s}.ST_MakePoint({lon}, {lat}), 4326) END) STORED",
        col = ident(&point.column),
    )
}

/// Its spatial index.
pub fn index_sql(table: &Table, point: &Point) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} USING gist ({})",
        ident(&format!("{}_{}_gist", table.name, point.column)),
        qualified(table),
        ident(&point.column)
    )
}

/// Finds PostGIS in the database, creating the extension when the server
/// has it and this role may (a savepoint keeps a refusal from spoiling
/// the transaction).
pub async fn find(tx: &tokio_postgres::Transaction<'_>) -> Result<Postgis, tokio_postgres::Error> {
    const INSTALLED: &str = "SELECT e.extversion, n.nspname::text FROM pg_extension e \
                             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'postgis'";
    if let Some(row) = tx.query_opt(INSTALLED, &[]).await? {
        return Ok(Postgis::Present { version: row.get(0), schema: row.get(1) });
    }
    let offered = tx.query_opt("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'", &[]).await?;
    if offered.is_none() {
        return Ok(Postgis::Absent("the server has no PostGIS extension".into()));
    }
    tx.batch_execute("SAVEPOINT ayni_postgis").await?;
    // in `public`, never the first schema of the search path (which may be `ayni`)
    match tx.batch_execute("CREATE EXTENSION postgis SCHEMA public").await {
        Ok(()) => {
            tx.batch_execute("RELEASE SAVEPOINT ayni_postgis").await?;
            let row = tx.query_one(INSTALLED, &[]).await?;
            Ok(Postgis::Present { version: row.get(0), schema: row.get(1) })
        }
        Err(e) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT ayni_postgis").await?;
            let why = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string());
            Ok(Postgis::Absent(format!(
                "the extension is not installed in this database and creating it failed: {why}"
            )))
        }
    }
}

/// A comment on each geometry column saying where it comes from.
pub fn comment_sql(table: &Table, point: &Point) -> String {
    format!(
        "COMMENT ON COLUMN {}.{} IS {}",
        qualified(table),
        ident(&point.column),
        literal(&format!("{} and {} as a point (WGS 84), computed by PostgreSQL", point.lon, point.lat))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::Projection;

    #[test]
    fn points_are_found_where_the_schemas_put_them() {
        let projection = Projection::of(ayni_node::schema::schemas().unwrap());
        let found = |name: &str| -> Vec<String> {
            let table = projection.tables().iter().find(|t| t.name == name).unwrap();
            points(table).into_iter().map(|p| p.column).collect()
        };
        assert_eq!(found("edan"), ["geo_point"]);
        assert_eq!(found("edan_zones"), ["geo_point"]);
        assert_eq!(found("entity"), ["geo_point"]);
        assert_eq!(found("mission"), ["site_point"]);
        assert!(found("person").is_empty());
        let d = definition(&points(projection.tables().iter().find(|t| t.name == "mission").unwrap())[0], "public");
        assert!(d.contains("ST_MakePoint(\"site_lon\", \"site_lat\")"), "{d}");
    }
}
