use super::*;
use crate::memory::MemoryPublisher;
use crate::messages::{MessageEdit, MessageRef};
use crate::page::PageRequest;
use crate::ports::PushState;

fn new_message(room: &str, id: Option<&str>, text: &str) -> NewMessage {
    NewMessage {
        id: id.map(str::to_string),
        content: text.to_string(),
        conversation_id: room.to_string(),
        author_id: None,
        attachments: Vec::new(),
    }
}

#[tokio::test]
async fn a_retry_of_the_same_id_returns_the_original_and_pushes_nothing_more() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let before = published(&svc).len();
    let first = post(&svc, &alice, &id, "m1", "hello").await;
    let retry = post(&svc, &alice, &id, "m1", "hello, again").await;
    assert_eq!(retry.message, first.message);
    let pushes: Vec<_> = published(&svc)[before..]
        .iter()
        .filter(|p| matches!(p, Published::Message(_)))
        .cloned()
        .collect();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(svc.store.push_state(&id, "m1"), Some(PushState::Done));
    // Someone else's id in the same conversation is a clash, not a retry.
    let bob = user(&svc, "bob").await;
    svc.create_convo_link(&alice, &id, Some(&bob.id), &Default::default())
        .await
        .unwrap();
    let sel = MessageSel::default();
    let clash = svc.create_message(&bob, new_message(&id, Some("m1"), "mine"), &sel);
    assert_eq!(kind(clash.await), ErrorKind::Conflict);
}

#[tokio::test]
async fn only_members_post_as_themselves_within_the_limits() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = MessageSel::default();
    let outsider = svc.create_message(&carol, new_message(&id, None, "hi"), &sel);
    assert_eq!(kind(outsider.await), ErrorKind::Unauthorized);
    let spoofed = NewMessage {
        author_id: Some(carol.id.clone()),
        ..new_message(&id, None, "hi")
    };
    assert_eq!(
        kind(svc.create_message(&alice, spoofed, &sel).await),
        ErrorKind::Unauthorized
    );
    let long = "x".repeat(crate::limits::MAX_CONTENT_CHARS + 1);
    assert_eq!(
        kind(
            svc.create_message(&alice, new_message(&id, None, &long), &sel)
                .await
        ),
        ErrorKind::Validation
    );
    let longest = "x".repeat(crate::limits::MAX_CONTENT_CHARS);
    svc.create_message(&alice, new_message(&id, None, &longest), &sel)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_push_that_reached_nobody_stays_held_and_a_failed_one_is_handed_back() {
    let store_of = |publisher: MemoryPublisher| {
        ChatService::new(
            MemoryStore::new(),
            PageTokens::new(b"a unit test's secret, 32 bytes or more"),
        )
        .with_publisher(publisher)
    };
    let nobody = store_of(MemoryPublisher::reaching(0));
    let alice = user(&nobody, "alice").await;
    let id = room(&nobody, &alice, &[]).await;
    post(&nobody, &alice, &id, "m1", "to nobody").await;
    assert!(matches!(nobody.store.push_state(&id, "m1"), Some(PushState::Pending(at)) if at > 0));

    let failing = store_of(MemoryPublisher::failing());
    let alice = user(&failing, "alice").await;
    let id = room(&failing, &alice, &[]).await;
    let sel = MessageSel::default();
    let sent = failing.create_message(&alice, new_message(&id, Some("m1"), "lost push"), &sel);
    assert_eq!(kind(sent.await), ErrorKind::Internal);
    // Stored, with its hold handed back: the client's retry pushes it at once.
    assert_eq!(
        failing.store.push_state(&id, "m1"),
        Some(PushState::Pending(0))
    );
}

#[tokio::test]
async fn an_author_edits_and_deletes_in_place_and_a_tombstone_takes_no_edit() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let id = room(&svc, &alice, &[&bob]).await;
    post(&svc, &alice, &id, "m1", "helo").await;
    let sel = MessageSel::default();
    macro_rules! edit {
        ($who:expr, $text:expr) => {
            svc.update_message(
                $who,
                MessageEdit {
                    id: "m1".into(),
                    conversation_id: id.clone(),
                    content: $text.into(),
                },
                &sel,
            )
        };
    }
    assert_eq!(kind(edit!(&bob, "hacked").await), ErrorKind::Unauthorized);
    let edited = edit!(&alice, "hello").await.unwrap().message;
    assert_eq!((edited.content.as_str(), edited.version), ("hello", 2));
    assert!(edited.edited_at.is_some());
    assert_eq!(
        edit!(&alice, "hello").await.unwrap().message,
        edited,
        "a retry changes nothing"
    );
    let target = MessageRef {
        id: "m1".into(),
        conversation_id: id.clone(),
    };
    assert_eq!(
        kind(svc.delete_message(&bob, target.clone(), &sel).await),
        ErrorKind::Unauthorized
    );
    let tombstone = svc
        .delete_message(&alice, target.clone(), &sel)
        .await
        .unwrap()
        .message;
    assert_eq!((tombstone.content.as_str(), tombstone.version), ("", 3));
    assert!(tombstone.deleted_at.is_some());
    assert_eq!(
        svc.delete_message(&alice, target, &sel)
            .await
            .unwrap()
            .message,
        tombstone
    );
    assert_eq!(kind(edit!(&alice, "back").await), ErrorKind::Conflict);
}

#[tokio::test]
async fn the_history_pages_newest_first_without_skipping_or_repeating() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[]).await;
    for i in 0..5 {
        post(&svc, &alice, &id, &format!("m{i}"), "x").await;
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = PageRequest {
            limit: Some(2),
            next_token: token,
        };
        let got = svc
            .message_history(&alice, &id, page, &MessageSel::default())
            .await
            .unwrap();
        seen.extend(got.items.into_iter().map(|m| m.message.id));
        token = got.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["m4", "m3", "m2", "m1", "m0"]);
    let page = PageRequest::default();
    assert_eq!(
        kind(
            svc.message_history(&carol, &id, page, &MessageSel::default())
                .await
        ),
        ErrorKind::Unauthorized
    );
}
