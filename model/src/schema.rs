//! Record kinds and their field rules, read from the JSON Schema files in
//! `schemas/` (embedded at build time): validation, lifecycles, set-like
//! collections and references.
//!
//! Owns: everything the schema files declare. Must never: hold field rules of
//! its own; a rule that is not in a schema file does not exist.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;

/// Names every record kind once: the kind list and the embedded schema
/// files both come from it.
macro_rules! kinds {
    ($($name:literal),*) => {
        /// The record kinds, with their CLI names.
        pub const KINDS: &[&str] = &[$($name),*];
        const FILES: &[(&str, &str)] = &[
            ("common", include_str!("../../schemas/common.schema.json")),
            $(($name, include_str!(concat!("../../schemas/", $name, ".schema.json")))),*
        ];
    };
}

kinds!(
    "org_unit",
    "entity",
    "practice",
    "catalogue_edition",
    "funding_project",
    "request",
    "agreement",
    "mission",
    "course",
    "person",
    "event",
    "edan",
    "team"
);

const BASE: &str = "https://ayni.invalid/schemas/";

/// One record kind's schema and what it declares.
pub struct KindSchema {
    /// The kind's CLI name.
    pub kind: &'static str,
    /// The field whose value titles a record in tables.
    pub title_field: Option<String>,
    /// The kind's lifecycle, if it has one.
    pub lifecycle: Option<Lifecycle>,
    /// Whether this is a catalogue kind (written by HQ only).
    pub catalogue: bool,
    raw: Value,
    validator: jsonschema::Validator,
}

/// All kinds.
pub struct Schemas {
    kinds: BTreeMap<&'static str, KindSchema>,
    docs: BTreeMap<String, Value>,
}

/// The embedded schemas, parsed once.
pub fn schemas() -> Result<&'static Schemas> {
    static CELL: OnceLock<std::result::Result<Schemas, String>> = OnceLock::new();
    CELL.get_or_init(Schemas::load).as_ref().map_err(|e| Error::Internal(format!("embedded schemas are broken: {e}")))
}

impl Schemas {
    fn load() -> std::result::Result<Schemas, String> {
        let mut docs = BTreeMap::new();
        for (name, text) in FILES {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
            docs.insert(name.to_string(), v);
        }
        let mut registry = jsonschema::Registry::new();
        for (name, v) in &docs {
            registry =
                registry.add(format!("{BASE}{name}.schema.json"), v.clone()).map_err(|e| format!("{name}: {e}"))?;
        }
        let registry = registry.prepare().map_err(|e| e.to_string())?;
        let mut kinds = BTreeMap::new();
        for kind in KINDS {
            let raw = docs.get(*kind).cloned().ok_or(format!("no schema for {kind}"))?;
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .with_registry(&registry)
                .build(&raw)
                .map_err(|e| format!("{kind}: {e}"))?;
            let meta = raw.get("x-ayni").cloned().unwrap_or(Value::Null);
            let lifecycle = match meta.get("lifecycle") {
                Some(l) => {
                    Some(serde_json::from_value::<Lifecycle>(l.clone()).map_err(|e| format!("{kind} lifecycle: {e}"))?)
                }
                None => None,
            };
            kinds.insert(
                *kind,
                KindSchema {
                    kind,
                    title_field: meta.get("title_field").and_then(Value::as_str).map(String::from),
                    lifecycle,
                    catalogue: meta.get("catalogue").and_then(Value::as_bool).unwrap_or(false),
                    raw,
                    validator,
                },
            );
        }
        Ok(Schemas { kinds, docs })
    }

    /// Every record kind, in order.
    pub fn kinds(&self) -> impl Iterator<Item = &str> + '_ {
        self.kinds.keys().copied()
    }

    /// A schema file as shipped in `schemas/`, by name (`common` or a
    /// kind): what clients validate with before they send.
    pub fn document(&self, name: &str) -> Option<&Value> {
        self.docs.get(name)
    }

    /// The schema of `kind`, or [`Error::UnknownKind`].
    pub fn kind(&self, kind: &str) -> Result<&KindSchema> {
        self.kinds.get(kind).ok_or_else(|| Error::UnknownKind { kind: kind.to_string(), known: KINDS })
    }

    /// Follows a `$ref` from a schema node inside document `doc`.
    fn deref<'a>(&'a self, doc: &'a str, s: &'a Value) -> Option<(&'a str, &'a Value)> {
        let r = s.get("$ref")?.as_str()?;
        let (file, pointer) = r.split_once('#').unwrap_or((r, ""));
        let (name, target) = if file.is_empty() {
            (doc, self.docs.get(doc)?)
        } else {
            let name = file.trim_end_matches(".schema.json");
            let (n, d) = self.docs.get_key_value(name)?;
            (n.as_str(), d)
        };
        Some((name, target.pointer(pointer)?))
    }

    /// The schema node describing `key` inside object schema `s`.
    fn child<'a>(&'a self, doc: &'a str, s: &'a Value, key: &str) -> Option<(&'a str, &'a Value)> {
        if let Some(p) = s.get("properties").and_then(|p| p.get(key)) {
            return Some((doc, p));
        }
        if let Some((d, target)) = self.deref(doc, s) {
            if let Some(found) = self.child(d, target, key) {
                return Some(found);
            }
        }
        match s.get("additionalProperties") {
            Some(a) if a.is_object() => Some((doc, a)),
            _ => None,
        }
    }

    /// Follows `$ref`s from a schema node until one that has none.
    fn deref_all<'a>(&'a self, doc: &'a str, s: &'a Value) -> (&'a str, &'a Value) {
        let (mut doc, mut s) = (doc, s);
        for _ in 0..8 {
            match self.deref(doc, s) {
                Some((d, t)) => (doc, s) = (d, t),
                None => break,
            }
        }
        (doc, s)
    }

    /// The schema node describing the items of array schema `s`.
    fn items<'a>(&'a self, doc: &'a str, s: &'a Value) -> Option<(&'a str, &'a Value)> {
        match s.get("items") {
            Some(i) => Some((doc, i)),
            None => self.deref(doc, s).and_then(|(d, t)| self.items(d, t)),
        }
    }

    /// The schema node at a field path (with the file it sits in), if the
    /// schema describes it.
    fn locate<'a>(&'a self, kind: &'a str, path: &[String]) -> Option<(&'a str, &'a Value)> {
        let mut cur: (&str, &Value) = (kind, &self.kind(kind).ok()?.raw);
        for seg in path {
            cur = self.child(cur.0, cur.1, seg)?;
        }
        Some(cur)
    }
}

/// Looks up records by key while input is normalised: `(target kind, text)`
/// → the document ID, `None` when no record has that key.
pub type Resolve<'r> = dyn FnMut(&str, &str) -> Result<Option<String>> + 'r;

impl KindSchema {
    /// The kind's `x-ayni` declarations.
    pub fn meta(&self) -> &Value {
        self.raw.get("x-ayni").unwrap_or(&Value::Null)
    }

    /// Validates a record's fields; the error names the field and the reason.
    pub fn validate(&self, fields: &Value) -> Result<()> {
        let size = json_len(fields);
        if size > MAX_RECORD_BYTES {
            return Err(Error::invalid(
                self.kind,
                "",
                format!("the record is {size} bytes of JSON, over the limit of {MAX_RECORD_BYTES}"),
            ));
        }
        let mut errors = self.validator.iter_errors(fields);
        let Some(first) = errors.next() else {
            return Ok(());
        };
        let more = errors.count();
        let mut path: Vec<String> = first
            .instance_path()
            .as_str()
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let mut reason = first.to_string();
        if let jsonschema::error::ValidationErrorKind::Required { property } = first.kind() {
            if let Some(p) = property.as_str() {
                path.push(p.to_string());
                reason = "is required".into();
            }
        }
        if more > 0 {
            reason.push_str(&format!(" (and {more} more problem(s))"));
        }
        Err(Error::invalid(self.kind, &path.join("."), reason))
    }

    /// Turns input into the stored shape: set-like collections given as JSON
    /// arrays become maps keyed by each item's `id` (or a new ULID), and
    /// references given as `KIND:KEY` or a bare key become document IDs.
    pub fn normalize(&self, schemas: &Schemas, value: Value, resolve: &mut Resolve<'_>) -> Result<Value> {
        let value = bounded(self.kind, &mut vec![], value)?;
        let mut path = vec![];
        normalize_at(schemas, self.kind, (self.kind, &self.raw), &mut path, value, resolve)
    }

    /// Like [`KindSchema::normalize`], for a value about to be written at
    /// `path` (a field the schema does not describe is left as given; the
    /// validation of the whole record then names it).
    pub fn normalize_at_path(
        &self,
        schemas: &Schemas,
        path: &[String],
        value: Value,
        resolve: &mut Resolve<'_>,
    ) -> Result<Value> {
        let value = bounded(self.kind, &mut path.to_vec(), value)?;
        match schemas.locate(self.kind, path) {
            Some(at) => normalize_at(schemas, self.kind, at, &mut path.to_vec(), value, resolve),
            None => Ok(value),
        }
    }
}

impl KindSchema {
    /// The value a `--where PATH=VALUE` filter compares with: PATH must be
    /// a field of the kind (a list field matches one of its items), a
    /// reference may be given by key (`event_id=ev-sama`), and a value
    /// outside a field's enum is refused, naming the choices — so a typo
    /// is an error, not an empty list.
    pub fn where_value(
        &self,
        schemas: &Schemas,
        path: &[String],
        value: Value,
        resolve: &mut Resolve<'_>,
    ) -> Result<Value> {
        let dotted = path.join(".");
        let Some((doc, at)) = schemas.locate(self.kind, path) else {
            let fields: Vec<&str> = self
                .raw
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(Error::invalid(
                self.kind,
                &dotted,
                format!("{} records have no field '{dotted}' (fields: status, key, {})", self.kind, fields.join(", ")),
            ));
        };
        // a list field is matched by one of its items
        let (doc, at) = match schemas.deref_all(doc, at) {
            (d, s) if s.get("type").and_then(Value::as_str) == Some("array") => {
                schemas.items(d, s).unwrap_or((doc, at))
            }
            _ => (doc, at),
        };
        let value = normalize_at(schemas, self.kind, (doc, at), &mut path.to_vec(), value, resolve)?;
        let (_, resolved) = schemas.deref_all(doc, at);
        if let Some(choices) = resolved.get("enum").and_then(Value::as_array) {
            if !choices.contains(&value) {
                let names: Vec<String> =
                    choices.iter().map(|c| c.as_str().map_or(c.to_string(), String::from)).collect();
                return Err(Error::invalid(self.kind, &dotted, format!("{value} is not one of: {}", names.join(", "))));
            }
        }
        Ok(value)
    }
}

/// Largest text value, in bytes (photos and documents travel as blobs,
/// never inside a record).
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Largest record, as JSON.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Deepest nesting of objects and arrays in a record.
pub const MAX_DEPTH: usize = 32;
/// Largest magnitude of a number (beyond it, integers stop being exact).
const MAX_NUMBER: f64 = 9_007_199_254_740_992.0; // 2^53

/// Enforces the size limits on input, whatever the schema says, and makes
/// numbers canonical: a float with no fraction (`3.0`) is stored as the
/// integer it is, so counts sum exactly on every replica.
fn bounded(kind: &str, path: &mut Vec<String>, value: Value) -> Result<Value> {
    let fail = |path: &[String], reason: String| Err(Error::invalid(kind, &path.join("."), reason));
    if path.len() > MAX_DEPTH {
        return fail(path, format!("nested more than {MAX_DEPTH} levels deep"));
    }
    Ok(match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            return fail(path, format!("text of {} bytes is over the limit of {MAX_STRING_BYTES}", s.len()));
        }
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => match n.as_f64() {
            Some(f) if f.abs() > MAX_NUMBER || !f.is_finite() => {
                return fail(path, format!("{n} is out of range (at most ±2^53)"));
            }
            Some(f) if f.fract() == 0.0 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Number(n) if n.as_i64().is_none() => {
            return fail(path, format!("{n} is out of range (at most ±2^53)"));
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                path.push(i.to_string());
                out.push(bounded(kind, path, v)?);
                path.pop();
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if k.len() > MAX_STRING_BYTES {
                    return fail(path, format!("a field name of {} bytes", k.len()));
                }
                path.push(k);
                let v = bounded(kind, path, v)?;
                out.insert(path.pop().unwrap_or_default(), v);
            }
            Value::Object(out)
        }
        other => other,
    })
}

fn normalize_at(
    schemas: &Schemas,
    kind: &str,
    at: (&str, &Value),
    path: &mut Vec<String>,
    value: Value,
    resolve: &mut Resolve<'_>,
) -> Result<Value> {
    let (doc, s) = at;
    if let Some(target) = s.get("x-ref").and_then(Value::as_str) {
        if let Value::String(text) = &value {
            if text.parse::<crate::id::DocumentId>().is_ok() {
                return Ok(value);
            }
            let (want, key) = match text.split_once(':') {
                Some((k, key)) => (k, key),
                None => (target, text.as_str()),
            };
            if want != target {
                return Err(Error::invalid(kind, &path.join("."), format!("must reference a {target}, not a {want}")));
            }
            return match resolve(target, key)? {
                Some(id) => Ok(Value::String(id)),
                None => Err(Error::invalid(kind, &path.join("."), format!("no {target} with key '{key}'"))),
            };
        }
    }
    let is_set = s.get("x-merge").and_then(Value::as_str) == Some("set");
    let value = match value {
        Value::Array(items) if is_set => {
            let mut map = serde_json::Map::new();
            for item in items {
                let (id, item) = match item {
                    Value::Object(mut o) => match o.remove("id") {
                        Some(Value::String(id)) => (id, Value::Object(o)),
                        Some(other) => {
                            return Err(Error::invalid(
                                kind,
                                &path.join("."),
                                format!("item id {other} must be a string"),
                            ))
                        }
                        None => (crate::id::new_item_id(), Value::Object(o)),
                    },
                    other => (crate::id::new_item_id(), other),
                };
                map.insert(id, item);
            }
            Value::Object(map)
        }
        other => other,
    };
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                path.push(k.clone());
                let v = match schemas.child(doc, s, &k) {
                    Some(sub) => normalize_at(schemas, kind, sub, path, v, resolve)?,
                    None => v,
                };
                path.pop();
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let Some(sub) = schemas.items(doc, s) else {
                return Ok(Value::Array(items));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                path.push(i.to_string());
                out.push(normalize_at(schemas, kind, sub, path, v, resolve)?);
                path.pop();
            }
            Ok(Value::Array(out))
        }
        other => Ok(other),
    }
}

/// How many bytes `value` takes as compact JSON, counted as it is
/// written, not kept.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_json_length_is_counted_as_it_is_written() {
        let v = serde_json::json!({"nombre": "Sama \"ñ\"", "n": [1, 2.5, null], "m": {"a": true}});
        assert_eq!(json_len(&v), serde_json::to_vec(&v).unwrap().len());
    }
    use serde_json::json;

    #[test]
    fn every_schema_loads_with_its_lifecycle() {
        let s = schemas().unwrap();
        for kind in KINDS {
            s.kind(kind).unwrap();
        }
        assert!(s.kind("mission").unwrap().lifecycle.is_some());
        assert!(s.kind("entity").unwrap().lifecycle.is_none());
        assert!(matches!(s.kind("nope"), Err(Error::UnknownKind { .. })));
    }

    #[test]
    fn errors_name_field_and_reason() {
        let s = schemas().unwrap();
        let edan = s.kind("edan").unwrap();
        let id = crate::id::DocumentId::random().unwrap().to_string();
        let bad = json!({"event_id": id, "edan_type": "preliminar",
            "tallies": {"z2": {"gaem-2": {"dead": -1}}}});
        let e = edan.validate(&bad).unwrap_err().to_string();
        assert!(e.starts_with("edan tallies.z2.gaem-2.dead: -1 is less than the minimum"), "{e}");
        let e = edan.validate(&json!({"edan_type": "preliminar"})).unwrap_err().to_string();
        assert_eq!(e, "edan event_id: is required");
        let e = s
            .kind("agreement")
            .unwrap()
            .validate(&json!({"kind": "acuerdo_general", "party_entity_ids": [id], "signed_at": "2017-13-40"}))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agreement signed_at:"), "{e}");
    }

    #[test]
    fn normalize_keys_sets_and_resolves_references() {
        let s = schemas().unwrap();
        let edan = s.kind("edan").unwrap();
        let target = crate::id::DocumentId::random().unwrap().to_string();
        let t2 = target.clone();
        let mut resolve = move |kind: &str, key: &str| -> Result<Option<String>> {
            Ok((kind == "event" && key == "ev-sama").then(|| t2.clone()))
        };
        let v = edan
            .normalize(
                s,
                json!({"event_id": "event:ev-sama", "edan_type": "preliminar",
            "needs": [{"id": "n1", "sector": "alimentos"}, {"sector": "salud"}]}),
                &mut resolve,
            )
            .unwrap();
        assert_eq!(v["event_id"], json!(target));
        assert_eq!(v["needs"]["n1"], json!({"sector": "alimentos"}));
        assert_eq!(v["needs"].as_object().unwrap().len(), 2);
        let e = edan.normalize(s, json!({"event_id": "missing"}), &mut resolve).unwrap_err();
        assert_eq!(e.to_string(), "edan event_id: no event with key 'missing'");
    }
}
