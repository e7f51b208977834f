//! Posting a row's payloads within the push window (see
//! [`crate::window`]), handing the rest of a large conversation to other
//! invocations, and ending subscriptions: their rows first, the `error`
//! after the window.

use super::*;

impl<C: Connections, N: Notifier> FanOut<C, N> {
    /// Ends each subscription whose payload would exceed what API Gateway
    /// can send: it gets the protocol's `error` message (which ends it for
    /// the client) and its rows are removed. The others are not held up:
    /// the payload was measured, never built.
    pub(super) async fn drop_too_large(&self, subscriptions: &[&Subscription]) {
        let error = json!(AppSyncError::request(
            "PayloadTooLarge",
            format!("this subscription's payload would exceed {MAX_PAYLOAD_BYTES} bytes (more than API Gateway can send), or its document the caps on subscription documents; subscribe again selecting fewer fields"),
            vec![],
        ));
        self.end_with(subscriptions.iter().copied(), error).await;
    }

    /// Posts to the first subscribers here and, beyond the relay's
    /// threshold, hands the rest to other invocations, all at the same time
    /// (see [`crate::relay`]). A batch Lambda refused is then posted here.
    pub(super) async fn post_with_relays(
        &self,
        topic: &Topic,
        payloads: &[Value],
        mut posts: Vec<RelayPost>,
        deadline: Deadline,
    ) -> Delivery {
        let key = topic.key();
        let Some(settings) = self.relay.as_ref().filter(|r| posts.len() > r.above) else {
            return self.post_all(&key, payloads, posts, deadline).await;
        };
        let rest = posts.split_off(settings.above);
        let mut batches = RelayBatch::split(&key, payloads, &rest, settings.above);
        for batch in &mut batches {
            batch.post_before = Some(deadline.0);
        }
        let (mut delivery, answers) = futures::join!(
            self.post_all(&key, payloads, posts, deadline),
            futures::future::join_all(batches.iter().map(|b| settings.relay.hand_off(b)))
        );
        // Batches are contiguous runs of `rest`, in order.
        let mut refused = Vec::new();
        let mut start = 0;
        for (batch, answer) in batches.iter().zip(answers) {
            let run = start..start + batch.posts.len();
            start = run.end;
            match answer {
                Ok(done) => {
                    delivery.sent += done.sent;
                    delivery.gone += done.gone;
                    delivery.failed += done.failed;
                    delivery.relayed += done.sent + done.gone + done.failed;
                }
                Err(err @ RelayError::Failed { .. }) => {
                    warn!(error = %Chain(&err), posts = batch.posts.len(), "a relayed batch failed part-way; not posted again");
                    delivery.failed += batch.posts.len();
                }
                Err(err) => {
                    warn!(error = %Chain(&err), posts = batch.posts.len(), "hand-off refused; posting the batch here");
                    refused.extend_from_slice(&rest[run]);
                }
            }
        }
        if !refused.is_empty() {
            let here = self.post_all(&key, payloads, refused, deadline).await;
            delivery.sent += here.sent;
            delivery.gone += here.gone;
            delivery.failed += here.failed;
        }
        delivery
    }

    /// Closes each connection of `expired` (once, whatever its number of
    /// subscriptions) with 4401 "Token expired", and removes its rows.
    pub(super) async fn close_expired(&self, expired: &[Subscription]) {
        let connections: std::collections::BTreeSet<&str> =
            expired.iter().map(|s| s.connection_id.as_str()).collect();
        let close = crate::protocol::Close::token_expired();
        futures::stream::iter(connections)
            .for_each_concurrent(self.concurrency, |connection_id| {
                let close = &close;
                async move {
                    info!(connection = %connection_id, "token expired; closing");
                    if let Err(err) = self.notifier.close(connection_id, close).await {
                        warn!(error = %Chain(&err), connection = %connection_id, "could not close an expired connection");
                    }
                    if let Err(err) = self.connections.drop_gone(connection_id).await {
                        warn!(error = %Chain(&err), connection = %connection_id, "could not remove an expired connection");
                    }
                }
            })
            .await;
    }

    /// Closes every connection of `user_id` (suspended or banned) with
    /// 4403 "Forbidden", and removes its rows; how many there were.
    pub(super) async fn close_user(&self, user_id: &str) -> Result<usize, crate::RealtimeError> {
        let ids = self.connections.connection_ids_of(user_id).await?;
        let close = crate::protocol::Close::forbidden();
        futures::stream::iter(&ids)
            .for_each_concurrent(self.concurrency, |connection_id| {
                let close = &close;
                async move {
                    info!(connection = %connection_id, "user barred; closing");
                    if let Err(err) = self.notifier.close(connection_id, close).await {
                        warn!(error = %Chain(&err), connection = %connection_id, "could not close a barred user's connection");
                    }
                    if let Err(err) = self.connections.drop_gone(connection_id).await {
                        warn!(error = %Chain(&err), connection = %connection_id, "could not remove a barred user's connection");
                    }
                }
            })
            .await;
        Ok(ids.len())
    }

    /// Posts concurrently (bounded) within `deadline`; a gone connection is
    /// removed. Posts not sent by the deadline go after a fresh read of
    /// `topic`'s subscribers, to those still subscribed, within a new
    /// window (see [`crate::window`]), for as long as each window sends
    /// some: a busy stack answers later rather than dropping copies. Only
    /// after [`crate::window::MAX_REREADS`] windows in a row that sent
    /// nothing are the rest counted failed.
    pub(super) async fn post_all(
        &self,
        topic: &str,
        payloads: &[Value],
        mut posts: Vec<RelayPost>,
        mut deadline: Deadline,
    ) -> Delivery {
        let payloads: Vec<NextPayload> = payloads.iter().map(NextPayload::new).collect();
        let mut delivery = Delivery::default();
        let mut idle_rereads = 0;
        loop {
            let tried = posts.len();
            let late = self
                .post_within(&payloads, posts, deadline, &mut delivery)
                .await;
            if late.is_empty() {
                return delivery;
            }
            if late.len() < tried {
                idle_rereads = 0;
            } else if idle_rereads == crate::window::MAX_REREADS {
                warn!(
                    posts = late.len(),
                    "posts past their window, and fresh windows sent none; counted failed"
                );
                delivery.failed += late.len();
                return delivery;
            } else {
                idle_rereads += 1;
            }
            deadline = Deadline::for_read_now();
            let still = match self.connections.subscribers(topic).await {
                Ok(subscribers) => subscribers
                    .into_iter()
                    .map(|s| (s.connection_id, s.id))
                    .collect::<std::collections::HashSet<_>>(),
                Err(err) => {
                    warn!(error = %Chain(&err), posts = late.len(), "posts past their window, and the subscribers could not be read again");
                    delivery.failed += late.len();
                    return delivery;
                }
            };
            debug!(
                late = late.len(),
                "posts past their window; subscribers read again"
            );
            posts = late
                .into_iter()
                .filter(|p| still.contains(&(p.connection_id.clone(), p.subscription_id.clone())))
                .collect();
            if posts.is_empty() {
                return delivery;
            }
        }
    }

    /// One round of [`Self::post_all`]: the posts it could not send before
    /// `deadline`, first attempts or retries, come back.
    async fn post_within(
        &self,
        payloads: &[NextPayload],
        posts: Vec<RelayPost>,
        deadline: Deadline,
        delivery: &mut Delivery,
    ) -> Vec<RelayPost> {
        enum Outcome {
            Posted(String, Result<(), NotifyError>),
            Late(RelayPost),
        }
        let outcomes: Vec<Outcome> = futures::stream::iter(posts)
            .map(|post| async move {
                if deadline.remaining().is_none() {
                    return Outcome::Late(post);
                }
                let bytes = payloads[post.payload].frame(&post.subscription_id);
                match self
                    .notifier
                    .post_before(&post.connection_id, bytes, deadline)
                    .await
                {
                    Err(NotifyError::Late) => Outcome::Late(post),
                    result => Outcome::Posted(post.connection_id, result),
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut late = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Posted(_, Ok(())) => delivery.sent += 1,
                Outcome::Posted(connection_id, Err(NotifyError::Gone)) => {
                    delivery.gone += 1;
                    if let Err(err) = self.connections.drop_gone(&connection_id).await {
                        warn!(error = %Chain(&err), connection = %connection_id, "could not remove a gone connection");
                    }
                }
                Outcome::Posted(connection_id, Err(err)) => {
                    delivery.failed += 1;
                    warn!(error = %Chain(&err), connection = %connection_id, "post failed");
                }
                Outcome::Late(post) => late.push(post),
            }
        }
        late
    }
}

impl<C: Connections, N: Notifier> FanOut<C, N> {
    /// Ends each of `subscriptions`: its rows go, then, once every push
    /// that may have read them has sent its last post
    /// ([`crate::window::END_WAIT`]), it gets the protocol's `error` with
    /// `error`, which ends it for the client. Nothing for it comes after.
    pub(super) async fn end_with<'a>(
        &self,
        subscriptions: impl Iterator<Item = &'a Subscription> + Clone,
        error: Value,
    ) {
        if subscriptions.clone().next().is_none() {
            return;
        }
        futures::stream::iter(subscriptions.clone())
            .for_each_concurrent(self.concurrency, |sub| async move {
                info!(connection = %sub.connection_id, subscription = %sub.id, "ending a subscription");
                if let Err(err) = self.connections.delete_subscription(&sub.connection_id, &sub.id).await {
                    warn!(error = %Chain(&err), connection = %sub.connection_id, "could not remove a subscription");
                }
            })
            .await;
        tokio::time::sleep(crate::window::END_WAIT).await;
        futures::stream::iter(subscriptions)
            .for_each_concurrent(self.concurrency, |sub| {
                let error = error.clone();
                async move {
                    let message = ServerMessage::Error {
                        id: sub.id.clone(),
                        payload: vec![error],
                    };
                    if let Err(err) = self
                        .notifier
                        .post(&sub.connection_id, message.to_bytes())
                        .await
                    {
                        debug!(error = %Chain(&err), "could not tell the client");
                    }
                }
            })
            .await;
    }

    /// Ends every subscription of `user_id` to `topic`: each gets the
    /// protocol's `error` (which ends it for the client) and its rows go.
    pub async fn end_subscriptions(
        &self,
        topic: &Topic,
        user_id: &str,
    ) -> Result<usize, crate::RealtimeError> {
        let theirs: Vec<Subscription> = self
            .connections
            .subscribers(&topic.key())
            .await?
            .into_iter()
            .filter(|s| s.user_id == user_id)
            .collect();
        let error = json!(AppSyncError::request(
            "Unauthorized",
            "you are no longer a member of this conversation",
            vec![],
        ));
        self.end_with(theirs.iter(), error).await;
        info!(topic = %topic.key(), ended = theirs.len(), "subscriptions ended");
        Ok(theirs.len())
    }
}
