use std::sync::Arc;

use super::*;
use crate::filter::{ContentFilter, FilterAction};
use crate::messages::MessageEdit;

fn filtered(action: FilterAction) -> Service {
    service().with_filter(Arc::new(ContentFilter::parse("darn", action).unwrap()))
}

#[tokio::test]
async fn a_refused_message_is_neither_stored_nor_pushed_and_an_edit_cannot_bring_it_in() {
    let svc = filtered(FilterAction::Refuse);
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let before = published(&svc).len();
    let sel = MessageSel::default();
    let refused = svc.create_message(&alice, message_with_id(&id, "m1", "oh d.a.r.n"), &sel);
    assert_eq!(kind(refused.await), ErrorKind::Validation);
    assert_eq!(published(&svc).len(), before, "nothing pushed");
    // The id was not used: the same id with clean words goes through.
    let clean = post(&svc, &alice, &id, "m1", "oh dear").await;
    assert_eq!(clean.message.content, "oh dear");
    let edit = MessageEdit {
        id: "m1".into(),
        conversation_id: id.clone(),
        content: "oh DΑRN".into(), // a Greek capital alpha
    };
    assert_eq!(
        kind(svc.update_message(&alice, edit, &sel).await),
        ErrorKind::Validation
    );
    let history = svc
        .message_history(&alice, &id, Default::default(), &sel)
        .await
        .unwrap();
    assert_eq!(history.items[0].message.content, "oh dear");
}

#[tokio::test]
async fn masking_stores_and_pushes_the_masked_text_on_create_and_on_edit() {
    let svc = filtered(FilterAction::Mask);
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let posted = post(&svc, &alice, &id, "m1", "well darn it").await;
    assert_eq!(posted.message.content, "well **** it");
    let pushed = published(&svc).into_iter().rev().find_map(|p| match p {
        Published::Message(change) => Some(change.message.content),
        _ => None,
    });
    assert_eq!(pushed.as_deref(), Some("well **** it"));
    // A retry with the same id returns the stored, masked message.
    assert_eq!(
        post(&svc, &alice, &id, "m1", "well darn it").await.message,
        posted.message
    );
    let edit = MessageEdit {
        id: "m1".into(),
        conversation_id: id.clone(),
        content: "d a r n, I said".into(),
    };
    let edited = svc
        .update_message(&alice, edit, &MessageSel::default())
        .await
        .unwrap();
    assert_eq!(edited.message.content, "* * * *, I said");
}

#[tokio::test]
async fn new_usernames_are_refused_and_conversation_names_filtered_as_messages() {
    let svc = filtered(FilterAction::Mask);
    let darn = caller("darn");
    assert_eq!(
        kind(svc.create_user(&darn, "DARN").await),
        ErrorKind::Validation
    );
    assert_eq!(
        kind(svc.create_user(&darn, "d4rn").await),
        ErrorKind::Validation
    );
    let alice = user(&svc, "alice").await;
    let (convo, _) = svc.create_convo(&alice, "darn plans", &[]).await.unwrap();
    assert_eq!(convo.name, "**** plans");
    let refusing = filtered(FilterAction::Refuse);
    let bob = user(&refusing, "bob").await;
    assert_eq!(
        kind(refusing.create_convo(&bob, "d a r n", &[]).await),
        ErrorKind::Validation
    );
    // A profile made before the word was listed still signs in.
    let plain = service();
    let early = caller("darnell");
    plain.create_user(&early, "darn").await.unwrap();
    let later = plain.with_filter(Arc::new(
        ContentFilter::parse("darn", FilterAction::Refuse).unwrap(),
    ));
    assert_eq!(
        later.create_user(&early, "darn").await.unwrap().username,
        "darn"
    );
}
