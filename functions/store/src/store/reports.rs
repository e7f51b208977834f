//! Reports in the Conversations table, the moderators' index of the open
//! ones (`openReports`), their actions' audit log (`auditLog`), and a
//! moderator's removal of a message in one write with its log entry.

use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use chat_domain::limits::{MAX_REPORTERS, MAX_REPORT_ENTRIES};
use chat_domain::ports::{ChangeOutcome, ReportStore};
use chat_domain::reports::{AuditEntry, Filed, Report, ReportEntry, ReportStatus, ReportTarget};

use super::*;
use crate::items::{AuditItem, ReportItem};
use crate::tables::{AUDIT_LOG, OPEN_REPORTS};

/// What one write of a report keeps of its reporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Their entry (reason, note, snapshot) and their id.
    Entry,
    /// Their id: the entries are full.
    Id,
    /// A count: the ids are full too.
    Count,
}

impl DynamoStore {
    /// A report closed as `status` by `audit`'s moderator, out of the
    /// open reports' index; refused if there is no such report.
    pub(super) fn close_report(
        &self,
        id: &str,
        status: ReportStatus,
        audit: &AuditEntry,
    ) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.tables.conversations)
            .set_key(Some(Self::report_key(id)?))
            .update_expression(
                "SET #st = :status, resolvedBy = :by, resolvedAt = :at REMOVE reportShard",
            )
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":status", to_av(&status)?)
            .expression_attribute_values(":by", to_av(&audit.moderator_id)?)
            .expression_attribute_values(":at", to_av(&audit.at)?)
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The audit log's row of a moderator action.
    pub(super) fn log_action(&self, audit: &AuditEntry) -> Result<TransactWriteItem> {
        Ok(self.put(
            &self.tables.conversations,
            to_attrs(&AuditItem::new(audit))?,
            "attribute_not_exists(id)",
        ))
    }

    fn report_key(report_id: &str) -> Result<Attrs> {
        to_attrs(&IdKey {
            id: ReportItem::id_of(report_id),
        })
    }

    /// One write of a report's row: open, its reporter kept as `keep`
    /// says, on the condition that they are not in it already and that
    /// what keeps them has room.
    async fn file(
        &self,
        target: &ReportTarget,
        entry: &ReportEntry,
        keep: Keep,
    ) -> Result<Result<UpdateItemOutput, SdkError<UpdateItemError>>> {
        let mut set = vec![
            "kind = :kind",
            "userId = :user",
            "#st = :open",
            "reportShard = :shard",
            "openedAt = if_not_exists(openedAt, :at)",
        ];
        let mut add = "";
        let mut condition = String::from("NOT contains(reporters, :reporter)");
        match keep {
            Keep::Entry => {
                set.push("entries = list_append(if_not_exists(entries, :none), :entry)");
                condition.push_str(" AND (attribute_not_exists(entries) OR size(entries) < :max)");
            }
            Keep::Id => {}
            Keep::Count => add = " ADD moreReporters :one",
        }
        if keep != Keep::Count {
            set.push("reporters = list_append(if_not_exists(reporters, :none), :me)");
            condition
                .push_str(" AND (attribute_not_exists(reporters) OR size(reporters) < :maxIds)");
        }
        if matches!(target, ReportTarget::Message { .. }) {
            set.extend(["conversationId = :c", "messageId = :m"]);
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.conversations)
            .set_key(Some(Self::report_key(&target.report_id())?))
            .update_expression(format!(
                "SET {}{add} REMOVE resolvedBy, resolvedAt",
                set.join(", ")
            ))
            .condition_expression(condition)
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":kind", to_av(&target.kind())?)
            .expression_attribute_values(":user", to_av(&target.user_id())?)
            .expression_attribute_values(":open", to_av(&ReportStatus::Open)?)
            .expression_attribute_values(":shard", to_av(&ReportItem::OPEN)?)
            .expression_attribute_values(":at", to_av(&entry.reported_at)?)
            .expression_attribute_values(":reporter", to_av(&entry.reporter_id)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if keep != Keep::Count {
            update = update
                .expression_attribute_values(":none", to_av(&Vec::<String>::new())?)
                .expression_attribute_values(":me", to_av(&[&entry.reporter_id])?)
                .expression_attribute_values(":maxIds", to_av(&MAX_REPORTERS)?);
        } else {
            update = update.expression_attribute_values(":one", to_av(&1)?);
        }
        if keep == Keep::Entry {
            update = update
                .expression_attribute_values(":entry", to_av(&[entry])?)
                .expression_attribute_values(":max", to_av(&MAX_REPORT_ENTRIES)?);
        }
        if let ReportTarget::Message {
            conversation_id,
            message_id,
            ..
        } = target
        {
            update = update
                .expression_attribute_values(":c", to_av(conversation_id)?)
                .expression_attribute_values(":m", to_av(message_id)?);
        }
        Ok(update.send().await)
    }
}

impl ReportStore for DynamoStore {
    async fn file_report(
        &self,
        target: &ReportTarget,
        entry: &ReportEntry,
    ) -> chat_domain::error::Result<Filed> {
        for keep in [Keep::Entry, Keep::Id, Keep::Count] {
            let err = match self.file(target, entry, keep).await? {
                Ok(_) => return Ok(Filed::Added),
                Err(err) => err,
            };
            let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                err.as_service_error()
            else {
                return Err(StoreError::from(err).into());
            };
            let row: Option<ReportItem> = failed.item().cloned().map(from_attrs).transpose()?;
            if row.is_some_and(|row| row.reporters.contains(&entry.reporter_id)) {
                return Ok(Filed::Duplicate);
            }
            // Else what keeps this reporter is full: keep less of them.
        }
        Err(StoreError::Contended("report").into())
    }

    async fn open_reports(
        &self,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<Report>, Option<Cursor>)> {
        let (items, cursor) = self
            .query::<ReportItem>(
                &self.tables.conversations,
                Some(OPEN_REPORTS),
                "reportShard",
                ReportItem::OPEN,
                page,
                true,
                false,
            )
            .await?;
        Ok((items.into_iter().map(Report::from).collect(), cursor))
    }

    async fn dismiss_report(
        &self,
        id: &str,
        audit: &AuditEntry,
    ) -> chat_domain::error::Result<Option<Report>> {
        let items = vec![
            self.close_report(id, ReportStatus::Dismissed, audit)?,
            self.log_action(audit)?,
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if failed_conditions(&err).is_some_and(|f| failed(&f, 0)) => return Ok(None),
            Err(err) => return Err(StoreError::from(err).into()),
        }
        let row: Option<ReportItem> = self
            .get(&self.tables.conversations, Self::report_key(id)?)
            .await?;
        Ok(row.map(Report::from))
    }

    async fn remove_message(
        &self,
        change: &MessageChange,
        released: &[String],
        audit: &AuditEntry,
        report_id: Option<&str>,
    ) -> chat_domain::error::Result<ChangeOutcome> {
        let mut items = self.change_items(change, released)?;
        items.push(self.log_action(audit)?);
        if let Some(id) = report_id {
            items.push(self.close_report(id, ReportStatus::Actioned, audit)?);
        }
        let report_at = items.len() - 1;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(ChangeOutcome::Changed),
            Err(err) => match failed_conditions(&err) {
                Some(f) if report_id.is_some() && failed(&f, report_at) => {
                    Err(chat_domain::Error::NotFound("no such report".into()))
                }
                Some(_) => Ok(ChangeOutcome::Moved),
                None => Err(StoreError::from(err).into()),
            },
        }
    }

    async fn audit_log(
        &self,
        page: &PageQuery,
    ) -> chat_domain::error::Result<(Vec<AuditEntry>, Option<Cursor>)> {
        // Newest first: the index is read backwards.
        let (items, cursor) = self
            .query::<AuditItem>(
                &self.tables.conversations,
                Some(AUDIT_LOG),
                "auditShard",
                AuditItem::SHARD,
                page,
                false,
                false,
            )
            .await?;
        Ok((items.into_iter().map(AuditEntry::from).collect(), cursor))
    }
}
