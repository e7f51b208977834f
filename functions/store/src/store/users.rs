//! The Users table: profiles, the username claims beside them, and presence.

use super::*;

impl UserStore for DynamoStore {
    async fn get_user(&self, id: &str) -> chat_domain::error::Result<Option<User>> {
        let key = to_attrs(&IdKey { id: id.to_string() })?;
        let item: Option<UserItem> = self.get(&self.tables.users, key).await?;
        Ok(item.map(User::from))
    }

    async fn create_user(&self, user: &User) -> chat_domain::error::Result<CreateUserOutcome> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(
                &self.tables.users,
                to_attrs(&user_item(user))?,
                "attribute_not_exists(id)",
            ))
            .transact_items(self.put(
                &self.tables.users,
                to_attrs(&UsernameClaimItem {
                    push_until: writer_pushes(),
                    ..UsernameClaimItem::new(user)
                })?,
                "attribute_not_exists(id)",
            ))
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateUserOutcome::Created),
            Err(err) => match failed_conditions(&err) {
                Some(r) if failed(&r, 0) => Ok(CreateUserOutcome::IdTaken),
                Some(r) if failed(&r, 1) => Ok(CreateUserOutcome::UsernameTaken),
                _ => Err(StoreError::from(err).into()),
            },
        }
    }

    async fn list_users(
        &self,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<User>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<UserItem>(
                &self.tables.users,
                Some(USERS_BY_NAME),
                "listPk",
                USER_LIST_PARTITION,
                page,
                true,
                false,
            )
            .await?;
        Ok((items.into_iter().map(User::from).collect(), cursor))
    }

    async fn set_presence(
        &self,
        user_id: &str,
        online: bool,
        at_ms: i64,
    ) -> chat_domain::error::Result<bool> {
        let at = chat_domain::clock::time_at(at_ms);
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(to_attrs(&IdKey {
                id: user_id.to_string(),
            })?))
            // `online` is a reserved word.
            .update_expression("SET #online = :online, lastSeenAt = :seen, presenceAt = :at")
            .expression_attribute_names("#online", "online")
            // A username claim shares the table and has `ownerId`.
            .condition_expression(
                "attribute_exists(username) AND (attribute_not_exists(presenceAt) OR presenceAt < :at)",
            )
            .expression_attribute_values(":online", to_av(&online)?)
            .expression_attribute_values(":seen", to_av(&at)?)
            .expression_attribute_values(":at", to_av(&at_ms)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old: PresenceItem = match out.attributes {
                    Some(old) => serde_dynamo::from_item(old).map_err(StoreError::from)?,
                    None => PresenceItem::default(),
                };
                Ok(old.online.unwrap_or(false) != online)
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(StoreError::from(err).into()),
            },
        }
    }

    async fn users_by_username(
        &self,
        usernames: &[String],
    ) -> chat_domain::error::Result<Vec<(String, String)>> {
        let keys = usernames
            .iter()
            .map(|name| {
                Ok((
                    self.tables.users.clone(),
                    to_attrs(&IdKey {
                        id: UsernameClaimItem::id_of(name),
                    })?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut found = self.batch_get_raw(keys, false).await?;
        Ok(found
            .remove(&self.tables.users)
            .unwrap_or_default()
            .into_iter()
            .map(from_attrs::<UsernameClaimItem>)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|c| Some((c.username()?.to_string(), c.owner_id)))
            .collect())
    }
}
