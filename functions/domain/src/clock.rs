//! The clock and the order key: server time and ULIDs. A leaf: it imports
//! nothing of the crate, so every module may use it.

use ulid::Ulid;

/// Time now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The server's order key: a ULID, strictly increasing within this process
/// (two messages in one millisecond keep their order), so one sender's
/// messages, sent one after another, are stored and shown in that order.
pub fn next_seq() -> String {
    static SEQ: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let generated = SEQ
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .generate();
    // Overflow takes 2^80 ids in one millisecond.
    generated.unwrap_or_else(|_| Ulid::new()).to_string()
}

/// Server time, as AppSync's `AWSDateTime` (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An epoch-milliseconds time as an `AWSDateTime`.
pub fn time_at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
