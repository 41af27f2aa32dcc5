//! The published catalogue of good municipal practices: a static site
//! that opens from a USB stick (relative links, inline CSS, no script)
//! and prints to PDF.
//!
//! Owns: the site's files — `index.html` (the cover, how to request, the
//! practices by thematic area), `catalogo-completo.html` (every practice
//! on one page, for printing) and `practicas/CODE.html` (one page each)
//! — and their wording, in Spanish. Must never: write them (the caller
//! does, atomically) or add what the records do not say.

use std::fmt::Write;

use ayni_node::catalogue::{Catalogue, Practice, Unit};

use crate::labels::label;
use crate::page::CSS;
use crate::svg::escape;

/// One file of the site: its path relative to the site's root, its text.
pub type File = (String, String);

fn unit_text(u: &Unit) -> String {
    match &u.acronym {
        Some(a) => format!("{} ({a})", u.name),
        None => u.name.clone(),
    }
}

/// A practice's file name: its key (unique in its kind), safe for any
/// file system.
pub fn file_name(p: &Practice) -> String {
    let safe: String = p.key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("practicas/{safe}.html")
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>{CSS}.all .practice{{break-before:page}}</style></head><body>{body}</body></html>
"#,
        escape(title)
    )
}

fn list(s: &mut String, items: &[String]) {
    s.push_str("<ul>");
    for i in items {
        let _ = write!(s, "<li>{}</li>", escape(i));
    }
    s.push_str("</ul>");
}

fn heading(p: &Practice) -> String {
    match p.number {
        Some(n) => format!("{n}. {}", p.title),
        None => p.title.clone(),
    }
}

/// One practice as an `<article>`.
fn practice(p: &Practice, c: &Catalogue) -> String {
    let mut s = format!(
        r#"<article class="practice" id="{}" data-key="{}"><h2>{}</h2><p class="sub">{} · {}{}</p>"#,
        escape(&p.code),
        escape(&p.key),
        escape(&heading(p)),
        escape(&p.code),
        escape(&p.kind.as_deref().map(label).unwrap_or_default()),
        if p.thematic_areas.is_empty() {
            String::new()
        } else {
            format!(" · {}", escape(&p.thematic_areas.iter().map(|a| label(a)).collect::<Vec<_>>().join(", ")))
        }
    );
    if let Some(en) = &p.title_en {
        let _ = write!(s, r#"<p class="sub"><em>{}</em></p>"#, escape(en));
    }
    s.push_str("<h3>Unidad que la gestiona</h3>");
    match &p.managing_unit {
        Some(u) => {
            let _ = write!(s, "<p>{}</p>", escape(&unit_text(u)));
        }
        None => s.push_str("<p>Sin registrar.</p>"),
    }
    if let Some(u) = p.operated_by.as_ref().filter(|u| Some(*u) != p.managing_unit.as_ref()) {
        let _ = write!(s, "<p>La opera: {}</p>", escape(&unit_text(u)));
    }
    s.push_str("<h3>El modelo</h3>");
    match &p.summary {
        Some(t) => {
            let _ = write!(s, "<p>{}</p>", escape(t));
        }
        None => s.push_str("<p>Sin resumen registrado.</p>"),
    }
    if !p.premises.is_empty() {
        s.push_str("<p>Premisas:</p>");
        list(&mut s, &p.premises);
    }
    s.push_str("<h3>Qué se puede transferir</h3>");
    if p.characteristics.is_empty() {
        s.push_str("<p>Sin registrar.</p>");
    } else {
        list(&mut s, &p.characteristics);
    }
    if let Some(r) = &p.transfer_readiness {
        let _ = write!(s, "<p>Disponibilidad para la transferencia: {}</p>", escape(&label(r)));
    }
    s.push_str("<h3>Qué debe aportar la entidad solicitante</h3>");
    if p.prerequisites.is_empty() {
        s.push_str("<p>Sin requisitos registrados: consultar a la unidad.</p>");
    } else {
        let items: Vec<String> =
            p.prerequisites.iter().map(|(i, m)| if *m { format!("{i} (obligatorio)") } else { i.clone() }).collect();
        list(&mut s, &items);
    }
    s.push_str("<h3>Resultados con otros municipios</h3>");
    if p.results.is_empty() {
        s.push_str("<p>Aún no se registraron transferencias.</p>");
    } else {
        s.push_str("<table><thead><tr><th>Misión</th><th>Año</th><th>Con</th><th>Resultados</th></tr></thead><tbody>");
        for t in &p.results {
            let _ = write!(
                s,
                r#"<tr data-mission="{}"><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&t.mission),
                escape(&t.title.clone().unwrap_or_else(|| t.mission.clone())),
                escape(&t.mission_type.as_deref().map(label).unwrap_or_default()),
                t.year.map(|y| y.to_string()).unwrap_or_default(),
                escape(&t.with.join(", ")),
                t.achieved.iter().map(|a| escape(a)).collect::<Vec<_>>().join("<br>")
            );
        }
        s.push_str("</tbody></table>");
    }
    if !p.certifications.is_empty() {
        s.push_str("<h3>Certificaciones</h3>");
        let items: Vec<String> = p.certifications.iter().map(|(sch, st)| format!("{sch}: {}", label(st))).collect();
        list(&mut s, &items);
    }
    if let Some(course) = &p.related_course {
        let _ = write!(s, "<p>Curso relacionado: {}</p>", escape(course));
    }
    s.push_str("<h3>Contacto</h3>");
    if let Some(u) = &p.managing_unit {
        let _ = write!(
            s,
            "<p>{}{}</p>",
            escape(&unit_text(u)),
            u.address.as_deref().map(|a| format!(" — {}", escape(a))).unwrap_or_default()
        );
    }
    if let Some(u) = &c.coordinator {
        let _ = write!(
            s,
            "<p>Solicitudes de asistencia técnica: {}{}</p>",
            escape(&unit_text(u)),
            u.address.as_deref().map(|a| format!(" — {}", escape(a))).unwrap_or_default()
        );
    }
    s.push_str("</article>");
    s
}

fn cover(c: &Catalogue) -> String {
    let mut s = format!(r#"<header><h1>{}</h1><p class="sub">"#, escape(&c.title));
    let _ = write!(s, "Edición {}", c.edition);
    if let Some(y) = c.year {
        let _ = write!(s, " · {y}");
    }
    if c.draft {
        s.push_str(" · borrador generado de las prácticas en oferta hoy");
    }
    s.push_str("</p>");
    if let Some(p) = &c.presented_at {
        let _ = write!(s, r#"<p class="sub">Presentado en: {}</p>"#, escape(p));
    }
    for (what, u) in [("Elaborado por", &c.authored_by), ("Avalado por", &c.endorsed_by)] {
        if let Some(u) = u {
            let _ = write!(s, r#"<p class="sub">{what}: {}</p>"#, escape(&unit_text(u)));
        }
    }
    s.push_str("</header>");
    if let Some(u) = &c.coordinator {
        let _ = write!(
            s,
            "<section><h2>Cómo solicitar una práctica</h2><p>El municipio interesado dirige una nota formal a {}{}; la solicitud se analiza, se aclara en una reunión en La Paz, se valida con un convenio y se ejecuta (etapas a–d).</p></section>",
            escape(&unit_text(u)),
            u.address.as_deref().map(|a| format!(", {}", escape(a))).unwrap_or_default()
        );
    }
    s
}

/// Every file of the site.
pub fn site(c: &Catalogue) -> Vec<File> {
    let mut files = vec![];
    // the index: practices by thematic area
    let mut index = cover(c);
    let _ = write!(index, "<section><h2>Prácticas ({})</h2>", c.practices.len());
    let mut areas: Vec<String> = c.practices.iter().flat_map(|p| p.thematic_areas.clone()).collect();
    areas.sort();
    areas.dedup();
    let untagged = c.practices.iter().any(|p| p.thematic_areas.is_empty());
    for area in areas.iter().map(Some).chain(untagged.then_some(None)) {
        let _ = write!(index, "<h3>{}</h3><ul>", escape(&area.map(|a| label(a)).unwrap_or_else(|| "Otras".into())));
        for p in c.practices.iter().filter(|p| match area {
            Some(a) => p.thematic_areas.contains(a),
            None => p.thematic_areas.is_empty(),
        }) {
            let _ = write!(
                index,
                r#"<li><a href="{}">{}</a> <small>{}</small></li>"#,
                file_name(p),
                escape(&heading(p)),
                escape(&p.code)
            );
        }
        index.push_str("</ul>");
    }
    index.push_str(
        r#"<p><a href="catalogo-completo.html">El catálogo completo en una página, para imprimir</a></p></section>"#,
    );
    files.push(("index.html".to_string(), page(&c.title, &index)));
    // everything on one page
    let mut all = format!(r#"{}<main class="all">"#, cover(c));
    for p in &c.practices {
        all.push_str(&practice(p, c));
    }
    all.push_str("</main>");
    files.push(("catalogo-completo.html".to_string(), page(&c.title, &all)));
    // one page per practice
    for p in &c.practices {
        let body = format!(r#"<p><a href="../index.html">← {}</a></p>{}"#, escape(&c.title), practice(p, c));
        files.push((file_name(p), page(&format!("{} — {}", p.title, c.title), &body)));
    }
    files
}
