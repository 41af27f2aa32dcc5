//! A minimal HTTP/1.1 client over a plain TCP socket, so tests can send
//! exactly the bytes they mean to (malformed bodies, odd headers) to the
//! node's HTTP API.

use std::io::{Read, Write};

use serde_json::Value;

/// A response: status, lower-cased headers, body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}), status {}: {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one request to `addr` (`127.0.0.1:PORT`) and reads the whole
/// response. `token` goes in `Authorization: Bearer`.
pub fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Response {
    try_request(addr, method, path, token, body).expect("a complete HTTP response")
}

/// Like [`request`]; `None` when no complete response arrives (the server
/// went away).
pub fn try_request(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Option<Response> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head += &format!("Authorization: Bearer {t}\r\n");
    }
    if let Some(b) = body {
        head += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len());
    }
    head += "\r\n";
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    // a server may answer (413) and close before reading a huge body
    let _ = s.write_all(&bytes);
    let mut raw = vec![];
    let _ = s.read_to_end(&mut raw);
    raw.windows(4).any(|w| w == b"\r\n\r\n").then(|| parse(&raw))
}

fn parse(raw: &[u8]) -> Response {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = unchunk(&body);
    }
    Response { status, headers, body }
}

fn unchunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
}

/// Opens a streaming GET (Server-Sent Events) and reads until `done` holds
/// for the text received so far, or `timeout` passes. Returns the status
/// line and the text.
pub fn stream_until(
    addr: &str,
    path: &str,
    token: &str,
    timeout: std::time::Duration,
    done: impl Fn(&str) -> bool,
) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the HTTP API");
    s.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    let mut raw = vec![];
    let mut buf = [0u8; 65536];
    while started.elapsed() < timeout {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        if done(&String::from_utf8_lossy(&raw)) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    (status, text)
}

/// Like [`request`], over HTTPS to a server whose certificate's SHA-256
/// fingerprint (`AB:CD:…`, as `ayni status` prints it) is `pinned`: any
/// other certificate fails the handshake (the returned error says why).
pub fn request_tls(
    addr: &str,
    pinned: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<Response, String> {
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint: pinned.to_string(), provider }))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head += &format!("Authorization: Bearer {t}\r\n");
    }
    head += "\r\n";
    tls.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = vec![];
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // a peer that closes without close_notify after a complete response
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok(parse(&raw))
}

#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use sha2::Digest;
        let got: Vec<String> = sha2::Sha256::digest(end_entity).iter().map(|b| format!("{b:02X}")).collect();
        if got.join(":") == self.fingerprint {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("certificate fingerprint {} is not the pinned one", got.join(":"))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
