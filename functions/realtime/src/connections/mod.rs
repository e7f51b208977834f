//! The connection store: connections and their subscriptions, in the
//! Connections table (see schema/TABLES.md).
//!
//! | row | `connectionId` | `sk` | `topic` (byTopic) | `pendingPk` (pending) | `userConn` (byUser) |
//! | --- | --- | --- | --- | --- | --- |
//! | connection | id | `conn` | | `PENDING` until `connection_init`, then `EXPIRES` | its user, once initialised |
//! | subscription | id | `sub#<document key>` | e.g. `message:<conversationId>` | | |
//! | subscription id | id | `id#<client id>` | | | |
//!
//! - A subscription row is keyed by its document (topic, query, operation
//!   and variables, hashed), so the same document subscribed twice on one
//!   socket is one subscription; the `id#` row maps the client's id to it.
//! - A push reads a topic's subscribers without their documents, the bulk
//!   of a row: the key in `sk` names the document, and `Documents` keeps
//!   those this environment has read (a key is a hash, so a kept document
//!   is never stale). A topic it has not read yet, or a key it has not
//!   seen, reads the rows whole instead.
//! - The connection row counts its subscriptions (`subscriptions`), so the
//!   cap holds under concurrent `subscribe`s: the count and the rows change
//!   in one transaction.
//! - The `pending` index is the sweeper's due list: `pendingSince` is when
//!   the connection connected while it waits for `connection_init`; after
//!   it, when the sweeper next looks at it: to ping it once it has been
//!   silent a while (it stays due, and is pinged at each sweep, until its
//!   `pong` moves it on), or when its token expires, whichever is first
//!   (see [`crate::sweeper`]).
//!
//! Every row carries `expiresAt`: DynamoDB's TTL removes what a lost
//! `$disconnect` left behind, after API Gateway's 2-hour connection limit.

//!
//! # Layout
//!
//! - [`port`]: the [`Connections`] trait and what storing a subscription did.
//! - [`items`]: the rows as stored, and their keys.
//! - `documents`: the documents an environment has read, kept by hash.
//! - `dynamo`: [`DynamoConnections`], the adapter, and the requests its
//!   methods share; `store`: its methods.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::RealtimeError;

mod documents;
mod dynamo;
pub mod items;
pub mod port;
mod store;

pub use dynamo::DynamoConnections;
pub use items::{document_key, CONNECTION_TTL_SECS};
pub use port::{Connections, Stored};

type Attrs = HashMap<String, AttributeValue>;
type Result<T, E = RealtimeError> = std::result::Result<T, E>;
