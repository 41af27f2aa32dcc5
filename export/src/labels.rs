//! Names people read for schema fields and enum values, in Spanish: the
//! same file the field app shows (`schemas/labels.es.json`).
//!
//! Owns: looking a name up, and a field path's label
//! (`livestock_dead.ovino` → "Ganado muerto (cabezas): Ovino"). Must
//! never: translate record contents.

use std::sync::OnceLock;

/// The file's pairs in its order (the schema's order of fields).
struct Ordered(Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of names and labels")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<Ordered, M::Error> {
                let mut out = vec![];
                while let Some(pair) = m.next_entry()? {
                    out.push(pair);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Pairs)
    }
}

fn labels() -> &'static [(String, String)] {
    static LABELS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    LABELS.get_or_init(|| {
        serde_json::from_str::<Ordered>(include_str!("../../schemas/labels.es.json")).map(|o| o.0).unwrap_or_default()
    })
}

/// The label of one name, or the name spaced and capitalised.
pub fn label(name: &str) -> String {
    match labels().iter().find(|(k, _)| k == name) {
        Some((_, l)) => l.clone(),
        None => {
            let spaced = name.replace('_', " ");
            let mut c = spaced.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
    }
}

/// Whether the labels file names `name` (else [`label`] makes one up).
pub fn known(name: &str) -> bool {
    labels().iter().any(|(k, _)| k == name)
}

/// The label of a state of a record of `kind`: the kind's own
/// (`request.closed` → "Cerrada", agreeing with *solicitud*), else the
/// state's (`closed` → "Cerrado").
pub fn state_label(kind: &str, state: &str) -> String {
    let qualified = format!("{kind}.{state}");
    if known(&qualified) {
        label(&qualified)
    } else {
        label(state)
    }
}

/// An event's scope entry (`tarija / Cercado`, as the situation report
/// holds it) with its department named as people write it.
pub fn scope_label(entry: &str) -> String {
    match entry.split_once(" / ") {
        Some((department, rest)) => format!("{} / {rest}", label(department)),
        None => label(entry),
    }
}

/// The label of a dotted path, part by part.
pub fn path_label(path: &str) -> String {
    path.split('.').map(label).collect::<Vec<_>>().join(": ")
}

/// Where a name sits in the labels file (its schema order), for sorting
/// columns as the form shows them; unknown names after.
pub fn rank(path: &str) -> usize {
    let first = path.split('.').next().unwrap_or(path);
    labels().iter().position(|(k, _)| k == first).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_shared_file() {
        assert!(labels().len() > 50, "schemas/labels.es.json parses");
        assert_eq!(label("families_affected"), "Familias afectadas");
        assert_eq!(path_label("livestock_dead.ovino"), "Ganado muerto (cabezas): Ovino");
        assert_eq!(label("no_such_name"), "No such name");
        assert!(rank("families_affected") < rank("dead"));
    }
}
