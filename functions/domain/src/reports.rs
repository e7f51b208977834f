//! Reports: a member reports a message (`reportMessage`) or anyone reports
//! a user (`reportUser`), with a reason from a fixed list and an optional
//! note; moderators list the open reports (`openReports`) and dismiss them
//! (`dismissReport`).
//!
//! Moderators also remove a message (`removeMessage`: a tombstone that
//! says so), and every moderator action goes to an audit log they read
//! (`auditLog`).
//!
//! A report is one row per reported thing: each user's report of it is an
//! entry of that row, so one user's repeated reports count once and a
//! moderator sees everyone's reasons together. Each entry keeps a snapshot
//! of what was reported as its reporter saw it, which no later edit or
//! delete changes; only moderators read it. The reporter gets a receipt.
//! Reporting is rate-limited per user ([`crate::rates::Action::Report`]).

use tracing::instrument;

use crate::clock::now;
use crate::error::{Error, Result};
use crate::graph::{MessageSel, MessageView};
use crate::limits;
use crate::messages::{tombstone, Editor, MessageRef};
use crate::model::{Caller, ChangeKind};
use crate::page::{Page, PageRequest, Scope};
use crate::ports::{ChatStore, Publisher, ReportStore};
use crate::rates::Action;
use crate::service::ChatService;

use crate::moderation::{audit_entry, Removal};
pub use crate::moderation::{
    AuditEntry, Filed, ModerationAction, Report, ReportEntry, ReportKind, ReportReason,
    ReportReceipt, ReportStatus, ReportTarget, Snapshot, MODERATORS,
};

/// Reporting.
impl<S: ChatStore, P> ChatService<S, P> {
    /// Reports a message of a conversation the caller belongs to.
    #[instrument(skip(self, note), fields(caller = %caller.id))]
    pub async fn report_message(
        &self,
        caller: &Caller,
        conversation_id: &str,
        message_id: &str,
        reason: ReportReason,
        note: Option<&str>,
    ) -> Result<ReportReceipt> {
        let conversation_id = limits::id("messageConversationId", conversation_id)?;
        let message_id = limits::id("messageId", message_id)?;
        let note = limits::report_note(note)?;
        let (context, counted) = futures::join!(
            self.store
                .message_context(&caller.id, &conversation_id, &message_id),
            self.take_rate(caller, Action::Report, 1)
        );
        let (link, _, message) = context?;
        if link.is_none() {
            return Err(Error::not_member());
        }
        let message = message.ok_or_else(|| Error::NotFound("no such message".into()))?;
        if message.author_id == caller.id {
            return Err(Error::validation("you cannot report your own message"));
        }
        counted?;
        let target = ReportTarget::Message {
            conversation_id,
            message_id,
            author_id: message.author_id.clone(),
        };
        let snapshot = Snapshot {
            content: message.content,
            created_at: Some(message.created_at),
            edited_at: message.edited_at,
            deleted_at: message.deleted_at,
            attachments: message.attachments.into_iter().map(|a| a.name).collect(),
        };
        self.file(caller, target, reason, note, snapshot).await
    }

    /// Reports a user.
    #[instrument(skip(self, note), fields(caller = %caller.id))]
    pub async fn report_user(
        &self,
        caller: &Caller,
        user_id: &str,
        reason: ReportReason,
        note: Option<&str>,
    ) -> Result<ReportReceipt> {
        let user_id = limits::id("userId", user_id)?;
        let note = limits::report_note(note)?;
        if user_id == caller.id {
            return Err(Error::validation("you cannot report yourself"));
        }
        let (user, counted) = futures::join!(
            self.store.get_user(&user_id),
            self.take_rate(caller, Action::Report, 1)
        );
        let user = user?.ok_or_else(|| Error::NotFound(format!("no user with id {user_id:?}")))?;
        counted?;
        let snapshot = Snapshot {
            content: user.username,
            created_at: Some(user.created_at),
            ..Snapshot::default()
        };
        self.file(
            caller,
            ReportTarget::User { user_id },
            reason,
            note,
            snapshot,
        )
        .await
    }

    async fn file(
        &self,
        caller: &Caller,
        target: ReportTarget,
        reason: ReportReason,
        note: Option<String>,
        snapshot: Snapshot,
    ) -> Result<ReportReceipt> {
        let entry = ReportEntry {
            reporter_id: caller.id.clone(),
            reason,
            note,
            reported_at: now(),
            snapshot,
        };
        let report_id = target.report_id();
        let duplicate = self.store.file_report(&target, &entry).await? == Filed::Duplicate;
        tracing::info!(report = %report_id, duplicate, "report received");
        Ok(ReportReceipt {
            report_id,
            received_at: entry.reported_at,
            duplicate,
        })
    }
}

/// Moderating.
impl<S: ReportStore, P> ChatService<S, P> {
    /// The open reports, oldest first: moderators only.
    #[instrument(skip(self, page), fields(caller = %caller.id))]
    pub async fn open_reports(&self, caller: &Caller, page: PageRequest) -> Result<Page<Report>> {
        moderator_only(caller)?;
        let scope = Scope::Reports;
        let query = self.tokens.open(&scope, &page, "limit")?;
        let (items, cursor) = self.store.open_reports(&query).await?;
        Ok(Page {
            items,
            next_token: cursor.map(|c| self.tokens.seal(&scope, &c)),
        })
    }

    /// Closes a report without action; reporting it again opens it again.
    /// Logged.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn dismiss_report(&self, caller: &Caller, report_id: &str) -> Result<Report> {
        moderator_only(caller)?;
        let report_id = report_id_of(report_id)?;
        let audit = AuditEntry {
            report_id: Some(report_id.clone()),
            ..audit_entry(caller, ModerationAction::DismissReport)
        };
        self.store
            .dismiss_report(&report_id, &audit)
            .await?
            .ok_or_else(|| Error::NotFound("no such report".into()))
    }

    /// The moderators' audit log, newest first: moderators only.
    #[instrument(skip(self, page), fields(caller = %caller.id))]
    pub async fn audit_log(&self, caller: &Caller, page: PageRequest) -> Result<Page<AuditEntry>> {
        moderator_only(caller)?;
        let scope = Scope::Audit;
        let query = self.tokens.open(&scope, &page, "limit")?;
        let (items, cursor) = self.store.audit_log(&query).await?;
        Ok(Page {
            items,
            next_token: cursor.map(|c| self.tokens.seal(&scope, &c)),
        })
    }
}

/// Removing messages.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// A moderator removes a message from any conversation: a tombstone
    /// that says a moderator removed it, pushed to the members as a delete,
    /// logged, and closing `report_id` as actioned when given. Removing a
    /// tombstone again changes nothing.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn remove_message(
        &self,
        caller: &Caller,
        target: MessageRef,
        report_id: Option<&str>,
        sel: &MessageSel,
    ) -> Result<MessageView> {
        moderator_only(caller)?;
        let report_id = report_id.map(report_id_of).transpose()?;
        let removal = Removal {
            report_id: report_id.as_deref(),
        };
        self.change_own_message(
            caller,
            &target.conversation_id,
            &target.id,
            sel,
            Editor::Moderator(removal),
            |_, message| {
                if message.removed_by_moderator {
                    return Ok(None);
                }
                Ok(Some((ChangeKind::Deleted, tombstone(message, true))))
            },
        )
        .await
    }
}

/// A report id as [`ReportTarget::report_id`] makes them.
pub(crate) fn report_id_of(raw: &str) -> Result<String> {
    let ids: Vec<&str> = match raw.split_once(':') {
        Some(("message", rest)) => rest.split(':').collect(),
        Some(("user", rest)) => vec![rest],
        _ => Vec::new(),
    };
    let shaped = match ids.as_slice() {
        [user] => raw.starts_with("user:") && limits::id("reportId", user).is_ok(),
        [c, m] => limits::id("reportId", c).is_ok() && limits::id("reportId", m).is_ok(),
        _ => false,
    };
    if !shaped {
        return Err(Error::validation("reportId is not a report's id"));
    }
    Ok(raw.to_string())
}

/// Refuses a caller outside the moderators' group.
pub(crate) fn moderator_only(caller: &Caller) -> Result<()> {
    if caller.groups.iter().any(|g| g == MODERATORS) {
        Ok(())
    } else {
        Err(Error::Unauthorized("only a moderator can do this".into()))
    }
}
