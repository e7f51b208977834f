//! The documents this execution environment has read, by the hash their
//! subscription row's key holds: a kept document is never stale.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::items::*;

/// A subscription's document: what its key is the hash of.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) topic: String,
    pub(crate) query: String,
    pub(crate) operation_name: Option<String>,
    pub(crate) variables: Map<String, Value>,
}

/// Documents by key, kept for the next pushes. A key is a hash of its
/// document, so a kept entry is never stale: a push reads its subscribers
/// without their documents (a few hundred bytes each, the bulk of a row)
/// and takes each distinct one from here.
#[derive(Debug, Default)]
pub(crate) struct Documents(std::sync::Mutex<Kept>);

#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) by_key: HashMap<String, Arc<Document>>,
    /// Topics read whole since the cache started: a topic not among them
    /// is read whole straight away, not read twice.
    pub(crate) topics: std::collections::HashSet<String>,
}

/// Documents (and topics) kept at most; past it the cache starts afresh.
/// One per conversation and document in use, so a few thousand serve a
/// busy execution environment.
pub(crate) const DOCUMENTS_KEPT: usize = 4096;

impl Documents {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the documents of a topic's subscriptions, read whole.
    pub(super) fn keep(&self, topic: &str, subscriptions: &[SubscriptionItem]) {
        let mut kept = self.lock();
        if kept.by_key.len() + kept.topics.len() >= DOCUMENTS_KEPT {
            kept.by_key.clear();
            kept.topics.clear();
        }
        kept.topics.insert(topic.to_string());
        for s in subscriptions {
            let Some(key) = document_key_of(&s.sk) else {
                continue;
            };
            if kept.by_key.contains_key(key) {
                continue;
            }
            let document = Document {
                topic: s.topic.clone(),
                query: s.query.clone(),
                operation_name: s.operation_name.clone(),
                variables: s.variables.clone(),
            };
            kept.by_key.insert(key.to_string(), Arc::new(document));
        }
    }
}
