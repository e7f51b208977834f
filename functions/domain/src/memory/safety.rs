//! Blocks and standing, in memory.

use super::*;

impl SafetyStore for MemoryStore {
    async fn block_list(&self, user_id: &str) -> Result<BlockList> {
        Ok(self.with(|t| t.blocks.get(user_id).cloned().unwrap_or_default()))
    }

    async fn save_block_list(
        &self,
        user_id: &str,
        list: &BlockList,
        _change: BlockChange<'_>,
    ) -> Result<Saved> {
        Ok(self.with(|t| {
            let stored = t.blocks.entry(user_id.to_string()).or_default();
            if stored.version + 1 != list.version {
                return Saved::Moved;
            }
            *stored = list.clone();
            Saved::Saved
        }))
    }

    async fn blockers_of(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(self.with(|t| {
            let mut blockers: Vec<String> = t
                .blocks
                .iter()
                .filter(|(_, list)| list.contains(user_id))
                .map(|(owner, _)| owner.clone())
                .collect();
            blockers.sort();
            blockers
        }))
    }

    async fn who_block(&self, user_id: &str, users: &[String]) -> Result<Vec<String>> {
        Ok(self.with(|t| {
            users
                .iter()
                .filter(|u| t.blocks.get(*u).is_some_and(|l| l.contains(user_id)))
                .cloned()
                .collect()
        }))
    }

    async fn standing(&self, user_id: &str) -> Result<Option<Standing>> {
        Ok(self.with(|t| t.standing.get(user_id).cloned()))
    }

    async fn set_standing(&self, standing: &Standing, audit: &AuditEntry) -> Result<()> {
        self.with(|t| {
            if let Some(id) = &audit.report_id {
                let Some(report) = t.reports.get_mut(id) else {
                    return Err(Error::NotFound("no such report".into()));
                };
                report.status = ReportStatus::Actioned;
                report.resolved_by = Some(audit.moderator_id.clone());
                report.resolved_at = Some(audit.at.clone());
            }
            t.standing
                .insert(standing.user_id.clone(), standing.clone());
            t.audit.insert(audit.id.clone(), audit.clone());
            Ok(())
        })
    }

    async fn clear_standing(&self, user_id: &str, audit: &AuditEntry) -> Result<Option<Standing>> {
        Ok(self.with(|t| {
            t.audit.insert(audit.id.clone(), audit.clone());
            t.standing.remove(user_id)
        }))
    }
}
