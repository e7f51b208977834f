//! The inbox: the caller's conversations, most recently active first, with
//! their newest message and unread count.

use tracing::instrument;

use crate::error::Result;
use crate::graph::{Known, MessageSel, MessageView};
use crate::limits;
use crate::model::{Caller, Message};
use crate::page::{PageRequest, Scope};
use crate::ports::ChatStore;
use crate::service::ChatService;

/// One conversation in a user's inbox.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    pub conversation_id: String,
    pub name: String,
    /// Its listed members (see [`crate::Conversation::members`]).
    pub members: Vec<String>,
    pub member_count: usize,
    pub owners: Vec<String>,
    /// Its newest message (a tombstone when deleted), if any, leaving out
    /// users the caller blocks.
    pub last_message: Option<MessageView>,
    /// Messages by others after the caller's read marker, not deleted and
    /// not by users the caller blocks, up to [`limits::MAX_UNREAD_COUNT`].
    pub unread_count: usize,
    /// Whether there are more unread than `unread_count` says ("99+").
    pub more_unread: bool,
    /// The last message the caller read.
    pub last_read_message_id: Option<String>,
    /// What the caller hears of it by push.
    pub notifications: crate::devices::NotifyLevel,
}

/// A page of an inbox.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxPage {
    pub items: Vec<InboxEntry>,
    pub next_token: Option<String>,
}

impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// The caller's conversations, most recently active first, each with
    /// its newest message and the caller's unread count. A page of n costs
    /// 3 + 2n requests (the third: the caller's block list), whatever the conversations' lengths: the links by
    /// activity, their conversations in one batch, then per conversation
    /// its newest message and its unread count (concurrently).
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn inbox(
        &self,
        caller: &Caller,
        page: PageRequest,
        sel: &MessageSel,
    ) -> Result<InboxPage> {
        let page = PageRequest {
            limit: Some(i64::from(limits::inbox_page_size(page.limit)?)),
            ..page
        };
        let scope = Scope::Inbox(&caller.id);
        let query = self.tokens.open(&scope, &page, "limit")?;
        let (inbox, hidden) = futures::join!(
            self.store.inbox(&caller.id, &query),
            self.hidden_for(&caller.id)
        );
        let ((links, cursor), hidden) = (inbox?, hidden?);
        let hidden = &hidden;
        let ids: Vec<String> = links
            .iter()
            .map(|l| l.convo_link_conversation_id.clone())
            .collect();
        let convos = if ids.is_empty() {
            Vec::new()
        } else {
            self.store.batch_get(&[], &ids).await?.conversations
        };
        let reads = links.iter().map(|link| async move {
            let convo = &link.convo_link_conversation_id;
            let after = link.last_read.as_ref().map(|(seq, _)| seq.as_str());
            futures::try_join!(
                self.store.latest_message(convo, hidden),
                self.store
                    .count_unread(convo, &caller.id, after, limits::MAX_UNREAD_COUNT, hidden)
            )
        });
        let read = futures::future::try_join_all(reads).await?;
        let mut known = Known::default();
        for convo in &convos {
            known = known.with_conversation(convo.clone());
        }
        let latest: Vec<Message> = read.iter().filter_map(|(m, _)| m.clone()).collect();
        let mut previews = self
            .expand_messages(caller, known, latest, sel)
            .await?
            .into_iter();
        let mut items = Vec::with_capacity(links.len());
        for (link, (latest, unread)) in links.iter().zip(read) {
            // The index is exact to within `ACTIVITY_WINDOW_MS`; the newest
            // message, just read, is exact, so it orders the page.
            let active = std::cmp::max(
                link.activity.clone(),
                latest.as_ref().map(|m| m.seq.clone()),
            );
            // Previews come in the order of the links that have one.
            let last_message = latest.and_then(|_| previews.next());
            let Some(convo) = convos
                .iter()
                .find(|c| c.id == link.convo_link_conversation_id)
            else {
                continue;
            };
            items.push((
                active,
                InboxEntry {
                    conversation_id: convo.id.clone(),
                    name: convo.name.clone(),
                    members: convo.members.clone(),
                    member_count: convo.member_count,
                    owners: convo.owners.clone(),
                    last_message,
                    unread_count: unread.min(limits::MAX_UNREAD_COUNT),
                    more_unread: unread > limits::MAX_UNREAD_COUNT,
                    last_read_message_id: link.last_read.as_ref().map(|(_, id)| id.clone()),
                    notifications: link.notify,
                },
            ));
        }
        // Stable: entries equally recent keep the index's order.
        items.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(InboxPage {
            items: items.into_iter().map(|(_, entry)| entry).collect(),
            next_token: cursor.map(|c| self.tokens.seal(&scope, &c)),
        })
    }
}
