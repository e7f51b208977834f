//! Users and conversations for the scenarios, made through the project's own
//! API (the peer reads the same ConvoLinks table, so both sides see them).

use futures::{stream, StreamExt, TryStreamExt};
use serde_json::json;

use crate::client::Http;
use crate::docs;
use crate::Result;

/// Members `createConvo` takes besides the caller; the rest join by link.
const INITIAL_OTHERS: usize = 49;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

/// The project's endpoints and the users made on it.
pub struct World {
    pub http: Http,
    pub base_url: String,
    pub graphql_url: String,
}

impl World {
    pub fn new(http: Http, base_url: &str) -> World {
        World {
            http,
            base_url: base_url.to_string(),
            graphql_url: format!("{base_url}/graphql"),
        }
    }

    /// A signed-in user with a profile.
    pub async fn user(&self, username: &str) -> Result<User> {
        let token = self.http.token(&self.base_url, username).await?;
        let out = self
            .http
            .gql(
                &self.graphql_url,
                &token,
                docs::CREATE_USER,
                json!({ "username": username }),
            )
            .await?;
        let id = out["createUser"]["id"]
            .as_str()
            .ok_or("no user id")?
            .to_string();
        Ok(User { id, token })
    }

    /// `count` users named `{prefix}{i}`, made 32 at a time.
    pub async fn users(&self, prefix: &str, count: usize) -> Result<Vec<User>> {
        stream::iter(0..count)
            .map(|i| async move { self.user(&format!("{prefix}{i:05}")).await })
            .buffered(32)
            .try_collect()
            .await
    }

    /// A conversation of `owner` and `members`: `createConvo` with the first
    /// 49, `createConvoLink` for the rest.
    pub async fn conversation(&self, owner: &User, name: &str, members: &[User]) -> Result<String> {
        let first: Vec<&str> = members
            .iter()
            .take(INITIAL_OTHERS)
            .map(|u| u.id.as_str())
            .collect();
        let out = self
            .http
            .gql(
                &self.graphql_url,
                &owner.token,
                docs::CREATE_CONVO,
                json!({ "name": name, "members": first }),
            )
            .await?;
        let id = out["createConvo"]["id"]
            .as_str()
            .ok_or("no conversation id")?
            .to_string();
        stream::iter(members.iter().skip(INITIAL_OTHERS))
            .map(|u| {
                let id = id.clone();
                async move {
                    self.http
                        .gql(
                            &self.graphql_url,
                            &owner.token,
                            docs::CREATE_CONVO_LINK,
                            json!({ "convoLinkConversationId": id, "convoLinkUserId": u.id }),
                        )
                        .await
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(id)
    }

    /// Posts one message as `author`.
    pub async fn post(&self, author: &User, conversation_id: &str, content: &str) -> Result<()> {
        post(
            &self.http,
            &self.graphql_url,
            author,
            conversation_id,
            content,
        )
        .await
    }
}

/// Posts one message as `author` through any GraphQL endpoint (the project's
/// or the peer's): the `createMessage` every scenario sends.
pub async fn post(
    http: &Http,
    graphql_url: &str,
    author: &User,
    conversation_id: &str,
    content: &str,
) -> Result<()> {
    http.gql(
        graphql_url,
        &author.token,
        docs::CREATE_MESSAGE,
        json!({ "content": content, "messageConversationId": conversation_id }),
    )
    .await?;
    Ok(())
}
