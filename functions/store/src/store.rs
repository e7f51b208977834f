//! [`DynamoStore`]: the [`ChatStore`] port over DynamoDB.
//!
//! Every method is one request (BatchGetItem: one per 100 keys, plus retries of
//! unprocessed keys). Conditions do the checking inside DynamoDB, so concurrent
//! requests cannot break an invariant between a read and a write.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use chat_domain::clock::now_ms;
use chat_domain::lease::push_lease;
use chat_domain::page::{Cursor, PageQuery};
use chat_domain::ports::{
    AddMemberOutcome, Batch, ChangeOutcome, CreateUserOutcome, PushState, PutMessageOutcome,
};
use chat_domain::{
    ChatStore, Conversation, ConvoLink, Message, MessageChange, ReadMarker, SortDirection, User,
};

use crate::error::StoreError;
use crate::items::{
    ChangeItem, ConversationItem, IdKey, LinkItem, LinkKey, MessageItem, MessageKey, PresenceItem,
    UserItem, UsernameClaimItem, USER_LIST_PARTITION,
};
use crate::tables::{
    TableNames, LINKS_BY_ACTIVITY, LINKS_BY_CONVERSATION, MESSAGES_BY_ORDER, USERS_BY_NAME,
};

type Attrs = HashMap<String, AttributeValue>;
type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A read marker moves forward only, on a link that exists.
const MARKER_FORWARD: &str =
    "attribute_exists(convoLinkUserId) AND (attribute_not_exists(lastReadSeq) OR lastReadSeq < :seq)";

/// BatchGetItem takes at most 100 keys per request.
const BATCH_GET_MAX_KEYS: usize = 100;
/// Retries of unprocessed keys before giving up.
const BATCH_GET_RETRIES: u32 = 8;

/// The chat tables behind one DynamoDB client.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

/// The hold a writer takes on pushing a user, username claim or link it
/// writes now. Only its presence matters (the stream leaves such rows to
/// their writer): a retry of those never pushes again.
fn writer_pushes() -> Option<i64> {
    Some(push_lease())
}

fn user_item(user: &User) -> UserItem {
    UserItem {
        push_until: writer_pushes(),
        ..UserItem::from(user)
    }
}

fn link_item(link: &ConvoLink) -> LinkItem {
    LinkItem {
        push_until: writer_pushes(),
        ..LinkItem::from(link)
    }
}

fn message_key(message: &Message) -> Result<Attrs> {
    to_attrs(&MessageKey {
        message_conversation_id: message.message_conversation_id.clone(),
        id: message.id.clone(),
    })
}

fn to_attrs<T: Serialize>(value: &T) -> Result<Attrs> {
    Ok(serde_dynamo::to_item(value)?)
}

fn to_av<T: Serialize>(value: &T) -> Result<AttributeValue> {
    Ok(serde_dynamo::to_attribute_value(value)?)
}

fn from_attrs<T: DeserializeOwned>(attrs: Attrs) -> Result<T> {
    Ok(serde_dynamo::from_item(attrs)?)
}

fn cursor_out(last_key: Option<Attrs>) -> Result<Option<Cursor>> {
    last_key
        .filter(|k| !k.is_empty())
        .map(from_attrs)
        .transpose()
}

fn cursor_in(cursor: &Option<Cursor>) -> Result<Option<Attrs>> {
    cursor.as_ref().map(to_attrs).transpose()
}

/// A conditional UpdateItem's outcome: `true` if it happened, `false` if
/// its condition failed; any other failure is an error.
fn updated<O, R>(result: std::result::Result<O, SdkError<UpdateItemError, R>>) -> Result<bool>
where
    aws_sdk_dynamodb::Error: From<SdkError<UpdateItemError, R>>,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
            _ => Err(StoreError::from(err)),
        },
    }
}

/// Which actions of a cancelled transaction failed their condition.
fn failed_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<bool>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

fn failed(reasons: &[bool], index: usize) -> bool {
    reasons.get(index).copied().unwrap_or(false)
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        DynamoStore { client, tables }
    }

    /// One TransactWriteItems: the message (unless its id is taken, when
    /// the cancellation carries what is there), its change-log entry, and,
    /// with `marker`, its author's read marker moved to it, forward only.
    async fn write_message(
        &self,
        change: &MessageChange,
        item: &MessageItem,
        marker: bool,
    ) -> Result<std::result::Result<(), SdkError<TransactWriteItemsError>>> {
        let message = &change.message;
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.tables.messages)
                        .set_item(Some(to_attrs(item)?))
                        .condition_expression("attribute_not_exists(id)")
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()?,
                )
                .build(),
            self.put(
                &self.tables.messages,
                to_attrs(&ChangeItem::new(change))?,
                "attribute_not_exists(id)",
            ),
        ];
        if marker {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.tables.convo_links)
                            .set_key(Some(to_attrs(&LinkKey::new(
                                &message.author_id,
                                &change.conversation_id,
                            ))?))
                            .update_expression("SET lastReadSeq = :seq, lastReadId = :id")
                            .condition_expression(MARKER_FORWARD)
                            .expression_attribute_values(":seq", to_av(&message.seq)?)
                            .expression_attribute_values(":id", to_av(&message.id)?)
                            .build()?,
                    )
                    .build(),
            );
        }
        Ok(self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ()))
    }

    /// Moves one member's inbox entry for a conversation to `seq`, forward
    /// only; 1 if it moved.
    async fn touch_link(
        &self,
        member: String,
        conversation_id: String,
        seq: String,
    ) -> Result<usize> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.convo_links)
            .set_key(Some(to_attrs(&LinkKey::new(&member, &conversation_id))?))
            .update_expression("SET activity = :seq")
            .condition_expression(
                "attribute_exists(convoLinkUserId) AND (attribute_not_exists(activity) OR activity < :seq)",
            )
            .expression_attribute_values(":seq", to_av(&seq)?)
            .send()
            .await;
        Ok(usize::from(updated(result)?))
    }

    fn put(&self, table: &str, item: Attrs, condition: &str) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .build()
                    .expect("table, item and condition are set"),
            )
            .build()
    }

    async fn get<T: DeserializeOwned>(&self, table: &str, key: Attrs) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await?;
        out.item.map(from_attrs).transpose()
    }

    /// Reads `keys` (table, key) in batches of 100, retrying unprocessed keys.
    async fn batch_get_raw(
        &self,
        keys: Vec<(String, Attrs)>,
        consistent: bool,
    ) -> Result<HashMap<String, Vec<Attrs>>> {
        let mut found: HashMap<String, Vec<Attrs>> = HashMap::new();
        for chunk in keys.chunks(BATCH_GET_MAX_KEYS) {
            let mut by_table: HashMap<String, Vec<Attrs>> = HashMap::new();
            for (table, key) in chunk {
                by_table.entry(table.clone()).or_default().push(key.clone());
            }
            let mut request: HashMap<String, KeysAndAttributes> = HashMap::new();
            for (table, keys) in by_table {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(consistent)
                    .build()
                    .expect("keys are set");
                request.insert(table, ka);
            }
            let mut attempt = 0;
            loop {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await?;
                for (table, items) in out.responses.unwrap_or_default() {
                    found.entry(table).or_default().extend(items);
                }
                match out.unprocessed_keys {
                    Some(rest) if !rest.is_empty() => {
                        attempt += 1;
                        if attempt > BATCH_GET_RETRIES {
                            return Err(StoreError::Unprocessed(BATCH_GET_RETRIES));
                        }
                        tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
                        request = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    #[allow(clippy::too_many_arguments)]
    async fn query<T: DeserializeOwned>(
        &self,
        table: &str,
        index: Option<&str>,
        hash_attr: &str,
        hash_value: &str,
        page: &PageQuery,
        forward: bool,
        consistent: bool,
    ) -> Result<(Vec<T>, Option<Cursor>)> {
        let out = self
            .client
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash_attr)
            .expression_attribute_values(":h", to_av(&hash_value)?)
            .limit(page.limit as i32)
            .scan_index_forward(forward)
            .consistent_read(consistent)
            .set_exclusive_start_key(cursor_in(&page.after)?)
            .send()
            .await?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attrs)
            .collect::<Result<Vec<T>>>()?;
        Ok((items, cursor_out(out.last_evaluated_key)?))
    }
}

impl ChatStore for DynamoStore {
    async fn get_user(&self, id: &str) -> chat_domain::error::Result<Option<User>> {
        let key = to_attrs(&IdKey { id: id.to_string() })?;
        let item: Option<UserItem> = self.get(&self.tables.users, key).await?;
        Ok(item.map(User::from))
    }

    async fn create_user(&self, user: &User) -> chat_domain::error::Result<CreateUserOutcome> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(
                &self.tables.users,
                to_attrs(&user_item(user))?,
                "attribute_not_exists(id)",
            ))
            .transact_items(self.put(
                &self.tables.users,
                to_attrs(&UsernameClaimItem {
                    push_until: writer_pushes(),
                    ..UsernameClaimItem::new(user)
                })?,
                "attribute_not_exists(id)",
            ))
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateUserOutcome::Created),
            Err(err) => match failed_conditions(&err) {
                Some(r) if failed(&r, 0) => Ok(CreateUserOutcome::IdTaken),
                Some(r) if failed(&r, 1) => Ok(CreateUserOutcome::UsernameTaken),
                _ => Err(StoreError::from(err).into()),
            },
        }
    }

    async fn list_users(
        &self,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<User>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<UserItem>(
                &self.tables.users,
                Some(USERS_BY_NAME),
                "listPk",
                USER_LIST_PARTITION,
                page,
                true,
                false,
            )
            .await?;
        Ok((items.into_iter().map(User::from).collect(), cursor))
    }

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

    async fn set_presence(
        &self,
        user_id: &str,
        online: bool,
        at_ms: i64,
    ) -> chat_domain::error::Result<bool> {
        let at = chat_domain::clock::time_at(at_ms);
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(to_attrs(&IdKey {
                id: user_id.to_string(),
            })?))
            // `online` is a reserved word.
            .update_expression("SET #online = :online, lastSeenAt = :seen, presenceAt = :at")
            .expression_attribute_names("#online", "online")
            // A username claim shares the table and has `ownerId`.
            .condition_expression(
                "attribute_exists(username) AND (attribute_not_exists(presenceAt) OR presenceAt < :at)",
            )
            .expression_attribute_values(":online", to_av(&online)?)
            .expression_attribute_values(":seen", to_av(&at)?)
            .expression_attribute_values(":at", to_av(&at_ms)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old: PresenceItem = match out.attributes {
                    Some(old) => serde_dynamo::from_item(old).map_err(StoreError::from)?,
                    None => PresenceItem::default(),
                };
                Ok(old.online.unwrap_or(false) != online)
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
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

    async fn latest_message(
        &self,
        conversation_id: &str,
    ) -> chat_domain::error::Result<Option<Message>> {
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
        Ok(items.into_iter().next().map(Message::from))
    }

    async fn count_unread(
        &self,
        conversation_id: &str,
        user_id: &str,
        after: Option<&str>,
        cap: usize,
    ) -> chat_domain::error::Result<usize> {
        // The filter applies after the read: a page holds up to cap + 1
        // messages, and a few more pages may be needed when many of them
        // are the reader's own or deleted; three pages bound it.
        let mut count = 0;
        let mut start: Option<Attrs> = None;
        for _ in 0..3 {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.messages)
                .index_name(MESSAGES_BY_ORDER)
                .filter_expression("authorId <> :me AND attribute_not_exists(deletedAt)")
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
        let mut result = self.write_message(change, &item, true).await?;
        if let Err(err) = &result {
            if failed_conditions(err).is_some_and(|r| !failed(&r, 0) && failed(&r, 2)) {
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

    async fn message_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_id: &str,
    ) -> chat_domain::error::Result<(Option<ConvoLink>, Option<Conversation>, Option<Message>)>
    {
        let (link, convo, mut messages) = self
            .messages_context(user_id, conversation_id, &[message_id.to_string()], true)
            .await?;
        Ok((link, convo, messages.pop()))
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
    ) -> chat_domain::error::Result<ChangeOutcome> {
        let message = &change.message;
        let previous = message.version.saturating_sub(1);
        let mut set = vec![
            "content = :content",
            "updatedAt = :updated",
            "version = :version",
            "reactions = :reactions",
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
            .expression_attribute_values(":previous", to_av(&previous)?);
        if let Some(at) = &message.edited_at {
            set.push("editedAt = :edited");
            update = update.expression_attribute_values(":edited", to_av(at)?);
        }
        if let Some(at) = &message.deleted_at {
            set.push("deletedAt = :deleted");
            update = update.expression_attribute_values(":deleted", to_av(at)?);
        }
        let update = update
            .update_expression(format!("SET {}", set.join(", ")))
            .build()
            .map_err(StoreError::from)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.put(
                &self.tables.messages,
                to_attrs(&ChangeItem::new(change))?,
                "attribute_not_exists(id)",
            ))
            .send()
            .await;
        match result {
            Ok(_) => Ok(ChangeOutcome::Changed),
            Err(err) if failed_conditions(&err).is_some() => Ok(ChangeOutcome::Moved),
            Err(err) => Err(StoreError::from(err).into()),
        }
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
