//! Storage items: what is written to each table, kept apart from the domain
//! types so a schema change and a storage change never have to move together.
//! Every attribute map is produced by `serde_dynamo` from these types.

use chat_domain::reports::{
    AuditEntry, ModerationAction, Report, ReportEntry, ReportKind, ReportStatus,
};
use serde::{Deserialize, Serialize};

use chat_domain::attachments::{Attachment, AttachmentState, Upload};
use chat_domain::push::{Device, NotifyLevel, Platform, PushProfile, PushSettings};
use chat_domain::safety::{BlockList, Blocked, Standing};
use chat_domain::{ChangeKind, Conversation, ConvoLink, Message, MessageChange, User};

/// The partition of the `byUsername` index that lists every user.
pub const USER_LIST_PARTITION: &str = "USER";

/// A user profile row in the Users table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    pub id: String,
    pub username: String,
    /// Constant partition of the sparse `byUsername` index (claims lack it).
    pub list_pk: String,
    pub created_at: String,
    pub updated_at: String,
    /// Present on every row the API writes, to say that its writer pushes it
    /// to the subscribers (the stream pushes only rows without it). On a
    /// message it is the writer's hold on the push (epoch milliseconds) and
    /// is removed once the push is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_until: Option<i64>,
    /// Presence: whether the user has a live connection, when they were
    /// last seen, and when (epoch milliseconds) that was observed, so an
    /// older observation never overwrites a newer one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_at: Option<i64>,
}

/// The presence attributes of a user row, as an update returns them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceItem {
    #[serde(default)]
    pub online: Option<bool>,
}

/// The row that reserves a username (case-insensitively) in the Users table.
/// Its id holds a `#`, which no user id can, so the two kinds never collide.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsernameClaimItem {
    pub id: String,
    pub owner_id: String,
    /// Written by the API, as on [`UserItem`]: a claim is never pushed, and
    /// the mark keeps it from the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_until: Option<i64>,
}

impl UsernameClaimItem {
    const PREFIX: &str = "USERNAME#";

    /// The claim's id for a lowercased username.
    pub fn id_of(lowercased: &str) -> String {
        format!("{}{lowercased}", Self::PREFIX)
    }

    /// The lowercased username a claim holds.
    pub fn username(&self) -> Option<&str> {
        self.id.strip_prefix(Self::PREFIX)
    }

    pub fn new(user: &User) -> Self {
        UsernameClaimItem {
            id: Self::id_of(&user.username.to_lowercase()),
            owner_id: user.id.clone(),
            push_until: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdKey {
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationItem {
    pub id: String,
    pub name: String,
    /// The listed members (`limits::MAX_LISTED_MEMBERS` at most).
    pub members: Vec<String>,
    /// How many members it has, listed or not. Absent on conversations
    /// stored before it, whose `members` listed every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_count: Option<usize>,
    /// Absent on conversations stored before owners: their creator (the
    /// first member) is the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<String>>,
    pub created_at: String,
    pub updated_at: String,
    /// The revision of `members` and `owners` (absent: 0).
    #[serde(default)]
    pub rev: u64,
    /// When its activity was last copied to its members' links (epoch ms):
    /// the claim on the current window (see `bump_activity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkItem {
    pub convo_link_user_id: String,
    pub convo_link_conversation_id: String,
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    /// The sort key of the `byActivity` index: the member's inbox order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// The read marker: the `seq` and id of the last message read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_seq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_id: Option<String>,
    /// The member's push level for the conversation (absent: `ALL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyLevel>,
    /// The message of the member's last push here, and when (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<i64>,
    /// Present on every row the API writes, to say that its writer pushes it
    /// to the subscribers (the stream pushes only rows without it). On a
    /// message it is the writer's hold on the push (epoch milliseconds) and
    /// is removed once the push is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_until: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkKey {
    pub convo_link_user_id: String,
    pub convo_link_conversation_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageItem {
    pub message_conversation_id: String,
    pub id: String,
    /// Server ULID: the sort key of the `byOrder` index.
    pub seq: String,
    pub author_id: String,
    pub content: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Absent on messages stored before versions: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Each reaction and who put it (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionItem>,
    /// The user ids it mentions (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// A moderator's tombstone (absent: not one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed_by_moderator: bool,
    /// Its files (absent: none), without links: those are made per read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentItem>,
    /// Present on every row the API writes, to say that its writer pushes it
    /// to the subscribers (the stream pushes only rows without it). On a
    /// message it is the writer's hold on the push (epoch milliseconds) and
    /// is removed once the push is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_until: Option<i64>,
}

/// A reaction on a message, stored on the message row: a page of messages
/// comes with its reactions, at no request per message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReactionItem {
    pub emoji: String,
    pub users: Vec<String>,
}

/// The sort-key prefix of change-log rows in the Messages table. Ids are
/// letters, digits and `_ - :`, which all sort before `~`, so the log sits
/// after every message of its conversation and never mixes with them; it
/// has no `seq`, so the `byOrder` index (the history) never holds it.
pub const CHANGE_PREFIX: &str = "~change#";

/// One entry of a conversation's change log, in the Messages table under
/// the conversation's partition: `id` is [`CHANGE_PREFIX`] and the change's
/// key (a ULID, so the log sorts by time).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeItem {
    pub message_conversation_id: String,
    pub id: String,
    pub kind: ChangeKind,
    /// The message as the change left it.
    pub message: MessageItem,
    /// Written by the API, which pushes the change itself: the mark keeps
    /// the row from the stream (see [`MessageItem::push_until`]).
    pub push_until: i64,
}

impl ChangeItem {
    pub fn id_of(key: &str) -> String {
        format!("{CHANGE_PREFIX}{key}")
    }

    pub fn new(change: &MessageChange) -> Self {
        ChangeItem {
            message_conversation_id: change.conversation_id.clone(),
            id: Self::id_of(&change.key),
            kind: change.kind,
            message: MessageItem::from(&change.message),
            push_until: 0,
        }
    }
}

impl From<ChangeItem> for MessageChange {
    fn from(c: ChangeItem) -> Self {
        MessageChange {
            kind: c.kind,
            conversation_id: c.message_conversation_id,
            key: c
                .id
                .strip_prefix(CHANGE_PREFIX)
                .unwrap_or(&c.id)
                .to_string(),
            message: c.message.into(),
            hidden_from: Vec::new(),
        }
    }
}

impl From<&User> for UserItem {
    fn from(u: &User) -> Self {
        UserItem {
            id: u.id.clone(),
            username: u.username.clone(),
            list_pk: USER_LIST_PARTITION.to_string(),
            created_at: u.created_at.clone(),
            updated_at: u.updated_at.clone(),
            push_until: None,
            online: None,
            last_seen_at: None,
            presence_at: None,
        }
    }
}

impl From<UserItem> for User {
    fn from(u: UserItem) -> Self {
        User {
            id: u.id,
            username: u.username,
            created_at: u.created_at,
            updated_at: u.updated_at,
            online: u.online.unwrap_or(false),
            last_seen_at: u.last_seen_at,
        }
    }
}

impl From<&Conversation> for ConversationItem {
    fn from(c: &Conversation) -> Self {
        ConversationItem {
            id: c.id.clone(),
            name: c.name.clone(),
            members: c.members.clone(),
            member_count: Some(c.member_count),
            owners: Some(c.owners.clone()),
            created_at: c.created_at.clone(),
            updated_at: c.updated_at.clone(),
            rev: c.rev,
            activity_at: None,
        }
    }
}

impl From<ConversationItem> for Conversation {
    fn from(c: ConversationItem) -> Self {
        let owners = c
            .owners
            .unwrap_or_else(|| c.members.first().cloned().into_iter().collect());
        Conversation {
            id: c.id,
            name: c.name,
            member_count: c.member_count.unwrap_or(c.members.len()),
            members: c.members,
            owners,
            created_at: c.created_at,
            updated_at: c.updated_at,
            rev: c.rev,
            activity_at: c.activity_at,
        }
    }
}

impl From<&ConvoLink> for LinkItem {
    fn from(l: &ConvoLink) -> Self {
        LinkItem {
            convo_link_user_id: l.convo_link_user_id.clone(),
            convo_link_conversation_id: l.convo_link_conversation_id.clone(),
            id: l.id.clone(),
            created_at: l.created_at.clone(),
            updated_at: l.updated_at.clone(),
            activity: l.activity.clone(),
            last_read_seq: l.last_read.as_ref().map(|(seq, _)| seq.clone()),
            last_read_id: l.last_read.as_ref().map(|(_, id)| id.clone()),
            notify: (l.notify != NotifyLevel::All).then_some(l.notify),
            pushed_id: l.pushed.as_ref().map(|(id, _)| id.clone()),
            pushed_at: l.pushed.as_ref().map(|(_, at)| *at),
            push_until: None,
        }
    }
}

impl From<LinkItem> for ConvoLink {
    fn from(l: LinkItem) -> Self {
        ConvoLink {
            id: l.id,
            convo_link_user_id: l.convo_link_user_id,
            convo_link_conversation_id: l.convo_link_conversation_id,
            created_at: l.created_at,
            updated_at: l.updated_at,
            activity: l.activity,
            last_read: l.last_read_seq.zip(l.last_read_id),
            notify: l.notify.unwrap_or_default(),
            pushed: l.pushed_id.zip(l.pushed_at),
        }
    }
}

impl LinkKey {
    pub fn new(user_id: &str, conversation_id: &str) -> Self {
        LinkKey {
            convo_link_user_id: user_id.to_string(),
            convo_link_conversation_id: conversation_id.to_string(),
        }
    }
}

/// The key of a message row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageKey {
    pub message_conversation_id: String,
    pub id: String,
}

impl From<&Message> for MessageItem {
    fn from(m: &Message) -> Self {
        MessageItem {
            message_conversation_id: m.message_conversation_id.clone(),
            id: m.id.clone(),
            seq: m.seq.clone(),
            author_id: m.author_id.clone(),
            content: m.content.clone(),
            created_at: m.created_at.clone(),
            updated_at: m.updated_at.clone(),
            edited_at: m.edited_at.clone(),
            deleted_at: m.deleted_at.clone(),
            version: Some(m.version),
            reactions: m
                .reactions
                .iter()
                .map(|r| ReactionItem {
                    emoji: r.emoji.clone(),
                    users: r.users.clone(),
                })
                .collect(),
            mentions: m.mentions.clone(),
            attachments: m.attachments.iter().map(AttachmentItem::from).collect(),
            removed_by_moderator: m.removed_by_moderator,
            push_until: None,
        }
    }
}

impl From<MessageItem> for Message {
    fn from(m: MessageItem) -> Self {
        Message {
            id: m.id,
            message_conversation_id: m.message_conversation_id,
            author_id: m.author_id,
            content: m.content,
            seq: m.seq,
            created_at: m.created_at,
            updated_at: m.updated_at,
            edited_at: m.edited_at,
            deleted_at: m.deleted_at,
            version: m.version.unwrap_or(1),
            reactions: m
                .reactions
                .into_iter()
                .map(|r| chat_domain::Reaction {
                    emoji: r.emoji,
                    users: r.users,
                })
                .collect(),
            mentions: m.mentions,
            attachments: m.attachments.into_iter().map(Attachment::from).collect(),
            removed_by_moderator: m.removed_by_moderator,
        }
    }
}

/// A file on a message, as the message row keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentItem {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub state: AttachmentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumbnail: bool,
}

impl From<&Attachment> for AttachmentItem {
    fn from(a: &Attachment) -> Self {
        AttachmentItem {
            id: a.id.clone(),
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
            state: a.state,
            error: a.error.clone(),
            width: a.width,
            height: a.height,
            thumbnail: a.thumbnail,
        }
    }
}

impl From<AttachmentItem> for Attachment {
    fn from(a: AttachmentItem) -> Self {
        Attachment {
            id: a.id,
            name: a.name,
            content_type: a.content_type,
            size: a.size,
            state: a.state,
            error: a.error,
            width: a.width,
            height: a.height,
            thumbnail: a.thumbnail,
            url: None,
            thumbnail_url: None,
        }
    }
}

/// Shards of the sweeper's index of uploads: writes spread over this many
/// partitions of `pendingUploads`, and a sweep reads each.
pub const UPLOAD_SHARDS: u32 = 4;

/// An upload's row in the Conversations table, beside the conversations.
/// Its id holds a `#`, so it never collides with a conversation's ULID.
/// While it is in the sweeper's index (`pendingUploads`: never attached,
/// or released by its message), `pendingShard` and `pendingSince` are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadItem {
    pub id: String,
    pub conversation_id: String,
    pub owner_id: String,
    pub content_type: String,
    pub name: String,
    pub size: u64,
    pub created_at: String,
    pub state: AttachmentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_size: Option<u64>,
    #[serde(default)]
    pub thumbnail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<String>,
}

/// A user's rate count for one action and window, in the Conversations
/// table: `{id: "RATE#<user>#<action>#<window start>", n, s<slot>...,
/// expiresAt}`. `n` counts the window, `s<i>` its burst slot `i`; the row
/// expires (TTL) a minute after its window. User ids hold no `#`, so the
/// key never meets a conversation's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RateItem {
    pub id: String,
    #[serde(default)]
    pub n: u32,
    #[serde(flatten)]
    pub slots: std::collections::BTreeMap<String, serde_json::Value>,
}

impl RateItem {
    pub const PREFIX: &'static str = "RATE#";
    /// The TTL attribute: the table's, shared with nothing else in it.
    pub const EXPIRES: &'static str = "expiresAt";

    pub fn id_of(user_id: &str, action: &str, window_start: i64) -> String {
        format!("{}{user_id}#{action}#{window_start}", Self::PREFIX)
    }

    /// The attribute counting burst slot `index`.
    pub fn slot_attribute(index: u32) -> String {
        format!("s{index}")
    }

    /// The count in slot `index`.
    pub fn in_slot(&self, index: u32) -> u32 {
        self.slots
            .get(&Self::slot_attribute(index))
            .and_then(serde_json::Value::as_u64)
            .map_or(0, |n| n as u32)
    }
}

/// A report in the Conversations table (see `chat_domain::reports`): one
/// row per reported thing, `id: REPORT#<report id>`. `reporters` holds the
/// first `MAX_REPORTERS` who reported it, so a repeat counts once (later
/// ones are counted in `moreReporters`); `entries` the first
/// `MAX_REPORT_ENTRIES` reporters' entries. While it
/// is open it has `reportShard` (`open`), which with `openedAt` (its first
/// report) keys the sparse `openReports` index moderators read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportItem {
    pub id: String,
    pub kind: ReportKind,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub status: ReportStatus,
    pub opened_at: String,
    #[serde(default)]
    pub entries: Vec<ReportEntry>,
    #[serde(default)]
    pub reporters: Vec<String>,
    /// Reporters past `MAX_REPORTERS`, counted only.
    #[serde(default)]
    pub more_reporters: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

impl ReportItem {
    pub const PREFIX: &'static str = "REPORT#";
    /// `reportShard` while open.
    pub const OPEN: &'static str = "open";

    pub fn id_of(report_id: &str) -> String {
        format!("{}{report_id}", Self::PREFIX)
    }
}

impl From<ReportItem> for Report {
    fn from(r: ReportItem) -> Self {
        Report {
            id: r
                .id
                .strip_prefix(ReportItem::PREFIX)
                .unwrap_or(&r.id)
                .to_string(),
            kind: r.kind,
            user_id: r.user_id,
            conversation_id: r.conversation_id,
            message_id: r.message_id,
            status: r.status,
            opened_at: r.opened_at,
            entries: r.entries,
            reporters: r.reporters.len() as u32 + r.more_reporters,
            resolved_by: r.resolved_by,
            resolved_at: r.resolved_at,
        }
    }
}

/// One moderator action in the Conversations table: `id: AUDIT#<ULID>`,
/// and `auditShard: "audit"`, which with `id` keys the `auditLog` index,
/// newest first when read backwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditItem {
    pub id: String,
    pub audit_shard: String,
    pub at: String,
    pub moderator_id: String,
    pub action: ModerationAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditItem {
    pub const PREFIX: &'static str = "AUDIT#";
    pub const SHARD: &'static str = "audit";

    pub fn new(e: &AuditEntry) -> Self {
        AuditItem {
            id: format!("{}{}", Self::PREFIX, e.id),
            audit_shard: Self::SHARD.to_string(),
            at: e.at.clone(),
            moderator_id: e.moderator_id.clone(),
            action: e.action,
            report_id: e.report_id.clone(),
            user_id: e.user_id.clone(),
            conversation_id: e.conversation_id.clone(),
            message_id: e.message_id.clone(),
            until: e.until.clone(),
            reason: e.reason.clone(),
        }
    }
}

impl From<AuditItem> for AuditEntry {
    fn from(a: AuditItem) -> Self {
        AuditEntry {
            id: a
                .id
                .strip_prefix(AuditItem::PREFIX)
                .unwrap_or(&a.id)
                .to_string(),
            at: a.at,
            moderator_id: a.moderator_id,
            action: a.action,
            report_id: a.report_id,
            user_id: a.user_id,
            conversation_id: a.conversation_id,
            message_id: a.message_id,
            until: a.until,
            reason: a.reason,
        }
    }
}

impl UploadItem {
    pub const PREFIX: &'static str = "UPLOAD#";

    pub fn id_of(upload_id: &str) -> String {
        format!("{}{upload_id}", Self::PREFIX)
    }

    /// The sweeper's shard of an upload: spread by its id's last character.
    pub fn shard_of(upload_id: &str) -> String {
        let last = upload_id.bytes().last().unwrap_or(0);
        format!("u{}", u32::from(last) % UPLOAD_SHARDS)
    }

    /// A new upload, in the sweeper's index from its creation.
    pub fn new(u: &Upload) -> Self {
        UploadItem {
            id: Self::id_of(&u.id),
            conversation_id: u.conversation_id.clone(),
            owner_id: u.owner_id.clone(),
            content_type: u.content_type.clone(),
            name: u.name.clone(),
            size: u.size,
            created_at: u.created_at.clone(),
            state: u.state,
            error: u.error.clone(),
            width: u.width,
            height: u.height,
            stored_size: u.stored_size,
            thumbnail: u.thumbnail,
            message_id: u.message_id.clone(),
            pending_shard: Some(Self::shard_of(&u.id)),
            pending_since: Some(u.created_at.clone()),
        }
    }
}

impl From<UploadItem> for Upload {
    fn from(u: UploadItem) -> Self {
        Upload {
            id: u
                .id
                .strip_prefix(UploadItem::PREFIX)
                .unwrap_or(&u.id)
                .to_string(),
            conversation_id: u.conversation_id,
            owner_id: u.owner_id,
            content_type: u.content_type,
            name: u.name,
            size: u.size,
            created_at: u.created_at,
            state: u.state,
            error: u.error,
            width: u.width,
            height: u.height,
            stored_size: u.stored_size,
            thumbnail: u.thumbnail,
            message_id: u.message_id,
        }
    }
}

/// A user's push row in the Users table, beside their profile: their
/// devices and settings. Its id holds a `#`, as a username claim's does, so
/// it never collides with a profile; it has no `listPk`, so `listUsers`
/// never sees it; only its user reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushItem {
    pub id: String,
    pub owner_id: String,
    #[serde(default)]
    pub devices: Vec<DeviceItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd_until: Option<String>,
    #[serde(default)]
    pub hide_content: bool,
    /// Absent: mentions get through a mute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentions: Option<bool>,
    /// Counts the row's writes; each is conditioned on the one it read.
    pub rev: u64,
    /// Written by the API: the stream's mappings leave it alone (see
    /// [`UserItem::push_until`]).
    pub push_until: i64,
}

/// One device on a [`PushItem`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceItem {
    pub id: String,
    pub platform: Platform,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p256dh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    pub created_at: String,
}

/// The row that says whose a device's token is, so that a token registered
/// by a second user leaves the first (a phone that changed hands).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceClaimItem {
    pub id: String,
    pub owner_id: String,
    pub push_until: i64,
}

impl PushItem {
    pub fn id_of(user_id: &str) -> String {
        format!("PUSH#{user_id}")
    }

    pub fn new(profile: &PushProfile, rev: u64) -> Self {
        let settings = &profile.settings;
        PushItem {
            id: Self::id_of(&profile.user_id),
            owner_id: profile.user_id.clone(),
            devices: profile.devices.iter().map(DeviceItem::from).collect(),
            dnd_until: settings.dnd_until.clone(),
            hide_content: settings.hide_content,
            mentions: (!settings.mentions).then_some(false),
            rev,
            push_until: 0,
        }
    }
}

impl DeviceClaimItem {
    pub fn id_of(device_id: &str) -> String {
        format!("DEVICE#{device_id}")
    }
}

impl From<PushItem> for PushProfile {
    fn from(p: PushItem) -> Self {
        PushProfile {
            user_id: p.owner_id,
            devices: p.devices.into_iter().map(Device::from).collect(),
            settings: PushSettings {
                dnd_until: p.dnd_until,
                hide_content: p.hide_content,
                mentions: p.mentions.unwrap_or(true),
            },
            rev: p.rev,
        }
    }
}

impl From<&Device> for DeviceItem {
    fn from(d: &Device) -> Self {
        DeviceItem {
            id: d.id.clone(),
            platform: d.platform,
            token: d.token.clone(),
            app_id: d.app_id.clone(),
            p256dh: d.p256dh.clone(),
            auth: d.auth.clone(),
            created_at: d.created_at.clone(),
        }
    }
}

impl From<DeviceItem> for Device {
    fn from(d: DeviceItem) -> Self {
        Device {
            id: d.id,
            platform: d.platform,
            token: d.token,
            app_id: d.app_id,
            p256dh: d.p256dh,
            auth: d.auth,
            created_at: d.created_at,
        }
    }
}

/// A user's block list in the Conversations table: `id: BLOCKS#<user id>`,
/// its entries and the version every write of it checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockListItem {
    pub id: String,
    #[serde(default)]
    pub entries: Vec<BlockedEntry>,
    pub version: u64,
}

/// One entry of a block list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockedEntry {
    pub user_id: String,
    pub blocked_at: String,
}

impl BlockListItem {
    pub const PREFIX: &'static str = "BLOCKS#";

    pub fn id_of(user_id: &str) -> String {
        format!("{}{user_id}", Self::PREFIX)
    }

    pub fn new(user_id: &str, list: &BlockList) -> Self {
        BlockListItem {
            id: Self::id_of(user_id),
            entries: list
                .entries
                .iter()
                .map(|b| BlockedEntry {
                    user_id: b.user_id.clone(),
                    blocked_at: b.blocked_at.clone(),
                })
                .collect(),
            version: list.version,
        }
    }
}

impl From<BlockListItem> for BlockList {
    fn from(item: BlockListItem) -> Self {
        BlockList {
            entries: item
                .entries
                .into_iter()
                .map(|e| Blocked {
                    user_id: e.user_id,
                    blocked_at: e.blocked_at,
                })
                .collect(),
            version: item.version,
        }
    }
}

/// One block in the Conversations table: `id: BLOCK#<blocker>#<blocked>`,
/// keyed again by the sparse `blockers` index (`blockedId` / `blockerId`)
/// so the writers of a message find who blocks its author.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockItem {
    pub id: String,
    pub blocker_id: String,
    pub blocked_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_at: Option<String>,
}

impl BlockItem {
    pub const PREFIX: &'static str = "BLOCK#";

    pub fn id_of(blocker: &str, blocked: &str) -> String {
        format!("{}{blocker}#{blocked}", Self::PREFIX)
    }
}

/// A suspension or ban in the Conversations table: `id: STANDING#<user id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandingItem {
    pub id: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub banned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_until: Option<String>,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StandingItem {
    pub const PREFIX: &'static str = "STANDING#";

    pub fn id_of(user_id: &str) -> String {
        format!("{}{user_id}", Self::PREFIX)
    }
}

impl From<&Standing> for StandingItem {
    fn from(s: &Standing) -> Self {
        StandingItem {
            id: Self::id_of(&s.user_id),
            user_id: s.user_id.clone(),
            banned: s.banned,
            suspended_until: s.suspended_until.clone(),
            by: s.by.clone(),
            at: s.at.clone(),
            reason: s.reason.clone(),
        }
    }
}

impl From<StandingItem> for Standing {
    fn from(s: StandingItem) -> Self {
        Standing {
            user_id: s.user_id,
            banned: s.banned,
            suspended_until: s.suspended_until,
            by: s.by,
            at: s.at,
            reason: s.reason,
        }
    }
}
