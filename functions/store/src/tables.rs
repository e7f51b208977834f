//! The tables, declared once: names (from the environment) and the key and
//! index design that schema/TABLES.md explains. The local gateway creates
//! tables from these specs.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
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

/// A secondary index: it projects every attribute, or only the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub kind: IndexKind,
    pub key: KeySpec,
    pub keys_only: bool,
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
    /// The attribute DynamoDB's TTL expires rows by (epoch seconds), if any.
    pub ttl: Option<&'static str>,
}

pub const USERS_BY_NAME: &str = "byUsername";
pub const LINKS_BY_CONVERSATION: &str = "byConversation";
pub const LINKS_BY_ACTIVITY: &str = "byActivity";
pub const MESSAGES_BY_ORDER: &str = "byOrder";
pub const PENDING_UPLOADS: &str = "pendingUploads";
pub const OPEN_REPORTS: &str = "openReports";
pub const AUDIT_LOG: &str = "auditLog";
pub const BLOCKERS: &str = "blockers";

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
        keys_only: false,
    }],
    stream: true,
    ttl: None,
};

pub const CONVERSATIONS: TableSpec = TableSpec {
    logical: "Conversations",
    env: "CONVERSATIONS_TABLE",
    key: KeySpec {
        hash: "id",
        range: None,
    },
    indexes: &[
        // Uploads in the sweeper's hands (see `items::UploadItem`): sparse,
        // so conversations and attached uploads are not in it.
        IndexSpec {
            name: PENDING_UPLOADS,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "pendingShard",
                range: Some("pendingSince"),
            },
            keys_only: false,
        },
        // Open reports, which moderators read (see `items::ReportItem`):
        // sparse, so nothing else is in it.
        IndexSpec {
            name: OPEN_REPORTS,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "reportShard",
                range: Some("openedAt"),
            },
            keys_only: false,
        },
        // The moderators' audit log (see `items::AuditItem`): sparse.
        IndexSpec {
            name: AUDIT_LOG,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "auditShard",
                range: Some("id"),
            },
            keys_only: false,
        },
        // Who blocks a user (see `items::BlockItem`): sparse, keys only.
        IndexSpec {
            name: BLOCKERS,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "blockedId",
                range: Some("blockerId"),
            },
            keys_only: true,
        },
    ],
    stream: false,
    // Per-user rate counts expire (see `items::RateItem`).
    ttl: Some("expiresAt"),
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
        keys_only: false,
    }],
    stream: true,
    ttl: None,
};

pub const CONVO_LINKS: TableSpec = TableSpec {
    logical: "ConvoLinks",
    env: "CONVO_LINKS_TABLE",
    key: KeySpec {
        hash: "convoLinkUserId",
        range: Some("convoLinkConversationId"),
    },
    indexes: &[
        IndexSpec {
            name: LINKS_BY_CONVERSATION,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "convoLinkConversationId",
                range: Some("convoLinkUserId"),
            },
            keys_only: false,
        },
        IndexSpec {
            name: LINKS_BY_ACTIVITY,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "convoLinkUserId",
                range: Some("activity"),
            },
            keys_only: false,
        },
    ],
    stream: true,
    ttl: None,
};

pub const CONNECTIONS_BY_TOPIC: &str = "byTopic";
pub const CONNECTIONS_PENDING: &str = "pending";
pub const CONNECTIONS_BY_USER: &str = "byUser";

/// WebSocket connections and their subscriptions (see schema/TABLES.md).
pub const CONNECTIONS: TableSpec = TableSpec {
    logical: "Connections",
    env: "CONNECTIONS_TABLE",
    key: KeySpec {
        hash: "connectionId",
        range: Some("sk"),
    },
    indexes: &[
        IndexSpec {
            name: CONNECTIONS_BY_TOPIC,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "topic",
                range: Some("connectionId"),
            },
            keys_only: false,
        },
        IndexSpec {
            name: CONNECTIONS_PENDING,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "pendingPk",
                range: Some("pendingSince"),
            },
            keys_only: false,
        },
        IndexSpec {
            name: CONNECTIONS_BY_USER,
            kind: IndexKind::Global,
            key: KeySpec {
                hash: "userConn",
                range: Some("connectionId"),
            },
            keys_only: true,
        },
    ],
    stream: false,
    ttl: Some("expiresAt"),
};

/// Every table: the four chat tables and the connection table.
pub const ALL: [TableSpec; 5] = [USERS, CONVERSATIONS, MESSAGES, CONVO_LINKS, CONNECTIONS];

/// The deployed names of the four tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub conversations: String,
    pub messages: String,
    pub convo_links: String,
    pub connections: String,
}

impl TableNames {
    /// The logical names with a prefix (empty for the plain names).
    pub fn with_prefix(prefix: &str) -> Self {
        TableNames {
            users: format!("{prefix}{}", USERS.logical),
            conversations: format!("{prefix}{}", CONVERSATIONS.logical),
            messages: format!("{prefix}{}", MESSAGES.logical),
            convo_links: format!("{prefix}{}", CONVO_LINKS.logical),
            connections: format!("{prefix}{}", CONNECTIONS.logical),
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
            connections: get(&CONNECTIONS),
        }
    }

    pub fn name_of(&self, spec: &TableSpec) -> &str {
        match spec.logical {
            "Users" => &self.users,
            "Conversations" => &self.conversations,
            "Messages" => &self.messages,
            "ConvoLinks" => &self.convo_links,
            _ => &self.connections,
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

fn projection(ix: &IndexSpec) -> Projection {
    Projection::builder()
        .projection_type(if ix.keys_only {
            ProjectionType::KeysOnly
        } else {
            ProjectionType::All
        })
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
                        .projection(projection(ix))
                        .build()
                        .expect("index fields are set"),
                ),
                IndexKind::Local => req.local_secondary_indexes(
                    LocalSecondaryIndex::builder()
                        .index_name(ix.name)
                        .set_key_schema(Some(key_schema(&ix.key)))
                        .projection(projection(ix))
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
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                add_missing_indexes(client, name, &spec).await?
            }
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
        if let Some(attribute) = spec.ttl {
            enable_ttl(client, name, attribute).await?;
        }
    }
    Ok(())
}

/// Adds the global indexes a table made by an earlier version lacks (data
/// kept under `.local/` outlives upgrades), one at a time as DynamoDB
/// requires, waiting for each to be backfilled.
async fn add_missing_indexes(
    client: &Client,
    name: &str,
    spec: &TableSpec,
) -> Result<(), StoreError> {
    let described = client.describe_table().table_name(name).send().await?;
    let existing: Vec<String> = described
        .table()
        .map(|t| {
            t.global_secondary_indexes()
                .iter()
                .filter_map(|ix| ix.index_name().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for ix in spec.indexes {
        if ix.kind != IndexKind::Global || existing.iter().any(|e| e == ix.name) {
            continue;
        }
        let mut attrs = vec![ix.key.hash];
        attrs.extend(ix.key.range);
        client
            .update_table()
            .table_name(name)
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
            ))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder()
                    .create(
                        CreateGlobalSecondaryIndexAction::builder()
                            .index_name(ix.name)
                            .set_key_schema(Some(key_schema(&ix.key)))
                            .projection(projection(ix))
                            .build()
                            .expect("index fields are set"),
                    )
                    .build(),
            )
            .send()
            .await?;
        // Backfilling takes a while on a big table: up to ten minutes here.
        let mut active = false;
        for _ in 0..6000 {
            let out = client.describe_table().table_name(name).send().await?;
            active = out.table().is_some_and(|t| {
                t.global_secondary_indexes().iter().any(|g| {
                    g.index_name() == Some(ix.name)
                        && g.index_status() == Some(&IndexStatus::Active)
                })
            });
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !active {
            return Err(StoreError::TableNotActive {
                table: format!("{name} (index {})", ix.name),
            });
        }
        tracing::info!(table = name, index = ix.name, "added a missing index");
    }
    Ok(())
}

async fn enable_ttl(client: &Client, table: &str, attribute: &str) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await?;
    let enabled = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status())
        .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
    if enabled {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()
                .expect("TTL fields are set"),
        )
        .send()
        .await?;
    Ok(())
}
