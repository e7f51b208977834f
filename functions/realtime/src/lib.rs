//! Real-time delivery over an API Gateway WebSocket API speaking
//! graphql-transport-ws (the `graphql-ws` library's protocol): connection
//! tracking, subscription authorization, and the fan-out of new rows to
//! exactly the subscribed connections: from the functions that write them
//! (as the domain's `Publisher`), and from the tables' DynamoDB Streams for
//! rows written outside the API.
//!
//! # Layout
//!
//! - [`caps`]: what one socket or subscription may cost, declared once.
//! - [`protocol`]: the protocol's messages and close codes.
//! - [`model`]: connections, subscriptions and the topics they listen on.
//! - [`connections`]: the [`Connections`] port and its DynamoDB adapter
//!   (Connections table: one Query finds a topic's subscribers), split into
//!   the port, the rows and their keys, the document cache and the adapter.
//! - [`clock`] and [`liveness`]: leaves (wall-clock time; when a silent
//!   connection is pinged and given up on).
//! - [`notifier`]: the [`Notifier`] port and its API Gateway management API
//!   adapter (`PostToConnection`, `DeleteConnection`).
//! - [`topics`]: the topic map, both ways: a subscription field's topic,
//!   and a change's topic with the value of each field it carries.
//! - [`subscribe`]: validating a `subscribe` document and shaping payloads
//!   to it.
//! - [`connection`]: [`ConnectionService`], what each WebSocket route does.
//! - [`fanout`]: [`FanOut`], from a new row (a writer's, or a stream
//!   batch's) to posts.
//! - [`relay`]: a large conversation's posts handed from the writer to
//!   other invocations of the fan-out function.
//! - [`metrics`]: each delivery's counts and latency as an EMF line, for
//!   the dashboard.
//! - [`window`]: how long a push may post to the subscribers it read, and
//!   so how long ending a subscription waits before it tells the client.
//! - [`sweeper`]: closes connections that never sent `connection_init`,
//!   those whose token has expired, and those that stopped answering its
//!   pings.
//! - [`presence`]: whether a user is online, from their connections.
//! - [`config`]: building all of the above once per cold start.
//! - [`error`]: [`RealtimeError`], the crate's one error type.

pub mod caps;
pub mod clock;
pub mod config;
pub mod connection;
pub mod connections;
pub mod error;
pub mod fanout;
pub mod liveness;
pub mod metrics;
pub mod model;
pub mod notifier;
pub mod presence;
pub mod protocol;
pub mod relay;
pub mod subscribe;
pub mod sweeper;
pub mod topics;
pub mod window;

pub use connection::ConnectionService;
pub use connections::{Connections, DynamoConnections};
pub use error::RealtimeError;
pub use fanout::FanOut;
pub use notifier::{ApiGatewayNotifier, Notifier, NotifyError};
