//! Closes connections that never sent `connection_init` within the timeout,
//! with the protocol's 4408, and connections whose token has expired, with
//! 4403 "Token expired" (as a push or a `subscribe` on them would). Runs on
//! a schedule: every minute on AWS, so an idle connection outlives its
//! token by at most a minute and the verifier's leeway; the local gateway
//! runs it every second.

use std::time::Duration;

use tracing::info;

use crate::connections::{now_ms, Connections};
use crate::error::RealtimeError;
use crate::notifier::Notifier;
use crate::protocol::Close;

/// How long a client has to send `connection_init` (graphql-ws's server
/// default is 3 s; API Gateway adds latency, so allow more).
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Sweeper<C, N> {
    connections: C,
    notifier: N,
    init_timeout: Duration,
}

impl<C: Connections, N: Notifier> Sweeper<C, N> {
    pub fn new(connections: C, notifier: N, init_timeout: Duration) -> Self {
        Sweeper {
            connections,
            notifier,
            init_timeout,
        }
    }

    /// Closes every connection pending longer than the timeout, and every
    /// one whose token has expired; returns how many.
    pub async fn sweep(&self) -> Result<usize, RealtimeError> {
        let cutoff = now_ms() - self.init_timeout.as_millis() as i64;
        let stale = self.connections.pending_before(cutoff).await?;
        for connection_id in &stale {
            self.notifier
                .close(connection_id, &Close::init_timeout())
                .await?;
            self.connections.delete_connection(connection_id).await?;
        }
        if !stale.is_empty() {
            info!(
                closed = stale.len(),
                "closed connections that never initialised"
            );
        }
        let expired = self
            .connections
            .expired_before(now_ms() / 1000 - chat_auth::LEEWAY_SECS as i64)
            .await?;
        for connection_id in &expired {
            self.notifier
                .close(connection_id, &Close::token_expired())
                .await?;
            self.connections.delete_connection(connection_id).await?;
        }
        if !expired.is_empty() {
            info!(
                closed = expired.len(),
                "closed connections whose token expired"
            );
        }
        Ok(stale.len() + expired.len())
    }
}
