//! Unit tests of the use-cases over the in-memory ports ([`crate::memory`]):
//! each runs in milliseconds, with no stack. One file per feature; the
//! integration suite (`tests/`) proves the same rules against the real
//! protocols and both DynamoDB engines.

use crate::graph::{ListSel, MessageSel, MessageView, UserSel};
use crate::memory::{MemoryPublisher, MemoryStore, Published};
use crate::messages::NewMessage;
use crate::model::Caller;
use crate::{ChatService, ErrorKind, PageTokens};

mod changes;
mod conversations;
mod filter;
mod inbox;
mod members;
mod messages;
mod push;
mod rates;
mod reactions;
mod reads;
mod reports;
mod safety;
mod typing;
mod uploads;
mod users;

pub(crate) type Service = ChatService<MemoryStore, MemoryPublisher>;

/// A service over empty tables whose pushes reach one connection each.
pub(crate) fn service() -> Service {
    ChatService::new(
        MemoryStore::new(),
        PageTokens::new(b"a unit test's secret, 32 bytes or more"),
    )
    .with_publisher(MemoryPublisher::reaching(1))
}

pub(crate) fn caller(name: &str) -> Caller {
    Caller {
        id: format!("id-{name}"),
        username: name.to_string(),
        groups: Vec::new(),
    }
}

/// A moderator with a profile.
pub(crate) async fn moderator(svc: &Service, name: &str) -> Caller {
    let who = Caller {
        groups: vec![crate::reports::MODERATORS.to_string()],
        ..caller(name)
    };
    svc.create_user(&who, name).await.unwrap();
    who
}

/// A caller with a profile.
pub(crate) async fn user(svc: &Service, name: &str) -> Caller {
    let who = caller(name);
    svc.create_user(&who, name).await.unwrap();
    who
}

/// A conversation of `owner` with `members`; its id.
pub(crate) async fn room(svc: &Service, owner: &Caller, members: &[&Caller]) -> String {
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    svc.create_convo(owner, "room", &ids).await.unwrap().0.id
}

/// `createMessage`'s input: `text` with the client id `id`.
pub(crate) fn message_with_id(room: &str, id: &str, text: &str) -> NewMessage {
    NewMessage {
        id: Some(id.to_string()),
        content: text.to_string(),
        conversation_id: room.to_string(),
        author_id: None,
        attachments: Vec::new(),
    }
}

/// Posts `text` with the client id `id`.
pub(crate) async fn post(
    svc: &Service,
    who: &Caller,
    room: &str,
    id: &str,
    text: &str,
) -> MessageView {
    svc.create_message(who, message_with_id(room, id, text), &MessageSel::default())
        .await
        .unwrap()
}

/// The first links of `user`, read from the store.
pub(crate) async fn stored_links(svc: &Service, user: &Caller) -> Vec<crate::model::ConvoLink> {
    use crate::ports::ConversationStore;
    let page = crate::page::PageQuery {
        limit: 10,
        after: None,
    };
    svc.store.links_of_user(&user.id, &page).await.unwrap().0
}

/// What the service's publisher was asked to push, in order.
pub(crate) fn published(svc: &Service) -> Vec<Published> {
    svc.publisher.published()
}

/// The error kind of a result that must have failed.
pub(crate) fn kind<T: std::fmt::Debug>(result: crate::error::Result<T>) -> ErrorKind {
    result.expect_err("expected a refusal").kind()
}

/// A selection of a user's conversations.
pub(crate) fn with_conversations() -> UserSel {
    UserSel {
        conversations: Some(ListSel::default()),
    }
}
