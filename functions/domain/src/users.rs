//! Profiles: `createUser` (the caller's own, idempotent, usernames unique),
//! `getUser`, `listUsers` and `me`.

use tracing::instrument;

use crate::clock::now;
use crate::error::{Error, Result};
use crate::graph::{UserSel, UserView};
use crate::limits;
use crate::model::{Caller, User};
use crate::page::{Page, PageRequest, Scope};
use crate::ports::{Change, ChatStore, CreateUserOutcome, Publisher};
use crate::service::ChatService;

/// Writing a profile.
impl<S: ChatStore, P: Publisher> ChatService<S, P> {
    /// Creates the caller's own profile. Idempotent: a caller who has a profile
    /// with this username gets it back.
    #[instrument(skip(self), fields(caller = %caller.id))]
    pub async fn create_user(&self, caller: &Caller, username: &str) -> Result<User> {
        let username = limits::username(username)?;
        let id = limits::id("caller id", &caller.id)?;
        if let Some(existing) = self.store.get_user(&id).await? {
            return same_username(existing, &username);
        }
        // A name is shown everywhere its user goes: one the word filter
        // matches is refused, whatever the filter's action for messages.
        if !self.filter.find(&username).is_empty() {
            return Err(Error::Validation(
                "this username has words this chat does not allow".into(),
            ));
        }
        let now = now();
        let user = User {
            id,
            username,
            created_at: now.clone(),
            updated_at: now,
            online: false,
            last_seen_at: None,
        };
        match self.store.create_user(&user).await? {
            CreateUserOutcome::Created => {
                self.push(Change::User(&user)).await;
                Ok(user)
            }
            CreateUserOutcome::UsernameTaken => Err(Error::Conflict(format!(
                "username {:?} is taken",
                user.username
            ))),
            // A concurrent retry of the same request won the race.
            CreateUserOutcome::IdTaken => match self.store.get_user(&user.id).await? {
                Some(existing) => same_username(existing, &user.username),
                None => Err(Error::Conflict("profile is being created; retry".into())),
            },
        }
    }
}

/// Reading profiles.
impl<S: ChatStore, P: Send + Sync> ChatService<S, P> {
    /// Any signed-in user can read a profile; only its owner can read its
    /// conversations (another user's are refused at their path).
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn get_user(
        &self,
        caller: &Caller,
        id: &str,
        sel: &UserSel,
    ) -> Result<Option<UserView>> {
        let id = limits::id("id", id)?;
        match self.store.get_user(&id).await? {
            Some(user) => Ok(Some(self.expand_user(caller, user, sel).await?)),
            None => Ok(None),
        }
    }

    /// Users ordered by username. Any signed-in user may list them (to start a
    /// conversation, as Chatt does).
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn list_users(
        &self,
        caller: &Caller,
        page: PageRequest,
        sel: &UserSel,
    ) -> Result<Page<UserView>> {
        let query = self.tokens.open(&Scope::Users, &page, "limit")?;
        let (users, cursor) = self.store.list_users(&query).await?;
        Ok(Page {
            items: self.expand_users(caller, users, sel).await?,
            next_token: cursor.map(|c| self.tokens.seal(&Scope::Users, &c)),
        })
    }

    /// The caller's own profile, or `None` before `createUser`.
    #[instrument(skip(self, sel), fields(caller = %caller.id))]
    pub async fn me(&self, caller: &Caller, sel: &UserSel) -> Result<Option<UserView>> {
        match self.store.get_user(&caller.id).await? {
            Some(user) => Ok(Some(self.expand_user(caller, user, sel).await?)),
            None => Ok(None),
        }
    }
}

fn same_username(existing: User, asked: &str) -> Result<User> {
    if existing.username == asked {
        Ok(existing)
    } else {
        Err(Error::Conflict(format!(
            "you already have a profile, with username {:?}",
            existing.username
        )))
    }
}
