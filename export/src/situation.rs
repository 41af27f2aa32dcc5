//! The situation report of an emergency as a person reads it: one
//! self-contained HTML file (inline CSS and SVG, nothing fetched, prints
//! to PDF from a browser) or Markdown.
//!
//! Owns: the report's layout and wording (Spanish, the responders' and
//! the mayor's language). Every figure comes from
//! [`ayni_node::situation::EventReport`] and carries its raw value in
//! `data-*` attributes, so a program can check the page against
//! `ayni report --json`. Must never: compute a figure (no sum across
//! teams of a zone, none across EDANs).

use std::fmt::Write;

use ayni_node::report::{EdanReport, ZoneReport};
use ayni_node::situation::EventReport;
use serde_json::{Map, Value};

use crate::labels::{label, path_label, rank};
use crate::page::{markdown_sections, md, number, Section, Value as Cell, CSS};
use crate::svg::{self, escape, trim, Bar, Spot};

const DECIDED: &str = "#3c8d40";
const PENDING: &str = "#e08a00";
const NO_DATA: &str = "#9a9a9a";
const COVERED: &str = "#3c8d40";
const PARTIAL: &str = "#f2c230";
const OPEN: &str = "#c23b22";
const CANCELLED: &str = "#9a9a9a";

/// A zone's count fields, flattened (`livestock_dead.ovino`).
fn flat(values: &Map<String, Value>, prefix: &str, out: &mut Vec<(String, f64)>) {
    for (k, v) in values {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Number(n) => out.push((name, n.as_f64().unwrap_or(0.0))),
            Value::Object(m) => flat(m, &name, out),
            _ => {}
        }
    }
}

/// Every count field any zone of the report has, in the form's order.
fn fields(r: &EdanReport) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    let mut add = |m: &Map<String, Value>| {
        let mut f = vec![];
        flat(m, "", &mut f);
        for (n, _) in f {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    };
    for z in &r.zones {
        z.values.iter().for_each(&mut add);
        z.observations.values().for_each(&mut add);
    }
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names
}

fn value_of(m: &Map<String, Value>, path: &str) -> Option<f64> {
    let mut f = vec![];
    flat(m, "", &mut f);
    f.into_iter().find(|(n, _)| n == path).map(|(_, v)| v)
}

fn decision_es(d: &str) -> &'static str {
    match d {
        "accepted" => "aceptada por HQ",
        "single_observation" => "una sola observación",
        "needs_decision" => "doble conteo: espera decisión de HQ",
        _ => "sin datos",
    }
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(label).unwrap_or_default()
}

/// A record's state, in the words its kind takes.
fn state(kind: &str, s: &Option<String>) -> String {
    s.as_deref().map(|s| crate::labels::state_label(kind, s)).unwrap_or_default()
}

/// The event's scope, its departments named.
fn scope(r: &EventReport) -> String {
    r.scope.iter().map(|e| crate::labels::scope_label(e)).collect::<Vec<_>>().join("; ")
}

fn cell(edan: &str, zone: &str, team: &str, field: &str, v: Option<f64>) -> String {
    let class = if team.is_empty() { "n" } else { "n pending" };
    match v {
        Some(v) => format!(
            r#"<td class="{class}" data-edan="{}" data-zone="{}" data-team="{}" data-field="{}" data-value="{}">{}</td>"#,
            escape(edan),
            escape(zone),
            escape(team),
            escape(field),
            trim(v),
            number(v)
        ),
        None if team.is_empty() => "<td></td>".into(),
        None => r#"<td class="pending"></td>"#.into(),
    }
}

/// One column of an EDAN's table: a zone's decided figures, or one team's
/// observation of a zone awaiting HQ.
struct ZoneColumn<'r> {
    zone: &'r ZoneReport,
    team: &'r str,
    values: Option<&'r Map<String, Value>>,
}

fn zone_columns(r: &EdanReport) -> Vec<ZoneColumn<'_>> {
    let mut out = vec![];
    for z in &r.zones {
        match &z.values {
            Some(v) => out.push(ZoneColumn { zone: z, team: "", values: Some(v) }),
            None if z.observations.is_empty() => out.push(ZoneColumn { zone: z, team: "", values: None }),
            None => out.extend(z.observations.iter().map(|(t, o)| ZoneColumn { zone: z, team: t, values: Some(o) })),
        }
    }
    out
}

fn edan_section(s: &mut String, e: &ayni_node::situation::EventEdan) {
    let r = &e.report;
    let names = fields(r);
    let _ = write!(
        s,
        r#"<section id="edan-{0}"><h2>EDAN {0}</h2><p class="sub">{1} · {2} · estado: {3}</p>"#,
        escape(&e.key),
        escape(&e.title.clone().unwrap_or_default()),
        escape(&opt(&e.edan_type)),
        escape(&state("edan", &e.status))
    );
    if !r.pending_zones.is_empty() {
        let _ = write!(
            s,
            r#"<p class="note" data-pending="{}">Zonas con doble conteo que esperan la decisión de HQ: {}. Sus cifras se muestran por equipo y <strong>no entran en los totales</strong>.</p>"#,
            escape(&r.pending_zones.join(" ")),
            escape(&r.pending_zones.join(", "))
        );
    }
    let columns = zone_columns(r);
    s.push_str(r#"<div class="wide"><table><thead><tr><th>Cifra</th>"#);
    for c in &columns {
        let name = c.zone.name.clone().unwrap_or_else(|| c.zone.zone.clone());
        let source = match (c.zone.decision.as_str(), &c.zone.source) {
            ("needs_decision", _) => format!("{}: {}", decision_es("needs_decision"), c.team),
            (d, Some(src)) => format!("{} ({src})", decision_es(d)),
            (d, None) => decision_es(d).to_string(),
        };
        let pending = if c.zone.decision == "needs_decision" { r#" class="pending""# } else { "" };
        let _ = write!(
            s,
            r#"<th{pending} data-zone="{}" data-decision="{}">{}<br><small>{}</small></th>"#,
            escape(&c.zone.zone),
            escape(&c.zone.decision),
            escape(&name),
            escape(&source)
        );
    }
    s.push_str(r#"<th class="total">Total de zonas decididas</th></tr></thead><tbody>"#);
    for n in &names {
        let _ = write!(s, "<tr><th>{}</th>", escape(&path_label(n)));
        for c in &columns {
            s.push_str(&cell(&e.key, &c.zone.zone, c.team, n, c.values.and_then(|v| value_of(v, n))));
        }
        match r.totals.get(n) {
            Some(v) => {
                let _ = write!(
                    s,
                    r#"<td class="n total" data-edan="{}" data-total="{}" data-value="{}">{}</td>"#,
                    escape(&e.key),
                    escape(n),
                    trim(*v),
                    number(*v)
                );
            }
            None => s.push_str(r#"<td class="total"></td>"#),
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div></section>");
}

/// The report as one self-contained HTML page.
pub fn html(r: &EventReport, generated_at: &str) -> String {
    let title = r.event.title.clone().unwrap_or_else(|| r.event.key.clone());
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Informe de situación — {0}</title><style>{CSS}</style></head><body><header><h1>Informe de situación</h1><p class="sub"><strong>{0}</strong> · {1} · estado del evento: {2}{3}</p><p class="sub">Ámbito: {4}. Generado el {5} desde los registros del nodo.</p></header>"#,
        escape(&title),
        escape(&opt(&r.hazard_type)),
        escape(&state("event", &r.event.status)),
        r.started_at.as_deref().map(|t| format!(" · inicio {}", escape(t))).unwrap_or_default(),
        escape(&scope(r)),
        escape(generated_at)
    );
    if let Some(impact) = &r.impact_text {
        let _ = write!(s, "<p>{}</p>", escape(impact));
    }
    // headline figures, EDAN by EDAN (never summed across EDANs)
    s.push_str(r#"<section id="resumen"><h2>Cifras principales</h2><p>Por EDAN, solo sobre zonas decididas; las EDAN de un mismo evento no se suman (describen las mismas zonas).</p>"#);
    for e in &r.edans {
        let _ = write!(s, r#"<h3>{}</h3><div class="cards">"#, escape(&e.key));
        for n in [
            "families_affected",
            "families_damnified",
            "persons_affected",
            "dead",
            "injured",
            "missing",
            "houses_destroyed",
        ] {
            if let Some(v) = e.report.totals.get(n) {
                let _ = write!(
                    s,
                    r#"<div class="card" data-edan="{}" data-total="{n}" data-value="{}"><b>{}</b>{}</div>"#,
                    escape(&e.key),
                    trim(*v),
                    number(*v),
                    escape(&label(n))
                );
            }
        }
        s.push_str("</div>");
    }
    s.push_str("</section>");
    // the map
    let spots: Vec<Spot> = r
        .map
        .iter()
        .map(|z| Spot {
            lon: z.lon,
            lat: z.lat,
            label: z.name.clone().unwrap_or_else(|| z.zone.clone()),
            colour: match z.decision.as_str() {
                "accepted" | "single_observation" => DECIDED,
                "needs_decision" => PENDING,
                _ => NO_DATA,
            },
        })
        .collect();
    s.push_str(r#"<section id="mapa"><h2>Zonas evaluadas</h2>"#);
    if spots.is_empty() {
        s.push_str("<p>Ninguna zona tiene coordenadas todavía.</p>");
    } else {
        s.push_str(&svg::map(&format!("Mapa de las zonas de {title}"), &spots));
        let _ = write!(
            s,
            r#"<p><span style="color:{DECIDED}">●</span> cifras decididas · <span style="color:{PENDING}">●</span> doble conteo pendiente · <span style="color:{NO_DATA}">●</span> sin datos. Coordenadas WGS 84; sin mapa de fondo.</p>"#
        );
    }
    s.push_str("</section>");
    for e in &r.edans {
        edan_section(&mut s, e);
    }
    needs_section(&mut s, r);
    response_section(&mut s, r);
    s.push_str("<footer><p class=\"sub\">Ayni — informe generado a partir de los registros replicados; las cifras de cada zona son las aceptadas por HQ o la única observación, nunca la suma de dos equipos.</p></footer></body></html>\n");
    s
}

fn needs_section(s: &mut String, r: &EventReport) {
    s.push_str(r#"<section id="necesidades"><h2>Necesidades</h2>"#);
    if r.needs.is_empty() {
        s.push_str("<p>No se registraron necesidades.</p></section>");
        return;
    }
    let bars: Vec<Bar> = r
        .needs_by_sector
        .iter()
        .map(|g| Bar {
            label: format!("{} ({})", label(&g.sector), label(&g.priority)),
            segments: vec![
                (g.covered as f64, COVERED),
                (g.partially_covered as f64, PARTIAL),
                (g.open as f64, OPEN),
                (g.cancelled as f64, CANCELLED),
            ],
        })
        .collect();
    s.push_str(&svg::bars(
        "Necesidades por sector y prioridad",
        &bars,
        &[("cubiertas", COVERED), ("parcialmente", PARTIAL), ("pendientes", OPEN), ("canceladas", CANCELLED)],
    ));
    s.push_str("<table><thead><tr><th>Sector</th><th>Prioridad</th><th>Necesidades</th><th>Pendientes</th><th>Parcialmente cubiertas</th><th>Cubiertas</th><th>Canceladas</th></tr></thead><tbody>");
    for g in &r.needs_by_sector {
        let _ = write!(
            s,
            r#"<tr data-sector="{}" data-priority="{}"><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(&g.sector),
            escape(&g.priority),
            escape(&label(&g.sector)),
            escape(&label(&g.priority)),
            g.needs,
            g.open,
            g.partially_covered,
            g.covered,
            g.cancelled
        );
    }
    s.push_str("</tbody></table><table><thead><tr><th>Prioridad</th><th>Sector</th><th>Ítem</th><th>Cantidad</th><th>Zona</th><th>Estado</th><th>EDAN</th></tr></thead><tbody>");
    for n in &r.needs {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&opt(&n.priority)),
            escape(&opt(&n.sector)),
            escape(&n.item.clone().unwrap_or_default()),
            n.quantity.map(number).unwrap_or_default(),
            escape(&opt(&n.unit)),
            escape(&n.zone.clone().unwrap_or_default()),
            escape(&label(&n.status)),
            escape(&n.edan)
        );
    }
    s.push_str("</tbody></table></section>");
}

fn response_section(s: &mut String, r: &EventReport) {
    s.push_str(r#"<section id="respuesta"><h2>Respuesta</h2>"#);
    if r.missions.is_empty() && r.response.is_empty() {
        s.push_str("<p>No se registró respuesta todavía.</p></section>");
        return;
    }
    if !r.missions.is_empty() {
        s.push_str("<table><thead><tr><th>Misión</th><th>Fase</th><th>Estado</th><th>Resultados</th><th>Entregado</th></tr></thead><tbody>");
        for m in &r.missions {
            let delivered: Vec<String> = m
                .delivered
                .iter()
                .map(|(d, q, u)| format!("{} {} {}", number(*q), escape(u.as_deref().unwrap_or("")), escape(d)))
                .collect();
            let _ = write!(
                s,
                r#"<tr data-mission="{}"><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                escape(&m.key),
                escape(&m.title.clone().unwrap_or_else(|| m.key.clone())),
                escape(&opt(&m.phase)),
                escape(&state("mission", &m.status)),
                m.results,
                delivered.join("<br>")
            );
        }
        s.push_str("</tbody></table>");
    }
    if !r.response.is_empty() {
        s.push_str("<table><thead><tr><th>Cuándo</th><th>Quién</th><th>Qué</th><th>Con qué</th><th>Fase</th></tr></thead><tbody>");
        for a in &r.response {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(a.at.as_deref().unwrap_or("")),
                escape(a.actor.as_deref().unwrap_or("")),
                escape(a.action.as_deref().unwrap_or("")),
                escape(a.resources.as_deref().unwrap_or("")),
                escape(&opt(&a.phase))
            );
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("</section>");
}

/// The report as Markdown (tables; the map is in the HTML version, the
/// zones' coordinates are listed).
pub fn markdown(r: &EventReport, generated_at: &str) -> String {
    let title = r.event.title.clone().unwrap_or_else(|| r.event.key.clone());
    let mut s = format!(
        "# Informe de situación — {}\n\n{} · estado del evento: {} · ámbito: {}\n\nGenerado el {} desde los registros del nodo. Las cifras de cada zona son las aceptadas por HQ o la única observación; las zonas con doble conteo se muestran por equipo y no entran en los totales; las EDAN de un mismo evento no se suman.\n",
        md(&title),
        md(&opt(&r.hazard_type)),
        md(&state("event", &r.event.status)),
        md(&scope(r)),
        generated_at
    );
    for e in &r.edans {
        let names = fields(&e.report);
        let _ = write!(
            s,
            "\n## EDAN {} — {}\n\n{} · estado: {}\n\n",
            md(&e.key),
            md(&e.title.clone().unwrap_or_default()),
            md(&opt(&e.edan_type)),
            md(&state("edan", &e.status))
        );
        if !e.report.pending_zones.is_empty() {
            let _ = writeln!(s, "> Zonas que esperan la decisión de HQ: {}\n", md(&e.report.pending_zones.join(", ")));
        }
        let _ = writeln!(
            s,
            "| Zona | Fuente | {} |",
            names.iter().map(|n| md(&path_label(n))).collect::<Vec<_>>().join(" | ")
        );
        let _ = writeln!(s, "|---|---|{}", "---:|".repeat(names.len()));
        for z in &e.report.zones {
            let zone = md(&z.name.clone().unwrap_or_else(|| z.zone.clone()));
            let row = |m: &Map<String, Value>| {
                names.iter().map(|n| value_of(m, n).map(number).unwrap_or_default()).collect::<Vec<_>>().join(" | ")
            };
            match &z.values {
                Some(v) => {
                    let source = z.source.clone().unwrap_or_default();
                    let _ = writeln!(s, "| {zone} | {} ({}) | {} |", decision_es(&z.decision), md(&source), row(v));
                }
                None => {
                    for (team, obs) in &z.observations {
                        let _ = writeln!(s, "| {zone} | {}: {} | {} |", decision_es(&z.decision), md(team), row(obs));
                    }
                    if z.observations.is_empty() {
                        let _ = writeln!(
                            s,
                            "| {zone} | {} | {} |",
                            decision_es(&z.decision),
                            vec![""; names.len()].join(" | ")
                        );
                    }
                }
            }
        }
        let totals: Vec<String> =
            names.iter().map(|n| e.report.totals.get(n).map(|v| number(*v)).unwrap_or_default()).collect();
        let _ = writeln!(s, "| **Total de zonas decididas** | | {} |", totals.join(" | "));
    }
    s.push('\n');
    let text = |t: &Option<String>| t.as_ref().map(|x| Cell::Text(x.clone())).unwrap_or(Cell::Empty);
    let count = |n: usize| Cell::Number(n as f64);
    let sections = [
        Section {
            id: "necesidades",
            title: "Necesidades".into(),
            intro: None,
            chart: None,
            head: [
                "Sector",
                "Prioridad",
                "Necesidades",
                "Pendientes",
                "Parcialmente cubiertas",
                "Cubiertas",
                "Canceladas",
            ]
            .map(String::from)
            .to_vec(),
            rows: r
                .needs_by_sector
                .iter()
                .map(|g| {
                    let cells = vec![
                        Cell::Text(label(&g.sector)),
                        Cell::Text(label(&g.priority)),
                        count(g.needs),
                        count(g.open),
                        count(g.partially_covered),
                        count(g.covered),
                        count(g.cancelled),
                    ];
                    (g.sector.clone(), cells)
                })
                .collect(),
            empty: "No se registraron necesidades.",
        },
        Section {
            id: "respuesta",
            title: "Respuesta".into(),
            intro: None,
            chart: None,
            head: ["Misión", "Fase", "Estado", "Resultados"].map(String::from).to_vec(),
            rows: r
                .missions
                .iter()
                .map(|m| {
                    let name = m.title.clone().unwrap_or_else(|| m.key.clone());
                    let cells = vec![
                        Cell::Text(name),
                        text(&m.phase.as_deref().map(label)),
                        text(&m.status.as_deref().map(|s| crate::labels::state_label("mission", s))),
                        count(m.results),
                    ];
                    (m.key.clone(), cells)
                })
                .collect(),
            empty: "No se registró respuesta todavía.",
        },
        Section {
            id: "zonas",
            title: "Zonas (WGS 84)".into(),
            intro: None,
            chart: None,
            head: ["EDAN", "Zona", "Latitud", "Longitud", "Decisión"].map(String::from).to_vec(),
            rows: r
                .map
                .iter()
                .map(|z| {
                    let name = z.name.clone().unwrap_or_else(|| z.zone.clone());
                    let cells = vec![
                        Cell::Text(z.edan.clone()),
                        Cell::Text(name),
                        Cell::Text(z.lat.to_string()),
                        Cell::Text(z.lon.to_string()),
                        Cell::Text(decision_es(&z.decision).into()),
                    ];
                    (z.zone.clone(), cells)
                })
                .collect(),
            empty: "Ninguna zona tiene coordenadas todavía.",
        },
    ];
    markdown_sections(&mut s, &sections);
    s
}
