//! The Users table, in memory.

use super::*;

impl UserStore for MemoryStore {
    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.with(|t| t.users.get(id).cloned()))
    }

    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome> {
        Ok(self.with(|t| {
            if t.users.contains_key(&user.id) {
                return CreateUserOutcome::IdTaken;
            }
            match t.usernames.entry(user.username.to_lowercase()) {
                std::collections::hash_map::Entry::Occupied(_) => CreateUserOutcome::UsernameTaken,
                std::collections::hash_map::Entry::Vacant(claim) => {
                    claim.insert(user.id.clone());
                    t.users.insert(user.id.clone(), user.clone());
                    CreateUserOutcome::Created
                }
            }
        }))
    }

    async fn list_users(&self, page: &PageQuery) -> Result<(Vec<User>, Option<Cursor>)> {
        Ok(self.with(|t| {
            let rows: Vec<(String, User)> = t
                .users
                .values()
                .map(|u| (u.username.clone(), u.clone()))
                .collect();
            page_of(rows, page, SortDirection::Asc)
        }))
    }

    async fn set_presence(&self, user_id: &str, online: bool, at_ms: i64) -> Result<bool> {
        Ok(self.with(|t| {
            let later = t.presence_at.get(user_id).is_some_and(|&at| at >= at_ms);
            let Some(user) = t.users.get_mut(user_id).filter(|_| !later) else {
                return false;
            };
            let was = user.online;
            user.online = online;
            user.last_seen_at = Some(time_at(at_ms));
            t.presence_at.insert(user_id.to_string(), at_ms);
            was != online
        }))
    }

    async fn users_by_username(&self, usernames: &[String]) -> Result<Vec<(String, String)>> {
        Ok(self.with(|t| {
            usernames
                .iter()
                .filter_map(|name| Some((name.clone(), t.usernames.get(name)?.clone())))
                .collect()
        }))
    }
}
