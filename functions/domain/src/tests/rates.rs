use std::time::Duration;

use super::*;
use crate::clock::now_ms;
use crate::error::Error;
use crate::ports::ConversationStore;
use crate::rates::{RateLimits, HOUR_MS};

/// Sleeps until `window_ms`'s next window starts, unless at least
/// `need_ms` is left of this one.
async fn room_in_window(window_ms: i64, need_ms: i64) {
    let left = window_ms - now_ms().rem_euclid(window_ms);
    if left < need_ms {
        tokio::time::sleep(Duration::from_millis(left as u64 + 20)).await;
    }
}

/// Sleeps until `at_ms` into the current `window_ms` window.
async fn into_window(window_ms: i64, at_ms: i64) {
    let into = now_ms().rem_euclid(window_ms);
    if into < at_ms {
        tokio::time::sleep(Duration::from_millis((at_ms - into) as u64 + 20)).await;
    }
}

fn retry_after(result: crate::error::Result<impl std::fmt::Debug>) -> u64 {
    match result {
        Err(Error::RateLimited {
            retry_after_secs, ..
        }) => retry_after_secs,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_are_capped_per_burst_slot_and_per_window_and_go_through_after() {
    let svc = service().with_rate_limits(RateLimits::off().with_messages(3, 1000, 5, 3000));
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let id = room(&svc, &alice, &[&bob]).await;
    let sel = MessageSel::default();
    // From the start of a window: slot 0 takes 3.
    room_in_window(3000, 2900).await;
    for i in 0..3 {
        post(&svc, &alice, &id, &format!("m{i}"), "hi").await;
    }
    let over = svc
        .create_message(&alice, message_with_id(&id, "m3", "hi"), &sel)
        .await;
    assert_eq!(retry_after(over), 1, "the slot ends within a second");
    // Another user's count is their own.
    post(&svc, &bob, &id, "b0", "hi").await;
    // Slot 1 takes 2 more, then the window is full until it ends.
    into_window(3000, 1000).await;
    post(&svc, &alice, &id, "m3", "hi").await;
    post(&svc, &alice, &id, "m4", "hi").await;
    let over = svc
        .create_message(&alice, message_with_id(&id, "m5", "hi"), &sel)
        .await;
    assert!(retry_after(over) >= 2, "the window ends after the slot");
    let history = svc
        .message_history(&alice, &id, Default::default(), &sel)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 6, "nothing refused was stored");
    // The next window takes it.
    room_in_window(3000, 3000).await;
    post(&svc, &alice, &id, "m5", "hi").await;
}

#[tokio::test]
async fn conversations_and_invites_are_capped_per_hour_counting_each_person_added() {
    let svc = service().with_rate_limits(RateLimits {
        conversations_per_hour: 2,
        invites_per_hour: 3,
        ..RateLimits::off()
    });
    room_in_window(HOUR_MS, 10_000).await;
    let alice = user(&svc, "alice").await;
    let others = [
        user(&svc, "b").await,
        user(&svc, "c").await,
        user(&svc, "d").await,
        user(&svc, "e").await,
    ];
    let ids = |n: usize| others[..n].iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    // More people at once than an hour's invites: never possible.
    assert_eq!(
        kind(svc.create_convo(&alice, "big", &ids(4)).await),
        ErrorKind::Validation
    );
    let first = svc.create_convo(&alice, "one", &ids(2)).await.unwrap().0.id;
    let link = Default::default();
    svc.create_convo_link(&alice, &first, Some(&others[2].id), &link)
        .await
        .unwrap();
    // The fourth invite of the hour is refused, and nobody is added.
    let over = svc
        .create_convo_link(&alice, &first, Some(&others[3].id), &link)
        .await;
    assert!((1..=3600).contains(&retry_after(over)));
    let batch = svc
        .store
        .batch_get(&[], std::slice::from_ref(&first))
        .await
        .unwrap();
    assert_eq!(batch.conversations[0].members.len(), 4);
    // Confirming one's own membership invites nobody.
    svc.create_convo_link(&alice, &first, None, &link)
        .await
        .unwrap();
    // Conversations: alone, no invites; the third of the hour is refused.
    svc.create_convo(&alice, "two", &[]).await.unwrap();
    let over = svc.create_convo(&alice, "three", &[]).await;
    assert!((1..=3600).contains(&retry_after(over)));
    let mine = stored_links(&svc, &alice).await;
    assert_eq!(mine.len(), 2, "the refused conversation was not made");
}
