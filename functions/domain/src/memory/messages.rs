//! The Messages table and its change logs, in memory.

use super::*;

impl MessageStore for MemoryStore {
    async fn latest_message(
        &self,
        conversation_id: &str,
        hidden: &[String],
    ) -> Result<Option<Message>> {
        Ok(self.with(|t| {
            let mut newest: Vec<&Message> = t
                .messages
                .iter()
                .filter(|((c, _), _)| c == conversation_id)
                .map(|(_, (m, _))| m)
                .collect();
            newest.sort_by(|a, b| b.seq.cmp(&a.seq));
            newest
                .into_iter()
                .take(75)
                .find(|m| !hidden.contains(&m.author_id))
                .cloned()
        }))
    }

    async fn count_unread(
        &self,
        conversation_id: &str,
        user_id: &str,
        after: Option<&str>,
        cap: usize,
        hidden: &[String],
    ) -> Result<usize> {
        Ok(self.with(|t| {
            t.messages
                .iter()
                .filter(|((c, _), (m, _))| {
                    c == conversation_id
                        && after.is_none_or(|a| m.seq.as_str() > a)
                        && m.author_id != user_id
                        && !hidden.contains(&m.author_id)
                        && m.deleted_at.is_none()
                })
                .count()
                .min(cap + 1)
        }))
    }

    async fn put_message(
        &self,
        change: &MessageChange,
        push_until: i64,
    ) -> Result<PutMessageOutcome> {
        Ok(self.with(|t| {
            let message = &change.message;
            let at = key(&change.conversation_id, &message.id);
            if let Some((existing, hold)) = t.messages.get(&at) {
                let push = hold.map_or(PushState::Done, PushState::Pending);
                return PutMessageOutcome::Exists(Box::new(existing.clone()), push);
            }
            // Each upload as read: the author's, for this conversation, in
            // the state the message carries, and free or on this message.
            let as_read = message.attachments.iter().all(|a| {
                !t.claimed.contains(&a.id)
                    && t.uploads.get(&a.id).is_some_and(|(u, _)| {
                        u.owner_id == message.author_id
                            && u.conversation_id == change.conversation_id
                            && u.state == a.state
                            && u.message_id.as_ref().is_none_or(|m| *m == message.id)
                    })
            });
            if !as_read {
                return PutMessageOutcome::UploadsMoved;
            }
            for a in &message.attachments {
                if let Some((u, pending)) = t.uploads.get_mut(&a.id) {
                    u.message_id = Some(message.id.clone());
                    *pending = None;
                }
            }
            t.messages.insert(at, (message.clone(), Some(push_until)));
            t.changes
                .insert(key(&change.conversation_id, &change.key), change.clone());
            let author = t
                .links
                .get_mut(&key(&message.author_id, &change.conversation_id));
            move_marker(author, &message.seq, &message.id);
            PutMessageOutcome::Created
        }))
    }

    async fn messages_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_ids: &[String],
        with_conversation: bool,
    ) -> Result<(Option<ConvoLink>, Option<Conversation>, Vec<Message>)> {
        let (link, convo) = self
            .membership(user_id, conversation_id, with_conversation)
            .await?;
        let messages = self.with(|t| {
            message_ids
                .iter()
                .filter_map(|id| t.messages.get(&key(conversation_id, id)))
                .map(|(m, _)| m.clone())
                .collect()
        });
        Ok((link, convo, messages))
    }

    async fn change_message(
        &self,
        change: &MessageChange,
        released: &[String],
    ) -> Result<ChangeOutcome> {
        Ok(self.with(|t| {
            let new = &change.message;
            let at = key(&change.conversation_id, &new.id);
            let Some((stored, _)) = t
                .messages
                .get_mut(&at)
                .filter(|(m, _)| m.version == new.version.saturating_sub(1))
            else {
                return ChangeOutcome::Moved;
            };
            stored.content = new.content.clone();
            stored.updated_at = new.updated_at.clone();
            stored.version = new.version;
            stored.reactions = new.reactions.clone();
            stored.attachments = new.attachments.clone();
            for id in released {
                if let Some((_, pending)) = t.uploads.get_mut(id) {
                    *pending = Some(String::new());
                }
            }
            if new.edited_at.is_some() {
                stored.edited_at = new.edited_at.clone();
            }
            if new.deleted_at.is_some() {
                stored.deleted_at = new.deleted_at.clone();
            }
            t.changes
                .insert(key(&change.conversation_id, &change.key), change.clone());
            ChangeOutcome::Changed
        }))
    }

    async fn changes(
        &self,
        conversation_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<MessageChange>> {
        Ok(self.with(|t| {
            t.changes
                .range(key(conversation_id, after)..)
                .filter(|((c, k), _)| c == conversation_id && k.as_str() > after)
                .take(limit as usize)
                .map(|(_, change)| change.clone())
                .collect()
        }))
    }

    async fn finish_push(&self, message: &Message) -> Result<()> {
        self.with(|t| {
            match t
                .messages
                .get_mut(&key(&message.message_conversation_id, &message.id))
            {
                Some((_, hold)) => {
                    *hold = None;
                    Ok(())
                }
                None => Err(refused("no such message")),
            }
        })
    }

    async fn take_push(&self, message: &Message, held_until: i64, until: i64) -> Result<bool> {
        Ok(self.with(|t| {
            match t
                .messages
                .get_mut(&key(&message.message_conversation_id, &message.id))
            {
                Some((_, hold)) if *hold == Some(held_until) => {
                    *hold = Some(until);
                    true
                }
                _ => false,
            }
        }))
    }

    async fn messages(
        &self,
        conversation_id: &str,
        page: &PageQuery,
        direction: SortDirection,
    ) -> Result<(Vec<Message>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let rows: Vec<(String, Message)> = t
                .messages
                .iter()
                .filter(|((c, _), _)| c == conversation_id)
                .map(|(_, (m, _))| (m.seq.clone(), m.clone()))
                .collect();
            page_of(rows, page, direction)
        }))
    }
}

impl UploadStore for MemoryStore {
    async fn put_upload(&self, upload: &Upload) -> Result<()> {
        self.with(|t| {
            t.uploads.insert(
                upload.id.clone(),
                (upload.clone(), Some(upload.created_at.clone())),
            );
        });
        Ok(())
    }

    async fn uploads(&self, ids: &[String]) -> Result<Vec<Upload>> {
        Ok(self.with(|t| {
            ids.iter()
                .filter_map(|id| t.uploads.get(id))
                .map(|(u, _)| u.clone())
                .collect()
        }))
    }

    async fn finish_upload(&self, done: &Upload) -> Result<Option<Upload>> {
        Ok(self.with(|t| {
            let (u, _) = t
                .uploads
                .get_mut(&done.id)
                .filter(|(u, _)| u.state == AttachmentState::Pending)?;
            u.state = done.state;
            u.error.clone_from(&done.error);
            u.width = done.width;
            u.height = done.height;
            u.stored_size = done.stored_size;
            u.thumbnail = done.thumbnail;
            Some(u.clone())
        }))
    }

    async fn expired_uploads(&self, before: &str, limit: usize) -> Result<Vec<Upload>> {
        Ok(self.with(|t| {
            t.uploads
                .values()
                .filter(|(_, since)| since.as_deref().is_some_and(|s| s < before))
                .take(limit)
                .map(|(u, _)| u.clone())
                .collect()
        }))
    }

    async fn claim_uploads(&self, ids: &[String]) -> Result<Vec<String>> {
        Ok(self.with(|t| {
            let claimable: Vec<String> = ids
                .iter()
                .filter(|id| t.uploads.get(*id).is_some_and(|(_, since)| since.is_some()))
                .cloned()
                .collect();
            t.claimed.extend(claimable.iter().cloned());
            claimable
        }))
    }

    async fn delete_uploads(&self, ids: &[String]) -> Result<()> {
        self.with(|t| {
            for id in ids {
                t.uploads.remove(id);
                t.claimed.remove(id);
            }
        });
        Ok(())
    }
}
