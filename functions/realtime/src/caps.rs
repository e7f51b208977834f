//! What one socket or one subscription may cost, declared once. The same
//! function code enforces them locally and on AWS; README.md lists them
//! with their reasons.

/// Subscriptions one connection may hold: AppSync's own real-time limit.
/// Past it, `subscribe` is answered with an `error` message.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 100;

/// Initialised connections one user may hold at once: a phone, a laptop
/// and a few browser tabs each. Past it, `connection_init` is answered with
/// close 4429, which a stock `graphql-ws` client does not retry.
pub const MAX_CONNECTIONS_PER_USER: usize = 20;

/// The longest subscription document, in bytes. Chatt's and ChatQL's are
/// under 300; the document is stored once per subscription and read on
/// every push.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024;

/// Fields one subscription document may select, fragments expanded and
/// `__typename` included. A message has 13 fields.
pub const MAX_DOCUMENT_FIELDS: usize = 50;

/// Of those, how many may be aliased.
pub const MAX_DOCUMENT_ALIASES: usize = 10;

/// The largest `next` payload, in bytes: API Gateway's 128 KB message
/// limit, less room for the message envelope (`{"id":…,"type":"next",…}`,
/// with an id of at most 128 characters).
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024 - 512;
