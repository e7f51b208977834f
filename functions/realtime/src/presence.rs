//! Presence from the connection lifecycle: after a connection is
//! initialised or removed, its user is online if they hold any initialised
//! connection (one Query of the `byUser` index), and the domain records
//! and pushes a change (`chat_domain::presence::record`).

use tracing::warn;

use chat_domain::{Chain, ChatStore, Publisher};

use crate::clock::now_ms;
use crate::connections::Connections;
use crate::error::RealtimeError;

/// Removes a connection's rows and, if it was initialised, updates its
/// user's presence: what every path that ends a connection does.
pub async fn forget<C: Connections, S: ChatStore, P: Publisher>(
    connections: &C,
    chat: &S,
    publisher: &P,
    connection_id: &str,
) -> Result<(), RealtimeError> {
    if let Some(user_id) = connections.delete_connection(connection_id).await? {
        refresh(connections, chat, publisher, &user_id).await;
    }
    Ok(())
}

/// Re-reads whether `user_id` is online and records it. Presence is a hint:
/// a failure is logged, and the user's next connection event corrects it.
pub async fn refresh<C: Connections, S: ChatStore, P: Publisher>(
    connections: &C,
    chat: &S,
    publisher: &P,
    user_id: &str,
) {
    // The observation's time is taken before the read, so of two
    // observations the later one saw the later state.
    let at = now_ms();
    let online = match connections.user_connections(user_id).await {
        Ok(n) => n > 0,
        Err(err) => {
            warn!(error = %Chain(&err), user = %user_id, "could not count connections for presence");
            return;
        }
    };
    if let Err(err) = chat_domain::presence::record(chat, publisher, user_id, online, at).await {
        warn!(error = %Chain(&err), user = %user_id, "presence not recorded");
    }
}
