//! Reports' types: what is reported, why, by whom, what a reporter and a
//! moderator are told, and the audit log's entries. A leaf: it imports only
//! the leaves `clock` and `model`; the use-cases are [`crate::reports`].

use serde::{Deserialize, Serialize};

use crate::clock::{next_seq, now};
use crate::model::{Caller, Message};

/// The Cognito group whose members are moderators (the template's
/// `ModeratorsGroup`; the dev identity provider's `groups`).
pub const MODERATORS: &str = "moderators";

/// Why something was reported: the fixed list clients show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportReason {
    Spam,
    Harassment,
    Hate,
    Violence,
    Sexual,
    SelfHarm,
    Illegal,
    Impersonation,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportKind {
    Message,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportStatus {
    Open,
    /// Closed without action.
    Dismissed,
    /// Closed by an action: the message removed.
    Actioned,
}

/// What a report is about: a message, or a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    Message {
        conversation_id: String,
        message_id: String,
        author_id: String,
    },
    User {
        user_id: String,
    },
}

impl ReportTarget {
    /// The report's id: one per reported thing.
    pub fn report_id(&self) -> String {
        match self {
            ReportTarget::Message {
                conversation_id,
                message_id,
                ..
            } => format!("message:{conversation_id}:{message_id}"),
            ReportTarget::User { user_id } => format!("user:{user_id}"),
        }
    }

    pub fn kind(&self) -> ReportKind {
        match self {
            ReportTarget::Message { .. } => ReportKind::Message,
            ReportTarget::User { .. } => ReportKind::User,
        }
    }

    /// Whom it is about: the message's author, or the user.
    pub fn user_id(&self) -> &str {
        match self {
            ReportTarget::Message { author_id, .. } => author_id,
            ReportTarget::User { user_id } => user_id,
        }
    }
}

/// What was reported, as its reporter saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The message's text, or the user's name.
    pub content: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub edited_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// The names of the message's files.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// One user's report of a thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportEntry {
    pub reporter_id: String,
    pub reason: ReportReason,
    #[serde(default)]
    pub note: Option<String>,
    pub reported_at: String,
    pub snapshot: Snapshot,
}

/// A reported thing and everyone's reports of it: what moderators read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    pub kind: ReportKind,
    /// Whom it is about (a message's author).
    pub user_id: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    pub status: ReportStatus,
    /// When it was first reported (a report opened again after a dismissal
    /// keeps its place among the open ones).
    pub opened_at: String,
    /// The first `limits::MAX_REPORT_ENTRIES` reporters' entries.
    pub entries: Vec<ReportEntry>,
    /// How many users reported it: every one counts once, entry or not.
    pub reporters: u32,
    /// Who dismissed it, and when.
    #[serde(default)]
    pub resolved_by: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<String>,
}

/// What a reporter is told: it was received. A repeated report of the
/// same thing is received too, and counts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportReceipt {
    pub report_id: String,
    pub received_at: String,
    /// Whether this user had reported it already (it counts once).
    pub duplicate: bool,
}

/// How filing an entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    Added,
    /// This reporter had reported it already.
    Duplicate,
}

/// What a moderator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModerationAction {
    DismissReport,
    RemoveMessage,
    SuspendUser,
    BanUser,
    ReinstateUser,
}

/// One moderator action, as the audit log keeps it: written in the same
/// transaction as the action, so no action goes unlogged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// A ULID: the log's order.
    pub id: String,
    pub at: String,
    pub moderator_id: String,
    pub action: ModerationAction,
    #[serde(default)]
    pub report_id: Option<String>,
    /// Whom it concerned: the message's author.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    /// A suspension's end.
    #[serde(default)]
    pub until: Option<String>,
    /// The moderator's reason for a suspension or ban.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A moderator's removal of a message, as the change of it carries it.
pub(crate) struct Removal<'a> {
    pub(crate) report_id: Option<&'a str>,
}

impl Removal<'_> {
    /// The audit log's entry for removing `message`.
    pub(crate) fn audit(&self, caller: &Caller, message: &Message) -> AuditEntry {
        AuditEntry {
            report_id: self.report_id.map(str::to_string),
            user_id: Some(message.author_id.clone()),
            conversation_id: Some(message.message_conversation_id.clone()),
            message_id: Some(message.id.clone()),
            ..audit_entry(caller, ModerationAction::RemoveMessage)
        }
    }
}

pub(crate) fn audit_entry(caller: &Caller, action: ModerationAction) -> AuditEntry {
    AuditEntry {
        id: next_seq(),
        at: now(),
        moderator_id: caller.id.clone(),
        action,
        report_id: None,
        user_id: None,
        conversation_id: None,
        message_id: None,
        until: None,
        reason: None,
    }
}
