//! Membership: `createConvoLink` (adding a member), and leaving, removal
//! and promotion with owner roles. A removed member's live subscriptions
//! end before the removal answers.

use tracing::instrument;

use crate::clock::now;
use crate::error::{Error, Result};
use crate::graph::{LinkSel, LinkView};
use crate::limits;
use crate::model::{Caller, Conversation, ConvoLink, MemberChange, MemberChangeKind};
use crate::ports::{AddMemberOutcome, Change, ChatStore, ConversationStore, Publisher};
use crate::rates::Action;
use crate::service::{contended, owner_only, without, ChatService};

/// Changing who is in a conversation.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Adds a member (by default the caller) to a conversation the caller is in.
    /// Idempotent: adding a member again returns the existing link. Nobody
    /// can add someone who blocks them.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn create_convo_link(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: Option<&str>,
        sel: &LinkSel,
    ) -> Result<LinkView> {
        let conversation_id = limits::id("convoLinkConversationId", conversation_id)?;
        let user_id = limits::id("convoLinkUserId", user_id.unwrap_or(&caller.id))?;
        let link = if user_id == caller.id {
            // Nobody can join on their own: this only confirms a membership.
            self.existing_link(&caller.id, &conversation_id).await?
        } else {
            let (counted, blocked) = futures::join!(
                self.take_rate(caller, Action::Invite, 1),
                self.refuse_blockers(&caller.id, std::slice::from_ref(&user_id))
            );
            counted?;
            blocked?;
            let now = now();
            let link = ConvoLink::new(&conversation_id, &user_id, &now);
            match self
                .store
                .add_member(&caller.id, &link, limits::MAX_MEMBERS)
                .await?
            {
                AddMemberOutcome::Added => {
                    let joined = MemberChange {
                        kind: MemberChangeKind::Joined,
                        conversation_id: conversation_id.clone(),
                        user_id: user_id.clone(),
                        by: caller.id.clone(),
                    };
                    futures::join!(
                        self.push(Change::Link(&link)),
                        self.push(Change::Member(&joined))
                    );
                    link
                }
                AddMemberOutcome::AlreadyMember => {
                    self.existing_link(&user_id, &conversation_id).await?
                }
                AddMemberOutcome::CallerNotMember => return Err(Error::not_member()),
                AddMemberOutcome::UserMissing => {
                    return Err(Error::NotFound(format!("no user with id {user_id:?}")))
                }
                AddMemberOutcome::Full => {
                    return Err(Error::LimitExceeded(format!(
                        "the conversation has the maximum of {} members",
                        limits::MAX_MEMBERS
                    )))
                }
            }
        };
        self.expand_link(caller, link, sel).await
    }

    async fn existing_link(&self, user_id: &str, conversation_id: &str) -> Result<ConvoLink> {
        match self
            .store
            .membership(user_id, conversation_id, false)
            .await?
        {
            (Some(link), _) => Ok(link),
            (None, _) => Err(Error::not_member()),
        }
    }

    /// The caller leaves a conversation. Their live subscriptions to it end
    /// before this returns, and the members see it pushed. The last owner
    /// cannot leave while others remain: they promote someone first.
    /// Leaving a conversation one is not in changes nothing (a retry).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn leave_convo(
        &self,
        caller: &Caller,
        conversation_id: &str,
    ) -> Result<MemberChange> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let change = MemberChange {
            kind: MemberChangeKind::Left,
            conversation_id,
            user_id: caller.id.clone(),
            by: caller.id.clone(),
        };
        // The caller's link, read with the conversation, says they are in it.
        self.change_membership(caller, &change, |convo, _| {
            if convo.owners == [caller.id.clone()] && convo.member_count > 1 {
                return Err(Error::Conflict(
                    "you are the last owner: promote another member (promoteMember) before you leave".into(),
                ));
            }
            Ok(Some(Plan::without(convo, &caller.id)))
        })
        .await
    }

    /// An owner removes a member who is not an owner. The member's live
    /// subscriptions to the conversation end before this returns, and the
    /// members see it pushed. Removing someone who is not a member changes
    /// nothing (a retry).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn remove_member(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<MemberChange> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let user_id = limits::id("userId", user_id)?;
        if user_id == caller.id {
            return Err(Error::validation("to remove yourself, use leaveConvo"));
        }
        let change = MemberChange {
            kind: MemberChangeKind::Removed,
            conversation_id,
            user_id: user_id.clone(),
            by: caller.id.clone(),
        };
        self.change_membership(caller, &change, |convo, is_member| {
            owner_only(convo, caller, "remove members")?;
            if !is_member {
                return Ok(None);
            }
            if convo.owners.contains(&user_id) {
                return Err(Error::Unauthorized(
                    "an owner cannot be removed; an owner can leave".into(),
                ));
            }
            Ok(Some(Plan::without(convo, &user_id)))
        })
        .await
    }

    /// An owner makes another member an owner too. Promoting an owner
    /// changes nothing (a retry).
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn promote_member(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<MemberChange> {
        let conversation_id = limits::id("conversationId", conversation_id)?;
        let user_id = limits::id("userId", user_id)?;
        let change = MemberChange {
            kind: MemberChangeKind::Promoted,
            conversation_id,
            user_id: user_id.clone(),
            by: caller.id.clone(),
        };
        self.change_membership(caller, &change, |convo, is_member| {
            owner_only(convo, caller, "promote members")?;
            if !is_member {
                return Err(Error::NotFound(format!(
                    "{user_id:?} is not a member of this conversation"
                )));
            }
            if convo.owners.contains(&user_id) {
                return Ok(None);
            }
            if convo.owners.len() >= limits::MAX_OWNERS {
                return Err(Error::LimitExceeded(format!(
                    "the conversation has the maximum of {} owners",
                    limits::MAX_OWNERS
                )));
            }
            let mut owners = convo.owners.clone();
            owners.push(user_id.clone());
            Ok(Some(Plan {
                members: convo.members.clone(),
                owners,
                member_count: convo.member_count,
                leaving: false,
            }))
        })
        .await
    }

    /// Applies a membership change computed by `next` from the conversation
    /// as read and whether the change's user is a member (a [`Plan`], or
    /// `None` for no change), over that read, then pushes it and ends the
    /// live subscriptions of whoever is no longer a member. A caller who is
    /// not a member learns nothing of the conversation: leaving answers as
    /// if done, the rest are refused.
    async fn change_membership(
        &self,
        caller: &Caller,
        change: &MemberChange,
        next: impl Fn(&Conversation, bool) -> Result<Option<Plan>>,
    ) -> Result<MemberChange> {
        let mut attempts = 0;
        loop {
            let (link, convo) = self
                .store
                .membership(&caller.id, &change.conversation_id, true)
                .await?;
            let (Some(_), Some(convo)) = (link, convo) else {
                return match change.kind {
                    MemberChangeKind::Left => self.settled(change).await,
                    _ => Err(Error::not_member()),
                };
            };
            let is_member = change.user_id == caller.id
                || is_member(&self.store, &convo, &change.user_id).await?;
            let Some(plan) = next(&convo, is_member)? else {
                return self.settled(change).await;
            };
            let leaving = plan.leaving.then_some(change.user_id.as_str());
            if self
                .store
                .change_members(
                    &convo,
                    &plan.members,
                    &plan.owners,
                    plan.member_count,
                    leaving,
                )
                .await?
            {
                self.push(Change::Member(change)).await;
                if let Some(user) = leaving {
                    if let Err(err) = self.publisher.revoke(&change.conversation_id, user).await {
                        tracing::warn!(error = %crate::Chain(&err), "membership changed, but live subscriptions not ended");
                        return Err(err);
                    }
                }
                return Ok(change.clone());
            }
            attempts += 1;
            contended(attempts)?;
        }
    }

    /// A membership change that was made already (a retry): whoever is no
    /// longer a member has their live subscriptions ended again, in case
    /// the first attempt failed between its write and that.
    async fn settled(&self, change: &MemberChange) -> Result<MemberChange> {
        if matches!(
            change.kind,
            MemberChangeKind::Left | MemberChangeKind::Removed
        ) {
            self.publisher
                .revoke(&change.conversation_id, &change.user_id)
                .await?;
        }
        Ok(change.clone())
    }
}

/// A conversation's membership after a change: its listed members, its
/// owners, how many members in all, and whether the change's user leaves.
struct Plan {
    members: Vec<String>,
    owners: Vec<String>,
    member_count: usize,
    leaving: bool,
}

impl Plan {
    /// `convo` without the member `user_id`.
    fn without(convo: &Conversation, user_id: &str) -> Plan {
        Plan {
            members: without(&convo.members, user_id),
            owners: without(&convo.owners, user_id),
            member_count: convo.member_count.saturating_sub(1),
            leaving: true,
        }
    }
}

/// Whether `user_id` is a member of `convo`, as read: its list says, and
/// past what it lists, the user's link.
pub(crate) async fn is_member<S: ConversationStore>(
    store: &S,
    convo: &Conversation,
    user_id: &str,
) -> Result<bool> {
    if convo.members.iter().any(|m| m == user_id) {
        return Ok(true);
    }
    if convo.lists_all() {
        return Ok(false);
    }
    Ok(store
        .membership(user_id, &convo.id, false)
        .await?
        .0
        .is_some())
}

/// Every member of `convo`: its list when that is whole, otherwise its
/// links.
pub(crate) async fn all_members<S: ConversationStore>(
    store: &S,
    convo: &Conversation,
) -> Result<Vec<String>> {
    if convo.lists_all() {
        return Ok(convo.members.clone());
    }
    store.member_ids(&convo.id).await
}
