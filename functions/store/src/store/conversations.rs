//! The Conversations and ConvoLinks tables: a conversation and its members
//! change together (one transaction), and a member's link carries their
//! inbox activity and read marker.

use super::*;

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
        let caller_is_member = ConditionCheck::builder()
            .table_name(&self.tables.convo_links)
            .set_key(Some(to_attrs(&LinkKey::new(caller_id, conversation_id))?))
            .condition_expression("attribute_exists(convoLinkUserId)")
            .build()
            .expect("table, key and condition are set");
        let user_exists = ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(to_attrs(&IdKey {
                id: user_id.clone(),
            })?))
            .condition_expression("attribute_exists(id)")
            .build()
            .expect("table, key and condition are set");
        let append_member = Update::builder()
            .table_name(&self.tables.conversations)
            .set_key(Some(to_attrs(&IdKey {
                id: conversation_id.clone(),
            })?))
            .update_expression(
                "SET members = list_append(members, :new), updatedAt = :now, rev = if_not_exists(rev, :zero) + :one",
            )
            .condition_expression(
                "attribute_exists(id) AND size(members) < :max AND NOT contains(members, :uid)",
            )
            .expression_attribute_values(":new", to_av(&vec![user_id.clone()])?)
            .expression_attribute_values(":now", to_av(&link.created_at)?)
            .expression_attribute_values(":max", to_av(&max_members)?)
            .expression_attribute_values(":uid", to_av(user_id)?)
            .expression_attribute_values(":zero", to_av(&0)?)
            .expression_attribute_values(":one", to_av(&1)?)
            .build()
            .expect("table, key and expression are set");
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(caller_is_member)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(user_exists)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().update(append_member).build())
            .transact_items(self.put(
                &self.tables.convo_links,
                to_attrs(&link_item(link))?,
                "attribute_not_exists(convoLinkUserId)",
            ))
            .send()
            .await;
        match result {
            Ok(_) => Ok(AddMemberOutcome::Added),
            Err(err) => match failed_conditions(&err) {
                Some(r) if failed(&r, 0) => Ok(AddMemberOutcome::CallerNotMember),
                Some(r) if failed(&r, 1) => Ok(AddMemberOutcome::UserMissing),
                Some(r) if failed(&r, 3) => Ok(AddMemberOutcome::AlreadyMember),
                Some(r) if failed(&r, 2) => Ok(AddMemberOutcome::Full),
                _ => Err(StoreError::from(err).into()),
            },
        }
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
        remove: Option<&str>,
    ) -> chat_domain::error::Result<bool> {
        let update = Update::builder()
            .table_name(&self.tables.conversations)
            .set_key(Some(to_attrs(&IdKey {
                id: read.id.clone(),
            })?))
            .update_expression(
                "SET members = :members, owners = :owners, rev = :next, updatedAt = :now",
            )
            .condition_expression(if read.rev == 0 {
                "attribute_exists(id) AND (attribute_not_exists(rev) OR rev = :read)"
            } else {
                "rev = :read"
            })
            .expression_attribute_values(":members", to_av(&members)?)
            .expression_attribute_values(":owners", to_av(&owners)?)
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
        let updates: Vec<_> = conversation
            .members
            .iter()
            .map(|member| self.touch_link(member.clone(), conversation.id.clone(), seq.to_string()))
            .collect();
        let updated: Vec<usize> = futures::stream::iter(updates)
            .buffer_unordered(16)
            .try_collect()
            .await?;
        Ok(updated.into_iter().sum())
    }
}
