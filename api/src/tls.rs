//! HTTPS for the API: the certificate HQ brings (`--tls-cert`/`--tls-key`,
//! PEM), or one the node makes for itself, and the TLS listener axum
//! serves on.
//!
//! Owns: loading and making certificates, the TLS handshake. Must never:
//! let one slow or failed handshake hold up the others (each runs on its
//! own task), or write the private key where others can read it (mode
//! 0600).
//!
//! The node's own certificate is self-signed, ECDSA P-256 (browsers do not
//! accept Ed25519 certificates, so the node key itself cannot serve), kept
//! in the home as `https.key` and `https.crt` so its fingerprint stays the
//! same from one start to the next. It is valid 824 days and says it serves
//! (`serverAuth`), as Apple's devices require; it is made again (a new
//! fingerprint) a month before it expires, or when the address served (on
//! `0.0.0.0`: this machine's LAN address) is not among its names. Phones and
//! browsers that meet it must be told its SHA-256 fingerprint (`ayni
//! status` prints it) or have it installed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ayni_node::atomic_file::{self, Access};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// A certificate chain and its key, ready to serve.
pub struct Certificate {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf certificate, as `AB:CD:…`.
    pub fingerprint: String,
    /// Where it came from, for messages.
    pub source: String,
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Loads a PEM certificate chain and private key.
pub fn from_files(cert: &Path, key: &Path) -> Result<Certificate, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM certificate chain: {e}", cert.display()))?;
    let leaf = chain.first().ok_or_else(|| format!("{} holds no certificate", cert.display()))?;
    let fingerprint = fingerprint(leaf);
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    Ok(Certificate { chain, key, fingerprint, source: cert.display().to_string() })
}

/// The longest a server certificate may be valid for Apple's devices (days).
const MAX_DAYS: i64 = 825;

/// The node's own certificate for `addr` (see the module header), made in
/// `home` if it is missing or does not name `addr`.
pub fn node_certificate(home: &Path, addr: SocketAddr) -> Result<Certificate, String> {
    let (key_path, cert_path) = (home.join("https.key"), home.join("https.crt"));
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), addr.ip().to_string()];
    // on every address: the one phones on the LAN use must be among its names
    let lan = addr.ip().is_unspecified().then(lan_address).flatten();
    if let Some(ip) = lan {
        names.push(ip.to_string());
    }
    let wanted = lan.unwrap_or(addr.ip());
    if let (true, Ok(cert_pem)) = (key_path.exists(), std::fs::read_to_string(&cert_path)) {
        let names_it = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .ok()
            .and_then(|der| {
                let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
                // renewed a month before it expires, and when made longer
                // than Apple's devices accept (the first versions: 10 years)
                let left = cert.validity().not_after.timestamp() - time::OffsetDateTime::now_utc().unix_timestamp();
                if !(30 * 86_400..=MAX_DAYS * 86_400).contains(&left) {
                    return Some(false);
                }
                let san = cert.subject_alternative_name().ok()??;
                Some(san.value.general_names.iter().any(|n| match n {
                    x509_parser::extensions::GeneralName::IPAddress(b) => ip_of(b).is_some_and(|ip| ip == wanted),
                    _ => false,
                }))
            })
            .unwrap_or(false);
        if names_it {
            return from_files(&cert_path, &key_path);
        }
    }
    let pair = match std::fs::read_to_string(&key_path) {
        Ok(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", key_path.display()))?,
        Err(_) => {
            let pair = rcgen::KeyPair::generate().map_err(|e| format!("making the HTTPS key: {e}"))?;
            write_private(&key_path, pair.serialize_pem().as_bytes())?;
            pair
        }
    };
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Ayni node");
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(MAX_DAYS - 1);
    // what a server certificate is for, as browsers (Apple's above all) expect it said
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&pair).map_err(|e| format!("making the HTTPS certificate: {e}"))?;
    atomic_file::replace(&cert_path, cert.pem().as_bytes(), Access::Shared)
        .map_err(|e| format!("writing {}: {e}", cert_path.display()))?;
    from_files(&cert_path, &key_path)
}

/// This machine's address on the network its default route leads to (no
/// packet is sent: connecting a UDP socket only picks the route); `None`
/// with no route or only loopback.
pub fn lan_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

fn ip_of(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    atomic_file::create(path, bytes, Access::Owner).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A TCP listener whose connections are TLS: what axum serves on.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// Wraps `tcp` in TLS with `cert`. Handshakes run on their own tasks (10 s
/// at most each); failed ones are dropped with a debug log line.
pub fn listener(tcp: TcpListener, cert: Certificate) -> Result<TlsListener, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(cert.chain, cert.key)
        .map_err(|e| format!("the certificate from {} does not serve: {e}", cert.source))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let (tx, ready) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, addr) = match tcp.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("HTTPS accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (acceptor, sender) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send((tls, addr)).await;
                    }
                    Ok(Err(e)) => tracing::debug!("TLS handshake with {addr}: {e}"),
                    Err(_) => tracing::debug!("TLS handshake with {addr}: timed out"),
                }
            });
            if tx.is_closed() {
                break;
            }
        }
    });
    Ok(TlsListener { ready, local })
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // the accepting task ended: nothing will come again
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
