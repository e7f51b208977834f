//! In-memory adapters of the ports, for unit tests of the use-cases: a
//! store that keeps the tables' rules ([`MemoryStore`]) and a publisher
//! that records what it was asked to push ([`MemoryPublisher`]).
//!
//! The store answers as the DynamoDB adapter does, request for request: the
//! same conditions (an id or a username taken, a member already in, a
//! version or a revision moved), the same orders (users by username, links
//! by conversation or user id, the inbox by activity, messages by `seq`, the
//! change log by key) and the same pages (a full page carries a cursor).
//! What it cannot show is what only a real engine does: concurrency between
//! requests, and the request counts. The integration suite holds those,
//! against the embedded engine and Amazon DynamoDB Local.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::attachments::{AttachmentState, Upload};
use crate::clock::{now, now_ms, time_at};
use crate::devices::{Device, Notification, NotifyLevel, PushProfile, PushSettings, SendOutcome};
use crate::error::{Error, Result};
use crate::model::{
    Conversation, ConvoLink, MemberChange, Message, MessageChange, Presence, ReadMarker, Typing,
    User,
};
use crate::moderation::{AuditEntry, Filed, Report, ReportEntry, ReportStatus, ReportTarget};
use crate::page::{Cursor, PageQuery, SortDirection};
use crate::ports::{
    AddMemberOutcome, Batch, Change, ChangeOutcome, ConversationStore, CreateUserOutcome,
    MessageStore, Publisher, PushState, PushStore, Pushed, Pusher, PutMessageOutcome, RateStore,
    RegisterDeviceOutcome, ReportStore, SafetyStore, UploadStore, UserStore,
};
use crate::rate_limits::{Counted, RateCount};
use crate::safety::{BlockChange, BlockList, Saved, Standing};

/// A request the memory store refuses as DynamoDB would fail it (a
/// transaction whose condition failed where the port has no outcome for
/// it): an internal failure, as the adapter reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(&'static str);

fn refused(why: &'static str) -> Error {
    Error::Store(Box::new(Refused(why)))
}

#[derive(Debug, Default)]
struct Tables {
    users: BTreeMap<String, User>,
    presence_at: HashMap<String, i64>,
    /// Lowercased username → owner id.
    usernames: HashMap<String, String>,
    conversations: BTreeMap<String, Conversation>,
    /// By (user id, conversation id), the table's key.
    links: BTreeMap<(String, String), ConvoLink>,
    /// By (conversation id, message id), with the push's hold.
    messages: BTreeMap<(String, String), (Message, Option<i64>)>,
    /// By (conversation id, key).
    changes: BTreeMap<(String, String), MessageChange>,
    /// Push rows, by user id.
    push: BTreeMap<String, PushProfile>,
    /// Device id → the user whose device it is.
    device_owners: HashMap<String, String>,
    /// Uploads by id, each with when it entered the sweeper's index
    /// (`None`: attached).
    uploads: BTreeMap<String, (Upload, Option<String>)>,
    /// Uploads the sweeper claimed: no longer attachable.
    claimed: std::collections::HashSet<String>,
    /// Rate counts by (user, action, window start).
    rates: HashMap<(String, &'static str, i64), RateRow>,
    /// Reports by id, and who reported each, when.
    reports: BTreeMap<String, Report>,
    reporters: HashMap<String, std::collections::HashSet<String>>,
    /// The moderators' audit log, by entry id.
    audit: BTreeMap<String, AuditEntry>,
    /// Block lists, by their owner.
    blocks: HashMap<String, BlockList>,
    /// Suspensions and bans, by user.
    standing: HashMap<String, Standing>,
}

/// One rate count's row: the window's count, and each burst slot's.
type RateRow = (u32, HashMap<u32, u32>);

/// The store ports over maps in memory. Clones share the tables, as two
/// functions share one database.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    tables: std::sync::Arc<Mutex<Tables>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut tables)
    }

    /// Where a stored message's push stands (a test's view of `pushUntil`).
    pub fn push_state(&self, conversation_id: &str, message_id: &str) -> Option<PushState> {
        self.with(|t| {
            t.messages
                .get(&(conversation_id.to_string(), message_id.to_string()))
                .map(|(_, hold)| hold.map_or(PushState::Done, PushState::Pending))
        })
    }

    /// Every change-log entry of a conversation, oldest first.
    pub fn change_log(&self, conversation_id: &str) -> Vec<MessageChange> {
        self.with(|t| {
            t.changes
                .iter()
                .filter(|((c, _), _)| c == conversation_id)
                .map(|(_, change)| change.clone())
                .collect()
        })
    }
}

impl RateStore for MemoryStore {
    async fn count_rate(&self, count: &RateCount) -> Result<Counted> {
        Ok(self.with(|t| {
            let key = (count.user_id.clone(), count.action, count.window_start);
            let (in_window, slots) = t.rates.entry(key).or_default();
            let in_slot = count
                .slot
                .map_or(0, |(i, _)| slots.get(&i).copied().unwrap_or(0));
            let over_slot = count
                .slot
                .is_some_and(|(_, max)| in_slot + count.cost > max);
            if *in_window + count.cost > count.max || over_slot {
                return Counted::Refused(Some((*in_window, in_slot)));
            }
            *in_window += count.cost;
            if let Some((i, _)) = count.slot {
                *slots.entry(i).or_default() += count.cost;
            }
            Counted::Taken
        }))
    }
}

impl ReportStore for MemoryStore {
    async fn file_report(&self, target: &ReportTarget, entry: &ReportEntry) -> Result<Filed> {
        Ok(self.with(|t| {
            let id = target.report_id();
            let report = t.reports.entry(id.clone()).or_insert_with(|| Report {
                id,
                kind: target.kind(),
                user_id: target.user_id().to_string(),
                conversation_id: None,
                message_id: None,
                status: ReportStatus::Open,
                opened_at: entry.reported_at.clone(),
                entries: Vec::new(),
                reporters: 0,
                resolved_by: None,
                resolved_at: None,
            });
            if let ReportTarget::Message {
                conversation_id,
                message_id,
                ..
            } = target
            {
                report.conversation_id = Some(conversation_id.clone());
                report.message_id = Some(message_id.clone());
            }
            let reporters = t.reporters.entry(report.id.clone()).or_default();
            if !reporters.insert(entry.reporter_id.clone()) {
                return Filed::Duplicate;
            }
            if report.status != ReportStatus::Open {
                report.status = ReportStatus::Open;
                report.resolved_by = None;
                report.resolved_at = None;
            }
            if report.entries.len() < crate::limits::MAX_REPORT_ENTRIES {
                report.entries.push(entry.clone());
            }
            report.reporters += 1;
            Filed::Added
        }))
    }

    async fn open_reports(&self, page: &PageQuery) -> Result<(Vec<Report>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let rows = t
                .reports
                .values()
                .filter(|r| r.status == ReportStatus::Open)
                .map(|r| (format!("{}#{}", r.opened_at, r.id), r.clone()))
                .collect();
            page_of(rows, page, SortDirection::Asc)
        }))
    }

    async fn dismiss_report(&self, id: &str, audit: &AuditEntry) -> Result<Option<Report>> {
        Ok(self.with(|t| {
            let report = t.reports.get_mut(id)?;
            report.status = ReportStatus::Dismissed;
            report.resolved_by = Some(audit.moderator_id.clone());
            report.resolved_at = Some(audit.at.clone());
            let report = report.clone();
            t.audit.insert(audit.id.clone(), audit.clone());
            Some(report)
        }))
    }

    async fn remove_message(
        &self,
        change: &MessageChange,
        released: &[String],
        audit: &AuditEntry,
        report_id: Option<&str>,
    ) -> Result<ChangeOutcome> {
        let outcome = self.change_message(change, released).await?;
        if outcome == ChangeOutcome::Changed {
            self.with(|t| {
                if let Some((stored, _)) = t
                    .messages
                    .get_mut(&(change.conversation_id.clone(), change.message.id.clone()))
                {
                    stored.removed_by_moderator = change.message.removed_by_moderator;
                }
                if let Some(report) = report_id.and_then(|id| t.reports.get_mut(id)) {
                    report.status = ReportStatus::Actioned;
                    report.resolved_by = Some(audit.moderator_id.clone());
                    report.resolved_at = Some(audit.at.clone());
                }
                t.audit.insert(audit.id.clone(), audit.clone());
            });
        }
        Ok(outcome)
    }

    async fn audit_log(&self, page: &PageQuery) -> Result<(Vec<AuditEntry>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let rows = t
                .audit
                .values()
                .map(|a| (a.id.clone(), a.clone()))
                .collect();
            page_of(rows, page, SortDirection::Desc)
        }))
    }
}

/// One page of `rows`, sorted by their key, read after the cursor in
/// `page` in `direction`: a full page carries the cursor of its last row,
/// as DynamoDB's LastEvaluatedKey does.
fn page_of<T: Clone>(
    rows: Vec<(String, T)>,
    page: &PageQuery,
    direction: SortDirection,
) -> (Vec<T>, Option<Cursor>) {
    let after = page
        .after
        .as_ref()
        .and_then(|c| c.as_str())
        .map(str::to_string);
    let mut rows = rows;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if direction == SortDirection::Desc {
        rows.reverse();
    }
    let rows: Vec<(String, T)> = rows
        .into_iter()
        .filter(|(key, _)| match (&after, direction) {
            (None, _) => true,
            (Some(a), SortDirection::Asc) => key > a,
            (Some(a), SortDirection::Desc) => key < a,
        })
        .take(page.limit as usize)
        .collect();
    let cursor = (rows.len() == page.limit as usize)
        .then(|| rows.last().map(|(key, _)| Cursor::String(key.clone())))
        .flatten();
    (rows.into_iter().map(|(_, row)| row).collect(), cursor)
}

impl Tables {
    /// A page of the links `sort_key` keeps, by the key it gives them (the
    /// key of the index the adapter reads).
    fn links_page(
        &self,
        page: &PageQuery,
        direction: SortDirection,
        sort_key: impl Fn(&ConvoLink) -> Option<String>,
    ) -> (Vec<ConvoLink>, Option<Cursor>) {
        let rows = self
            .links
            .values()
            .filter_map(|link| Some((sort_key(link)?, link.clone())))
            .collect();
        page_of(rows, page, direction)
    }
}

/// A read marker moves forward only, and only on a link that exists.
fn move_marker(link: Option<&mut ConvoLink>, seq: &str, message_id: &str) -> bool {
    match link {
        Some(link)
            if link
                .last_read
                .as_ref()
                .is_none_or(|(at, _)| at.as_str() < seq) =>
        {
            link.last_read = Some((seq.to_string(), message_id.to_string()));
            true
        }
        _ => false,
    }
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

mod conversations;
mod media;
mod messages;
mod publisher;
mod push;
mod safety;
mod users;

pub use media::MemoryMedia;
pub use publisher::{MemoryPublisher, Published};
pub use push::MemoryPusher;
