//! The local stack refuses what AWS would: each function signs its DynamoDB
//! calls with a key of its own, and the endpoint they reach enforces that
//! function's policy from infra/template.yaml. The whole suite runs so; these
//! tests show the refusals themselves, through the unchanged SDK client.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use chat_tests::Stack;
use serde_json::json;

/// An SDK client of the stack's DynamoDB endpoint signed with `credentials`.
fn client(
    stack: &Stack,
    credentials: aws_credential_types::Credentials,
) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(&stack.running.dynamodb_endpoint)
        .credentials_provider(credentials)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn key_of(stack: &Stack, function: &str) -> aws_credential_types::Credentials {
    stack
        .running
        .iam
        .as_ref()
        .expect("IAM is enforced by default")
        .credentials_of(function)
        .unwrap_or_else(|| panic!("{function} has a key"))
}

/// (error code, message) of a refused call.
fn refusal<O: std::fmt::Debug, E: ProvideErrorMetadata, R>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> (String, String) {
    let err = result.expect_err("refused");
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_key_may_do_what_its_functions_policy_allows_and_nothing_else() {
    let stack = Stack::start().await;
    let users = stack.running.tables.users.clone();
    let item = |id: &str| {
        [
            ("id".to_string(), AttributeValue::S(id.into())),
            (
                "username".to_string(),
                AttributeValue::S(format!("name-{id}")),
            ),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };

    // create-user may put a profile: it is its job.
    client(&stack, key_of(&stack, "create-user"))
        .put_item()
        .table_name(&users)
        .set_item(Some(item("u1")))
        .send()
        .await
        .expect("create-user's policy allows PutItem on Users");

    // The inbox function's key may not, nor delete one: its policy reads.
    let inbox = client(&stack, key_of(&stack, "inbox"));
    let (code, message) = refusal(
        inbox
            .put_item()
            .table_name(&users)
            .set_item(Some(item("u2")))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        message,
        format!(
            "User: arn:aws:sts::000000000000:assumed-role/inbox-role/inbox is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/{users} because no identity-based policy allows the dynamodb:PutItem action"
        )
    );
    let (code, _) = refusal(
        inbox
            .delete_item()
            .table_name(&users)
            .key("id", AttributeValue::S("u1".into()))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    // Nothing it was refused happened.
    let stack_client = client(
        &stack,
        aws_credential_types::Credentials::new("local", "local", None, None, "test"),
    );
    let got = stack_client
        .get_item()
        .table_name(&users)
        .key("id", AttributeValue::S("u2".into()))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_none(), "the refused put wrote nothing");
    let got = stack_client
        .get_item()
        .table_name(&users)
        .key("id", AttributeValue::S("u1".into()))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_some(), "the refused delete deleted nothing");

    // A Scan of a table no function may scan.
    let (code, message) = refusal(
        client(&stack, key_of(&stack, "create-user"))
            .scan()
            .table_name(&users)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert!(message.contains("dynamodb:Scan"), "{message}");

    // A transaction is checked item by item: create-user may put a user,
    // not a conversation, so the whole transaction is refused.
    let (code, message) = refusal(
        client(&stack, key_of(&stack, "create-user"))
            .transact_write_items()
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(
                        aws_sdk_dynamodb::types::Put::builder()
                            .table_name(&users)
                            .set_item(Some(item("u3")))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(
                        aws_sdk_dynamodb::types::Put::builder()
                            .table_name(&stack.running.tables.conversations)
                            .item("pk", AttributeValue::S("CONVO#x".into()))
                            .item("sk", AttributeValue::S("CONVO#x".into()))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("dynamodb:PutItem on resource"),
        "{message}"
    );
    assert!(
        message.contains(&stack.running.tables.conversations),
        "{message}"
    );
}

#[tokio::test]
async fn a_row_level_condition_admits_only_the_keys_it_names() {
    let stack = Stack::start().await;
    let conversations = stack.running.tables.conversations.clone();
    // blocked-users may read block lists (`BLOCKS#...`), and a conversation
    // row of the same table is outside its `dynamodb:LeadingKeys`.
    let reader = client(&stack, key_of(&stack, "blocked-users"));
    let table = chat_gateway::wiring::wiring()
        .unwrap()
        .tables
        .iter()
        .find(|t| t.name == "Conversations")
        .unwrap();
    assert_eq!(table.range, None, "keyed by its partition key alone");
    let pk = &table.hash;
    reader
        .get_item()
        .table_name(&conversations)
        .key(pk, AttributeValue::S("BLOCKS#someone".into()))
        .send()
        .await
        .expect("a block list is within the condition");
    let (code, message) = refusal(
        reader
            .get_item()
            .table_name(&conversations)
            .key(pk, AttributeValue::S("CONVO#secret".into()))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException", "{message}");
}

#[tokio::test]
async fn a_missing_tampered_or_unknown_signature_is_refused_as_dynamodb_refuses_it() {
    let stack = Stack::start().await;
    let users = stack.running.tables.users.clone();
    let real = key_of(&stack, "get-user");
    let get = |credentials| {
        let client = client(&stack, credentials);
        let users = users.clone();
        async move {
            client
                .get_item()
                .table_name(&users)
                .key("id", AttributeValue::S("u1".into()))
                .send()
                .await
        }
    };
    get(real.clone()).await.expect("its own key, signed right");
    let wrong_secret = aws_credential_types::Credentials::new(
        real.access_key_id(),
        "not-the-secret",
        None,
        None,
        "test",
    );
    let (code, message) = refusal(get(wrong_secret).await);
    assert_eq!(code, "InvalidSignatureException");
    assert!(
        message.contains("signature we calculated does not match"),
        "{message}"
    );
    let unknown = aws_credential_types::Credentials::new("local-nobody", "x", None, None, "test");
    let (code, _) = refusal(get(unknown).await);
    assert_eq!(code, "UnrecognizedClientException");

    // Unsigned, and signed then changed.
    let http = reqwest::Client::new();
    let body = json!({ "TableName": users, "Key": { "id": { "S": "u1" } } }).to_string();
    let answer = http
        .post(&stack.running.dynamodb_endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let refused: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        refused["__type"],
        "com.amazon.coral.service#MissingAuthenticationTokenException"
    );

    // Signed by get-user over a read of u1, sent as a read of another row.
    let signed = json!({ "TableName": users, "Key": { "id": { "S": "u1" } } }).to_string();
    let sent = json!({ "TableName": users, "Key": { "id": { "S": "u9" } } }).to_string();
    let url = &stack.running.dynamodb_endpoint;
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "DynamoDB_20120810.GetItem"),
    ];
    let signature = chat_tests::sigv4_headers(
        url,
        "dynamodb",
        real,
        std::time::SystemTime::now(),
        &headers,
        signed.as_bytes(),
    );
    let mut request = http.post(url).body(sent);
    for (name, value) in headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .chain(signature)
    {
        request = request.header(name, value);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 400);
    let refused: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        refused["__type"], "com.amazon.coral.service#InvalidSignatureException",
        "{refused}"
    );
}

/// A function whose policy lacks what its code calls fails as it would on
/// AWS: here create-user without `PutItem` on Users.
#[tokio::test]
async fn a_function_whose_policy_lacks_an_action_is_refused_and_writes_nothing() {
    let template = chat_gateway::wiring::TEMPLATE;
    let at = template
        .find("CodeUri: ../functions/create-user\n")
        .expect("create-user is in the template");
    let grant = "Action: [dynamodb:GetItem, dynamodb:PutItem]\n              Resource: !GetAtt UsersTable.Arn";
    let offset = at + template[at..].find(grant).expect("its grant on Users");
    let narrowed = format!(
        "{}Action: [dynamodb:GetItem]\n              Resource: !GetAtt UsersTable.Arn{}",
        &template[..offset],
        &template[offset + grant.len()..]
    );
    let stack = Stack::start_with_policies(narrowed).await;
    let alice = stack.client("alice").await;
    let answer = alice
        .send(
            "mutation { createUser(input: {username: \"alice\"}) { id } }",
            json!({}),
        )
        .await;
    let error = &answer["errors"][0];
    assert!(answer["data"]["createUser"].is_null(), "{answer}");
    assert!(!error["errorType"].is_null(), "{answer}");
    let said = error.to_string();
    assert!(
        !said.contains("AccessDenied") && !said.contains("arn:aws"),
        "no internals: {said}"
    );
    assert_eq!(
        alice.ok("{ me { id } }", json!({})).await["me"],
        serde_json::Value::Null
    );
}

/// `@connections` takes a function's key for what its policy grants:
/// `execute-api:ManageConnections` on `POST` for the functions that push, and
/// nothing for a function that does not.
#[tokio::test]
async fn connections_take_a_functions_key_only_for_what_its_policy_grants() {
    use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata as _;
    use aws_sdk_apigatewaymanagement::primitives::Blob;

    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let room = chat_tests::convo(&alice, "room", &[]).await;
    let mut ws = stack.ws(&alice).await;
    crate::realtime::watch_room(&mut ws, "w", &room).await;
    let connection_id = stack.subscriber_connection(&room).await;
    let endpoint = stack.running.ws_url.replacen("ws://", "http://", 1);
    let as_function = |function: &str| {
        aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::Config::builder()
                .behavior_version(aws_sdk_apigatewaymanagement::config::BehaviorVersion::latest())
                .region(aws_sdk_apigatewaymanagement::config::Region::new(
                    "us-east-1",
                ))
                .endpoint_url(&endpoint)
                .credentials_provider(key_of(&stack, function))
                .build(),
        )
    };
    let frame =
        json!({ "type": "next", "id": "w", "payload": { "data": { "marker": 1 } } }).to_string();

    // create-message pushes what it writes: its post is accepted.
    as_function("create-message")
        .post_to_connection()
        .connection_id(&connection_id)
        .data(Blob::new(frame.clone()))
        .send()
        .await
        .expect("create-message may post");
    match ws.next().await {
        chat_tests::WsEvent::Message(m) => assert_eq!(m["payload"]["data"]["marker"], 1, "{m}"),
        other => panic!("expected the post, got {other:?}"),
    }

    // The inbox function pushes nothing: refused as API Gateway refuses it.
    let err = as_function("inbox")
        .post_to_connection()
        .connection_id(&connection_id)
        .data(Blob::new(frame))
        .send()
        .await
        .expect_err("inbox may not post");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let message = err.message().unwrap_or_default();
    assert!(
        message.contains("execute-api:ManageConnections")
            && message.contains(&format!("/POST/@connections/{connection_id}")),
        "{message}"
    );
    // create-message's grant is for POST and DELETE (a push, and closing
    // an expired token's socket): it may not read a connection.
    let err = as_function("create-message")
        .get_connection()
        .connection_id(&connection_id)
        .send()
        .await
        .expect_err("create-message may not read a connection");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(
        err.message()
            .unwrap_or_default()
            .contains(&format!("/GET/@connections/{connection_id}")),
        "{err:?}"
    );
    // And nothing reached or closed the socket.
    ws.sync().await;
}

/// The S3 stand-in takes each function's key, in a header or in a
/// presigned link, for what that function's policy grants on the bucket
/// the template names; a `DeleteObjects` deletes the keys the signer may
/// delete and lists the others as `AccessDenied`, as S3 does.
#[tokio::test]
async fn s3_takes_a_functions_key_only_for_the_objects_its_policy_names() {
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};

    let stack = Stack::start().await;
    let bucket = chat_gateway::s3::BUCKET;
    let s3 = |function: &str| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::new()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .endpoint_url(&stack.running.s3_url)
                .force_path_style(true)
                .credentials_provider(key_of(&stack, function))
                .build(),
        )
    };
    let put = |function: &str, key: &str| {
        s3(function)
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"bytes"))
            .send()
    };

    // process-upload writes the processed copies under media/.
    put("process-upload", "media/room/a")
        .await
        .expect("allowed");
    put("process-upload", "media/room/b")
        .await
        .expect("allowed");
    // create-upload's grant is uploads/ only (by presigned PUT).
    let err = put("create-upload", "media/room/c")
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some("AccessDenied"));
    let message = err.message().unwrap_or_default();
    assert!(
        message.contains(
            "assumed-role/create-upload-role/create-upload is not authorized to perform: \
             s3:PutObject on resource: arn:aws:s3:::chat-media-000000000000-us-east-1/media/room/c"
        ),
        "the template's bucket name, resolved: {message}"
    );

    // A presigned link carries its signer's permissions: the typing
    // function reads nothing of the bucket, so neither does its link.
    let presign = |function: &str| {
        let s3 = s3(function);
        async move {
            s3.get_object()
                .bucket(bucket)
                .key("media/room/a")
                .presigned(
                    aws_sdk_s3::presigning::PresigningConfig::expires_in(
                        std::time::Duration::from_secs(60),
                    )
                    .unwrap(),
                )
                .await
                .unwrap()
                .uri()
                .to_string()
        }
    };
    let http = reqwest::Client::new();
    let denied = http.get(presign("typing").await).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    assert!(denied.text().await.unwrap().contains("AccessDenied"));
    // get-convo's reads (attachment links) are granted under media/.
    let link = presign("get-convo").await;
    let allowed = http.get(&link).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.bytes().await.unwrap().as_ref(), b"bytes");
    // The same link with its signature changed, and no signature at all,
    // are refused as S3 refuses them.
    let (head, signature) = link.split_once("X-Amz-Signature=").unwrap();
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (0, '0') => '1',
            (0, _) => '0',
            (_, c) => c,
        })
        .collect();
    let tampered = http
        .get(format!("{head}X-Amz-Signature={flipped}"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 403);
    assert!(tampered
        .text()
        .await
        .unwrap()
        .contains("SignatureDoesNotMatch"));
    let unsigned = http
        .get(format!("{}/{bucket}/media/room/a", stack.running.s3_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert!(unsigned.text().await.unwrap().contains("AccessDenied"));

    // create-upload may delete nothing: both keys come back refused, and
    // both objects stay.
    let delete = |keys: &[&str]| {
        Delete::builder()
            .set_objects(Some(
                keys.iter()
                    .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    let out = s3("create-upload")
        .delete_objects()
        .bucket(bucket)
        .delete(delete(&["media/room/a", "media/room/b"]))
        .send()
        .await
        .expect("answered, with an error per key");
    let refused: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap_or_default(), e.code().unwrap_or_default()))
        .collect();
    assert_eq!(
        refused,
        [
            ("media/room/a", "AccessDenied"),
            ("media/room/b", "AccessDenied")
        ]
    );
    let stack_s3 = s3("create-upload").config().to_builder();
    let stack_s3 = aws_sdk_s3::Client::from_conf(
        stack_s3
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .build(),
    );
    for key in ["media/room/a", "media/room/b"] {
        stack_s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} stays: {e:?}"));
    }
    // The upload sweeper may delete under media/: the same call deletes.
    let out = s3("upload-sweeper")
        .delete_objects()
        .bucket(bucket)
        .delete(delete(&["media/room/a", "media/room/b"]))
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert!(stack_s3
        .head_object()
        .bucket(bucket)
        .key("media/room/a")
        .send()
        .await
        .is_err());
}

/// Secrets Manager takes a function's key for the secrets its policy
/// names (`!Ref PageTokenSecret`), and refuses the rest with
/// `AccessDeniedException`.
#[tokio::test]
async fn secrets_manager_takes_a_functions_key_only_for_its_secrets() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;

    let stack = Stack::start().await;
    let sdk = |credentials: aws_credential_types::Credentials| {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(stack.running.base_url.clone())
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .build()
    };
    let arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:PageTokenSecret";
    // create-message pages, so it holds PageTokenSecretReadPolicy.
    let secret =
        chat_lambda::config::read_page_token_secret(&sdk(key_of(&stack, "create-message")), arn)
            .await
            .expect("create-message may read the page-token secret");
    assert!(secret.len() >= chat_lambda::config::MIN_PAGE_TOKEN_SECRET);
    // The notifier reads only the push credentials.
    let refused = |result: Result<String, chat_lambda::config::ConfigError>| match result {
        Err(chat_lambda::config::ConfigError::SecretRead(e)) => (
            e.code().unwrap_or_default().to_string(),
            e.message().unwrap_or_default().to_string(),
        ),
        other => panic!("refused, got {other:?}"),
    };
    let (code, message) = refused(
        chat_lambda::config::read_page_token_secret(&sdk(key_of(&stack, "notifier")), arn).await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("notifier is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:000000000000:secret:PageTokenSecret"),
        "{message}"
    );
    // A key the stack never gave out.
    let (code, _) = refused(
        chat_lambda::config::read_page_token_secret(
            &sdk(aws_credential_types::Credentials::new(
                "local-create-message",
                "not-its-secret",
                None,
                None,
                "test",
            )),
            arn,
        )
        .await,
    );
    assert_eq!(code, "InvalidSignatureException");
}
