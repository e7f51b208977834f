//! The Conversations and ConvoLinks tables, in memory.

use super::*;
use crate::limits;

impl ConversationStore for MemoryStore {
    async fn batch_get(&self, user_ids: &[String], conversation_ids: &[String]) -> Result<Batch> {
        Ok(self.with(|t| Batch {
            users: user_ids
                .iter()
                .filter_map(|id| t.users.get(id).cloned())
                .collect(),
            conversations: conversation_ids
                .iter()
                .filter_map(|id| t.conversations.get(id).cloned())
                .collect(),
        }))
    }

    async fn membership(
        &self,
        user_id: &str,
        conversation_id: &str,
        with_conversation: bool,
    ) -> Result<(Option<ConvoLink>, Option<Conversation>)> {
        Ok(self.with(|t| {
            let link = t.links.get(&key(user_id, conversation_id)).cloned();
            let convo = with_conversation
                .then(|| t.conversations.get(conversation_id).cloned())
                .flatten();
            (link, convo)
        }))
    }

    async fn create_conversation(
        &self,
        conversation: &Conversation,
        links: &[ConvoLink],
    ) -> Result<()> {
        self.with(|t| {
            let taken = t.conversations.contains_key(&conversation.id)
                || links.iter().any(|l| {
                    t.links
                        .contains_key(&key(&l.convo_link_user_id, &l.convo_link_conversation_id))
                });
            if taken {
                return Err(refused("the conversation or a link exists"));
            }
            t.conversations
                .insert(conversation.id.clone(), conversation.clone());
            for link in links {
                t.links.insert(
                    key(&link.convo_link_user_id, &link.convo_link_conversation_id),
                    link.clone(),
                );
            }
            Ok(())
        })
    }

    async fn add_member(
        &self,
        caller_id: &str,
        link: &ConvoLink,
        max_members: usize,
    ) -> Result<AddMemberOutcome> {
        Ok(self.with(|t| {
            let convo_id = &link.convo_link_conversation_id;
            let user_id = &link.convo_link_user_id;
            if !t.links.contains_key(&key(caller_id, convo_id)) {
                return AddMemberOutcome::CallerNotMember;
            }
            if !t.users.contains_key(user_id) {
                return AddMemberOutcome::UserMissing;
            }
            if t.links.contains_key(&key(user_id, convo_id)) {
                return AddMemberOutcome::AlreadyMember;
            }
            match t.conversations.get_mut(convo_id) {
                Some(c) if c.member_count < max_members => {
                    if c.members.len() < limits::MAX_LISTED_MEMBERS {
                        c.members.push(user_id.clone());
                    }
                    c.member_count += 1;
                    c.updated_at = link.created_at.clone();
                    c.rev += 1;
                }
                _ => return AddMemberOutcome::Full,
            }
            t.links.insert(key(user_id, convo_id), link.clone());
            AddMemberOutcome::Added
        }))
    }

    async fn links_of_user(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> Result<(Vec<ConvoLink>, Option<Cursor>)> {
        // The table's sort key: the conversation id.
        Ok(self.with(|t| {
            t.links_page(page, SortDirection::Asc, |l| {
                (l.convo_link_user_id == user_id).then(|| l.convo_link_conversation_id.clone())
            })
        }))
    }

    async fn links_of(&self, conversation_id: &str, user_ids: &[String]) -> Result<Vec<ConvoLink>> {
        Ok(self.with(|t| {
            user_ids
                .iter()
                .filter_map(|u| t.links.get(&key(u, conversation_id)).cloned())
                .collect()
        }))
    }

    async fn member_ids(&self, conversation_id: &str) -> Result<Vec<String>> {
        Ok(self.with(|t| {
            t.links
                .values()
                .filter(|l| l.convo_link_conversation_id == conversation_id)
                .map(|l| l.convo_link_user_id.clone())
                .collect()
        }))
    }

    async fn links_of_conversation(
        &self,
        conversation_id: &str,
        page: &PageQuery,
    ) -> Result<(Vec<ConvoLink>, Option<Cursor>)> {
        // The byConversation index, sorted by user id.
        Ok(self.with(|t| {
            t.links_page(page, SortDirection::Asc, |l| {
                (l.convo_link_conversation_id == conversation_id)
                    .then(|| l.convo_link_user_id.clone())
            })
        }))
    }

    async fn change_members(
        &self,
        read: &Conversation,
        members: &[String],
        owners: &[String],
        member_count: usize,
        remove: Option<&str>,
    ) -> Result<bool> {
        Ok(self.with(|t| {
            let Some(convo) = t
                .conversations
                .get_mut(&read.id)
                .filter(|c| c.rev == read.rev)
            else {
                return false;
            };
            convo.members = members.to_vec();
            convo.owners = owners.to_vec();
            convo.member_count = member_count;
            convo.rev = read.rev + 1;
            convo.updated_at = now();
            if let Some(user) = remove {
                t.links.remove(&key(user, &read.id));
            }
            true
        }))
    }

    async fn inbox(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> Result<(Vec<ConvoLink>, Option<Cursor>)> {
        // The byActivity index: only links with an activity, newest first.
        Ok(self.with(|t| {
            t.links_page(page, SortDirection::Desc, |l| {
                (l.convo_link_user_id == user_id)
                    .then(|| l.activity.clone())
                    .flatten()
            })
        }))
    }

    async fn mark_read(&self, marker: &ReadMarker) -> Result<bool> {
        Ok(self.with(|t| {
            let link = t
                .links
                .get_mut(&key(&marker.user_id, &marker.conversation_id));
            move_marker(link, &marker.seq, &marker.message_id)
        }))
    }

    async fn bump_activity(
        &self,
        conversation: &Conversation,
        seq: &str,
        window_ms: i64,
    ) -> Result<usize> {
        Ok(self.with(|t| {
            if window_ms > 0 {
                let now = now_ms();
                let claimed = |at: Option<i64>| at.is_some_and(|at| at >= now - window_ms);
                if claimed(conversation.activity_at) {
                    return 0;
                }
                match t.conversations.get_mut(&conversation.id) {
                    Some(c) if !claimed(c.activity_at) => c.activity_at = Some(now),
                    _ => return 0,
                }
            }
            let mut moved = 0;
            for link in t.links.values_mut() {
                if link.convo_link_conversation_id == conversation.id
                    && link.activity.as_deref().is_none_or(|a| a < seq)
                {
                    link.activity = Some(seq.to_string());
                    moved += 1;
                }
            }
            moved
        }))
    }
}
