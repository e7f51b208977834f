//! The Messages table: messages, their pushes, and each conversation's
//! change log under its partition.

use super::*;

/// Messages a filtered read of the newest takes per page.
const LATEST_SCAN: i32 = 25;

/// A filter that leaves out messages by `hidden` (at most
/// `MAX_BLOCKED_USERS`, which is what one `IN` takes), and its values.
fn not_by(hidden: &[String]) -> Result<(String, Attrs)> {
    let mut values = Attrs::new();
    let mut names = Vec::with_capacity(hidden.len());
    for (i, id) in hidden.iter().enumerate() {
        let name = format!(":h{i}");
        values.insert(name.clone(), to_av(id)?);
        names.push(name);
    }
    Ok((format!("NOT (authorId IN ({}))", names.join(", ")), values))
}

impl MessageStore for DynamoStore {
    async fn latest_message(
        &self,
        conversation_id: &str,
        hidden: &[String],
    ) -> chat_domain::error::Result<Option<Message>> {
        if hidden.is_empty() {
            let page = PageQuery {
                limit: 1,
                after: None,
            };
            let (items, _) = self
                .query::<MessageItem>(
                    &self.tables.messages,
                    Some(MESSAGES_BY_ORDER),
                    "messageConversationId",
                    conversation_id,
                    &page,
                    false,
                    true,
                )
                .await?;
            return Ok(items.into_iter().next().map(Message::from));
        }
        // The newest message by someone not hidden: a filtered read, newest
        // first, of at most three pages of `LATEST_SCAN` messages; a
        // preview further back than that is not shown.
        let (filter, values) = not_by(hidden)?;
        let mut start: Option<Attrs> = None;
        for _ in 0..3 {
            let out = self
                .client
                .query()
                .table_name(&self.tables.messages)
                .index_name(MESSAGES_BY_ORDER)
                .key_condition_expression("messageConversationId = :c")
                .filter_expression(&filter)
                .set_expression_attribute_values(Some(values.clone()))
                .expression_attribute_values(":c", to_av(&conversation_id)?)
                .scan_index_forward(false)
                .limit(LATEST_SCAN)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from)?;
            if let Some(item) = out.items.unwrap_or_default().into_iter().next() {
                return Ok(Some(from_attrs::<MessageItem>(item)?.into()));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(None)
    }

    async fn count_unread(
        &self,
        conversation_id: &str,
        user_id: &str,
        after: Option<&str>,
        cap: usize,
        hidden: &[String],
    ) -> chat_domain::error::Result<usize> {
        // The filter applies after the read: a page holds up to cap + 1
        // messages, and a few more pages may be needed when many of them
        // are the reader's own, deleted or hidden; three pages bound it.
        let (not_hidden, values) = not_by(hidden)?;
        let mut filter = String::from("authorId <> :me AND attribute_not_exists(deletedAt)");
        if !hidden.is_empty() {
            filter.push_str(" AND ");
            filter.push_str(&not_hidden);
        }
        let mut count = 0;
        let mut start: Option<Attrs> = None;
        for _ in 0..3 {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.messages)
                .index_name(MESSAGES_BY_ORDER)
                .filter_expression(&filter)
                .set_expression_attribute_values(Some(values.clone()))
                .expression_attribute_values(":c", to_av(&conversation_id)?)
                .expression_attribute_values(":me", to_av(&user_id)?)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit((cap + 1) as i32)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            query = match after {
                Some(seq) => query
                    .key_condition_expression("messageConversationId = :c AND seq > :after")
                    .expression_attribute_values(":after", to_av(&seq)?),
                None => query.key_condition_expression("messageConversationId = :c"),
            };
            let out = query.send().await.map_err(StoreError::from)?;
            count += out.count.max(0) as usize;
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && count <= cap => start = Some(key),
                _ => break,
            }
        }
        Ok(count)
    }

    async fn put_message(
        &self,
        change: &MessageChange,
        push_until: i64,
    ) -> chat_domain::error::Result<PutMessageOutcome> {
        let message = &change.message;
        let item = MessageItem {
            push_until: Some(push_until),
            ..MessageItem::from(message)
        };
        let uploads = message.attachments.len();
        let marker_at = 2 + uploads;
        let mut result = self.write_message(change, &item, true).await?;
        if let Err(err) = &result {
            if failed_conditions(err).is_some_and(|r| {
                !failed(&r, 0) && failed(&r, marker_at) && !(2..marker_at).any(|i| failed(&r, i))
            }) {
                // The author's marker is further already (another device
                // read a later message meanwhile), or their link is gone:
                // the message is stored all the same, the marker left.
                result = self.write_message(change, &item, false).await?;
            }
        }
        let err = match result {
            Ok(_) => return Ok(PutMessageOutcome::Created),
            Err(err) => err,
        };
        let Some(reasons) = failed_conditions(&err) else {
            return Err(StoreError::from(err).into());
        };
        if !failed(&reasons, 0) {
            if (2..marker_at).any(|i| failed(&reasons, i)) {
                return Ok(PutMessageOutcome::UploadsMoved);
            }
            // The log entry's key is a fresh ULID: it is never taken.
            return Err(StoreError::from(err).into());
        }
        // The id is taken: a retry (or a clash). What is there comes with
        // the cancellation; not every emulator sends it, so else read it.
        let returned = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
                .cancellation_reasons()
                .first()
                .and_then(|r| r.item())
                .filter(|item| !item.is_empty())
                .cloned(),
            _ => None,
        };
        let existing: Option<MessageItem> = match returned {
            Some(old) => Some(from_attrs(old)?),
            None => {
                self.get(&self.tables.messages, message_key(message)?)
                    .await?
            }
        };
        match existing {
            Some(item) => {
                let push = item.push_until.map_or(PushState::Done, PushState::Pending);
                Ok(PutMessageOutcome::Exists(Box::new(item.into()), push))
            }
            // Messages are never removed, so this does not happen.
            None => Err(StoreError::Vanished.into()),
        }
    }

    async fn messages_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_ids: &[String],
        with_conversation: bool,
    ) -> chat_domain::error::Result<(Option<ConvoLink>, Option<Conversation>, Vec<Message>)> {
        let mut keys = vec![(
            self.tables.convo_links.clone(),
            to_attrs(&LinkKey::new(user_id, conversation_id))?,
        )];
        if with_conversation {
            keys.push((
                self.tables.conversations.clone(),
                to_attrs(&IdKey {
                    id: conversation_id.to_string(),
                })?,
            ));
        }
        for id in message_ids {
            keys.push((
                self.tables.messages.clone(),
                to_attrs(&MessageKey {
                    message_conversation_id: conversation_id.to_string(),
                    id: id.clone(),
                })?,
            ));
        }
        let mut found = self.batch_get_raw(keys, true).await?;
        let mut one = |table: &str| found.remove(table).and_then(|mut v| v.pop());
        let link = one(&self.tables.convo_links)
            .map(|a| from_attrs::<LinkItem>(a).map(ConvoLink::from))
            .transpose()?;
        let convo = one(&self.tables.conversations)
            .map(|a| from_attrs::<ConversationItem>(a).map(Conversation::from))
            .transpose()?;
        let messages = found
            .remove(&self.tables.messages)
            .unwrap_or_default()
            .into_iter()
            .map(|a| from_attrs::<MessageItem>(a).map(Message::from))
            .collect::<Result<Vec<_>>>()?;
        Ok((link, convo, messages))
    }

    async fn change_message(
        &self,
        change: &MessageChange,
        released: &[String],
    ) -> chat_domain::error::Result<ChangeOutcome> {
        let items = self.change_items(change, released)?;
        self.write_change(items).await
    }

    async fn changes(
        &self,
        conversation_id: &str,
        after: &str,
        limit: u32,
    ) -> chat_domain::error::Result<Vec<MessageChange>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.messages)
            .key_condition_expression("messageConversationId = :c AND id > :after")
            .expression_attribute_values(":c", to_av(&conversation_id)?)
            .expression_attribute_values(":after", to_av(&ChangeItem::id_of(after))?)
            .limit(limit as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from)?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|a| from_attrs::<ChangeItem>(a).map(MessageChange::from))
            .collect::<Result<Vec<_>>>()?)
    }

    async fn finish_push(&self, message: &Message) -> chat_domain::error::Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.messages)
            .set_key(Some(message_key(message)?))
            .update_expression("REMOVE pushUntil")
            .condition_expression("attribute_exists(id)")
            .send()
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn take_push(
        &self,
        message: &Message,
        held_until: i64,
        until: i64,
    ) -> chat_domain::error::Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.messages)
            .set_key(Some(message_key(message)?))
            .update_expression("SET pushUntil = :until")
            .condition_expression("pushUntil = :held")
            .expression_attribute_values(":until", to_av(&until)?)
            .expression_attribute_values(":held", to_av(&held_until)?)
            .send()
            .await;
        Ok(updated(result)?)
    }

    async fn messages(
        &self,
        conversation_id: &str,
        page: &PageQuery,
        direction: SortDirection,
    ) -> chat_domain::error::Result<(Vec<Message>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<MessageItem>(
                &self.tables.messages,
                Some(MESSAGES_BY_ORDER),
                "messageConversationId",
                conversation_id,
                page,
                direction == SortDirection::Asc,
                true,
            )
            .await?;
        Ok((items.into_iter().map(Message::from).collect(), cursor))
    }
}

impl DynamoStore {
    /// A change's writes: the message over the version read, its change-log
    /// entry, and the uploads it released.
    pub(super) fn change_items(
        &self,
        change: &MessageChange,
        released: &[String],
    ) -> Result<Vec<TransactWriteItem>> {
        let message = &change.message;
        let previous = message.version.saturating_sub(1);
        let mut set = vec![
            "content = :content",
            "updatedAt = :updated",
            "version = :version",
            "reactions = :reactions",
            "attachments = :attachments",
        ];
        let mut update = Update::builder()
            .table_name(&self.tables.messages)
            .set_key(Some(message_key(message)?))
            .condition_expression(if previous <= 1 {
                "attribute_exists(id) AND (attribute_not_exists(version) OR version = :previous)"
            } else {
                "version = :previous"
            })
            .expression_attribute_values(":content", to_av(&message.content)?)
            .expression_attribute_values(":updated", to_av(&message.updated_at)?)
            .expression_attribute_values(":version", to_av(&message.version)?)
            .expression_attribute_values(
                ":reactions",
                to_av(&MessageItem::from(message).reactions)?,
            )
            .expression_attribute_values(
                ":attachments",
                to_av(&MessageItem::from(message).attachments)?,
            )
            .expression_attribute_values(":previous", to_av(&previous)?);
        if let Some(at) = &message.edited_at {
            set.push("editedAt = :edited");
            update = update.expression_attribute_values(":edited", to_av(at)?);
        }
        if let Some(at) = &message.deleted_at {
            set.push("deletedAt = :deleted");
            update = update.expression_attribute_values(":deleted", to_av(at)?);
        }
        if message.removed_by_moderator {
            set.push("removedByModerator = :removed");
            update = update.expression_attribute_values(":removed", to_av(&true)?);
        }
        let update = update
            .update_expression(format!("SET {}", set.join(", ")))
            .build()
            .map_err(StoreError::from)?;
        let mut items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put(
                &self.tables.messages,
                to_attrs(&ChangeItem::new(change))?,
                "attribute_not_exists(id)",
            ),
        ];
        for id in released {
            items.push(self.release_upload(id)?);
        }
        Ok(items)
    }

    /// Writes a change's items in one transaction: `Moved` when the
    /// message was not at the version read.
    pub(super) async fn write_change(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> chat_domain::error::Result<ChangeOutcome> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(ChangeOutcome::Changed),
            Err(err) if failed_conditions(&err).is_some() => Ok(ChangeOutcome::Moved),
            Err(err) => Err(StoreError::from(err).into()),
        }
    }
}
