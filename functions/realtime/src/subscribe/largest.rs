//! The largest payload each kind of topic can push: every string at its
//! limit, of the character JSON escapes longest. A document is refused at
//! `subscribe` when its payload of these could pass API Gateway's limit.

use super::*;

fn longest_id() -> String {
    "i".repeat(chat_domain::limits::MAX_ID_CHARS)
}

const LONGEST_TIME: &str = "2026-12-02T01:10:33.123456789+00:00";

/// The largest message: every string at its length limit, of the
/// character JSON escapes longest, with as many reactions as it can hold
/// (`MAX_REACTIONS_PER_MESSAGE`, spread over every kind).
fn largest_message() -> chat_domain::Message {
    use chat_domain::limits::{
        MAX_ATTACHMENTS, MAX_CONTENT_CHARS, MAX_FILE_NAME_CHARS, MAX_LINK_CHARS, MAX_MENTIONS,
        MAX_REACTIONS_PER_MESSAGE, MAX_REACTION_BYTES, MAX_REACTION_KINDS,
    };
    let id = longest_id();
    let time = LONGEST_TIME.to_string();
    chat_domain::Message {
        id: id.clone(),
        message_conversation_id: id.clone(),
        author_id: id.clone(),
        content: "\u{1}".repeat(MAX_CONTENT_CHARS),
        seq: "0".repeat(26),
        created_at: time.clone(),
        updated_at: time.clone(),
        edited_at: Some(time.clone()),
        deleted_at: Some(time),
        version: u32::MAX,
        reactions: (0..MAX_REACTION_KINDS)
            .map(|_| chat_domain::Reaction {
                emoji: "\u{1}".repeat(MAX_REACTION_BYTES),
                users: vec![id.clone(); MAX_REACTIONS_PER_MESSAGE / MAX_REACTION_KINDS],
            })
            .collect(),
        mentions: vec![id.clone(); MAX_MENTIONS],
        attachments: (0..MAX_ATTACHMENTS)
            .map(|_| chat_domain::attachments::Attachment {
                id: id.clone(),
                name: "\u{1}".repeat(MAX_FILE_NAME_CHARS),
                content_type: "application/pdf".into(),
                size: u64::MAX,
                state: chat_domain::attachments::AttachmentState::Failed,
                // Made by the processor, cut to 200 characters.
                error: Some("\"".repeat(200)),
                width: Some(u32::MAX),
                height: Some(u32::MAX),
                thumbnail: true,
                url: Some("%".repeat(MAX_LINK_CHARS)),
                thumbnail_url: Some("%".repeat(MAX_LINK_CHARS)),
            })
            .collect(),
        removed_by_moderator: true,
    }
}

/// The largest payloads `topic` can push. They depend only on the kind of
/// topic, and building them takes a while (every reaction a message
/// holds), so each kind's are built once.
pub(super) fn largest_payloads(topic: &Topic) -> &'static Payloads {
    static MESSAGES: OnceLock<Payloads> = OnceLock::new();
    static USERS: OnceLock<Payloads> = OnceLock::new();
    static LINKS: OnceLock<Payloads> = OnceLock::new();
    let cell = match topic {
        Topic::Messages { .. } => &MESSAGES,
        Topic::Users => &USERS,
        Topic::LinksOf { .. } => &LINKS,
    };
    cell.get_or_init(|| build_largest_payloads(topic))
}

fn build_largest_payloads(topic: &Topic) -> Payloads {
    use chat_domain::limits::MAX_USERNAME_CHARS;
    let long = |n: usize| "\u{1}".repeat(n);
    let id = longest_id();
    let time = LONGEST_TIME.to_string();
    let message = largest_message();
    let change = chat_domain::MessageChange {
        kind: chat_domain::ChangeKind::Created,
        conversation_id: id.clone(),
        key: String::new(),
        message: message.clone(),
        hidden_from: Vec::new(),
    };
    let values = match topic {
        Topic::Messages { .. } => json!({
            "onCreateMessage": message,
            "onMessageChange": change,
            "onReadMarker": chat_domain::ReadMarker {
                conversation_id: id.clone(),
                user_id: id.clone(),
                message_id: id.clone(),
                seq: "0".repeat(26),
            },
            "onMemberChange": chat_domain::MemberChange {
                kind: chat_domain::MemberChangeKind::Promoted,
                conversation_id: id.clone(),
                user_id: id.clone(),
                by: id.clone(),
            },
            "onTyping": chat_domain::Typing {
                conversation_id: id.clone(),
                user_id: id.clone(),
                expires_at: time.clone(),
                sent: true,
            },
            "onPresence": chat_domain::Presence {
                conversation_id: id.clone(),
                user_id: id.clone(),
                online: false,
                last_seen_at: time.clone(),
            },
        }),
        Topic::Users => json!({ "onCreateUser": chat_domain::User {
            id: id.clone(),
            username: long(MAX_USERNAME_CHARS),
            created_at: time.clone(),
            updated_at: time.clone(),
            online: false,
            last_seen_at: Some(time),
        }}),
        Topic::LinksOf { .. } => json!({ "onCreateConvoLink": chat_domain::ConvoLink {
            id: format!("{id}:{id}"),
            convo_link_user_id: id.clone(),
            convo_link_conversation_id: id.clone(),
            created_at: time.clone(),
            updated_at: time,
            activity: None,
            last_read: None,
            notify: Default::default(),
            pushed: None,
        }}),
    };
    let values = match values {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object is an object"),
    };
    Push {
        reactions: Some(message.reactions),
        values,
        skip_user: None,
        hidden_from: Vec::new(),
    }
    .values_for(&id)
}
