//! A record version's stored content and its hash: the same for every backend, and needed
//! before any database is touched (an import prepares its next chunk while one is written).

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::model::{ChildData, EventData};

/// A record version as stored: what the agency said about the child and its events.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredBody {
    pub(crate) child: ChildData,
    pub(crate) events: Vec<EventData>,
}

/// Serialises with object keys sorted, so equal content always hashes equally.
pub(crate) fn content_hash(value: &impl serde::Serialize) -> Result<String> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(
                    entries.into_iter().map(|(k, v)| (k, sorted(v))).collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let canonical = sorted(serde_json::to_value(value)?);
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(&canonical)?)))
}
