//! Which clients were heard from, and when: every authenticated request and
//! WebSocket connection marks its client, and open WebSocket connections
//! are counted — what HQ's desk shows beside each device. Kept in memory
//! since `serve` started: not stored, not replicated.
//!
//! Owns: that table. Must never: hold a token, or be taken as proof of
//! anything (it is bookkeeping for people).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    last: String,
    open: usize,
}

/// The table (cheap to clone: one shared map).
#[derive(Clone, Default)]
pub struct Presence(Arc<Mutex<HashMap<String, Seen>>>);

/// An open connection, counted until dropped.
pub struct Open {
    presence: Presence,
    name: String,
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Ok(mut map) = self.presence.0.lock() {
            if let Some(s) = map.get_mut(&self.name) {
                s.open = s.open.saturating_sub(1);
            }
        }
    }
}

impl Presence {
    /// Client `name` was heard from now.
    pub fn seen(&self, name: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.entry(name.to_string()).or_default().last = ayni_node::node::now_rfc3339();
        }
    }

    /// Client `name` opened a connection, counted until the guard drops.
    pub fn opened(&self, name: &str) -> Open {
        if let Ok(mut map) = self.0.lock() {
            let s = map.entry(name.to_string()).or_default();
            s.open += 1;
            s.last = ayni_node::node::now_rfc3339();
        }
        Open { presence: self.clone(), name: name.to_string() }
    }

    /// When `name` was last heard from, and its open connections.
    pub fn of(&self, name: &str) -> (Option<String>, usize) {
        match self.0.lock().ok().and_then(|m| m.get(name).map(|s| (Some(s.last.clone()), s.open))) {
            Some(x) => x,
            None => (None, 0),
        }
    }
}
