//! automerge-repo's network messages (protocol version "1", as
//! `@automerge/automerge-repo` 2.5 speaks it): one CBOR map per WebSocket
//! binary frame, with a text `type`.
//!
//! Owns: decoding what the official clients send — tolerantly, since cbor-x
//! writes `undefined`, non-minimal lengths and floats for large integers,
//! and automerge-repo-swift sends `supportedProtocolVersions` as a string —
//! and encoding what they expect (byte strings untagged, timestamps as
//! floats). Must never: trust a field's type without checking it, or panic
//! on any input.

use ciborium::Value;

use crate::id::DocumentId;

/// The protocol version spoken.
pub const PROTOCOL_VERSION: &str = "1";

/// Largest message accepted (a first sync of a large document fits).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A client opens: who it is and which versions it speaks.
    Join {
        /// The client's peer ID (its own claim: it decides nothing here).
        sender: String,
        /// Its storage ID, when it keeps documents.
        storage_id: Option<String>,
        /// Whether it keeps nothing between sessions.
        ephemeral: bool,
        /// Protocol versions it speaks.
        versions: Vec<String>,
    },
    /// The server's answer to `join`.
    Peer {
        /// The server's peer ID.
        sender: String,
        /// The client's.
        target: String,
        /// The server's storage ID.
        storage_id: String,
        /// The version chosen.
        version: String,
    },
    /// Something went wrong; the client logs it.
    Error {
        /// Sender.
        sender: String,
        /// Recipient.
        target: String,
        /// What.
        message: String,
    },
    /// An automerge sync message for one document.
    Sync {
        /// Sender.
        sender: String,
        /// Recipient.
        target: String,
        /// The document.
        doc: DocumentId,
        /// The automerge sync message.
        data: Vec<u8>,
    },
    /// Like `Sync`, from a peer that holds nothing of the document.
    Request {
        /// Sender.
        sender: String,
        /// Recipient.
        target: String,
        /// The document.
        doc: DocumentId,
        /// The automerge sync message (of an empty document).
        data: Vec<u8>,
    },
    /// The sender has no such document (or will not share it).
    DocUnavailable {
        /// Sender.
        sender: String,
        /// Recipient.
        target: String,
        /// The document.
        doc: DocumentId,
    },
    /// A message about a document for whoever has it open (presence,
    /// cursors); not stored.
    Ephemeral {
        /// Sender.
        sender: String,
        /// The document.
        doc: DocumentId,
    },
    /// A message this server does not act on (`remote-subscription-change`,
    /// `remote-heads-changed`, `leave`, or a type from a later version).
    Other {
        /// Its `type`.
        kind: String,
    },
}

/// Why a frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not CBOR, or not a map.
    #[error("not a CBOR map: {0}")]
    NotCbor(String),
    /// A field is missing or of the wrong type.
    #[error("'{message}' message: field '{field}' {problem}")]
    Field {
        /// The message type.
        message: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A document ID that is not bs58check of 16 bytes.
    #[error("'{0}' is not a document ID")]
    DocumentId(String),
    /// Over [`MAX_MESSAGE`].
    #[error("a message of {0} bytes (at most {MAX_MESSAGE})")]
    TooLarge(usize),
}

type Map = Vec<(Value, Value)>;

fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v).filter(|v| !v.is_null())
}

struct Fields<'a> {
    map: &'a Map,
    kind: String,
}

impl Fields<'_> {
    fn bad(&self, field: &'static str, problem: &'static str) -> MessageError {
        MessageError::Field { message: self.kind.clone(), field, problem }
    }

    fn text(&self, field: &'static str) -> Result<String, MessageError> {
        match get(self.map, field) {
            Some(Value::Text(t)) => Ok(t.clone()),
            Some(_) => Err(self.bad(field, "is not text")),
            None => Err(self.bad(field, "is missing")),
        }
    }

    fn text_or_empty(&self, field: &'static str) -> Result<String, MessageError> {
        match get(self.map, field) {
            None => Ok(String::new()),
            Some(_) => self.text(field),
        }
    }

    fn bytes(&self, field: &'static str) -> Result<Vec<u8>, MessageError> {
        match get(self.map, field) {
            Some(Value::Bytes(b)) if !b.is_empty() => Ok(b.clone()),
            // cbor-x, unless told otherwise, tags a Uint8Array (RFC 8746, 64)
            Some(Value::Tag(64, inner)) if matches!(&**inner, Value::Bytes(b) if !b.is_empty()) => match &**inner {
                Value::Bytes(b) => Ok(b.clone()),
                _ => Err(self.bad(field, "is not a byte string")),
            },
            Some(Value::Bytes(_)) => Err(self.bad(field, "is empty")),
            Some(_) => Err(self.bad(field, "is not a byte string")),
            None => Err(self.bad(field, "is missing")),
        }
    }

    fn doc(&self) -> Result<DocumentId, MessageError> {
        let text = self.text("documentId")?;
        text.parse().map_err(|_| MessageError::DocumentId(text))
    }
}

impl Message {
    /// Decodes one frame.
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let value: Value = ciborium::from_reader(bytes).map_err(|e| MessageError::NotCbor(e.to_string()))?;
        let Value::Map(map) = value else { return Err(MessageError::NotCbor("not a map".into())) };
        let kind = match get(&map, "type") {
            Some(Value::Text(t)) => t.clone(),
            _ => return Err(MessageError::Field { message: "?".into(), field: "type", problem: "is missing" }),
        };
        let f = Fields { map: &map, kind: kind.clone() };
        Ok(match kind.as_str() {
            "join" => {
                let meta = match get(&map, "peerMetadata") {
                    Some(Value::Map(m)) => Some(m),
                    _ => None,
                };
                let storage_id = meta.and_then(|m| match get(m, "storageId") {
                    Some(Value::Text(t)) => Some(t.clone()),
                    _ => None,
                });
                let ephemeral = meta.and_then(|m| get(m, "isEphemeral")).and_then(Value::as_bool).unwrap_or(false);
                // an array of versions, or (automerge-repo-swift) one string;
                // absent means version "1" (as the JavaScript server assumes)
                let versions = match get(&map, "supportedProtocolVersions") {
                    None => vec![PROTOCOL_VERSION.to_string()],
                    Some(Value::Text(t)) => vec![t.clone()],
                    Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_text().map(String::from)).collect(),
                    Some(_) => return Err(f.bad("supportedProtocolVersions", "is neither text nor an array")),
                };
                Message::Join { sender: f.text("senderId")?, storage_id, ephemeral, versions }
            }
            "peer" => Message::Peer {
                sender: f.text("senderId")?,
                target: f.text_or_empty("targetId")?,
                storage_id: String::new(),
                version: f.text_or_empty("selectedProtocolVersion")?,
            },
            "error" => Message::Error {
                sender: f.text_or_empty("senderId")?,
                target: f.text_or_empty("targetId")?,
                message: f.text_or_empty("message")?,
            },
            "sync" | "request" => {
                let (sender, target, doc, data) =
                    (f.text("senderId")?, f.text_or_empty("targetId")?, f.doc()?, f.bytes("data")?);
                if kind == "sync" {
                    Message::Sync { sender, target, doc, data }
                } else {
                    Message::Request { sender, target, doc, data }
                }
            }
            "doc-unavailable" => Message::DocUnavailable {
                sender: f.text("senderId")?,
                target: f.text_or_empty("targetId")?,
                doc: f.doc()?,
            },
            "ephemeral" => Message::Ephemeral { sender: f.text("senderId")?, doc: f.doc()? },
            _ => Message::Other { kind },
        })
    }

    /// Encodes as the JavaScript client reads it.
    pub fn encode(&self) -> Vec<u8> {
        let text = |s: &str| Value::Text(s.to_string());
        let mut map: Map = vec![];
        let mut put = |k: &str, v: Value| map.push((text(k), v));
        match self {
            Message::Join { sender, storage_id, ephemeral, versions } => {
                put("type", text("join"));
                put("senderId", text(sender));
                let mut meta: Map = vec![(text("isEphemeral"), Value::Bool(*ephemeral))];
                if let Some(s) = storage_id {
                    meta.push((text("storageId"), text(s)));
                }
                put("peerMetadata", Value::Map(meta));
                put("supportedProtocolVersions", Value::Array(versions.iter().map(|v| text(v)).collect()));
            }
            Message::Peer { sender, target, storage_id, version } => {
                put("type", text("peer"));
                put("senderId", text(sender));
                put("targetId", text(target));
                put(
                    "peerMetadata",
                    Value::Map(vec![(text("storageId"), text(storage_id)), (text("isEphemeral"), Value::Bool(false))]),
                );
                put("selectedProtocolVersion", text(version));
            }
            Message::Error { sender, target, message } => {
                put("type", text("error"));
                put("senderId", text(sender));
                put("targetId", text(target));
                put("message", text(message));
            }
            Message::Sync { sender, target, doc, data } | Message::Request { sender, target, doc, data } => {
                put("type", text(if matches!(self, Message::Sync { .. }) { "sync" } else { "request" }));
                put("senderId", text(sender));
                put("targetId", text(target));
                put("documentId", text(&doc.to_string()));
                put("data", Value::Bytes(data.clone()));
            }
            Message::DocUnavailable { sender, target, doc } => {
                put("type", text("doc-unavailable"));
                put("senderId", text(sender));
                put("targetId", text(target));
                put("documentId", text(&doc.to_string()));
            }
            Message::Ephemeral { sender, doc } => {
                put("type", text("ephemeral"));
                put("senderId", text(sender));
                put("documentId", text(&doc.to_string()));
            }
            Message::Other { kind } => put("type", text(kind)),
        }
        let mut out = vec![];
        // writing a CBOR value into a Vec cannot fail
        let _ = ciborium::into_writer(&Value::Map(map), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(v: Value) -> Vec<u8> {
        let mut out = vec![];
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn what_the_javascript_and_swift_clients_send_decodes() {
        // cbor-x: `undefined` (0xf7) for a missing storage ID, an array of versions
        let mut js = cbor(Value::Map(vec![
            (t("type"), t("join")),
            (t("senderId"), t("peer-abc")),
            (t("peerMetadata"), Value::Map(vec![(t("storageId"), Value::Null), (t("isEphemeral"), Value::Bool(true))])),
            (t("supportedProtocolVersions"), Value::Array(vec![t("1")])),
        ]));
        let null = js.iter().position(|b| *b == 0xf6).unwrap();
        js[null] = 0xf7;
        assert_eq!(
            Message::decode(&js).unwrap(),
            Message::Join { sender: "peer-abc".into(), storage_id: None, ephemeral: true, versions: vec!["1".into()] }
        );
        // automerge-repo-swift: the versions as one string
        let swift = cbor(Value::Map(vec![
            (t("type"), t("join")),
            (t("senderId"), t("swift")),
            (t("supportedProtocolVersions"), t("1")),
        ]));
        assert!(matches!(Message::decode(&swift).unwrap(), Message::Join { versions, .. } if versions == ["1"]));
        // a sync message round-trips, the document ID as automerge-repo writes it
        let doc = DocumentId::random().unwrap();
        let sync = Message::Sync { sender: "a".into(), target: "b".into(), doc, data: vec![0x42, 0, 0] };
        assert_eq!(Message::decode(&sync.encode()).unwrap(), sync);
        assert_eq!(
            Message::decode(&cbor(Value::Map(vec![(t("type"), t("remote-heads-changed"))]))).unwrap(),
            Message::Other { kind: "remote-heads-changed".into() }
        );
    }

    #[test]
    fn bad_frames_are_errors_never_panics() {
        let doc = DocumentId::random().unwrap().to_string();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"\xff\x00garbage".to_vec(), "not a CBOR map"),
            (cbor(Value::Array(vec![])), "not a CBOR map"),
            (cbor(Value::Map(vec![(t("senderId"), t("x"))])), "'type'"),
            (cbor(Value::Map(vec![(t("type"), t("sync")), (t("senderId"), t("x"))])), "documentId"),
            (
                cbor(Value::Map(vec![
                    (t("type"), t("sync")),
                    (t("senderId"), t("x")),
                    (t("documentId"), t("not-an-id")),
                    (t("data"), Value::Bytes(vec![1])),
                ])),
                "not a document ID",
            ),
            (
                cbor(Value::Map(vec![
                    (t("type"), t("sync")),
                    (t("senderId"), t("x")),
                    (t("documentId"), t(&doc)),
                    (t("data"), Value::Array(vec![])),
                ])),
                "byte string",
            ),
            (
                cbor(Value::Map(vec![
                    (t("type"), t("join")),
                    (t("senderId"), t("x")),
                    (t("supportedProtocolVersions"), Value::Integer(1.into())),
                ])),
                "supportedProtocolVersions",
            ),
        ];
        for (bytes, want) in cases {
            let e = Message::decode(&bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }
}
