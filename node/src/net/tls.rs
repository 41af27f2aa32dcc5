//! Transport identity: a self-signed certificate made from the node's
//! Ed25519 key that carries its membership token, and the verifier both
//! sides run in the QUIC handshake.
//!
//! Owns: certificate layout and peer admission. Must never: trust a web
//! PKI or a CA; a peer is admitted only by a valid membership of this
//! node's network for the very key it presents.
//!
//! The membership token travels in a certificate extension with OID
//! [`MEMBERSHIP_OID`] (a private arc); the certificate's key is the node
//! key itself, so the TLS handshake proves possession of the key the
//! membership names.

use std::sync::Arc;

use ed25519_dalek::pkcs8::EncodePrivateKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::identity::{NodeId, PublicKey, SecretKey};
use crate::network::{Membership, NetworkInfo};

/// OID of the certificate extension holding the membership token.
pub const MEMBERSHIP_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 59872, 1, 1];
const ED25519_OID: &str = "1.3.101.112";
/// Node keys are Ed25519, so that is the only handshake signature scheme.
const SCHEMES: &[SignatureScheme] = &[SignatureScheme::ED25519];

/// Decides whether a node may connect (revocation plugs in here).
pub trait Admission: Send + Sync + std::fmt::Debug {
    /// `Err(reason)` to refuse the node.
    fn admit(&self, node: &NodeId, membership: &Membership) -> Result<(), String>;
}

/// Admission: members of this node's network that it has not learned were
/// revoked. Holds the node weakly: quinn keeps TLS configurations alive in
/// its driver task a little after the endpoint is dropped, and that must
/// not keep the store open.
pub(crate) struct NotRevoked(pub(crate) std::sync::Weak<crate::node::Reader>);

impl std::fmt::Debug for NotRevoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotRevoked")
    }
}

impl Admission for NotRevoked {
    fn admit(&self, node: &NodeId, m: &Membership) -> Result<(), String> {
        let Some(me) = self.0.upgrade() else { return Err("this node is shutting down".into()) };
        let authority = me.authority().map_err(|e| format!("cannot check revocations: {e}"))?;
        if let Some(r) = authority.revocation(node) {
            return Err(format!("node {node} was revoked at {}: {}", r.payload.revoked_at, r.payload.reason));
        }
        if !authority.counts(m) {
            return Err(format!(
                "node {node} presents a membership signed by an HQ node that was revoked (or is itself not a member): it enrols no one"
            ));
        }
        Ok(())
    }
}

/// The certificate and key this node presents.
pub fn identity(
    key: &SecretKey,
    membership: &Membership,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let der = key.signing_key().to_pkcs8_der().map_err(|e| format!("encoding the node key: {e}"))?;
    let pkcs8 = PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|e| format!("node key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(vec!["ayni".to_string()]).map_err(|e| e.to_string())?;
    params.custom_extensions.push(rcgen::CustomExtension::from_oid_content(MEMBERSHIP_OID, membership.bytes.clone()));
    let cert = params.self_signed(&pair).map_err(|e| format!("certificate: {e}"))?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(pkcs8)))
}

/// Reads a peer's certificate: its node ID and verified membership of
/// `network`.
pub fn peer_of(cert: &[u8], network: &NetworkInfo) -> Result<(NodeId, Membership), String> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let spki = x509.public_key();
    if spki.algorithm.algorithm.to_id_string() != ED25519_OID {
        return Err("the certificate key is not an Ed25519 node key".into());
    }
    let key = PublicKey::from_bytes(&spki.subject_public_key.data).map_err(|e| e.to_string())?;
    let node = key.node_id();
    let oid = MEMBERSHIP_OID.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(".");
    let ext = x509
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .ok_or_else(|| format!("node {node} presents no membership: it is not enrolled"))?;
    let m = Membership::from_bytes(ext.value).map_err(|e| format!("node {node}: {e}"))?;
    m.verify_for(network, node).map_err(|e| format!("node {node}: {e}"))?;
    Ok((node, m))
}

/// The verifier both sides run on the other's certificate.
#[derive(Debug)]
pub struct PeerVerifier {
    network: NetworkInfo,
    admission: Arc<dyn Admission>,
    provider: Arc<CryptoProvider>,
}

impl PeerVerifier {
    /// A verifier admitting members of `network` that `admission` accepts.
    pub fn new(network: NetworkInfo, admission: Arc<dyn Admission>, provider: Arc<CryptoProvider>) -> PeerVerifier {
        PeerVerifier { network, admission, provider }
    }

    /// The handshake signature check, shared by both roles.
    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        if tls13 {
            rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
        } else {
            rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
        }
    }

    fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let refuse = |why: String| {
            tracing::warn!("refused a peer in the handshake: {why}");
            rustls::Error::General(why)
        };
        let (node, m) = peer_of(cert, &self.network).map_err(refuse)?;
        self.admission.admit(&node, &m).map_err(refuse)
    }
}

/// The handshake-signature methods both verifier traits share.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.signature(message, cert, dss, false)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.signature(message, cert, dss, true)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            SCHEMES.to_vec()
        }
    };
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
    }

    handshake_signatures!();
}
