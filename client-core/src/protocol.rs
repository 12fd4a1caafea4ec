//! The sync protocol's messages, independent of any transport.
//!
//! One request carries standard Automerge sync messages for many documents; the response
//! carries the server's replies for all of them plus the documents the server wants to push.
//! These types are the JSON bodies of `POST /v1/sync` (see `docs/protocol.md`); client-core
//! defines them so that the device and the server agree on one definition, but client-core
//! never opens a connection: the transport lives outside it.

use serde::{Deserialize, Serialize};

use crate::ids::DocId;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One document's sync message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMessage {
    /// The document.
    pub doc: DocId,
    /// An encoded `automerge::sync::Message`, base64 (standard alphabet, padded).
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// A device's batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The device's Automerge actor (hex): the only actor its changes may carry.
    pub actor: String,
    /// A hash of the playbook the device has, so the server sends a new one only when needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    /// The device's messages, at most one per document.
    pub messages: Vec<DocMessage>,
}

/// The [`Rejection::code`] of a message the server did not get to in this request (its time
/// ran out): not a refusal. Send the document's message again in the next round, from a fresh
/// session state; the response says `more`.
pub const RETRY_LATER: &str = "retry_later";

/// Why the server refused one document's message (the others of the batch still count).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The document.
    pub doc: DocId,
    /// A stable code: `forbidden`, `forged_actor`, `corrupt`, `invalid`, or [`RETRY_LATER`]
    /// (not a refusal: send it again).
    pub code: String,
    /// A sentence for people and logs.
    pub message: String,
}

/// A playbook the server puts in force on the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookUpdate {
    /// Its hash (what the device sends back in [`SyncRequest::playbook`]).
    pub hash: String,
    /// The playbook file's text (TOML).
    pub toml: String,
}

/// The server's answer to a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The protocol version the server spoke.
    pub protocol: u32,
    /// Replies to the device's messages, and messages for documents the server pushes.
    pub messages: Vec<DocMessage>,
    /// Messages the server refused, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
    /// Documents the device must drop (the customer was reassigned to someone else).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<DocId>,
    /// Whether the server held back messages to keep the response small: ask again.
    #[serde(default)]
    pub more: bool,
    /// A playbook to put in force, when the device's is not the team's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<PlaybookUpdate>,
}

mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Accepts owned strings as well as borrowed ones: a JSON string with escapes (`\/` is
    /// legal for `/`) or one read from a stream cannot be borrowed.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_json_with_base64_data() {
        let r = SyncRequest {
            protocol: PROTOCOL_VERSION,
            actor: "ab".into(),
            playbook: None,
            messages: vec![DocMessage {
                doc: "day:agent-1:2026-06-15".parse().unwrap(),
                data: vec![0x42, 0, 255],
            }],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"data\":\"QgD/\""), "{text}");
        assert_eq!(serde_json::from_str::<SyncRequest>(&text).unwrap(), r);
        let bad = text.replace("QgD/", "!!!");
        assert!(serde_json::from_str::<SyncRequest>(&bad).is_err());
    }

    #[test]
    fn base64_with_escaped_slashes_and_from_a_reader_decodes() {
        let text = r#"{"doc":"day:agent-1:2026-06-15","data":"QgD\/"}"#;
        let m: DocMessage = serde_json::from_str(text).unwrap();
        assert_eq!(m.data, vec![0x42, 0, 255]);
        let m: DocMessage = serde_json::from_reader(text.as_bytes()).unwrap();
        assert_eq!(m.data, vec![0x42, 0, 255]);
    }
}
