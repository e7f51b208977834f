//! The chat API over GraphQL/HTTP against the local stack. One binary, one
//! module per concern; every test starts its own stack.

mod attachments;
mod bans;
mod blocks;
mod caps;
mod changes;
mod chatt;
mod costs;
mod delivery;
mod graphql;
mod iam;
mod inbox;
mod lifecycle;
mod limits;
mod live;
mod members;
mod nested;
mod network;
mod push;
mod rates;
mod reactions;
mod realtime;
mod reports;
mod rules;
mod safety;
mod security;
mod signatures;
