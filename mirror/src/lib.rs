//! A live PostgreSQL mirror of a node's records (`ayni mirror`): the
//! tables of [`projection`], filled from the node's change feed.
//!
//! Owns: the connection, the mirror's own bookkeeping in the database
//! (schema `ayni_mirror`: applied migrations, the tables it made, the feed
//! position), migrating the record tables when the schemas change, and
//! applying a batch of feed entries in one transaction. Must never: write
//! to the node, or let the rows and the recorded feed position disagree —
//! both change in the same transaction, so a mirror killed at any moment
//! resumes with nothing missing and nothing twice.
//!
//! # In the database
//! - `ayni.KIND` and `ayni.KIND_COLLECTION`: the records ([`projection`]).
//! - `ayni.situation_*`: the situation report's views ([`views`]), and
//!   `ayni.cooperation_*`, the cooperation report's ([`cooperation`]),
//!   made again on every start.
//! - `ayni_mirror.migrations (version, description, applied_at)`: what
//!   was applied, in order. Version 1 makes the bookkeeping tables; each
//!   later version is a change of the record tables' shape, described.
//! - `ayni_mirror.columns (table_name, column_name, udt_name, definition,
//!   ordinal)` and `ayni_mirror.tables (table_name, primary_key)`: the
//!   record tables as the mirror made them. A table found otherwise (a
//!   column dropped, added or retyped by hand) is an error, not guessed at.
//! - `ayni_mirror.state (node_id, position, updated_at)`: whose feed this
//!   is, and the last feed position whose rows are in.
//!
//! One mirror per database at a time (a session advisory lock).

pub mod cooperation;
mod copy_text;
pub mod geometry;
pub mod projection;
pub mod tls;
pub mod views;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::SinkExt;
use geometry::Postgis;
use projection::{copy_sql, create_sql, ident, qualified, Batch, Projection, SqlType, Table, SCHEMA};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection string cannot be read.
    #[error("the PostgreSQL connection string is malformed: {0} (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or key=value pairs)")]
    Malformed(String),
    /// The TLS settings cannot be used (a file missing or unreadable, a
    /// mode that needs a CA without one).
    #[error("the PostgreSQL connection's TLS settings: {0}")]
    Tls(String),
    /// No connection (server down, refused, authentication failed).
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect { target: String, reason: String },
    /// The database holds another node's mirror.
    #[error("this database mirrors node {theirs}, and this is node {ours}: mirror each node into its own database")]
    OtherNode { theirs: String, ours: String },
    /// Another mirror works on this database now.
    #[error("another `ayni mirror` is writing to this database (its advisory lock is held)")]
    Busy,
    /// A record table is not as the mirror made it.
    #[error("table {table} was altered by hand: {detail}; the mirror changes nothing until it is as the mirror made it (or drop schemas ayni and ayni_mirror to start over)")]
    Altered { table: String, detail: String },
    /// The database refused a statement.
    #[error("PostgreSQL refused {doing}: {reason}")]
    Database { doing: String, reason: String },
}

impl Error {
    /// Whether the cause is what the user gave or the database's state
    /// (exit 2), not a failure at run time.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::Malformed(_) | Error::Tls(_) | Error::OtherNode { .. } | Error::Altered { .. } | Error::Busy
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A PostgreSQL error's most useful text: the server's message (with its
/// detail) or the client's own, with its cause.
fn reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_string();
        if let Some(d) = db.detail() {
            text.push_str(&format!(" ({d})"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn db(doing: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::Database { doing: doing.to_string(), reason: reason(&e) }
}

/// A parsed connection string, and where it points (for messages: no
/// password).
pub struct Target {
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    shown: String,
}

/// Reads a connection string (a URL or `key=value` pairs), with libpq's
/// TLS settings ([`tls`]) and the files they name.
pub fn target(text: &str) -> Result<Target> {
    let (settings, rest) = tls::split(text).map_err(Error::Malformed)?;
    let mut config: tokio_postgres::Config =
        rest.parse().map_err(|e: tokio_postgres::Error| Error::Malformed(reason(&e)))?;
    if config.get_ssl_mode() != tokio_postgres::config::SslMode::Prefer {
        // an sslmode tls::split did not take out: never let it be overridden unseen
        return Err(Error::Malformed("its sslmode could not be read".into()));
    }
    config.ssl_mode(settings.ssl_mode());
    let tls = settings.connector().map_err(Error::Tls)?;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if hosts.is_empty() {
        return Err(Error::Malformed("it names no host".into()));
    }
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let shown =
        format!("{}:{}/{}", hosts.join(","), port, config.get_dbname().unwrap_or(config.get_user().unwrap_or("")));
    Ok(Target { config, tls, shown })
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// What one [`Mirror::apply`] did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Applied {
    /// Records whose rows were written.
    pub records: usize,
    /// Records deleted from the mirror.
    pub deleted: usize,
    /// The feed position now recorded.
    pub position: u64,
}

/// A connection that mirrors one node's feed.
pub struct Mirror {
    client: tokio_postgres::Client,
    projection: Projection,
    position: u64,
    /// The shape migration applied on connecting, if any.
    pub migrated: Option<String>,
    /// PostGIS in the database, or why not.
    pub postgis: geometry::Postgis,
}

/// The bookkeeping tables (migration 1).
const BOOKKEEPING: &str = "
CREATE TABLE ayni_mirror.state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  node_id text NOT NULL,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ayni_mirror.tables (table_name text PRIMARY KEY, primary_key text NOT NULL);
CREATE TABLE ayni_mirror.columns (
  table_name text NOT NULL REFERENCES ayni_mirror.tables ON DELETE CASCADE,
  column_name text NOT NULL,
  udt_name text NOT NULL,
  definition text NOT NULL,
  ordinal integer NOT NULL,
  PRIMARY KEY (table_name, column_name)
);
CREATE SCHEMA IF NOT EXISTS ayni;
";

impl Mirror {
    /// Connects, takes the database's mirror lock, brings the tables to
    /// the projection's shape (a shape change restarts the feed from the
    /// beginning, so every row gets its new columns) and checks the
    /// database mirrors `node_id`.
    pub async fn connect(target: &Target, node_id: &str, projection: Projection) -> Result<Mirror> {
        let (mut client, connection) = target
            .config
            .connect(target.tls.clone())
            .await
            .map_err(|e| Error::Connect { target: target.shown.clone(), reason: reason(&e) })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection: {}", reason(&e));
            }
        });
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock(hashtext('ayni_mirror'))", &[])
            .await
            .map_err(db("taking the mirror lock"))?
            .get(0);
        if !locked {
            return Err(Error::Busy);
        }
        client
            .batch_execute(
                "CREATE SCHEMA IF NOT EXISTS ayni_mirror;
                 CREATE TABLE IF NOT EXISTS ayni_mirror.migrations (
                   version integer PRIMARY KEY, description text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db("creating schema ayni_mirror"))?;
        let tx = client.transaction().await.map_err(db("starting a transaction"))?;
        let applied: Option<i32> = tx
            .query_one("SELECT max(version) FROM ayni_mirror.migrations", &[])
            .await
            .map_err(db("reading the applied migrations"))?
            .get(0);
        if applied.is_none() {
            tx.batch_execute(BOOKKEEPING).await.map_err(db("creating the mirror's bookkeeping tables"))?;
            tx.execute(
                "INSERT INTO ayni_mirror.migrations (version, description) VALUES (1, 'bookkeeping tables')",
                &[],
            )
            .await
            .map_err(db("recording migration 1"))?;
        }
        let row = tx
            .query_opt("SELECT node_id, position FROM ayni_mirror.state", &[])
            .await
            .map_err(db("reading the mirror's state"))?;
        let mut position = match row {
            Some(r) => {
                let theirs: String = r.get(0);
                if theirs != node_id {
                    return Err(Error::OtherNode { theirs, ours: node_id.to_string() });
                }
                r.get::<_, i64>(1).max(0) as u64
            }
            None => {
                tx.execute("INSERT INTO ayni_mirror.state (node_id, position) VALUES ($1, 0)", &[&node_id])
                    .await
                    .map_err(db("recording the mirror's state"))?;
                0
            }
        };
        let postgis = geometry::find(&tx).await.map_err(db("looking for PostGIS"))?;
        // geometry columns go with PostGIS when it is dropped: the record
        // forgets them, and the migration adds them again if it is back
        tx.execute(
            "DELETE FROM ayni_mirror.columns c WHERE c.udt_name = $1 AND NOT EXISTS (
               SELECT 1 FROM information_schema.columns i
               WHERE i.table_schema = $2 AND i.table_name = c.table_name AND i.column_name = c.column_name)",
            &[&geometry::UDT, &SCHEMA],
        )
        .await
        .map_err(db("reading the geometry columns"))?;
        check_by_hand(&tx).await?;
        // the views go while the tables change under them, and come back as
        // this build makes them
        tx.batch_execute(&views::drop_sql()).await.map_err(db("dropping the situation views"))?;
        tx.batch_execute(&cooperation::drop_sql()).await.map_err(db("dropping the cooperation views"))?;
        let migrated = migrate(&tx, &projection, &postgis).await?;
        for sql in views::create_sql(&projection, postgis.schema().is_some()) {
            tx.batch_execute(&sql).await.map_err(db("creating the situation views"))?;
        }
        for sql in cooperation::create_sql(&projection, projection.by_date()) {
            tx.batch_execute(&sql).await.map_err(db("creating the cooperation views"))?;
        }
        if migrated.is_some() {
            position = 0;
        }
        tx.commit().await.map_err(db("committing the migration"))?;
        Ok(Mirror { client, projection, position, migrated, postgis })
    }

    /// The last feed position whose rows are in: resume after it.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The projection the mirror writes (for [`Projection::batch`]).
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// Writes a batch of feed entries and the position after it in one
    /// transaction: each record's rows, in every table of its kind, are
    /// replaced by its rows now (none when it is deleted). A batch that
    /// brings the position no further is already in and is skipped.
    pub async fn write(&mut self, batch: Batch) -> Result<Applied> {
        let tx = self.client.transaction().await.map_err(db("starting a transaction"))?;
        let at: i64 = tx
            .query_one("SELECT position FROM ayni_mirror.state FOR UPDATE", &[])
            .await
            .map_err(db("reading the feed position"))?
            .get(0);
        let at = at.max(0) as u64;
        if batch.resume <= at {
            self.position = at;
            return Ok(Applied { position: at, ..Applied::default() });
        }
        for (kind, ids) in &batch.ids {
            for t in self.projection.tables().iter().filter(|t| t.kind == *kind) {
                let sql = format!(
                    "DELETE FROM {} WHERE {} = ANY($1)",
                    qualified(t),
                    if t.collection.is_some() { "record_id" } else { "id" }
                );
                tx.execute(&sql, &[ids]).await.map_err(db(&format!("deleting old rows of {}", qualified(t))))?;
            }
        }
        for (i, text) in batch.rows {
            let table = &self.projection.tables()[i];
            let doing = format!("copying rows into {}", qualified(table));
            let sink = tx.copy_in(&copy_sql(table)).await.map_err(db(&doing))?;
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::from(text)).await.map_err(db(&doing))?;
            sink.finish().await.map_err(db(&doing))?;
        }
        let position = at.max(batch.resume);
        tx.execute("UPDATE ayni_mirror.state SET position = $1, updated_at = now()", &[&(position as i64)])
            .await
            .map_err(db("recording the feed position"))?;
        tx.commit().await.map_err(db("committing"))?;
        self.position = position;
        Ok(Applied { records: batch.records, deleted: batch.deleted, position })
    }
}

/// The record tables as recorded: name → (primary key, columns name → udt).
type Recorded = BTreeMap<String, (String, BTreeMap<String, String>)>;

async fn recorded(tx: &tokio_postgres::Transaction<'_>) -> Result<Recorded> {
    let mut out: Recorded = BTreeMap::new();
    for r in tx
        .query("SELECT table_name, primary_key FROM ayni_mirror.tables", &[])
        .await
        .map_err(db("reading the mirror's tables"))?
    {
        out.insert(r.get(0), (r.get(1), BTreeMap::new()));
    }
    for r in tx
        .query("SELECT table_name, column_name, udt_name FROM ayni_mirror.columns", &[])
        .await
        .map_err(db("reading the mirror's columns"))?
    {
        let table: String = r.get(0);
        if let Some((_, cols)) = out.get_mut(&table) {
            cols.insert(r.get(1), r.get(2));
        }
    }
    Ok(out)
}

/// Refuses to go on when a table the mirror made is not as it made it.
async fn check_by_hand(tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
    let recorded = recorded(tx).await?;
    let mut actual: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in tx
        .query(
            "SELECT table_name::text, column_name::text, udt_name::text FROM information_schema.columns WHERE table_schema = $1",
            &[&SCHEMA],
        )
        .await
        .map_err(db("reading the tables of schema ayni"))?
    {
        actual.entry(r.get(0)).or_default().insert(r.get(1), r.get(2));
    }
    for (table, (_, want)) in &recorded {
        let name = format!("{SCHEMA}.{table}");
        let Some(have) = actual.get(table) else {
            return Err(Error::Altered { table: name, detail: "it was dropped".into() });
        };
        for (col, udt) in want {
            match have.get(col) {
                None => return Err(Error::Altered { table: name, detail: format!("column {col} was dropped") }),
                Some(u) if u != udt => {
                    return Err(Error::Altered {
                        table: name,
                        detail: format!("column {col} is {u}, the mirror made it {udt}"),
                    })
                }
                _ => {}
            }
        }
        if let Some(extra) = have.keys().find(|c| !want.contains_key(*c)) {
            return Err(Error::Altered { table: name, detail: format!("column {extra} was added") });
        }
    }
    Ok(())
}

/// A column as the mirror makes it.
struct Wanted {
    name: String,
    udt: &'static str,
    /// In `CREATE TABLE` and `ADD COLUMN` on a reload.
    definition: String,
    /// In `ADD COLUMN` to a table with rows (a new `NOT NULL` column fills
    /// on the reload; until then it may be empty).
    added: String,
    /// Statements that go with it (a geometry column's index and comment).
    then: Vec<String>,
}

/// The columns of `table`: the projection's, then a geometry column per
/// point when PostGIS is there.
fn wanted(table: &Table, postgis: &Postgis) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = table
        .columns
        .iter()
        .map(|c| {
            let mut nullable = c.clone();
            nullable.required = false;
            Wanted {
                name: c.name.clone(),
                udt: SqlType::of(c).udt(),
                definition: projection::definition(c),
                added: projection::definition(&nullable),
                then: vec![],
            }
        })
        .collect();
    if let Some(schema) = postgis.schema() {
        for p in geometry::points(table) {
            let definition = geometry::definition(&p, schema);
            out.push(Wanted {
                name: p.column.clone(),
                udt: geometry::UDT,
                added: definition.clone(),
                definition,
                then: vec![geometry::index_sql(table, &p), geometry::comment_sql(table, &p)],
            });
        }
    }
    out
}

/// Brings the record tables to the projection's shape (and PostGIS's
/// columns to whether it is there): tables created or dropped, columns
/// added, dropped or retyped, a table whose primary key changed made
/// again. Returns the migration's description when there was one
/// (recorded as the next version).
async fn migrate(
    tx: &tokio_postgres::Transaction<'_>,
    projection: &Projection,
    postgis: &Postgis,
) -> Result<Option<String>> {
    let recorded = recorded(tx).await?;
    let mut statements: Vec<String> = vec![];
    let mut said: Vec<String> = vec![];
    let names: BTreeSet<&str> = projection.tables().iter().map(|t| t.name.as_str()).collect();
    // child tables first: they refer to their kind's table
    for (name, _) in recorded.iter().rev().filter(|(n, _)| !names.contains(n.as_str())) {
        statements.push(format!("DROP TABLE IF EXISTS {}.{} CASCADE", ident(SCHEMA), ident(name)));
        said.push(format!("- {name}"));
    }
    for table in projection.tables() {
        let pk = table.primary_key.join(",");
        let columns = wanted(table, postgis);
        let alter = |what: String| format!("ALTER TABLE {} {what}", qualified(table));
        match recorded.get(&table.name) {
            Some((recorded_pk, cols)) if *recorded_pk == pk => {
                let want: BTreeMap<&str, &Wanted> = columns.iter().map(|c| (c.name.as_str(), c)).collect();
                for (col, udt) in cols {
                    match want.get(col.as_str()) {
                        None => {
                            statements.push(alter(format!("DROP COLUMN IF EXISTS {}", ident(col))));
                            said.push(format!("- {}.{col}", table.name));
                        }
                        Some(c) if c.udt != udt => {
                            statements.push(alter(format!("DROP COLUMN IF EXISTS {}", ident(col))));
                            statements.push(alter(format!("ADD COLUMN {}", c.added)));
                            statements.extend(c.then.iter().cloned());
                            said.push(format!("~ {}.{col}", table.name));
                        }
                        _ => {}
                    }
                }
                for c in columns.iter().filter(|c| !cols.contains_key(&c.name)) {
                    statements.push(alter(format!("ADD COLUMN {}", c.added)));
                    statements.extend(c.then.iter().cloned());
                    said.push(format!("+ {}.{}", table.name, c.name));
                }
            }
            replaced => {
                statements.push(format!("DROP TABLE IF EXISTS {} CASCADE", qualified(table)));
                statements.push(create_sql(table));
                for c in columns.iter().filter(|c| c.udt == geometry::UDT) {
                    statements.push(alter(format!("ADD COLUMN {}", c.definition)));
                    statements.extend(c.then.iter().cloned());
                }
                said.push(format!("{} {}", if replaced.is_some() { "~" } else { "+" }, table.name));
            }
        }
    }
    if statements.is_empty() {
        return Ok(None);
    }
    for s in &statements {
        tx.batch_execute(s).await.map_err(db(&format!("migrating the record tables ({s})")))?;
    }
    tx.batch_execute("DELETE FROM ayni_mirror.tables").await.map_err(db("recording the tables"))?;
    for table in projection.tables() {
        tx.execute(
            "INSERT INTO ayni_mirror.tables (table_name, primary_key) VALUES ($1, $2)",
            &[&table.name, &table.primary_key.join(",")],
        )
        .await
        .map_err(db("recording the tables"))?;
        for (i, c) in wanted(table, postgis).iter().enumerate() {
            tx.execute(
                "INSERT INTO ayni_mirror.columns (table_name, column_name, udt_name, definition, ordinal) VALUES ($1, $2, $3, $4, $5)",
                &[&table.name, &c.name, &c.udt, &c.definition, &(i as i32)],
            )
            .await
            .map_err(db("recording the columns"))?;
        }
    }
    let description = if recorded.is_empty() {
        format!("record tables: {} tables from the schemas", projection.tables().len())
    } else {
        format!("record tables changed with the schemas: {}", said.join(", "))
    };
    tx.execute(
        "INSERT INTO ayni_mirror.migrations (version, description) SELECT max(version) + 1, $1 FROM ayni_mirror.migrations",
        &[&description],
    )
    .await
    .map_err(db("recording the migration"))?;
    // every record again, so every row has the new shape's columns
    tx.execute("UPDATE ayni_mirror.state SET position = 0", &[]).await.map_err(db("restarting the feed"))?;
    Ok(Some(description))
}
