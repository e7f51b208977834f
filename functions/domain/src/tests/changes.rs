use super::*;
use crate::messages::{MessageEdit, MessageRef};
use crate::model::ChangeKind;

#[tokio::test]
async fn catch_up_reads_each_message_as_it_stands_so_a_delete_is_in_every_entry() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let id = room(&svc, &alice, &[&bob]).await;
    let sel = MessageSel::default();
    let start = svc
        .message_changes(&bob, &id, None, None, &sel)
        .await
        .unwrap();
    assert!(start.items.is_empty());
    post(&svc, &alice, &id, "m1", "secret").await;
    svc.update_message(
        &alice,
        MessageEdit {
            id: "m1".into(),
            conversation_id: id.clone(),
            content: "secret, edited".into(),
        },
        &sel,
    )
    .await
    .unwrap();
    let target = MessageRef {
        id: "m1".into(),
        conversation_id: id.clone(),
    };
    svc.delete_message(&alice, target, &sel).await.unwrap();
    // The log keeps what each change wrote...
    assert_eq!(svc.store.change_log(&id)[0].message.content, "secret");
    // ...and a catch-up reads the tombstone in every entry.
    let page = svc
        .message_changes(&bob, &id, Some(&start.cursor), Some(100), &sel)
        .await
        .unwrap();
    let kinds: Vec<ChangeKind> = page.items.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [ChangeKind::Created, ChangeKind::Edited, ChangeKind::Deleted]
    );
    for item in &page.items {
        assert_eq!(item.message.message.content, "");
        assert_eq!(item.message.message.version, 3);
    }
}

#[tokio::test]
async fn cursors_are_signed_for_their_conversation_and_members_only() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let carol = user(&svc, "carol").await;
    let room_a = room(&svc, &alice, &[]).await;
    let room_b = room(&svc, &alice, &[]).await;
    let sel = MessageSel::default();
    let cursor_b = svc
        .message_changes(&alice, &room_b, None, None, &sel)
        .await
        .unwrap()
        .cursor;
    for bad in [cursor_b.as_str(), "00000000000000000000000000", "x.y"] {
        let read = svc
            .message_changes(&alice, &room_a, Some(bad), None, &sel)
            .await;
        assert_eq!(kind(read), ErrorKind::Validation, "{bad}");
    }
    let cursor_a = svc
        .message_changes(&alice, &room_a, None, None, &sel)
        .await
        .unwrap()
        .cursor;
    let outsider = svc
        .message_changes(&carol, &room_a, Some(&cursor_a), None, &sel)
        .await;
    assert_eq!(kind(outsider), ErrorKind::Unauthorized);
}
