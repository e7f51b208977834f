//! A user's standing: moderators suspend a user for a time
//! (`suspendUser`), ban them (`banUser`) or lift either
//! (`reinstateUser`); every request of a barred user is refused.
//!
//! - Every resolver function and the WebSocket API ask [`ChatService::admit`]
//!   first: one small read (the `STANDING#` row) per request. A barred
//!   caller gets `UserSuspended`, with `errorInfo` saying until when (or
//!   that it is a ban). The standing is kept under the user's id, which is
//!   the token's `sub`, so signing up again under the same `sub` changes
//!   nothing.
//! - Suspending or banning closes the user's open WebSockets before the
//!   mutation returns (close code 4403 locally; API Gateway's
//!   `DeleteConnection` closes with 1000), and the WebSocket API refuses
//!   their next connection and subscription.
//! - Each action is one write with its audit log entry (and, given a
//!   report, that report closed as actioned).

use tracing::instrument;

use crate::clock::{now, now_ms, time_at};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::Caller;
use crate::moderation::{audit_entry, AuditEntry, ModerationAction};
use crate::ports::{ChatStore, Publisher, SafetyStore};
use crate::reports::{moderator_only, report_id_of};
use crate::service::ChatService;

pub use crate::safety::Standing;

/// What a moderator decides: a suspension of some hours, or a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanction {
    Suspend { hours: i64 },
    Ban,
}

/// Refuses `user_id` with `UserSuspended` while a suspension or ban bars
/// them: one read. The WebSocket API asks it of a store directly.
pub async fn admitted<S: SafetyStore>(store: &S, user_id: &str) -> Result<()> {
    match store.standing(user_id).await? {
        Some(standing) if standing.bars(&now()) => Err(Error::Suspended {
            until: standing.suspended_until,
        }),
        _ => Ok(()),
    }
}

impl<S: SafetyStore, P> ChatService<S, P> {
    /// Lets the caller through unless a suspension or ban bars them now.
    pub async fn admit(&self, caller: Caller) -> Result<Caller> {
        admitted(&self.store, &caller.id).await?;
        Ok(caller)
    }
}

impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Suspends `user_id` for `hours`, or bans them, replacing what stood;
    /// closes their open sockets. Moderators only; logged, and `report_id`
    /// (if given) closed as actioned.
    #[instrument(skip(self, reason), fields(caller = %caller.id))]
    pub async fn sanction_user(
        &self,
        caller: &Caller,
        user_id: &str,
        sanction: Sanction,
        reason: Option<&str>,
        report_id: Option<&str>,
    ) -> Result<Standing> {
        moderator_only(caller)?;
        let user_id = limits::id("userId", user_id)?;
        if user_id == caller.id {
            return Err(Error::validation("you cannot suspend or ban yourself"));
        }
        let reason = sanction_reason(reason)?;
        let report_id = report_id.map(report_id_of).transpose()?;
        let (action, until) = match sanction {
            Sanction::Suspend { hours } => {
                if !(1..=limits::MAX_SUSPENSION_HOURS).contains(&hours) {
                    return Err(Error::validation(format!(
                        "hours must be from 1 to {}; longer is a ban",
                        limits::MAX_SUSPENSION_HOURS
                    )));
                }
                (
                    ModerationAction::SuspendUser,
                    Some(time_at(now_ms() + hours * 3_600_000)),
                )
            }
            Sanction::Ban => (ModerationAction::BanUser, None),
        };
        if self.store.get_user(&user_id).await?.is_none() {
            return Err(Error::NotFound("no such user".into()));
        }
        let audit = AuditEntry {
            user_id: Some(user_id.clone()),
            report_id,
            until: until.clone(),
            reason: reason.clone(),
            ..audit_entry(caller, action)
        };
        let standing = Standing {
            user_id: user_id.clone(),
            banned: sanction == Sanction::Ban,
            suspended_until: until,
            by: caller.id.clone(),
            at: audit.at.clone(),
            reason,
        };
        self.store.set_standing(&standing, &audit).await?;
        // Stored first: a socket that opens from here on is refused.
        // Should their sockets not be listed, the moderator's retry (which
        // writes the same standing again) closes them.
        let closed = self.publisher.disconnect(&user_id).await?;
        tracing::info!(closed, "sockets closed");
        Ok(standing)
    }
}

impl<S: ChatStore, P> ChatService<S, P> {
    /// Lifts a suspension or ban: the lifted standing, or `None` if none
    /// stood. Moderators only; logged.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn reinstate_user(&self, caller: &Caller, user_id: &str) -> Result<Option<Standing>> {
        moderator_only(caller)?;
        let user_id = limits::id("userId", user_id)?;
        let audit = AuditEntry {
            user_id: Some(user_id.clone()),
            ..audit_entry(caller, ModerationAction::ReinstateUser)
        };
        self.store.clear_standing(&user_id, &audit).await
    }
}

/// A moderator's reason: none, or up to [`limits::MAX_SANCTION_REASON_CHARS`].
fn sanction_reason(raw: Option<&str>) -> Result<Option<String>> {
    let Some(reason) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let n = reason.chars().count();
    if n > limits::MAX_SANCTION_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(Error::validation(format!(
            "a reason is at most {} characters, without control characters (got {n})",
            limits::MAX_SANCTION_REASON_CHARS
        )));
    }
    Ok(Some(reason.to_string()))
}
