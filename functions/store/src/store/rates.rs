//! Per-user rate counts in the Conversations table: one conditional
//! UpdateItem per count (see `chat_domain::rates`).

use chat_domain::ports::RateStore;
use chat_domain::rates::{Counted, RateCount};

use super::*;
use crate::items::RateItem;

impl RateStore for DynamoStore {
    async fn count_rate(&self, count: &RateCount) -> chat_domain::error::Result<Counted> {
        let room = count.max.saturating_sub(count.cost);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.conversations)
            .set_key(Some(to_attrs(&IdKey {
                id: RateItem::id_of(&count.user_id, count.action, count.window_start),
            })?))
            .expression_attribute_names("#x", RateItem::EXPIRES)
            .expression_attribute_values(":exp", to_av(&count.expires_at)?)
            .expression_attribute_values(":cost", to_av(&count.cost)?)
            .expression_attribute_values(":room", to_av(&room)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match count.slot {
            None => update
                .update_expression("SET #x = if_not_exists(#x, :exp) ADD n :cost")
                .condition_expression("attribute_not_exists(n) OR n <= :room"),
            Some((index, max)) => update
                .update_expression("SET #x = if_not_exists(#x, :exp) ADD n :cost, #s :cost")
                .condition_expression(
                    "(attribute_not_exists(n) OR n <= :room) \
                     AND (attribute_not_exists(#s) OR #s <= :slotRoom)",
                )
                .expression_attribute_names("#s", RateItem::slot_attribute(index))
                .expression_attribute_values(":slotRoom", to_av(&max.saturating_sub(count.cost))?),
        };
        match update.send().await {
            Ok(_) => Ok(Counted::Taken),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    // What stood, when the engine returns it: which cap it was.
                    let seen = failed
                        .item()
                        .map(|item| from_attrs::<RateItem>(item.clone()))
                        .transpose()?
                        .map(|row| (row.n, count.slot.map_or(0, |(i, _)| row.in_slot(i))));
                    Ok(Counted::Refused(seen))
                }
                _ => Err(StoreError::from(err).into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expire_by_the_tables_ttl_attribute() {
        assert_eq!(crate::tables::CONVERSATIONS.ttl, Some(RateItem::EXPIRES));
        let row: RateItem = from_attrs(
            to_attrs(&serde_json::json!({ "id": RateItem::id_of("u", "message", 0), "n": 3, "s2": 1, "expiresAt": 9 }))
                .unwrap(),
        )
        .unwrap();
        assert_eq!((row.n, row.in_slot(2), row.in_slot(0)), (3, 1, 0));
    }
}
