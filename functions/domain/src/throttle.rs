//! The typing signals' throttle: at most one signal per key per interval,
//! in the memory of the instance that receives them, so an excess signal
//! costs no read and no push. A leaf: it imports nothing of the crate.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most one signal per key per interval, remembered in this process.
/// Bounded: past [`Throttle::MAX_KEYS`] keys, the expired ones are dropped.
#[derive(Debug)]
pub struct Throttle {
    interval_ms: i64,
    last: Mutex<HashMap<(String, String), i64>>,
}

impl Throttle {
    /// Keys remembered before the expired ones are swept.
    pub const MAX_KEYS: usize = 10_000;

    pub fn new(interval_ms: i64) -> Self {
        Throttle {
            interval_ms,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a signal from `user` in `conversation` at `at_ms` may go
    /// out; if so, it is remembered.
    pub fn admit(&self, user: &str, conversation: &str, at_ms: i64) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (user.to_string(), conversation.to_string());
        if last
            .get(&key)
            .is_some_and(|&then| at_ms - then < self.interval_ms)
        {
            return false;
        }
        if last.len() >= Self::MAX_KEYS {
            let interval = self.interval_ms;
            last.retain(|_, then| at_ms - *then < interval);
        }
        last.insert(key, at_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signal_per_user_and_conversation_per_interval() {
        let throttle = Throttle::new(2_000);
        assert!(throttle.admit("u", "c", 10_000));
        assert!(!throttle.admit("u", "c", 11_999));
        assert!(throttle.admit("u", "other", 11_999));
        assert!(throttle.admit("v", "c", 11_999));
        assert!(throttle.admit("u", "c", 12_000));
        assert!(!throttle.admit("u", "c", 13_000));
    }

    #[test]
    fn expired_keys_are_swept_when_full() {
        let throttle = Throttle::new(10);
        for i in 0..Throttle::MAX_KEYS {
            assert!(throttle.admit(&i.to_string(), "c", 0));
        }
        assert!(throttle.admit("late", "c", 100));
        assert_eq!(throttle.last.lock().unwrap().len(), 1);
    }
}
