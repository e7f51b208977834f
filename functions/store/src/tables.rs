//! The tables, declared once: names (from the environment) and the key and
//! index design that schema/TABLES.md explains. The local gateway creates
//! tables from these specs.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus,
};
use aws_sdk_dynamodb::Client;

use crate::error::StoreError;

/// A hash key and an optional range key; every key attribute is a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub hash: &'static str,
    pub range: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Global,
    Local,
}

/// A secondary index; all project every attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub kind: IndexKind,
    pub key: KeySpec,
}

/// One table's design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The name used in docs and as the default table name.
    pub logical: &'static str,
    /// The environment variable that names the deployed table.
    pub env: &'static str,
    pub key: KeySpec,
    pub indexes: &'static [IndexSpec],
    /// Whether inserts are streamed (NEW_IMAGE) for real-time fan-out.
    pub stream: bool,
}

pub const USERS_BY_NAME: &str = "byUsername";
pub const LINKS_BY_CONVERSATION: &str = "byConversation";
pub const MESSAGES_BY_ORDER: &str = "byOrder";

pub const USERS: TableSpec = TableSpec {
    logical: "Users",
    env: "USERS_TABLE",
    key: KeySpec {
        hash: "id",
        range: None,
    },
    indexes: &[IndexSpec {
        name: USERS_BY_NAME,
        kind: IndexKind::Global,
        key: KeySpec {
            hash: "listPk",
            range: Some("username"),
        },
    }],
    stream: true,
};

pub const CONVERSATIONS: TableSpec = TableSpec {
    logical: "Conversations",
    env: "CONVERSATIONS_TABLE",
    key: KeySpec {
        hash: "id",
        range: None,
    },
    indexes: &[],
    stream: false,
};

pub const MESSAGES: TableSpec = TableSpec {
    logical: "Messages",
    env: "MESSAGES_TABLE",
    key: KeySpec {
        hash: "messageConversationId",
        range: Some("id"),
    },
    indexes: &[IndexSpec {
        name: MESSAGES_BY_ORDER,
        kind: IndexKind::Local,
        key: KeySpec {
            hash: "messageConversationId",
            range: Some("seq"),
        },
    }],
    stream: true,
};

pub const CONVO_LINKS: TableSpec = TableSpec {
    logical: "ConvoLinks",
    env: "CONVO_LINKS_TABLE",
    key: KeySpec {
        hash: "convoLinkUserId",
        range: Some("convoLinkConversationId"),
    },
    indexes: &[IndexSpec {
        name: LINKS_BY_CONVERSATION,
        kind: IndexKind::Global,
        key: KeySpec {
            hash: "convoLinkConversationId",
            range: Some("convoLinkUserId"),
        },
    }],
    stream: true,
};

/// Every chat table.
pub const ALL: [TableSpec; 4] = [USERS, CONVERSATIONS, MESSAGES, CONVO_LINKS];

/// The deployed names of the four tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub conversations: String,
    pub messages: String,
    pub convo_links: String,
}

impl TableNames {
    /// The logical names with a prefix (empty for the plain names).
    pub fn with_prefix(prefix: &str) -> Self {
        TableNames {
            users: format!("{prefix}{}", USERS.logical),
            conversations: format!("{prefix}{}", CONVERSATIONS.logical),
            messages: format!("{prefix}{}", MESSAGES.logical),
            convo_links: format!("{prefix}{}", CONVO_LINKS.logical),
        }
    }

    /// Names from `USERS_TABLE` and friends, falling back to the logical names.
    pub fn from_env() -> Self {
        let get =
            |spec: &TableSpec| std::env::var(spec.env).unwrap_or_else(|_| spec.logical.into());
        TableNames {
            users: get(&USERS),
            conversations: get(&CONVERSATIONS),
            messages: get(&MESSAGES),
            convo_links: get(&CONVO_LINKS),
        }
    }

    pub fn name_of(&self, spec: &TableSpec) -> &str {
        match spec.logical {
            "Users" => &self.users,
            "Conversations" => &self.conversations,
            "Messages" => &self.messages,
            _ => &self.convo_links,
        }
    }
}

fn key_schema(key: &KeySpec) -> Vec<KeySchemaElement> {
    let mut out = vec![element(key.hash, KeyType::Hash)];
    if let Some(range) = key.range {
        out.push(element(range, KeyType::Range));
    }
    out
}

fn element(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn projection_all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

/// Creates any of the tables that do not exist yet and waits until all are active.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), StoreError> {
    for spec in ALL {
        let name = names.name_of(&spec);
        let mut attrs: Vec<&str> = vec![spec.key.hash];
        attrs.extend(spec.key.range);
        for ix in spec.indexes {
            attrs.push(ix.key.hash);
            attrs.extend(ix.key.range);
        }
        attrs.sort_unstable();
        attrs.dedup();
        let mut req = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&spec.key)))
            .set_attribute_definitions(Some(
                attrs
                    .into_iter()
                    .map(|a| {
                        AttributeDefinition::builder()
                            .attribute_name(a)
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .expect("name and type are set")
                    })
                    .collect(),
            ));
        for ix in spec.indexes {
            req = match ix.kind {
                IndexKind::Global => req.global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(ix.name)
                        .set_key_schema(Some(key_schema(&ix.key)))
                        .projection(projection_all())
                        .build()
                        .expect("index fields are set"),
                ),
                IndexKind::Local => req.local_secondary_indexes(
                    LocalSecondaryIndex::builder()
                        .index_name(ix.name)
                        .set_key_schema(Some(key_schema(&ix.key)))
                        .projection(projection_all())
                        .build()
                        .expect("index fields are set"),
                ),
            };
        }
        if spec.stream {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .expect("stream fields are set"),
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => return Err(err.into()),
        }
    }
    for spec in ALL {
        let name = names.name_of(&spec);
        let mut active = false;
        for _ in 0..100 {
            let out = client.describe_table().table_name(name).send().await?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                active = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !active {
            return Err(StoreError::TableNotActive {
                table: name.to_string(),
            });
        }
    }
    Ok(())
}
