//! The Conversations and ConvoLinks tables: a conversation and its members
//! change together (one transaction), and a member's link carries their
//! inbox activity and read marker.

use super::*;
use chat_domain::limits::MAX_LISTED_MEMBERS;

impl ConversationStore for DynamoStore {
    async fn batch_get(
        &self,
        user_ids: &[String],
        conversation_ids: &[String],
    ) -> chat_domain::error::Result<Batch> {
        let mut keys = Vec::with_capacity(user_ids.len() + conversation_ids.len());
        for id in user_ids {
            keys.push((
                self.tables.users.clone(),
                to_attrs(&IdKey { id: id.clone() })?,
            ));
        }
        for id in conversation_ids {
            keys.push((
                self.tables.conversations.clone(),
                to_attrs(&IdKey { id: id.clone() })?,
            ));
        }
        let mut found = self.batch_get_raw(keys, false).await?;
        let users = found
            .remove(&self.tables.users)
            .unwrap_or_default()
            .into_iter()
            .map(|a| from_attrs::<UserItem>(a).map(User::from))
            .collect::<Result<Vec<_>>>()?;
        let conversations = found
            .remove(&self.tables.conversations)
            .unwrap_or_default()
            .into_iter()
            .map(|a| from_attrs::<ConversationItem>(a).map(Conversation::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(Batch {
            users,
            conversations,
        })
    }

    async fn membership(
        &self,
        user_id: &str,
        conversation_id: &str,
        with_conversation: bool,
    ) -> chat_domain::error::Result<(Option<ConvoLink>, Option<Conversation>)> {
        let link_key = to_attrs(&LinkKey::new(user_id, conversation_id))?;
        if !with_conversation {
            let link: Option<LinkItem> = self.get(&self.tables.convo_links, link_key).await?;
            return Ok((link.map(ConvoLink::from), None));
        }
        let keys = vec![
            (self.tables.convo_links.clone(), link_key),
            (
                self.tables.conversations.clone(),
                to_attrs(&IdKey {
                    id: conversation_id.to_string(),
                })?,
            ),
        ];
        let mut found = self.batch_get_raw(keys, true).await?;
        let link = found
            .remove(&self.tables.convo_links)
            .and_then(|mut v| v.pop())
            .map(|a| from_attrs::<LinkItem>(a).map(ConvoLink::from))
            .transpose()?;
        let convo = found
            .remove(&self.tables.conversations)
            .and_then(|mut v| v.pop())
            .map(|a| from_attrs::<ConversationItem>(a).map(Conversation::from))
            .transpose()?;
        Ok((link, convo))
    }

    async fn create_conversation(
        &self,
        conversation: &Conversation,
        links: &[ConvoLink],
    ) -> chat_domain::error::Result<()> {
        let mut tx = self.client.transact_write_items().transact_items(self.put(
            &self.tables.conversations,
            to_attrs(&ConversationItem::from(conversation))?,
            "attribute_not_exists(id)",
        ));
        for link in links {
            tx = tx.transact_items(self.put(
                &self.tables.convo_links,
                to_attrs(&link_item(link))?,
                "attribute_not_exists(convoLinkUserId)",
            ));
        }
        tx.send().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn add_member(
        &self,
        caller_id: &str,
        link: &ConvoLink,
        max_members: usize,
    ) -> chat_domain::error::Result<AddMemberOutcome> {
        let conversation_id = &link.convo_link_conversation_id;
        let user_id = &link.convo_link_user_id;
        let key = to_attrs(&IdKey {
            id: conversation_id.clone(),
        })?;
        // Appending to the list while it has room, then counting only: the
        // conversation (up to a thousand ids) is not read first. A failed
        // condition on it reads it once to say why: full, listing no more
        // (so past the list each add reads it, then counts), or stored
        // before its count (which it then gains).
        let mut append = true;
        for _ in 0..MAX_ADD_ATTEMPTS {
            let (list, listed) = if append {
                ("members = list_append(members, :new), ", "<")
            } else {
                ("", ">=")
            };
            let mut update = Update::builder()
                .table_name(&self.tables.conversations)
                .set_key(Some(key.clone()))
                .update_expression(format!(
                    "SET {list}memberCount = if_not_exists(memberCount, :zero) + :one, updatedAt = :now, rev = if_not_exists(rev, :zero) + :one"
                ))
                .condition_expression(format!(
                    "attribute_exists(id) AND size(members) {listed} :listed AND memberCount < :max"
                ))
                .expression_attribute_values(":listed", to_av(&MAX_LISTED_MEMBERS)?)
                .expression_attribute_values(":max", to_av(&max_members)?)
                .expression_attribute_values(":now", to_av(&link.created_at)?)
                .expression_attribute_values(":zero", to_av(&0)?)
                .expression_attribute_values(":one", to_av(&1)?);
            if append {
                update = update.expression_attribute_values(":new", to_av(&vec![user_id.clone()])?);
            }
            let result = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(self.link_exists(caller_id, conversation_id)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(self.user_exists(user_id)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(update.build().map_err(StoreError::from)?)
                        .build(),
                )
                .transact_items(self.put(
                    &self.tables.convo_links,
                    to_attrs(&link_item(link))?,
                    "attribute_not_exists(convoLinkUserId)",
                ))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(AddMemberOutcome::Added),
                Err(err) => err,
            };
            let Some(reasons) = failed_conditions(&err) else {
                return Err(StoreError::from(err).into());
            };
            if failed(&reasons, 0) {
                return Ok(AddMemberOutcome::CallerNotMember);
            }
            if failed(&reasons, 1) {
                return Ok(AddMemberOutcome::UserMissing);
            }
            if failed(&reasons, 3) {
                return Ok(AddMemberOutcome::AlreadyMember);
            }
            if !failed(&reasons, 2) {
                // Cancelled for another reason: a conflicting transaction,
                // a throttle; the caller's retry policy decides.
                return Err(StoreError::from(err).into());
            }
            let Some(read) = self
                .get::<ConversationItem>(&self.tables.conversations, key.clone())
                .await?
            else {
                return Ok(AddMemberOutcome::CallerNotMember);
            };
            match read.member_count {
                Some(count) if count >= max_members => return Ok(AddMemberOutcome::Full),
                Some(_) => {}
                None => self.count_members(&key, read.members.len()).await?,
            }
            append = read.members.len() < MAX_LISTED_MEMBERS;
        }
        Err(chat_domain::Error::Conflict(
            "the conversation's members are changing too fast; try again".into(),
        ))
    }

    async fn links_of_user(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<ConvoLink>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<LinkItem>(
                &self.tables.convo_links,
                None,
                "convoLinkUserId",
                user_id,
                page,
                true,
                true,
            )
            .await?;
        Ok((items.into_iter().map(ConvoLink::from).collect(), cursor))
    }

    async fn links_of(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> chat_domain::error::Result<Vec<ConvoLink>> {
        let keys = user_ids
            .iter()
            .map(|id| LinkKey::new(id, conversation_id))
            .collect::<Vec<_>>();
        let items: Vec<LinkItem> = self.batch_items(&self.tables.convo_links, &keys).await?;
        Ok(items.into_iter().map(ConvoLink::from).collect())
    }

    /// `byConversation`, keys only, a thousand a page (inside a Query's 1 MB).
    async fn member_ids(&self, conversation_id: &str) -> chat_domain::error::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.convo_links)
                .index_name(LINKS_BY_CONVERSATION)
                .key_condition_expression("convoLinkConversationId = :c")
                .expression_attribute_values(":c", to_av(&conversation_id)?)
                .projection_expression("convoLinkUserId, convoLinkConversationId")
                .limit(1000)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from)?;
            for item in out.items.unwrap_or_default() {
                ids.push(from_attrs::<LinkKey>(item)?.convo_link_user_id);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(ids);
            }
        }
    }

    async fn links_of_conversation(
        &self,
        conversation_id: &str,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<ConvoLink>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<LinkItem>(
                &self.tables.convo_links,
                Some(LINKS_BY_CONVERSATION),
                "convoLinkConversationId",
                conversation_id,
                page,
                true,
                false,
            )
            .await?;
        Ok((items.into_iter().map(ConvoLink::from).collect(), cursor))
    }

    async fn change_members(
        &self,
        read: &Conversation,
        members: &[String],
        owners: &[String],
        member_count: usize,
        remove: Option<&str>,
    ) -> chat_domain::error::Result<bool> {
        let update = Update::builder()
            .table_name(&self.tables.conversations)
            .set_key(Some(to_attrs(&IdKey {
                id: read.id.clone(),
            })?))
            .update_expression(
                "SET members = :members, owners = :owners, memberCount = :count, rev = :next, updatedAt = :now",
            )
            .condition_expression(if read.rev == 0 {
                "attribute_exists(id) AND (attribute_not_exists(rev) OR rev = :read)"
            } else {
                "rev = :read"
            })
            .expression_attribute_values(":members", to_av(&members)?)
            .expression_attribute_values(":owners", to_av(&owners)?)
            .expression_attribute_values(":count", to_av(&member_count)?)
            .expression_attribute_values(":next", to_av(&(read.rev + 1))?)
            .expression_attribute_values(":read", to_av(&read.rev)?)
            .expression_attribute_values(":now", to_av(&chat_domain::clock::now())?)
            .build()
            .map_err(StoreError::from)?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(user) = remove {
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.tables.convo_links)
                .set_key(Some(to_attrs(&LinkKey::new(user, &read.id))?))
                .build()
                .map_err(StoreError::from)?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        match tx.send().await {
            Ok(_) => Ok(true),
            Err(err) if failed_conditions(&err).is_some() => Ok(false),
            Err(err) => Err(StoreError::from(err).into()),
        }
    }

    async fn inbox(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<ConvoLink>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<LinkItem>(
                &self.tables.convo_links,
                Some(LINKS_BY_ACTIVITY),
                "convoLinkUserId",
                user_id,
                page,
                false,
                false,
            )
            .await?;
        Ok((items.into_iter().map(ConvoLink::from).collect(), cursor))
    }

    async fn mark_read(&self, marker: &ReadMarker) -> chat_domain::error::Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.convo_links)
            .set_key(Some(to_attrs(&LinkKey::new(
                &marker.user_id,
                &marker.conversation_id,
            ))?))
            .update_expression("SET lastReadSeq = :seq, lastReadId = :id")
            .condition_expression(MARKER_FORWARD)
            .expression_attribute_values(":seq", to_av(&marker.seq)?)
            .expression_attribute_values(":id", to_av(&marker.message_id)?)
            .send()
            .await;
        Ok(updated(result)?)
    }

    async fn bump_activity(
        &self,
        conversation: &Conversation,
        seq: &str,
        window_ms: i64,
    ) -> chat_domain::error::Result<usize> {
        if window_ms > 0 {
            let now = now_ms();
            if conversation
                .activity_at
                .is_some_and(|at| at >= now - window_ms)
            {
                // Read inside the window: it is claimed already.
                return Ok(0);
            }
            let claim = self
                .client
                .update_item()
                .table_name(&self.tables.conversations)
                .set_key(Some(to_attrs(&IdKey {
                    id: conversation.id.clone(),
                })?))
                .update_expression("SET activityAt = :now")
                .condition_expression(
                    "attribute_exists(id) AND (attribute_not_exists(activityAt) OR activityAt < :since)",
                )
                .expression_attribute_values(":now", to_av(&now)?)
                .expression_attribute_values(":since", to_av(&(now - window_ms))?)
                .send()
                .await;
            if !updated(claim)? {
                // Another change claimed this window.
                return Ok(0);
            }
        }
        let members = if conversation.lists_all() {
            conversation.members.clone()
        } else {
            self.member_ids(&conversation.id).await?
        };
        let updates: Vec<_> = members
            .into_iter()
            .map(|member| self.touch_link(member, conversation.id.clone(), seq.to_string()))
            .collect();
        let updated: Vec<usize> = futures::stream::iter(updates)
            .buffer_unordered(16)
            .try_collect()
            .await?;
        Ok(updated.into_iter().sum())
    }
}

/// Tries of one `add_member` against changes racing it.
const MAX_ADD_ATTEMPTS: usize = 8;

impl DynamoStore {
    /// Gives a conversation stored before its member count one: its list,
    /// then whole, says how many (unless it changed since: read again).
    async fn count_members(&self, key: &Attrs, listed: usize) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.conversations)
            .set_key(Some(key.clone()))
            .update_expression("SET memberCount = :n")
            .condition_expression("attribute_not_exists(memberCount) AND size(members) = :n")
            .expression_attribute_values(":n", to_av(&listed)?)
            .send()
            .await;
        updated(result)?;
        Ok(())
    }

    /// Holds a transaction to `user_id` being a member of the conversation.
    fn link_exists(&self, user_id: &str, conversation_id: &str) -> Result<ConditionCheck> {
        Ok(ConditionCheck::builder()
            .table_name(&self.tables.convo_links)
            .set_key(Some(to_attrs(&LinkKey::new(user_id, conversation_id))?))
            .condition_expression("attribute_exists(convoLinkUserId)")
            .build()?)
    }

    /// Holds a transaction to the user existing.
    fn user_exists(&self, user_id: &str) -> Result<ConditionCheck> {
        Ok(ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(to_attrs(&IdKey {
                id: user_id.to_string(),
            })?))
            .condition_expression("attribute_exists(id)")
            .build()?)
    }
}
