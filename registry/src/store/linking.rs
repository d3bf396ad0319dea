//! The SQL side of online matching, shared by both backends like `engine.rs`: the stored model
//! versions, blocking keys, candidate look-up, the review queue and steward decisions.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::Row;

use super::engine::{
    append_changes, current_records_in, merge_in, parse_child_id, resolve_survivor, Transaction,
};
use super::{Backend, Db};
use crate::error::{RegistryError, Result};
use crate::golden;
use crate::ids::ChildId;
use crate::linkage::{self, CandidateRecord, ChildScore, Matcher, StoredMatchRecord};
use crate::model::ChildData;
use crate::review::{
    percentile, CandidateChild, CandidateClaim, CandidateDecision, CandidateDecisionView,
    CandidatePage, CandidateQuery, CandidateRecord as CandidateRecordView, CandidateSort,
    CandidateStats, CandidateStatus, DecisionOutcome, MatchCandidate, ModelVersion,
    StewardDecisions,
};
use crate::store::Decision;

/// The active model, shared by the writer and readers; replaced whole when a version is
/// activated.
pub(super) type MatcherCell = Arc<RwLock<Arc<Matcher>>>;

pub(super) fn current_matcher(cell: &MatcherCell) -> Arc<Matcher> {
    match cell.read() {
        Ok(guard) => Arc::clone(&guard),
        // A writer panicked while swapping: the Arc inside is still a whole model.
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}

pub(super) fn replace_matcher(cell: &MatcherCell, matcher: Matcher) {
    let matcher = Arc::new(matcher);
    match cell.write() {
        Ok(mut guard) => *guard = matcher,
        Err(poisoned) => *poisoned.into_inner() = matcher,
    }
}

/// A block bigger than this says little (a very common name in a year): like batch dedupe,
/// skip it rather than score hundreds of namesakes for every registration.
pub(super) fn max_block(matcher: &Matcher) -> i64 {
    matcher.model().spec().thresholds.max_block_size as i64
}

/// The active model; an empty registry installs the bundled default as version 1.
pub(super) async fn load_active_matcher(pool: &sqlx::Pool<Db>) -> Result<Matcher> {
    let mut tx = super::begin_write(pool).await?;
    let active: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT m.version, m.spec, m.origin FROM match_model_active a \
         JOIN match_models m ON m.version = a.version",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let model = matching::Model::default_child()
        .map_err(|error| RegistryError::Corrupt(format!("the bundled model: {error}")))?;
    let spec = model
        .to_json()
        .map_err(|error| RegistryError::Corrupt(format!("the bundled model: {error}")))?;
    if let Some((version, stored, origin)) = active {
        match Matcher::from_stored(version, &stored) {
            Ok(matcher) => {
                tx.commit().await?;
                return Ok(matcher);
            }
            // A bundled model from an older release that this engine cannot read (its file
            // format changed) is replaced by this release's bundled model, as a new version.
            // A model trained on the registry's own data is never replaced silently.
            Err(error) if origin == "bundled" => {
                tracing::warn!(%error, version, "replacing an unreadable bundled model");
                let next: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM match_models")
                        .fetch_one(&mut *tx)
                        .await?;
                let now = Utc::now();
                sqlx::query(
                    "INSERT INTO match_models (version, spec, origin, note, created_at, activated_at) \
                     VALUES ($1, $2, 'bundled', 'the model shipped with this release (replaced an unreadable one)', $3, $3)",
                )
                .bind(next)
                .bind(&spec)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE match_model_active SET version = $1 WHERE id = 1")
                    .bind(next)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Matcher::new(next, model);
            }
            Err(error) => return Err(error),
        }
    }
    let now = Utc::now();
    // Two gateways starting together may both get here: the first insert wins and both use it.
    sqlx::query(
        "INSERT INTO match_models (version, spec, origin, note, created_at, activated_at) \
         VALUES (1, $1, 'bundled', 'the model shipped with this release', $2, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&spec)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO match_model_active (id, version) VALUES (1, 1) ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let (version, spec): (i64, String) = sqlx::query_as(
        "SELECT m.version, m.spec FROM match_model_active a JOIN match_models m ON m.version = a.version",
    )
    .fetch_one(pool)
    .await?;
    Matcher::from_stored(version, &spec)
}

/// How many records a stored model's weights were learned from, read without compiling the
/// model (a stored spec carries its term-frequency tables: megabytes).
fn trained_on_records(spec: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Spec {
        trained: Option<Trained>,
    }
    #[derive(serde::Deserialize)]
    struct Trained {
        trained_on_records: u64,
    }
    serde_json::from_str::<Spec>(spec)
        .ok()?
        .trained
        .map(|trained| trained.trained_on_records)
}

/// Records keyed again per transaction by [`refresh_blocking_keys`].
const REKEY_PAGE: i64 = 2000;

/// How many turns work no request waits on (a page of re-keying, a model activation) takes at
/// the write lock before it gives up.
const MAINTENANCE_TURNS: u32 = 6;

/// [`super::begin_write`] for work no request waits on. On SQLite, a server registering
/// without pause can keep the one write lock through a whole busy timeout of another
/// process's wait (SQLite's waiter polls; it is not queued), most often on a loaded machine:
/// `rescore --apply` beside a busy gateway then failed with "database is locked" after its
/// version was already active. Such work waits its turn again, a moment apart, instead.
async fn begin_maintenance_write(pool: &sqlx::Pool<Db>) -> Result<Transaction<'static>> {
    let mut turn = 1;
    loop {
        match super::begin_write(pool).await {
            Err(error) if error.is_transient() && turn < MAINTENANCE_TURNS => {
                tracing::warn!(%error, turn, "the write lock stayed taken; waiting another turn");
                // Apart, so that two processes waiting do not come back at the same moment.
                let pause = 50 + rand::random::<u64>() % 200;
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                turn += 1;
            }
            other => return other,
        }
    }
}

/// Gives every record the blocking keys of the active model (records registered before
/// matching existed, under another model version, or before the key table changed). Returns
/// how many records it keyed.
pub(super) async fn refresh_blocking_keys(
    probe: &sqlx::Pool<Db>,
    pool: &sqlx::Pool<Db>,
    matcher: &Arc<Matcher>,
) -> Result<u64> {
    // Every store open asks, and every gateway every few seconds; nearly always nothing is
    // stale, which the index on the version answers at once instead of a walk over every
    // record (seconds at a million). The question goes to `probe`, a read connection where
    // there is one, so that it never waits for (or holds up) SQLite's one writer.
    let stale: Option<i64> = sqlx::query_scalar(
        "SELECT record_key FROM source_records WHERE blocking_model_version IS NULL \
         OR blocking_model_version < $1 OR blocking_model_version > $1 LIMIT 1",
    )
    .bind(matcher.version())
    .fetch_optional(probe)
    .await?;
    if stale.is_none() {
        return Ok(0);
    }
    let mut keyed = 0;
    // Each page starts after the last one: a page that started from the first record would
    // walk past every record already keyed, quadratic in a full re-keying. The page asks for
    // stale keys with `<>`, not the probe's `< OR >`, so the planner walks the records in key
    // order instead of gathering every stale one from the version index and sorting them.
    let stale_page = "SELECT record_key, match_child FROM source_records \
         WHERE (blocking_model_version IS NULL OR blocking_model_version <> $1) \
         AND record_key > $2 \
         ORDER BY record_key LIMIT $3";
    // The same records again inside the write transaction, locked: gateways sharing a
    // database re-key at the same time when a version is activated, and the one that waits
    // finds the rows keyed already (PostgreSQL checks a locked row against the condition
    // again) instead of keying them twice.
    let locked_page = format!(
        "SELECT record_key, match_child FROM source_records \
         WHERE (blocking_model_version IS NULL OR blocking_model_version <> $1) \
         AND record_key > $2 AND record_key <= $3 \
         ORDER BY record_key{}",
        super::LOCK_ROWS
    );
    let mut after = i64::MIN;
    loop {
        // A page's keys are computed before the write lock is taken, not under it, so that
        // registrations beside a re-keying wait for its writes only, not for 2,000 records
        // being keyed (on SQLite, the one writer).
        let read: Vec<(i64, Option<Json<ChildData>>)> = sqlx::query_as(stale_page)
            .bind(matcher.version())
            .bind(after)
            .bind(REKEY_PAGE)
            .fetch_all(probe)
            .await?;
        let Some(&(last, _)) = read.last() else {
            return Ok(keyed);
        };
        let page_start = after;
        after = last;
        let mut computed = page_key_rows(matcher, read).await?;

        let mut tx = begin_maintenance_write(pool).await?;
        let rows: Vec<(i64, Option<Json<ChildData>>)> = sqlx::query_as(&locked_page)
            .bind(matcher.version())
            .bind(page_start)
            .bind(last)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            // Another gateway keyed the page meanwhile.
            tx.commit().await?;
            continue;
        }
        let record_keys: Vec<i64> = rows.iter().map(|(record_key, _)| *record_key).collect();
        let mut keyed_now: HashSet<(i64, i64)> = HashSet::new();
        for (record_key, child) in rows {
            let child = child.map(|json| json.0).unwrap_or_default();
            // A record changed between the read and the lock is keyed again as it is now.
            let hashes = match computed.remove(&record_key) {
                Some((read_as, hashes)) if read_as == child => hashes,
                _ => key_hashes(&matcher.blocking_keys(&child)),
            };
            keyed_now.extend(hashes.into_iter().map(|hash| (hash, record_key)));
        }
        let keyed_before: HashSet<(i64, i64)> = super::stored_blocking_keys(&mut tx, &record_keys)
            .await?
            .into_iter()
            .collect();
        // Only the keys that changed are written, a few statements a page whatever its size.
        // Most keys outlive a new model version (a retrained model keeps its blocking rules,
        // a new key function changes a few rules), and every row deleted and inserted again
        // is a descent into a large B-tree: rewriting every key, 100,000 records took 18 s
        // to re-key when none changed (3.5 s now), and one record at a time (a delete, an
        // insert and an update each) about 50 s. The rows go in the key table's order, so
        // that neighbouring rows land on the same pages.
        let mut gone: Vec<(i64, i64)> = keyed_before.difference(&keyed_now).copied().collect();
        let mut added: Vec<(i64, i64)> = keyed_now.difference(&keyed_before).copied().collect();
        gone.sort_unstable();
        added.sort_unstable();
        if !gone.is_empty() {
            super::delete_blocking_keys(&mut tx, &gone).await?;
        }
        if !added.is_empty() {
            super::insert_blocking_keys(&mut tx, &added).await?;
        }
        super::mark_keyed(&mut tx, &record_keys, matcher.version()).await?;
        keyed += record_keys.len() as u64;
        tx.commit().await?;
    }
}

/// The blocking-key hashes of a page of stored records, by record key with the match fields
/// they were computed from, computed on all cores off the async runtime. A record stored
/// without match fields is keyed as an empty child.
async fn page_key_rows(
    matcher: &Arc<Matcher>,
    rows: Vec<(i64, Option<Json<ChildData>>)>,
) -> Result<HashMap<i64, (ChildData, Vec<i64>)>> {
    let matcher = Arc::clone(matcher);
    tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        rows.into_par_iter()
            .map(|(record_key, child)| {
                let child = child.map(|json| json.0).unwrap_or_default();
                let hashes = key_hashes(&matcher.blocking_keys(&child));
                (record_key, (child, hashes))
            })
            .collect()
    })
    .await
    .map_err(|error| RegistryError::Corrupt(format!("computing blocking keys stopped: {error}")))
}

/// Replaces a record's blocking keys; a `fresh` record (inserted in this transaction) has none
/// to delete.
pub(super) async fn replace_blocking_keys(
    tx: &mut Transaction<'_>,
    record_key: i64,
    keys: &[String],
    fresh: bool,
) -> Result<()> {
    if !fresh {
        sqlx::query("DELETE FROM blocking_keys WHERE record_key = $1")
            .bind(record_key)
            .execute(&mut **tx)
            .await?;
    }
    let rows: Vec<(i64, i64)> = key_hashes(keys)
        .into_iter()
        .map(|hash| (hash, record_key))
        .collect();
    if !rows.is_empty() {
        // One statement for all keys (a registration is round trips on PostgreSQL): the same
        // insert as the import's.
        super::insert_blocking_keys(tx, &rows).await?;
    }
    Ok(())
}

pub(super) use crate::linkage::key_hashes;

/// The lock keys a registration of `child` needs: its blocking keys and identifiers. Two
/// registrations that could match each other share at least one.
pub(super) fn lock_keys(matcher: &Matcher, child: &ChildData) -> Vec<i64> {
    lock_keys_of_child(&matcher.blocking_keys(child), child)
}

/// [`lock_keys`] when the record's blocking keys are already computed.
pub(super) fn lock_keys_of_child(blocking_keys: &[String], child: &ChildData) -> Vec<i64> {
    let identifiers: Vec<(&str, String)> = child
        .identifiers
        .iter()
        .map(|identifier| {
            (
                identifier.kind.as_str(),
                crate::validate::identifier_key(&identifier.value),
            )
        })
        .collect();
    lock_keys_of(
        &key_hashes(blocking_keys),
        identifiers
            .iter()
            .map(|(kind, value)| (*kind, value.as_str())),
    )
}

/// [`lock_keys`] from a record's blocking-key hashes and normalised identifier values, when
/// they are already computed.
pub(super) fn lock_keys_of<'a>(
    key_hashes: &[i64],
    identifiers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<i64> {
    let mut keys = key_hashes.to_vec();
    for (kind, value) in identifiers {
        if !value.is_empty() {
            keys.push(linkage::key_hash(&format!("identifier:{kind}:{value}")));
        }
    }
    keys
}

/// A candidate as read: its block's position among the keys, record key, child ID, source
/// system and match fields.
type CandidateRow = (i64, i64, String, String, Option<Json<ChildData>>);

/// Records sharing one of the arriving record's blocking `keys`, except `exclude_record` (the
/// record itself on an update), in record order.
pub(super) async fn candidate_records(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    keys: &[String],
    exclude_record: Option<i64>,
) -> Result<Vec<CandidateRecord>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let limit = max_block(matcher);
    // One statement for every key (a registration is round trips on PostgreSQL, and
    // statements handed to SQLite's worker thread): each key's block is read up to one row
    // past the limit, so an oversized block is recognised without reading it whole.
    let mut query = sqlx::QueryBuilder::<Db>::new(
        "SELECT k.key_index, sr.record_key, sr.child_id, sr.source_system, sr.match_child FROM (",
    );
    for (index, key) in keys.iter().enumerate() {
        if index > 0 {
            query.push(" UNION ALL ");
        }
        query
            .push("SELECT * FROM (SELECT ")
            .push_bind(index as i64)
            .push(" AS key_index, record_key FROM blocking_keys WHERE key_hash = ")
            .push_bind(linkage::key_hash(key))
            .push(" LIMIT ")
            .push_bind(limit + 1)
            .push(format!(") AS block_{index}"));
    }
    query.push(") k JOIN source_records sr ON sr.record_key = k.record_key");
    let rows: Vec<CandidateRow> = query.build_query_as().fetch_all(&mut **tx).await?;
    // Each row names its block by position in `keys`, which the query itself numbered.
    let block_of = |key_index: i64| usize::try_from(key_index).ok().filter(|&i| i < keys.len());
    let mut block_sizes = vec![0i64; keys.len()];
    for index in rows
        .iter()
        .filter_map(|(key_index, ..)| block_of(*key_index))
    {
        block_sizes[index] += 1;
    }
    let oversized: Vec<bool> = keys
        .iter()
        .zip(&block_sizes)
        .map(|(key, &size)| {
            if size > limit {
                tracing::debug!(block = %key, "skipping an oversized block");
            }
            size > limit
        })
        .collect();
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    for (key_index, record_key, child_id, source_system, stored) in rows {
        let in_oversized_block = block_of(key_index).is_none_or(|index| oversized[index]);
        if in_oversized_block || Some(record_key) == exclude_record || !seen.insert(record_key) {
            continue;
        }
        candidates.push(CandidateRecord {
            record_key,
            child_id: parse_child_id(&child_id)?,
            source_system,
            child: stored.map(|json| json.0).unwrap_or_default(),
        });
    }
    candidates.sort_by_key(|candidate| candidate.record_key);
    Ok(candidates)
}

/// Every current record of these children.
pub(super) async fn records_of_children(
    tx: &mut Transaction<'_>,
    children: &[ChildId],
) -> Result<Vec<CandidateRecord>> {
    let mut records = Vec::new();
    for child_id in children {
        let rows: Vec<(i64, String, Option<Json<ChildData>>)> = sqlx::query_as(
            "SELECT record_key, source_system, match_child FROM source_records \
             WHERE child_id = $1 ORDER BY record_key",
        )
        .bind(child_id.to_string())
        .fetch_all(&mut **tx)
        .await?;
        records.extend(rows.into_iter().map(|(record_key, source_system, stored)| {
            CandidateRecord {
                record_key,
                child_id: *child_id,
                source_system,
                child: stored.map(|json| json.0).unwrap_or_default(),
            }
        }));
    }
    Ok(records)
}

/// The children holding a record a steward said is not the same child as `record_key`.
pub(super) async fn not_a_match_children(
    tx: &mut Transaction<'_>,
    record_key: i64,
) -> Result<HashSet<ChildId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT sr.child_id FROM not_a_match n JOIN source_records sr ON \
         sr.record_key = CASE WHEN n.record_key_low = $1 THEN n.record_key_high ELSE n.record_key_low END \
         WHERE n.record_key_low = $1 OR n.record_key_high = $1",
    )
    .bind(record_key)
    .fetch_all(&mut **tx)
    .await?;
    ids.iter().map(|id| parse_child_id(id)).collect()
}

/// Queues a review candidate per child (one pending candidate per record and child).
pub(super) async fn insert_candidates(
    tx: &mut Transaction<'_>,
    record_key: i64,
    record_version: i64,
    record_district: Option<&str>,
    scores: &[ChildScore],
    model_version: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    for score in scores {
        sqlx::query(
            "INSERT INTO match_candidates (record_key, record_version, candidate_child_id, probability, \
             explanation, model_version, record_district, candidate_district, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9) ON CONFLICT DO NOTHING",
        )
        .bind(record_key)
        .bind(record_version)
        .bind(score.child_id.to_string())
        .bind(score.probability)
        .bind(Json(&score.explanation))
        .bind(model_version)
        .bind(record_district)
        .bind(score.district.as_deref())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// After `from` was merged into `into`, pending candidates between the two are settled.
pub(super) async fn supersede_settled_candidates(
    tx: &mut Transaction<'_>,
    from: ChildId,
    into: ChildId,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE match_candidates SET status = 'superseded', decided_at = $1 \
         WHERE status IN ('open', 'deferred') AND candidate_child_id IN ($2, $3) \
         AND record_key IN (SELECT record_key FROM source_records WHERE child_id = $3)",
    )
    .bind(now)
    .bind(from.to_string())
    .bind(into.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// version, origin, note, spec, created_at, activated_at
type ModelVersionRow = (
    i64,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);
/// record_key, source_system, source_record_id, child_id, link_method, match_child
type MatchRecordRow = (i64, String, String, String, String, Option<Json<ChildData>>);

const CANDIDATE_COLUMNS: &str = "mc.candidate_key, mc.status, mc.probability, mc.model_version, \
     mc.created_at, mc.explanation, mc.record_version, mc.candidate_child_id, sr.source_system, \
     sr.source_record_id, sr.child_id, v.body, mc.claimed_by, mc.claimed_until";

impl Backend {
    async fn candidate_from_row(
        &self,
        row: &<Db as sqlx::Database>::Row,
    ) -> Result<MatchCandidate> {
        let status: String = row.try_get("status")?;
        let status = CandidateStatus::parse(&status).ok_or_else(|| {
            RegistryError::Corrupt(format!("unknown candidate status '{status}'"))
        })?;
        let candidate_key: i64 = row.try_get("candidate_key")?;
        let claim = live_claim(
            candidate_key,
            status,
            row.try_get("claimed_by")?,
            row.try_get("claimed_until")?,
            Utc::now(),
        );
        let body: Json<serde_json::Value> = row.try_get("body")?;
        let child: ChildData = serde_json::from_value(
            body.0
                .get("child")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        )?;
        let explanation: Json<serde_json::Value> = row.try_get("explanation")?;
        let candidate_child = parse_child_id(&row.try_get::<String, _>("candidate_child_id")?)?;
        let mut connection = self.read.acquire().await?;
        let current = resolve_survivor(&mut connection, candidate_child)
            .await?
            .ok_or_else(|| {
                RegistryError::Corrupt(format!("candidate child {candidate_child} is unknown"))
            })?;
        let records = current_records_in(&mut connection, current).await?;
        let decisions: Vec<(String, String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT decision, actor, reason, decided_at FROM match_decisions \
             WHERE candidate_key = $1 ORDER BY decision_key",
        )
        .bind(candidate_key)
        .fetch_all(&mut *connection)
        .await?;
        Ok(MatchCandidate {
            id: candidate_key,
            status,
            probability: row.try_get("probability")?,
            model_version: row.try_get("model_version")?,
            created_at: row.try_get("created_at")?,
            record: CandidateRecordView {
                source_system: row.try_get("source_system")?,
                source_record_id: row.try_get("source_record_id")?,
                version: row.try_get("record_version")?,
                child_id: parse_child_id(&row.try_get::<String, _>("child_id")?)?,
                child,
            },
            candidate: CandidateChild {
                child_id: candidate_child,
                current_child_id: current,
                summary: golden::summarise(&records),
            },
            explanation: explanation.0,
            decisions: decisions
                .into_iter()
                .map(|(decision, decided_by, reason, decided_at)| {
                    Ok(CandidateDecisionView {
                        decision: match decision.as_str() {
                            "link" => CandidateDecision::Link,
                            "not_a_match" => CandidateDecision::NotAMatch,
                            "defer" => CandidateDecision::Defer,
                            other => {
                                return Err(RegistryError::Corrupt(format!(
                                    "unknown decision '{other}'"
                                )))
                            }
                        },
                        decided_by,
                        reason,
                        decided_at,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            claim,
        })
    }

    pub(super) async fn list_candidates(&self, query: &CandidateQuery) -> Result<CandidatePage> {
        let order = match query.sort {
            CandidateSort::Oldest => "mc.created_at, mc.candidate_key",
            CandidateSort::Probability => "mc.probability DESC, mc.candidate_key",
        };
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS} FROM match_candidates mc \
             JOIN source_records sr ON sr.record_key = mc.record_key \
             JOIN record_versions v ON v.record_key = mc.record_key AND v.version = mc.record_version \
             WHERE mc.status = $1 AND (CAST($2 AS TEXT) IS NULL OR LOWER(mc.record_district) = LOWER($2) \
             OR LOWER(mc.candidate_district) = LOWER($2)) \
             AND ($5 = 'any' \
                  OR ($5 = 'available' AND (mc.claimed_by IS NULL OR mc.claimed_by = $6 \
                                            OR mc.claimed_until <= $7)) \
                  OR ($5 = 'mine' AND mc.claimed_by = $6 AND mc.claimed_until > $7)) \
             ORDER BY {order} LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(&sql)
            .bind(query.status.as_str())
            .bind(query.district.as_deref())
            .bind(query.limit + 1)
            .bind(query.offset)
            .bind(query.claims.as_str())
            .bind(query.claims.steward().unwrap_or(""))
            .bind(Utc::now())
            .fetch_all(&self.read)
            .await?;
        let more = rows.len() as i64 > query.limit;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows.iter().take(query.limit as usize) {
            candidates.push(self.candidate_from_row(row).await?);
        }
        Ok(CandidatePage {
            next_cursor: more.then(|| (query.offset + query.limit).to_string()),
            candidates,
        })
    }

    pub(super) async fn candidate(&self, id: i64) -> Result<Option<MatchCandidate>> {
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS} FROM match_candidates mc \
             JOIN source_records sr ON sr.record_key = mc.record_key \
             JOIN record_versions v ON v.record_key = mc.record_key AND v.version = mc.record_version \
             WHERE mc.candidate_key = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(row) => Ok(Some(self.candidate_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    pub(super) async fn decide_candidate(
        &self,
        id: i64,
        choice: CandidateDecision,
        decision: &Decision,
    ) -> Result<DecisionOutcome> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let sql = format!(
            "SELECT mc.status, mc.record_key, mc.candidate_child_id, sr.child_id, mc.claimed_by, \
             mc.claimed_until FROM match_candidates mc \
             JOIN source_records sr ON sr.record_key = mc.record_key WHERE mc.candidate_key = $1{}",
            super::LOCK_ROWS
        );
        let row: Option<DecisionRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let (status, record_key, candidate_child, record_child, claimed_by, claimed_until) =
            row.ok_or(RegistryError::NotFound("match candidate"))?;
        let status = pending_status(&status)?;
        if let Some(claim) = live_claim(id, status, claimed_by, claimed_until, now) {
            refuse_others_claim(&claim, &decision.actor)?;
        }
        let record_child = parse_child_id(&record_child)?;
        let candidate_child = resolve_survivor(&mut tx, parse_child_id(&candidate_child)?)
            .await?
            .ok_or_else(|| RegistryError::Corrupt("candidate child is unknown".to_owned()))?;
        sqlx::query(
            "INSERT INTO match_decisions (candidate_key, decision, actor, reason, decided_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(choice.as_str())
        .bind(&decision.actor)
        .bind(&decision.reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let (status, child_id) = match choice {
            CandidateDecision::Defer => (CandidateStatus::Deferred, None),
            CandidateDecision::Link if record_child == candidate_child => {
                // Already together (merged some other way since): nothing left to do.
                (CandidateStatus::Superseded, Some(candidate_child))
            }
            CandidateDecision::Link => {
                let (merged, changes) =
                    merge_in(&mut tx, record_child, candidate_child, decision, None, now).await?;
                append_changes(&mut tx, changes, now).await?;
                (CandidateStatus::Linked, Some(merged.into))
            }
            CandidateDecision::NotAMatch => {
                if record_child == candidate_child {
                    return Err(RegistryError::Conflict {
                        code: "already_linked",
                        message: format!(
                            "the record already belongs to {candidate_child}; unlink it instead"
                        ),
                    });
                }
                remember_not_a_match(
                    &mut tx,
                    record_key,
                    record_child,
                    candidate_child,
                    decision,
                    now,
                )
                .await?;
                (CandidateStatus::NotAMatch, None)
            }
        };
        sqlx::query(
            "UPDATE match_candidates SET status = $1, decided_at = $2, decided_by = $3, reason = $4, \
             claimed_by = NULL, claimed_until = NULL WHERE candidate_key = $5",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(&decision.actor)
        .bind(&decision.reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DecisionOutcome {
            id,
            status,
            child_id,
        })
    }

    /// Takes or renews `steward`'s claim on a pending candidate until `until`; refused while
    /// another steward's claim lasts.
    pub(super) async fn claim_candidate(
        &self,
        id: i64,
        steward: &str,
        until: DateTime<Utc>,
    ) -> Result<CandidateClaim> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let claim = locked_claim(&mut tx, id, now).await?;
        if let Some(claim) = claim {
            refuse_others_claim(&claim, steward)?;
        }
        sqlx::query(
            "UPDATE match_candidates SET claimed_by = $1, claimed_until = $2 WHERE candidate_key = $3",
        )
        .bind(steward)
        .bind(until)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CandidateClaim {
            id,
            claimed_by: steward.to_owned(),
            claimed_until: until,
        })
    }

    /// Gives up `steward`'s claim on a pending candidate. Whether there was one is returned;
    /// another steward's live claim is refused.
    pub(super) async fn release_candidate(&self, id: i64, steward: &str) -> Result<bool> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let Some(claim) = locked_claim(&mut tx, id, now).await? else {
            return Ok(false);
        };
        refuse_others_claim(&claim, steward)?;
        sqlx::query(
            "UPDATE match_candidates SET claimed_by = NULL, claimed_until = NULL \
             WHERE candidate_key = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn candidate_stats(&self) -> Result<CandidateStats> {
        let now = Utc::now();
        let pending: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT status, created_at, claimed_until FROM match_candidates \
             WHERE status IN ('open', 'deferred')",
        )
        .fetch_all(&self.read)
        .await?;
        let mut ages: Vec<f64> = pending
            .iter()
            .map(|(_, created, _)| (now - *created).num_seconds().max(0) as f64 / 3600.0)
            .collect();
        ages.sort_by(f64::total_cmp);
        let deferred = pending
            .iter()
            .filter(|(status, _, _)| status == "deferred")
            .count() as i64;
        let claimed = pending
            .iter()
            .filter(|(_, _, until)| until.is_some_and(|until| until > now))
            .count() as i64;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT actor, decision, COUNT(*) FROM match_decisions GROUP BY actor, decision ORDER BY actor",
        )
        .fetch_all(&self.read)
        .await?;
        let mut by_steward: Vec<StewardDecisions> = Vec::new();
        let (mut total, mut defers) = (0, 0);
        for (actor, decision, count) in rows {
            if by_steward.last().is_none_or(|last| last.steward != actor) {
                by_steward.push(StewardDecisions {
                    steward: actor.clone(),
                    decisions: 0,
                    links: 0,
                    not_a_match: 0,
                    defers: 0,
                });
            }
            if let Some(entry) = by_steward.last_mut() {
                entry.decisions += count;
                match decision.as_str() {
                    "link" => entry.links += count,
                    "not_a_match" => entry.not_a_match += count,
                    _ => {
                        entry.defers += count;
                        defers += count;
                    }
                }
            }
            total += count;
        }
        Ok(CandidateStats {
            open: pending.len() as i64 - deferred,
            deferred,
            claimed,
            age_hours_p50: percentile(&ages, 0.5),
            age_hours_p90: percentile(&ages, 0.9),
            age_hours_p99: percentile(&ages, 0.99),
            age_hours_max: ages.last().copied(),
            decisions_by_steward: by_steward,
            defer_share: if total == 0 {
                0.0
            } else {
                defers as f64 / total as f64
            },
        })
    }

    pub(super) async fn list_model_versions(&self) -> Result<Vec<ModelVersion>> {
        let active = current_matcher(&self.matcher).version();
        let rows: Vec<ModelVersionRow> = sqlx::query_as(
                "SELECT version, origin, note, spec, created_at, activated_at FROM match_models ORDER BY version",
            )
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(version, origin, note, spec, created_at, activated_at)| ModelVersion {
                    version,
                    origin,
                    note,
                    created_at,
                    activated_at,
                    active: version == active,
                    trained_on_records: trained_on_records(&spec),
                },
            )
            .collect())
    }

    pub(super) async fn count_source_records(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM source_records")
            .fetch_one(&self.read)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    pub(super) async fn insert_model_version(
        &self,
        spec: &str,
        origin: &str,
        note: &str,
    ) -> Result<i64> {
        // Refuse a model the registry could not run before storing it.
        Matcher::from_stored(0, spec)?;
        let mut tx = super::begin_write(&self.write).await?;
        let next: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM match_models")
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO match_models (version, spec, origin, note, created_at, activated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(next)
        .bind(spec)
        .bind(origin)
        .bind(note)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    pub(super) async fn stored_matcher(&self, version: i64) -> Result<Matcher> {
        let spec: Option<String> =
            sqlx::query_scalar("SELECT spec FROM match_models WHERE version = $1")
                .bind(version)
                .fetch_optional(&self.read)
                .await?;
        let spec = spec.ok_or(RegistryError::NotFound("model version"))?;
        Matcher::from_stored(version, &spec)
    }

    /// Makes `version` the active model and re-keys every record for it.
    pub(super) async fn activate_version(&self, version: i64) -> Result<()> {
        let matcher = self.stored_matcher(version).await?;
        let mut tx = begin_maintenance_write(&self.write).await?;
        sqlx::query("UPDATE match_model_active SET version = $1 WHERE id = 1")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE match_models SET activated_at = $1 WHERE version = $2")
            .bind(Utc::now())
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.take_up(matcher).await
    }

    /// Takes up the version another process (a `rescore --apply`, another gateway) activated,
    /// if this store is not using it yet, and re-keys any record keyed for another version.
    /// Returns the version taken up.
    pub(super) async fn follow_active_version(&self) -> Result<Option<i64>> {
        let stored: i64 = sqlx::query_scalar("SELECT version FROM match_model_active WHERE id = 1")
            .fetch_one(&self.read)
            .await?;
        if stored == current_matcher(&self.matcher).version() {
            // Nearly always nothing to do: one look-up in the version index.
            refresh_blocking_keys(&self.read, &self.write, &current_matcher(&self.matcher)).await?;
            return Ok(None);
        }
        let matcher = self.stored_matcher(stored).await?;
        tracing::info!(
            version = stored,
            "matching with the model version activated elsewhere"
        );
        self.take_up(matcher).await?;
        Ok(Some(stored))
    }

    /// Matches with `matcher` from now on, then re-keys the records keyed for any other
    /// version. In this order no record stays keyed for the old version: a registration after
    /// the swap is keyed for the new one, and the re-keying finds every one before it.
    async fn take_up(&self, matcher: Matcher) -> Result<()> {
        replace_matcher(&self.matcher, matcher);
        refresh_blocking_keys(&self.read, &self.write, &current_matcher(&self.matcher)).await?;
        Ok(())
    }

    /// Every current record's child fields, for training a model on the registry's own data.
    pub(super) async fn all_match_records(&self) -> Result<Vec<StoredMatchRecord>> {
        let rows: Vec<MatchRecordRow> = sqlx::query_as(
                "SELECT record_key, source_system, source_record_id, child_id, link_method, match_child \
                 FROM source_records ORDER BY record_key",
            )
            .fetch_all(&self.read)
            .await?;
        rows.into_iter()
            .map(
                |(record_key, source_system, source_record_id, child_id, link_method, stored)| {
                    Ok(StoredMatchRecord {
                        record_key,
                        source_system,
                        source_record_id,
                        child_id: parse_child_id(&child_id)?,
                        link_method,
                        child: stored.map(|json| json.0).unwrap_or_default(),
                    })
                },
            )
            .collect()
    }
}

/// status, record_key, candidate_child_id, the record's child_id, claimed_by, claimed_until
type DecisionRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// A candidate's stored status, which must still be waiting for a decision.
fn pending_status(stored: &str) -> Result<CandidateStatus> {
    let status = CandidateStatus::parse(stored)
        .ok_or_else(|| RegistryError::Corrupt(format!("unknown candidate status '{stored}'")))?;
    if !status.is_pending() {
        return Err(RegistryError::Conflict {
            code: "candidate_decided",
            message: format!("this candidate was already decided ({})", status.as_str()),
        });
    }
    Ok(status)
}

/// The stored claim if it still holds: only a pending candidate can be held, and an expired
/// claim is as good as none (it is left in place and overwritten by the next claim).
fn live_claim(
    id: i64,
    status: CandidateStatus,
    claimed_by: Option<String>,
    claimed_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<CandidateClaim> {
    let claim = CandidateClaim {
        id,
        claimed_by: claimed_by?,
        claimed_until: claimed_until?,
    };
    (status.is_pending() && claim.is_live(now)).then_some(claim)
}

fn refuse_others_claim(claim: &CandidateClaim, steward: &str) -> Result<()> {
    if claim.claimed_by == steward {
        return Ok(());
    }
    Err(RegistryError::Conflict {
        code: "candidate_claimed",
        message: format!(
            "{} is deciding this candidate until {}",
            claim.claimed_by,
            claim
                .claimed_until
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    })
}

/// Locks a pending candidate's row and returns its live claim, if any.
async fn locked_claim(
    tx: &mut Transaction<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<CandidateClaim>> {
    let sql = format!(
        "SELECT status, claimed_by, claimed_until FROM match_candidates WHERE candidate_key = $1{}",
        super::LOCK_ROWS
    );
    let row: Option<(String, Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let (status, claimed_by, claimed_until) =
        row.ok_or(RegistryError::NotFound("match candidate"))?;
    let status = pending_status(&status)?;
    Ok(live_claim(id, status, claimed_by, claimed_until, now))
}

/// Remembers that every record of `record_child` and every record of `candidate_child` are
/// different children, so no model links them again.
async fn remember_not_a_match(
    tx: &mut Transaction<'_>,
    record_key: i64,
    record_child: ChildId,
    candidate_child: ChildId,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut left: BTreeSet<i64> = records_of_children(tx, &[record_child])
        .await?
        .iter()
        .map(|record| record.record_key)
        .collect();
    left.insert(record_key);
    let right: Vec<i64> = records_of_children(tx, &[candidate_child])
        .await?
        .iter()
        .map(|record| record.record_key)
        .collect();
    for &a in &left {
        for &b in &right {
            if a == b {
                continue;
            }
            sqlx::query(
                "INSERT INTO not_a_match (record_key_low, record_key_high, decided_by, reason, decided_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(a.min(b))
            .bind(a.max(b))
            .bind(&decision.actor)
            .bind(&decision.reason)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
