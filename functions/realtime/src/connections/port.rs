//! The [`Connections`] port: what the routes, the fan-out and the sweeper
//! need of the connection store.

use std::future::Future;

use super::Result;
use crate::model::{ConnectedUser, ConnectionState, Subscription};

/// The connection store the routes and the fan-out need.
pub trait Connections: Send + Sync {
    fn put_connection(
        &self,
        connection: &ConnectionState,
    ) -> impl Future<Output = Result<()>> + Send;
    fn get_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<ConnectionState>>> + Send;
    /// Marks a pending connection acknowledged for `user`, seen now; `false`
    /// if it was not pending (already acknowledged, or gone).
    fn acknowledge(
        &self,
        connection_id: &str,
        user: &ConnectedUser,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Records that an initialised connection's client is alive now: the
    /// sweeper looks at it again a probe interval from now.
    fn touch(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Stores a subscription, within the connection's cap.
    fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> impl Future<Output = Result<Stored>> + Send;
    /// Removes the subscription the client knows as `id`, if there is one.
    fn delete_subscription(
        &self,
        connection_id: &str,
        id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every subscription to `topic`.
    fn subscribers(&self, topic: &str) -> impl Future<Output = Result<Vec<Subscription>>> + Send;
    /// Removes a connection and all its subscriptions; returns its user, if
    /// it was initialised (whose presence may have changed).
    fn delete_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// For a connection a push found gone: removes its subscriptions, so no
    /// push posts to it again, and puts it on the sweeper's due list now.
    /// The connection row stays for its `$disconnect`, or the sweeper, to
    /// remove and update its user's presence.
    fn drop_gone(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Connections still waiting for `connection_init` that connected before
    /// `cutoff_ms` (epoch milliseconds).
    fn pending_before(&self, cutoff_ms: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Initialised connections due for the sweeper's look before
    /// `cutoff_ms` (epoch milliseconds): to ping, to close as silent, or
    /// because their token expired. Read from an index: a connection may
    /// have moved on since (a `pong` just in), so re-read one before acting
    /// on its silence.
    fn due_before(
        &self,
        cutoff_ms: i64,
    ) -> impl Future<Output = Result<Vec<ConnectionState>>> + Send;
    /// How many initialised connections `user_id` holds.
    fn user_connections(&self, user_id: &str) -> impl Future<Output = Result<usize>> + Send;
    /// The ids of the initialised connections `user_id` holds.
    fn connection_ids_of(&self, user_id: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
}

/// What storing a subscription did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Added,
    /// The connection already has a subscription with this id.
    DuplicateId,
    /// The connection holds [`MAX_SUBSCRIPTIONS_PER_CONNECTION`](crate::caps::MAX_SUBSCRIPTIONS_PER_CONNECTION) already
    /// (or is gone).
    Full,
    /// The connection had subscribed the same document as `old_id`: that
    /// subscription now answers to the new id instead.
    Replaced {
        old_id: String,
    },
}
