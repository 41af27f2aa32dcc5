//! The cooperation report as a person reads it: one self-contained HTML
//! page (inline CSS and SVG charts) or Markdown, in Spanish.
//!
//! Owns: the report's sections and wording. Every count comes from
//! [`ayni_node::cooperation::CooperationReport`] and carries its raw value
//! in `data-value` on a row named by `data-key`. Must never: compute a
//! figure the report does not hold.

use ayni_node::cooperation::CooperationReport;

use crate::labels::label;
use crate::page::{self, Section, Value};
use crate::svg::{self, Bar};

const NOW: &str = "#2f6db3";
const DUE: &str = "#f2c230";
const OVERDUE: &str = "#c23b22";
const DONE: &str = "#3c8d40";

fn text(s: &Option<String>) -> Value {
    s.as_ref().map(|t| Value::Text(t.clone())).unwrap_or(Value::Empty)
}

fn count(n: usize) -> Value {
    Value::Number(n as f64)
}

fn days(d: Option<f64>) -> Value {
    d.map(|d| Value::Number((d * 10.0).round() / 10.0)).unwrap_or(Value::Empty)
}

fn stage_name(state: &str, stage: &str) -> String {
    let name = crate::labels::state_label("request", state);
    if stage.is_empty() {
        name
    } else {
        format!("{name} ({stage})")
    }
}

fn sections(r: &CooperationReport) -> Vec<Section> {
    let states: Vec<_> = r.requests_by_state.iter().filter(|s| s.now > 0 || s.passed > 0).collect();
    let chart = svg::bars(
        "Solicitudes por etapa",
        &states
            .iter()
            .map(|s| Bar { label: stage_name(&s.state, &s.stage), segments: vec![(s.now as f64, NOW)] })
            .collect::<Vec<_>>(),
        &[("solicitudes en la etapa", NOW)],
    );
    let standing = |what: &str| r.follow_ups.iter().filter(|f| f.standing == what).count() as f64;
    let follow_chart = svg::bars(
        "Seguimientos",
        &[Bar {
            label: "Seguimientos".into(),
            segments: vec![(standing("done"), DONE), (standing("due"), DUE), (standing("overdue"), OVERDUE)],
        }],
        &[("realizados", DONE), ("pendientes", DUE), ("vencidos", OVERDUE)],
    );
    let group_rows = |groups: &[ayni_node::cooperation::Group]| -> Vec<(String, Vec<Value>)> {
        groups
            .iter()
            .map(|g| {
                (
                    g.key.clone(),
                    vec![
                        Value::Text(g.title.clone().unwrap_or_else(|| g.key.clone())),
                        count(g.missions.len()),
                        count(g.results),
                        count(g.follow_ups),
                        Value::Text(g.missions.join(", ")),
                    ],
                )
            })
            .collect()
    };
    let group_head = |what: &str| {
        vec![what.to_string(), "Misiones".into(), "Resultados".into(), "Seguimientos".into(), "Cuáles".into()]
    };
    vec![
        Section {
            id: "solicitudes",
            title: "Solicitudes por etapa (a–d)".into(),
            intro: Some("Etapas del enfoque de demanda: a) análisis, b) aclaración, c) validación y convenio, d) ejecución. Días: mediana de permanencia de las solicitudes que ya dejaron la etapa.".into()),
            chart: Some(chart),
            head: vec!["Etapa".into(), "Ahora".into(), "Pasaron".into(), "Mediana de días".into()],
            rows: states
                .iter()
                .map(|s| {
                    (s.state.clone(), vec![Value::Text(stage_name(&s.state, &s.stage)), count(s.now), count(s.passed), days(s.median_days)])
                })
                .collect(),
            empty: "Ninguna solicitud en el periodo.",
        },
        Section {
            id: "solicitudes-detalle",
            title: "Cada solicitud".into(),
            intro: None,
            chart: None,
            head: vec!["Solicitud".into(), "Entidad".into(), "Recibida".into(), "Etapa actual".into(), "Días en la etapa actual".into()],
            rows: r
                .requests
                .iter()
                .map(|q| {
                    let entity = q.entity.as_ref().map(|(k, t)| t.clone().unwrap_or_else(|| k.clone()));
                    (
                        q.key.clone(),
                        vec![
                            Value::Text(q.title.clone().unwrap_or_else(|| q.key.clone())),
                            text(&entity),
                            text(&q.received_at),
                            Value::Text(stage_name(&q.state, &q.stage)),
                            days(q.days.last().map(|(_, d)| *d)),
                        ],
                    )
                })
                .collect(),
            empty: "Ninguna solicitud en el periodo.",
        },
        Section {
            id: "convenios",
            title: "Convenios".into(),
            intro: Some("Firmados, vigentes, por vencer (60 días) y vencidos.".into()),
            chart: None,
            head: vec!["Convenio".into(), "Estado".into(), "Firmado".into(), "Vigente hasta".into(), "Días restantes".into(), "Partes".into()],
            rows: r
                .agreements
                .iter()
                .map(|a| {
                    (
                        a.key.clone(),
                        vec![
                            Value::Text(a.title.clone().unwrap_or_else(|| a.key.clone())),
                            text(&a.status.as_deref().map(|s| crate::labels::state_label("agreement", s))),
                            text(&a.signed_at),
                            text(&a.valid_until),
                            a.days_left.map(|d| Value::Number(d as f64)).unwrap_or(Value::Empty),
                            Value::Text(a.parties.join(", ")),
                        ],
                    )
                })
                .collect(),
            empty: "Ningún convenio en el periodo.",
        },
        Section {
            id: "por-practica",
            title: "Misiones y resultados por buena práctica".into(),
            intro: None,
            chart: None,
            head: group_head("Práctica"),
            rows: group_rows(&r.by_practice),
            empty: "Ninguna misión nombra una práctica en el periodo.",
        },
        Section {
            id: "por-municipio",
            title: "Misiones y resultados por municipio".into(),
            intro: None,
            chart: None,
            head: group_head("Municipio o entidad"),
            rows: group_rows(&r.by_municipality),
            empty: "Ninguna misión con contraparte en el periodo.",
        },
        Section {
            id: "seguimientos",
            title: "Seguimientos".into(),
            intro: Some(format!("Al {}: vencidos los que pasaron su fecha sin realizarse.", r.today)),
            chart: Some(follow_chart),
            head: vec!["Misión".into(), "Tipo".into(), "Fecha prevista".into(), "Realizado".into(), "Situación".into(), "Retroalimenta a".into()],
            rows: r
                .follow_ups
                .iter()
                .map(|f| {
                    let standing = match f.standing.as_str() {
                        "done" => "realizado",
                        "overdue" => "vencido",
                        "due" => "pendiente",
                        _ => "sin fecha",
                    };
                    (
                        format!("{}/{}", f.mission, f.item_id),
                        vec![
                            Value::Text(f.mission.clone()),
                            Value::Text(label(&f.kind)),
                            text(&f.due_at),
                            text(&f.done_at),
                            Value::Text(standing.into()),
                            text(&f.feeds_back_to),
                        ],
                    )
                })
                .collect(),
            empty: "Ningún seguimiento registrado en el periodo.",
        },
        Section {
            id: "capacitados",
            title: "Personal capacitado por municipio y curso".into(),
            intro: Some("Con los seguimientos de transferencia al puesto de trabajo registrados en misiones con ese municipio.".into()),
            chart: None,
            head: vec![
                "Municipio o entidad".into(),
                "Curso".into(),
                "Inscritos".into(),
                "Capacitados".into(),
                "Seguimientos de transferencia".into(),
            ],
            rows: r
                .trained
                .iter()
                .map(|t| {
                    (
                        format!("{}/{}", t.entity, t.course),
                        vec![
                            Value::Text(t.entity_title.clone().unwrap_or_else(|| t.entity.clone())),
                            Value::Text(t.course_title.clone().unwrap_or_else(|| t.course.clone())),
                            count(t.enrolled),
                            count(t.trained),
                            count(t.transfer_follow_ups),
                        ],
                    )
                })
                .collect(),
            empty: "Ninguna inscripción en cursos del periodo.",
        },
        Section {
            id: "retroalimentacion",
            title: "Prácticas que los resultados retroalimentan".into(),
            intro: None,
            chart: None,
            head: group_head("Práctica"),
            rows: group_rows(&r.feedback),
            empty: "Ningún seguimiento retroalimenta todavía una práctica.",
        },
    ]
}

fn heading(r: &CooperationReport) -> (String, Vec<String>) {
    let period = r.year.map(|y| format!("año {y}")).unwrap_or_else(|| "todos los años".into());
    (
        format!("Informe de cooperación — {period}"),
        vec![format!("Modelo de cooperación subnacional del GAMLP · al {}", r.today)],
    )
}

/// The report as one self-contained HTML page.
pub fn html(r: &CooperationReport, generated_at: &str) -> String {
    let (title, mut sub) = heading(r);
    sub.push(format!("Generado el {generated_at} desde los registros del nodo."));
    page::html(&title, &title, &sub, &sections(r))
}

/// The report as Markdown.
pub fn markdown(r: &CooperationReport, generated_at: &str) -> String {
    let (title, mut sub) = heading(r);
    sub.push(format!("Generado el {generated_at} desde los registros del nodo."));
    page::markdown(&title, &sub, &sections(r))
}
