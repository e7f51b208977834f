//! What the benchmarks talk through: GraphQL over HTTP, the local identity
//! provider, the gateway's counters, and graphql-transport-ws subscribers.
//! Both the project and the peer are driven by this same code.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use crate::Result;

/// One GraphQL server under test: where its queries and subscriptions go.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    pub graphql_url: String,
    pub ws_url: String,
    /// The processes that serve it, whose CPU time a delivery costs: the
    /// gateway for the project; the peer and the DynamoDB it writes to
    /// (the gateway's engine) for the peer.
    pub servers: Vec<u32>,
}

/// A GraphQL-over-HTTP client.
#[derive(Clone)]
pub struct Http {
    http: reqwest::Client,
}

impl Http {
    pub fn new() -> Http {
        Http {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Runs one operation; any GraphQL error is an error.
    pub async fn gql(
        &self,
        url: &str,
        token: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value> {
        let response: Value = self
            .http
            .post(url)
            .header("authorization", token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        match response.get("errors") {
            Some(errors) if !errors.is_null() => Err(format!("GraphQL errors: {errors}").into()),
            _ => Ok(response["data"].clone()),
        }
    }

    /// A token from the local identity provider.
    pub async fn token(&self, base_url: &str, username: &str) -> Result<String> {
        let out: Value = self
            .http
            .post(format!("{base_url}/auth/token"))
            .json(&json!({ "username": username }))
            .send()
            .await?
            .json()
            .await?;
        Ok(out["token"].as_str().ok_or("no token")?.to_string())
    }

    /// The gateway's counters (`GET /local/stats`).
    pub async fn counters(&self, base_url: &str) -> Result<Counters> {
        let stats: Value = self
            .http
            .get(format!("{base_url}/local/stats"))
            .send()
            .await?
            .json()
            .await?;
        let sum = |v: &Value| -> u64 {
            v.as_object()
                .map(|o| o.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0)
        };
        Ok(Counters {
            invocations: sum(&stats["invocations"]),
            dynamodb: sum(&stats["dynamodbRequests"]),
            realtime_invocations: sum(&stats["realtime"]["invocations"]),
            realtime_dynamodb: sum(&stats["realtime"]["dynamodbRequests"]),
        })
    }
}

/// Totals of function invocations and DynamoDB requests, as the gateway
/// counted them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub invocations: u64,
    pub dynamodb: u64,
    pub realtime_invocations: u64,
    pub realtime_dynamodb: u64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;
    fn sub(self, before: Counters) -> Counters {
        Counters {
            invocations: self.invocations - before.invocations,
            dynamodb: self.dynamodb - before.dynamodb,
            realtime_invocations: self.realtime_invocations - before.realtime_invocations,
            realtime_dynamodb: self.realtime_dynamodb - before.realtime_dynamodb,
        }
    }
}

/// A delivery a subscriber saw: which subscriber, the message's content, when.
#[derive(Debug)]
pub struct Receipt {
    pub subscriber: usize,
    pub content: String,
    pub at: Instant,
}

/// Opens a graphql-transport-ws connection for `token`, subscribes with
/// `query`, and forwards every `next` payload's `content` to `receipts` until
/// the socket closes or `stop` fires.
pub async fn subscribe(
    target: &Target,
    token: &str,
    query: &str,
    variables: Value,
    subscriber: usize,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut request = target.ws_url.as_str().into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": token } });
    socket.send(Message::Text(init.to_string().into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains("connection_ack") => break,
            Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => continue,
            other => {
                return Err(format!("no connection_ack from {}: {other:?}", target.name).into())
            }
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let at = Instant::now();
            match frame {
                Message::Text(text) => {
                    if let Some(content) = content_of(&text) {
                        let receipt = Receipt {
                            subscriber,
                            content,
                            at,
                        };
                        if receipts.send(receipt).is_err() {
                            break;
                        }
                    } else if text.contains("\"ping\"") {
                        let pong = Message::Text(r#"{"type":"pong"}"#.into());
                        if socket.send(pong).await.is_err() {
                            break;
                        }
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    }))
}

/// The `content` of a `next` message, found without parsing the whole frame:
/// at a thousand subscribers the client's own parsing would otherwise show up
/// in the figures it measures.
fn content_of(text: &str) -> Option<String> {
    if !text.contains("\"next\"") {
        return None;
    }
    let start = text.find("\"content\":\"")? + "\"content\":\"".len();
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::content_of;

    #[test]
    fn finds_the_content_of_next_messages_only() {
        let next = r#"{"id":"1","type":"next","payload":{"data":{"onCreateMessage":{"id":"x","content":"b:3:17"}}}}"#;
        assert_eq!(content_of(next).as_deref(), Some("b:3:17"));
        assert_eq!(content_of(r#"{"type":"pong"}"#), None);
    }
}
