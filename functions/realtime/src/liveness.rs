//! When a silent connection is pinged, and when it is given up on: read by
//! the connection store (when a connection is next due a look) and the
//! sweeper. A leaf: it imports nothing of the crate.

use std::time::Duration;

/// When a silent connection is pinged, and when it is given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// Silence after which the sweeper pings a connection.
    pub probe: Duration,
    /// Silence after which it closes it: the ping went unanswered.
    pub limit: Duration,
}

impl Default for Liveness {
    /// 30 s and 60 s: an idle connection costs a ping and a `pong`
    /// invocation every 30 s, well inside API Gateway's 10-minute idle
    /// timeout, which the pings also keep a quiet client clear of.
    fn default() -> Self {
        Liveness {
            probe: Duration::from_secs(30),
            limit: Duration::from_secs(60),
        }
    }
}

impl Liveness {
    pub fn probe_ms(&self) -> i64 {
        self.probe.as_millis() as i64
    }
    pub fn limit_ms(&self) -> i64 {
        self.limit.as_millis() as i64
    }
}
