//! Stored records prepared for comparison, kept between the chunks of bulk imports.
//!
//! A chunk of an import compares its rows with every stored record sharing a blocking key,
//! and most of those records are read again by the next chunks (a block grows as the job
//! writes into it). Reading a record's match fields as JSON and preparing them (normalised
//! names, phonetic keys) is then repeated work; this cache keeps the prepared form by record
//! key *and version*, so a record updated since is read again, and for one model version, so
//! a newly activated model starts empty. Records a job writes go in after their commit.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use matching::PreparedRecord;

/// Records kept by default (about 1.3 KB each prepared, so about 1.3 GB when full): the whole
/// neighbourhood of every registration into a registry of a million children. Online, the
/// neighbours of one registration are scattered over the whole registry; a record the cache
/// misses is read as JSON and prepared again, which at a million children with a cache of a
/// tenth of that was most of a registration's time. [`super::StoreOptions`] sets another size.
pub const DEFAULT_PREPARED_RECORDS: usize = 1_000_000;

/// A stored record as the comparisons need it.
pub(super) struct PreparedStored {
    pub district: Option<String>,
    pub prepared: PreparedRecord,
}

impl PreparedStored {
    /// A stored record's match fields and source system, prepared by `matcher`'s model.
    pub fn of(
        matcher: &crate::linkage::Matcher,
        source_system: &str,
        child: crate::model::ChildData,
    ) -> Self {
        PreparedStored {
            prepared: matcher.prepare(source_system, &child),
            district: child.district,
        }
    }
}

/// `(record_key, version)` of a stored record.
pub(super) type RecordVersion = (i64, i64);

pub(super) struct PreparedCache {
    entries: Mutex<Entries>,
}

struct Entries {
    model_version: i64,
    records: LruCache<RecordVersion, Arc<PreparedStored>>,
}

impl PreparedCache {
    /// A cache of at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        PreparedCache {
            entries: Mutex::new(Entries {
                model_version: i64::MIN,
                records: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
            }),
        }
    }

    fn entries(&self, model_version: i64) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while the lock was held leaves at worst a missing entry: still usable.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.model_version != model_version {
            entries.records.clear();
            entries.model_version = model_version;
        }
        entries
    }

    /// The prepared records among `wanted` that the cache holds, prepared by `model_version`.
    pub fn get_many(
        &self,
        model_version: i64,
        wanted: impl IntoIterator<Item = RecordVersion>,
    ) -> Vec<(RecordVersion, Arc<PreparedStored>)> {
        let mut entries = self.entries(model_version);
        wanted
            .into_iter()
            .filter_map(|key| {
                entries
                    .records
                    .get(&key)
                    .map(|found| (key, Arc::clone(found)))
            })
            .collect()
    }

    /// How many more records prepared by `model_version` fit before the least recently used
    /// give way.
    pub fn room(&self, model_version: i64) -> usize {
        let entries = self.entries(model_version);
        entries.records.cap().get() - entries.records.len()
    }

    /// Keeps records prepared by `model_version`; only committed records may go in (a key
    /// of a rolled-back insert can be given to another record).
    pub fn put_many(
        &self,
        model_version: i64,
        records: impl IntoIterator<Item = (RecordVersion, Arc<PreparedStored>)>,
    ) {
        let mut entries = self.entries(model_version);
        for (key, record) in records {
            entries.records.put(key, record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(district: &str) -> Arc<PreparedStored> {
        Arc::new(PreparedStored {
            district: Some(district.to_owned()),
            prepared: PreparedRecord {
                values: Vec::new(),
                name_readings: Vec::new(),
            },
        })
    }

    #[test]
    fn a_record_is_found_only_at_its_version_and_model() {
        let cache = PreparedCache::new(DEFAULT_PREPARED_RECORDS);
        cache.put_many(3, [((10, 1), stored("Gulu")), ((11, 2), stored("Lira"))]);
        let found = cache.get_many(3, [(10, 1), (10, 2), (11, 2), (12, 1)]);
        let keys: Vec<RecordVersion> = found.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, [(10, 1), (11, 2)]);
        assert_eq!(found[1].1.district.as_deref(), Some("Lira"));
        // Another model prepares records differently: nothing of the old one is served.
        assert!(cache.get_many(4, [(10, 1), (11, 2)]).is_empty());
        assert!(cache.get_many(3, [(10, 1)]).is_empty());
    }
}
