//! Per-user rate limits' types: what is counted, the caps and windows, and
//! one count as the store takes it. A leaf: it imports nothing of the
//! crate; the counting is [`crate::rates`].
//!
//! A rate limit caps how many messages, conversations, invites and reports
//! one user makes in a time. It is counted in the store, so that every
//! function instance sees the same count (on AWS, every concurrent
//! execution environment of a function).
//!
//! Each rate is a fixed window with a cap, and messages also a shorter
//! burst window inside it: at most [`RateLimits::message_burst`] in any
//! 10-second slot and [`RateLimits::message_sustained`] in a minute. One
//! count is one conditional `UpdateItem` of one small row per user and
//! window (`RateStore`), which refuses the request when either cap
//! would be passed; nothing else is written then.
//!
//! The typing throttle is not one of these: a typing signal is pushed,
//! never stored, and counting it in the table would make each signal a
//! write. It stays per instance (see [`crate::throttle`]).

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `createMessage`.
    Message,
    /// `createConvo`.
    Conversation,
    /// A user added to a conversation by someone else (`createConvo`'s
    /// other members, `createConvoLink` for another user).
    Invite,
    /// `reportMessage`, `reportUser`.
    Report,
}

impl Action {
    /// The name the store keys its counts by.
    pub fn name(self) -> &'static str {
        match self {
            Action::Message => "message",
            Action::Conversation => "conversation",
            Action::Invite => "invite",
            Action::Report => "report",
        }
    }

    /// What a refusal says.
    pub fn what(self) -> &'static str {
        match self {
            Action::Message => "too many messages",
            Action::Conversation => "too many new conversations",
            Action::Invite => "too many people added to conversations",
            Action::Report => "too many reports",
        }
    }
}

/// The burst window of messages.
pub const BURST_WINDOW_MS: i64 = 10_000;
/// The sustained window of messages.
pub const MESSAGE_WINDOW_MS: i64 = 60_000;
/// The window of conversations and invites.
pub const HOUR_MS: i64 = 3_600_000;

/// The caps of one stack; 0 turns a cap off (and its count with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Messages per user in one burst slot ([`BURST_WINDOW_MS`]).
    pub message_burst: u32,
    /// Messages per user per sustained window ([`MESSAGE_WINDOW_MS`]).
    pub message_sustained: u32,
    /// The burst slot and the sustained window, in ms (a test stack's are
    /// shorter); the slot divides the window.
    pub burst_ms: i64,
    pub sustained_ms: i64,
    /// Conversations created per user per hour.
    pub conversations_per_hour: u32,
    /// Users added to conversations per user per hour.
    pub invites_per_hour: u32,
    /// Reports per user per hour.
    pub reports_per_hour: u32,
}

impl Default for RateLimits {
    /// The stack's caps (docs/SAFETY.md, "Safety: rate limits"): a person typing fast
    /// never meets them; a script does within seconds.
    fn default() -> Self {
        RateLimits {
            message_burst: 20,
            message_sustained: 60,
            burst_ms: BURST_WINDOW_MS,
            sustained_ms: MESSAGE_WINDOW_MS,
            conversations_per_hour: 30,
            // A conversation starts with up to 50 others
            // (`limits::MAX_INITIAL_MEMBERS`), so one always fits.
            invites_per_hour: 200,
            reports_per_hour: 20,
        }
    }
}

impl RateLimits {
    /// No caps, and no counting (a test stack sets only the caps it tests).
    pub fn off() -> Self {
        RateLimits {
            message_burst: 0,
            message_sustained: 0,
            conversations_per_hour: 0,
            invites_per_hour: 0,
            reports_per_hour: 0,
            ..RateLimits::default()
        }
    }

    /// Messages capped at `burst` per `burst_ms` and `sustained` per
    /// `sustained_ms` (a multiple of `burst_ms`).
    pub fn with_messages(
        self,
        burst: u32,
        burst_ms: i64,
        sustained: u32,
        sustained_ms: i64,
    ) -> Self {
        assert!(
            burst_ms > 0 && sustained_ms % burst_ms == 0,
            "a burst slot divides the sustained window"
        );
        RateLimits {
            message_burst: burst,
            burst_ms,
            message_sustained: sustained,
            sustained_ms,
            ..self
        }
    }

    /// The windows of `action`: (window, cap), and a burst slot inside it.
    pub fn rule(&self, action: Action) -> Option<Rule> {
        let (window_ms, max, burst) = match action {
            Action::Message => (
                self.sustained_ms,
                self.message_sustained,
                Some((self.burst_ms, self.message_burst)).filter(|b| b.1 > 0),
            ),
            Action::Conversation => (HOUR_MS, self.conversations_per_hour, None),
            Action::Invite => (HOUR_MS, self.invites_per_hour, None),
            Action::Report => (HOUR_MS, self.reports_per_hour, None),
        };
        match (max, burst) {
            (0, None) => None,
            // A burst alone: its slot is the window.
            (0, Some((ms, max))) => Some(Rule {
                window_ms: ms,
                max,
                burst: None,
            }),
            (max, burst) => Some(Rule {
                window_ms,
                max,
                burst,
            }),
        }
    }
}

/// One action's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub window_ms: i64,
    pub max: u32,
    /// (slot length, cap per slot); the slot divides the window.
    pub burst: Option<(i64, u32)>,
}

/// One count, as the store takes it: `cost` more in the user's row for
/// `action` and the window starting at `window_start`, if the window stays
/// within `max` and the slot within its cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCount {
    pub user_id: String,
    pub action: &'static str,
    /// Epoch ms.
    pub window_start: i64,
    /// When the row may be deleted (epoch seconds).
    pub expires_at: i64,
    pub max: u32,
    /// (slot index in the window, cap per slot).
    pub slot: Option<(u32, u32)>,
    pub cost: u32,
}

/// What a count found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Taken,
    /// Over a cap. The counts as they stood, when the store says (the
    /// window's, the slot's), tell which cap it was.
    Refused(Option<(u32, u32)>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_of_zero_turns_its_count_off() {
        assert!(RateLimits::off().rule(Action::Message).is_none());
        let burst_only = RateLimits {
            message_sustained: 0,
            ..RateLimits::default()
        };
        let rule = burst_only.rule(Action::Message).unwrap();
        assert_eq!(
            (rule.window_ms, rule.max, rule.burst),
            (BURST_WINDOW_MS, 20, None)
        );
        let rule = RateLimits::default().rule(Action::Message).unwrap();
        assert_eq!(rule.burst, Some((BURST_WINDOW_MS, 20)));
        assert_eq!(
            MESSAGE_WINDOW_MS % BURST_WINDOW_MS,
            0,
            "slots divide the window"
        );
        assert!(
            RateLimits::default().invites_per_hour as usize >= crate::limits::MAX_INITIAL_MEMBERS,
            "a new conversation's members always fit an hour's invites"
        );
    }
}
