//! The ports: storage, one small trait per aggregate ([`UserStore`],
//! [`ConversationStore`], [`MessageStore`], composed into [`ChatStore`]),
//! and the [`Publisher`] that pushes new rows. The use-cases need exactly
//! these requests; each method is one DynamoDB request in the production
//! adapter (the counts in schema/TABLES.md are these calls).

use std::future::Future;

use futures::future::BoxFuture;

use crate::attachments::{PresignedUpload, Upload};
use crate::devices::{Device, Notification, NotifyLevel, PushProfile, PushSettings, SendOutcome};
use crate::error::Result;
use crate::model::{
    Conversation, ConvoLink, MemberChange, Message, MessageChange, Presence, ReadMarker, Typing,
    User,
};
use crate::moderation::{AuditEntry, Filed, Report, ReportEntry, ReportTarget};
use crate::page::{Cursor, PageQuery, SortDirection};
use crate::rate_limits::{Counted, RateCount};
use crate::safety::{BlockChange, BlockList, Saved, Standing};

/// How an attempt to create a user profile ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateUserOutcome {
    Created,
    /// A profile with this id exists already.
    IdTaken,
    /// Another user holds this username.
    UsernameTaken,
}

/// How an attempt to add a member ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddMemberOutcome {
    Added,
    /// The user was a member already: nothing changed.
    AlreadyMember,
    /// The caller is not a member of the conversation (or it does not exist).
    CallerNotMember,
    /// There is no user with that id.
    UserMissing,
    /// The conversation has `max_members` members.
    Full,
}

/// How an attempt to store a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMessageOutcome {
    Created,
    /// A message with this id exists in this conversation: here it is, and
    /// where its push stands.
    Exists(Box<Message>, PushState),
    /// One of its attachments' uploads changed since it was read (its
    /// processing ended, or another message took it): read again and retry.
    UploadsMoved,
}

/// How an attempt to change a stored message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    Changed,
    /// The message changed since it was read (another edit, or a delete):
    /// read again and retry.
    Moved,
}

/// Where the push of a stored message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    /// Its writer posted it to every subscriber (or it was written outside
    /// the API, and the stream pushed it).
    Done,
    /// A writer holds the push until this time (epoch milliseconds). Past it,
    /// that writer died or gave up, and a retry may take the push over.
    Pending(i64),
}

/// A new row the API wrote, to push to the connections subscribed to it.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new, edited or deleted message.
    Message(&'a MessageChange),
    /// A member joined, left, was removed or promoted.
    Member(&'a MemberChange),
    /// A member's read marker moved.
    Read(&'a ReadMarker),
    User(&'a User),
    Link(&'a ConvoLink),
    /// A member is typing: pushed to the conversation's other members only.
    Typing(&'a Typing),
    /// A member came online or went offline.
    Presence(&'a Presence),
}

/// What one push did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Pushed {
    /// Connections the row was posted to.
    pub sent: usize,
    /// Connections that were gone (and are now removed).
    pub gone: usize,
    /// Connections whose post still failed after its retries.
    pub failed: usize,
    /// Of the above, the posts other invocations made for the writer (a large
    /// conversation's subscribers beyond what one writer posts itself).
    pub relayed: usize,
}

impl Pushed {
    /// No connection was subscribed: nothing was posted, or even tried.
    pub fn reached_nobody(&self) -> bool {
        self.sent + self.gone + self.failed == 0
    }
}

/// Pushing new rows to their subscribers, from the function that wrote them.
pub trait Publisher: Send + Sync {
    /// Posts `change` to every connection subscribed to it now, concurrently.
    /// Fails only when the subscribers could not be read, which happens
    /// before anything is posted.
    fn publish(&self, change: Change<'_>) -> impl Future<Output = Result<Pushed>> + Send;

    /// Ends every live subscription of `user_id` to the conversation's
    /// changes (the user left or was removed); returns how many.
    fn revoke(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<usize>> + Send;

    /// Closes every open socket of `user_id` (suspended or banned) with
    /// 4403 "Forbidden" and forgets its subscriptions; returns how many.
    fn disconnect(&self, user_id: &str) -> impl Future<Output = Result<usize>> + Send;
}

/// Items fetched together in one batch read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub users: Vec<User>,
    pub conversations: Vec<Conversation>,
}

/// The Users table: profiles, their usernames and presence.
pub trait UserStore: Send + Sync {
    fn get_user(&self, id: &str) -> impl Future<Output = Result<Option<User>>> + Send;

    /// Creates the profile and claims its username atomically.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<CreateUserOutcome>> + Send;

    /// Users ordered by username.
    fn list_users(
        &self,
        page: &PageQuery,
    ) -> impl Future<Output = Result<(Vec<User>, Option<Cursor>)>> + Send;

    /// Records that `user_id` is `online` (or not), as observed at `at_ms`
    /// (epoch milliseconds), unless a later observation is recorded already;
    /// `true` when this changed whether they are online. A user without a
    /// profile has no presence: `false`.
    fn set_presence(
        &self,
        user_id: &str,
        online: bool,
        at_ms: i64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The owners of those of `usernames` (lowercased) that are taken, as
    /// `(lowercased username, user id)`, in one batch read of their claims.
    fn users_by_username(
        &self,
        usernames: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
}

/// The Conversations and ConvoLinks tables: conversations, their members and owners, and each member's link (inbox activity and read marker).
pub trait ConversationStore: Send + Sync {
    /// Users and conversations by id, in one batch read. Missing ids are left out.
    fn batch_get(
        &self,
        user_ids: &[String],
        conversation_ids: &[String],
    ) -> impl Future<Output = Result<Batch>> + Send;

    /// The caller's membership link and, when asked, the conversation, in one read.
    fn membership(
        &self,
        user_id: &str,
        conversation_id: &str,
        with_conversation: bool,
    ) -> impl Future<Output = Result<(Option<ConvoLink>, Option<Conversation>)>> + Send;

    /// Creates the conversation and every member's link atomically.
    fn create_conversation(
        &self,
        conversation: &Conversation,
        links: &[ConvoLink],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Adds `link`'s user to its conversation, atomically checking that
    /// `caller_id` is a member, the user exists and the conversation has
    /// fewer than `max_members`; the conversation lists them while it lists
    /// fewer than `limits::MAX_LISTED_MEMBERS`, and counts them always.
    fn add_member(
        &self,
        caller_id: &str,
        link: &ConvoLink,
        max_members: usize,
    ) -> impl Future<Output = Result<AddMemberOutcome>> + Send;

    /// A user's links, ordered by conversation id (creation time).
    fn links_of_user(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> impl Future<Output = Result<(Vec<ConvoLink>, Option<Cursor>)>> + Send;

    /// The links of `user_ids` to a conversation, in one batch read;
    /// non-members are left out.
    fn links_of(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<ConvoLink>>> + Send;

    /// Every member's id, from their links.
    fn member_ids(&self, conversation_id: &str)
        -> impl Future<Output = Result<Vec<String>>> + Send;

    /// A conversation's links, ordered by user id.
    fn links_of_conversation(
        &self,
        conversation_id: &str,
        page: &PageQuery,
    ) -> impl Future<Output = Result<(Vec<ConvoLink>, Option<Cursor>)>> + Send;

    /// Writes a conversation's new listed `members`, `owners` and
    /// `member_count` over the revision `read.rev` it was read at, deleting
    /// `remove`'s link in the same write; `false` if the conversation
    /// changed since (read it again).
    fn change_members(
        &self,
        read: &Conversation,
        members: &[String],
        owners: &[String],
        member_count: usize,
        remove: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// A user's conversations, most recently active first.
    fn inbox(
        &self,
        user_id: &str,
        page: &PageQuery,
    ) -> impl Future<Output = Result<(Vec<ConvoLink>, Option<Cursor>)>> + Send;

    /// Moves a member's read marker to `marker`, forward only; `false` if
    /// it was there or further already (or the member is gone).
    fn mark_read(&self, marker: &ReadMarker) -> impl Future<Output = Result<bool>> + Send;

    /// Records activity at `seq` in a conversation: its members' inboxes
    /// move it up, at most once per `window_ms` (the first change after a
    /// quiet spell claims the window and updates every member's link; 0:
    /// every time, with no claim). A `conversation` read with its window
    /// claimed costs no request. Returns how many links it updated.
    fn bump_activity(
        &self,
        conversation: &Conversation,
        seq: &str,
        window_ms: i64,
    ) -> impl Future<Output = Result<usize>> + Send;
}

/// The Messages table: messages, their pushes, and the conversations' change logs.
pub trait MessageStore: Send + Sync {
    /// A conversation's newest message by anyone but `hidden` (the
    /// reader's blocked users), if any among its newest 75.
    fn latest_message(
        &self,
        conversation_id: &str,
        hidden: &[String],
    ) -> impl Future<Output = Result<Option<Message>>> + Send;

    /// How many messages of a conversation after `after` (a `seq`; `None`:
    /// all) are by someone other than `user_id` and `hidden`, and not
    /// deleted, counting no further than `cap + 1`.
    fn count_unread(
        &self,
        conversation_id: &str,
        user_id: &str,
        after: Option<&str>,
        cap: usize,
        hidden: &[String],
    ) -> impl Future<Output = Result<usize>> + Send;

    /// Stores a new message, unless its id is taken in its conversation,
    /// whose push its writer holds until `push_until` (epoch milliseconds),
    /// together with its change-log entry and its author's read marker
    /// (moved to it, forward only), in one write.
    fn put_message(
        &self,
        change: &MessageChange,
        push_until: i64,
    ) -> impl Future<Output = Result<PutMessageOutcome>> + Send;

    /// The caller's membership link, the conversation and one of its
    /// messages, in one consistent read ([`Self::messages_context`] of one).
    fn message_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<(Option<ConvoLink>, Option<Conversation>, Option<Message>)>> + Send
    {
        async move {
            let ids = [message_id.to_string()];
            let (link, convo, mut messages) = self
                .messages_context(user_id, conversation_id, &ids, true)
                .await?;
            Ok((link, convo, messages.pop()))
        }
    }

    /// The caller's membership link, the conversation when asked, and those
    /// of `message_ids` that the conversation holds, as they are now, in
    /// one consistent read.
    fn messages_context(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_ids: &[String],
        with_conversation: bool,
    ) -> impl Future<Output = Result<(Option<ConvoLink>, Option<Conversation>, Vec<Message>)>> + Send;

    /// Replaces a stored message by `change.message`, if it is still at
    /// `change.message.version - 1`, together with its change-log entry, in
    /// one write. The uploads `released` (attachments the change took off)
    /// are handed to the upload sweeper in the same write, so their files
    /// go even if their removal right after fails.
    fn change_message(
        &self,
        change: &MessageChange,
        released: &[String],
    ) -> impl Future<Output = Result<ChangeOutcome>> + Send;

    /// The change log of a conversation after the key `after`, oldest
    /// first, at most `limit` entries; strongly consistent.
    fn changes(
        &self,
        conversation_id: &str,
        after: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MessageChange>>> + Send;

    /// Records that the message's push is done.
    fn finish_push(&self, message: &Message) -> impl Future<Output = Result<()>> + Send;

    /// Moves the message's push from the holder whose hold ends at `held_until`
    /// to one holding it until `until`; `false` if someone else moved it first.
    /// Handing back (`until` in the past) lets a retry take it over at once.
    fn take_push(
        &self,
        message: &Message,
        held_until: i64,
        until: i64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// A conversation's messages in server (ULID) order.
    fn messages(
        &self,
        conversation_id: &str,
        page: &PageQuery,
        direction: SortDirection,
    ) -> impl Future<Output = Result<(Vec<Message>, Option<Cursor>)>> + Send;
}

/// How an attempt to register a device ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterDeviceOutcome {
    /// Stored (or stored again, with its new keys).
    Registered,
    /// The user has `max` devices already, none of them this one.
    TooMany,
    /// The user's devices, or the token's owner, changed since they were
    /// read: read again.
    Moved,
}

/// Push notifications' state: each user's devices and settings (a row of
/// the Users table beside the profile), each member's level and coalescing
/// slot (on their link).
pub trait PushStore: Send + Sync {
    /// The push rows of those of `user_ids` that have one, in one batch read
    /// (or one per 100 ids).
    fn push_profiles(
        &self,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<PushProfile>>> + Send;

    /// Stores `device` among `read`'s devices (the profile as read, which
    /// fixes the revision the write is conditioned on) and claims its token
    /// for `read`'s user over the claim as read (`claimed_by`: nobody, the
    /// user, or the user it was just taken from), in one transaction.
    fn register_device(
        &self,
        read: &PushProfile,
        device: &Device,
        claimed_by: Option<&str>,
        max_devices: usize,
    ) -> impl Future<Output = Result<RegisterDeviceOutcome>> + Send;

    /// Who holds the device id's token now, if anyone.
    fn device_owner(&self, device_id: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Removes the device from `user_id`'s devices, and its token's claim;
    /// `false` if the user has no such device.
    fn unregister_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Writes the user's settings (creating their push row if need be).
    fn set_push_settings(
        &self,
        user_id: &str,
        settings: &PushSettings,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets a member's level for a conversation; `false` if they are not a
    /// member.
    fn set_notify_level(
        &self,
        user_id: &str,
        conversation_id: &str,
        level: NotifyLevel,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Takes the member's push slot for the conversation for `message_id`:
    /// `true` when their last push was at least `interval_ms` before
    /// `now_ms`, or was for this very message (a retry), and records it.
    fn claim_push(
        &self,
        user_id: &str,
        conversation_id: &str,
        message_id: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Sending one notification to one device, through its platform's service.
pub trait Pusher: Send + Sync {
    fn send(
        &self,
        device: &Device,
        notification: &Notification,
    ) -> impl Future<Output = SendOutcome> + Send;
}

/// All the storage the use-cases need: every aggregate's store. A reader
/// of a whole selection (see [`crate::graph`]) needs all three; a feature
/// that touches less asks for less.
pub trait ChatStore:
    UserStore + ConversationStore + MessageStore + UploadStore + RateStore + ReportStore + SafetyStore
{
}

impl<T> ChatStore for T where
    T: UserStore
        + ConversationStore
        + MessageStore
        + UploadStore
        + RateStore
        + ReportStore
        + SafetyStore
{
}

/// Blocks and users' standing (see [`crate::blocks`] and
/// [`crate::standing`]), kept beside the conversations.
pub trait SafetyStore: Send + Sync {
    /// The user's block list, strongly consistent: what they blocked a
    /// moment ago is in it.
    fn block_list(&self, user_id: &str) -> impl Future<Output = Result<BlockList>> + Send;

    /// Writes `list` (its version one past the one read) if the stored
    /// list is still at `list.version - 1`, with `change`'s pair row, in
    /// one transaction.
    fn save_block_list(
        &self,
        user_id: &str,
        list: &BlockList,
        change: BlockChange<'_>,
    ) -> impl Future<Output = Result<Saved>> + Send;

    /// Everyone who blocks `user_id`, from the reverse index (eventually
    /// consistent: a block is in it within about a second).
    fn blockers_of(&self, user_id: &str) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Of `users`, those who block `user_id`, strongly consistent.
    fn who_block(
        &self,
        user_id: &str,
        users: &[String],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// What stands against the user, if anything (it may have ended).
    fn standing(&self, user_id: &str) -> impl Future<Output = Result<Option<Standing>>> + Send;

    /// Records `standing` (replacing any) and logs `audit`, in one write.
    fn set_standing(
        &self,
        standing: &Standing,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Lifts what stands against the user and logs `audit`, in one write;
    /// the standing lifted, or `None` if there was none.
    fn clear_standing(
        &self,
        user_id: &str,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<Option<Standing>>> + Send;
}

/// Reports, kept beside the conversations (see [`crate::reports`]).
pub trait ReportStore: Send + Sync {
    /// Adds `entry` to the report of `target` (made, or opened again after
    /// a dismissal) unless its reporter's entry is there already; one
    /// conditional write.
    fn file_report(
        &self,
        target: &ReportTarget,
        entry: &ReportEntry,
    ) -> impl Future<Output = Result<Filed>> + Send;

    /// The open reports, the longest open first.
    fn open_reports(
        &self,
        page: &PageQuery,
    ) -> impl Future<Output = Result<(Vec<Report>, Option<Cursor>)>> + Send;

    /// Closes a report as `audit` says (dismissed, by its moderator, at its
    /// time) and logs it, in one write; `None` if there is no such report.
    fn dismiss_report(
        &self,
        id: &str,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<Option<Report>>> + Send;

    /// A moderator's removal: `change` as [`MessageStore::change_message`]
    /// writes it, with `audit` logged and the report `report_id` (if any,
    /// and if it exists) closed as actioned, all in one write.
    fn remove_message(
        &self,
        change: &MessageChange,
        released: &[String],
        audit: &AuditEntry,
        report_id: Option<&str>,
    ) -> impl Future<Output = Result<ChangeOutcome>> + Send;

    /// The moderators' audit log, newest first.
    fn audit_log(
        &self,
        page: &PageQuery,
    ) -> impl Future<Output = Result<(Vec<AuditEntry>, Option<Cursor>)>> + Send;
}

/// Per-user rate counts (see [`crate::rates`]), kept beside the
/// conversations.
pub trait RateStore: Send + Sync {
    /// Adds `count.cost` to the user's count for its action and window if
    /// the window stays within `max` (and the slot within its cap); one
    /// conditional write.
    fn count_rate(&self, count: &RateCount) -> impl Future<Output = Result<Counted>> + Send;
}

/// Uploads (see [`crate::attachments`]), kept beside the conversations.
/// A message's write attaches its uploads (see [`MessageStore::put_message`]).
pub trait UploadStore: Send + Sync {
    /// Stores a new upload, pending, in the sweeper's index until attached.
    fn put_upload(&self, upload: &Upload) -> impl Future<Output = Result<()>> + Send;

    /// Those of `ids` that exist, in one strongly consistent read.
    fn uploads(&self, ids: &[String]) -> impl Future<Output = Result<Vec<Upload>>> + Send;

    /// Records the end of an upload's processing (`done` is ready or
    /// failed, with what processing found), if it is still pending;
    /// returns the upload as it is then (with the message it is attached
    /// to, if any), or `None` if it is not pending or not there.
    fn finish_upload(&self, done: &Upload) -> impl Future<Output = Result<Option<Upload>>> + Send;

    /// Uploads in the sweeper's index since before `before` (RFC 3339):
    /// never attached, or released by their message. At most `limit`.
    fn expired_uploads(
        &self,
        before: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Upload>>> + Send;

    /// Claims those of `ids` still in the sweeper's index for removal: a
    /// claimed upload can no longer be attached. Returns the ids claimed.
    fn claim_uploads(&self, ids: &[String]) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Removes upload rows.
    fn delete_uploads(&self, ids: &[String]) -> impl Future<Output = Result<()>> + Send;
}

/// The object storage that holds attachments' files (S3). Its futures are
/// boxed so that the service can hold it as a trait object: a stack
/// without a bucket has none, and refuses attachments.
pub trait Media: Send + Sync + std::fmt::Debug {
    /// A presigned upload of exactly `size` bytes of `content_type` to
    /// `key`, good for `expires_secs`.
    fn presign_upload<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        expires_secs: u64,
    ) -> BoxFuture<'a, Result<PresignedUpload>>;

    /// A presigned GET of `key`, signed as of `signed_at` (epoch seconds)
    /// and good for `expires_secs` from then; served with `disposition`
    /// (`inline` or `attachment`, with the file's name).
    fn presign_download<'a>(
        &'a self,
        key: &'a str,
        disposition: &'a str,
        signed_at: u64,
        expires_secs: u64,
    ) -> BoxFuture<'a, Result<String>>;

    /// The first `n` bytes of `key` (fewer if it is shorter), or `None` if
    /// there is no such object.
    fn first_bytes<'a>(&'a self, key: &'a str, n: usize) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Deletes objects (absent ones are no error).
    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<()>>;
}
