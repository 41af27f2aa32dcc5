//! The QUIC edge over real loopback sockets: hostile or broken peers are
//! cut off with a clear reason, write nothing, and the node keeps serving.

use std::sync::Arc;
use std::time::Duration;

use ayni_node::clients::Actor;
use ayni_node::net::tls::{self, Admission};
use ayni_node::net::{Endpoint, NetConfig, ALPN};
use ayni_node::network::{Membership, Role};
use ayni_node::sync::wire::{Frame, Hello};
use ayni_node::NodeHandle as Node;
use quinn::crypto::rustls::QuicClientConfig;
use serde_json::json;

#[derive(Debug)]
struct Anyone;
impl Admission for Anyone {
    fn admit(&self, _: &ayni_node::identity::NodeId, _: &Membership) -> Result<(), String> {
        Ok(())
    }
}

struct Net {
    _dir: tempfile::TempDir,
    hq: Arc<Endpoint>,
    hq_node: Node,
    stop: tokio::sync::watch::Sender<bool>,
    /// an enrolled node whose key the hostile client uses
    mallory: Node,
}

async fn setup() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let hq = Node::init(&dir.path().join("hq"), "hq").unwrap();
    hq.create_network("net").await.unwrap();
    hq.create(&Actor::Node, "team", Some("T1"), json!({"name": "T1"})).await.unwrap();
    let mallory = Node::init(&dir.path().join("mallory"), "mallory").unwrap();
    let token = hq.enroll(mallory.id(), Role::Field, "mallory", None, None).await.unwrap().to_token();
    mallory.join(&token).await.unwrap();
    let config = NetConfig { stall_timeout: Duration::from_millis(700), ..Default::default() };
    let hq_node = hq.clone();
    let hq = Arc::new(Endpoint::bind(&hq, ([127, 0, 0, 1], 0).into(), config).unwrap());
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let e = hq.clone();
    tokio::spawn(async move {
        e.accept_loop(async move {
            let _ = rx.changed().await;
        })
        .await
    });
    Net { _dir: dir, hq, hq_node, stop, mallory }
}

/// A raw QUIC connection to HQ with mallory's (valid) identity.
async fn raw(net: &Net) -> (quinn::Endpoint, quinn::Connection) {
    let network = net.mallory.network().await.unwrap().unwrap();
    let key = ayni_node::key_file::read(&net.mallory.home().join("node.key")).unwrap();
    let (cert, pk) = tls::identity(&key, &net.mallory.membership().await.unwrap().unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(tls::PeerVerifier::new(network, Arc::new(Anyone), provider.clone()));
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert], pk)
        .unwrap();
    c.alpn_protocols = vec![ALPN.to_vec()];
    let mut ep = quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(c).unwrap())));
    let conn = ep.connect(net.hq.local_addr().unwrap(), "ayni").unwrap().await.unwrap();
    (ep, conn)
}

/// Sends `bytes` on a fresh stream and returns why HQ closed the connection.
async fn hostile(net: &Net, bytes: Vec<u8>) -> String {
    let (_ep, conn) = raw(net).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&bytes).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1 << 20)).await;
    let reason =
        tokio::time::timeout(Duration::from_secs(5), conn.closed()).await.expect("HQ did not close the connection");
    reason.to_string()
}

fn frame(f: Frame) -> Vec<u8> {
    let mut b = vec![];
    f.encode(&mut b);
    b
}

fn hello(versions: Vec<u16>) -> Frame {
    Frame::Hello(Hello { versions, node_id: [9; 20], doc_count: 0, set_fp: [0; 16], members_fp: [0; 16] })
}

async fn still_serves(net: &Net) {
    let dir = tempfile::tempdir().unwrap();
    let hq = &net.hq_node;
    let fresh = Node::init(&dir.path().join("n"), "fresh").unwrap();
    fresh.join(&hq.enroll(fresh.id(), Role::Field, "fresh", None, None).await.unwrap().to_token()).await.unwrap();
    let ep = Endpoint::bind(&fresh, ([127, 0, 0, 1], 0).into(), NetConfig::default()).unwrap();
    let r = ep.sync_with(net.hq.local_addr().unwrap()).await.unwrap();
    assert_eq!(r.docs_received, 1);
    ep.close().await;
    assert_eq!(hq.list(&Actor::Node, "team", vec![]).await.unwrap().len(), 1, "nothing was written from the bad peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_unknown_version_and_stalling_peers_are_cut_off() {
    let net = setup().await;
    let why = hostile(&net, ((64 * 1024 * 1024 + 1) as u32).to_be_bytes().to_vec()).await;
    assert!(why.contains("over the limit"), "{why}");
    let why = hostile(&net, vec![0, 0, 0, 3, 42, 0, 0]).await;
    assert!(why.contains("unknown frame type 42"), "{why}");
    let why = hostile(&net, frame(hello(vec![99]))).await;
    assert!(why.contains("no common protocol version"), "{why}");
    let mut bytes = frame(hello(vec![1]));
    bytes.extend(frame(Frame::DocFull(ayni_node::DocumentId::from_bytes([1; 16]), b"not a document".to_vec())));
    let why = hostile(&net, bytes).await;
    assert!(why.contains("not an automerge document"), "{why}");
    let why = hostile(&net, vec![]).await; // says nothing at all
    assert!(why.contains("stalled"), "{why}");
    still_serves(&net).await;
    let _ = net.stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_other_networks_are_refused_in_the_handshake() {
    let net = setup().await;
    let dir = tempfile::tempdir().unwrap();
    // another network, with its own HQ: a valid membership, but not of ours
    let other = Node::init(&dir.path().join("other"), "other-hq").unwrap();
    other.create_network("otra-red").await.unwrap();
    other.create(&Actor::Node, "team", Some("SPY"), json!({"name": "SPY"})).await.unwrap();
    let ep = Endpoint::bind(&other, ([127, 0, 0, 1], 0).into(), NetConfig::default()).unwrap();
    let err = ep.sync_with(net.hq.local_addr().unwrap()).await.unwrap_err().to_string();
    assert!(err.contains("refused"), "{err}");
    assert_eq!(other.list(&Actor::Node, "team", vec![]).await.unwrap().len(), 1, "no record reached the outsider");
    ep.close().await;
    // a node that was never enrolled cannot even start
    let stranger = Node::init(&dir.path().join("stranger"), "stranger").unwrap();
    let err = Endpoint::bind(&stranger, ([127, 0, 0, 1], 0).into(), NetConfig::default()).err().unwrap().to_string();
    assert!(err.contains("no network"), "{err}");
    assert_eq!(net.hq_node.list(&Actor::Node, "team", vec![]).await.unwrap().len(), 1, "nothing came from them");
    still_serves(&net).await;
    let _ = net.stop.send(true);
}
