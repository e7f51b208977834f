//! Attachments: who may upload and attach, what an attachment must be, and
//! what processing, deleting and sweeping leave behind.

use std::sync::Arc;

use super::*;
use crate::attachments::{file_key, thumbnail_key, upload_key, AttachmentState, Upload};
use crate::memory::MemoryMedia;
use crate::model::ChangeKind;
use crate::uploads::NewUpload;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
const EXE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";

fn with_media() -> (Service, MemoryMedia) {
    let media = MemoryMedia::new();
    (service().with_media(Arc::new(media.clone())), media)
}

fn png_upload(room: &str) -> NewUpload {
    NewUpload {
        conversation_id: room.to_string(),
        content_type: "image/png".into(),
        size: PNG.len() as i64,
        name: "cat.png".into(),
    }
}

fn with_files(room: &str, id: &str, text: &str, files: &[&str]) -> NewMessage {
    NewMessage {
        id: Some(id.to_string()),
        content: text.to_string(),
        conversation_id: room.to_string(),
        author_id: None,
        attachments: files.iter().map(|f| f.to_string()).collect(),
    }
}

fn err<T: std::fmt::Debug>(r: crate::error::Result<T>) -> (ErrorKind, String) {
    let e = r.unwrap_err();
    (e.kind(), e.to_string())
}

/// The processing's answer for an upload: ready, with a thumbnail.
fn ready(upload: &Upload) -> Upload {
    Upload {
        state: AttachmentState::Ready,
        width: Some(1),
        height: Some(1),
        stored_size: Some(67),
        thumbnail: true,
        ..upload.clone()
    }
}

async fn stored_upload(svc: &Service, id: &str) -> Upload {
    use crate::ports::UploadStore;
    svc.store
        .uploads(&[id.to_string()])
        .await
        .unwrap()
        .pop()
        .expect("the upload is stored")
}

#[tokio::test]
async fn only_a_member_gets_an_upload_and_only_of_an_allowed_type_and_size() {
    let (svc, _) = with_media();
    let alice = user(&svc, "alice").await;
    let carol = user(&svc, "carol").await;
    let id = room(&svc, &alice, &[]).await;

    let ticket = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    assert_eq!(ticket.method, "PUT");
    assert!(
        ticket.url.contains(&upload_key(&id, &ticket.id)),
        "{}",
        ticket.url
    );
    let signed: Vec<_> = ticket.headers.iter().map(|h| h.name.as_str()).collect();
    assert!(signed.contains(&"content-length") && signed.contains(&"content-type"));

    assert_eq!(
        err(svc.create_upload(&carol, png_upload(&id)).await).0,
        ErrorKind::Unauthorized
    );
    for bad in [
        NewUpload {
            content_type: "application/x-msdownload".into(),
            ..png_upload(&id)
        },
        NewUpload {
            content_type: "image/svg+xml".into(),
            ..png_upload(&id)
        },
        NewUpload {
            size: 0,
            ..png_upload(&id)
        },
        NewUpload {
            size: crate::limits::MAX_UPLOAD_BYTES as i64 + 1,
            ..png_upload(&id)
        },
        NewUpload {
            name: "../../etc/passwd".into(),
            ..png_upload(&id)
        },
        NewUpload {
            name: "x".repeat(crate::limits::MAX_FILE_NAME_CHARS + 1),
            ..png_upload(&id)
        },
    ] {
        assert_eq!(
            err(svc.create_upload(&alice, bad.clone()).await).0,
            ErrorKind::Validation,
            "{bad:?}"
        );
    }
    // At the edges: the largest size and the longest name are taken.
    svc.create_upload(
        &alice,
        NewUpload {
            size: crate::limits::MAX_UPLOAD_BYTES as i64,
            name: "x".repeat(crate::limits::MAX_FILE_NAME_CHARS),
            ..png_upload(&id)
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stack_without_storage_refuses_attachments_clearly() {
    let svc = service();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let (kind, message) = err(svc.create_upload(&alice, png_upload(&id)).await);
    assert_eq!(kind, ErrorKind::Validation);
    assert!(message.contains("no storage"), "{message}");
}

#[tokio::test]
async fn an_attachment_must_be_uploaded_and_begin_as_its_type() {
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = MessageSel::default();
    let ticket = svc.create_upload(&alice, png_upload(&id)).await.unwrap();

    let (kind, message) = err(svc
        .create_message(&alice, with_files(&id, "m1", "", &[&ticket.id]), &sel)
        .await);
    assert_eq!(kind, ErrorKind::Validation);
    assert!(message.contains("not been uploaded"), "{message}");

    // An executable named cat.png.
    media.put(&upload_key(&id, &ticket.id), EXE);
    let (kind, message) = err(svc
        .create_message(&alice, with_files(&id, "m1", "", &[&ticket.id]), &sel)
        .await);
    assert_eq!(kind, ErrorKind::Validation);
    assert!(message.contains("bytes are not image/png"), "{message}");
    assert!(stored_upload(&svc, &ticket.id).await.message_id.is_none());

    media.put(&upload_key(&id, &ticket.id), PNG);
    let posted = svc
        .create_message(&alice, with_files(&id, "m1", "", &[&ticket.id]), &sel)
        .await
        .unwrap();
    assert_eq!(posted.message.content, "");
    let attached = &posted.message.attachments;
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].state, AttachmentState::Pending);
    assert_eq!(attached[0].name, "cat.png");
    assert_eq!(attached[0].url, None, "nothing to read until processed");
    assert_eq!(
        stored_upload(&svc, &ticket.id).await.message_id.as_deref(),
        Some("m1")
    );

    // No text and no attachment is still no message.
    assert_eq!(
        err(svc
            .create_message(&alice, with_files(&id, "m2", "", &[]), &sel)
            .await)
        .0,
        ErrorKind::Validation
    );
}

#[tokio::test]
async fn nobody_attaches_an_upload_that_is_not_theirs_for_this_conversation() {
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let bob = user(&svc, "bob").await;
    let one = room(&svc, &alice, &[&bob]).await;
    let other = room(&svc, &alice, &[&bob]).await;
    let sel = MessageSel::default();
    let ticket = svc.create_upload(&alice, png_upload(&one)).await.unwrap();
    media.put(&upload_key(&one, &ticket.id), PNG);

    // Bob, a member, with Alice's upload id; Alice in another conversation;
    // anyone with an id that does not exist: the same answer.
    let answers = [
        err(svc
            .create_message(&bob, with_files(&one, "b1", "", &[&ticket.id]), &sel)
            .await),
        err(svc
            .create_message(&alice, with_files(&other, "a1", "", &[&ticket.id]), &sel)
            .await),
        err(svc
            .create_message(
                &alice,
                with_files(&one, "a2", "", &["01NOSUCHUPLOAD"]),
                &sel,
            )
            .await),
    ];
    for (kind, message) in &answers {
        assert_eq!(*kind, ErrorKind::Validation);
        assert!(message.contains("not an upload of yours"), "{message}");
    }

    svc.create_message(&alice, with_files(&one, "a3", "first", &[&ticket.id]), &sel)
        .await
        .unwrap();
    let (kind, _) = err(svc
        .create_message(&alice, with_files(&one, "a4", "again", &[&ticket.id]), &sel)
        .await);
    assert_eq!(
        kind,
        ErrorKind::Conflict,
        "an upload is on one message only"
    );

    let eleven: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let (kind, message) = err(svc
        .create_message(&alice, with_files(&one, "a5", "x", &eleven), &sel)
        .await);
    assert_eq!(kind, ErrorKind::Validation);
    assert!(message.contains("at most 10"), "{message}");
}

#[tokio::test]
async fn a_retry_with_attachments_returns_the_original_message() {
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = MessageSel::default();
    let ticket = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    media.put(&upload_key(&id, &ticket.id), PNG);
    let input = with_files(&id, "m1", "look", &[&ticket.id]);
    let first = svc
        .create_message(&alice, input.clone(), &sel)
        .await
        .unwrap();
    let pushes = published(&svc).len();
    // Processed between the two tries: the retry still answers the message.
    let upload = stored_upload(&svc, &ticket.id).await;
    svc.upload_processed(&ready(&upload)).await.unwrap();
    let again = svc.create_message(&alice, input, &sel).await.unwrap();
    assert_eq!(again.message.id, first.message.id);
    assert_eq!(again.message.seq, first.message.seq);
    let history = svc
        .message_history(&alice, &id, Default::default(), &sel)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1, "one message, however often sent");
    assert_eq!(
        history.items[0].message.attachments[0].state,
        AttachmentState::Ready
    );
    // The retry pushed nothing; only the processing's change came since.
    let since = &published(&svc)[pushes..];
    assert_eq!(since.len(), 1, "{since:?}");
}

#[tokio::test]
async fn processing_updates_the_message_and_pushes_it_with_links() {
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = MessageSel::default();
    let ticket = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    media.put(&upload_key(&id, &ticket.id), PNG);
    let posted = svc
        .create_message(&alice, with_files(&id, "m1", "", &[&ticket.id]), &sel)
        .await
        .unwrap();
    let upload = stored_upload(&svc, &ticket.id).await;
    let recorded = svc.upload_processed(&ready(&upload)).await.unwrap();
    assert_eq!(recorded.unwrap().state, AttachmentState::Ready);
    // A repeated event finds it done and changes nothing.
    assert_eq!(svc.upload_processed(&ready(&upload)).await.unwrap(), None);

    let Some(Published::Message(change)) = published(&svc).pop() else {
        panic!("the processing pushed the message");
    };
    assert_eq!(change.kind, ChangeKind::Processed);
    assert_eq!(change.message.version, posted.message.version + 1);
    let a = &change.message.attachments[0];
    assert_eq!(a.state, AttachmentState::Ready);
    assert!(a
        .url
        .as_deref()
        .unwrap()
        .contains(&file_key(&id, &ticket.id)));
    assert!(a
        .thumbnail_url
        .as_deref()
        .unwrap()
        .contains(&thumbnail_key(&id, &ticket.id)));
    assert!(a.url.as_deref().unwrap().contains("inline"));
}

#[tokio::test]
async fn a_failed_upload_is_refused_with_its_reason() {
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let ticket = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    media.put(&upload_key(&id, &ticket.id), PNG);
    let upload = stored_upload(&svc, &ticket.id).await;
    let failed = Upload {
        state: AttachmentState::Failed,
        error: Some("the image is corrupt".into()),
        ..upload
    };
    svc.upload_processed(&failed).await.unwrap();
    let (kind, message) = err(svc
        .create_message(
            &alice,
            with_files(&id, "m1", "", &[&ticket.id]),
            &MessageSel::default(),
        )
        .await);
    assert_eq!(kind, ErrorKind::Validation);
    assert!(message.contains("the image is corrupt"), "{message}");
}

#[tokio::test]
async fn deleting_a_message_removes_its_files_and_the_sweeper_removes_unattached_ones() {
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let sel = MessageSel::default();
    let kept = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    let left = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    for t in [&kept, &left] {
        media.put(&upload_key(&id, &t.id), PNG);
    }
    svc.create_message(&alice, with_files(&id, "m1", "", &[&kept.id]), &sel)
        .await
        .unwrap();
    let upload = stored_upload(&svc, &kept.id).await;
    // What processing does: the file and thumbnail in, the upload out.
    media.put(&file_key(&id, &kept.id), PNG);
    media.put(&thumbnail_key(&id, &kept.id), PNG);
    crate::ports::Media::delete(&media, &[upload_key(&id, &kept.id)])
        .await
        .unwrap();
    svc.upload_processed(&ready(&upload)).await.unwrap();

    // A day on, the sweeper takes the upload never attached, and only it.
    let day = crate::limits::UNATTACHED_UPLOAD_SECS * 1000;
    assert_eq!(
        svc.sweep_uploads(crate::clock::now_ms() - 1000, 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        svc.sweep_uploads(crate::clock::now_ms() + day + 1000, 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        media.keys(),
        vec![file_key(&id, &kept.id), thumbnail_key(&id, &kept.id)]
    );

    let deleted = svc
        .delete_message(
            &alice,
            crate::messages::MessageRef {
                id: "m1".into(),
                conversation_id: id.clone(),
            },
            &sel,
        )
        .await
        .unwrap();
    assert!(deleted.message.attachments.is_empty());
    assert!(media.keys().is_empty(), "{:?}", media.keys());
    use crate::ports::UploadStore;
    assert!(svc
        .store
        .uploads(std::slice::from_ref(&kept.id))
        .await
        .unwrap()
        .is_empty());
}

/// The sweeper claims an upload before it deletes its files: from then on
/// no message can take it, so no message is left with files that went.
#[tokio::test]
async fn an_upload_the_sweeper_has_claimed_cannot_be_attached() {
    use crate::ports::UploadStore;
    let (svc, media) = with_media();
    let alice = user(&svc, "alice").await;
    let id = room(&svc, &alice, &[]).await;
    let ticket = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    media.put(&upload_key(&id, &ticket.id), PNG);
    let claimed = svc
        .store
        .claim_uploads(std::slice::from_ref(&ticket.id))
        .await
        .unwrap();
    assert_eq!(claimed, vec![ticket.id.clone()]);
    let refused = svc
        .create_message(
            &alice,
            with_files(&id, "m1", "", &[&ticket.id]),
            &MessageSel::default(),
        )
        .await;
    assert_eq!(err(refused).0, ErrorKind::Conflict);
    assert!(stored_upload(&svc, &ticket.id).await.message_id.is_none());
    // An attached upload is not the sweeper's: it cannot be claimed.
    let kept = svc.create_upload(&alice, png_upload(&id)).await.unwrap();
    media.put(&upload_key(&id, &kept.id), PNG);
    svc.create_message(
        &alice,
        with_files(&id, "m2", "", &[&kept.id]),
        &MessageSel::default(),
    )
    .await
    .unwrap();
    assert!(svc
        .store
        .claim_uploads(std::slice::from_ref(&kept.id))
        .await
        .unwrap()
        .is_empty());
}
