use super::*;
use crate::limits::{self, MAX_DEVICES};
use crate::memory::MemoryPusher;
use crate::notify::Notifier;
use crate::push::{NewDevice, NotificationKind, NotifyLevel, Platform, SettingsChange};

fn apns(token: &str) -> NewDevice {
    NewDevice {
        platform: Platform::Apns,
        token: Some(format!("{token:0<64}")),
        app_id: Some("com.example.chat".into()),
        endpoint: None,
        p256dh: None,
        auth: None,
    }
}

fn notifier(svc: &Service) -> Notifier<MemoryStore, MemoryPusher> {
    Notifier::new(svc.store.clone(), MemoryPusher::default())
}

/// The message as stored (what the stream hands the notifier).
async fn stored(svc: &Service, who: &Caller, room: &str, id: &str, text: &str) -> crate::Message {
    post(svc, who, room, id, text).await.message
}

#[test]
fn mentions_are_the_named_usernames_once_each_and_no_email_address() {
    assert_eq!(
        limits::mentioned_usernames("@Bob hi @carol, @bob and @dave. mail x@y.com (@erin)"),
        ["bob", "carol", "dave", "erin"]
    );
    assert_eq!(
        limits::mentioned_usernames("@ @. @@x"),
        Vec::<String>::new()
    );
    let many: String = (0..30).map(|i| format!("@u{i} ")).collect();
    assert_eq!(
        limits::mentioned_usernames(&many).len(),
        limits::MAX_MENTIONS
    );
}

#[tokio::test]
async fn devices_are_validated_capped_and_move_with_their_token() {
    let svc = service();
    let bob = user(&svc, "bob").await;
    let dave = user(&svc, "dave").await;
    assert_eq!(
        kind(
            svc.register_device(
                &bob,
                NewDevice {
                    app_id: None,
                    ..apns("ab")
                }
            )
            .await
        ),
        ErrorKind::Validation
    );
    let first = svc.register_device(&bob, apns("ab")).await.unwrap();
    let again = svc.register_device(&bob, apns("ab")).await.unwrap();
    assert_eq!(first, again, "the same token is the same device");
    for i in 1..MAX_DEVICES {
        svc.register_device(&bob, apns(&format!("{i:02}")))
            .await
            .unwrap();
    }
    assert_eq!(
        kind(svc.register_device(&bob, apns("ff")).await),
        ErrorKind::LimitExceeded
    );
    // Dave takes the first token: it leaves bob.
    svc.register_device(&dave, apns("ab")).await.unwrap();
    let bobs = svc.push_settings(&bob).await.unwrap().devices;
    assert_eq!(bobs.len(), MAX_DEVICES - 1);
    assert!(bobs.iter().all(|d| d.id != first.id));
    assert_eq!(
        kind(svc.unregister_device(&bob, &first.id).await),
        ErrorKind::NotFound
    );
    assert!(svc.unregister_device(&dave, &first.id).await.unwrap());
}

#[tokio::test]
async fn only_offline_members_whose_level_allows_it_hear_and_once_per_interval() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let carol = user(&svc, "carol").await;
    let dave = user(&svc, "dave").await;
    for (who, token) in [(&alice, "a1"), (&bob, "b1"), (&carol, "c1"), (&dave, "d1")] {
        svc.register_device(who, apns(token)).await.unwrap();
    }
    let id = room(&svc, &alice, &[&bob, &carol, &dave]).await;
    svc.set_conversation_notifications(&carol, &id, NotifyLevel::Mentions)
        .await
        .unwrap();
    svc.set_conversation_notifications(&dave, &id, NotifyLevel::None)
        .await
        .unwrap();
    let n = notifier(&svc);
    let report = n
        .message_posted(&stored(&svc, &alice, &id, "m1", "hello").await)
        .await
        .unwrap();
    assert_eq!((report.sent, report.skipped), (1, 2), "{report:?}");
    // Within the interval, bob's slot is spent; a mention reaches carol
    // and, through his mute, dave.
    let report = n
        .message_posted(&stored(&svc, &alice, &id, "m2", "@carol @dave look").await)
        .await
        .unwrap();
    assert_eq!((report.sent, report.coalesced), (2, 1), "{report:?}");
    let sent = n.pusher().sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].1.title, "alice in room");
    assert_eq!(sent[0].1.badge, 1);
    assert!(sent[1].1.mention && sent[1].1.title.contains("mentioned you"));
    // A retry of the same message pushes it again (it replaces itself).
    let again = n
        .message_posted(&stored(&svc, &alice, &id, "m2", "@carol @dave look").await)
        .await
        .unwrap();
    assert_eq!(again.sent, 2);
    // Turned off, the mention stays out of dave's mute.
    svc.update_push_settings(
        &dave,
        SettingsChange {
            mentions: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let n = notifier(&svc).with_interval_ms(0);
    let report = n
        .message_posted(&stored(&svc, &alice, &id, "m3", "@dave again").await)
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "bob only: {report:?}");
}

#[tokio::test]
async fn a_gone_device_is_removed_a_failing_one_kept_and_a_delete_withdraws() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let gone = svc.register_device(&bob, apns("b1")).await.unwrap();
    let failing = svc.register_device(&bob, apns("b2")).await.unwrap();
    let id = room(&svc, &alice, &[&bob]).await;
    let n = notifier(&svc);
    n.pusher().mark_gone(&gone.id);
    n.pusher().fail(&failing.id, "503");
    let message = stored(&svc, &alice, &id, "m1", "hello").await;
    let report = n.message_posted(&message).await.unwrap();
    assert_eq!((report.gone, report.failed), (1, 1));
    let left = svc.push_settings(&bob).await.unwrap().devices;
    assert_eq!(left, vec![failing.clone()]);

    let n = notifier(&svc);
    let report = n
        .message_deleted(&crate::Message {
            deleted_at: Some(crate::clock::now()),
            ..message
        })
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(n.pusher().sent()[0].1.kind, NotificationKind::Withdraw);
}

#[test]
fn a_message_of_attachments_only_says_what_it_carries() {
    use crate::attachments::{Attachment, AttachmentState};
    let file = |content_type: &str| Attachment {
        id: "u".into(),
        name: "f".into(),
        content_type: content_type.into(),
        size: 1,
        state: AttachmentState::Pending,
        error: None,
        width: None,
        height: None,
        thumbnail: false,
        url: None,
        thumbnail_url: None,
    };
    let convo = crate::Conversation {
        id: "c".into(),
        name: "room".into(),
        members: Vec::new(),
        member_count: 0,
        owners: Vec::new(),
        created_at: String::new(),
        updated_at: String::new(),
        rev: 0,
        activity_at: None,
    };
    let body = |content: &str, files: Vec<Attachment>| {
        let message = crate::MessageChange::created("c", "m", "a", content, "s", "t")
            .with_attachments(files)
            .message;
        crate::notify::compose(&message, &convo, Some("alice"), false, false, 0).body
    };
    assert_eq!(body("", vec![file("image/png")]), "Photo");
    assert_eq!(
        body("", vec![file("image/png"), file("image/jpeg")]),
        "2 photos"
    );
    assert_eq!(body("", vec![file("application/pdf")]), "File");
    assert_eq!(
        body("", vec![file("image/png"), file("application/pdf")]),
        "2 files"
    );
    assert_eq!(body("look", vec![file("image/png")]), "look");
}
