//! The command line's syntax: every command, option and its help text
//! (clap derive). Run `ayni help COMMAND` for the rendered form.
//!
//! Owns: names and shapes of commands and flags (a contract outside
//! scripts rely on). Must never: act on them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Ayni: offline-first replicas of La Paz's cooperation records and EDAN
/// field assessments.
#[derive(Parser, Debug)]
#[command(name = "ayni", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// Node home directory [default: $AYNI_HOME, else the platform data directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,

    /// Print one JSON document on stdout instead of tables
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Report the progress of long commands (import, bundle export and
    /// import) on stderr even when it is not a terminal (on a terminal it is
    /// always reported)
    #[arg(long, global = true)]
    pub(crate) progress: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create this node: home, Ed25519 key, store; prints the node ID
    Init {
        /// A name people recognise (e.g. "hq-la-paz", "gaem-1-laptop")
        #[arg(long)]
        name: String,
    },
    /// Print this node's ID
    Id,
    /// Create a record and print its ID
    Add {
        /// Record kind (org_unit, entity, practice, mission, edan, …)
        kind: String,
        /// Human key, unique within the kind (default: the document ID)
        #[arg(long)]
        key: Option<String>,
        /// A field: PATH=VALUE (VALUE is JSON if it parses, else text); repeatable
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Start from the fields in this JSON file
        #[arg(long, value_name = "F.json")]
        file: Option<PathBuf>,
    },
    /// Set fields of a record (`+` as a path segment adds a new item: needs.+={…})
    Set {
        /// ID or KIND:KEY
        reference: String,
        /// PATH=VALUE, one or more
        #[arg(required = true, value_name = "PATH=VALUE")]
        assignments: Vec<String>,
    },
    /// Remove a field
    Unset {
        /// ID or KIND:KEY
        reference: String,
        /// Dotted field path
        path: String,
    },
    /// Show a record
    Get {
        /// ID or KIND:KEY
        reference: String,
    },
    /// List the live records of a kind
    List {
        /// Record kind
        kind: String,
        /// Keep records whose field equals VALUE (lists: contain it); repeatable
        #[arg(long = "where", value_name = "PATH=VALUE")]
        filters: Vec<String>,
    },
    /// Delete a record (a tombstone that syncs)
    Delete {
        /// ID or KIND:KEY
        reference: String,
    },
    /// Move a record to a new lifecycle state
    Transition {
        /// ID or KIND:KEY
        reference: String,
        /// Target state
        state: String,
        /// Why (kept in the transition log)
        #[arg(long)]
        note: Option<String>,
    },
    /// Every change to a record: when, which node, what
    History {
        /// ID or KIND:KEY
        reference: String,
    },
    /// Every field, status or delete with concurrent values
    Conflicts,
    /// Settle a conflict: PATH is a field, `status` or `deleted`
    Resolve {
        /// ID or KIND:KEY
        reference: String,
        /// Field path, `status` or `deleted`
        path: String,
        /// The value to keep (JSON if it parses, else text)
        value: String,
    },
    /// Create many records from a JSON array or JSON Lines file, all or
    /// nothing; or `import odk EXPORT.zip` (ODK Central's CSV zip) and
    /// `import kobo EXPORT.xlsx|csv` (KoboToolbox): each submission of the
    /// EDAN form becomes an EDAN record, idempotent by instance ID
    Import {
        /// Record kind, or `odk` / `kobo`
        kind: String,
        /// The file
        file: PathBuf,
        /// For `import kobo`: the directory holding the export's photos
        #[arg(long, value_name = "DIR")]
        media: Option<PathBuf>,
    },
    /// Forms for ODK Collect and KoboCollect: `form xlsform edan -o edan.xlsx`
    Form {
        #[command(subcommand)]
        command: FormCommand,
    },
    /// Write every live record of a kind as a file a person opens
    ///
    /// json and jsonl without --table: the records whole, as `import`
    /// reads them. Otherwise tidy tables: one row per record (or per item
    /// of --table), references shown by key and title.
    Export {
        /// Record kind
        kind: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// The table: the kind itself or one of its collections (for an
        /// EDAN: tallies, needs, services, zones…); xlsx writes every
        /// table as a sheet unless one is named
        #[arg(long)]
        table: Option<String>,
        /// CSV dialect: excel (BOM, `;`, decimal comma, formulas
        /// neutralised; the default) or rfc4180 (`,`, decimal point, text as it is)
        #[arg(long, value_enum)]
        dialect: Option<CsvDialect>,
        /// Write to FILE (atomically) instead of stdout; required for xlsx
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify every stored document; names each damaged record
    Check {
        /// Repair what can be repaired: reopen a store that does not open
        /// from its log, rebuild views and indexes, salvage damaged documents
        /// (what is set aside goes to HOME/repair-TIME/)
        #[arg(long)]
        repair: bool,
    },
    /// Compact every document to one snapshot
    Compact,
    /// Load the demo data (idempotent)
    Seed,
    /// Reports: `report edan:KEY` (an EDAN's zones: each zone's accepted
    /// value or every team's observation), `report event KEY` (the
    /// situation report of an emergency: every EDAN, needs, response, a
    /// map), `report cooperation [--year Y]` (requests by stage,
    /// agreements, missions and results, follow-ups, trained staff)
    Report {
        /// `event`, `cooperation`, or the ID or KIND:KEY of an edan record
        subject: String,
        /// The event's ID or key (for `report event`)
        reference: Option<String>,
        /// For `report event` and `report cooperation`: md (the default),
        /// html (one self-contained page that prints to PDF) or json
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// For `report cooperation`: only this year (requests received,
        /// agreements signed or in force, missions, follow-ups due, courses)
        #[arg(long)]
        year: Option<i32>,
        /// Write to FILE (atomically) instead of stdout
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Attach a photo or document to a record: stored under its SHA-256
    /// (JPEG, PNG, WebP, HEIC or PDF), referenced from the record with its
    /// size, type, caption and, from EXIF, when and where it was taken
    Attach {
        /// ID or KIND:KEY
        reference: String,
        /// The file
        file: PathBuf,
        /// The collection that takes it
        #[arg(long, default_value = "attachments")]
        field: String,
        /// A caption
        #[arg(long)]
        caption: Option<String>,
        /// Largest file taken, in MB
        #[arg(long, value_name = "MB", default_value_t = 25)]
        max_blob_mb: u64,
    },
    /// Blobs (photos, documents): `blob list`, `blob get HASH -o FILE`
    Blob {
        #[command(subcommand)]
        command: BlobCommand,
    },
    /// The practice catalogue: `catalogue publish -o DIR` writes it as a
    /// static site
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Networks: `network create --name NAME` founds one on this (HQ) node
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Enrol a node (HQ only): prints the token the other node passes to `join`
    Enroll {
        /// The node's ID, as `ayni id` prints it on that node
        node_id: String,
        /// field or hq
        #[arg(long)]
        role: String,
        /// A label people recognise (e.g. "gaem-2-laptop")
        #[arg(long)]
        name: Option<String>,
        /// Where the new node can reach this one (host:port) [default: the address `serve` last listened on]
        #[arg(long)]
        addr: Option<String>,
        /// The team it counts for (its key): the node is added to that
        /// team's `node_ids`, so it may write the team's EDAN tallies
        #[arg(long)]
        team: Option<String>,
    },
    /// Revoke a node (HQ only): every node refuses it once it learns of this
    Revoke {
        /// The node's ID
        node_id: String,
        /// Why (kept in the revocation record)
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Join the network an enrolment token names
    Join {
        /// The token printed by `ayni enroll` on an HQ node
        token: String,
    },
    /// Listen for enrolled peers and keep syncing with known ones until Ctrl-C / SIGTERM
    Serve {
        /// UDP address to listen on
        #[arg(long, default_value = "0.0.0.0:7420")]
        listen: String,
        /// Do not announce or browse peers with mDNS
        #[arg(long)]
        no_mdns: bool,
        /// Drop a peer that sends nothing (or takes nothing we send) for this many seconds mid-sync
        #[arg(long, default_value_t = 30)]
        stall_timeout: u64,
        /// Sync again with each reachable peer every this many seconds
        #[arg(long, default_value_t = 30)]
        resync: u64,
        /// Also serve the HTTP API (/api/v1/) on this TCP address
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:7421")]
        http: Option<String>,
        /// Serve the HTTP API in plain HTTP on a non-loopback address (tokens and records travel unencrypted)
        #[arg(long, requires = "http", conflicts_with = "tls_cert")]
        http_insecure: bool,
        /// Serve the HTTP API over HTTPS with this PEM certificate chain (default on a non-loopback address: the node's own certificate)
        #[arg(long, requires_all = ["http", "tls_key"], value_name = "CERT.pem")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert
        #[arg(long, requires = "tls_cert", value_name = "KEY.pem")]
        tls_key: Option<PathBuf>,
        /// Largest blob (photo, document) taken from the HTTP API or a peer, in MB
        #[arg(long, value_name = "MB", default_value_t = 25)]
        max_blob_mb: u64,
        /// Blobs (photos, documents) after each sync: `referenced` fetches
        /// those the records reference and sends those asked for; `none`
        /// neither fetches nor sends (a laptop on a metered link)
        #[arg(long, value_enum, default_value_t = Blobs::Referenced)]
        blobs: Blobs,
    },
    /// Sync once with one peer, then exit
    Sync {
        /// HOST:PORT, or the node ID of a known peer
        peer: String,
        /// Give up on a peer that sends nothing (or takes nothing we send) for this many seconds
        #[arg(long, default_value_t = 30)]
        stall_timeout: u64,
        /// Blobs after the documents: `referenced` (fetch and send) or `none`
        #[arg(long, value_enum, default_value_t = Blobs::Referenced)]
        blobs: Blobs,
    },
    /// Known peers: addresses, last seen, last sync, state
    Peers,
    /// Record changes as they land (sync, bundles, local writes, the API): through a serving node it follows them until Ctrl-C; otherwise (or with --once) it prints those since --since and exits
    Watch {
        /// Only records of this kind
        kind: Option<String>,
        /// Start after this feed position (0: every record, in the order of its latest write)
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Print the changes there are and exit, even through a serving node
        #[arg(long)]
        once: bool,
    },
    /// Keep a PostgreSQL database current with this node's records (tables
    /// per kind and collection, typed from the schemas; see ARCHITECTURE.md):
    /// through a serving node it follows changes until Ctrl-C; otherwise (or
    /// with --once) it mirrors what there is and exits. Resumes where it
    /// stopped.
    Mirror {
        /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or key=value pairs)
        url: String,
        /// Mirror what there is now, then exit, even through a serving node
        #[arg(long)]
        once: bool,
    },
    /// Serving or not, listen addresses, node, network, role, peers, records by kind, what waits for a person
    Status,
    /// Changes refused on receipt (bad or missing signature, unknown author…)
    Audit,
    /// Print the automerge URL of the index document that lists every
    /// record for automerge-repo clients (--json: with what it lists)
    Url {
        /// The index of what a partner entity's read clients may read
        /// (entity:KEY, KEY or an ID)
        #[arg(long)]
        entity: Option<String>,
    },
    /// Client tokens for programs and apps using the HTTP API
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Decide an amendment proposal to validated figures (HQ only)
    Amendment {
        /// accept or reject
        #[arg(value_parser = ["accept", "reject"])]
        decision: String,
        /// ID or KIND:KEY of the record
        reference: String,
        /// The proposal's change hash (or a prefix), as `ayni get` shows it under amendments
        change: String,
    },
    /// Sync by file (USB stick): `bundle export FILE`, `bundle import FILE`
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// The main job: HQ and two field laptops on loopback work offline and sync in a chain
    Demo,
    /// What each role may do to each kind of record (the rules in
    /// schemas/permits.json; everything not listed is refused)
    Roles {
        /// Only this kind
        kind: Option<String>,
    },
    /// Print a shell completion script
    Completions {
        /// Shell
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum NetworkCommand {
    /// Found a network on this node; it becomes its first member, role hq
    Create {
        /// The network's name (e.g. "gamlp-cooperacion")
        #[arg(long)]
        name: String,
    },
    /// Show this node's network and its members
    Show,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ClientCommand {
    /// Issue a client token (printed once; only its hash is kept)
    Add {
        /// A name people recognise (letters, digits, '-')
        name: String,
        /// hq, field or read; never more than this node's own role
        #[arg(long)]
        role: String,
        /// The team whose EDAN tallies a field client writes
        #[arg(long)]
        team: Option<String>,
        /// For a partner municipality's read client: its entity (KEY or
        /// ID); it then reads the catalogue, its entity, and the missions,
        /// agreements and requests that name it
        #[arg(long)]
        entity: Option<String>,
        /// The token stops working after this long (90m, 12h, 30d, 2w)
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Also print a QR code a phone scans to sign in to the field app
        /// (the app's address with the token)
        #[arg(long)]
        qr: bool,
        /// Where phones reach the field app (default: the address this
        /// node serves HTTP on, when a phone can reach it)
        #[arg(long, value_name = "URL", requires = "qr")]
        app_url: Option<String>,
        /// Also write the QR code as a PNG image to FILE
        #[arg(short = 'o', long = "output", value_name = "FILE", requires = "qr")]
        output: Option<PathBuf>,
    },
    /// Every client issued, revoked ones included
    List,
    /// Revoke a client: its token stops working at once
    Revoke {
        /// The client's name
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum BundleCommand {
    /// Write every change the other side may lack into FILE
    Export {
        /// The bundle file to write
        file: PathBuf,
        /// Only what differs from what this peer was last known to hold
        #[arg(long, value_name = "PEER_NODE_ID", conflicts_with = "all")]
        since: Option<String>,
        /// Everything (the default)
        #[arg(long)]
        all: bool,
        /// Also carry the photos and documents the bundle's records
        /// reference (bundle format 4)
        #[arg(long)]
        with_blobs: bool,
    },
    /// Apply a bundle: all or nothing, with the same checks as a network sync
    Import {
        /// The bundle file
        file: PathBuf,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Jsonl,
    Csv,
    Xlsx,
    Geojson,
}

#[derive(Subcommand, Debug)]
pub(crate) enum FormCommand {
    /// Write the EDAN form as an XLSForm (for ODK Central or KoboToolbox)
    Xlsform {
        /// The record kind the form fills (edan)
        kind: String,
        /// The .xlsx file to write
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum BlobCommand {
    /// Every blob here: hash, size, type, the records that reference it
    List,
    /// Write a blob's bytes (verified against its hash) to FILE
    Get {
        /// The blob's SHA-256 (64 hex digits)
        hash: String,
        /// The file to write
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum CatalogueCommand {
    /// Write an edition of the catalogue of good municipal practices as a
    /// static site (opens from a USB stick, prints to PDF)
    Publish {
        /// The site's format
        #[arg(long, value_enum, default_value_t = SiteFormat::Html)]
        format: SiteFormat,
        /// Which edition: 1 is the first recorded (2013); one past the
        /// last recorded is a draft of the next, from the practices on
        /// offer now. Default: the latest recorded
        #[arg(long)]
        edition: Option<usize>,
        /// The directory to write (made whole, or replaced if an earlier
        /// publish wrote it)
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SiteFormat {
    Html,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blobs {
    Referenced,
    None,
}

impl From<Blobs> for ayni_node::net::BlobPolicy {
    fn from(b: Blobs) -> Self {
        match b {
            Blobs::Referenced => ayni_node::net::BlobPolicy::Referenced,
            Blobs::None => ayni_node::net::BlobPolicy::None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CsvDialect {
    Excel,
    Rfc4180,
}
