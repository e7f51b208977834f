//! Domain types. Their serialized field names are the GraphQL schema's, so a
//! resolver can return them as they are.

use serde::{Deserialize, Serialize};

use crate::attachments::Attachment;

/// The verified caller of a request: who the token says they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`; also the caller's user id.
    pub id: String,
    /// The token's `cognito:username`.
    pub username: String,
    /// The token's `cognito:groups` (`moderators`, say).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: String,
    pub created_at: String,
    pub updated_at: String,
    /// Whether the user holds at least one live WebSocket connection (see
    /// [`Presence`]).
    #[serde(default)]
    pub online: bool,
    /// When the user was last seen connected: set as they come online and
    /// as they go offline; `None` before their first connection.
    #[serde(default)]
    pub last_seen_at: Option<String>,
}

/// A member signalling that they are typing in a conversation: what
/// `typing` answers and `onTyping` pushes to the other members. Never
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub conversation_id: String,
    pub user_id: String,
    /// When a client stops showing it, unless a newer signal comes first;
    /// a message from the same user ends it at once.
    pub expires_at: String,
    /// Whether it went out to the members: `false` when the signal came
    /// within the throttle interval of the last one, and was dropped.
    pub sent: bool,
}

/// A user coming online or going offline, as pushed to the members of one
/// conversation they share (`onPresence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub conversation_id: String,
    pub user_id: String,
    pub online: bool,
    pub last_seen_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub name: String,
    /// The members the conversation lists: every member up to
    /// `limits::MAX_LISTED_MEMBERS`, the creator first, in the order they
    /// joined; past that, the first to join. `lists_all` says which.
    pub members: Vec<String>,
    /// How many members it has, listed or not (absent on conversations
    /// stored before it: their list was whole).
    #[serde(default)]
    pub member_count: usize,
    /// User ids of the owners: the creator, and whoever an owner promoted.
    /// Owners remove members and promote others; the last owner cannot
    /// leave while others remain.
    #[serde(default)]
    pub owners: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Counts the changes to `members` and `owners`: a change is written
    /// only over the revision it was computed from.
    #[serde(skip)]
    pub rev: u64,
    /// When its activity was last copied to its members' inboxes (epoch
    /// ms), as read: a writer that sees it inside the current window
    /// knows the window is claimed without asking.
    #[serde(skip)]
    pub activity_at: Option<i64>,
}

impl Conversation {
    /// Whether `members` holds every member, so that a user it leaves out
    /// is not one; otherwise their ConvoLinks row says.
    pub fn lists_all(&self) -> bool {
        self.members.len() >= self.member_count
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvoLink {
    pub id: String,
    pub convo_link_user_id: String,
    pub convo_link_conversation_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// When the conversation was last active, as this member's inbox
    /// orders it (a ULID: the joining, or a recent message's `seq`).
    #[serde(skip)]
    pub activity: Option<String>,
    /// The member's read marker: the last message they read (`seq`, id).
    #[serde(skip)]
    pub last_read: Option<(String, String)>,
    /// What the member hears of the conversation by push.
    #[serde(skip)]
    pub notify: crate::devices::NotifyLevel,
    /// The message the member's last push was for, and when (epoch ms):
    /// pushes are coalesced by it (see [`crate::notify`]).
    #[serde(skip)]
    pub pushed: Option<(String, i64)>,
}

impl ConvoLink {
    pub fn new(conversation_id: &str, user_id: &str, now: &str) -> Self {
        ConvoLink {
            id: Self::id_for(conversation_id, user_id),
            convo_link_user_id: user_id.to_string(),
            convo_link_conversation_id: conversation_id.to_string(),
            created_at: now.to_string(),
            updated_at: now.to_string(),
            // The same generator as messages' `seq`, so a conversation made in
            // the same millisecond as a message still sorts after it.
            activity: Some(crate::clock::next_seq()),
            last_read: None,
            notify: crate::devices::NotifyLevel::All,
            pushed: None,
        }
    }

    /// A link's id is derived from its two ends, so it is stable across retries.
    pub fn id_for(conversation_id: &str, user_id: &str) -> String {
        format!("{conversation_id}:{user_id}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", into = "MessageJson")]
pub struct Message {
    /// The client's idempotency key, or the server ULID when none was given.
    pub id: String,
    pub message_conversation_id: String,
    pub author_id: String,
    pub content: String,
    /// Server-assigned ULID: the order of the conversation, which clients
    /// place live messages by.
    pub seq: String,
    pub created_at: String,
    pub updated_at: String,
    /// When its author last edited it.
    #[serde(default)]
    pub edited_at: Option<String>,
    /// When its author deleted it: the message is then a tombstone, its
    /// content empty, its id and place in the history kept.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// 1 when posted, one more at each edit, delete or reaction: of two
    /// states of a message, the higher version is the later.
    #[serde(default = "first_version")]
    pub version: u32,
    /// Its reactions, in the order each was first put on it, with who put
    /// it. Not serialized as is: each viewer sees counts and whether they
    /// reacted (see [`Message::reactions_for`]).
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The members its `@username`s name, resolved by the server when it
    /// was posted or edited (user ids, in the order named). A name that is
    /// no member's is plain text.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Its files, in the order attached (see [`crate::attachments`]). The
    /// links in them are made for each read, never stored.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// A tombstone a moderator made (see [`crate::reports`]), not its author.
    #[serde(default)]
    pub removed_by_moderator: bool,
}

/// One reaction on a message and the users who put it, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// A reaction as one viewer sees it: `Message.reactions` in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionView {
    pub emoji: String,
    pub count: usize,
    /// Whether the viewer put this one.
    pub reacted: bool,
}

impl Message {
    /// The reactions as `viewer` sees them.
    pub fn reactions_for(&self, viewer: &str) -> Vec<ReactionView> {
        Reaction::views(&self.reactions, viewer)
    }
}

impl Reaction {
    /// `reactions` as `viewer` sees them.
    pub fn views(reactions: &[Reaction], viewer: &str) -> Vec<ReactionView> {
        reactions
            .iter()
            .map(|r| ReactionView {
                emoji: r.emoji.clone(),
                count: r.users.len(),
                reacted: r.users.iter().any(|u| u == viewer),
            })
            .collect()
    }
}

fn first_version() -> u32 {
    1
}

/// Where a member has read a conversation up to: what `markRead` sets and
/// `onReadMarker` pushes, so clients can draw read receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMarker {
    pub conversation_id: String,
    pub user_id: String,
    pub message_id: String,
    /// The message's `seq`: markers compare by it.
    pub seq: String,
}

/// What happened to a conversation's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberChangeKind {
    Joined,
    Left,
    Removed,
    Promoted,
}

/// A change to a conversation's membership: what `onMemberChange` pushes to
/// its members, and what the membership mutations answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberChange {
    pub kind: MemberChangeKind,
    pub conversation_id: String,
    /// Who joined, left, was removed or was promoted.
    pub user_id: String,
    /// Who did it.
    pub by: String,
}

/// What a change to a conversation's messages did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    Created,
    Edited,
    Deleted,
    /// A reaction was put on it or taken off.
    Reacted,
    /// One of its attachments finished processing (ready or failed).
    Processed,
}

/// One change to a conversation's messages, with the message as the change
/// left it: what `onMessageChange` pushes and `messageChanges` replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageChange {
    pub kind: ChangeKind,
    pub conversation_id: String,
    /// Its key in the conversation's change log: a ULID taken when the
    /// change was made (a new message's is its `seq`). Not sent to clients,
    /// which catch up from the cursor a `messageChanges` page gives.
    #[serde(skip)]
    pub key: String,
    pub message: Message,
    /// Users who block the message's author: its push leaves them out
    /// (see [`crate::blocks`]). Filled just before the push; never stored.
    #[serde(skip)]
    pub hidden_from: Vec<String>,
}

impl MessageChange {
    /// A new message of `author_id` in `conversation_id`, at its place `seq`
    /// and time `now`: version 1, unedited, with no reactions. Its
    /// change-log key is its `seq`.
    pub fn created(
        conversation_id: &str,
        id: &str,
        author_id: &str,
        content: &str,
        seq: &str,
        now: &str,
    ) -> Self {
        MessageChange {
            kind: ChangeKind::Created,
            conversation_id: conversation_id.to_string(),
            key: seq.to_string(),
            message: Message {
                id: id.to_string(),
                message_conversation_id: conversation_id.to_string(),
                author_id: author_id.to_string(),
                content: content.to_string(),
                seq: seq.to_string(),
                created_at: now.to_string(),
                updated_at: now.to_string(),
                edited_at: None,
                deleted_at: None,
                version: 1,
                reactions: Vec::new(),
                mentions: Vec::new(),
                attachments: Vec::new(),
                removed_by_moderator: false,
            },
            hidden_from: Vec::new(),
        }
    }

    /// The same change, its message mentioning `mentions`.
    pub fn with_mentions(mut self, mentions: Vec<String>) -> Self {
        self.message.mentions = mentions;
        self
    }

    pub fn with_attachments(mut self, attachments: Vec<Attachment>) -> Self {
        self.message.attachments = attachments;
        self
    }
}

/// A message as the API returns it: its fields, plus the three ChatQL's
/// client reads. `conversationId` and `sender` are ChatQL's names for
/// `messageConversationId` and `authorId`; `isSent` is its delivery mark,
/// true for every message the server returns, since it returns only stored
/// ones.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson {
    id: String,
    message_conversation_id: String,
    author_id: String,
    content: String,
    seq: String,
    created_at: String,
    updated_at: String,
    edited_at: Option<String>,
    deleted_at: Option<String>,
    version: u32,
    mentions: Vec<String>,
    attachments: Vec<Attachment>,
    removed_by_moderator: bool,
    conversation_id: String,
    sender: String,
    is_sent: bool,
}

impl From<Message> for MessageJson {
    fn from(m: Message) -> Self {
        MessageJson {
            conversation_id: m.message_conversation_id.clone(),
            sender: m.author_id.clone(),
            is_sent: true,
            id: m.id,
            message_conversation_id: m.message_conversation_id,
            author_id: m.author_id,
            content: m.content,
            seq: m.seq,
            created_at: m.created_at,
            updated_at: m.updated_at,
            edited_at: m.edited_at,
            deleted_at: m.deleted_at,
            version: m.version,
            mentions: m.mentions,
            attachments: m.attachments,
            removed_by_moderator: m.removed_by_moderator,
        }
    }
}
