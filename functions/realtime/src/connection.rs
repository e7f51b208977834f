//! What each WebSocket route does. All routes (`$connect`, `$disconnect`,
//! `connection_init`, `subscribe`, `complete`, `ping`, `$default`) go to one
//! function: the route only says which message arrived, and every message is
//! parsed and checked again here.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use serde_json::Value;
use tracing::{info, instrument, warn};

use chat_auth::Verifier;
use chat_domain::{Chain, ChatStore, Publisher};

use crate::caps::{MAX_CONNECTIONS_PER_USER, MAX_SUBSCRIPTIONS_PER_CONNECTION};
use crate::clock::now_ms;
use crate::connections::{Connections, Stored};
use crate::error::RealtimeError;
use crate::model::{ConnectedUser, ConnectionState, Subscription, Topic};
use crate::notifier::{Notifier, NotifyError};
use crate::presence;
use crate::protocol::{self, ClientMessage, Close, ServerMessage, SUBPROTOCOL};
use crate::subscribe;

/// A client's `ping` counts as a sign of life at most this often (ms): a
/// client pinging every few seconds costs one write per this interval.
const PING_TOUCH_MS: i64 = 10_000;

/// The connection-tracking service behind the WebSocket routes. It pushes
/// presence changes through `publisher`.
pub struct ConnectionService<C, N, S, P> {
    connections: C,
    notifier: N,
    chat: S,
    publisher: P,
    verifier: Verifier,
}

fn response(status: i64, headers: HeaderMap, body: Option<&str>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = body.map(|b| Body::Text(b.to_string()));
    response
}

fn ok() -> ApiGatewayProxyResponse {
    response(200, HeaderMap::new(), None)
}

impl<C: Connections, N: Notifier, S: ChatStore, P: Publisher> ConnectionService<C, N, S, P> {
    pub fn new(connections: C, notifier: N, chat: S, publisher: P, verifier: Verifier) -> Self {
        ConnectionService {
            connections,
            notifier,
            chat,
            publisher,
            verifier,
        }
    }

    /// Handles one API Gateway WebSocket event.
    #[instrument(skip_all, fields(connection = tracing::field::Empty, route = tracing::field::Empty))]
    pub async fn handle(
        &self,
        request: &ApiGatewayWebsocketProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, RealtimeError> {
        let context = &request.request_context;
        let connection_id = context.connection_id.clone().unwrap_or_default();
        let route = context.route_key.clone().unwrap_or_default();
        tracing::Span::current().record("connection", connection_id.as_str());
        tracing::Span::current().record("route", route.as_str());
        match route.as_str() {
            "$connect" => {
                self.connect(&connection_id, context.connected_at, request)
                    .await
            }
            "$disconnect" => {
                self.forget(&connection_id).await?;
                Ok(ok())
            }
            _ => {
                self.message(&connection_id, request.body.as_deref().unwrap_or_default())
                    .await?;
                Ok(ok())
            }
        }
    }

    /// Accepts the upgrade only for clients offering graphql-transport-ws, and
    /// selects that subprotocol. A `?token=` is checked now and used if
    /// `connection_init` carries none.
    async fn connect(
        &self,
        connection_id: &str,
        connected_at: i64,
        request: &ApiGatewayWebsocketProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, RealtimeError> {
        let offered = request
            .headers
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        if !offered {
            info!("refused: no {SUBPROTOCOL} subprotocol offered");
            return Ok(response(
                400,
                HeaderMap::new(),
                Some("the graphql-transport-ws subprotocol is required"),
            ));
        }
        let (query_user, query_token_rejected) =
            match request.query_string_parameters.first("token") {
                None => (None, false),
                Some(token) => match self.verifier.verify(token).await {
                    Ok(t) => (
                        Some(ConnectedUser {
                            id: t.sub,
                            username: t.username,
                            token_expires_at: t.expires_at,
                        }),
                        false,
                    ),
                    Err(err) => {
                        info!(error = %Chain(&err), "query-string token refused");
                        (None, true)
                    }
                },
            };
        self.connections
            .put_connection(&ConnectionState {
                connection_id: connection_id.to_string(),
                connected_at,
                user: None,
                query_user,
                query_token_rejected,
                seen_at: 0,
            })
            .await?;
        let mut headers = HeaderMap::new();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        Ok(response(200, headers, None))
    }

    async fn message(&self, connection_id: &str, body: &str) -> Result<(), RealtimeError> {
        let message = match protocol::parse(body) {
            Ok(m) => m,
            Err(close) => return self.close(connection_id, &close).await,
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.init(connection_id, payload).await,
            ClientMessage::Ping { payload } => {
                // Only an acknowledged connection is answered: a client that
                // never sends `connection_init` cannot keep pinging for free
                // (one GetItem, then the close).
                match self.connections.get_connection(connection_id).await? {
                    None => Ok(()),
                    Some(ConnectionState { user: None, .. }) => {
                        self.close(connection_id, &Close::unauthorized()).await
                    }
                    Some(connection) => {
                        if now_ms() - connection.seen_at >= PING_TOUCH_MS {
                            self.connections.touch(connection_id).await?;
                        }
                        self.send(connection_id, &ServerMessage::Pong { payload })
                            .await
                    }
                }
            }
            // The answer to the sweeper's liveness ping.
            ClientMessage::Pong { .. } => self.connections.touch(connection_id).await,
            ClientMessage::Subscribe { id, payload } => {
                let Some(connection) = self.connections.get_connection(connection_id).await? else {
                    return Ok(());
                };
                let Some(user) = connection.user else {
                    return self.close(connection_id, &Close::unauthorized()).await;
                };
                // As AppSync's real-time endpoint: an expired token ends
                // the connection; the client reconnects with a fresh one.
                if user.expired() {
                    return self.close(connection_id, &Close::token_expired()).await;
                }
                // Suspended or banned since the connection began.
                if !self.admitted(&user).await? {
                    return self.close(connection_id, &Close::forbidden()).await;
                }
                let variables = payload.variables.clone().unwrap_or_default();
                let topic = match subscribe::requested_topic(
                    &payload.query,
                    payload.operation_name.as_deref(),
                    &variables,
                ) {
                    Ok(topic) => topic,
                    Err(refusal) => return self.refuse(connection_id, id, refusal).await,
                };
                if let Err(refusal) = subscribe::authorize(&self.chat, &user, &topic).await {
                    return self.refuse(connection_id, id, refusal).await;
                }
                let stored = self
                    .connections
                    .put_subscription(&Subscription {
                        connection_id: connection_id.to_string(),
                        id: id.clone(),
                        topic: topic.key(),
                        query: payload.query,
                        operation_name: payload.operation_name,
                        variables,
                        user_id: user.id.clone(),
                        token_expires_at: Some(user.token_expires_at),
                    })
                    .await?;
                // A removal that commits between the check above and the
                // write is seen here: the removal ends the subscriptions it
                // finds, and this one ends itself if it was not found.
                if matches!(stored, Stored::Added | Stored::Replaced { .. })
                    && matches!(topic, Topic::Messages { .. })
                {
                    if let Err(refusal) = subscribe::authorize(&self.chat, &user, &topic).await {
                        self.connections
                            .delete_subscription(connection_id, &id)
                            .await?;
                        // A push may have read the row meanwhile: nothing
                        // of it may follow the error.
                        tokio::time::sleep(crate::window::END_WAIT).await;
                        return self.refuse(connection_id, id, refusal).await;
                    }
                }
                match stored {
                    Stored::Added => {
                        info!(subscription = %id, topic = %topic.key(), "subscribed");
                        Ok(())
                    }
                    Stored::DuplicateId => self.close(connection_id, &Close::duplicate(&id)).await,
                    Stored::Full => {
                        let refusal = subscribe::Refusal::one(
                            "LimitExceeded",
                            format!("a connection may hold at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions; complete one first"),
                        );
                        self.refuse(connection_id, id, refusal).await
                    }
                    Stored::Replaced { old_id } => {
                        // One subscription per document: it now answers to
                        // the new id, and the old one is completed.
                        info!(subscription = %id, replaced = %old_id, "same document subscribed again");
                        // Pushes that read the row under its old id post
                        // within their window; `complete` comes after them.
                        tokio::time::sleep(crate::window::END_WAIT).await;
                        self.send(connection_id, &ServerMessage::Complete { id: old_id })
                            .await
                    }
                }
            }
            ClientMessage::Complete { id } => {
                self.connections
                    .delete_subscription(connection_id, &id)
                    .await
            }
        }
    }

    async fn init(&self, connection_id: &str, payload: Option<Value>) -> Result<(), RealtimeError> {
        let Some(connection) = self.connections.get_connection(connection_id).await? else {
            return Ok(());
        };
        if connection.user.is_some() {
            return self.close(connection_id, &Close::too_many_inits()).await;
        }
        let token = payload
            .as_ref()
            .and_then(|p| p.get("authorization").or_else(|| p.get("Authorization")))
            .and_then(Value::as_str);
        let user = match token {
            Some(token) => match self.verifier.verify(token).await {
                Ok(t) => Some(ConnectedUser {
                    id: t.sub,
                    username: t.username,
                    token_expires_at: t.expires_at,
                }),
                Err(err) => {
                    info!(error = %Chain(&err), "connection_init token refused");
                    None
                }
            },
            None if connection.query_token_rejected => None,
            None => connection.query_user,
        };
        let Some(user) = user else {
            return self.close(connection_id, &Close::forbidden()).await;
        };
        if !self.admitted(&user).await? {
            return self.close(connection_id, &Close::forbidden()).await;
        }
        if self.connections.user_connections(&user.id).await? >= MAX_CONNECTIONS_PER_USER {
            return self
                .close(connection_id, &Close::too_many_connections())
                .await;
        }
        if !self.connections.acknowledge(connection_id, &user).await? {
            return self.close(connection_id, &Close::too_many_inits()).await;
        }
        self.send(connection_id, &ServerMessage::ConnectionAck)
            .await?;
        presence::refresh(&self.connections, &self.chat, &self.publisher, &user.id).await;
        Ok(())
    }

    /// Whether no suspension or ban bars `user`; a store failure is an
    /// error, never an admission.
    async fn admitted(&self, user: &ConnectedUser) -> Result<bool, RealtimeError> {
        match chat_domain::standing::admitted(&self.chat, &user.id).await {
            Ok(()) => Ok(true),
            Err(chat_domain::Error::Suspended { .. }) => {
                info!(user = %user.id, "suspended or banned; closing");
                Ok(false)
            }
            Err(err) => Err(RealtimeError::from(err)),
        }
    }

    /// Removes a connection's rows and updates its user's presence.
    async fn forget(&self, connection_id: &str) -> Result<(), RealtimeError> {
        presence::forget(
            &self.connections,
            &self.chat,
            &self.publisher,
            connection_id,
        )
        .await
    }

    async fn refuse(
        &self,
        connection_id: &str,
        id: String,
        refusal: subscribe::Refusal,
    ) -> Result<(), RealtimeError> {
        info!(subscription = %id, "subscription refused");
        self.send(
            connection_id,
            &ServerMessage::Error {
                id,
                payload: refusal.0,
            },
        )
        .await
    }

    async fn send(
        &self,
        connection_id: &str,
        message: &ServerMessage,
    ) -> Result<(), RealtimeError> {
        match self.notifier.post(connection_id, message.to_bytes()).await {
            Ok(()) => Ok(()),
            Err(NotifyError::Gone) => self.forget(connection_id).await,
            Err(err) => Err(err.into()),
        }
    }

    async fn close(&self, connection_id: &str, close: &Close) -> Result<(), RealtimeError> {
        warn!(code = close.code, reason = %close.reason, "closing connection");
        self.notifier.close(connection_id, close).await?;
        self.forget(connection_id).await
    }
}
