//! Bulk import jobs: the SQL of [`ImportStore`], shared by both backends like `engine.rs`
//! (compiled once inside `sqlite.rs`, once inside `postgres.rs`), and the batch registration
//! path a chunk of rows takes, and so does each group commit of online registrations
//! ([`register_batch`]).
//!
//! A chunk is registered with the same rules as `POST /v1/records`, one row after the other
//! in row order, but with the work batched: blocking keys and identifiers of the whole chunk
//! are looked up in a few statements, rows of the chunk are compared with each other in
//! memory, scoring runs on all cores, and the rows are written with multi-row inserts. A row
//! whose source record already exists (or repeats an earlier row of the chunk) takes the
//! online update path unchanged.
//!
//! The runner scores chunk n + 1 while chunk n is written (`score_ahead`): on a read
//! connection, against the registry as committed at one position of the change feed. Chunk
//! n + 1's transaction takes those scores when the feed moved since by chunk n's commit alone,
//! adding chunk n's new records from memory (`ImportPipeline::take_ahead`); after any other
//! commit it reads and scores again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use matching::{PairExplanation, PreparedRecord};
use rand::RngCore;
use rayon::prelude::*;
use sqlx::types::Json;
use sqlx::Row;

use super::engine::{
    append_changes, event_first_stored, parse_child_id, placeholders, record_payload, register_in,
    register_with_savepoint, MatchMode, PendingChange, StoredEvent, Transaction,
};
use super::{linking, Backend, Db};
use crate::error::{RegistryError, Result};
use crate::ids::ChildId;
use crate::imports::{
    self, ImportFormat, ImportJob, ImportMapping, ImportResult, ImportStatus, ImportStore,
    NewImport, PreparedChunk, PreparedRow, RowError,
};
use crate::linkage::{self, CandidateRecord, ChildScore, Matcher, Plan};
use crate::model::{ChildData, EventData, MatchOutcome, MatchResult, Registration, ValidRecord};
use crate::store::prepared::{PreparedCache, PreparedStored, RecordVersion};
use crate::store::FIRST_VERSION;

type DbRow = <Db as sqlx::Database>::Row;

const JOB_COLUMNS: &str = "job_id, status, format, mapping, source_system, submitted_by, \
     total_rows, rows_done, linked, created_new, review, rejected, error, created_at, updated_at, \
     finished_at";

/// Rows per multi-row insert: at most 14 parameters a row, well under both databases' limits.
const ROWS_PER_STATEMENT: usize = 1000;
/// Matching locks a chunk takes at most (see `import_chunk`).
const MAX_CHUNK_LOCKS: usize = 256;
/// Values per `IN (…)` look-up.
const KEYS_PER_LOOKUP: usize = 500;

/// Where a chunk's time goes, step by step, logged at debug level when the chunk commits
/// (target `registry::import`): what to look at when an import (or a group commit of
/// registrations) is slower than expected.
pub(super) struct ChunkSteps {
    last: std::time::Instant,
    laps: Vec<(&'static str, std::time::Duration)>,
    /// How much work the steps had: stored neighbours, cache misses, pairs compared.
    counts: Vec<(&'static str, usize)>,
}

impl ChunkSteps {
    pub(super) fn start() -> Self {
        ChunkSteps {
            last: std::time::Instant::now(),
            laps: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Records how many of `name` the chunk had (added to an earlier count of it).
    pub(super) fn count(&mut self, name: &'static str, amount: usize) {
        match self.counts.iter_mut().find(|(counted, _)| *counted == name) {
            Some((_, total)) => *total += amount,
            None => self.counts.push((name, amount)),
        }
    }

    /// Ends the step `name`, which began when the previous one ended.
    pub(super) fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }

    /// `phase`: `ahead` for a chunk scored while the one before is written, `write` for its
    /// transaction, `registrations` for a group commit's registrations ([`register_batch`]).
    pub(super) fn log(&self, phase: &'static str, rows: usize) {
        if tracing::enabled!(target: "registry::import", tracing::Level::DEBUG) {
            let steps: Vec<String> = self
                .laps
                .iter()
                .map(|(name, took)| format!("{name}={:.1}", took.as_secs_f64() * 1000.0))
                .collect();
            let counts: Vec<String> = self
                .counts
                .iter()
                .map(|(name, amount)| format!("{name}={amount}"))
                .collect();
            tracing::debug!(
                target: "registry::import",
                phase,
                rows,
                steps_ms = %steps.join(" "),
                counts = %counts.join(" "),
                "batch written"
            );
        }
    }
}

fn job_from_row(row: &DbRow) -> Result<ImportJob> {
    let status: String = row.try_get("status")?;
    let format: String = row.try_get("format")?;
    let mapping: String = row.try_get("mapping")?;
    let corrupt = |what: &str, value: &str| {
        RegistryError::Corrupt(format!("unknown import {what} '{value}'"))
    };
    Ok(ImportJob {
        id: row.try_get("job_id")?,
        status: ImportStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        format: ImportFormat::parse(&format).ok_or_else(|| corrupt("format", &format))?,
        mapping: ImportMapping::parse(&mapping).ok_or_else(|| corrupt("mapping", &mapping))?,
        source_system: row.try_get("source_system")?,
        submitted_by: row.try_get("submitted_by")?,
        total_rows: row.try_get("total_rows")?,
        rows_done: row.try_get("rows_done")?,
        linked: row.try_get("linked")?,
        new: row.try_get("created_new")?,
        review: row.try_get("review")?,
        rejected: row.try_get("rejected")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Inserts `rows` with one multi-row statement per [`ROWS_PER_STATEMENT`]: `head` is
/// `INSERT INTO t (columns) `, `tail` what follows the values (`ON CONFLICT …`).
pub(super) async fn insert_rows<'r, T: Sync + 'r>(
    tx: &mut Transaction<'_>,
    head: &str,
    tail: &str,
    rows: &'r [T],
    mut push: impl FnMut(&mut sqlx::query_builder::Separated<'_, 'r, Db, &'static str>, &'r T) + Send,
) -> Result<()> {
    for part in rows.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(head);
        insert.push_values(part, |mut row, item| push(&mut row, item));
        insert.push(tail);
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// What the registry already holds that the chunk's new rows could match.
#[derive(Default)]
pub(super) struct Neighbourhood {
    /// Stored records by record key: their child and prepared form.
    records: HashMap<i64, (ChildId, Arc<PreparedStored>)>,
    /// Stored records the cache did not hold, as read: prepared off the async runtime
    /// ([`prepare_unprepared`]) before the comparisons.
    unprepared: Vec<(RecordVersion, ChildId, String, ChildData)>,
    /// Stored blocks by blocking-key hash.
    blocks: HashMap<i64, StoredBlock>,
    identifiers: HashMap<(String, String), BTreeSet<ChildId>>,
}

/// The stored records sharing one blocking key.
struct StoredBlock {
    size: usize,
    /// Their keys, read only when the block is small enough to be compared.
    records: Vec<i64>,
}

/// A job's next chunk scored while the chunk before it is written, and what that chunk wrote:
/// held by the store from `score_ahead` and `import_chunk` to the next chunk's `import_chunk`.
#[derive(Default)]
pub(super) struct ImportPipeline {
    ahead: std::sync::Mutex<Option<ScoredAhead>>,
    written: std::sync::Mutex<Option<WrittenChunk>>,
}

/// A chunk's neighbourhood as committed at one position of the change feed, and its new rows'
/// pairs with it, scored.
struct ScoredAhead {
    job_id: String,
    first_row: i64,
    model_version: i64,
    /// The change feed's head when the neighbourhood was read.
    head: i64,
    /// The rows taken for new records then (their `index` in the chunk), in row order.
    fresh: Vec<usize>,
    around: Neighbourhood,
    /// Each of those rows' pairs with `around`'s records, by record key.
    scores: Vec<HashMap<i64, ScoredPair>>,
}

/// What a job's last committed chunk did to the registry, for the next chunk's scores made
/// before it committed.
struct WrittenChunk {
    job_id: String,
    /// The job's rows done with this chunk.
    rows_done: i64,
    /// The change feed's head when the chunk began, and when it committed.
    head_before: i64,
    head_after: i64,
    /// Its new records; `None` when the commit changed more than those (a row updating a stored
    /// record, or another writer's commit in between on PostgreSQL): no in-memory account of
    /// it is then complete.
    records: Option<Vec<WrittenRecord>>,
}

/// A new record as the next chunk's neighbourhood would read it.
struct WrittenRecord {
    record_key: i64,
    child_id: ChildId,
    stored: Arc<PreparedStored>,
    key_hashes: Vec<i64>,
    identifiers: BTreeSet<(String, String)>,
}

fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ImportPipeline {
    fn keep_ahead(&self, ahead: ScoredAhead) {
        *locked(&self.ahead) = Some(ahead);
    }

    fn keep_written(&self, written: WrittenChunk) {
        *locked(&self.written) = Some(written);
    }

    /// Lets go of a finished job's scores and last chunk (a neighbourhood of a chunk's size).
    fn forget(&self, job_id: &str) {
        let mut ahead = locked(&self.ahead);
        if ahead.as_ref().is_some_and(|ahead| ahead.job_id == job_id) {
            *ahead = None;
        }
        let mut written = locked(&self.written);
        if written
            .as_ref()
            .is_some_and(|written| written.job_id == job_id)
        {
            *written = None;
        }
    }

    /// The neighbourhood and scores made ahead for this chunk's new rows (`fresh`: their
    /// indexes; `hashes`: their blocking-key hashes, asked for only when the chunk before is
    /// added), brought up to the registry at `head`.
    /// `None` when none were made for these rows and this model, or when the registry changed
    /// since they were by anything but the job's chunk before (another writer, an update of a
    /// stored record): the chunk then reads and scores in its own transaction.
    #[allow(clippy::too_many_arguments)]
    fn take_ahead(
        &self,
        job_id: &str,
        first_row: i64,
        model_version: i64,
        fresh: &[usize],
        hashes: impl FnOnce() -> HashSet<i64>,
        head: i64,
        max_block: usize,
    ) -> Option<(Neighbourhood, Vec<HashMap<i64, ScoredPair>>)> {
        let ahead = {
            // Scores for another chunk stay: the chunk before this one's may ask first.
            let mut kept = locked(&self.ahead);
            let for_this_chunk = kept
                .as_ref()
                .is_some_and(|ahead| ahead.job_id == job_id && ahead.first_row == first_row);
            if !for_this_chunk {
                return None;
            }
            kept.take()?
        };
        if ahead.model_version != model_version || ahead.fresh != fresh {
            return None;
        }
        let ScoredAhead {
            head: read_at,
            mut around,
            scores,
            ..
        } = ahead;
        if read_at != head {
            let written = locked(&self.written);
            let written = written.as_ref().filter(|written| {
                written.job_id == job_id
                    && written.rows_done == first_row
                    && written.head_before == read_at
                    && written.head_after == head
            })?;
            add_written(
                &mut around,
                written.records.as_deref()?,
                &hashes(),
                max_block,
            );
        }
        Some((around, scores))
    }
}

/// Adds the records of the chunk before to a neighbourhood read before it committed, as
/// [`neighbourhood`] would read them now for rows with blocking-key `hashes`: their blocks
/// grow (one grown past `max_block` loses its record keys, as the read leaves them out), and
/// the records and their identifiers join.
fn add_written(
    around: &mut Neighbourhood,
    written: &[WrittenRecord],
    hashes: &HashSet<i64>,
    max_block: usize,
) {
    for record in written {
        for hash in record
            .key_hashes
            .iter()
            .filter(|hash| hashes.contains(hash))
        {
            let block = around.blocks.entry(*hash).or_insert_with(|| StoredBlock {
                size: 0,
                records: Vec::new(),
            });
            block.size += 1;
            if block.size <= max_block {
                block.records.push(record.record_key);
            } else {
                block.records.clear();
            }
        }
        around.records.insert(
            record.record_key,
            (record.child_id, Arc::clone(&record.stored)),
        );
        for identifier in &record.identifiers {
            around
                .identifiers
                .entry(identifier.clone())
                .or_default()
                .insert(record.child_id);
        }
    }
}

/// The change feed's position. Every commit that registers, moves, merges or changes a record
/// appends to the feed, so at one position the records, their children and their blocking keys
/// are the same.
async fn change_feed_head(tx: &mut Transaction<'_>) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT last_seq FROM outbox_head WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Which of a chunk's valid rows make new records: those whose source record is not stored
/// (`existing`) and does not repeat an earlier row of the chunk. The others update a record.
fn new_record_rows(rows: &[PreparedRow], existing: &HashSet<(String, String)>) -> Vec<bool> {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    rows.iter()
        .map(|row| {
            let source = (
                row.record.source_system.as_str(),
                row.record.source_record_id.as_str(),
            );
            !existing.contains(&(source.0.to_owned(), source.1.to_owned())) && seen.insert(source)
        })
        .collect()
}

/// The rows of `rows` marked in `new`.
fn marked<'a>(rows: &'a [PreparedRow], new: &[bool]) -> Vec<&'a PreparedRow> {
    rows.iter()
        .zip(new)
        .filter(|(_, new)| **new)
        .map(|(row, _)| row)
        .collect()
}

async fn neighbourhood(
    tx: &mut Transaction<'_>,
    fresh: &[&PreparedRow],
    max_block: usize,
    cache: &PreparedCache,
    model_version: i64,
    steps: &mut ChunkSteps,
) -> Result<Neighbourhood> {
    let mut found = Neighbourhood::default();
    let hashes: BTreeSet<i64> = fresh
        .iter()
        .flat_map(|row| row.key_hashes.iter().copied())
        .collect();
    let hashes: Vec<i64> = hashes.into_iter().collect();
    // A block too large to compare is skipped (`compare_all`): its records need not be read.
    for (hash, size, records) in super::stored_blocks(tx, &hashes, max_block).await? {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        found.blocks.insert(hash, StoredBlock { size, records });
    }
    steps.lap("neighbourhood.blocks");
    let wanted: BTreeSet<i64> = found
        .blocks
        .values()
        .flat_map(|block| block.records.iter().copied())
        .collect();
    let wanted: Vec<i64> = wanted.into_iter().collect();
    steps.count("neighbours", wanted.len());
    // Each record's child and version first (a merge may have moved it, an update changed
    // it); its match fields only when the cache does not hold that version prepared.
    let mut current: HashMap<i64, (ChildId, i64)> = HashMap::with_capacity(wanted.len());
    for (record_key, child_id, version) in super::current_records(tx, &wanted).await? {
        current.insert(record_key, (parse_child_id(&child_id)?, version));
    }
    steps.lap("neighbourhood.current");
    let cached = cache.get_many(
        model_version,
        current
            .iter()
            .map(|(record_key, (_, version))| (*record_key, *version)),
    );
    for ((record_key, _), prepared) in cached {
        if let Some((child_id, _)) = current.remove(&record_key) {
            found.records.insert(record_key, (child_id, prepared));
        }
    }
    let missing: Vec<i64> = current.keys().copied().collect();
    steps.count("not_cached", missing.len());
    for part in missing.chunks(KEYS_PER_LOOKUP) {
        let sql = format!(
            "SELECT record_key, source_system, match_child FROM source_records WHERE record_key IN ({})",
            placeholders(1, part.len())
        );
        let mut query = sqlx::query_as::<_, (i64, String, Option<Json<ChildData>>)>(&sql);
        for record_key in part {
            query = query.bind(*record_key);
        }
        for (record_key, system, child) in query.fetch_all(&mut **tx).await? {
            if let Some((child_id, version)) = current.get(&record_key) {
                found.unprepared.push((
                    (record_key, *version),
                    *child_id,
                    system,
                    child.map(|json| json.0).unwrap_or_default(),
                ));
            }
        }
    }
    steps.lap("neighbourhood.records");
    let kinds: BTreeSet<&str> = fresh
        .iter()
        .flat_map(|row| row.identifiers.iter().map(|(kind, _)| kind.as_str()))
        .collect();
    let kinds: Vec<&str> = kinds.into_iter().collect();
    let values: BTreeSet<&str> = fresh
        .iter()
        .flat_map(|row| row.identifiers.iter().map(|(_, value)| value.as_str()))
        .collect();
    let values: Vec<&str> = values.into_iter().collect();
    for part in values.chunks(KEYS_PER_LOOKUP) {
        // The kinds lead the index (`kind, value_key`): without them every look-up read the
        // whole table. A row of one kind with another kind's value may come back too; the
        // placing looks each identifier up as a (kind, value) pair, so it is never used.
        let sql = format!(
            "SELECT DISTINCT ri.kind, ri.value_key, sr.child_id FROM record_identifiers ri \
             JOIN source_records sr ON sr.record_key = ri.record_key \
             WHERE ri.kind IN ({}) AND ri.value_key IN ({})",
            placeholders(1, kinds.len()),
            placeholders(kinds.len() + 1, part.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, String)>(&sql);
        for kind in &kinds {
            query = query.bind(*kind);
        }
        for value in part {
            query = query.bind(*value);
        }
        for (kind, value, child_id) in query.fetch_all(&mut **tx).await? {
            found
                .identifiers
                .entry((kind, value))
                .or_default()
                .insert(parse_child_id(&child_id)?);
        }
    }
    steps.lap("neighbourhood.identifiers");
    Ok(found)
}

/// One new row's comparisons: with stored records (by record key, with their child and
/// district) and with earlier rows of the chunk (by position).
#[derive(Default)]
struct Comparisons {
    stored: Vec<(i64, ChildId, Option<String>, ScoredPair)>,
    earlier: Vec<(usize, ScoredPair)>,
}

/// A compared pair as [`linkage::score_children`] sees it: only a pair that could reach
/// review is scored in full and explained (the explanation is what a steward reads; building
/// one, or even making every comparison, for every namesake in a block was most of an
/// import's comparing time). Whether a cannot-link rule holds is known for every pair.
pub(super) struct ScoredPair {
    /// 0 for a pair below review (no child's best pair is kept for its probability alone).
    probability: f64,
    /// A cannot-link rule holds for the pair.
    vetoed: bool,
    explanation: Option<PairExplanation>,
}

fn score_pair(matcher: &Matcher, a: &PreparedRecord, b: &PreparedRecord) -> Result<ScoredPair> {
    let (probability, vetoed) = matcher.score_for_review(a, b)?;
    let explanation = match probability {
        Some(_) => Some(matcher.explain(a, b)?),
        None => None,
    };
    Ok(ScoredPair {
        probability: probability.unwrap_or(0.0),
        vetoed,
        explanation,
    })
}

/// Prepares the stored records the cache did not hold, on all cores; returns them for the
/// cache.
fn prepare_unprepared(
    matcher: &Matcher,
    around: &mut Neighbourhood,
) -> Vec<(RecordVersion, Arc<PreparedStored>)> {
    let prepared: Vec<(RecordVersion, ChildId, Arc<PreparedStored>)> =
        std::mem::take(&mut around.unprepared)
            .into_par_iter()
            .map(|(key, child_id, system, child)| {
                let stored = PreparedStored::of(matcher, &system, child);
                (key, child_id, Arc::new(stored))
            })
            .collect();
    prepared
        .into_iter()
        .map(|(key, child_id, stored)| {
            around
                .records
                .insert(key.0, (child_id, Arc::clone(&stored)));
            (key, stored)
        })
        .collect()
}

/// Scores every new row against the stored records and the earlier chunk rows it shares a
/// blocking key with, on all cores. A block larger than the model's limit is skipped, counting
/// the chunk rows before the row as the online path would have seen them stored. `known` holds
/// each row's pairs with stored records scored already (by record key, see [`score_ahead`]):
/// those are taken instead of scored again. Without `score_earlier` the pairs within the chunk
/// are left out (scores made ahead keep only the stored ones; the chunk's transaction scores
/// those within it).
fn compare_all(
    matcher: &Matcher,
    fresh: &[&PreparedRow],
    around: &Neighbourhood,
    mut known: Vec<HashMap<i64, ScoredPair>>,
    score_earlier: bool,
) -> Result<Vec<Comparisons>> {
    let max_block = linking::max_block(matcher) as usize;
    let mut chunk_blocks: HashMap<i64, Vec<usize>> = HashMap::new();
    for (position, row) in fresh.iter().enumerate() {
        for hash in &row.key_hashes {
            chunk_blocks.entry(*hash).or_default().push(position);
        }
    }
    known.resize_with(fresh.len(), HashMap::new);
    fresh
        .par_iter()
        .zip(known.into_par_iter())
        .enumerate()
        .map(|(position, (row, mut known))| {
            let mut stored_seen = HashSet::new();
            let mut earlier_seen = HashSet::new();
            let mut comparisons = Comparisons::default();
            for hash in &row.key_hashes {
                let (stored_size, stored) = around
                    .blocks
                    .get(hash)
                    .map_or((0, &[][..]), |block| (block.size, block.records.as_slice()));
                let in_chunk = chunk_blocks.get(hash).map_or(&[][..], Vec::as_slice);
                let earlier = &in_chunk[..in_chunk.partition_point(|&other| other < position)];
                if stored_size + earlier.len() > max_block {
                    continue;
                }
                for record_key in stored {
                    if !stored_seen.insert(*record_key) {
                        continue;
                    }
                    if let Some((child_id, stored)) = around.records.get(record_key) {
                        let scored = match known.remove(record_key) {
                            Some(scored) => scored,
                            None => score_pair(matcher, &row.prepared, &stored.prepared)?,
                        };
                        comparisons.stored.push((
                            *record_key,
                            *child_id,
                            stored.district.clone(),
                            scored,
                        ));
                    }
                }
                if !score_earlier {
                    continue;
                }
                for &other in earlier {
                    if earlier_seen.insert(other) {
                        comparisons.earlier.push((
                            other,
                            score_pair(matcher, &row.prepared, &fresh[other].prepared)?,
                        ));
                    }
                }
            }
            lift_reconciled_vetoes(matcher, &row.prepared, around, &mut comparisons.stored)?;
            Ok(comparisons)
        })
        .collect()
}

/// Clears the veto of the stored pairs another record of the same child reconciles
/// ([`linkage::reconciled_vetoes`]), as [`linkage::score_children`] does.
fn lift_reconciled_vetoes(
    matcher: &Matcher,
    arriving: &PreparedRecord,
    around: &Neighbourhood,
    stored: &mut [(i64, ChildId, Option<String>, ScoredPair)],
) -> Result<()> {
    // Most registrations have no vetoed pair: nothing to gather for them.
    if !stored.iter().any(|(_, _, _, scored)| scored.vetoed) {
        return Ok(());
    }
    let compared: Option<Vec<(ChildId, &PreparedRecord, bool)>> = stored
        .iter()
        .map(|(record_key, child_id, _, scored)| {
            around
                .records
                .get(record_key)
                .map(|(_, prepared)| (*child_id, &prepared.prepared, scored.vetoed))
        })
        .collect();
    let Some(compared) = compared else {
        return Ok(());
    };
    for position in linkage::reconciled_vetoes(matcher, arriving, &compared)? {
        stored[position].3.vetoed = false;
    }
    Ok(())
}

/// Each child's best pair, as [`linkage::score_children`] keeps it, for the children whose best
/// pair could reach review (the others the thresholds drop anyway).
fn best_per_child(
    pairs: impl Iterator<Item = (ChildId, Option<String>, ScoredPair)>,
) -> Vec<ChildScore> {
    let pairs = pairs.map(|(child_id, district, scored)| linkage::PairScore {
        child_id,
        probability: scored.probability,
        vetoed: scored.vetoed,
        pair: (district, scored.explanation),
    });
    let mut scores: Vec<ChildScore> = linkage::best_per_child(pairs)
        .into_iter()
        .filter_map(|best| {
            let (district, explanation) = best.pair;
            explanation.map(|explanation| ChildScore {
                child_id: best.child_id,
                probability: explanation.match_probability,
                explanation,
                vetoed: best.vetoed,
                district,
            })
        })
        .collect();
    linkage::sort_best_first(&mut scores);
    scores
}

/// Where a new row goes, decided as `place_new` decides for one registration.
pub(super) struct Placed {
    child_id: ChildId,
    /// The child is new (created by this row).
    founds_child: bool,
    outcome: MatchOutcome,
    method: &'static str,
    probability: Option<f64>,
    explanation: Option<serde_json::Value>,
    review: Vec<ChildScore>,
}

/// Decides every new row in row order: one child holding an identifier links; several go to
/// review; otherwise the scores and the model's thresholds decide.
async fn place_all(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    fresh: &[PreparedRow],
    around: &Neighbourhood,
    comparisons: Vec<Comparisons>,
) -> Result<Vec<Placed>> {
    let mut chunk_identifiers: HashMap<&(String, String), Vec<usize>> = HashMap::new();
    for (position, row) in fresh.iter().enumerate() {
        for identifier in &row.identifiers {
            chunk_identifiers
                .entry(identifier)
                .or_default()
                .push(position);
        }
    }
    let mut placed: Vec<Placed> = Vec::with_capacity(fresh.len());
    for ((position, row), comparisons) in fresh.iter().enumerate().zip(comparisons) {
        let mut sharing = BTreeSet::new();
        for identifier in &row.identifiers {
            if let Some(children) = around.identifiers.get(identifier) {
                sharing.extend(children.iter().copied());
            }
            if let Some(rows) = chunk_identifiers.get(identifier) {
                sharing.extend(
                    rows.iter()
                        .take_while(|&&other| other < position)
                        .map(|&other| placed[other].child_id),
                );
            }
        }
        let plan = if sharing.len() == 1 {
            None
        } else if sharing.len() > 1 {
            // Several children claim the same identifier: only a person can sort that out.
            let stored: Vec<ChildId> = sharing.iter().copied().collect();
            let mut records = linking::records_of_children(tx, &stored).await?;
            records.extend(
                (0..position)
                    .filter(|&other| sharing.contains(&placed[other].child_id))
                    .map(|other| CandidateRecord {
                        record_key: 0,
                        child_id: placed[other].child_id,
                        source_system: fresh[other].record.source_system.clone(),
                        child: fresh[other].record.child.clone(),
                    }),
            );
            Some(Plan::Review(linkage::score_children(
                matcher,
                &row.record.source_system,
                &row.record.child,
                &records,
            )?))
        } else {
            let stored = comparisons
                .stored
                .into_iter()
                .map(|(_, child_id, district, scored)| (child_id, district, scored));
            let scores = best_per_child(stored.chain(comparisons.earlier.into_iter().map(
                |(other, scored)| {
                    (
                        placed[other].child_id,
                        fresh[other].record.child.district.clone(),
                        scored,
                    )
                },
            )));
            Some(linkage::plan(
                scores,
                matcher.link_threshold(),
                matcher.review_threshold(),
            ))
        };
        let founding = |outcome, review: Vec<ChildScore>| Placed {
            child_id: ChildId::random(),
            founds_child: true,
            outcome,
            method: "new",
            probability: review.first().map(|score| score.probability),
            explanation: None,
            review,
        };
        placed.push(match plan {
            None => {
                let child_id = sharing.into_iter().next().unwrap_or_else(ChildId::random);
                Placed {
                    child_id,
                    founds_child: false,
                    outcome: MatchOutcome::Linked,
                    method: "identifier",
                    probability: None,
                    explanation: None,
                    review: Vec::new(),
                }
            }
            Some(Plan::Link(score)) => Placed {
                child_id: score.child_id,
                founds_child: false,
                outcome: MatchOutcome::Linked,
                method: "automatic",
                probability: Some(score.probability),
                explanation: Some(serde_json::to_value(&score.explanation)?),
                review: Vec::new(),
            },
            Some(Plan::Review(scores)) => founding(MatchOutcome::Review, scores),
            Some(Plan::New) => founding(MatchOutcome::New, Vec::new()),
        });
    }
    Ok(placed)
}

/// New records registered together by [`register_fresh`], in row order.
pub(super) struct FreshWritten {
    pub(super) fresh: Vec<PreparedRow>,
    pub(super) record_keys: Vec<i64>,
    pub(super) placed: Vec<Placed>,
    pub(super) changes: Vec<PendingChange>,
}

/// Registers records new to the registry (no source record of theirs stored, none repeated
/// among them) as `POST /v1/records` would one after the other in row order, with the work
/// batched: the stored records sharing a block with any of them read in a few statements (or
/// taken from `ahead`, read and scored before the transaction), every row compared with those
/// and with the rows before it on all cores, then placed and written with multi-row inserts.
/// `received_from` names each row's sender. An import chunk's new rows and a group commit's
/// new registrations take this path; the caller has taken the matching locks.
#[allow(clippy::too_many_arguments)]
pub(super) async fn register_fresh(
    tx: &mut Transaction<'_>,
    matcher: &Arc<Matcher>,
    cache: &PreparedCache,
    fresh: Vec<PreparedRow>,
    received_from: &[&str],
    ahead: Option<(Neighbourhood, Vec<HashMap<i64, ScoredPair>>)>,
    now: DateTime<Utc>,
    steps: &mut ChunkSteps,
) -> Result<FreshWritten> {
    let (mut around, known) = match ahead {
        Some(scored) => {
            steps.lap("neighbourhood.ahead");
            scored
        }
        None => {
            let fresh_rows: Vec<&PreparedRow> = fresh.iter().collect();
            let max_block = linking::max_block(matcher) as usize;
            let around =
                neighbourhood(tx, &fresh_rows, max_block, cache, matcher.version(), steps).await?;
            (around, Vec::new())
        }
    };
    // The new records' keys are reserved before they are placed, so their blocking keys
    // (which do not depend on the child) are written while the rows are compared: the
    // database and the cores work at once.
    let record_keys = super::reserve_record_keys(tx, fresh.len()).await?;
    let blocking = blocking_rows(&fresh, &record_keys);
    let comparing = {
        let matcher = Arc::clone(matcher);
        tokio::task::spawn_blocking(move || {
            let newly_prepared = prepare_unprepared(&matcher, &mut around);
            let rows: Vec<&PreparedRow> = fresh.iter().collect();
            let comparisons = compare_all(&matcher, &rows, &around, known, true);
            (fresh, around, newly_prepared, comparisons)
        })
    };
    let (compared, written) = tokio::join!(comparing, super::insert_blocking_keys(tx, &blocking));
    let (fresh, around, newly_prepared, comparisons) = compared
        .map_err(|error| RegistryError::Corrupt(format!("scoring rows stopped: {error}")))?;
    written?;
    let comparisons = comparisons?;
    steps.count(
        "pairs",
        comparisons
            .iter()
            .map(|row| row.stored.len() + row.earlier.len())
            .sum(),
    );
    // Read from committed records: kept whether or not this transaction commits.
    cache.put_many(matcher.version(), newly_prepared);
    steps.lap("compare_and_keys");
    let placed = place_all(tx, matcher, &fresh, &around, comparisons).await?;
    steps.lap("place");
    let keyed: Vec<(i64, &PreparedRow, &Placed)> = record_keys
        .iter()
        .zip(&fresh)
        .zip(&placed)
        .map(|((record_key, fresh), place)| (*record_key, fresh, place))
        .collect();
    let changes = write_fresh(tx, matcher, &keyed, received_from, now, steps).await?;
    Ok(FreshWritten {
        fresh,
        record_keys,
        placed,
        changes,
    })
}

/// What a group commit's registrations did ([`register_batch`]).
pub(super) struct BatchRegistered {
    /// Each job's answer, in the batch's order.
    pub(super) answers: Vec<Result<Registration>>,
    pub(super) changes: Vec<PendingChange>,
    /// The new records, prepared: the next batches' neighbours once this one commits.
    pub(super) written: Vec<(RecordVersion, Arc<PreparedStored>)>,
}

/// Registers a group commit's records (`rows`, each `index` its position in the batch, and
/// `received_from` each one's sender): the new ones together ([`register_fresh`]), then those
/// updating or repeating a stored source record (or repeating a row of the batch) one at a
/// time on the online path. The answers are what registering them one after the other, new
/// ones first, would give. An error leaves the transaction to be rolled back by the caller
/// (to its savepoint), which then registers the batch one record at a time.
pub(super) async fn register_batch(
    tx: &mut Transaction<'_>,
    matcher: &Arc<Matcher>,
    cache: &PreparedCache,
    rows: Vec<PreparedRow>,
    received_from: &[&str],
    now: DateTime<Utc>,
    steps: &mut ChunkSteps,
) -> Result<BatchRegistered> {
    let count = rows.len();
    let (fresh, repeats) = split_new_rows(tx, rows).await?;
    steps.lap("split");
    let senders: Vec<&str> = fresh.iter().map(|row| received_from[row.index]).collect();
    let FreshWritten {
        fresh,
        record_keys,
        placed,
        mut changes,
    } = register_fresh(tx, matcher, cache, fresh, &senders, None, now, steps).await?;
    let mut answers: Vec<Option<Result<Registration>>> = (0..count).map(|_| None).collect();
    let mut written = Vec::with_capacity(fresh.len());
    for ((row, record_key), place) in fresh.into_iter().zip(record_keys).zip(placed) {
        // The children the caller is told the record was compared with, as `place_new` tells.
        let candidates = match place.outcome {
            MatchOutcome::Linked => vec![place.child_id],
            MatchOutcome::Review => place.review.iter().map(|score| score.child_id).collect(),
            MatchOutcome::New => Vec::new(),
        };
        answers[row.index] = Some(Ok(Registration {
            child_id: place.child_id,
            record_version: FIRST_VERSION,
            match_result: MatchResult {
                outcome: place.outcome,
                probability: place.probability,
                candidates,
            },
            created: true,
        }));
        written.push((
            (record_key, FIRST_VERSION),
            Arc::new(PreparedStored {
                district: row.record.child.district,
                prepared: row.prepared,
            }),
        ));
    }
    for (index, record) in repeats {
        answers[index] = Some(
            register_with_savepoint(
                tx,
                matcher,
                &record,
                &matcher.blocking_keys(&record.child),
                received_from[index],
                now,
                &mut changes,
            )
            .await,
        );
    }
    steps.lap("repeats");
    let answers = answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(RegistryError::Corrupt(
                    "a registration of the batch was not processed".to_owned(),
                ))
            })
        })
        .collect();
    Ok(BatchRegistered {
        answers,
        changes,
        written,
    })
}

/// Writes the chunk's new records with multi-row inserts, each under its reserved record key
/// and on the child it was placed with (their blocking keys are written already); returns the
/// changes for the outbox.
async fn write_fresh(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    keyed: &[(i64, &PreparedRow, &Placed)],
    received_from: &[&str],
    now: DateTime<Utc>,
    steps: &mut ChunkSteps,
) -> Result<Vec<PendingChange>> {
    let new_children: Vec<String> = keyed
        .iter()
        .map(|(_, _, place)| place)
        .filter(|place| place.founds_child)
        .map(|place| place.child_id.to_string())
        .collect();
    for part in new_children.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO children (child_id, status, merged_into, created_at, updated_at) ",
        );
        insert.push_values(part, |mut row, child_id| {
            row.push_bind(child_id.clone())
                .push("'active'")
                .push("NULL")
                .push_bind(now)
                .push_bind(now);
        });
        insert.push(" ON CONFLICT (child_id) DO NOTHING RETURNING child_id");
        let inserted = insert.build().fetch_all(&mut **tx).await?;
        if inserted.len() != part.len() {
            // A random child ID already issued (60 random bits: next to impossible). Nothing
            // of the chunk is committed; the runner retries it with fresh IDs.
            return Err(RegistryError::Conflict {
                code: "child_id_collision",
                message: "a new child ID was already issued; retry".to_owned(),
            });
        }
    }
    steps.lap("write.children");

    let version = matcher.version();
    for part in keyed.chunks(ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
            "INSERT INTO source_records (record_key, source_system, source_record_id, child_id, \
             origin_child_id, current_version, created_at, updated_at, district_key, link_method, \
             link_model_version, link_probability, link_explanation, match_child, \
             blocking_model_version) {} ",
            super::RESERVED_KEY_INSERT
        ));
        insert.push_values(part, |mut row, (record_key, fresh, place)| {
            let child_id = place.child_id.to_string();
            row.push_bind(*record_key)
                .push_bind(fresh.record.source_system.clone())
                .push_bind(fresh.record.source_record_id.clone())
                .push_bind(child_id.clone())
                .push_bind(child_id)
                .push_bind(FIRST_VERSION)
                .push_bind(now)
                .push_bind(now)
                .push("LOWER(")
                .push_bind_unseparated(fresh.record.child.district.clone())
                .push_unseparated(")")
                .push_bind(place.method)
                .push_bind(place.probability.map(|_| version))
                .push_bind(place.probability.filter(|_| place.method == "automatic"))
                .push_bind(place.explanation.clone().map(Json))
                .push_bind(Json(fresh.record.child.clone()))
                .push_bind(version);
        });
        insert.build().execute(&mut **tx).await?;
    }
    steps.lap("write.source_records");

    let versions: Vec<(&(i64, &PreparedRow, &Placed), &str)> =
        keyed.iter().zip(received_from.iter().copied()).collect();
    insert_rows(
        tx,
        "INSERT INTO record_versions (record_key, version, content_hash, body, match_outcome, \
         match_probability, received_at, received_from) ",
        "",
        &versions,
        |row, ((record_key, fresh, place), received_from)| {
            row.push_bind(*record_key)
                .push_bind(FIRST_VERSION)
                .push_bind(fresh.hash.clone())
                .push_bind(Json(&fresh.body))
                .push_bind(place.outcome.as_str())
                .push_bind(place.probability)
                .push_bind(now)
                .push_bind((*received_from).to_owned());
        },
    )
    .await?;
    steps.lap("write.versions");

    let identifiers: Vec<(i64, &(String, String))> = keyed
        .iter()
        .flat_map(|(record_key, fresh, _)| fresh.identifiers.iter().map(|id| (*record_key, id)))
        .collect();
    insert_rows(
        tx,
        "INSERT INTO record_identifiers (record_key, kind, value_key) ",
        "",
        &identifiers,
        |row, (record_key, (kind, value))| {
            row.push_bind(*record_key)
                .push_bind(kind.clone())
                .push_bind(value.clone());
        },
    )
    .await?;
    steps.lap("write.identifiers");

    let events: Vec<(i64, &(String, EventData))> = keyed
        .iter()
        .flat_map(|(record_key, fresh, _)| fresh.events.iter().map(|event| (*record_key, event)))
        .collect();
    insert_rows(
        tx,
        "INSERT INTO events (record_key, version, retracted_in_version, content_hash, event_type, \
         event_date, sensitivity, details, received_at) ",
        "",
        &events,
        |row, (record_key, (hash, event))| {
            row.push_bind(*record_key)
                .push_bind(FIRST_VERSION)
                .push("NULL")
                .push_bind(hash.clone())
                .push_bind(event.event_type.clone())
                .push_bind(event.date)
                .push_bind(event.sensitivity.as_str())
                .push_bind(Json(&event.details))
                .push_bind(now);
        },
    )
    .await?;

    let candidates: Vec<(i64, &PreparedRow, &ChildScore)> = keyed
        .iter()
        .flat_map(|(record_key, fresh, place)| {
            place
                .review
                .iter()
                .map(|score| (*record_key, *fresh, score))
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO match_candidates (record_key, record_version, candidate_child_id, probability, \
         explanation, model_version, record_district, candidate_district, status, created_at) ",
        " ON CONFLICT DO NOTHING",
        &candidates,
        |row, (record_key, fresh, score)| {
            row.push_bind(*record_key)
                .push_bind(FIRST_VERSION)
                .push_bind(score.child_id.to_string())
                .push_bind(score.probability)
                .push_bind(Json(&score.explanation))
                .push_bind(version)
                .push_bind(fresh.record.child.district.clone())
                .push_bind(score.district.clone())
                .push("'open'")
                .push_bind(now);
        },
    )
    .await?;

    steps.lap("write.events_candidates");
    // A child that records joined counts each join as a change (its revision, the ETag).
    let mut joins: BTreeMap<ChildId, i64> = BTreeMap::new();
    for (_, _, place) in keyed.iter().filter(|(_, _, place)| !place.founds_child) {
        *joins.entry(place.child_id).or_default() += 1;
    }
    let mut by_count: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (child_id, count) in joins {
        by_count
            .entry(count)
            .or_default()
            .push(child_id.to_string());
    }
    for (count, children) in by_count {
        for part in children.chunks(KEYS_PER_LOOKUP) {
            let sql = format!(
                "UPDATE children SET updated_at = $1, revision = revision + $2 WHERE child_id IN ({})",
                (3..3 + part.len())
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut query = sqlx::query(&sql).bind(now).bind(count);
            for child_id in part {
                query = query.bind(child_id);
            }
            query.execute(&mut **tx).await?;
        }
    }

    steps.lap("write.revisions");
    let event_keys = stored_event_keys(tx, keyed).await?;
    let mut changes = Vec::new();
    for (record_key, fresh, place) in keyed {
        if place.founds_child {
            changes.push(PendingChange {
                kind: "child.created",
                child_id: place.child_id,
                payload: serde_json::json!({}),
            });
        }
        changes.push(PendingChange {
            kind: if place.outcome == MatchOutcome::Linked {
                "record.linked"
            } else {
                "record.registered"
            },
            child_id: place.child_id,
            payload: record_payload(&fresh.record, FIRST_VERSION),
        });
        for (hash, event) in &fresh.events {
            let event_key = *event_keys
                .get(&(*record_key, hash.clone()))
                .ok_or_else(|| {
                    RegistryError::Corrupt(format!(
                        "imported event {hash} of record {record_key} was not stored"
                    ))
                })?;
            let stored = StoredEvent {
                event_key,
                event,
                child_id: place.child_id,
                record: &fresh.record,
                version: FIRST_VERSION,
            };
            event_first_stored(tx, &stored, now, &mut changes).await?;
        }
    }
    Ok(changes)
}

/// A chunk's new records' `(key_hash, record_key)` blocking-key rows under their reserved
/// record keys, in index order: each insert then lands next to the previous one instead of on
/// a random page of the index (half the time of the chunk's key inserts on SQLite).
fn blocking_rows(fresh: &[PreparedRow], record_keys: &[i64]) -> Vec<(i64, i64)> {
    let mut rows: Vec<(i64, i64)> = fresh
        .iter()
        .zip(record_keys)
        .flat_map(|(fresh, record_key)| fresh.key_hashes.iter().map(|hash| (*hash, *record_key)))
        .collect();
    rows.sort_unstable();
    rows
}

/// The keys of the events just inserted for the chunk's new records, by record and content
/// hash: new records have no other events.
async fn stored_event_keys(
    tx: &mut Transaction<'_>,
    keyed: &[(i64, &PreparedRow, &Placed)],
) -> Result<HashMap<(i64, String), i64>> {
    let with_events: Vec<i64> = keyed
        .iter()
        .filter(|(_, fresh, _)| !fresh.events.is_empty())
        .map(|(record_key, _, _)| *record_key)
        .collect();
    let mut stored: HashMap<(i64, String), i64> = HashMap::new();
    for part in with_events.chunks(KEYS_PER_LOOKUP) {
        let sql = format!(
            "SELECT record_key, content_hash, event_key FROM events WHERE record_key IN ({})",
            placeholders(1, part.len())
        );
        let mut query = sqlx::query_as::<_, (i64, String, i64)>(&sql);
        for record_key in part {
            query = query.bind(*record_key);
        }
        for (record_key, hash, event_key) in query.fetch_all(&mut **tx).await? {
            stored.insert((record_key, hash), event_key);
        }
    }
    Ok(stored)
}

/// A row that updates an existing source record: the online path, in a savepoint so a
/// rejected row leaves the chunk intact.
async fn register_existing(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    record: &ValidRecord,
    received_from: &str,
    now: DateTime<Utc>,
    changes: &mut Vec<PendingChange>,
) -> Result<std::result::Result<(ChildId, MatchOutcome), RowError>> {
    let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
    match register_in(
        &mut savepoint,
        matcher,
        MatchMode::Match,
        record,
        &matcher.blocking_keys(&record.child),
        received_from,
        now,
    )
    .await
    {
        Ok((registration, mut own)) => {
            savepoint.commit().await?;
            changes.append(&mut own);
            Ok(Ok((
                registration.child_id,
                registration.match_result.outcome,
            )))
        }
        Err(RegistryError::Invalid(invalid)) => {
            savepoint.rollback().await?;
            Ok(Err(RowError {
                field: invalid.field,
                code: invalid.code.to_owned(),
                message: invalid.message,
            }))
        }
        Err(RegistryError::Conflict { code, message }) => {
            savepoint.rollback().await?;
            Ok(Err(RowError {
                field: "source_record_id".to_owned(),
                code: code.to_owned(),
                message,
            }))
        }
        Err(error) => Err(error),
    }
}

/// Splits rows into those new to the registry, in row order, and those whose source record
/// exists or repeats an earlier row (by `index`), which take the online update path after the
/// new ones are written.
async fn split_new_rows(
    tx: &mut Transaction<'_>,
    rows: Vec<PreparedRow>,
) -> Result<(Vec<PreparedRow>, Vec<(usize, ValidRecord)>)> {
    let existing = existing_sources(tx, &rows).await?;
    let is_new = new_record_rows(&rows, &existing);
    let (mut fresh, mut repeats) = (Vec::new(), Vec::new());
    for (row, new) in rows.into_iter().zip(is_new) {
        if new {
            fresh.push(row);
        } else {
            repeats.push((row.index, row.record));
        }
    }
    Ok((fresh, repeats))
}

/// Source records of the chunk that already exist.
async fn existing_sources(
    tx: &mut Transaction<'_>,
    rows: &[PreparedRow],
) -> Result<HashSet<(String, String)>> {
    let sources: BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|row| {
            (
                row.record.source_system.as_str(),
                row.record.source_record_id.as_str(),
            )
        })
        .collect();
    let sources: Vec<(&str, &str)> = sources.into_iter().collect();
    Ok(super::stored_sources(tx, &sources)
        .await?
        .into_iter()
        .collect())
}

impl Backend {
    async fn lock_job(&self, tx: &mut Transaction<'_>, job_id: &str) -> Result<ImportJob> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE job_id = $1{}",
            super::LOCK_ROWS
        );
        let row = sqlx::query(&sql)
            .bind(job_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(RegistryError::NotFound("import job"))?;
        job_from_row(&row)
    }

    async fn read_job(&self, job_id: &str) -> Result<Option<ImportJob>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE job_id = $1");
        sqlx::query(&sql)
            .bind(job_id)
            .fetch_optional(&self.write)
            .await?
            .map(|row| job_from_row(&row))
            .transpose()
    }
}

#[async_trait]
impl ImportStore for Backend {
    async fn create_import(&self, import: NewImport, total_rows: i64) -> Result<ImportJob> {
        let mut bytes = [0u8; 10];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let job_id = format!("imp_{}", hex::encode(bytes));
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        sqlx::query(
            "INSERT INTO import_jobs (job_id, status, format, mapping, source_system, submitted_by, \
             total_rows, created_at, updated_at) VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&job_id)
        .bind(import.format.as_str())
        .bind(import.mapping.as_str())
        .bind(&import.source_system)
        .bind(&import.submitted_by)
        .bind(total_rows)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO import_bodies (job_id, body) VALUES ($1, $2)")
            .bind(&job_id)
            .bind(&import.body)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.read_job(&job_id)
            .await?
            .ok_or(RegistryError::NotFound("import job"))
    }

    async fn import_job(&self, job_id: &str) -> Result<Option<ImportJob>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE job_id = $1");
        sqlx::query(&sql)
            .bind(job_id)
            .fetch_optional(&self.read)
            .await?
            .map(|row| job_from_row(&row))
            .transpose()
    }

    async fn import_body(&self, job_id: &str) -> Result<Vec<u8>> {
        sqlx::query_scalar("SELECT body FROM import_bodies WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(RegistryError::NotFound("import job"))
    }

    async fn pending_imports(&self) -> Result<Vec<ImportJob>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE status IN ('queued', 'running') \
             ORDER BY created_at, job_id"
        );
        sqlx::query(&sql)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    #[tracing::instrument(skip_all, name = "store.score_ahead", fields(backend = super::BACKEND_NAME, rows = chunk.rows.len()))]
    async fn score_ahead(
        &self,
        job_id: &str,
        first_row: i64,
        chunk: PreparedChunk,
    ) -> Result<PreparedChunk> {
        let matcher = linking::current_matcher(&self.matcher);
        if chunk.model_version != matcher.version() {
            return Ok(chunk);
        }
        let mut steps = ChunkSteps::start();
        // One snapshot for every read, so that the head names exactly what was read.
        let mut tx = super::begin_snapshot(&self.read).await?;
        super::size_import_chunk(&mut tx).await?;
        let head = change_feed_head(&mut tx).await?;
        let existing = existing_sources(&mut tx, &chunk.fresh).await?;
        let is_new = new_record_rows(&chunk.fresh, &existing);
        let rows = marked(&chunk.fresh, &is_new);
        let around = neighbourhood(
            &mut tx,
            &rows,
            linking::max_block(&matcher) as usize,
            &self.prepared,
            matcher.version(),
            &mut steps,
        )
        .await?;
        tx.rollback().await?;
        let fresh: Vec<usize> = rows.iter().map(|row| row.index).collect();
        drop(rows);
        let scoring = {
            let matcher = Arc::clone(&matcher);
            tokio::task::spawn_blocking(move || {
                let mut around = around;
                let newly_prepared = prepare_unprepared(&matcher, &mut around);
                let rows = marked(&chunk.fresh, &is_new);
                let scores = compare_all(&matcher, &rows, &around, Vec::new(), false).map(|rows| {
                    rows.into_iter()
                        .map(|compared| {
                            compared
                                .stored
                                .into_iter()
                                .map(|(record_key, _, _, scored)| (record_key, scored))
                                .collect()
                        })
                        .collect()
                });
                (chunk, around, newly_prepared, scores)
            })
        };
        let (chunk, around, newly_prepared, scores) = scoring
            .await
            .map_err(|error| RegistryError::Corrupt(format!("scoring rows stopped: {error}")))?;
        // Read from committed records: kept whatever becomes of the chunk.
        self.prepared.put_many(matcher.version(), newly_prepared);
        self.pipeline.keep_ahead(ScoredAhead {
            job_id: job_id.to_owned(),
            first_row,
            model_version: matcher.version(),
            head,
            fresh,
            around,
            scores: scores?,
        });
        steps.lap("compare");
        steps.log("ahead", chunk.rows.len());
        Ok(chunk)
    }

    #[tracing::instrument(skip_all, name = "store.import_chunk", fields(backend = super::BACKEND_NAME, rows = chunk.rows.len()))]
    async fn import_chunk(
        &self,
        job_id: &str,
        first_row: i64,
        chunk: PreparedChunk,
    ) -> Result<ImportJob> {
        let matcher = linking::current_matcher(&self.matcher);
        let now = Utc::now();
        let mut steps = ChunkSteps::start();
        // Prepared with the model active when the runner read the chunk: another version
        // activated since then keys and compares differently.
        let chunk = if chunk.model_version == matcher.version() {
            chunk
        } else {
            imports::prepare_chunk(Arc::clone(&matcher), chunk.rows).await?
        };
        let PreparedChunk {
            rows,
            fresh: prepared,
            ..
        } = chunk;
        steps.lap("prepare");

        // Each time the job has doubled the rows it wrote, the planner hears of the growth.
        let chunk_number = first_row as usize / imports::CHUNK_ROWS;
        if chunk_number > 0 && chunk_number.is_power_of_two() {
            super::refresh_planner_statistics(&self.write).await?;
        }
        let mut tx = super::begin_write(&self.write).await?;
        let job = self.lock_job(&mut tx, job_id).await?;
        super::size_import_chunk(&mut tx).await?;
        steps.lap("begin");
        if job.rows_done != first_row || job.status.is_finished() {
            return Err(RegistryError::Conflict {
                code: "import_moved",
                message: format!(
                    "the job is at row {} ({}), not {first_row}",
                    job.rows_done,
                    job.status.as_str()
                ),
            });
        }
        let received_from = job.submitted_by.clone();
        let count = rows.len() as i64;

        let (fresh, repeats) = split_new_rows(&mut tx, prepared).await?;

        // Registrations that could match each other must not miss each other in two
        // concurrent transactions (another gateway's online registrations).
        let mut lock_keys: Vec<i64> = fresh
            .iter()
            .flat_map(|row| {
                linking::lock_keys_of(
                    &row.key_hashes,
                    row.identifiers
                        .iter()
                        .map(|(kind, value)| (kind.as_str(), value.as_str())),
                )
            })
            .chain(
                repeats
                    .iter()
                    .flat_map(|(_, record)| linking::lock_keys(&matcher, &record.child)),
            )
            .collect();
        lock_keys.sort_unstable();
        lock_keys.dedup();
        // PostgreSQL's lock table is bounded (`max_locks_per_transaction`): a whole chunk's keys
        // (thousands) exhaust it. Above the bound the chunk excludes all other matching
        // transactions for its commit instead.
        if lock_keys.len() <= MAX_CHUNK_LOCKS {
            super::lock_match_keys(&mut tx, &lock_keys).await?;
        } else {
            super::lock_all_matching(&mut tx).await?;
        }
        steps.lap("lock");

        let head_before = change_feed_head(&mut tx).await?;
        let max_block = linking::max_block(&matcher) as usize;
        let scored_ahead = self.pipeline.take_ahead(
            job_id,
            first_row,
            matcher.version(),
            &fresh.iter().map(|row| row.index).collect::<Vec<_>>(),
            || {
                fresh
                    .iter()
                    .flat_map(|row| row.key_hashes.iter().copied())
                    .collect()
            },
            head_before,
            max_block,
        );
        let senders = vec![received_from.as_str(); fresh.len()];
        let FreshWritten {
            fresh,
            record_keys: fresh_keys,
            placed,
            mut changes,
        } = register_fresh(
            &mut tx,
            &matcher,
            &self.prepared,
            fresh,
            &senders,
            scored_ahead,
            now,
            &mut steps,
        )
        .await?;

        let mut outcomes: Vec<Option<std::result::Result<(ChildId, MatchOutcome), RowError>>> =
            vec![None; rows.len()];
        for (row, place) in fresh.iter().zip(&placed) {
            outcomes[row.index] = Some(Ok((place.child_id, place.outcome)));
        }
        for (index, record) in &repeats {
            outcomes[*index] = Some(
                register_existing(&mut tx, &matcher, record, &received_from, now, &mut changes)
                    .await?,
            );
        }
        steps.lap("repeats");

        let (mut linked, mut new, mut review, mut rejected) = (0_i64, 0_i64, 0_i64, 0_i64);
        let results: Vec<ImportResult> = rows
            .into_iter()
            .zip(outcomes)
            .map(|(row, outcome)| {
                let outcome = match (row.record, outcome) {
                    (Err(error), _) | (Ok(_), Some(Err(error))) => Err(error),
                    (Ok(_), Some(Ok(placed))) => Ok(placed),
                    (Ok(_), None) => Err(RowError {
                        field: "row".to_owned(),
                        code: "not_processed".to_owned(),
                        message: "the row was not processed".to_owned(),
                    }),
                };
                let (child_id, outcome, error) = match outcome {
                    Ok((child_id, outcome)) => {
                        match outcome {
                            MatchOutcome::Linked => linked += 1,
                            MatchOutcome::New => new += 1,
                            MatchOutcome::Review => review += 1,
                        }
                        (Some(child_id), outcome.as_str().to_owned(), None)
                    }
                    Err(error) => {
                        rejected += 1;
                        (None, "rejected".to_owned(), Some(error))
                    }
                };
                ImportResult {
                    row: row.row,
                    line: row.line,
                    source_system: row.source_system,
                    source_record_id: row.source_record_id,
                    child_id,
                    outcome,
                    error_field: error.as_ref().map(|e| e.field.clone()),
                    error_code: error.as_ref().map(|e| e.code.clone()),
                    error_message: error.map(|e| e.message),
                }
            })
            .collect();
        insert_rows(
            &mut tx,
            "INSERT INTO import_results (job_id, row_number, line, source_system, source_record_id, \
             child_id, outcome, error_field, error_code, error_message) ",
            "",
            &results,
            |row, result| {
                row.push_bind(job_id.to_owned())
                    .push_bind(result.row)
                    .push_bind(result.line)
                    .push_bind(result.source_system.clone())
                    .push_bind(result.source_record_id.clone())
                    .push_bind(result.child_id.map(|id| id.to_string()))
                    .push_bind(result.outcome.clone())
                    .push_bind(result.error_field.clone())
                    .push_bind(result.error_code.clone())
                    .push_bind(result.error_message.clone());
            },
        )
        .await?;
        let change_count = changes.len() as i64;
        append_changes(&mut tx, changes, now).await?;
        sqlx::query(
            "UPDATE import_jobs SET status = 'running', rows_done = rows_done + $1, \
             linked = linked + $2, created_new = created_new + $3, review = review + $4, \
             rejected = rejected + $5, updated_at = $6 WHERE job_id = $7",
        )
        .bind(count)
        .bind(linked)
        .bind(new)
        .bind(review)
        .bind(rejected)
        .bind(now)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        let head_after = change_feed_head(&mut tx).await?;
        steps.lap("results");
        tx.commit().await?;
        steps.lap("commit");
        steps.log("write", count as usize);
        // The chunk's new records are the next chunks' neighbours, already prepared.
        let written: Vec<WrittenRecord> = fresh
            .into_iter()
            .zip(fresh_keys)
            .zip(&placed)
            .map(|((row, record_key), place)| WrittenRecord {
                record_key,
                child_id: place.child_id,
                stored: Arc::new(PreparedStored {
                    district: row.record.child.district,
                    prepared: row.prepared,
                }),
                key_hashes: row.key_hashes,
                identifiers: row.identifiers,
            })
            .collect();
        self.prepared.put_many(
            matcher.version(),
            written.iter().map(|record| {
                (
                    (record.record_key, FIRST_VERSION),
                    Arc::clone(&record.stored),
                )
            }),
        );
        let only_new_records = repeats.is_empty() && head_after == head_before + change_count;
        self.pipeline.keep_written(WrittenChunk {
            job_id: job_id.to_owned(),
            rows_done: first_row + count,
            head_before,
            head_after,
            records: only_new_records.then_some(written),
        });
        self.read_job(job_id)
            .await?
            .ok_or(RegistryError::NotFound("import job"))
    }

    async fn finish_import(&self, job_id: &str, error: Option<String>) -> Result<ImportJob> {
        let now = Utc::now();
        let status = if error.is_some() {
            ImportStatus::Failed
        } else {
            ImportStatus::Done
        };
        sqlx::query(
            "UPDATE import_jobs SET status = $1, error = $2, finished_at = $3, updated_at = $3 \
             WHERE job_id = $4 AND status IN ('queued', 'running')",
        )
        .bind(status.as_str())
        .bind(&error)
        .bind(now)
        .bind(job_id)
        .execute(&self.write)
        .await?;
        self.pipeline.forget(job_id);
        self.read_job(job_id)
            .await?
            .ok_or(RegistryError::NotFound("import job"))
    }

    async fn import_results(&self, job_id: &str) -> Result<Vec<ImportResult>> {
        let rows = sqlx::query(
            "SELECT row_number, line, source_system, source_record_id, child_id, outcome, \
             error_field, error_code, error_message FROM import_results WHERE job_id = $1 \
             ORDER BY row_number",
        )
        .bind(job_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let child_id: Option<String> = row.try_get("child_id")?;
                Ok(ImportResult {
                    row: row.try_get("row_number")?,
                    line: row.try_get("line")?,
                    source_system: row.try_get("source_system")?,
                    source_record_id: row.try_get("source_record_id")?,
                    child_id: child_id.as_deref().map(parse_child_id).transpose()?,
                    outcome: row.try_get("outcome")?,
                    error_field: row.try_get("error_field")?,
                    error_code: row.try_get("error_code")?,
                    error_message: row.try_get("error_message")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const JOB: &str = "imp_test";
    const FIRST_ROW: i64 = 2000;
    const MODEL: i64 = 4;
    const MAX_BLOCK: usize = 3;
    const IDENTIFIER: (&str, &str) = ("birth_registration", "kh1");

    fn stored() -> Arc<PreparedStored> {
        Arc::new(PreparedStored {
            district: None,
            prepared: PreparedRecord {
                values: Vec::new(),
                name_readings: Vec::new(),
            },
        })
    }

    /// Rows 0 and 2 of the chunk scored at feed position `head`: block 7 holds record 1, block
    /// 8 is one record short of the limit.
    fn ahead(head: i64) -> ScoredAhead {
        let mut around = Neighbourhood::default();
        around.records.insert(1, (ChildId::random(), stored()));
        around.records.insert(5, (ChildId::random(), stored()));
        around.blocks.insert(
            7,
            StoredBlock {
                size: 1,
                records: vec![1],
            },
        );
        around.blocks.insert(
            8,
            StoredBlock {
                size: 2,
                records: vec![1, 5],
            },
        );
        let pair = ScoredPair {
            probability: 0.25,
            vetoed: false,
            explanation: None,
        };
        ScoredAhead {
            job_id: JOB.to_owned(),
            first_row: FIRST_ROW,
            model_version: MODEL,
            head,
            fresh: vec![0, 2],
            around,
            scores: vec![HashMap::from([(1, pair)]), HashMap::new()],
        }
    }

    fn record(record_key: i64, child_id: ChildId, key_hashes: Vec<i64>) -> WrittenRecord {
        WrittenRecord {
            record_key,
            child_id,
            stored: stored(),
            key_hashes,
            identifiers: BTreeSet::from([(IDENTIFIER.0.to_owned(), IDENTIFIER.1.to_owned())]),
        }
    }

    /// The job's chunk before this one, committed from feed position 10 to 14.
    fn chunk_before(joined: ChildId) -> WrittenChunk {
        WrittenChunk {
            job_id: JOB.to_owned(),
            rows_done: FIRST_ROW,
            head_before: 10,
            head_after: 14,
            records: Some(vec![
                record(20, joined, vec![7, 8, 9, 11]),
                record(21, ChildId::random(), vec![8]),
            ]),
        }
    }

    fn take(pipeline: &ImportPipeline, head: i64) -> Option<Neighbourhood> {
        pipeline
            .take_ahead(
                JOB,
                FIRST_ROW,
                MODEL,
                &[0, 2],
                || HashSet::from([7, 8, 9]),
                head,
                MAX_BLOCK,
            )
            .map(|(around, _)| around)
    }

    #[test]
    fn scores_read_at_the_current_head_are_used_once_as_they_are() {
        let pipeline = ImportPipeline::default();
        pipeline.keep_ahead(ahead(10));
        let (around, scores) = pipeline
            .take_ahead(
                JOB,
                FIRST_ROW,
                MODEL,
                &[0, 2],
                || HashSet::from([7, 8]),
                10,
                MAX_BLOCK,
            )
            .expect("the scores made ahead");
        assert_eq!(around.blocks[&8].records, [1, 5]);
        assert_eq!(scores[0][&1].probability, 0.25);
        assert!(take(&pipeline, 10).is_none());
    }

    #[test]
    fn the_chunk_before_joins_when_it_alone_was_committed_since() {
        let pipeline = ImportPipeline::default();
        let joined = ChildId::random();
        pipeline.keep_ahead(ahead(10));
        pipeline.keep_written(chunk_before(joined));
        let around = take(&pipeline, 14).expect("the scores made ahead");
        assert_eq!(
            (around.blocks[&7].size, &around.blocks[&7].records[..]),
            (2, &[1, 20][..])
        );
        // Grown past the limit: never compared, so its records are not kept (as when read).
        assert_eq!(
            (around.blocks[&8].size, around.blocks[&8].records.len()),
            (4, 0)
        );
        assert_eq!(
            (around.blocks[&9].size, &around.blocks[&9].records[..]),
            (1, &[20][..])
        );
        assert!(
            !around.blocks.contains_key(&11),
            "no row of the chunk has key 11"
        );
        assert_eq!(around.records[&20].0, joined);
        let identifier = (IDENTIFIER.0.to_owned(), IDENTIFIER.1.to_owned());
        assert!(around.identifiers[&identifier].contains(&joined));
    }

    #[test]
    fn a_finished_job_is_forgotten_and_no_other() {
        let pipeline = ImportPipeline::default();
        pipeline.keep_ahead(ahead(10));
        pipeline.keep_written(chunk_before(ChildId::random()));
        pipeline.forget("imp_other");
        assert!(take(&pipeline, 14).is_some());
        pipeline.keep_ahead(ahead(10));
        pipeline.forget(JOB);
        assert!(locked(&pipeline.ahead).is_none() && locked(&pipeline.written).is_none());
    }

    #[test]
    fn scores_are_dropped_when_anything_else_changed_the_registry() {
        let joined = ChildId::random();
        let changed = [
            (
                "another writer after the chunk before",
                10,
                chunk_before(joined),
                15,
            ),
            (
                "another writer before it",
                10,
                WrittenChunk {
                    head_before: 11,
                    ..chunk_before(joined)
                },
                14,
            ),
            (
                "it updated stored records",
                10,
                WrittenChunk {
                    records: None,
                    ..chunk_before(joined)
                },
                14,
            ),
            (
                "another job's chunk",
                10,
                WrittenChunk {
                    job_id: "imp_other".to_owned(),
                    ..chunk_before(joined)
                },
                14,
            ),
            (
                "scored after the chunk before began",
                12,
                chunk_before(joined),
                14,
            ),
        ];
        for (case, read_at, written, head) in changed {
            let pipeline = ImportPipeline::default();
            pipeline.keep_ahead(ahead(read_at));
            pipeline.keep_written(written);
            assert!(take(&pipeline, head).is_none(), "{case}");
        }
        let pipeline = ImportPipeline::default();
        pipeline.keep_ahead(ahead(10));
        assert!(
            take(&pipeline, 14).is_none(),
            "nothing known of what was committed"
        );

        let others: [(&str, i64, &[usize]); 3] = [
            ("another chunk", FIRST_ROW + 2000, &[0, 2]),
            ("other rows new", FIRST_ROW, &[0, 1, 2]),
            ("another model", FIRST_ROW, &[0, 2]),
        ];
        for (case, first_row, fresh) in others {
            let pipeline = ImportPipeline::default();
            pipeline.keep_ahead(ahead(10));
            let model = if case == "another model" {
                MODEL + 1
            } else {
                MODEL
            };
            let taken =
                pipeline.take_ahead(JOB, first_row, model, fresh, HashSet::new, 10, MAX_BLOCK);
            assert!(taken.is_none(), "{case}");
            if case == "another chunk" {
                assert!(take(&pipeline, 10).is_some(), "kept for its own chunk");
            }
        }
    }
}
