//! The connection sweeper, on a schedule: every minute on AWS, every
//! second locally. It looks at each connection on the due list
//! (`pending` index):
//!
//! - one that never sent `connection_init` within the timeout is closed
//!   with the protocol's 4408;
//! - one whose token has expired is closed with 4401 "Token expired", as a
//!   push or a `subscribe` on it would be;
//! - one whose client has been silent for [`Liveness::probe`] gets a
//!   graphql-transport-ws `ping`, which every client answers with a `pong`
//!   (stock `graphql-ws` clients do so by themselves);
//! - one silent for [`Liveness::limit`] despite that ping is closed, and
//!   its user's presence is updated.
//!
//! `$disconnect` is best-effort on API Gateway, and a client that vanishes
//! (a phone losing its network) sends nothing: the ping is what finds it.
//! So a vanished client shows online for at most the limit plus two sweep
//! intervals: about 62 s locally, and at most 3 minutes on AWS.

use std::time::Duration;

use futures::StreamExt;
use tracing::{info, warn};

use chat_domain::{Chain, ChatStore, Publisher};

use crate::clock::now_ms;
use crate::connections::Connections;
use crate::error::RealtimeError;
use crate::liveness::Liveness;
use crate::model::ConnectionState;
use crate::notifier::{Notifier, NotifyError};
use crate::presence;
use crate::protocol::{Close, ServerMessage};

/// How long a client has to send `connection_init` (graphql-ws's server
/// default is 3 s; API Gateway adds latency, so allow more).
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Sweeper<C, N, S, P> {
    connections: C,
    notifier: N,
    chat: S,
    publisher: P,
    init_timeout: Duration,
    liveness: Liveness,
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Closed: never initialised, token expired, or silent past the limit.
    pub closed: usize,
    /// Pinged, having been silent a while.
    pub pinged: usize,
}

impl<C: Connections, N: Notifier, S: ChatStore, P: Publisher> Sweeper<C, N, S, P> {
    pub fn new(
        connections: C,
        notifier: N,
        chat: S,
        publisher: P,
        init_timeout: Duration,
        liveness: Liveness,
    ) -> Self {
        Sweeper {
            connections,
            notifier,
            chat,
            publisher,
            init_timeout,
            liveness,
        }
    }

    /// Looks at every connection that is due.
    pub async fn sweep(&self) -> Result<Swept, RealtimeError> {
        let mut swept = Swept::default();
        let cutoff = now_ms() - self.init_timeout.as_millis() as i64;
        let stale = self.connections.pending_before(cutoff).await?;
        for connection_id in &stale {
            self.close(connection_id, &Close::init_timeout()).await?;
        }
        swept.closed += stale.len();
        let due = self.connections.due_before(now_ms()).await?;
        let looks: Vec<_> = futures::stream::iter(due)
            .map(|connection| async move { self.look(&connection).await })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .collect()
            .await;
        for look in looks {
            match look {
                Ok(Look::Closed) => swept.closed += 1,
                Ok(Look::Pinged) => swept.pinged += 1,
                Ok(Look::Nothing) => {}
                // The row stays due: looked at again next time.
                Err(err) => warn!(error = %Chain(&err), "could not look at a connection"),
            }
        }
        if swept != Swept::default() {
            info!(
                closed = swept.closed,
                pinged = swept.pinged,
                "swept connections"
            );
        }
        Ok(swept)
    }

    async fn look(&self, connection: &ConnectionState) -> Result<Look, RealtimeError> {
        let id = &connection.connection_id;
        let Some(user) = &connection.user else {
            // Put on the due list by a push that found it gone.
            self.close(id, &Close::init_timeout()).await?;
            return Ok(Look::Closed);
        };
        if user.expired() {
            self.close(id, &Close::token_expired()).await?;
            return Ok(Look::Closed);
        }
        if now_ms() - connection.seen_at >= self.liveness.limit_ms() {
            // The due list is an index, a moment behind: a pong may just
            // have come in.
            let Some(now) = self.connections.get_connection(id).await? else {
                return Ok(Look::Nothing);
            };
            if now_ms() - now.seen_at < self.liveness.limit_ms() {
                return Ok(Look::Nothing);
            }
            info!(connection = %id, "no pong within the limit; closing");
            self.close(id, &Close::ping_timeout()).await?;
            return Ok(Look::Closed);
        }
        // The row stays due, so each sweep pings it again until its `pong`
        // moves it on: no write for the ping itself.
        let ping = ServerMessage::Ping { payload: None }.to_bytes();
        match self.notifier.post(id, ping).await {
            Ok(()) => Ok(Look::Pinged),
            Err(NotifyError::Gone) => {
                self.forget(id).await?;
                Ok(Look::Closed)
            }
            Err(err) => {
                // Looked at again next time.
                warn!(error = %Chain(&err), connection = %id, "could not ping");
                Ok(Look::Pinged)
            }
        }
    }

    async fn close(&self, connection_id: &str, close: &Close) -> Result<(), RealtimeError> {
        self.notifier.close(connection_id, close).await?;
        self.forget(connection_id).await
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
}

enum Look {
    Closed,
    Pinged,
    /// It answered after all.
    Nothing,
}

/// Connections looked at at once.
const SWEEP_CONCURRENCY: usize = 32;
