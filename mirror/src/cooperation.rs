//! The cooperation report's views over the mirrored tables: what `ayni
//! report cooperation` shows of requests, agreements, follow-ups and
//! trained staff, in SQL, as of today.
//!
//! Owns: the views `ayni.cooperation_requests` (each request, its state,
//! its stage of the demand approach a–d, days since it was received),
//! `ayni.cooperation_agreements` (each agreement, its state as shown
//! today — a date-driven state such as `signed` → `active`/`expiring`/
//! `expired` computed from the lifecycle's rule, not the name it had when
//! the row was written — days left, parties' keys),
//! `ayni.cooperation_follow_ups` (each mission follow-up: done, due,
//! overdue or unscheduled today) and `ayni.cooperation_trained` (staff
//! enrolled and trained by home municipality and course). Must never:
//! decide a rule of its own — stages come from
//! [`ayni_node::cooperation::STAGES`], date-driven states from the kinds'
//! lifecycles, the follow-up and training rules are
//! `ayni_node::cooperation`'s, which the tests hold these views to.
//!
//! "Today" is the UTC date, as the report's.

use crate::projection::{ident, literal, ByDate, Projection, SCHEMA};

/// The views, in the order they are made.
pub const VIEWS: &[&str] =
    &["cooperation_requests", "cooperation_agreements", "cooperation_follow_ups", "cooperation_trained"];

/// Today, as the report takes it.
const TODAY: &str = "(now() AT TIME ZONE 'UTC')::date";

/// `status` as shown today: a row written as one of a date-driven
/// state's names (or the state itself) is named again from its date.
fn shown_today(alias: &str, kind: &str, rules: &[ByDate]) -> String {
    let mut sql = String::from("CASE");
    for r in rules.iter().filter(|r| r.kind == kind) {
        let [before, warning, after] = &r.names;
        let names: Vec<String> = [&r.state, before, warning, after].iter().map(|n| literal(n)).collect();
        let date = format!("{alias}.{}", ident(&r.date_field));
        sql.push_str(&format!(
            " WHEN {alias}.status IN ({}) THEN CASE WHEN {date} IS NULL THEN {b} WHEN {date} < {TODAY} THEN {a} \
             WHEN {date} - {TODAY} <= {days} THEN {w} ELSE {b} END",
            names.join(", "),
            b = literal(before),
            a = literal(after),
            w = literal(warning),
            days = r.warn_days,
        ));
    }
    sql.push_str(&format!(" ELSE {alias}.status END"));
    sql
}

/// `DROP VIEW` for every view.
pub fn drop_sql() -> String {
    VIEWS.iter().map(|v| format!("DROP VIEW IF EXISTS {}.{};\n", ident(SCHEMA), ident(v))).collect()
}

/// `CREATE VIEW` statements for the tables the projection has (a view
/// whose tables or columns are missing is not made).
pub fn create_sql(projection: &Projection, rules: &[ByDate]) -> Vec<String> {
    let has = |table: &str, columns: &[&str]| {
        projection
            .tables()
            .iter()
            .find(|t| t.name == table)
            .is_some_and(|t| columns.iter().all(|c| t.columns.iter().any(|col| col.name == *c)))
    };
    let q = |name: &str| format!("{}.{}", ident(SCHEMA), ident(name));
    let mut out = vec![];
    if has("request", &["received_at", "requesting_entity_id"]) && has("entity", &[]) {
        let stages: String = ayni_node::cooperation::STAGES
            .iter()
            .filter(|(_, stage)| !stage.is_empty())
            .map(|(state, stage)| format!(" WHEN {} THEN {}", literal(state), literal(stage)))
            .collect();
        out.push(format!(
            "CREATE VIEW {view} AS
SELECT r.id AS record_id, r.key, r.title, e.key AS entity_key, e.title AS entity_title, r.received_at,
  r.status AS state, CASE r.status{stages} END AS stage,
  {TODAY} - coalesce(r.received_at, (r.created_at AT TIME ZONE 'UTC')::date) AS days_since_received
FROM {request} r
LEFT JOIN {entity} e ON e.id = r.requesting_entity_id",
            view = q("cooperation_requests"),
            request = q("request"),
            entity = q("entity"),
        ));
    }
    if has("agreement", &["signed_at", "valid_until", "party_entity_ids"]) {
        out.push(format!(
            "CREATE VIEW {view} AS
SELECT a.id AS record_id, a.key, a.title, {state} AS state, a.signed_at, a.valid_until,
  a.valid_until - {TODAY} AS days_left,
  ARRAY(SELECT e.key FROM {entity} e WHERE e.id = ANY(a.party_entity_ids) ORDER BY e.key) AS party_keys
FROM {agreement} a",
            view = q("cooperation_agreements"),
            state = shown_today("a", "agreement", rules),
            entity = q("entity"),
            agreement = q("agreement"),
        ));
    }
    if has("mission_follow_ups", &["kind", "due_at", "done_at", "status", "feeds_back_to_practice_id"]) {
        out.push(format!(
            "CREATE VIEW {view} AS
SELECT m.id AS record_id, m.key AS mission_key, f.item_id, f.kind, f.due_at, f.done_at, f.status,
  CASE WHEN f.status IN ('done', 'closed', 'skipped') OR f.done_at IS NOT NULL THEN 'done'
       WHEN f.due_at < {TODAY} THEN 'overdue'
       WHEN f.due_at IS NOT NULL THEN 'due'
       ELSE 'unscheduled' END AS standing,
  p.key AS feeds_back_to_practice_key
FROM {follow_ups} f
JOIN {mission} m ON m.id = f.record_id
LEFT JOIN {practice} p ON p.id = f.feeds_back_to_practice_id",
            view = q("cooperation_follow_ups"),
            follow_ups = q("mission_follow_ups"),
            mission = q("mission"),
            practice = q("practice"),
        ));
    }
    if has("course_enrollments", &["home_entity_id", "status"]) {
        out.push(format!(
            "CREATE VIEW {view} AS
SELECT coalesce(e.key, '') AS entity_key, e.title AS entity_title, c.key AS course_key, c.title AS course_title,
  count(*) AS enrolled, count(*) FILTER (WHERE n.status IN ('completed', 'certified')) AS trained
FROM {enrollments} n
JOIN {course} c ON c.id = n.record_id
LEFT JOIN {entity} e ON e.id = n.home_entity_id
WHERE n.status IS DISTINCT FROM 'dropped'
GROUP BY e.key, e.title, c.key, c.title",
            view = q("cooperation_trained"),
            enrollments = q("course_enrollments"),
            course = q("course"),
            entity = q("entity"),
        ));
    }
    out
}
