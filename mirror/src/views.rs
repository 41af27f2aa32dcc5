//! The situation report's views over the mirrored EDAN tables: what `ayni
//! report` shows, in SQL, for dashboards and QGIS.
//!
//! Owns: the views `ayni.situation_zones` (each zone of each EDAN and its
//! decision: `accepted`, `single_observation`, `needs_decision`,
//! `no_data`), `ayni.situation_figures` (the counts that stand for each
//! decided zone), `ayni.situation_pending` (every team's counts of a zone
//! two teams counted and HQ has not decided: the double counts) and
//! `ayni.situation_totals` (sums per EDAN over decided zones only). Must
//! never: sum two teams' counts of one zone, or pick one by itself — the
//! rule of `ayni_node::report`, which the tests hold these views to.
//!
//! The counts are the tally columns the projection made from the schema
//! (every typed number of a tally but `observed_at`, `method`, `note`,
//! `synthetic`, as in `report.rs`); HQ's manual values are `accepted`'s
//! `values_*` columns.

use crate::geometry;
use crate::projection::{ident, Projection, SqlType, SCHEMA};

/// The views, in the order they are made.
pub const VIEWS: &[&str] = &["situation_totals", "situation_pending", "situation_figures", "situation_zones"];

/// Fields of a tally that describe it rather than count something.
const NOT_COUNTS: &[&str] = &["observed_at", "method", "note", "synthetic"];

/// `DROP VIEW` for every view (before the tables change under them).
pub fn drop_sql() -> String {
    VIEWS.iter().map(|v| format!("DROP VIEW IF EXISTS {}.{};\n", ident(SCHEMA), ident(v))).collect()
}

/// `CREATE VIEW` statements, or none when the projection has no EDAN
/// tallies (a schema without them). With `postgis`, a zone's point is
/// also its geometry column (`geo_point`), so QGIS opens the views as
/// layers.
pub fn create_sql(projection: &Projection, postgis: bool) -> Vec<String> {
    let table = |name: &str| projection.tables().iter().find(|t| t.name == name);
    let (Some(tallies), Some(accepted), Some(zones_table)) =
        (table("edan_tallies"), table("edan_accepted"), table("edan_zones"))
    else {
        return vec![];
    };
    let counts: Vec<&str> = tallies
        .columns
        .iter()
        .filter(|c| {
            matches!(SqlType::of(c), SqlType::BigInt | SqlType::Double) && !NOT_COUNTS.contains(&c.name.as_str())
        })
        .map(|c| c.name.as_str())
        .collect();
    let manual = |c: &str| {
        let name = format!("values_{c}");
        accepted.columns.iter().any(|a| a.name == name).then_some(name)
    };
    let q = |name: &str| format!("{}.{}", ident(SCHEMA), ident(name));
    let zone_point = postgis && geometry::points(zones_table).iter().any(|p| p.column == "geo_point");
    let point = |alias: &str| if zone_point { format!(", {alias}.geo_point") } else { String::new() };
    let zones = format!(
        "CREATE VIEW {view} AS
WITH ids AS (
  SELECT record_id, zone FROM {zones} UNION SELECT record_id, zone FROM {tallies} UNION SELECT record_id, zone FROM {accepted}
), observed AS (
  SELECT record_id, zone, count(*) AS teams, min(team) AS team FROM {tallies} GROUP BY record_id, zone
)
SELECT ids.record_id, e.key AS edan_key, e.event_id, ids.zone, z.name AS zone_name, z.geo_lat, z.geo_lon{z_point},
  CASE WHEN a.team IS NOT NULL OR e.fields->'accepted'->ids.zone ? 'values' THEN 'accepted'
       WHEN o.teams = 1 THEN 'single_observation'
       WHEN o.teams IS NULL THEN 'no_data'
       ELSE 'needs_decision' END AS decision,
  CASE WHEN a.team IS NOT NULL THEN a.team
       WHEN e.fields->'accepted'->ids.zone ? 'values' THEN 'manual'
       WHEN o.teams = 1 THEN o.team END AS source,
  coalesce(o.teams, 0) AS observations
FROM ids
JOIN {edan} e ON e.id = ids.record_id
LEFT JOIN {zones} z ON z.record_id = ids.record_id AND z.zone = ids.zone
LEFT JOIN {accepted} a ON a.record_id = ids.record_id AND a.zone = ids.zone
LEFT JOIN observed o ON o.record_id = ids.record_id AND o.zone = ids.zone",
        view = q("situation_zones"),
        z_point = point("z"),
        zones = q("edan_zones"),
        tallies = q("edan_tallies"),
        accepted = q("edan_accepted"),
        edan = q("edan"),
    );
    let picked: Vec<String> = counts
        .iter()
        .map(|c| match manual(c) {
            Some(m) => {
                format!("CASE WHEN d.source = 'manual' THEN a.{} ELSE t.{} END AS {}", ident(&m), ident(c), ident(c))
            }
            None => format!("t.{} AS {}", ident(c), ident(c)),
        })
        .collect();
    let figures = format!(
        "CREATE VIEW {view} AS
SELECT d.record_id, d.edan_key, d.event_id, d.zone, d.zone_name, d.geo_lat, d.geo_lon{d_point}, d.decision, d.source,
  {picked}
FROM {decisions} d
LEFT JOIN {tallies} t ON t.record_id = d.record_id AND t.zone = d.zone AND t.team = d.source
LEFT JOIN {accepted} a ON a.record_id = d.record_id AND a.zone = d.zone
WHERE d.decision IN ('accepted', 'single_observation')",
        view = q("situation_figures"),
        d_point = point("d"),
        picked = picked.join(",\n  "),
        decisions = q("situation_zones"),
        tallies = q("edan_tallies"),
        accepted = q("edan_accepted"),
    );
    let observed: Vec<String> = counts.iter().map(|c| format!("t.{}", ident(c))).collect();
    let pending = format!(
        "CREATE VIEW {view} AS
SELECT d.record_id, d.edan_key, d.event_id, d.zone, d.zone_name, t.team, {observed}
FROM {decisions} d
JOIN {tallies} t ON t.record_id = d.record_id AND t.zone = d.zone
WHERE d.decision = 'needs_decision'",
        view = q("situation_pending"),
        observed = observed.join(", "),
        decisions = q("situation_zones"),
        tallies = q("edan_tallies"),
    );
    let sums: Vec<String> = counts.iter().map(|c| format!("sum({0}) AS {0}", ident(c))).collect();
    let totals = format!(
        "CREATE VIEW {view} AS
SELECT e.id AS record_id, e.key AS edan_key, e.event_id, e.status,
  count(f.zone) AS decided_zones,
  (SELECT count(*) FROM {decisions} d WHERE d.record_id = e.id AND d.decision = 'needs_decision') AS pending_zones,
  {sums}
FROM {edan} e
LEFT JOIN {figures} f ON f.record_id = e.id
GROUP BY e.id, e.key, e.event_id, e.status",
        view = q("situation_totals"),
        decisions = q("situation_zones"),
        sums = sums.join(", "),
        edan = q("edan"),
        figures = q("situation_figures"),
    );
    vec![zones, figures, pending, totals]
}
