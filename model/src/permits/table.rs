//! The rules table, `schemas/permits.json`, as read: roles, kinds, field
//! permits and their path patterns.
//!
//! Owns: parsing the table (refusing unknown roles, kinds, ops and
//! malformed paths) and matching a path against a pattern. Must never:
//! judge a change (that is the parent module's `judge`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// What a field permit allows at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Write values at or below the path (change, replace, create).
    Set,
    /// Remove the path or anything below it.
    Remove,
    /// Create the entry at exactly this path, where none was.
    Add,
    /// Insert items into the list at exactly this path.
    Append,
}

/// One segment of a permit's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    /// `*`: any key.
    Any,
    /// `{team}`: a team the author counts for.
    Team,
}

/// A dotted path pattern (`tallies.*.{team}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Seg>);

impl Pattern {
    fn parse(text: &str) -> std::result::Result<Pattern, String> {
        if text.is_empty() {
            return Err("an empty path".into());
        }
        let segs = text
            .split('.')
            .map(|s| match s {
                "" => Err(format!("'{text}' has an empty segment")),
                "*" => Ok(Seg::Any),
                "{team}" => Ok(Seg::Team),
                k => Ok(Seg::Key(k.to_string())),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Pattern(segs))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the pattern matches `path` exactly.
    pub fn matches(&self, path: &[String], in_team: &dyn Fn(&str) -> bool) -> bool {
        self.0.len() == path.len()
            && self.0.iter().zip(path).all(|(seg, key)| match seg {
                Seg::Key(k) => k == key,
                Seg::Any => true,
                Seg::Team => in_team(key),
            })
    }

    /// Whether the pattern matches `path` or one of its ancestors.
    pub fn covers(&self, path: &[String], in_team: &dyn Fn(&str) -> bool) -> bool {
        self.len() <= path.len() && self.matches(&path[..self.len()], in_team)
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let segs: Vec<&str> = self
            .0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.as_str(),
                Seg::Any => "*",
                Seg::Team => "{team}",
            })
            .collect();
        f.write_str(&segs.join("."))
    }
}

/// A field permit: a path pattern and what may be done there.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where.
    pub pattern: Pattern,
    /// What.
    pub ops: Vec<Op>,
}

/// What one role may do to one kind.
#[derive(Debug, Clone, Default)]
pub struct KindPermits {
    /// Create records of the kind.
    pub create: bool,
    /// Delete them.
    pub delete: bool,
    /// Bring deleted ones back (or keep one edited while deleted).
    pub undelete: bool,
    /// Write resolution entries settling concurrent states.
    pub settle: bool,
    /// Lifecycle moves, `from->to`, or `*` for every move.
    pub moves: Vec<String>,
    /// Field permits.
    pub fields: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindFile {
    #[serde(default)]
    create: bool,
    #[serde(default)]
    delete: bool,
    #[serde(default)]
    undelete: bool,
    #[serde(default)]
    settle: bool,
    #[serde(default)]
    moves: Vec<String>,
    #[serde(default)]
    fields: BTreeMap<String, Vec<Op>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    about: String,
    kinds: BTreeMap<String, KindFile>,
}

#[derive(Deserialize)]
struct TableFile {
    format: u32,
    entries: BTreeMap<String, Value>,
    roles: BTreeMap<String, RoleFile>,
}

/// One role's permits.
#[derive(Debug, Clone)]
pub struct RolePermits {
    /// Who holds the role, in words.
    pub about: String,
    /// Per kind (`*`: every kind not listed).
    pub kinds: BTreeMap<String, KindPermits>,
}

/// The whole table.
#[derive(Debug)]
pub struct Permits {
    roles: BTreeMap<String, RolePermits>,
    entries: BTreeMap<String, Vec<Pattern>>,
}

/// The role names the table must define.
pub const ROLES: [&str; 3] = ["hq", "field", "read"];

/// The shipped table, parsed once.
pub fn permits() -> Result<&'static Permits> {
    static CELL: OnceLock<std::result::Result<Permits, String>> = OnceLock::new();
    CELL.get_or_init(|| Permits::parse(super::FILE))
        .as_ref()
        .map_err(|e| Error::Internal(format!("schemas/permits.json is broken: {e}")))
}

impl Permits {
    /// Reads a table (the shipped one is [`permits`]).
    pub fn parse(text: &str) -> std::result::Result<Permits, String> {
        let file: TableFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.format != 1 {
            return Err(format!("format {} is not supported", file.format));
        }
        let kinds = crate::schema::KINDS;
        let mut roles = BTreeMap::new();
        for (name, role) in file.roles {
            if !ROLES.contains(&name.as_str()) {
                return Err(format!("unknown role '{name}'"));
            }
            let mut out = BTreeMap::new();
            for (kind, k) in role.kinds {
                if kind != "*" && !kinds.contains(&kind.as_str()) {
                    return Err(format!("{name}: unknown kind '{kind}'"));
                }
                let mut fields = vec![];
                for (path, ops) in k.fields {
                    let pattern = Pattern::parse(&path).map_err(|e| format!("{name} › {kind}: {e}"))?;
                    fields.push(Rule { pattern, ops });
                }
                for m in &k.moves {
                    if m != "*" && m.split_once("->").is_none() {
                        return Err(format!("{name} › {kind}: move '{m}' is not FROM->TO"));
                    }
                }
                let permits = KindPermits {
                    create: k.create,
                    delete: k.delete,
                    undelete: k.undelete,
                    settle: k.settle,
                    moves: k.moves,
                    fields,
                };
                out.insert(kind, permits);
            }
            roles.insert(name, RolePermits { about: role.about, kinds: out });
        }
        for r in ROLES {
            if !roles.contains_key(r) {
                return Err(format!("role '{r}' is missing"));
            }
        }
        let mut entries = BTreeMap::new();
        for (kind, list) in file.entries {
            if kind.starts_with('$') {
                continue;
            }
            let list = list.as_array().ok_or(format!("entries of {kind}: a list of paths"))?;
            let mut pats = vec![];
            for p in list {
                pats.push(Pattern::parse(p.as_str().ok_or(format!("entries of {kind}: a list of paths"))?)?);
            }
            entries.insert(kind, pats);
        }
        Ok(Permits { roles, entries })
    }

    /// What `role` may do to `kind` (nothing, for a kind the role does not list).
    pub fn of(&self, role: &str, kind: &str) -> Option<&KindPermits> {
        let r = self.roles.get(role)?;
        r.kinds.get(kind).or_else(|| r.kinds.get("*"))
    }

    /// A role's permits, by name.
    pub fn role(&self, role: &str) -> Option<&RolePermits> {
        self.roles.get(role)
    }

    /// The table as people and scripts read it (`ayni roles`): per role,
    /// what it may do to each kind — every kind, or only `kind` — with the
    /// `*` entry already applied; and the collections whose entries never
    /// change. `Err` names an unknown kind.
    pub fn describe(&self, kind: Option<&str>) -> Result<Value> {
        let kinds: Vec<&str> = match kind {
            Some(k) => {
                crate::schema::schemas()?.kind(k)?;
                vec![k]
            }
            None => crate::schema::KINDS.to_vec(),
        };
        let mut roles = serde_json::Map::new();
        for name in ROLES {
            let mut per_kind = serde_json::Map::new();
            for k in &kinds {
                let p = self.of(name, k).cloned().unwrap_or_default();
                let fields: serde_json::Map<String, Value> = p
                    .fields
                    .iter()
                    .map(|r| (r.pattern.to_string(), serde_json::to_value(&r.ops).unwrap_or(Value::Null)))
                    .collect();
                per_kind.insert(
                    k.to_string(),
                    serde_json::json!({
                        "create": p.create, "delete": p.delete, "undelete": p.undelete, "settle": p.settle,
                        "moves": p.moves, "fields": fields,
                    }),
                );
            }
            let about = self.roles.get(name).map(|r| r.about.clone()).unwrap_or_default();
            roles.insert(name.to_string(), serde_json::json!({"about": about, "kinds": per_kind}));
        }
        let entries: serde_json::Map<String, Value> = self
            .entries
            .iter()
            .filter(|(k, _)| kinds.contains(&k.as_str()))
            .map(|(k, pats)| (k.clone(), Value::from(pats.iter().map(|p| p.to_string()).collect::<Vec<_>>())))
            .collect();
        Ok(serde_json::json!({"format": 1, "file": "schemas/permits.json", "roles": roles, "entries": entries}))
    }

    /// The collections of `kind` whose entries never change once written.
    pub fn entries_of(&self, kind: &str) -> &[Pattern] {
        self.entries.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }
}
