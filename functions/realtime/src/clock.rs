//! Wall-clock time, in the units the Connections table and the protocol
//! use. A leaf: it imports nothing of the crate.

/// Epoch seconds now.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
