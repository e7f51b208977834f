//! Validating a `subscribe` message: the document must be valid against the
//! schema, be one subscription with one root field, stay within the caps
//! (see [`crate::caps`]), and name a topic the caller may listen to.
//!
//! The payload cap is checked twice: at subscribe time against the largest
//! row the topic can carry, so a document that could ever exceed it is
//! refused up front; and before every shaping against the actual row, so a
//! subscription stored before the caps cannot make the fan-out build a
//! payload API Gateway would refuse.

use std::sync::OnceLock;

use apollo_compiler::executable::{Operation, OperationType, Selection};
use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::ExecutableDocument;
use serde_json::{json, Map, Value};

use chat_domain::ChatStore;
use chat_graphql::project::{from_response_json, project, RootValues};
use chat_graphql::selection::arguments_json;
use chat_graphql::{schema, AppSyncError};

use crate::caps::{
    MAX_DOCUMENT_ALIASES, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_FIELDS, MAX_PAYLOAD_BYTES,
};
use crate::model::{ConnectedUser, Topic};
use crate::topics::{self, Payloads, Push};

mod largest;
use largest::largest_payloads;

/// Why a subscription was refused: GraphQL errors for the protocol's `error`
/// message. The connection stays open.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal(pub Vec<Value>);

impl Refusal {
    pub fn one(error_type: &str, message: impl Into<String>) -> Self {
        Refusal(vec![json!(AppSyncError::request(
            error_type,
            message,
            vec![]
        ))])
    }
}

fn parse(query: &str) -> Result<Valid<ExecutableDocument>, Refusal> {
    ExecutableDocument::parse_and_validate(schema(), query, "subscription.graphql").map_err(
        |invalid| {
            Refusal(
                invalid
                    .errors
                    .iter()
                    .map(|d| json!(AppSyncError::from_graphql(d.to_json())))
                    .collect(),
            )
        },
    )
}

/// A subscription document checked against the schema, with its variables
/// coerced: what both subscribing and shaping start from.
struct Prepared {
    document: Valid<ExecutableDocument>,
    operation_name: Option<String>,
    variables: Valid<JsonMap>,
}

impl Prepared {
    fn new(
        query: &str,
        operation_name: Option<&str>,
        variables: &Map<String, Value>,
    ) -> Result<Self, Refusal> {
        let document = parse(query)?;
        let operation = document
            .operations
            .get(operation_name)
            .map_err(|e| Refusal::one("ValidationError", e.message().to_string()))?;
        let raw = serde_json::from_value(Value::Object(variables.clone()))
            .map_err(|_| Refusal::one("ValidationError", "variables must be a JSON object"))?;
        let variables = coerce_variable_values(schema(), operation, &raw).map_err(|e| {
            Refusal(vec![json!(AppSyncError::from_graphql(
                e.to_graphql_error(&document.sources)
            ))])
        })?;
        Ok(Prepared {
            operation_name: operation_name.map(str::to_string),
            document,
            variables,
        })
    }

    fn operation(&self) -> &Operation {
        self.document
            .operations
            .get(self.operation_name.as_deref())
            .expect("the operation was found when the document was prepared")
    }

    /// The subscription field the document selects.
    fn root_field(&self) -> Option<&str> {
        let operation = self.operation();
        operation
            .root_fields(&self.document)
            .find(|f| f.name != "__typename")
            .map(|f| f.name.as_str())
    }

    /// The bytes of the `next` payload for `values` (by subscription field,
    /// see [`Payloads`]), or `None` past [`MAX_PAYLOAD_BYTES`]: measured
    /// without building it.
    fn payload_bytes(&self, values: &Payloads) -> Option<usize> {
        let operation = self.operation();
        // `{"data":` … `}` around the root object.
        const ENVELOPE: usize = 10;
        chat_graphql::budget::projected_bytes(
            &self.document,
            &operation.selection_set,
            &from_response_json(&*self.variables),
            &Value::Object(values.clone()),
            MAX_PAYLOAD_BYTES - ENVELOPE,
        )
        .map(|n| n + ENVELOPE)
    }

    /// The largest payload the document can make for `topic`, against the cap.
    fn within_payload_cap(&self, topic: &Topic) -> Result<(), Refusal> {
        if self.payload_bytes(largest_payloads(topic)).is_none() {
            return Err(Refusal::one(
                "ValidationError",
                format!("this subscription's payload could exceed {MAX_PAYLOAD_BYTES} bytes, more than API Gateway can send; select fewer fields"),
            ));
        }
        Ok(())
    }
}

/// Why a row could not be shaped for a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Unshaped {
    /// The stored document no longer validates (only a schema change does this).
    Invalid(Refusal),
    /// The payload would exceed [`MAX_PAYLOAD_BYTES`], or the document the
    /// caps on documents; nothing was built.
    TooLarge,
}

/// The topic a subscription document asks for, before authorization; the
/// document must be within the caps.
pub fn requested_topic(
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
) -> Result<Topic, Refusal> {
    within_document_caps(query, operation_name, variables)?;
    let prepared = Prepared::new(query, operation_name, variables)?;
    let topic = document_topic(&prepared)?;
    prepared.within_payload_cap(&topic)?;
    Ok(topic)
}

/// The caps a document must fit before it is validated: its length, and
/// the fields and aliases it expands to, counted on the parsed document, so
/// validation (whose field-merging rules grow with the square of the
/// fields) never runs over thousands of them.
fn within_document_caps(
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
) -> Result<(), Refusal> {
    if query.len() > MAX_DOCUMENT_BYTES {
        return Err(Refusal::one(
            "ValidationError",
            format!(
                "the subscription document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                query.len()
            ),
        ));
    }
    let document = ExecutableDocument::parse(schema(), query, "subscription.graphql")
        .unwrap_or_else(|invalid| invalid.partial);
    let Ok(operation) = document.operations.get(operation_name) else {
        // Validation names what is wrong.
        return Ok(());
    };
    let count = chat_graphql::budget::count_fields(
        &document,
        &operation.selection_set,
        &Value::Object(variables.clone()),
        MAX_DOCUMENT_FIELDS,
    );
    if count.fields > MAX_DOCUMENT_FIELDS {
        return Err(Refusal::one(
            "ValidationError",
            format!("a subscription may select at most {MAX_DOCUMENT_FIELDS} fields, fragments expanded"),
        ));
    }
    if count.aliases > MAX_DOCUMENT_ALIASES {
        return Err(Refusal::one(
            "ValidationError",
            format!(
                "a subscription may alias at most {MAX_DOCUMENT_ALIASES} fields (it aliases {})",
                count.aliases
            ),
        ));
    }
    Ok(())
}

fn document_topic(prepared: &Prepared) -> Result<Topic, Refusal> {
    let operation = prepared.operation();
    if operation.operation_type != OperationType::Subscription {
        return Err(Refusal::one(
            "ValidationError",
            "only subscriptions are served on this WebSocket; send queries and mutations over HTTP",
        ));
    }
    let coerced = from_response_json(&*prepared.variables);
    let fields: Vec<_> = operation
        .selection_set
        .selections
        .iter()
        .filter_map(|s| match s {
            Selection::Field(f) if f.name != "__typename" => Some(f),
            _ => None,
        })
        .collect();
    let [field] = fields.as_slice() else {
        return Err(Refusal::one(
            "ValidationError",
            "a subscription must select exactly one root field, directly",
        ));
    };
    let args = arguments_json(&field.arguments, &coerced);
    let arg = |name: &str| {
        args.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // Ids become keys (and a topic): shaped as ids, or refused here.
    let id = |name: &str| {
        chat_domain::limits::id(name, &arg(name))
            .map_err(|e| Refusal::one("ValidationError", e.client_message()))
    };
    topics::of_field(&field.name, id).unwrap_or_else(|| {
        Err(Refusal::one(
            "ValidationError",
            format!("{} is not a subscription field", field.name),
        ))
    })
}

/// Whether `user` may listen to `topic`: a conversation's messages only for
/// its members, a user's new links only for that user, new users for anyone.
pub async fn authorize<S: ChatStore>(
    store: &S,
    user: &ConnectedUser,
    topic: &Topic,
) -> Result<(), Refusal> {
    match topic {
        Topic::Users => Ok(()),
        Topic::LinksOf { user_id } if *user_id == user.id => Ok(()),
        Topic::LinksOf { .. } => Err(Refusal::one(
            "Unauthorized",
            "you can only subscribe to your own conversation links",
        )),
        Topic::Messages { conversation_id } => {
            match store.membership(&user.id, conversation_id, false).await {
                Ok((Some(_), _)) => Ok(()),
                Ok((None, _)) => Err(Refusal::one(
                    "Unauthorized",
                    "you are not a member of this conversation",
                )),
                Err(err) => {
                    tracing::error!(error = %chat_domain::Chain(&err), "membership check failed");
                    Err(Refusal::one(
                        "InternalFailure",
                        "could not check membership; try again",
                    ))
                }
            }
        }
    }
}

/// The `next` payload for one subscription document: its field's value in
/// `values` shaped to the document's selection set, or `None` when the
/// change is not for that field (an edit, for `onCreateMessage`).
pub fn shape(
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
    values: &Payloads,
) -> Result<Option<Value>, Unshaped> {
    Shapes::default().shape(query, operation_name, variables, values)
}

/// Documents a process has prepared, kept for its next deliveries: a
/// subscription's document is parsed and validated once per execution
/// environment, not once per message.
#[derive(Default)]
pub struct Shapes {
    prepared: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Prepared>>>,
}

impl std::fmt::Debug for Shapes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shapes").finish_non_exhaustive()
    }
}

/// Prepared documents kept at most; past it the cache starts afresh (a
/// handful of documents serve a whole app, so it rarely fills).
const SHAPES_KEPT: usize = 1024;

impl Shapes {
    /// As [`shape`], from the kept preparation of the document when there is one.
    pub fn shape(
        &self,
        query: &str,
        operation_name: Option<&str>,
        variables: &Map<String, Value>,
        values: &Payloads,
    ) -> Result<Option<Value>, Unshaped> {
        let key = format!(
            "{}\u{0}{}\u{0}{query}",
            operation_name.unwrap_or_default(),
            Value::Object(variables.clone())
        );
        let kept = self.lock().get(&key).cloned();
        let prepared = match kept {
            Some(p) => p,
            None => {
                // A document stored before the caps is not validated, which
                // could take seconds; it is dropped like a payload too large.
                if within_document_caps(query, operation_name, variables).is_err() {
                    return Err(Unshaped::TooLarge);
                }
                let p = std::sync::Arc::new(
                    Prepared::new(query, operation_name, variables).map_err(Unshaped::Invalid)?,
                );
                let mut kept = self.lock();
                if kept.len() >= SHAPES_KEPT {
                    kept.clear();
                }
                kept.insert(key, p.clone());
                p
            }
        };
        let Some(value) = prepared.root_field().and_then(|f| values.get(f)) else {
            return Ok(None);
        };
        if prepared.payload_bytes(values).is_none() {
            return Err(Unshaped::TooLarge);
        }
        Ok(Some(project(
            &prepared.document,
            prepared.operation(),
            &prepared.variables,
            &RootValues::single("Subscription", value.clone()),
            false,
        )))
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, std::sync::Arc<Prepared>>>
    {
        self.prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATT_ON_CREATE_MESSAGE: &str = "subscription onCreateMessage($messageConversationId: ID!) { onCreateMessage(messageConversationId: $messageConversationId) { id content authorId messageConversationId createdAt } }";

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn chatt_documents_name_their_topics() {
        let topic = requested_topic(
            CHATT_ON_CREATE_MESSAGE,
            None,
            &vars(json!({"messageConversationId": "c1"})),
        );
        assert_eq!(
            topic,
            Ok(Topic::Messages {
                conversation_id: "c1".into()
            })
        );
        let topic = requested_topic(
            "subscription OnCreateUser { onCreateUser { id username createdAt } }",
            None,
            &Map::new(),
        );
        assert_eq!(topic, Ok(Topic::Users));
        let topic = requested_topic(
            "subscription { onCreateConvoLink(convoLinkUserId: \"u1\") { id } }",
            None,
            &Map::new(),
        );
        assert_eq!(
            topic,
            Ok(Topic::LinksOf {
                user_id: "u1".into()
            })
        );
    }

    #[test]
    fn refuses_what_is_not_one_valid_subscription() {
        for (query, variables) in [
            ("query { me { id } }", json!({})),
            ("subscription { nope }", json!({})),
            ("subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id } }", json!({})),
            ("subscription { onCreateUser { id } onCreateMessage(messageConversationId: \"c\") { id } }", json!({})),
            ("subscription {", json!({})),
            ("subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id } }", json!({"c": ""})),
            ("subscription($c: ID!) { onCreateMessage(messageConversationId: $c) { id } }", json!({"c": "c".repeat(3000)})),
            ("subscription { onCreateConvoLink(convoLinkUserId: \"USERNAME#alice\") { id } }", json!({})),
        ] {
            assert!(requested_topic(query, None, &vars(variables)).is_err(), "{query}");
        }
    }

    /// A client that selects every field of a message, its attachments and
    /// their links included (the web client does), stays within the cap.
    #[test]
    fn a_change_with_every_message_field_fits_the_cap() {
        let every = "id authorId content seq createdAt updatedAt editedAt deletedAt version \
            conversationId messageConversationId sender isSent mentions \
            reactions { emoji count reacted } \
            attachments { id name contentType size state error width height url thumbnailUrl }";
        let query = format!(
            "subscription($c: ID!) {{ onMessageChange(conversationId: $c) {{ kind conversationId message {{ {every} }} }} }}"
        );
        let prepared = Prepared::new(&query, None, &vars(json!({"c": "c1"}))).unwrap();
        let topic = Topic::Messages {
            conversation_id: "c1".into(),
        };
        assert_eq!(prepared.within_payload_cap(&topic), Ok(()));
        let bytes = prepared.payload_bytes(largest_payloads(&topic)).unwrap();
        assert!(bytes < MAX_PAYLOAD_BYTES, "{bytes}");
    }

    #[test]
    fn shapes_to_the_selection_with_aliases() {
        let payload = shape(
            "subscription($c: ID!) { m: onCreateMessage(messageConversationId: $c) { __typename text: content id } }",
            None,
            &vars(json!({"c": "c1"})),
            json!({"onCreateMessage": {"id": "m1", "content": "hi", "authorId": "u1", "messageConversationId": "c1"}})
                .as_object()
                .unwrap(),
        )
        .unwrap()
        .expect("a new message is for onCreateMessage");
        assert_eq!(
            payload,
            json!({"data": {"m": {"__typename": "Message", "text": "hi", "id": "m1"}}})
        );
    }
}
