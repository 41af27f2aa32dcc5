//! The EDAN form: one team's assessment of one zone, as ODK Collect and
//! KoboCollect fill it — the questions, their XLSForm types and Spanish
//! labels, and the record field each one fills.
//!
//! Owns: that one list, from which both the XLSForm is written and
//! exports are read (so the two cannot drift apart); counts and needs
//! come from the EDAN schema (`$defs/tally`, `needs`). Must never: read
//! or write files.

use ayni_export::labels::label;
use serde_json::Value;

/// Where a question's answer goes in the record.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Form metadata: when the assessment started / ended.
    Start,
    /// When it ended.
    End,
    /// The event's key (a reference).
    Event,
    /// The team's key.
    Team,
    /// The zone's ID.
    ZoneId,
    /// The zone's name.
    ZoneName,
    /// The zone's point.
    ZoneGeo,
    /// A top-level field, at this path.
    Field(Vec<&'static str>),
    /// A field of this team's tally of the zone.
    Tally(String),
    /// A field of a need (in the `needs` repeat).
    Need(String),
    /// The photo (in the `photos` repeat).
    Photo,
    /// Its caption.
    Caption,
}

/// A question's XLSForm type.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `start` / `end` metadata.
    Meta(&'static str),
    /// Free text.
    Text,
    /// A whole number ≥ 0.
    Integer,
    /// A number ≥ 0.
    Decimal,
    /// One of a list (its name, its values).
    One(String, Vec<String>),
    /// Several of a list, space-separated.
    Many(String, Vec<String>),
    /// A GPS point.
    Geopoint,
    /// A photo.
    Image,
}

/// One question.
#[derive(Debug, Clone)]
pub struct Question {
    /// Its name (unique in the form).
    pub name: String,
    /// Its type.
    pub kind: Kind,
    /// Its label.
    pub label: String,
    /// Whether it must be answered.
    pub required: bool,
    /// Where the answer goes.
    pub target: Target,
}

/// A part of the form: top level, a group or a repeat.
#[derive(Debug, Clone)]
pub struct Section {
    /// Its name (empty at top level).
    pub name: &'static str,
    /// Its label.
    pub label: &'static str,
    /// Whether it repeats.
    pub repeat: bool,
    /// Its questions.
    pub questions: Vec<Question>,
}

/// The form's ID and title.
pub const FORM_ID: &str = "ayni_edan";
/// Its title.
pub const FORM_TITLE: &str = "EDAN — evaluación de daños y análisis de necesidades (Ayni)";
/// The `$defs/name` pattern zone and team IDs follow.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";

fn enum_of(v: &Value) -> Option<Vec<String>> {
    v.get("enum")?.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
}

fn q(name: &str, kind: Kind, required: bool, target: Target) -> Question {
    Question { name: name.into(), label: label(name), kind, required, target }
}

/// The form's sections, from the EDAN schema.
pub fn sections() -> Result<Vec<Section>, ayni_node::Error> {
    let schemas = ayni_node::schema::schemas()?;
    let edan = schemas.document("edan").cloned().unwrap_or(Value::Null);
    let common = schemas.document("common").cloned().unwrap_or(Value::Null);
    let props = &edan["properties"];
    let resolve = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with("common.schema.json#") => {
                common.pointer(&r["common.schema.json#".len()..]).cloned().unwrap_or(Value::Null)
            }
            Some(r) if r.starts_with('#') => edan.pointer(&r[1..]).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let typed = |name: &str, v: &Value, list: &str| -> Option<Kind> {
        let v = resolve(v);
        if let Some(values) = enum_of(&v) {
            return Some(Kind::One(list.into(), values));
        }
        match v.get("type").and_then(Value::as_str)? {
            "integer" => Some(Kind::Integer),
            "number" => Some(Kind::Decimal),
            "string" if v.get("format").is_none() => Some(Kind::Text),
            _ => {
                let _ = name;
                None
            }
        }
    };
    let mut top = vec![
        // metadata the collecting app fills in: never shown, never labelled
        Question { label: String::new(), ..q("start", Kind::Meta("start"), false, Target::Start) },
        Question { label: String::new(), ..q("end", Kind::Meta("end"), false, Target::End) },
        Question {
            name: "event".into(),
            kind: Kind::Text,
            label: "Evento (código, p. ej. ev-sama)".into(),
            required: true,
            target: Target::Event,
        },
        Question {
            name: "team".into(),
            kind: Kind::Text,
            label: "Equipo".into(),
            required: true,
            target: Target::Team,
        },
    ];
    if let Some(values) = enum_of(&props["edan_type"]) {
        top.push(q("edan_type", Kind::One("edan_type".into(), values), true, Target::Field(vec!["edan_type"])));
    }
    top.push(q("lead_evaluator", Kind::Text, false, Target::Field(vec!["lead_evaluator"])));
    if let Some(values) = props["info_sources"].get("items").and_then(enum_of) {
        top.push(q(
            "info_sources",
            Kind::Many("info_sources".into(), values),
            false,
            Target::Field(vec!["info_sources"]),
        ));
    }
    let mut location = vec![];
    if let Some(values) = enum_of(&resolve(&props["location"]["properties"]["department"])) {
        location.push(q(
            "department",
            Kind::One("department".into(), values),
            false,
            Target::Field(vec!["location", "department"]),
        ));
    }
    location.push(q("province", Kind::Text, false, Target::Field(vec!["location", "province"])));
    location.push(q("community_or_zone", Kind::Text, false, Target::Field(vec!["location", "community_or_zone"])));
    let zone = vec![
        Question {
            name: "zone_id".into(),
            kind: Kind::Text,
            label: "Código de la zona (p. ej. z3)".into(),
            required: true,
            target: Target::ZoneId,
        },
        Question {
            name: "zone_name".into(),
            kind: Kind::Text,
            label: "Nombre de la zona".into(),
            required: false,
            target: Target::ZoneName,
        },
        Question {
            name: "zone_geo".into(),
            kind: Kind::Geopoint,
            label: "Ubicación de la zona (GPS)".into(),
            required: false,
            target: Target::ZoneGeo,
        },
    ];
    let tally_def = edan.pointer("/$defs/tally/properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let tally: Vec<Question> = tally_def
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "synthetic" | "observed_at"))
        .filter_map(|(name, v)| Some(q(name, typed(name, v, name)?, false, Target::Tally(name.clone()))))
        .collect();
    let need_def = props["needs"]["additionalProperties"]["properties"].as_object().cloned().unwrap_or_default();
    let needs: Vec<Question> = ["sector", "item", "quantity", "unit", "priority"]
        .iter()
        .filter_map(|name| {
            let kind = typed(name, need_def.get(*name)?, &format!("need_{name}"))?;
            Some(q(name, kind, true, Target::Need(name.to_string())))
        })
        .collect();
    let photos = vec![
        Question {
            name: "photo".into(),
            kind: Kind::Image,
            label: "Foto".into(),
            required: false,
            target: Target::Photo,
        },
        Question {
            name: "caption".into(),
            kind: Kind::Text,
            label: "Descripción de la foto".into(),
            required: false,
            target: Target::Caption,
        },
    ];
    Ok(vec![
        Section { name: "", label: "", repeat: false, questions: top },
        Section { name: "location", label: "Ubicación", repeat: false, questions: location },
        Section { name: "zone", label: "Zona evaluada", repeat: false, questions: zone },
        Section { name: "tally", label: "Conteo del equipo en la zona", repeat: false, questions: tally },
        Section { name: "needs", label: "Necesidades", repeat: true, questions: needs },
        Section { name: "photos", label: "Fotos", repeat: true, questions: photos },
    ])
}
