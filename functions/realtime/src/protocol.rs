//! graphql-transport-ws: the messages a client and server exchange, and the
//! close codes of the protocol (enisdenjo/graphql-ws, PROTOCOL.md).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The WebSocket subprotocol a client must offer.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// Longest subscription id accepted.
pub const MAX_SUBSCRIPTION_ID_CHARS: usize = 128;

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribePayload {
    pub query: String,
    #[serde(default)]
    pub operation_name: Option<String>,
    #[serde(default)]
    pub variables: Option<Map<String, Value>>,
    #[serde(default)]
    pub extensions: Option<Value>,
}

/// A message to the client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    ConnectionAck,
    /// The sweeper's liveness probe; clients answer with `pong`.
    Ping {
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    Next {
        id: String,
        payload: Value,
    },
    Error {
        id: String,
        payload: Vec<Value>,
    },
    Complete {
        id: String,
    },
}

impl ServerMessage {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("server messages serialize")
    }
}

/// A `next` payload serialized once, for the many subscribers that get the
/// same one: each post then only writes its subscription id around it,
/// instead of copying and serializing the payload again.
#[derive(Debug, Clone)]
pub struct NextPayload(String);

impl NextPayload {
    pub fn new(payload: &Value) -> Self {
        NextPayload(payload.to_string())
    }

    /// The same bytes as `ServerMessage::Next { id, payload }.to_bytes()`.
    pub fn frame(&self, id: &str) -> Vec<u8> {
        let id = Value::from(id).to_string();
        let mut out = Vec::with_capacity(self.0.len() + id.len() + 32);
        out.extend_from_slice(br#"{"type":"next","id":"#);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(br#","payload":"#);
        out.extend_from_slice(self.0.as_bytes());
        out.push(b'}');
        out
    }
}

/// Why the server closes a connection: a protocol close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

/// A close frame's reason may be at most 123 bytes.
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

fn fit_reason(reason: String) -> String {
    if reason.len() <= MAX_CLOSE_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

impl Close {
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Close {
            code: 4400,
            reason: fit_reason(reason.into()),
        }
    }
    pub fn unauthorized() -> Self {
        Close {
            code: 4401,
            reason: "Unauthorized".into(),
        }
    }
    pub fn forbidden() -> Self {
        Close {
            code: 4403,
            reason: "Forbidden".into(),
        }
    }
    /// The token the connection was opened with has expired. 4401, as
    /// the protocol closes an unauthorised socket: `graphql-ws` ends every
    /// subscription on it with that close event instead of retrying with
    /// the same token, and a client subscribes again, which connects with
    /// the fresh token its `connectionParams` returns.
    pub fn token_expired() -> Self {
        Close {
            code: 4401,
            reason: "Token expired".into(),
        }
    }
    pub fn init_timeout() -> Self {
        Close {
            code: 4408,
            reason: "Connection initialisation timeout".into(),
        }
    }
    /// The client did not answer the sweeper's `ping`: it is gone, or
    /// cannot be reached. 4408 is one `graphql-ws` retries.
    pub fn ping_timeout() -> Self {
        Close {
            code: 4408,
            reason: "Ping timeout".into(),
        }
    }
    pub fn duplicate(id: &str) -> Self {
        Close {
            code: 4409,
            reason: fit_reason(format!("Subscriber for {id} already exists")),
        }
    }
    /// The user holds [`crate::caps::MAX_CONNECTIONS_PER_USER`] connections
    /// already. 4429 is one `graphql-ws` does not retry, so a client in a
    /// reconnect loop stops instead of hammering the API.
    pub fn too_many_connections() -> Self {
        Close {
            code: 4429,
            reason: "Too many connections for this user".into(),
        }
    }
    pub fn too_many_inits() -> Self {
        Close {
            code: 4429,
            reason: "Too many initialisation requests".into(),
        }
    }
}

/// Parses a client frame; anything that is not a valid protocol message gets
/// 4400, as the protocol requires.
pub fn parse(body: &str) -> Result<ClientMessage, Close> {
    let message: ClientMessage = serde_json::from_str(body)
        .map_err(|e| Close::bad_request(format!("Invalid message received: {e}")))?;
    if let ClientMessage::Subscribe { id, .. } | ClientMessage::Complete { id } = &message {
        if id.is_empty() || id.chars().count() > MAX_SUBSCRIPTION_ID_CHARS {
            return Err(Close::bad_request(format!(
                "Invalid message received: id must be 1 to {MAX_SUBSCRIPTION_ID_CHARS} characters"
            )));
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_serialized_once_frames_as_the_next_message() {
        let payload = serde_json::json!({"data": {"onCreateMessage": {"content": "a \"quoted\" line\n", "id": "m1"}}});
        for id in ["1", "sub \"two\"", "é"] {
            let expected = ServerMessage::Next {
                id: id.into(),
                payload: payload.clone(),
            }
            .to_bytes();
            assert_eq!(NextPayload::new(&payload).frame(id), expected, "{id}");
        }
    }

    #[test]
    fn parses_every_client_message() {
        assert_eq!(
            parse(r#"{"type":"connection_init","payload":{"authorization":"t"}}"#).unwrap(),
            ClientMessage::ConnectionInit {
                payload: Some(serde_json::json!({"authorization": "t"}))
            }
        );
        assert!(matches!(
            parse(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping { payload: None })
        ));
        assert!(matches!(
            parse(r#"{"type":"complete","id":"1"}"#),
            Ok(ClientMessage::Complete { .. })
        ));
        let sub = parse(
            r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { onCreateUser { id } }"}}"#,
        );
        assert!(matches!(sub, Ok(ClientMessage::Subscribe { .. })));
    }

    #[test]
    fn invalid_messages_get_4400() {
        for body in [
            "not json",
            "{}",
            r#"{"type":"nope"}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ me { id } }"}}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"ping","extra":1}"#,
        ] {
            let close = parse(body).unwrap_err();
            assert_eq!(close.code, 4400, "{body}");
            assert!(close.reason.len() <= MAX_CLOSE_REASON_BYTES, "{body}");
        }
    }

    #[test]
    fn server_messages_have_the_protocol_shape() {
        let next = ServerMessage::Next {
            id: "1".into(),
            payload: serde_json::json!({"data": {}}),
        };
        assert_eq!(
            serde_json::to_value(&next).unwrap(),
            serde_json::json!({"type": "next", "id": "1", "payload": {"data": {}}})
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::ConnectionAck).unwrap(),
            serde_json::json!({"type": "connection_ack"})
        );
    }
}
