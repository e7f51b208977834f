//! The DynamoDB adapter: implements the domain's [`ChatStore`] port over the
//! four chat tables with `aws-sdk-dynamodb` and `serde_dynamo`.
//!
//! # Layout
//!
//! - [`tables`]: the table names and the key/index design ([`TableSpec`]),
//!   declared once and used to create tables locally.
//! - [`items`]: the storage item and key types, converted to and from domain
//!   types. Attribute maps are only ever produced by `serde_dynamo`.
//! - [`store`]: [`DynamoStore`], the port implementation.
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
