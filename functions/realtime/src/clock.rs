//! Wall-clock time, in the units the Connections table and the protocol
//! use: the domain's clock, and seconds from it. A leaf: it imports
//! nothing of the crate.

pub use chat_domain::clock::now_ms;

/// Epoch seconds now.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}
