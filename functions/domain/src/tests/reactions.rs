use super::*;
use crate::limits::MAX_REACTIONS_PER_USER;
use crate::messages::MessageRef;

#[tokio::test]
async fn members_react_once_each_within_the_caps_and_a_tombstone_takes_none() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[&bob]).await;
    post(&svc, &alice, &id, "m1", "hi").await;
    let target = MessageRef {
        id: "m1".into(),
        conversation_id: id.clone(),
    };
    let sel = MessageSel::default();
    macro_rules! react {
        ($who:expr, $emoji:expr, $add:expr) => {
            svc.react($who, target.clone(), $emoji, $add, &sel)
        };
    }
    let once = react!(&bob, "👍", true).await.unwrap();
    let twice = react!(&bob, "👍", true).await.unwrap();
    assert_eq!(once.message, twice.message, "idempotent");
    react!(&alice, "👍", true).await.unwrap();
    let view = react!(&alice, "❤", true).await.unwrap();
    let counts: Vec<(&str, usize, bool)> = view
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.count, r.reacted))
        .collect();
    assert_eq!(
        counts,
        [("👍", 2, true), ("❤️", 1, true)],
        "stored fully qualified"
    );
    assert_eq!(
        kind(react!(&carol, "👍", true).await),
        ErrorKind::Unauthorized
    );
    for not_one in ["", "a", "\u{200b}", "👍👍"] {
        assert_eq!(
            kind(react!(&bob, not_one, true).await),
            ErrorKind::Validation,
            "{not_one:?}"
        );
    }
    for emoji in ["😀", "😂"].iter().take(MAX_REACTIONS_PER_USER - 1) {
        react!(&bob, emoji, true).await.unwrap();
    }
    assert_eq!(
        kind(react!(&bob, "🎉", true).await),
        ErrorKind::LimitExceeded
    );
    let off = react!(&bob, "👍", false).await.unwrap();
    assert_eq!(off.reactions[0].count, 1);
    svc.delete_message(&alice, target.clone(), &sel)
        .await
        .unwrap();
    assert_eq!(kind(react!(&bob, "👍", true).await), ErrorKind::Conflict);
}

/// A message others have reacted to by the thousand, one reaction short of
/// the cap: the next one is the last it takes, and taking one off makes room.
#[tokio::test]
async fn a_message_takes_at_most_max_reactions_in_all() {
    use crate::limits::MAX_REACTIONS_PER_MESSAGE;
    use crate::model::{MessageChange, Reaction};
    use crate::ports::MessageStore;
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[&bob, &carol]).await;
    let emojis = ["👍", "❤️", "😂"];
    let fans = (MAX_REACTIONS_PER_MESSAGE - 1) / emojis.len();
    assert_eq!(fans * emojis.len(), MAX_REACTIONS_PER_MESSAGE - 1);
    let seq = crate::clock::next_seq();
    let mut change = MessageChange::created(&id, "m1", &alice.id, "hi", &seq, &crate::clock::now());
    change.message.reactions = emojis
        .iter()
        .map(|emoji| Reaction {
            emoji: emoji.to_string(),
            users: (0..fans).map(|i| format!("fan-{i}")).collect(),
        })
        .collect();
    svc.store.put_message(&change, 0).await.unwrap();
    let target = MessageRef {
        id: "m1".into(),
        conversation_id: id.clone(),
    };
    let sel = MessageSel::default();
    let last = svc
        .react(&bob, target.clone(), "🎉", true, &sel)
        .await
        .unwrap();
    let total: usize = last.reactions.iter().map(|r| r.count).sum();
    assert_eq!(total, MAX_REACTIONS_PER_MESSAGE);
    assert_eq!(
        kind(svc.react(&carol, target.clone(), "👍", true, &sel).await),
        ErrorKind::LimitExceeded
    );
    svc.react(&bob, target.clone(), "🎉", false, &sel)
        .await
        .unwrap();
    let view = svc.react(&carol, target, "👍", true, &sel).await.unwrap();
    assert_eq!(view.reactions[0].count, fans + 1);
    assert!(view.reactions[0].reacted);
}
