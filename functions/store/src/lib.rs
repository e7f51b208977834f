//! The DynamoDB adapter: implements the domain's store ports (`UserStore`,
//! `ConversationStore`, `MessageStore`, together [`ChatStore`]) over the
//! four chat tables with `aws-sdk-dynamodb` and `serde_dynamo`.
//!
//! # Layout
//!
//! - [`tables`]: the table names and the key/index design ([`TableSpec`]),
//!   declared once and used to create tables locally.
//! - [`items`]: the storage item and key types, converted to and from domain
//!   types. Attribute maps are only ever produced by `serde_dynamo`.
//! - [`store`]: [`DynamoStore`], the ports' implementation: the client and
//!   the requests its methods share, then one file per aggregate
//!   (`store/users.rs`, `store/conversations.rs`, `store/messages.rs`),
//!   named for the tables it writes.
//! - [`counter`]: an SDK interceptor that counts the requests actually sent.
//! - [`error`]: [`StoreError`], which keeps the SDK error as its source.
//!
//! [`ChatStore`]: chat_domain::ChatStore

pub mod counter;
pub mod error;
pub mod items;
pub mod store;
pub mod tables;

pub use counter::RequestCounter;
pub use error::StoreError;
pub use store::{failed_conditions, DynamoStore};
pub use tables::{TableNames, TableSpec};
