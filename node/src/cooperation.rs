//! The cooperation report: the monitoring the 2018 model says La Paz
//! lacks — requests through the demand stages (a to d) and the time spent
//! in each, agreements signed and expiring, missions and their results by
//! practice and municipality, follow-ups due and overdue, trained staff by
//! municipality and course with their transfer-to-job follow-up, and which
//! practices the results feed back to.
//!
//! Owns: gathering that from the records into one serialisable report,
//! for a year or for all time. Must never: render, or read the clock (the
//! caller passes today).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::error::Result;
use crate::node::{Reader, Record};

/// A request's state and its stage of the demand approach (DOMAIN.md
/// §2.4): a = analysis, b = clarification, c = validation and agreement,
/// d = execution.
pub const STAGES: &[(&str, &str)] = &[
    ("received", ""),
    ("under_analysis", "a"),
    ("clarification", "b"),
    ("validated", "c"),
    ("agreement_in_process", "c"),
    ("in_execution", "d"),
    ("closed", ""),
    ("rejected", ""),
    ("withdrawn", ""),
];

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct CooperationReport {
    /// The year it covers, or every year.
    pub year: Option<i32>,
    /// The day it was made for (follow-ups due or overdue against it).
    pub today: String,
    /// Requests by state, with the time they spent there.
    pub requests_by_state: Vec<StateCount>,
    /// Every request.
    pub requests: Vec<RequestLine>,
    /// Agreements: signed, active, expiring, expired, in process.
    pub agreements: Vec<AgreementLine>,
    /// Missions and results by practice.
    pub by_practice: Vec<Group>,
    /// Missions and results by counterpart municipality.
    pub by_municipality: Vec<Group>,
    /// Every follow-up of a mission.
    pub follow_ups: Vec<FollowUpLine>,
    /// Trained staff by home municipality and course.
    pub trained: Vec<TrainedGroup>,
    /// Practices that follow-ups feed back to.
    pub feedback: Vec<Group>,
}

/// Requests in one state.
#[derive(Debug, Clone, Serialize)]
pub struct StateCount {
    /// The state.
    pub state: String,
    /// Its stage (a to d), if it is one.
    pub stage: String,
    /// Requests now in it.
    pub now: usize,
    /// Requests that went through it (and left).
    pub passed: usize,
    /// Median days spent in it by those that left it.
    pub median_days: Option<f64>,
}

/// One request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLine {
    /// Key.
    pub key: String,
    /// What was asked.
    pub title: Option<String>,
    /// The requesting entity's key and title.
    pub entity: Option<(String, Option<String>)>,
    /// When it arrived.
    pub received_at: Option<String>,
    /// Its state now.
    pub state: String,
    /// Its stage now.
    pub stage: String,
    /// Days in each state it went through, in order (the current one up
    /// to today).
    pub days: Vec<(String, f64)>,
}

/// One agreement.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementLine {
    /// Key.
    pub key: String,
    /// Title.
    pub title: Option<String>,
    /// State as shown (`active`, `expiring`, `expired` for a signed one).
    pub status: Option<String>,
    /// Signed on.
    pub signed_at: Option<String>,
    /// Valid until.
    pub valid_until: Option<String>,
    /// Days until it expires (negative: since it expired).
    pub days_left: Option<i64>,
    /// The parties' keys.
    pub parties: Vec<String>,
}

/// Missions (and what they produced) grouped by a record they name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    /// The record's key.
    pub key: String,
    /// Its title.
    pub title: Option<String>,
    /// Missions.
    pub missions: Vec<String>,
    /// Results recorded by those missions.
    pub results: usize,
    /// Follow-ups (for feedback: those feeding back to it).
    pub follow_ups: usize,
}

/// One follow-up of a mission.
#[derive(Debug, Clone, Serialize)]
pub struct FollowUpLine {
    /// The mission.
    pub mission: String,
    /// Its item ID.
    pub item_id: String,
    /// `strategic`, `methodological`, `transfer_to_job`, `funder_reporting`.
    pub kind: String,
    /// Due on.
    pub due_at: Option<String>,
    /// Done on.
    pub done_at: Option<String>,
    /// Its status as recorded.
    pub status: Option<String>,
    /// `done`, `overdue`, `due` or `unscheduled`.
    pub standing: String,
    /// The practice it feeds back to.
    pub feeds_back_to: Option<String>,
}

/// Trained staff of one municipality in one course.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrainedGroup {
    /// Home entity key.
    pub entity: String,
    /// Its title.
    pub entity_title: Option<String>,
    /// Course key.
    pub course: String,
    /// Its title.
    pub course_title: Option<String>,
    /// Enrolled (any status but dropped).
    pub enrolled: usize,
    /// Completed or certified.
    pub trained: usize,
    /// Transfer-to-job follow-ups recorded for missions with this
    /// municipality as counterpart.
    pub transfer_follow_ups: usize,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn date(s: &str) -> Option<Date> {
    Date::parse(s.get(..10)?, &time::format_description::well_known::Iso8601::DATE).ok()
}

fn year_of(s: Option<&str>) -> Option<i32> {
    s.and_then(date).map(|d| d.year())
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn items(r: &Record, field: &str) -> Vec<(String, Value)> {
    r.fields.get(field).and_then(Value::as_object).map(|m| m.clone().into_iter().collect()).unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Everything the report reads, by kind.
pub struct Inputs {
    /// Requests with their applied transitions `(state entered, at)`.
    pub requests: Vec<(Record, Vec<(String, String)>)>,
    /// Agreements.
    pub agreements: Vec<Record>,
    /// Missions.
    pub missions: Vec<Record>,
    /// Courses.
    pub courses: Vec<Record>,
    /// Names of referenced records: ID → (key, title).
    pub names: BTreeMap<String, (String, Option<String>)>,
}

/// Builds the report for `year` (or all) as of `today`.
pub fn build(input: &Inputs, year: Option<i32>, today: Date) -> CooperationReport {
    let in_year = |s: Option<&str>| year.is_none() || year_of(s) == year;
    let name = |id: &str| input.names.get(id).cloned().unwrap_or_else(|| (id.to_string(), None));
    let now = today.midnight().assume_utc();
    let stage = |state: &str| STAGES.iter().find(|(s, _)| *s == state).map(|(_, g)| g.to_string()).unwrap_or_default();

    // requests through the stages
    let mut requests = vec![];
    let mut stays: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (r, path) in &input.requests {
        let received = text(&r.fields, "received_at");
        if !in_year(received.as_deref()) {
            continue;
        }
        let state = r.status.clone().unwrap_or_default();
        let start = received.clone().unwrap_or_else(|| r.created_at.clone());
        let mut entered: Vec<(String, String)> = vec![("received".into(), start)];
        entered.extend(path.iter().cloned());
        let mut days = vec![];
        for (i, (s, at)) in entered.iter().enumerate() {
            let from = instant(at);
            let to = entered.get(i + 1).map(|(_, t)| instant(t)).unwrap_or(Some(now));
            if let (Some(from), Some(to)) = (from, to) {
                let d = ((to - from).as_seconds_f64() / 86_400.0).max(0.0);
                days.push((s.clone(), d));
                if i + 1 < entered.len() {
                    stays.entry(s.clone()).or_default().push(d);
                }
            }
        }
        requests.push(RequestLine {
            key: r.key.clone(),
            title: r.title.clone(),
            entity: text(&r.fields, "requesting_entity_id").map(|id| name(&id)),
            received_at: received,
            stage: stage(&state),
            state,
            days,
        });
    }
    let requests_by_state = STAGES
        .iter()
        .map(|(s, g)| StateCount {
            state: s.to_string(),
            stage: g.to_string(),
            now: requests.iter().filter(|r| r.state == *s).count(),
            passed: stays.get(*s).map_or(0, Vec::len),
            median_days: median(stays.get(*s).cloned().unwrap_or_default()),
        })
        .collect();

    let agreements = input
        .agreements
        .iter()
        .filter(|a| {
            // signed that year, still valid in it, or not signed yet
            let signed = year_of(text(&a.fields, "signed_at").as_deref());
            let until = year_of(text(&a.fields, "valid_until").as_deref());
            match (year, signed) {
                (None, _) | (_, None) => true,
                (Some(y), Some(s)) => s == y || (s <= y && until.is_some_and(|u| u >= y)),
            }
        })
        .map(|a| {
            let until = text(&a.fields, "valid_until");
            AgreementLine {
                key: a.key.clone(),
                title: a.title.clone(),
                status: a.status.clone(),
                signed_at: text(&a.fields, "signed_at"),
                days_left: until.as_deref().and_then(date).map(|d| (d - today).whole_days()),
                valid_until: until,
                parties: ids(&a.fields, "party_entity_ids").iter().map(|id| name(id).0).collect(),
            }
        })
        .collect();

    // missions of the year, by practice and by municipality
    let missions: Vec<&Record> = input
        .missions
        .iter()
        .filter(|m| {
            let y = m.fields.get("year").and_then(Value::as_i64).map(|y| y as i32).or_else(|| {
                year_of(text(&m.fields, "actual_start").or_else(|| text(&m.fields, "planned_start")).as_deref())
            });
            year.is_none() || y == year
        })
        .collect();
    let mut by_practice: BTreeMap<String, Group> = BTreeMap::new();
    let mut by_municipality: BTreeMap<String, Group> = BTreeMap::new();
    let mut follow_ups = vec![];
    let mut feedback: BTreeMap<String, Group> = BTreeMap::new();
    let mut transfers_by_entity: BTreeMap<String, usize> = BTreeMap::new();
    for m in &missions {
        let results = items(m, "results").len();
        let add = |groups: &mut BTreeMap<String, Group>, id: &str| {
            let (key, title) = name(id);
            let g =
                groups.entry(key.clone()).or_insert(Group { key, title, missions: vec![], results: 0, follow_ups: 0 });
            g.missions.push(m.key.clone());
            g.results += results;
        };
        for p in ids(&m.fields, "practice_ids") {
            add(&mut by_practice, &p);
        }
        let counterparts = ids(&m.fields, "counterpart_entity_ids");
        for e in &counterparts {
            add(&mut by_municipality, e);
        }
        for (item_id, f) in items(m, "follow_ups") {
            let kind = text(&f, "kind").unwrap_or_default();
            let due = text(&f, "due_at");
            let status = text(&f, "status");
            let done = matches!(status.as_deref(), Some("done" | "closed" | "skipped"))
                || f.get("done_at").is_some_and(|d| !d.is_null());
            let standing = match (done, due.as_deref().and_then(date)) {
                (true, _) => "done",
                (false, Some(d)) if d < today => "overdue",
                (false, Some(_)) => "due",
                (false, None) => "unscheduled",
            };
            let feeds = text(&f, "feeds_back_to_practice_id");
            if let Some(p) = &feeds {
                let (key, title) = name(p);
                let g = feedback.entry(key.clone()).or_insert(Group {
                    key,
                    title,
                    missions: vec![],
                    results: 0,
                    follow_ups: 0,
                });
                if !g.missions.contains(&m.key) {
                    g.missions.push(m.key.clone());
                    g.results += results;
                }
                g.follow_ups += 1;
            }
            if kind == "transfer_to_job" {
                for e in &counterparts {
                    *transfers_by_entity.entry(name(e).0).or_default() += 1;
                }
            }
            follow_ups.push(FollowUpLine {
                mission: m.key.clone(),
                item_id,
                kind,
                due_at: due,
                done_at: text(&f, "done_at"),
                status,
                standing: standing.into(),
                feeds_back_to: feeds.map(|p| name(&p).0),
            });
        }
    }
    follow_ups.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.mission.cmp(&b.mission)));

    // trained staff by municipality and course
    let mut trained: BTreeMap<(String, String), TrainedGroup> = BTreeMap::new();
    for c in input.courses.iter().filter(|c| in_year(text(&c.fields, "starts_on").as_deref())) {
        for (_, e) in items(c, "enrollments") {
            let status = text(&e, "status").unwrap_or_default();
            if status == "dropped" {
                continue;
            }
            let (entity, entity_title) = text(&e, "home_entity_id").map(|id| name(&id)).unwrap_or_default();
            let g = trained.entry((entity.clone(), c.key.clone())).or_insert(TrainedGroup {
                transfer_follow_ups: transfers_by_entity.get(&entity).copied().unwrap_or(0),
                entity,
                entity_title,
                course: c.key.clone(),
                course_title: c.title.clone(),
                enrolled: 0,
                trained: 0,
            });
            g.enrolled += 1;
            if matches!(status.as_str(), "completed" | "certified") {
                g.trained += 1;
            }
        }
    }

    CooperationReport {
        year,
        today: today.to_string(),
        requests_by_state,
        requests,
        agreements,
        by_practice: by_practice.into_values().collect(),
        by_municipality: by_municipality.into_values().collect(),
        follow_ups,
        trained: trained.into_values().collect(),
        feedback: feedback.into_values().collect(),
    }
}

/// An RFC 3339 instant or a `YYYY-MM-DD` date (at midnight UTC).
fn instant(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| date(s).map(|d| d.midnight().assume_utc()))
}

impl Reader {
    /// The cooperation report for `year` (or every year) as of `today`,
    /// from the records `keep` lets through.
    pub fn cooperation_report(
        &self,
        year: Option<i32>,
        today: Date,
        keep: &dyn Fn(&Record) -> bool,
    ) -> Result<CooperationReport> {
        let schemas = crate::schema::schemas()?;
        let lifecycle = schemas.kind("request")?.lifecycle.clone();
        let mut requests = vec![];
        for r in self.list("request", &[])?.into_iter().filter(|r| keep(r)) {
            let log = crate::record::transitions(&self.load(&r.id.parse()?)?);
            let path = match &lifecycle {
                Some(lc) => lc.applied(&log).into_iter().map(|t| (t.to.clone(), t.at.clone())).collect(),
                None => vec![],
            };
            requests.push((r, path));
        }
        let mut names = BTreeMap::new();
        for kind in ["entity", "practice", "person", "org_unit"] {
            self.list_each(kind, &[], |r| {
                if keep(&r) {
                    names.insert(r.id.clone(), (r.key.clone(), r.title.clone()));
                }
                Ok(())
            })?;
        }
        let kept =
            |kind: &str| -> Result<Vec<Record>> { Ok(self.list(kind, &[])?.into_iter().filter(|r| keep(r)).collect()) };
        let input = Inputs {
            requests,
            agreements: kept("agreement")?,
            missions: kept("mission")?,
            courses: kept("course")?,
            names,
        };
        Ok(build(&input, year, today))
    }
}
