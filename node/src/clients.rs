//! Client tokens: the programs and apps (scripts, dashboards, the web app)
//! that act on this node through its HTTP API, and the role each acts with.
//!
//! Owns: issuing, listing, revoking and checking client tokens; the client
//! a write is made for ([`Actor`]). Must never: store a token
//! (only the SHA-256 of its secret), compare secrets in variable time, or
//! let a client do more than the issuing node's role allows.
//!
//! A token is `ayc1_NAME_SECRET`: the client's name (letters, digits, `-`)
//! and 32 random bytes in lowercase base32. Stored under `cl:NAME` as JSON
//! ([`Client`], format 1). Changes a client makes are this node's own
//! signed changes: peers judge them by this node's role; this node first
//! judges them by the client's (`read` writes nothing; `field` writes what
//! a field member may, tallies only for its `--team`), and their commit
//! message names the client, so `ayni history` shows who made them.

use crate::identity::NodeId;
use crate::store::Table;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::network::Role;
use crate::node::{Node, Reader, Rows};

const TOKEN_PREFIX: &str = "ayc1_";

pub use crate::attest::ClientRole;

/// A client, as stored (never its token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Client {
    /// Its name, unique on this node.
    pub name: String,
    /// What it may do.
    pub role: ClientRole,
    /// The team whose EDAN tallies a `field` client writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// For a partner's `read` client: the entity (document ID) it stands
    /// for, which narrows what it reads (see [`Client::may_read`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// When it was issued (RFC 3339).
    pub created_at: String,
    /// When its token stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// SHA-256 of the token's secret, hex.
    #[serde(skip_serializing)]
    #[serde(default)]
    secret_sha256: String,
}

impl Client {
    /// Whether this client reads every record (it is bound to no entity),
    /// so no record need be looked at to decide.
    pub fn reads_everything(&self) -> bool {
        self.entity.is_none()
    }

    /// Whether this client may read `rec`, a record of a catalogue kind or
    /// not. A client bound to no entity reads every record (HQ's panels,
    /// field teams' apps). A partner's `read` client, bound to its entity,
    /// reads the catalogue kinds, its own entity record, and the missions,
    /// agreements and requests that name its entity; nothing else (no EDAN,
    /// event or person).
    pub fn may_read(&self, rec: &crate::node::Record, catalogue: bool) -> bool {
        entity_may_read(self.entity.as_deref(), rec, catalogue)
    }

    /// How its changes through `gateway` are attributed (what a record it
    /// creates must carry as `created_by`).
    pub fn author(&self, gateway: &crate::identity::NodeId) -> String {
        crate::attest::label(&self.name, gateway)
    }

    /// The kinds of record its role may create (`schemas/permits.json`).
    pub fn may_create(&self) -> Result<Vec<String>> {
        let (permits, role) = (crate::permits::permits()?, self.role.to_string());
        let kinds = crate::schema::schemas()?.kinds();
        Ok(kinds.filter(|k| permits.of(&role, k).is_some_and(|p| p.create)).map(String::from).collect())
    }
}

/// What a client bound to `entity` (or to none) reads: see
/// [`Client::may_read`].
pub fn entity_may_read(entity: Option<&str>, rec: &crate::node::Record, catalogue: bool) -> bool {
    let Some(entity) = entity else { return true };
    if catalogue || rec.id == entity {
        return true;
    }
    matches!(rec.kind.as_str(), "mission" | "agreement" | "request") && names(&rec.fields, entity)
}

/// Whether `value` holds the string `id` anywhere.
fn names(value: &serde_json::Value, id: &str) -> bool {
    match value {
        serde_json::Value::String(s) => s == id,
        serde_json::Value::Array(items) => items.iter().any(|v| names(v, id)),
        serde_json::Value::Object(map) => map.values().any(|v| names(v, id)),
        _ => false,
    }
}

/// Format byte of a client revocation record.
const CLIENT_REVOCATION_FORMAT: u8 = 0x21;

/// A client's revocation as it replicates (with memberships, in `Members`
/// frames and bundles), so every node refuses what the client's gateway
/// attests from then on. `0x21 | len u32 BE | JSON | Ed25519 signature`
/// by the gateway (the node that issued the client) over the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRevocation {
    /// The network's ID.
    pub network: String,
    /// The gateway's node ID.
    pub gateway: String,
    /// The gateway's public key (hex): the signer.
    pub gateway_key: String,
    /// The client's name on its gateway.
    pub client: String,
    /// When (RFC 3339).
    pub revoked_at: String,
}

impl ClientRevocation {
    /// Whether these bytes are a client revocation (not a membership).
    pub fn is_one(bytes: &[u8]) -> bool {
        bytes.first() == Some(&CLIENT_REVOCATION_FORMAT)
    }

    fn sign(&self, key: &crate::identity::SecretKey) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))?;
        let mut out = vec![CLIENT_REVOCATION_FORMAT];
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&key.sign(&json));
        Ok(out)
    }

    /// Reads and verifies one: the framing, the signature against the
    /// gateway key it names, and that key against the gateway's node ID.
    /// (Whether the gateway is a member is the policy's to judge.)
    pub fn from_bytes(bytes: &[u8]) -> Result<ClientRevocation> {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        let bad = |why: &str| Error::refused("client revocation", why);
        let rest = bytes.strip_prefix(&[CLIENT_REVOCATION_FORMAT]).ok_or_else(|| bad("unknown format"))?;
        let len = rest
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| bad("truncated"))? as usize;
        if rest.len() != 4 + len + 64 {
            return Err(bad("length does not match"));
        }
        let (json, sig) = rest[4..].split_at(len);
        let r: ClientRevocation = serde_json::from_slice(json).map_err(|e| bad(&format!("bad payload: {e}")))?;
        let key: [u8; 32] = data_encoding::HEXLOWER
            .decode(r.gateway_key.as_bytes())
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| bad("gateway key is not an Ed25519 key"))?;
        let vk = VerifyingKey::from_bytes(&key).map_err(|_| bad("gateway key is not an Ed25519 key"))?;
        let sig = Signature::from_slice(sig).map_err(|_| bad("bad signature bytes"))?;
        vk.verify(json, &sig).map_err(|_| bad("signature does not verify"))?;
        if crate::identity::PublicKey::from_bytes(&key)?.node_id().to_string() != r.gateway {
            return Err(bad("gateway key is not the gateway's"));
        }
        unix_seconds(&r.revoked_at).ok_or_else(|| bad("revoked_at is not an RFC 3339 time"))?;
        Ok(r)
    }

    /// The gateway, as a node ID.
    pub fn gateway_id(&self) -> Option<NodeId> {
        self.gateway.parse().ok()
    }
}

/// What a new client is (see [`Node::add_client`]).
#[derive(Debug, Clone, Default)]
pub struct NewClient<'a> {
    /// The team whose tallies a `field` client writes.
    pub team: Option<&'a str>,
    /// The entity a partner's `read` client stands for (`entity:KEY` or ID).
    pub entity: Option<&'a str>,
    /// How long the token works.
    pub expires_in: Option<time::Duration>,
}

/// The stored form (the public [`Client`] hides the hash when shown).
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    #[serde(flatten)]
    client: Client,
    secret_sha256: String,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was given.
    #[error("a client token is required (Authorization: Bearer TOKEN; `ayni client add` issues one)")]
    Missing,
    /// The token is not one this node issued, or its secret is wrong.
    #[error("the client token is not valid here")]
    Invalid,
    /// The client's token expired.
    #[error("the token of client '{0}' expired at {1}")]
    Expired(String, String),
    /// The client was revoked.
    #[error("client '{0}' was revoked at {1}")]
    Revoked(String, String),
}

/// Who a read or a write is made for: the node itself, or a client
/// through it. Passed to every write and every judged read
/// ([`crate::NodeHandle`]); nothing else — no thread or process state —
/// says who is acting.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The node, for itself (its operator at the command line, its jobs).
    Node,
    /// A client of this node: its role and team judge the write as well as
    /// the node's own, and the change's message names it.
    Client(Client),
}

fn hex_sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Parses a duration such as `90m`, `12h`, `30d` or `2w`.
pub fn parse_duration(text: &str) -> Result<time::Duration> {
    let bad = || Error::malformed("duration", format!("'{text}' is not a duration (e.g. 90m, 12h, 30d, 2w)"));
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if n <= 0 || n > 100 * 365 * 86_400 / secs {
        return Err(bad());
    }
    Ok(time::Duration::seconds(n * secs))
}

/// An RFC 3339 time as Unix seconds.
pub(crate) fn unix_seconds(at: &str) -> Option<i64> {
    OffsetDateTime::parse(at, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

impl Reader {
    /// The document ID of entity `e` (`entity:KEY`, `KEY` or an ID).
    pub fn entity_id(&self, e: &str) -> Result<String> {
        let reference = if e.contains(':') || e.parse::<crate::DocumentId>().is_ok() {
            e.to_string()
        } else {
            format!("entity:{e}")
        };
        let rec = self
            .get(&reference)
            .map_err(|_| Error::malformed("entity", format!("unknown entity '{e}' (entity:KEY or an ID)")))?;
        if rec.kind != "entity" {
            return Err(Error::malformed("entity", format!("'{e}' is a {}, not an entity", rec.kind)));
        }
        Ok(rec.id)
    }

    /// Whether `client` may read `rec` (see [`Client::may_read`]).
    pub fn readable_by(&self, client: &Client, rec: &crate::node::Record) -> bool {
        let catalogue = self.kind(&rec.kind).map(|k| k.catalogue).unwrap_or(false);
        client.may_read(rec, catalogue)
    }

    fn client(&self, name: &str) -> Result<Option<Client>> {
        let Some(s) = self.store().row_json::<Stored>(Table::Clients, name)? else { return Ok(None) };
        Ok(Some(Client { secret_sha256: s.secret_sha256, ..s.client }))
    }

    /// Every client this node issued, revoked ones included.
    pub fn clients(&self) -> Result<Vec<Client>> {
        let mut out = vec![];
        for (name, _) in self.store().rows(Table::Clients)? {
            if let Some(c) = self.client(&name)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Records a client revocation from another node (a sync, a bundle);

    /// The client a bearer token belongs to, if it is valid now.
    pub fn authenticate(&self, token: Option<&str>) -> std::result::Result<Client, AuthError> {
        let rows = self.client_rows().map_err(|_| AuthError::Invalid)?;
        check_token(token, |name| rows.get(name).and_then(|row| stored_client(row)))
    }

    /// [`Reader::authenticate`] when the clients are cached and current
    /// (no store read: cheap enough for an async worker); `None` when
    /// they must be read first.
    pub(crate) fn authenticate_cached(&self, token: Option<&str>) -> Option<std::result::Result<Client, AuthError>> {
        let generation = self.store().policy_generation();
        let cache = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        match &*cache {
            Some((at, rows)) if *at == generation => {
                Some(check_token(token, |name| rows.get(name).and_then(|row| stored_client(row))))
            }
            _ => None,
        }
    }

    /// The clients table's rows, as stored now: from the cache while no
    /// row of it changed (each such write moves the policy generation),
    /// else read again.
    fn client_rows(&self) -> Result<Rows> {
        // the generation is read first: a write racing this read makes the
        // cache stale at once, never current with old rows
        let generation = self.store().policy_generation();
        let mut cache = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, rows)) = &*cache {
            if *at == generation {
                return Ok(rows.clone());
            }
        }
        let rows: Rows = Arc::new(self.store().rows(Table::Clients)?.into_iter().collect());
        *cache = Some((generation, rows.clone()));
        Ok(rows)
    }

    /// `client` as it is now: refused once revoked or expired since its
    /// token was checked (a write for it is judged on the engine, later).
    pub(crate) fn current_client(&self, client: &Client) -> std::result::Result<Client, AuthError> {
        let rows = self.client_rows().map_err(|_| AuthError::Invalid)?;
        still_valid(rows.get(&client.name).and_then(|row| stored_client(row)).ok_or(AuthError::Invalid)?)
    }

    /// Whether `actor` may read `rec`: the node and clients bound to no
    /// entity read everything, a partner's client what [`Client::may_read`] says.
    pub(crate) fn visible_to(&self, actor: &Actor, rec: &crate::node::Record) -> bool {
        match actor {
            Actor::Node => true,
            Actor::Client(c) => self.readable_by(c, rec),
        }
    }

    /// The record `reference` names, as `actor` sees it: one a partner's
    /// client may not read is, to it, no record at all (not even an
    /// ambiguous key is told).
    pub(crate) fn get_as(&self, actor: &Actor, reference: &str) -> Result<crate::node::Record> {
        match (self.get(reference), actor) {
            (Ok(rec), _) if self.visible_to(actor, &rec) => Ok(rec),
            (Err(e), Actor::Node) => Err(e),
            (Err(e), Actor::Client(c)) if c.reads_everything() => Err(e),
            _ => Err(Error::NotFound(reference.to_string())),
        }
    }

    /// Before a write made for `actor`, on the engine: a client must still
    /// be valid, may not be a `read` client (which learns nothing from a
    /// write's errors), and must see the record it writes (`reference`).
    /// Returns the actor as it is now.
    pub(crate) fn may_write(&self, actor: &Actor, reference: Option<&str>) -> Result<Actor> {
        let Actor::Client(c) = actor else { return Ok(Actor::Node) };
        let c = self.current_client(c).map_err(|e| Error::Forbidden(e.to_string()))?;
        if c.role == ClientRole::Read {
            return Err(Error::Forbidden(format!("client '{}' may only read", c.name)));
        }
        let actor = Actor::Client(c);
        if let Some(r) = reference {
            self.get_as(&actor, r)?;
        }
        Ok(actor)
    }
}

impl Node {
    fn put_client(&self, c: &Client) -> Result<()> {
        let stored = Stored { format: 1, client: c.clone(), secret_sha256: c.secret_sha256.clone() };
        self.writer().put_json(Table::Clients, &c.name, &stored)
    }

    /// `Ok(false)` if it was already known.
    pub(crate) fn accept_client_revocation(&self, bytes: &[u8], network: &str) -> Result<bool> {
        let r = ClientRevocation::from_bytes(bytes)?;
        if r.network != network {
            return Err(Error::refused("client revocation", "it is of another network"));
        }
        let name = format!("{}-{}", r.gateway, r.client);
        if self.store().row(Table::ClientRevocations, &name)?.is_some() {
            return Ok(false);
        }
        tracing::warn!("learned that client {} of node {} was revoked at {}", r.client, r.gateway, r.revoked_at);
        self.writer().put(Table::ClientRevocations, &name, bytes)?;
        Ok(true)
    }
}

impl Node {
    /// Issues a client token. Returns the client and the token, shown once.
    pub fn add_client(&self, name: &str, role: ClientRole, new: NewClient<'_>) -> Result<(Client, String)> {
        let NewClient { team, entity, expires_in } = new;
        if !valid_name(name) {
            return Err(Error::malformed(
                "client name",
                format!("'{name}' is not a client name: 1 to 64 letters, digits or '-'"),
            ));
        }
        if self.client(name)?.is_some() {
            return Err(Error::Precondition(format!(
                "a client named '{name}' exists (revoke it, or choose another name)"
            )));
        }
        let own = self.membership()?.map(|m| m.payload.role);
        if own == Some(Role::Field) && role == ClientRole::Hq {
            return Err(Error::Forbidden(
                "a field node cannot issue an hq client: a client's role is never more than its node's".into(),
            ));
        }
        if let Some(t) = team {
            self.get(&format!("team:{t}"))
                .map_err(|_| Error::malformed("team", format!("unknown team '{t}' (team:{t})")))?;
            // peers judge a field node's clients' tallies by the node's teams too
            if own == Some(Role::Field) && !self.policy()?.in_team(&self.id().to_string(), t) {
                return Err(Error::Forbidden(format!(
                    "this field node is not in team {t} (team:{t} node_ids): it cannot vouch for that team's tallies"
                )));
            }
        }
        let entity = match entity {
            Some(_) if role != ClientRole::Read => {
                return Err(Error::malformed("client", "--entity is for a partner's read client (--role read)"));
            }
            Some(e) => Some(self.entity_id(e)?),
            None => None,
        };
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| Error::Internal(format!("no randomness available: {e}")))?;
        let secret = data_encoding::BASE32_NOPAD.encode(&secret).to_ascii_lowercase();
        let now = OffsetDateTime::now_utc();
        let client = Client {
            name: name.to_string(),
            role,
            team: team.map(str::to_string),
            entity,
            created_at: now.format(&Rfc3339).unwrap_or_default(),
            expires_at: expires_in.map(|d| (now + d).format(&Rfc3339).unwrap_or_default()),
            revoked_at: None,
            secret_sha256: hex_sha256(secret.as_bytes()),
        };
        self.put_client(&client)?;
        Ok((client, format!("{TOKEN_PREFIX}{name}_{secret}")))
    }

    /// Revokes a client: its token stops working at once.
    pub fn revoke_client(&self, name: &str) -> Result<Client> {
        let mut c = self.client(name)?.ok_or_else(|| {
            Error::malformed("client", format!("no client named '{name}' on this node (`ayni client list` shows them)"))
        })?;
        if c.revoked_at.is_none() {
            let at = crate::node::now_rfc3339();
            c.revoked_at = Some(at.clone());
            self.put_client(&c)?;
            // every node of the network learns of it, with the memberships
            if let Some(network) = self.network()? {
                let record = ClientRevocation {
                    network: network.id,
                    gateway: self.id().to_string(),
                    gateway_key: data_encoding::HEXLOWER.encode(&self.secret().public().to_bytes()),
                    client: c.name.clone(),
                    revoked_at: at,
                };
                let bytes = record.sign(self.secret())?;
                self.writer().put(
                    Table::ClientRevocations,
                    &format!("{}-{}", record.gateway, record.client),
                    &bytes,
                )?;
            }
        }
        Ok(c)
    }
}

/// `client` unless it was revoked or its token expired.
/// The client `token` names, if its secret matches (compared in constant
/// time) and it is valid now; `lookup` finds a client by name.
fn check_token(
    token: Option<&str>,
    lookup: impl FnOnce(&str) -> Option<Client>,
) -> std::result::Result<Client, AuthError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
    let (name, secret) = token.strip_prefix(TOKEN_PREFIX).and_then(|r| r.rsplit_once('_')).ok_or(AuthError::Invalid)?;
    if !valid_name(name) {
        return Err(AuthError::Invalid);
    }
    let client = lookup(name).ok_or(AuthError::Invalid)?;
    let given = hex_sha256(secret.as_bytes());
    if !bool::from(given.as_bytes().ct_eq(client.secret_sha256.as_bytes())) {
        return Err(AuthError::Invalid);
    }
    still_valid(client)
}

/// A client as its stored row holds it (the secret's hash included).
fn stored_client(row: &[u8]) -> Option<Client> {
    let s: Stored = serde_json::from_slice(row).ok()?;
    Some(Client { secret_sha256: s.secret_sha256, ..s.client })
}

fn still_valid(client: Client) -> std::result::Result<Client, AuthError> {
    if let Some(at) = &client.revoked_at {
        return Err(AuthError::Revoked(client.name.clone(), at.clone()));
    }
    if let Some(at) = &client.expires_at {
        let expired = OffsetDateTime::parse(at, &Rfc3339).map_or(true, |t| t <= OffsetDateTime::now_utc());
        if expired {
            return Err(AuthError::Expired(client.name.clone(), at.clone()));
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_until_revoked_or_expired_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), "hq").unwrap();
        let (c, token) = node.add_client("panel-1", ClientRole::Read, NewClient::default()).unwrap();
        assert!(token.starts_with("ayc1_panel-1_"));
        assert_eq!(node.authenticate(Some(&token)).unwrap().name, "panel-1");
        assert_eq!(c.role, ClientRole::Read);
        // the secret is nowhere in the store's record
        let stored = node.store().row(Table::Clients, "panel-1").unwrap().unwrap();
        let secret = token.rsplit_once('_').unwrap().1;
        assert!(!String::from_utf8_lossy(&stored).contains(secret));
        assert!(!serde_json::to_string(&c).unwrap().contains("sha256"));
        let mut wrong = token.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'a' { 'b' } else { 'a' });
        assert_eq!(node.authenticate(Some(&wrong)), Err(AuthError::Invalid));
        assert_eq!(node.authenticate(Some("ayc1_nobody_abc")), Err(AuthError::Invalid));
        assert_eq!(node.authenticate(Some("garbage")), Err(AuthError::Invalid));
        assert_eq!(node.authenticate(None), Err(AuthError::Missing));
        node.revoke_client("panel-1").unwrap();
        assert!(matches!(node.authenticate(Some(&token)), Err(AuthError::Revoked(..))));
        let (_, short) = node
            .add_client(
                "short",
                ClientRole::Hq,
                NewClient { expires_in: Some(time::Duration::seconds(-1)), ..Default::default() },
            )
            .unwrap();
        assert!(matches!(node.authenticate(Some(&short)), Err(AuthError::Expired(..))));
        assert!(node.add_client("short", ClientRole::Hq, NewClient::default()).is_err(), "names are unique");
        assert!(node.add_client("bad name", ClientRole::Hq, NewClient::default()).is_err());
        assert_eq!(node.clients().unwrap().len(), 2);
        assert_eq!(parse_duration("30d").unwrap(), time::Duration::days(30));
        assert!(parse_duration("30").is_err() && parse_duration("-1d").is_err() && parse_duration("1y").is_err());
    }

    #[test]
    fn cached_clients_go_stale_with_any_change_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), "hq").unwrap();
        let (_, token) = node.add_client("tab-1", ClientRole::Field, NewClient::default()).unwrap();
        assert_eq!(node.authenticate_cached(Some(&token)), None, "nothing cached yet: the store is read");
        assert_eq!(node.authenticate(Some(&token)).unwrap().name, "tab-1");
        assert_eq!(node.authenticate_cached(Some(&token)).unwrap().unwrap().name, "tab-1");
        // a new client, then a revocation: each makes the cache stale at once
        let (_, other) = node.add_client("tab-2", ClientRole::Field, NewClient::default()).unwrap();
        assert_eq!(node.authenticate_cached(Some(&other)), None);
        assert_eq!(node.authenticate(Some(&other)).unwrap().name, "tab-2");
        node.revoke_client("tab-1").unwrap();
        assert_eq!(node.authenticate_cached(Some(&token)), None);
        assert!(matches!(node.authenticate(Some(&token)), Err(AuthError::Revoked(..))));
        assert!(matches!(node.authenticate_cached(Some(&token)), Some(Err(AuthError::Revoked(..)))));
        let tab1 = Client { name: "tab-1".into(), ..node.authenticate(Some(&other)).unwrap() };
        assert!(node.may_write(&Actor::Client(tab1), None).is_err(), "a write re-checks the client");
    }
}
