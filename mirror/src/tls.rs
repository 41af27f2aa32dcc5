//! TLS to PostgreSQL with libpq's settings, over rustls.
//!
//! Owns: taking `sslmode`, `sslrootcert`, `sslcert` and `sslkey` out of a
//! connection string (URL query or `key=value` pairs; tokio-postgres reads
//! the rest) and giving them libpq's meaning: `disable`; `allow` and
//! `prefer` (the default: TLS when the server offers it, certificate not
//! checked); `require` (TLS or nothing; checked as `verify-ca` when a CA
//! file is there); `verify-ca` (the chain up to `sslrootcert`, default
//! `~/.postgresql/root.crt`); `verify-full` (also the host name). A client
//! certificate with `sslcert`/`sslkey` (default `~/.postgresql/
//! postgresql.crt`/`.key` when both exist). The `PGSSLMODE`,
//! `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY` variables stand for what
//! the string leaves out, as in libpq. Must never: accept a
//! certificate `verify-ca`/`verify-full` would refuse, or fall back to no
//! TLS under `require` and stronger (tokio-postgres's `Require`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS settings of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    root_cert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// Splits a connection string into its TLS settings and the rest.
pub fn split(text: &str) -> Result<(Settings, String), String> {
    split_with(text, |name| std::env::var(name).ok())
}

/// [`split`], with libpq's environment (`PGSSLMODE`, `PGSSLROOTCERT`,
/// `PGSSLCERT`, `PGSSLKEY`: what the string does not say) read by `env`.
fn split_with(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<(Settings, String), String> {
    let mut settings = Settings { mode: Mode::Prefer, root_cert: None, cert: None, key: None };
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => {
                settings.mode = match value {
                    "disable" => Mode::Disable,
                    "allow" => Mode::Allow,
                    "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        ))
                    }
                }
            }
            "sslrootcert" if value == "system" => {
                return Err("sslrootcert=system (the system's CAs) is not supported: name the CA's file".into())
            }
            "sslrootcert" => settings.root_cert = Some(value.into()),
            "sslcert" => settings.cert = Some(value.into()),
            "sslkey" => settings.key = Some(value.into()),
            _ => return Ok(false),
        }
        Ok(true)
    };
    for (var, key) in
        [("PGSSLMODE", "sslmode"), ("PGSSLROOTCERT", "sslrootcert"), ("PGSSLCERT", "sslcert"), ("PGSSLKEY", "sslkey")]
    {
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            take(key, &value).map_err(|e| format!("{var}: {e}"))?;
        }
    }
    let rest = if let Some(after) = text.strip_prefix("postgres://").or_else(|| text.strip_prefix("postgresql://")) {
        // the query starts at the first `?` after the credentials (which end
        // at the first `@`, as tokio-postgres reads them: a password may hold a `?`)
        let from = text.len() - after.len() + after.find('@').map_or(0, |at| at + 1);
        match text[from..].find('?').map(|q| text.split_at(from + q)) {
            None => text.to_string(),
            Some((base, query)) => {
                let query = &query[1..];
                let mut kept = vec![];
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&percent_decoded(k), &percent_decoded(v))? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = vec![];
        for (k, v, raw) in pairs(text).ok_or("unbalanced quotes or a keyword without `=`")? {
            if !take(&k, &v)? {
                kept.push(raw);
            }
        }
        kept.join(" ")
    };
    Ok((settings, rest))
}

/// `%XX` decoded (as in a URL's query).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `key = value` pairs as libpq reads them (values bare or in single
/// quotes, `\` escaping), each with its text as written.
fn pairs(text: &str) -> Option<Vec<(String, String, &str)>> {
    let mut out = vec![];
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let quoted = rest.starts_with('\'');
        if quoted {
            chars.next();
        }
        let mut end = rest.len();
        let mut closed = !quoted;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '\'' if quoted => {
                    end = i + 1;
                    closed = true;
                    break;
                }
                c if !quoted && c.is_whitespace() => {
                    end = i;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return None;
        }
        let raw = &start[..start.len() - rest.len() + end];
        out.push((key, value, raw.trim_end()));
        rest = rest[end..].trim_start();
    }
    Some(out)
}

/// `~/.postgresql/NAME`, libpq's default for the files not named.
fn default_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os("HOME")?).join(".postgresql").join(name);
    path.exists().then_some(path)
}

impl Settings {
    /// What tokio-postgres does before the handshake.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Allow | Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The rustls connector: the files read, the verifier chosen.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        if self.mode == Mode::Disable {
            // never used: no file is read for it
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { chain: None, name: false, provider }))
                .with_no_client_auth();
            return Ok(MakeRustlsConnect::new(config));
        }
        let root = self.root_cert.clone().or_else(|| default_file("root.crt"));
        let chain = match (self.mode, root) {
            (Mode::VerifyCa | Mode::VerifyFull, None) => {
                return Err(format!(
                    "sslmode={} checks the server's certificate against a CA: name its file with sslrootcert=FILE (or put it in ~/.postgresql/root.crt)",
                    if self.mode == Mode::VerifyCa { "verify-ca" } else { "verify-full" }
                ))
            }
            (Mode::Require | Mode::VerifyCa | Mode::VerifyFull, Some(file)) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(&file).map_err(|e| unreadable("sslrootcert", &file, e))? {
                    let cert = cert.map_err(|e| unreadable("sslrootcert", &file, e))?;
                    roots.add(cert).map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
                }
                let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
                Some(chain)
            }
            _ => None,
        };
        let verifier = Arc::new(Verifier { chain, name: self.mode == Mode::VerifyFull, provider: provider.clone() });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let identity = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => default_file("postgresql.crt").zip(default_file("postgresql.key")),
            _ => return Err("a client certificate needs both sslcert=FILE and sslkey=FILE".into()),
        };
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
                    .map_err(|e| unreadable("sslcert", &cert, e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| unreadable("sslcert", &cert, e))?;
                let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| unreadable("sslkey", &key, e))?;
                builder.with_client_auth_cert(chain, private).map_err(|e| format!("sslcert/sslkey: {e}"))?
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }
}

fn unreadable(what: &str, file: &Path, e: rustls::pki_types::pem::Error) -> String {
    format!("{what} {}: cannot read a PEM file: {e}", file.display())
}

/// The server's certificate as the mode says: for `verify-ca` and
/// `verify-full` the chain up to the CA (the host name only for
/// `verify-full`); for `prefer` and `require` without a CA, taken as it
/// comes (libpq's meaning). The handshake's signatures are checked always.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_out_of_urls_and_key_value_pairs() {
        let (s, rest) =
            split("postgres://hq@db:5433/ayni?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem")
                .unwrap();
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(rest, "postgres://hq@db:5433/ayni?application_name=x");
        let (s, rest) = split("postgres://hq@db/ayni?sslmode=disable").unwrap();
        assert_eq!((s.mode, rest.as_str()), (Mode::Disable, "postgres://hq@db/ayni"));
        let (s, rest) =
            split("host=db user=hq sslmode = require sslcert='/a b/c.crt' sslkey=/k\\ ey password='it\\'s'").unwrap();
        assert_eq!(s.mode, Mode::Require);
        assert_eq!(s.cert.as_deref(), Some(Path::new("/a b/c.crt")));
        assert_eq!(s.key.as_deref(), Some(Path::new("/k ey")));
        assert_eq!(rest, "host=db user=hq password='it\\'s'");
        let (s, rest) = split("host=db").unwrap();
        assert_eq!((s.mode, rest.as_str()), (Mode::Prefer, "host=db"));
        assert!(split("host=db sslmode=sometimes").unwrap_err().contains("sslmode=sometimes"));
        assert!(split("host='db").is_err());
        assert!(split("postgres://db/x?sslrootcert=system").unwrap_err().contains("system"));
        // a `?` in the password is the password's
        let (s, rest) = split("postgres://ayni:s3cr?t@db/ayni?sslmode=require&application_name=m").unwrap();
        assert_eq!(s.mode, Mode::Require);
        assert_eq!(rest, "postgres://ayni:s3cr?t@db/ayni?application_name=m");
        // the environment says what the string does not
        let env = |name: &str| match name {
            "PGSSLMODE" => Some("verify-full".to_string()),
            "PGSSLROOTCERT" => Some("/etc/ca.pem".to_string()),
            _ => None,
        };
        let (s, _) = split_with("postgres://db/x", env).unwrap();
        assert_eq!((s.mode, s.root_cert.as_deref()), (Mode::VerifyFull, Some(Path::new("/etc/ca.pem"))));
        let (s, _) = split_with("postgres://db/x?sslmode=disable", env).unwrap();
        assert_eq!(s.mode, Mode::Disable);
        assert!(split_with("host=db", |_| Some("sometimes".into())).unwrap_err().contains("PGSSLMODE"));
    }
}
