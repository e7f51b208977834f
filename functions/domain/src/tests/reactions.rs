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
