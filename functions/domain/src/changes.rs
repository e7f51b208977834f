//! Catching up: `messageChanges`, the conversation's change log after a
//! signed cursor, each message as it stands now.

use std::collections::BTreeSet;

use tracing::instrument;
use ulid::Ulid;

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::graph::{Known, MessageSel, MessageView};
use crate::limits;
use crate::model::{Caller, ChangeKind, Message};
use crate::page::Scope;
use crate::ports::ChatStore;
use crate::service::ChatService;

/// How far behind now a catch-up cursor stays. A change takes its key (a
/// ULID of the time) just before its write, and the write lands within the
/// functions' timeout (10 s, `Timeout` in infra/template.yaml) or never: so
/// every change whose key is older than this was committed before a
/// catch-up reads, and a cursor this far back can never pass a change that
/// commits later.
pub const CHANGE_SETTLE_MS: i64 = 15_000;

/// The cursor of "everything up to [`CHANGE_SETTLE_MS`] ago".
fn settled_key() -> String {
    let at = u64::try_from(now_ms() - CHANGE_SETTLE_MS).unwrap_or(0);
    Ulid::from_parts(at, 0).to_string()
}

/// A page of a conversation's change log (`messageChanges`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePage {
    pub items: Vec<ChangeView>,
    /// Where to catch up from next time.
    pub cursor: String,
    /// When the page is full: pass it as `after` to read on.
    pub next_token: Option<String>,
}

/// One change, with what is selected below its message.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    pub kind: ChangeKind,
    pub conversation_id: String,
    pub message: MessageView,
}

/// Where a `messageChanges` read starts: after `from`, with the cursor it
/// hands back kept at or before `cap`. Sealed into the cursors and tokens
/// the pages hand out, under the conversation's [`Scope::Changes`], so a
/// client can only resume where a page of the same conversation left off.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChangeRead {
    from: String,
    /// A cursor has none: its read is capped at the settled key of the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cap: Option<String>,
}

const NOT_A_CURSOR: &str =
    "after must be a cursor or nextToken that messageChanges returned for this conversation";

impl<S, P> ChatService<S, P> {
    /// Hands out `read` as a cursor or token of `conversation_id`'s log.
    fn seal_read(&self, conversation_id: &str, read: &ChangeRead) -> String {
        let value = serde_json::to_value(read).expect("a ChangeRead always serializes");
        self.tokens.seal(&Scope::Changes(conversation_id), &value)
    }

    /// `after` is a cursor or a page's `nextToken`: a read that goes on
    /// over several pages keeps the cap of its first, so its cursor never
    /// passes a change that commits while it reads.
    fn open_read(&self, conversation_id: &str, after: &str, settled: &str) -> Result<ChangeRead> {
        let sealed =
            self.tokens
                .verify_as(&Scope::Changes(conversation_id), after, NOT_A_CURSOR)?;
        let read: ChangeRead =
            serde_json::from_value(sealed).map_err(|_| Error::validation(NOT_A_CURSOR))?;
        let cap = read
            .cap
            .map_or_else(|| settled.to_string(), |cap| cap.min(settled.to_string()));
        Ok(ChangeRead {
            from: read.from,
            cap: Some(cap),
        })
    }
}

impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// What changed in a conversation after `after` (a cursor or nextToken
    /// an earlier page gave), oldest first: which messages were created,
    /// edited, deleted or reacted to, each as it stands now. Without
    /// `after`: no changes, and the cursor to start from, for a client
    /// about to read the history.
    ///
    /// Each entry carries the message as the read finds it, not as the
    /// change left it: a message deleted since reads as its tombstone in
    /// every entry it has, and an edited one in its latest version, so
    /// catching up never brings back what its author took away.
    ///
    /// A cursor never passes [`CHANGE_SETTLE_MS`] ago, so a change that
    /// commits after a page was read, with a key older than the page's
    /// newest, still comes in the next read; a change can therefore come
    /// twice, and a client keeps the higher `version` of a message.
    #[instrument(skip(self, after, sel), fields(caller = %caller.id))]
    pub async fn message_changes(
        &self,
        caller: &Caller,
        conversation_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        sel: &MessageSel,
    ) -> Result<ChangePage> {
        let id = limits::id("conversationId", conversation_id)?;
        let limit = limits::page_size("limit", limit)?;
        // Taken before the read: what it covers was committed by then.
        let settled = settled_key();
        let Some(read) = after
            .map(|a| self.open_read(&id, a, &settled))
            .transpose()?
        else {
            let (link, _) = self.store.membership(&caller.id, &id, false).await?;
            if link.is_none() {
                return Err(Error::not_member());
            }
            return Ok(ChangePage {
                items: Vec::new(),
                cursor: self.seal_read(
                    &id,
                    &ChangeRead {
                        from: settled,
                        cap: None,
                    },
                ),
                next_token: None,
            });
        };
        let cap = read.cap.unwrap_or(settled);
        let changes = self.store.changes(&id, &read.from, limit).await?;
        // The messages as they are now, with the membership, in one read
        // after the log's: a delete or a removal that commits before it is
        // seen.
        let ids: Vec<String> = changes
            .iter()
            .map(|c| c.message.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (context, hidden) = futures::join!(
            self.store
                .messages_context(&caller.id, &id, &ids, sel.conversation.is_some()),
            self.hidden_for(&caller.id)
        );
        let ((link, convo, current), hidden) = (context?, hidden?);
        if link.is_none() {
            return Err(Error::not_member());
        }
        let (cursor, next_token) = match changes.last() {
            Some(last) if changes.len() == limit as usize => (
                ChangeRead {
                    from: last.key.clone().min(cap.clone()),
                    cap: None,
                },
                Some(ChangeRead {
                    from: last.key.clone(),
                    cap: Some(cap),
                }),
            ),
            // The end of the log: everything up to the cap has been read.
            _ => (
                ChangeRead {
                    from: cap,
                    cap: None,
                },
                None,
            ),
        };
        let now: std::collections::HashMap<&str, &Message> =
            current.iter().map(|m| (m.id.as_str(), m)).collect();
        let (meta, messages): (Vec<_>, Vec<_>) = changes
            .into_iter()
            .filter_map(|c| {
                // A log entry is written with its message, which is never
                // removed: one missing is skipped, never shown as logged.
                let message = now.get(c.message.id.as_str())?;
                // Nor are messages by users the caller blocks.
                if hidden.contains(&message.author_id) {
                    return None;
                }
                Some(((c.kind, c.conversation_id), Message::clone(message)))
            })
            .unzip();
        let known = convo.map_or_else(Known::default, |c| Known::default().with_conversation(c));
        let views = self.expand_messages(caller, known, messages, sel).await?;
        Ok(ChangePage {
            items: meta
                .into_iter()
                .zip(views)
                .map(|((kind, conversation_id), message)| ChangeView {
                    kind,
                    conversation_id,
                    message,
                })
                .collect(),
            cursor: self.seal_read(&id, &cursor),
            next_token: next_token.map(|t| self.seal_read(&id, &t)),
        })
    }
}
