//! The push lease: how long a writer holds the push of a row it writes.
//! One rule, with one owner: the use-cases take a message's lease from
//! here, and the store marks the users and links it writes with the same.
//! A leaf: it imports only the clock.

use crate::clock::now_ms;

/// How long a writer holds a message's push: the functions' timeout
/// (`Timeout` in infra/template.yaml). A retry of the same id takes an
/// unfinished push over only once its holder's time has run out, so the
/// holder and the retry never post it at once.
pub const PUSH_LEASE_MS: i64 = 10_000;

/// A hold taken now: it ends [`PUSH_LEASE_MS`] from now (epoch ms).
pub fn push_lease() -> i64 {
    now_ms() + PUSH_LEASE_MS
}
