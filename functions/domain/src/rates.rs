//! Per-user rate limits, counted: each count is one conditional write of
//! the store ([`RateStore`]), shared by every function instance. The
//! caps, windows and what is counted are [`crate::rate_limits`]'s.

use tracing::instrument;

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::ports::RateStore;
use crate::service::ChatService;

pub use crate::rate_limits::{
    Action, Counted, RateCount, RateLimits, BURST_WINDOW_MS, HOUR_MS, MESSAGE_WINDOW_MS,
};

impl<S, P> ChatService<S, P> {
    /// Refuses `cost` of `action` that no window could ever take (more
    /// people at once than an hour's invites), before anything is counted.
    pub(crate) fn rate_fits(&self, action: Action, cost: u32) -> Result<()> {
        match self.rates.rule(action) {
            Some(rule) if cost > rule.max => Err(Error::validation(format!(
                "at most {} at once ({})",
                rule.max,
                action.what()
            ))),
            _ => Ok(()),
        }
    }
}

impl<S: RateStore, P> ChatService<S, P> {
    /// Counts `cost` of `action` for the caller, or refuses with
    /// `RateLimited` and when to try again.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub(crate) async fn take_rate(&self, caller: &Caller, action: Action, cost: u32) -> Result<()> {
        let Some(rule) = self.rates.rule(action) else {
            return Ok(());
        };
        if cost == 0 {
            return Ok(());
        }
        let now = now_ms();
        let window_start = now - now.rem_euclid(rule.window_ms);
        let window_end = window_start + rule.window_ms;
        let slot = rule
            .burst
            .map(|(ms, max)| (((now - window_start) / ms) as u32, max));
        let refused = |retry_at: i64| Error::RateLimited {
            what: action.what().to_string(),
            retry_after_secs: ((retry_at - now).max(1) as u64).div_ceil(1000),
        };
        self.rate_fits(action, cost)?;
        let count = RateCount {
            user_id: caller.id.clone(),
            action: action.name(),
            window_start,
            expires_at: window_end / 1000 + 60,
            max: rule.max,
            slot,
            cost,
        };
        match self.store.count_rate(&count).await? {
            Counted::Taken => Ok(()),
            Counted::Refused(seen) => {
                // The slot's end when only the slot is full; else the window's.
                let slot_only = match (seen, rule.burst, slot) {
                    (Some((in_window, in_slot)), Some((ms, max)), Some((index, _))) => {
                        (in_window + cost <= rule.max && in_slot + cost > max)
                            .then_some(window_start + (index as i64 + 1) * ms)
                    }
                    _ => None,
                };
                Err(refused(slot_only.unwrap_or(window_end)))
            }
        }
    }
}
