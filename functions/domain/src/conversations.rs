//! Conversations: `createConvo` (the conversation and every member's link
//! in one transaction) and `getConvo`.

use std::collections::BTreeSet;

use tracing::instrument;
use ulid::Ulid;

use crate::clock::now;
use crate::error::{Error, Result};
use crate::graph::{ConversationView, ConvoSel};
use crate::limits;
use crate::model::{Caller, Conversation, ConvoLink};
use crate::ports::{Change, ChatStore, Publisher};
use crate::rates::Action;
use crate::service::ChatService;

/// Creating a conversation.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Creates a conversation with the caller and `members`, and every
    /// member's link, in one transaction. Nobody who blocks the caller can
    /// be among them.
    #[instrument(skip(self, members), fields(caller = %caller.id, members = members.len()))]
    pub async fn create_convo(
        &self,
        caller: &Caller,
        name: &str,
        members: &[String],
    ) -> Result<(Conversation, Vec<ConvoLink>)> {
        let name = self.filter.apply(&limits::convo_name(name)?)?;
        let mut ids = vec![limits::id("caller id", &caller.id)?];
        let mut seen: BTreeSet<String> = ids.iter().cloned().collect();
        for m in members {
            let m = limits::id("members", m)?;
            if seen.insert(m.clone()) {
                ids.push(m);
            }
        }
        if ids.len() > limits::MAX_INITIAL_MEMBERS {
            return Err(Error::validation(format!(
                "createConvo takes at most {} members, the caller included (got {}); add more with createConvoLink",
                limits::MAX_INITIAL_MEMBERS,
                ids.len()
            )));
        }
        let invites = (ids.len() - 1) as u32;
        self.rate_fits(Action::Invite, invites)?;
        let (found, conversations, invited, blocked) = futures::join!(
            self.store.batch_get(&ids, &[]),
            self.take_rate(caller, Action::Conversation, 1),
            self.take_rate(caller, Action::Invite, invites),
            self.refuse_blockers(&caller.id, &ids)
        );
        let found = found?;
        conversations?;
        invited?;
        blocked?;
        let found: BTreeSet<&str> = found.users.iter().map(|u| u.id.as_str()).collect();
        if !found.contains(caller.id.as_str()) {
            return Err(Error::NotFound(
                "you have no profile yet: call createUser first".into(),
            ));
        }
        if let Some(missing) = ids.iter().find(|id| !found.contains(id.as_str())) {
            return Err(Error::NotFound(format!("no user with id {missing:?}")));
        }
        let now = now();
        let convo = Conversation {
            id: Ulid::new().to_string(),
            name,
            owners: vec![caller.id.clone()],
            member_count: ids.len(),
            members: ids,
            created_at: now.clone(),
            updated_at: now.clone(),
            rev: 0,
            activity_at: None,
        };
        let links: Vec<ConvoLink> = convo
            .members
            .iter()
            .map(|m| ConvoLink::new(&convo.id, m, &now))
            .collect();
        self.store.create_conversation(&convo, &links).await?;
        futures::future::join_all(links.iter().map(|l| self.push(Change::Link(l)))).await;
        Ok((convo, links))
    }
}

/// Reading a conversation.
impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// A conversation, for its members only, with what is selected below it.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn get_convo(
        &self,
        caller: &Caller,
        id: &str,
        sel: &ConvoSel,
    ) -> Result<ConversationView> {
        let id = limits::id("id", id)?;
        let (link, convo) = self.store.membership(&caller.id, &id, true).await?;
        if link.is_none() {
            return Err(Error::not_member());
        }
        let convo = convo.ok_or_else(|| Error::NotFound("no such conversation".into()))?;
        self.expand_conversation(caller, convo, sel).await
    }
}
