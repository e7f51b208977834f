//! [`DynamoStore`]: the store ports over DynamoDB, one file per aggregate
//! (`users`, `conversations`, `messages`, `push`), each named for the tables
//! it writes; this module holds the client and the requests they share.
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
    Conversation, ConversationStore, ConvoLink, Message, MessageChange, MessageStore, ReadMarker,
    SortDirection, User, UserStore,
};

use crate::error::StoreError;
use crate::items::{
    ChangeItem, ConversationItem, IdKey, LinkItem, LinkKey, MessageItem, MessageKey, PresenceItem,
    UserItem, UsernameClaimItem, USER_LIST_PARTITION,
};
use crate::tables::{
    TableNames, LINKS_BY_ACTIVITY, LINKS_BY_CONVERSATION, MESSAGES_BY_ORDER, USERS_BY_NAME,
};

mod conversations;
mod messages;
mod push;
mod rates;
mod reports;
mod safety;
mod uploads;
mod users;

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

/// Which actions of a cancelled transaction failed their condition, in
/// order; `None` when it was not cancelled for a condition.
pub fn failed_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<bool>> {
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
        // Items 2 to 1 + n: each attachment's upload, attached on the
        // condition that it is as read (see `put_message`).
        for a in &message.attachments {
            items.push(self.attach_upload(change, a)?);
        }
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

    /// The items of one table at `keys`, in consistent batch reads; missing
    /// ones are left out.
    pub(super) async fn batch_items<K: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        keys: &[K],
    ) -> Result<Vec<T>> {
        let keys = keys
            .iter()
            .map(|key| Ok((table.to_string(), to_attrs(key)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut found = self.batch_get_raw(keys, true).await?;
        found
            .remove(table)
            .unwrap_or_default()
            .into_iter()
            .map(from_attrs)
            .collect()
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
