//! The SQL engine shared by both backends. This file is compiled once inside `sqlite.rs` and
//! once inside `postgres.rs`; there `Db` is the sqlx driver and `Backend` the store type with
//! `write` and `read` pools. The SQL is the dialect both databases accept (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::linking::{self, MatcherCell};
use super::{imports, Backend, Db};
use crate::audit::RegistrationAudit;
use crate::clients::{self, ApiClient, NewClient, Role};
use crate::error::{RegistryError, Result};
use crate::golden;
use crate::ids::{ChildId, ChildIdRange};
use crate::imports::PreparedRow;
use crate::linkage::{self, ChildScore, Matcher, Plan, StoredMatchRecord};
use crate::model::{
    ChildData, ChildStatus, ChildView, Count, EventData, MatchOutcome, MatchResult, OutboxEntry,
    Provenance, RecordHistory, RecordVersionView, Registration, RegistrationCounts, Sensitivity,
    SourceRecordView, Timeline, TimelineEntry, ValidRecord,
};
use crate::review::{
    CandidateClaim, CandidateDecision, CandidatePage, CandidateQuery, CandidateStats,
    DecisionOutcome, MatchCandidate, ModelVersion,
};
use crate::store::prepared::{PreparedCache, PreparedStored, RecordVersion};
use crate::store::{Decision, MergeResult, PoolUse, ReadScope, Store, UnlinkResult, FIRST_VERSION};
use crate::validate::identifier_key;

pub(super) type Transaction<'a> = sqlx::Transaction<'a, Db>;

/// Stored records read and prepared at a time by [`Store::warm_match_cache`].
const WARM_PAGE: usize = 5_000;

pub(super) use crate::store::content::{content_hash, StoredBody};

pub(super) fn is_unique_violation(error: &RegistryError, constraint: &str) -> bool {
    match error {
        RegistryError::Database(sqlx::Error::Database(db)) => {
            db.is_unique_violation() && db.constraint().is_none_or(|name| name == constraint)
        }
        _ => false,
    }
}

/// PostgreSQL broke a lock cycle by failing this statement (SQLSTATE 40P01).
fn is_deadlock(error: &RegistryError) -> bool {
    match error {
        RegistryError::Database(sqlx::Error::Database(db)) => db.code().as_deref() == Some("40P01"),
        _ => false,
    }
}

pub(super) fn parse_child_id(text: &str) -> Result<ChildId> {
    text.parse()
        .map_err(|_| RegistryError::Corrupt(format!("stored child ID '{text}' is malformed")))
}

/// A change-feed entry waiting for its sequence number at commit.
pub(super) struct PendingChange {
    pub(super) kind: &'static str,
    pub(super) child_id: ChildId,
    pub(super) payload: serde_json::Value,
}

struct ExistingRecord {
    record_key: i64,
    /// `new`, `identifier`, `automatic` or `manual`.
    link_method: &'static str,
    child_id: ChildId,
    version: i64,
    content_hash: String,
    match_outcome: MatchOutcome,
    match_probability: Option<f64>,
}

/// Where a record goes and why: the evidence stored with its link.
struct Placement {
    child_id: ChildId,
    outcome: MatchOutcome,
    method: &'static str,
    probability: Option<f64>,
    explanation: Option<serde_json::Value>,
    /// Children a steward should compare the record with.
    review: Vec<ChildScore>,
    candidates: Vec<ChildId>,
}

/// What the evidence says about a record, before any row is written.
enum Verdict {
    /// Exactly one child holds one of the record's identifiers.
    Identifier(ChildId),
    Scored(Plan),
}

/// Compares a record with the children it could be: those sharing an identifier, else those
/// sharing a blocking key. `own` is the record itself (on an update) and `excluded` the
/// children it must never be linked to automatically.
async fn judge(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    record: &ValidRecord,
    keys: &[String],
    own: Option<(i64, ChildId)>,
    excluded: &HashSet<ChildId>,
) -> Result<Verdict> {
    let (system, child) = (record.source_system.as_str(), &record.child);
    let own_child = own.map(|(_, child_id)| child_id);
    let sharing: Vec<ChildId> = children_sharing_identifiers(tx, child)
        .await?
        .into_iter()
        .filter(|id| Some(*id) != own_child && !excluded.contains(id))
        .collect();
    if let [only] = sharing.as_slice() {
        return Ok(Verdict::Identifier(*only));
    }
    if sharing.len() > 1 {
        // Several children claim the same identifier: only a person can sort that out.
        let records = linking::records_of_children(tx, &sharing).await?;
        let scores = linkage::score_children(matcher, system, child, &records)?;
        return Ok(Verdict::Scored(Plan::Review(scores)));
    }
    let candidates: Vec<_> = linking::candidate_records(tx, matcher, keys, own.map(|(key, _)| key))
        .await?
        .into_iter()
        .filter(|record| Some(record.child_id) != own_child && !excluded.contains(&record.child_id))
        .collect();
    let scores = linkage::score_children(matcher, system, child, &candidates)?;
    Ok(Verdict::Scored(linkage::plan(
        scores,
        matcher.link_threshold(),
        matcher.review_threshold(),
    )))
}

/// Places a record that is new to the registry.
async fn place_new(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    record: &ValidRecord,
    keys: &[String],
    mode: MatchMode,
    now: DateTime<Utc>,
    changes: &mut Vec<PendingChange>,
) -> Result<Placement> {
    let verdict = match mode {
        MatchMode::Match => judge(tx, matcher, record, keys, None, &HashSet::new()).await?,
        MatchMode::TrustedNew => Verdict::Scored(Plan::New),
    };
    let placement = match verdict {
        Verdict::Identifier(child_id) => Placement {
            child_id,
            outcome: MatchOutcome::Linked,
            method: "identifier",
            probability: None,
            explanation: None,
            review: Vec::new(),
            candidates: vec![child_id],
        },
        Verdict::Scored(Plan::Link(score)) => Placement {
            child_id: score.child_id,
            outcome: MatchOutcome::Linked,
            method: "automatic",
            probability: Some(score.probability),
            explanation: Some(serde_json::to_value(&score.explanation)?),
            review: Vec::new(),
            candidates: vec![score.child_id],
        },
        Verdict::Scored(Plan::Review(scores)) => {
            let (child_id, review) = (insert_child(tx, now).await?, scores);
            Placement {
                child_id,
                outcome: MatchOutcome::Review,
                method: "new",
                probability: review.first().map(|score| score.probability),
                explanation: None,
                candidates: review.iter().map(|score| score.child_id).collect(),
                review,
            }
        }
        Verdict::Scored(Plan::New) => {
            let child_id = insert_child(tx, now).await?;
            Placement {
                child_id,
                outcome: MatchOutcome::New,
                method: "new",
                probability: None,
                explanation: None,
                candidates: Vec::new(),
                review: Vec::new(),
            }
        }
    };
    if placement.method == "new" {
        changes.push(PendingChange {
            kind: "child.created",
            child_id: placement.child_id,
            payload: serde_json::json!({}),
        });
    } else {
        touch_child(tx, placement.child_id, now).await?;
    }
    Ok(placement)
}

/// Re-matches an updated record. A manual link never moves. An automatic link whose record no
/// longer looks like its child's other records moves to the one child it now matches, or to a
/// new child. A record that founded its child stays (moving it would merge two existing
/// children automatically); possible matches go to review instead.
async fn replace_updated(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    existing: &ExistingRecord,
    record: &ValidRecord,
    keys: &[String],
    now: DateTime<Utc>,
    changes: &mut Vec<PendingChange>,
) -> Result<Placement> {
    let (system, child) = (record.source_system.as_str(), &record.child);
    let stay = |outcome, review: Vec<ChildScore>| Placement {
        child_id: existing.child_id,
        outcome,
        method: existing.link_method,
        probability: existing.match_probability,
        explanation: None,
        candidates: review.iter().map(|score| score.child_id).collect(),
        review,
    };
    if existing.link_method == "manual" {
        return Ok(stay(existing.match_outcome, Vec::new()));
    }
    let excluded = linking::not_a_match_children(tx, existing.record_key).await?;
    let siblings: Vec<_> = linking::records_of_children(tx, &[existing.child_id])
        .await?
        .into_iter()
        .filter(|record| record.record_key != existing.record_key)
        .collect();
    let verdict = judge(
        tx,
        matcher,
        record,
        keys,
        Some((existing.record_key, existing.child_id)),
        &excluded,
    )
    .await?;
    let movable = existing.link_method != "new" && !siblings.is_empty();
    if movable {
        let own = linkage::score_children(matcher, system, child, &siblings)?;
        let still_belongs = existing.link_method == "identifier"
            && children_sharing_identifiers(tx, child)
                .await?
                .contains(&existing.child_id)
            || own.first().is_some_and(|score| {
                score.probability >= matcher.review_threshold() && !score.vetoed
            });
        if !still_belongs {
            let (target, placement) = match verdict {
                Verdict::Identifier(child_id) => (
                    child_id,
                    Placement {
                        child_id,
                        outcome: MatchOutcome::Linked,
                        method: "identifier",
                        probability: None,
                        explanation: None,
                        candidates: vec![child_id],
                        review: Vec::new(),
                    },
                ),
                Verdict::Scored(Plan::Link(score)) => (
                    score.child_id,
                    Placement {
                        child_id: score.child_id,
                        outcome: MatchOutcome::Linked,
                        method: "automatic",
                        probability: Some(score.probability),
                        explanation: Some(serde_json::to_value(&score.explanation)?),
                        candidates: vec![score.child_id],
                        review: Vec::new(),
                    },
                ),
                Verdict::Scored(plan) => {
                    let child_id = insert_child(tx, now).await?;
                    changes.push(PendingChange {
                        kind: "child.created",
                        child_id,
                        payload: serde_json::json!({}),
                    });
                    let review = match plan {
                        Plan::Review(scores) => scores,
                        _ => Vec::new(),
                    };
                    (
                        child_id,
                        Placement {
                            child_id,
                            outcome: if review.is_empty() {
                                MatchOutcome::New
                            } else {
                                MatchOutcome::Review
                            },
                            method: "new",
                            probability: review.first().map(|score| score.probability),
                            explanation: None,
                            candidates: review.iter().map(|score| score.child_id).collect(),
                            review,
                        },
                    )
                }
            };
            sqlx::query(
                "UPDATE source_records SET child_id = $1, origin_child_id = $1, updated_at = $2 WHERE record_key = $3",
            )
            .bind(target.to_string())
            .bind(now)
            .bind(existing.record_key)
            .execute(&mut **tx)
            .await?;
            touch_child(tx, existing.child_id, now).await?;
            touch_child(tx, target, now).await?;
            changes.push(PendingChange {
                kind: "record.unlinked",
                child_id: existing.child_id,
                payload: serde_json::json!({
                    "to": target.to_string(),
                    "automatic": true,
                }),
            });
            changes.push(PendingChange {
                kind: "record.linked",
                child_id: target,
                payload: serde_json::json!({
                    "from": existing.child_id.to_string(),
                    "automatic": true,
                }),
            });
            return Ok(placement);
        }
    }
    touch_child(tx, existing.child_id, now).await?;
    match verdict {
        Verdict::Scored(Plan::Review(scores)) => Ok(stay(MatchOutcome::Review, scores)),
        Verdict::Scored(Plan::Link(score)) => Ok(stay(MatchOutcome::Review, vec![score])),
        Verdict::Identifier(child_id) => {
            // Another child holds this record's identifier now: a steward decides.
            let records = linking::records_of_children(tx, &[child_id]).await?;
            let scores = linkage::score_children(matcher, system, child, &records)?;
            Ok(stay(MatchOutcome::Review, scores))
        }
        Verdict::Scored(Plan::New) => Ok(stay(existing.match_outcome, Vec::new())),
    }
}

/// Stores where the record went and why, its match fields and blocking keys, and any review
/// candidates. A `fresh` record was inserted in this transaction: it has no old keys to drop.
#[allow(clippy::too_many_arguments)]
async fn store_placement(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    record_key: i64,
    version: i64,
    record: &ValidRecord,
    keys: &[String],
    fresh: bool,
    placement: &Placement,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE source_records SET link_method = $1, link_model_version = $2, link_probability = $3, \
         link_explanation = $4, match_child = $5, blocking_model_version = $6 WHERE record_key = $7",
    )
    .bind(placement.method)
    .bind(placement.probability.map(|_| matcher.version()))
    .bind(placement.probability.filter(|_| placement.method == "automatic"))
    .bind(placement.explanation.as_ref().map(Json))
    .bind(Json(&record.child))
    .bind(matcher.version())
    .bind(record_key)
    .execute(&mut **tx)
    .await?;
    linking::replace_blocking_keys(tx, record_key, keys, fresh).await?;
    linking::insert_candidates(
        tx,
        record_key,
        version,
        record.child.district.as_deref(),
        &placement.review,
        matcher.version(),
        now,
    )
    .await
}

/// Whether a new record is matched against the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchMode {
    Match,
    /// A bulk load of an already deduplicated registry: every new record is its own child.
    TrustedNew,
}

/// Registers one record inside the batch transaction `tx`; returns the answer and the changes
/// to append to the outbox if the batch commits. `keys` are the record's blocking keys under
/// `matcher` (the caller computed them for its locks).
#[allow(clippy::too_many_arguments)]
pub(super) async fn register_in(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    mode: MatchMode,
    record: &ValidRecord,
    keys: &[String],
    received_from: &str,
    now: DateTime<Utc>,
) -> Result<(Registration, Vec<PendingChange>)> {
    let body = StoredBody {
        child: record.child.clone(),
        events: record.events.clone(),
    };
    let hash = content_hash(&body)?;
    let mut changes = Vec::new();

    let existing = lock_source_record(tx, &record.source_system, &record.source_record_id).await?;
    let (record_key, version, placement, created) = match existing {
        Some(existing) if existing.content_hash == hash => {
            // The same content again: acknowledge without writing anything.
            return Ok((
                Registration {
                    child_id: existing.child_id,
                    record_version: existing.version,
                    match_result: MatchResult {
                        outcome: existing.match_outcome,
                        probability: existing.match_probability,
                        candidates: Vec::new(),
                    },
                    created: false,
                },
                Vec::new(),
            ));
        }
        Some(existing) => {
            let version = existing.version + 1;
            let placement =
                replace_updated(tx, matcher, &existing, record, keys, now, &mut changes).await?;
            sqlx::query(
                "UPDATE source_records SET current_version = $1, updated_at = $2, district_key = LOWER($4) \
                 WHERE record_key = $3",
            )
            .bind(version)
            .bind(now)
            .bind(existing.record_key)
            .bind(record.child.district.as_deref())
            .execute(&mut **tx)
            .await?;
            changes.push(PendingChange {
                kind: "record.updated",
                child_id: placement.child_id,
                payload: record_payload(record, version),
            });
            (existing.record_key, version, placement, false)
        }
        None => {
            let placement = place_new(tx, matcher, record, keys, mode, now, &mut changes).await?;
            let record_key: i64 = sqlx::query_scalar(
                "INSERT INTO source_records (source_system, source_record_id, child_id, origin_child_id, \
                 current_version, created_at, updated_at, district_key) \
                 VALUES ($1, $2, $3, $3, $6, $4, $4, LOWER($5)) RETURNING record_key",
            )
            .bind(&record.source_system)
            .bind(&record.source_record_id)
            .bind(placement.child_id.to_string())
            .bind(now)
            .bind(record.child.district.as_deref())
            .bind(FIRST_VERSION)
            .fetch_one(&mut **tx)
            .await?;
            changes.push(PendingChange {
                kind: if placement.outcome == MatchOutcome::Linked {
                    "record.linked"
                } else {
                    "record.registered"
                },
                child_id: placement.child_id,
                payload: record_payload(record, FIRST_VERSION),
            });
            (record_key, FIRST_VERSION, placement, true)
        }
    };
    sqlx::query(
        "INSERT INTO record_versions (record_key, version, content_hash, body, match_outcome, \
         match_probability, received_at, received_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(record_key)
    .bind(version)
    .bind(&hash)
    .bind(Json(&body))
    .bind(placement.outcome.as_str())
    .bind(placement.probability)
    .bind(now)
    .bind(received_from)
    .execute(&mut **tx)
    .await?;
    replace_identifiers(tx, record_key, &record.child, created).await?;
    store_placement(
        tx, matcher, record_key, version, record, keys, created, &placement, now,
    )
    .await?;
    store_events(
        tx,
        record_key,
        version,
        &record.events,
        now,
        placement.child_id,
        record,
        &mut changes,
    )
    .await?;
    Ok((
        Registration {
            child_id: placement.child_id,
            record_version: version,
            match_result: MatchResult {
                outcome: placement.outcome,
                probability: placement.probability,
                candidates: placement.candidates,
            },
            created,
        },
        changes,
    ))
}

/// Columns of a current source record (`sr`) and its current version (`v`), as
/// [`record_view_from_row`] reads them.
const CURRENT_RECORD_COLUMNS: &str = "sr.child_id, sr.source_system, sr.source_record_id, \
     sr.current_version, sr.created_at, v.received_at, v.body FROM source_records sr \
     JOIN record_versions v ON v.record_key = sr.record_key AND v.version = sr.current_version";

fn record_view_from_row(row: &<Db as sqlx::Database>::Row) -> Result<SourceRecordView> {
    let body: Json<StoredBody> = row.try_get("body")?;
    Ok(SourceRecordView {
        source_system: row.try_get("source_system")?,
        source_record_id: row.try_get("source_record_id")?,
        version: row.try_get("current_version")?,
        first_received_at: row.try_get("created_at")?,
        received_at: row.try_get("received_at")?,
        child: body.0.child,
    })
}

/// The child's current source records, oldest first.
pub(super) async fn current_records_in(
    connection: &mut <Db as sqlx::Database>::Connection,
    child_id: ChildId,
) -> Result<Vec<SourceRecordView>> {
    let rows = sqlx::query(&format!(
        "SELECT {CURRENT_RECORD_COLUMNS} WHERE sr.child_id = $1 ORDER BY sr.created_at, sr.record_key"
    ))
    .bind(child_id.to_string())
    .fetch_all(&mut *connection)
    .await?;
    rows.iter().map(record_view_from_row).collect()
}

/// IDs per statement when children are read by a list of IDs (well under both databases'
/// parameter limits).
const IDS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, …` for `count` parameters.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Backend {
    /// Prepares the record for matching here, on the caller's task, and hands it to the group
    /// committer; answers once its batch has committed.
    #[tracing::instrument(skip_all, name = "store.register", fields(backend = super::BACKEND_NAME))]
    async fn queue_registration(
        &self,
        record: ValidRecord,
        received_from: &str,
        audit: Option<RegistrationAudit>,
    ) -> Result<Registration> {
        let matcher = linking::current_matcher(&self.matcher);
        let row = crate::imports::prepare_row(&matcher, 0, record)?;
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob {
                row,
                model_version: matcher.version(),
                received_from: received_from.to_owned(),
                audit,
                reply,
            })
            .await
            .map_err(|_| RegistryError::WriterStopped)?;
        answer.await.map_err(|_| RegistryError::WriterStopped)?
    }

    /// Active children's views from their `children` rows (child_id, created_at, updated_at)
    /// and current records. `records_where` selects at least every record of those children
    /// (records of other children are ignored), binding `binds` in order.
    async fn active_views(
        &self,
        child_rows: Vec<<Db as sqlx::Database>::Row>,
        records_where: &str,
        binds: &[String],
    ) -> Result<Vec<ChildView>> {
        if child_rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {CURRENT_RECORD_COLUMNS} WHERE {records_where} \
             ORDER BY sr.child_id, sr.created_at, sr.record_key"
        );
        let mut query = sqlx::query(&sql);
        for value in binds {
            query = query.bind(value);
        }
        let mut records: std::collections::HashMap<String, Vec<SourceRecordView>> =
            std::collections::HashMap::new();
        for row in query.fetch_all(&self.read).await? {
            let child_id: String = row.try_get("child_id")?;
            records
                .entry(child_id)
                .or_default()
                .push(record_view_from_row(&row)?);
        }
        child_rows
            .iter()
            .map(|row| {
                let id: String = row.try_get("child_id")?;
                let records = records.remove(&id).unwrap_or_default();
                Ok(golden::active_child(
                    parse_child_id(&id)?,
                    records,
                    row.try_get("created_at")?,
                    row.try_get("updated_at")?,
                ))
            })
            .collect()
    }
}

impl Backend {
    async fn current_records(&self, child_id: ChildId) -> Result<Vec<SourceRecordView>> {
        current_records_in(&mut *self.read.acquire().await?, child_id).await
    }

    /// The child's row if it exists and `scope` may see it.
    async fn child_row(
        &self,
        child_id: ChildId,
        scope: &ReadScope,
    ) -> Result<Option<<Db as sqlx::Database>::Row>> {
        Ok(sqlx::query(&format!(
            "SELECT c.status, c.merged_into, c.created_at, c.updated_at FROM children c \
             WHERE c.child_id = $1 AND {}",
            visible_child("c.child_id", 2)
        ))
        .bind(child_id.to_string())
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_optional(&self.read)
        .await?)
    }
}

/// The one "the caller may see this child" condition. `child_column` names the child ID column
/// of the outer query; parameter `$kind_param` is the scope's kind and the next one its value
/// (bind `ReadScope::kind` then `ReadScope::value`). A district is the one the child's current
/// version of a record gives, compared without regard to case.
pub(super) fn visible_child(child_column: &str, kind_param: usize) -> String {
    let kind = format!("CAST(${kind_param} AS TEXT)");
    let value = format!("CAST(${} AS TEXT)", kind_param + 1);
    format!(
        "({kind} = 'all' OR ({kind} = 'source_system' AND EXISTS (SELECT 1 FROM source_records vs \
         WHERE vs.child_id = {child_column} AND vs.source_system = {value})) \
         OR ({kind} = 'district' AND EXISTS (SELECT 1 FROM source_records vs \
         WHERE vs.child_id = {child_column} AND vs.district_key = LOWER({value}))))"
    )
}

/// A registration waiting for the group committer.
pub(super) struct WriteJob {
    /// The record prepared for matching by its caller (so callers prepare side by side while
    /// the committer writes), with the model `model_version`.
    row: PreparedRow,
    model_version: i64,
    received_from: String,
    /// The registration's audit entry, appended in the same transaction.
    audit: Option<RegistrationAudit>,
    reply: oneshot::Sender<Result<Registration>>,
}

/// Records per transaction in a bulk load.
const BULK_CHUNK: usize = 1000;

/// Registrations arriving together share one transaction, so one durable commit (`fsync`)
/// serves them all; each caller is answered only after that commit.
const MAX_BATCH: usize = 64;

/// Starts the tasks that commit registrations in groups, and returns their queue. Each of the
/// `committers` takes the registrations waiting when it is free as its batch: one is all an
/// SQLite file can use (one writer); PostgreSQL commits several batches at once, and the
/// matching locks keep batches that could match each other apart.
pub(super) fn spawn_group_committer(
    pool: sqlx::Pool<Db>,
    matcher: MatcherCell,
    cache: Arc<PreparedCache>,
    committers: usize,
) -> mpsc::Sender<WriteJob> {
    let (sender, queue) = mpsc::channel::<WriteJob>(4 * MAX_BATCH);
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    for _ in 0..committers.max(1) {
        let (pool, matcher, cache, queue) = (
            pool.clone(),
            matcher.clone(),
            Arc::clone(&cache),
            Arc::clone(&queue),
        );
        tokio::spawn(async move {
            loop {
                let Some(batch) = next_batch(&mut *queue.lock().await, MAX_BATCH).await else {
                    return;
                };
                commit_batch(&pool, &linking::current_matcher(&matcher), &cache, batch).await;
            }
        });
    }
    sender
}

/// Waits for the next job, then takes every job already waiting behind it, up to `max`: the
/// group a committer writes in one transaction. `None` once every sender is gone.
pub(super) async fn next_batch<T>(queue: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![queue.recv().await?];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// One group commit: its span shows how many registrations shared the durable commit.
#[tracing::instrument(skip_all, name = "store.commit_batch", fields(backend = super::BACKEND_NAME, registrations = batch.len()))]
async fn commit_batch(
    pool: &sqlx::Pool<Db>,
    matcher: &Arc<Matcher>,
    cache: &PreparedCache,
    batch: Vec<WriteJob>,
) {
    let now = Utc::now();
    // Rows prepared with another model than the one now active key and compare differently.
    let mut jobs = Vec::with_capacity(batch.len());
    for mut job in batch {
        if job.model_version != matcher.version() {
            match crate::imports::prepare_row(matcher, 0, job.row.record.clone()) {
                Ok(row) => job.row = row,
                Err(error) => {
                    let _ = job.reply.send(Err(error));
                    continue;
                }
            }
        }
        job.row.index = jobs.len();
        jobs.push(job);
    }
    if jobs.is_empty() {
        return;
    }
    let mut steps = imports::ChunkSteps::start();
    let mut tx = match super::begin_write(pool).await {
        Ok(tx) => tx,
        Err(error) => {
            tracing::warn!(%error, "cannot start a write transaction");
            refuse_batch(jobs, &error);
            return;
        }
    };
    // Registrations that could match each other (sharing a blocking key or an identifier)
    // must not both miss each other in two concurrent transactions (two gateways on one
    // PostgreSQL): the batch takes every key's lock first, in one global order.
    let mut keys: Vec<i64> = jobs
        .iter()
        .flat_map(|job| {
            linking::lock_keys_of(
                &job.row.key_hashes,
                job.row
                    .identifiers
                    .iter()
                    .map(|(kind, value)| (kind.as_str(), value.as_str())),
            )
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    steps.lap("begin");
    if let Err(error) = super::lock_match_keys(&mut tx, &keys).await {
        tracing::warn!(%error, "cannot take the matching locks");
        refuse_batch(jobs, &error);
        return;
    }
    let mut rows = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    let mut senders = Vec::with_capacity(jobs.len());
    let mut audits = Vec::with_capacity(jobs.len());
    for job in jobs {
        rows.push(job.row);
        senders.push(job.received_from);
        audits.push(job.audit);
        replies.push(job.reply);
    }
    let senders: Vec<&str> = senders.iter().map(String::as_str).collect();
    steps.lap("locks");
    let count = rows.len();
    let (mut answers, changes, written) =
        register_batch_or_each(&mut tx, matcher, cache, rows, &senders, now, &mut steps).await;
    // The entries of the registrations that succeeded; a failed one is answered with its error
    // and, as before, not audited. Appended last: on PostgreSQL the chain's head stays locked
    // from here to the commit.
    let drafts: Vec<_> = audits
        .into_iter()
        .zip(&answers)
        .filter_map(|(audit, answer)| Some(audit?.completed(answer.as_ref().ok()?)))
        .collect();
    let committed = async {
        append_changes(&mut tx, changes, now).await?;
        steps.lap("changes");
        if !drafts.is_empty() {
            super::access::append_audit_in(&mut tx, drafts).await?;
        }
        steps.lap("audit");
        tx.commit().await?;
        steps.lap("commit");
        Ok::<_, RegistryError>(())
    }
    .await;
    steps.log("registrations", count);
    match committed {
        Ok(()) => cache.put_many(matcher.version(), written),
        Err(error) => {
            tracing::warn!(%error, "a registration batch failed to commit");
            let reason = error.to_string();
            for answer in &mut answers {
                if answer.is_ok() {
                    *answer = Err(RegistryError::BatchFailed(reason.clone()));
                }
            }
        }
    }
    for (reply, answer) in replies.into_iter().zip(answers) {
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = reply.send(answer);
    }
}

/// Answers every job of a batch that could not start: nothing of it was written.
fn refuse_batch(jobs: Vec<WriteJob>, error: &RegistryError) {
    for job in jobs {
        let _ = job
            .reply
            .send(Err(RegistryError::BatchFailed(error.to_string())));
    }
}

/// The batch's registrations: together ([`imports::register_batch`], few statements for the
/// whole batch) in a savepoint; when that fails (another gateway registering the same new
/// source record at the same moment, a child ID already issued), one at a time as before, each
/// in its own savepoint so one failing record leaves the others intact.
async fn register_batch_or_each(
    tx: &mut Transaction<'_>,
    matcher: &Arc<Matcher>,
    cache: &PreparedCache,
    rows: Vec<PreparedRow>,
    received_from: &[&str],
    now: DateTime<Utc>,
    steps: &mut imports::ChunkSteps,
) -> (
    Vec<Result<Registration>>,
    Vec<PendingChange>,
    Vec<(RecordVersion, Arc<PreparedStored>)>,
) {
    let records: Vec<ValidRecord> = rows.iter().map(|row| row.record.clone()).collect();
    let together = match sqlx::Connection::begin(&mut **tx).await {
        Ok(mut savepoint) => {
            let registered = imports::register_batch(
                &mut savepoint,
                matcher,
                cache,
                rows,
                received_from,
                now,
                steps,
            )
            .await;
            #[cfg(test)]
            let registered = tests::fail_if_asked(registered, &records);
            match registered {
                Ok(done) => savepoint.commit().await.map(|()| done).map_err(Into::into),
                Err(error) => match savepoint.rollback().await {
                    Ok(()) => Err(error),
                    Err(rollback) => Err(rollback.into()),
                },
            }
        }
        Err(error) => Err(error.into()),
    };
    match together {
        Ok(done) => (done.answers, done.changes, done.written),
        Err(error) => {
            tracing::info!(%error, "a registration batch is registered one record at a time");
            let mut changes = Vec::new();
            let mut answers = Vec::with_capacity(records.len());
            for (record, received_from) in records.iter().zip(received_from) {
                let keys = matcher.blocking_keys(&record.child);
                answers.push(
                    register_with_savepoint(
                        tx,
                        matcher,
                        record,
                        &keys,
                        received_from,
                        now,
                        &mut changes,
                    )
                    .await,
                );
            }
            (answers, changes, Vec::new())
        }
    }
}

/// One registration in its own savepoint, so a failing record leaves its batch mates intact.
/// A first registration racing another process for the same source record hits the unique
/// key; the retry finds the winner's row and updates it.
pub(super) async fn register_with_savepoint(
    tx: &mut Transaction<'_>,
    matcher: &Matcher,
    record: &ValidRecord,
    keys: &[String],
    received_from: &str,
    now: DateTime<Utc>,
    changes: &mut Vec<PendingChange>,
) -> Result<Registration> {
    let mut attempt = 0;
    loop {
        let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
        match register_in(
            &mut savepoint,
            matcher,
            MatchMode::Match,
            record,
            keys,
            received_from,
            now,
        )
        .await
        {
            Ok((registration, mut own_changes)) => {
                savepoint.commit().await?;
                changes.append(&mut own_changes);
                return Ok(registration);
            }
            Err(error) => {
                savepoint.rollback().await?;
                // A deadlock between two batches (PostgreSQL aborts one statement) rolls back
                // only this registration's savepoint, and with it the locks it took; the retry
                // finds the other batch committed.
                let retryable =
                    is_unique_violation(&error, "source_records_source_key") || is_deadlock(&error);
                if attempt < 3 && retryable {
                    attempt += 1;
                    continue;
                }
                return Err(error);
            }
        }
    }
}

pub(super) fn record_payload(record: &ValidRecord, version: i64) -> serde_json::Value {
    serde_json::json!({
        "source_system": record.source_system,
        "source_record_id": record.source_record_id,
        "version": version,
    })
}

async fn lock_source_record(
    tx: &mut Transaction<'_>,
    source_system: &str,
    source_record_id: &str,
) -> Result<Option<ExistingRecord>> {
    let sql = format!(
        "SELECT sr.record_key, sr.child_id, sr.current_version, sr.link_method, v.content_hash, \
         v.match_outcome, v.match_probability FROM source_records sr \
         JOIN record_versions v ON v.record_key = sr.record_key AND v.version = sr.current_version \
         WHERE sr.source_system = $1 AND sr.source_record_id = $2{}",
        super::LOCK_RECORD_ROW
    );
    let row = sqlx::query(&sql)
        .bind(source_system)
        .bind(source_record_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let outcome: String = row.try_get("match_outcome")?;
    let link_method: String = row.try_get("link_method")?;
    Ok(Some(ExistingRecord {
        record_key: row.try_get("record_key")?,
        link_method: match link_method.as_str() {
            "new" => "new",
            "identifier" => "identifier",
            "automatic" => "automatic",
            "manual" => "manual",
            other => {
                return Err(RegistryError::Corrupt(format!(
                    "unknown link method '{other}'"
                )))
            }
        },
        child_id: parse_child_id(&row.try_get::<String, _>("child_id")?)?,
        version: row.try_get("current_version")?,
        content_hash: row.try_get("content_hash")?,
        match_outcome: MatchOutcome::parse(&outcome)
            .ok_or_else(|| RegistryError::Corrupt(format!("unknown match outcome '{outcome}'")))?,
        match_probability: row.try_get("match_probability")?,
    }))
}

async fn insert_child(tx: &mut Transaction<'_>, now: DateTime<Utc>) -> Result<ChildId> {
    // 60 random bits: a collision is astronomically rare, but an ID must never be reused, so
    // the primary key decides and a clash draws again.
    loop {
        let child_id = ChildId::random();
        let inserted = sqlx::query(
            "INSERT INTO children (child_id, status, merged_into, created_at, updated_at) \
             VALUES ($1, 'active', NULL, $2, $2) ON CONFLICT (child_id) DO NOTHING",
        )
        .bind(child_id.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(child_id);
        }
    }
}

async fn touch_child(
    tx: &mut Transaction<'_>,
    child_id: ChildId,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE children SET updated_at = $1, revision = revision + 1 WHERE child_id = $2")
        .bind(now)
        .bind(child_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn replace_identifiers(
    tx: &mut Transaction<'_>,
    record_key: i64,
    child: &ChildData,
    fresh: bool,
) -> Result<()> {
    if !fresh {
        sqlx::query("DELETE FROM record_identifiers WHERE record_key = $1")
            .bind(record_key)
            .execute(&mut **tx)
            .await?;
    }
    let keys: BTreeSet<(String, String)> = child
        .identifiers
        .iter()
        .map(|identifier| (identifier.kind.clone(), identifier_key(&identifier.value)))
        .filter(|(_, key)| !key.is_empty())
        .collect();
    if !keys.is_empty() {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO record_identifiers (record_key, kind, value_key) ",
        );
        insert.push_values(keys, |mut row, (kind, key)| {
            row.push_bind(record_key).push_bind(kind).push_bind(key);
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Children holding a record with one of these identifiers (same type and value).
pub(super) async fn children_sharing_identifiers(
    tx: &mut Transaction<'_>,
    child: &ChildData,
) -> Result<Vec<ChildId>> {
    let mut found = BTreeSet::new();
    for identifier in &child.identifiers {
        let key = identifier_key(&identifier.value);
        if key.is_empty() {
            continue;
        }
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT sr.child_id FROM record_identifiers ri \
             JOIN source_records sr ON sr.record_key = ri.record_key \
             WHERE ri.kind = $1 AND ri.value_key = $2",
        )
        .bind(&identifier.kind)
        .bind(key)
        .fetch_all(&mut **tx)
        .await?;
        for id in ids {
            found.insert(parse_child_id(&id)?);
        }
    }
    Ok(found.into_iter().collect())
}

/// Adds the events this version reports that the record did not have, retracts the ones it no
/// longer reports (kept, never deleted) and reinstates any it reports again.
#[allow(clippy::too_many_arguments)]
async fn store_events(
    tx: &mut Transaction<'_>,
    record_key: i64,
    version: i64,
    events: &[EventData],
    now: DateTime<Utc>,
    child_id: ChildId,
    record: &ValidRecord,
    changes: &mut Vec<PendingChange>,
) -> Result<()> {
    let mut reported: HashMap<String, &EventData> = HashMap::new();
    let mut order = Vec::new();
    for event in events {
        let hash = content_hash(event)?;
        if let std::collections::hash_map::Entry::Vacant(slot) = reported.entry(hash.clone()) {
            slot.insert(event);
            order.push(hash);
        }
    }
    if version == 1 {
        return store_first_events(
            tx, record_key, &order, &reported, now, child_id, record, changes,
        )
        .await;
    }
    for hash in &order {
        let event = reported[hash];
        sqlx::query(
            "INSERT INTO events (record_key, version, retracted_in_version, content_hash, event_type, \
             event_date, sensitivity, details, received_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (record_key, content_hash) DO UPDATE SET retracted_in_version = NULL",
        )
        .bind(record_key)
        .bind(version)
        .bind(hash)
        .bind(&event.event_type)
        .bind(event.date)
        .bind(event.sensitivity.as_str())
        .bind(Json(&event.details))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let known: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT event_key, content_hash, version, retracted_in_version FROM events WHERE record_key = $1",
    )
    .bind(record_key)
    .fetch_all(&mut **tx)
    .await?;
    for (event_key, hash, first_version, retracted) in known {
        match reported.get(&hash) {
            None if retracted.is_none() => {
                sqlx::query("UPDATE events SET retracted_in_version = $1 WHERE event_key = $2")
                    .bind(version)
                    .bind(event_key)
                    .execute(&mut **tx)
                    .await?;
            }
            Some(event) if first_version == version => {
                let stored = StoredEvent {
                    event_key,
                    event,
                    child_id,
                    record,
                    version,
                };
                event_first_stored(tx, &stored, now, changes).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The events of a record's first version: all new, stored in one statement.
#[allow(clippy::too_many_arguments)]
async fn store_first_events(
    tx: &mut Transaction<'_>,
    record_key: i64,
    order: &[String],
    reported: &HashMap<String, &EventData>,
    now: DateTime<Utc>,
    child_id: ChildId,
    record: &ValidRecord,
    changes: &mut Vec<PendingChange>,
) -> Result<()> {
    if order.is_empty() {
        return Ok(());
    }
    let mut insert = sqlx::QueryBuilder::<Db>::new(
        "INSERT INTO events (record_key, version, retracted_in_version, content_hash, event_type, \
         event_date, sensitivity, details, received_at) ",
    );
    insert.push_values(order, |mut row, hash| {
        let event = reported[hash];
        row.push_bind(record_key)
            .push_bind(1i64)
            .push_bind(None::<i64>)
            .push_bind(hash.as_str())
            .push_bind(event.event_type.as_str())
            .push_bind(event.date)
            .push_bind(event.sensitivity.as_str())
            .push_bind(Json(&event.details))
            .push_bind(now);
    });
    insert.push(" RETURNING event_key, content_hash");
    let mut stored: Vec<(i64, String)> = insert.build_query_as().fetch_all(&mut **tx).await?;
    // The change feed hears of events in the order the record lists them.
    stored.sort_unstable_by_key(|(event_key, _)| *event_key);
    for (event_key, hash) in stored {
        let Some(event) = reported.get(&hash) else {
            continue;
        };
        let stored = StoredEvent {
            event_key,
            event,
            child_id,
            record,
            version: FIRST_VERSION,
        };
        event_first_stored(tx, &stored, now, changes).await?;
    }
    Ok(())
}

/// An event just stored for the first time, whichever path stored it.
pub(super) struct StoredEvent<'a> {
    pub event_key: i64,
    pub event: &'a EventData,
    pub child_id: ChildId,
    pub record: &'a ValidRecord,
    pub version: i64,
}

/// What follows an event's first storing, online or by import: the change feed hears of it,
/// and a `referral` event opens its referral, in the same transaction.
pub(super) async fn event_first_stored(
    tx: &mut Transaction<'_>,
    stored: &StoredEvent<'_>,
    now: DateTime<Utc>,
    changes: &mut Vec<PendingChange>,
) -> Result<()> {
    changes.push(PendingChange {
        kind: "event.added",
        child_id: stored.child_id,
        payload: record_payload(stored.record, stored.version),
    });
    if stored.event.event_type == crate::referrals::REFERRAL_EVENT {
        super::referrals_sql::open_from_event(
            tx,
            stored.event_key,
            stored.child_id,
            &stored.record.source_system,
            stored.event,
            now,
            changes,
        )
        .await?;
    }
    Ok(())
}

/// Outbox rows per insert statement (5 parameters each: well under both databases' limits).
const CHANGES_PER_STATEMENT: usize = 1000;

/// Gives the pending changes their sequence numbers. The `outbox_head` row stays locked until
/// commit, so concurrent writers commit their changes in sequence order, without gaps.
pub(super) async fn append_changes(
    tx: &mut Transaction<'_>,
    changes: Vec<PendingChange>,
    now: DateTime<Utc>,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let count = changes.len() as i64;
    let last: i64 = sqlx::query_scalar(
        "UPDATE outbox_head SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq",
    )
    .bind(count)
    .fetch_one(&mut **tx)
    .await?;
    // Multi-row statements: a bulk import appends tens of thousands of changes per chunk.
    let first = last - count + 1;
    let numbered: Vec<(i64, PendingChange)> = changes
        .into_iter()
        .enumerate()
        .map(|(offset, change)| (first + offset as i64, change))
        .collect();
    for rows in numbered.chunks(CHANGES_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO outbox (seq, kind, child_id, payload, created_at) ",
        );
        insert.push_values(rows, |mut row, (seq, change)| {
            row.push_bind(*seq)
                .push_bind(change.kind)
                .push_bind(change.child_id.to_string())
                .push_bind(Json(&change.payload))
                .push_bind(now);
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

fn client_from_row(row: &<Db as sqlx::Database>::Row) -> Result<ApiClient> {
    let role: String = row.try_get("role")?;
    Ok(ApiClient {
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        agency: row.try_get("agency")?,
        role: Role::parse(&role)
            .ok_or_else(|| RegistryError::Corrupt(format!("unknown role '{role}'")))?,
        key_prefix: row.try_get("key_prefix")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const CLIENT_COLUMNS: &str =
    "client_id, name, agency, role, key_prefix, created_at, expires_at, revoked_at";

#[async_trait]
impl Store for Backend {
    fn backend(&self) -> &'static str {
        super::BACKEND_NAME
    }

    async fn migrate(&self) -> Result<()> {
        super::MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn register(&self, record: ValidRecord, received_from: &str) -> Result<Registration> {
        self.queue_registration(record, received_from, None).await
    }

    async fn register_audited(
        &self,
        record: ValidRecord,
        received_from: &str,
        audit: RegistrationAudit,
    ) -> Result<Registration> {
        self.queue_registration(record, received_from, Some(audit))
            .await
    }

    #[tracing::instrument(skip_all, name = "store.child", fields(backend = super::BACKEND_NAME))]
    async fn child(&self, child_id: ChildId, scope: &ReadScope) -> Result<Option<ChildView>> {
        // A merged ID never dies: it answers with the surviving child's data.
        let Some(survivor) = resolve_survivor(&mut *self.read.acquire().await?, child_id).await?
        else {
            return Ok(None);
        };
        let Some(row) = self.child_row(survivor, scope).await? else {
            return Ok(None);
        };
        let records = self.current_records(survivor).await?;
        Ok(Some(ChildView {
            child_id,
            status: if survivor == child_id {
                ChildStatus::Active
            } else {
                ChildStatus::Merged
            },
            merged_into: (survivor != child_id).then_some(survivor),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            summary: golden::summarise(&records),
            records,
        }))
    }

    #[tracing::instrument(skip_all, name = "store.timeline", fields(backend = super::BACKEND_NAME))]
    async fn timeline(&self, child_id: ChildId, scope: &ReadScope) -> Result<Option<Timeline>> {
        let Some(survivor) = resolve_survivor(&mut *self.read.acquire().await?, child_id).await?
        else {
            return Ok(None);
        };
        if self.child_row(survivor, scope).await?.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT e.event_type, e.event_date, e.sensitivity, e.details, e.version, e.received_at, \
             sr.source_system, sr.source_record_id, rf.referral_id, rf.status AS referral_status \
             FROM events e JOIN source_records sr ON sr.record_key = e.record_key \
             LEFT JOIN referrals rf ON rf.event_key = e.event_key \
             WHERE sr.child_id = $1 AND e.retracted_in_version IS NULL \
             ORDER BY e.event_date, e.received_at, e.event_key",
        )
        .bind(survivor.to_string())
        .fetch_all(&self.read)
        .await?;
        let events = rows
            .into_iter()
            .map(|row| {
                let sensitivity: String = row.try_get("sensitivity")?;
                let details: Json<serde_json::Value> = row.try_get("details")?;
                let date: NaiveDate = row.try_get("event_date")?;
                let referral_id: Option<i64> = row.try_get("referral_id")?;
                let referral_status: Option<String> = row.try_get("referral_status")?;
                let referral = match (referral_id, referral_status.as_deref()) {
                    (Some(referral_id), Some(status)) => Some(crate::referrals::ReferralMark {
                        referral_id,
                        status: crate::referrals::ReferralStatus::parse(status).ok_or_else(
                            || {
                                RegistryError::Corrupt(format!(
                                    "unknown referral status '{status}'"
                                ))
                            },
                        )?,
                    }),
                    _ => None,
                };
                Ok(TimelineEntry {
                    event_type: row.try_get("event_type")?,
                    date,
                    sensitivity: Sensitivity::parse(&sensitivity).ok_or_else(|| {
                        RegistryError::Corrupt(format!("unknown sensitivity '{sensitivity}'"))
                    })?,
                    details: details.0,
                    provenance: Provenance {
                        source_system: row.try_get("source_system")?,
                        source_record_id: row.try_get("source_record_id")?,
                        record_version: row.try_get("version")?,
                        received_at: row.try_get("received_at")?,
                    },
                    referral,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Timeline {
            child_id: survivor,
            events,
        }))
    }

    #[tracing::instrument(skip_all, name = "store.record_history", fields(backend = super::BACKEND_NAME))]
    async fn record_history(
        &self,
        source_system: &str,
        source_record_id: &str,
        scope: &ReadScope,
    ) -> Result<Option<RecordHistory>> {
        let record = sqlx::query(&format!(
            "SELECT sr.record_key, sr.child_id, sr.current_version FROM source_records sr \
             WHERE sr.source_system = $1 AND sr.source_record_id = $2 AND {}",
            visible_child("sr.child_id", 3)
        ))
        .bind(source_system)
        .bind(source_record_id)
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_optional(&self.read)
        .await?;
        let Some(record) = record else {
            return Ok(None);
        };
        let record_key: i64 = record.try_get("record_key")?;
        let rows = sqlx::query(
            "SELECT version, received_at, received_from, match_outcome, body FROM record_versions \
             WHERE record_key = $1 ORDER BY version DESC",
        )
        .bind(record_key)
        .fetch_all(&self.read)
        .await?;
        let versions = rows
            .into_iter()
            .map(|row| {
                let body: Json<StoredBody> = row.try_get("body")?;
                let outcome: String = row.try_get("match_outcome")?;
                Ok(RecordVersionView {
                    version: row.try_get("version")?,
                    received_at: row.try_get("received_at")?,
                    received_from: row.try_get("received_from")?,
                    match_outcome: MatchOutcome::parse(&outcome).ok_or_else(|| {
                        RegistryError::Corrupt(format!("unknown match outcome '{outcome}'"))
                    })?,
                    child: body.0.child,
                    events: body.0.events,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(RecordHistory {
            source_system: source_system.to_owned(),
            source_record_id: source_record_id.to_owned(),
            child_id: parse_child_id(&record.try_get::<String, _>("child_id")?)?,
            current_version: record.try_get("current_version")?,
            versions,
        }))
    }

    #[tracing::instrument(skip_all, name = "store.merge_children", fields(backend = super::BACKEND_NAME))]
    async fn merge_children(
        &self,
        from: ChildId,
        into: ChildId,
        decision: &Decision,
    ) -> Result<MergeResult> {
        self.merge_in_transaction(from, into, decision, None).await
    }

    #[tracing::instrument(skip_all, name = "store.merge_children_at_revision", fields(backend = super::BACKEND_NAME))]
    async fn merge_children_at_revision(
        &self,
        from: ChildId,
        into: ChildId,
        decision: &Decision,
        expected_revision: i64,
    ) -> Result<MergeResult> {
        self.merge_in_transaction(from, into, decision, Some(expected_revision))
            .await
    }

    async fn child_revision(&self, child_id: ChildId) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT revision FROM children WHERE child_id = $1")
                .bind(child_id.to_string())
                .fetch_optional(&self.read)
                .await?,
        )
    }

    fn pool_use(&self) -> Vec<PoolUse> {
        self.pools()
            .into_iter()
            .map(|(name, pool)| PoolUse {
                pool: name,
                open: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            })
            .collect()
    }

    #[tracing::instrument(skip_all, name = "store.unlink_record", fields(backend = super::BACKEND_NAME))]
    async fn unlink_record(
        &self,
        source_system: &str,
        source_record_id: &str,
        decision: &Decision,
    ) -> Result<UnlinkResult> {
        self.unlink_in_transaction(source_system, source_record_id, decision)
            .await
    }

    async fn invariant_violations(&self) -> Result<Vec<String>> {
        self.check_invariants().await
    }

    async fn source_systems(&self) -> Result<Vec<String>> {
        // A loose index scan: one seek per source system on the unique key's leading column,
        // instead of reading every record (a handful of agencies among millions of records).
        Ok(sqlx::query_scalar(
            "WITH RECURSIVE systems(name) AS ( \
                 SELECT MIN(source_system) FROM source_records \
                 UNION ALL \
                 SELECT (SELECT MIN(source_system) FROM source_records WHERE source_system > systems.name) \
                 FROM systems WHERE systems.name IS NOT NULL) \
             SELECT name FROM systems WHERE name IS NOT NULL ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?)
    }

    async fn registration_counts(
        &self,
        scope: &ReadScope,
        largest: usize,
    ) -> Result<RegistrationCounts> {
        self.totals_of(scope, largest).await
    }

    async fn fold_registration_totals(&self, max_entries: i64) -> Result<u64> {
        self.fold_totals(max_entries).await
    }

    async fn registration_counts_from_records(
        &self,
        scope: &ReadScope,
        largest: usize,
    ) -> Result<RegistrationCounts> {
        let counts = |rows: Vec<(Option<String>, i64)>| {
            rows.into_iter()
                .map(|(key, children)| Count {
                    key: key.unwrap_or_default(),
                    children,
                })
                .collect::<Vec<_>>()
        };
        let children: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM children c WHERE c.status = 'active' AND {}",
            visible_child("c.child_id", 1)
        ))
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_one(&self.read)
        .await?;
        let by_district = sqlx::query_as(&format!(
            "SELECT sr.district_key, COUNT(DISTINCT sr.child_id) \
             FROM source_records sr JOIN children c ON c.child_id = sr.child_id AND c.status = 'active' \
             WHERE {} GROUP BY sr.district_key ORDER BY 2 DESC, 1",
            visible_child("c.child_id", 1)
        ))
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_all(&self.read)
        .await?;
        let by_agency = sqlx::query_as(&format!(
            "SELECT sr.source_system, COUNT(DISTINCT sr.child_id) FROM source_records sr \
             JOIN children c ON c.child_id = sr.child_id AND c.status = 'active' \
             WHERE {} GROUP BY sr.source_system ORDER BY 2 DESC, 1",
            visible_child("c.child_id", 1)
        ))
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_all(&self.read)
        .await?;
        let by_month = sqlx::query_as(&format!(
            "SELECT {}, COUNT(*) FROM children c WHERE c.status = 'active' AND {} \
             GROUP BY 1 ORDER BY 1",
            super::MONTH_CREATED,
            visible_child("c.child_id", 1)
        ))
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_all(&self.read)
        .await?;
        let mut counted = RegistrationCounts {
            children,
            by_district: counts(by_district),
            by_agency: counts(by_agency),
            by_month: counts(by_month),
            counted_at: Some(Utc::now()),
            ..RegistrationCounts::default()
        };
        crate::counts::sort_for_listing(&mut counted);
        Ok(crate::counts::keep_largest(counted, largest))
    }

    async fn active_children(&self, range: ChildIdRange, limit: i64) -> Result<Vec<ChildView>> {
        // Child IDs are stored in their fixed-width written form, whose text order is their
        // value order: a page resumes from its last ID and a range is two comparisons. The
        // largest ID closes an open range.
        let through = range.through.unwrap_or(ChildId::MAX).to_string();
        let rows = sqlx::query(
            "SELECT child_id, created_at, updated_at FROM children \
             WHERE status = 'active' AND child_id > $1 AND child_id <= $2 \
             ORDER BY child_id LIMIT $3",
        )
        .bind(range.after.map(|id| id.to_string()).unwrap_or_default())
        .bind(through)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(Vec::new());
        };
        // One range read of the page's records (the source_records_child index), not one
        // query per child.
        let range = [first.try_get("child_id")?, last.try_get("child_id")?];
        self.active_views(rows, "sr.child_id BETWEEN $1 AND $2", &range)
            .await
    }

    async fn active_children_among(&self, ids: &[ChildId]) -> Result<Vec<ChildView>> {
        let mut views = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let binds: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let list = placeholders(1, binds.len());
            let sql = format!(
                "SELECT child_id, created_at, updated_at FROM children \
                 WHERE status = 'active' AND child_id IN ({list})"
            );
            let mut rows_query = sqlx::query(&sql);
            for value in &binds {
                rows_query = rows_query.bind(value);
            }
            let rows = rows_query.fetch_all(&self.read).await?;
            views.extend(
                self.active_views(rows, &format!("sr.child_id IN ({list})"), &binds)
                    .await?,
            );
        }
        Ok(views)
    }

    async fn outbox_after(&self, after: i64, limit: i64) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT seq, kind, child_id, payload, created_at FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|row| {
                let payload: Json<serde_json::Value> = row.try_get("payload")?;
                Ok(OutboxEntry {
                    seq: row.try_get("seq")?,
                    kind: row.try_get("kind")?,
                    child_id: parse_child_id(&row.try_get::<String, _>("child_id")?)?,
                    payload: payload.0,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn outbox_head(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT last_seq FROM outbox_head WHERE id = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn create_client(&self, client: NewClient) -> Result<(ApiClient, String)> {
        let key = clients::mint_key();
        let client_id = clients::new_client_id();
        let row = sqlx::query(&format!(
            "INSERT INTO api_clients (client_id, name, agency, role, key_hash, key_prefix, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CLIENT_COLUMNS}"
        ))
        .bind(&client_id)
        .bind(&client.name)
        .bind(&client.agency)
        .bind(client.role.as_str())
        .bind(&key.digest)
        .bind(&key.prefix)
        .bind(Utc::now())
        .bind(client.expires_at)
        .fetch_one(&self.write)
        .await?;
        Ok((client_from_row(&row)?, key.secret))
    }

    async fn revoke_client(&self, client_id: &str) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE api_clients SET revoked_at = COALESCE(revoked_at, $1) WHERE client_id = $2",
        )
        .bind(Utc::now())
        .bind(client_id)
        .execute(&self.write)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn list_clients(&self) -> Result<Vec<ApiClient>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM api_clients ORDER BY created_at, client_id"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(client_from_row).collect()
    }

    async fn client_by_key(&self, secret: &str) -> Result<Option<ApiClient>> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM api_clients WHERE key_hash = $1"
        ))
        .bind(clients::key_digest(secret))
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    #[tracing::instrument(skip_all, name = "store.match_candidates", fields(backend = super::BACKEND_NAME))]
    async fn match_candidates(&self, query: &CandidateQuery) -> Result<CandidatePage> {
        self.list_candidates(query).await
    }

    async fn match_candidate(&self, id: i64) -> Result<Option<MatchCandidate>> {
        self.candidate(id).await
    }

    #[tracing::instrument(skip_all, name = "store.decide_match_candidate", fields(backend = super::BACKEND_NAME))]
    async fn decide_match_candidate(
        &self,
        id: i64,
        choice: CandidateDecision,
        decision: &Decision,
    ) -> Result<DecisionOutcome> {
        self.decide_candidate(id, choice, decision).await
    }

    async fn match_candidate_stats(&self) -> Result<CandidateStats> {
        self.candidate_stats().await
    }

    #[tracing::instrument(skip_all, name = "store.claim_match_candidate", fields(backend = super::BACKEND_NAME))]
    async fn claim_match_candidate(
        &self,
        id: i64,
        steward: &str,
        until: DateTime<Utc>,
    ) -> Result<CandidateClaim> {
        self.claim_candidate(id, steward, until).await
    }

    async fn release_match_candidate(&self, id: i64, steward: &str) -> Result<bool> {
        self.release_candidate(id, steward).await
    }

    async fn model_versions(&self) -> Result<Vec<ModelVersion>> {
        self.list_model_versions().await
    }

    async fn source_record_count(&self) -> Result<u64> {
        self.count_source_records().await
    }

    async fn add_model_version(&self, spec: &str, origin: &str, note: &str) -> Result<i64> {
        self.insert_model_version(spec, origin, note).await
    }

    async fn matcher(&self, version: Option<i64>) -> Result<Arc<Matcher>> {
        match version {
            None => Ok(linking::current_matcher(&self.matcher)),
            Some(version) => Ok(Arc::new(self.stored_matcher(version).await?)),
        }
    }

    async fn activate_model_version(&self, version: i64) -> Result<()> {
        self.activate_version(version).await
    }

    async fn follow_active_model(&self) -> Result<Option<i64>> {
        self.follow_active_version().await
    }

    #[tracing::instrument(skip_all, name = "store.bulk_load", fields(backend = super::BACKEND_NAME))]
    async fn bulk_load(&self, records: Vec<ValidRecord>, received_from: &str) -> Result<u64> {
        let matcher = linking::current_matcher(&self.matcher);
        let mut loaded = 0;
        for chunk in records.chunks(BULK_CHUNK) {
            let now = Utc::now();
            let mut tx = super::begin_write(&self.write).await?;
            let mut changes = Vec::new();
            for record in chunk {
                let (_, mut own) = register_in(
                    &mut tx,
                    &matcher,
                    MatchMode::TrustedNew,
                    record,
                    &matcher.blocking_keys(&record.child),
                    received_from,
                    now,
                )
                .await?;
                changes.append(&mut own);
            }
            append_changes(&mut tx, changes, now).await?;
            tx.commit().await?;
            loaded += chunk.len() as u64;
        }
        // A registry loaded in bulk is matched against next: the planner must know its size,
        // and the index-only scans of matching need the loaded pages marked all-visible.
        super::settle_after_bulk_load(&self.write).await?;
        Ok(loaded)
    }

    async fn match_records(&self) -> Result<Vec<StoredMatchRecord>> {
        self.all_match_records().await
    }

    async fn warm_match_cache(&self) -> Result<u64> {
        let matcher = linking::current_matcher(&self.matcher);
        let mut after = i64::MIN;
        let mut added = 0u64;
        loop {
            let room = self.prepared.room(matcher.version());
            if room == 0 || linking::current_matcher(&self.matcher).version() != matcher.version() {
                return Ok(added);
            }
            let page: Vec<(i64, i64, String, Option<Json<ChildData>>)> = sqlx::query_as(
                "SELECT record_key, current_version, source_system, match_child FROM source_records \
                 WHERE record_key > $1 ORDER BY record_key LIMIT $2",
            )
            .bind(after)
            .bind(i64::try_from(room.min(WARM_PAGE)).unwrap_or(1))
            .fetch_all(&self.read)
            .await?;
            let Some((last, ..)) = page.last() else {
                return Ok(added);
            };
            after = *last;
            let count = page.len() as u64;
            let preparing = Arc::clone(&matcher);
            let prepared = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                page.into_par_iter()
                    .map(|(record_key, version, system, child)| {
                        let child = child.map(|json| json.0).unwrap_or_default();
                        let stored = PreparedStored::of(&preparing, &system, child);
                        ((record_key, version), Arc::new(stored))
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|error| {
                RegistryError::Corrupt(format!("preparing records stopped: {error}"))
            })?;
            self.prepared.put_many(matcher.version(), prepared);
            added += count;
        }
    }

    async fn queue_candidates(
        &self,
        record_key: i64,
        scores: &[ChildScore],
        model_version: i64,
    ) -> Result<()> {
        let mut tx = super::begin_write(&self.write).await?;
        let (version, district): (i64, Option<Json<ChildData>>) = sqlx::query_as(
            "SELECT current_version, match_child FROM source_records WHERE record_key = $1",
        )
        .bind(record_key)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(RegistryError::NotFound("source record"))?;
        let district = district.and_then(|child| child.0.district);
        linking::insert_candidates(
            &mut tx,
            record_key,
            version,
            district.as_deref(),
            scores,
            model_version,
            Utc::now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Follows `merged_into` to the active child; `None` when the ID was never issued.
pub(super) async fn resolve_survivor(
    connection: &mut <Db as sqlx::Database>::Connection,
    child_id: ChildId,
) -> Result<Option<ChildId>> {
    let mut current = child_id;
    // A chain longer than this means corrupt data, not a deep history.
    for _ in 0..1000 {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, merged_into FROM children WHERE child_id = $1")
                .bind(current.to_string())
                .fetch_optional(&mut *connection)
                .await?;
        match row {
            None => return Ok(None),
            Some((status, _)) if status == "active" => return Ok(Some(current)),
            Some((_, Some(next))) => current = parse_child_id(&next)?,
            Some((_, None)) => {
                return Err(RegistryError::Corrupt(format!(
                    "merged child {current} has no target"
                )))
            }
        }
    }
    Err(RegistryError::Corrupt(format!(
        "merge chain from {child_id} does not end"
    )))
}

/// Locks the child's row; its status and revision, `None` when the ID was never issued.
async fn lock_child(tx: &mut Transaction<'_>, child_id: ChildId) -> Result<Option<(String, i64)>> {
    let sql = format!(
        "SELECT status, revision FROM children WHERE child_id = $1{}",
        super::LOCK_ROWS
    );
    Ok(sqlx::query_as(&sql)
        .bind(child_id.to_string())
        .fetch_optional(&mut **tx)
        .await?)
}

async fn record_decision(
    tx: &mut Transaction<'_>,
    kind: &str,
    from: ChildId,
    to: ChildId,
    record: Option<(&str, &str)>,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO link_history (kind, from_child_id, to_child_id, source_system, source_record_id, \
         actor, reason, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(kind)
    .bind(from.to_string())
    .bind(to.to_string())
    .bind(record.map(|(system, _)| system))
    .bind(record.map(|(_, id)| id))
    .bind(&decision.actor)
    .bind(&decision.reason)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Backend {
    pub(super) async fn merge_in_transaction(
        &self,
        from: ChildId,
        into: ChildId,
        decision: &Decision,
        expected_revision: Option<i64>,
    ) -> Result<MergeResult> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let (merged, changes) =
            merge_in(&mut tx, from, into, decision, expected_revision, now).await?;
        append_changes(&mut tx, changes, now).await?;
        tx.commit().await?;
        Ok(merged)
    }
    pub(super) async fn unlink_in_transaction(
        &self,
        source_system: &str,
        source_record_id: &str,
        decision: &Decision,
    ) -> Result<UnlinkResult> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let existing = lock_source_record(&mut tx, source_system, source_record_id)
            .await?
            .ok_or(RegistryError::NotFound("source record"))?;
        let current = existing.child_id;
        let records_of_child: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM source_records WHERE child_id = $1")
                .bind(current.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if records_of_child < 2 {
            return Err(RegistryError::Conflict {
                code: "only_record",
                message: format!(
                    "this is the only record of {current}; there is nothing to unlink it from"
                ),
            });
        }
        let origin: Option<String> =
            sqlx::query_scalar("SELECT origin_child_id FROM source_records WHERE record_key = $1")
                .bind(existing.record_key)
                .fetch_one(&mut *tx)
                .await?;
        let origin = origin.as_deref().map(parse_child_id).transpose()?;
        let mut changes = Vec::new();
        // A record that came with a merge returns to the child it came from; any other gets a
        // new child ID.
        let (target, returned) = match origin.filter(|origin| *origin != current) {
            Some(origin) => {
                sqlx::query(
                    "UPDATE children SET status = 'active', merged_into = NULL, updated_at = $1, revision = revision + 1 WHERE child_id = $2",
                )
                .bind(now)
                .bind(origin.to_string())
                .execute(&mut *tx)
                .await?;
                changes.push(PendingChange {
                    kind: "child.unmerged",
                    child_id: origin,
                    payload: serde_json::json!({"from": current.to_string()}),
                });
                (origin, true)
            }
            None => {
                let child_id = insert_child(&mut tx, now).await?;
                changes.push(PendingChange {
                    kind: "child.created",
                    child_id,
                    payload: serde_json::json!({}),
                });
                (child_id, false)
            }
        };
        sqlx::query(
            "UPDATE source_records SET child_id = $1, updated_at = $2, link_method = 'manual' \
             WHERE record_key = $3",
        )
        .bind(target.to_string())
        .bind(now)
        .bind(existing.record_key)
        .execute(&mut *tx)
        .await?;
        touch_child(&mut tx, current, now).await?;
        record_decision(
            &mut tx,
            "unlink",
            current,
            target,
            Some((source_system, source_record_id)),
            decision,
            now,
        )
        .await?;
        let record_payload = serde_json::json!({
            "source_system": source_system,
            "source_record_id": source_record_id,
        });
        changes.push(PendingChange {
            kind: "record.unlinked",
            child_id: current,
            payload: serde_json::json!({
                "source_system": source_system,
                "source_record_id": source_record_id,
                "to": target.to_string(),
            }),
        });
        changes.push(PendingChange {
            kind: "record.linked",
            child_id: target,
            payload: record_payload,
        });
        append_changes(&mut tx, changes, now).await?;
        tx.commit().await?;
        Ok(UnlinkResult {
            child_id: target,
            previous_child_id: current,
            returned_to_origin: returned,
        })
    }

    pub(super) async fn check_invariants(&self) -> Result<Vec<String>> {
        let mut violations = Vec::new();
        let orphaned: Vec<(String, String)> = sqlx::query_as(
            "SELECT sr.source_system, sr.source_record_id FROM source_records sr \
             JOIN children c ON c.child_id = sr.child_id WHERE c.status <> 'active'",
        )
        .fetch_all(&self.read)
        .await?;
        for (system, id) in orphaned {
            violations.push(format!(
                "record {system}/{id} belongs to a child that is not active"
            ));
        }
        let empty: Vec<String> = sqlx::query_scalar(
            "SELECT c.child_id FROM children c WHERE c.status = 'active' AND NOT EXISTS \
             (SELECT 1 FROM source_records s WHERE s.child_id = c.child_id)",
        )
        .fetch_all(&self.read)
        .await?;
        for child in empty {
            violations.push(format!("active child {child} has no records"));
        }
        let merged: Vec<String> =
            sqlx::query_scalar("SELECT child_id FROM children WHERE status = 'merged'")
                .fetch_all(&self.read)
                .await?;
        for child in merged {
            let child = parse_child_id(&child)?;
            match resolve_survivor(&mut *self.read.acquire().await?, child).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => violations.push(format!(
                    "merged child {child} does not lead to an active child"
                )),
            }
        }
        Ok(violations)
    }
}

/// Merges `from` into `into` (resolved to its survivor) inside `tx`; returns the result and the
/// change-feed entries to append.
/// With `expected_revision`, `from` must still be at that revision (the caller's `If-Match`),
/// checked under the row lock, or nothing changes and the answer is `Stale`.
pub(super) async fn merge_in(
    tx: &mut Transaction<'_>,
    from: ChildId,
    into: ChildId,
    decision: &Decision,
    expected_revision: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(MergeResult, Vec<PendingChange>)> {
    {
        let into = resolve_survivor(tx, into)
            .await?
            .ok_or(RegistryError::NotFound("child"))?;

        if from == into {
            return Err(RegistryError::Conflict {
                code: "same_child",
                message: "a child cannot be merged into itself".to_owned(),
            });
        }
        // Lock both rows in a fixed order so two opposite merges cannot deadlock.
        let (first, second) = if from < into {
            (from, into)
        } else {
            (into, from)
        };
        let first_row = lock_child(tx, first).await?;
        let second_row = lock_child(tx, second).await?;
        let (from_row, into_row) = if first == from {
            (first_row, second_row)
        } else {
            (second_row, first_row)
        };
        if let (Some(expected), Some((_, current))) = (expected_revision, &from_row) {
            if expected != *current {
                return Err(RegistryError::Stale {
                    expected,
                    current: *current,
                });
            }
        }
        let into_status = into_row.map(|(status, _)| status);
        match from_row.as_ref().map(|(status, _)| status.as_str()) {
            None => return Err(RegistryError::NotFound("child")),
            Some("active") => {}
            Some(_) => {
                return Err(RegistryError::Conflict {
                    code: "already_merged",
                    message: format!("{from} was already merged"),
                })
            }
        }
        if into_status.as_deref() != Some("active") {
            return Err(RegistryError::Conflict {
                code: "target_not_active",
                message: format!("{into} is not an active child"),
            });
        }
        // A person decided: the moved records' links are manual now, and no model moves them.
        let moved: Vec<(String, String)> = sqlx::query_as(
            "UPDATE source_records SET child_id = $1, updated_at = $2, link_method = 'manual' \
             WHERE child_id = $3 RETURNING source_system, source_record_id",
        )
        .bind(into.to_string())
        .bind(now)
        .bind(from.to_string())
        .fetch_all(&mut **tx)
        .await?;
        // Referrals made directly about the merged child follow it (those made with an event
        // follow their record).
        sqlx::query("UPDATE referrals SET child_id = $1 WHERE child_id = $2")
            .bind(into.to_string())
            .bind(from.to_string())
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE children SET status = 'merged', merged_into = $1, updated_at = $2, revision = revision + 1 WHERE child_id = $3")
            .bind(into.to_string())
            .bind(now)
            .bind(from.to_string())
            .execute(&mut **tx)
            .await?;
        touch_child(tx, into, now).await?;
        record_decision(tx, "merge", from, into, None, decision, now).await?;
        let mut changes = vec![PendingChange {
            kind: "child.merged",
            child_id: from,
            payload: serde_json::json!({"merged_into": into.to_string()}),
        }];
        for (source_system, source_record_id) in &moved {
            changes.push(PendingChange {
                kind: "record.linked",
                child_id: into,
                payload: serde_json::json!({
                    "source_system": source_system,
                    "source_record_id": source_record_id,
                    "from": from.to_string(),
                }),
            });
        }
        linking::supersede_settled_candidates(tx, from, into, now).await?;
        Ok((
            MergeResult {
                merged: from,
                into,
                records_moved: moved.len(),
            },
            changes,
        ))
    }
}

#[cfg(test)]
mod tests {
    //! The batch path's fallback: when registering a group commit's batch together fails,
    //! every registration is made again one at a time, and nothing the failed attempt wrote
    //! survives it.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::model::RecordSubmission;

    /// Batches holding a record of this source system fail after their writes.
    pub(super) const BATCH_FAILS_FOR: &str = "batch-fails-test";
    /// Batches made to fail so far.
    pub(super) static FALLBACKS: AtomicUsize = AtomicUsize::new(0);

    /// A batch holding a record of [`BATCH_FAILS_FOR`] fails after all of its writes, to see
    /// them undone by the rollback every failed batch gets.
    pub(super) fn fail_if_asked<T>(registered: Result<T>, records: &[ValidRecord]) -> Result<T> {
        if registered.is_ok() && records.iter().any(|r| r.source_system == BATCH_FAILS_FOR) {
            FALLBACKS.fetch_add(1, Ordering::SeqCst);
            return Err(RegistryError::BatchFailed("failed by a test".into()));
        }
        registered
    }

    fn record(id: &str, given: &str) -> ValidRecord {
        serde_json::from_value::<RecordSubmission>(json!({
            "source_system": BATCH_FAILS_FOR,
            "source_record_id": id,
            "child": {"given_name": given, "family_name": "Aguti", "sex": "F",
                      "date_of_birth": "2022-03-14", "date_of_birth_estimated": false,
                      "district": "Wakiso", "village": "Wairaka",
                      "mother_name": "Akello Grace", "father_name": "Okello Peter"},
        }))
        .unwrap()
        .validate(Utc::now().date_naive())
        .unwrap()
    }

    async fn registrations_survive_a_failed_batch_on(store: Arc<dyn Store>) {
        let before = FALLBACKS.load(Ordering::SeqCst);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Every third task repeats one record; the others are distinct children.
                let (id, given) = if i % 3 == 0 {
                    ("SAME".to_owned(), "Halima".to_owned())
                } else {
                    (format!("R-{i}"), format!("Child{i}"))
                };
                store.register(record(&id, &given), "a").await.unwrap()
            }));
        }
        let mut same = Vec::new();
        let mut children = HashSet::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let registration = task.await.unwrap();
            children.insert(registration.child_id);
            if i % 3 == 0 {
                same.push(registration);
            }
        }
        assert!(FALLBACKS.load(Ordering::SeqCst) > before, "no batch failed");
        assert!(same.iter().all(|r| r.child_id == same[0].child_id));
        assert_eq!(same.iter().filter(|r| r.created).count(), 1);
        // Nothing of the failed attempts is left: one feed entry per change, gap-free, and
        // each of the 17 distinct records registered once.
        let entries = store.outbox_after(0, 1000).await.unwrap();
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=entries.len() as i64).collect::<Vec<_>>());
        let registered = entries
            .iter()
            .filter(|e| e.kind == "record.registered" || e.kind == "record.linked")
            .count();
        assert_eq!(registered, 17);
        let created = entries.iter().filter(|e| e.kind == "child.created").count();
        assert_eq!(created, children.len());
        for child in children {
            let view = store.child(child, &ReadScope::All).await.unwrap();
            assert!(view.is_some(), "{child}");
        }
    }

    /// This file is compiled once per backend; each copy tests its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn registrations_survive_a_failed_batch() {
        if std::any::TypeId::of::<Db>() == std::any::TypeId::of::<sqlx::Sqlite>() {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::store::open_data_dir(dir.path()).await.unwrap();
            registrations_survive_a_failed_batch_on(store).await;
            return;
        }
        let base = std::env::var("CHILD_REGISTRY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let scratch = crate::store::postgres::ScratchDatabase::create(&base)
            .await
            .expect("PostgreSQL must be reachable at CHILD_REGISTRY_TEST_DATABASE_URL");
        let store = crate::store::open(&scratch.url).await.unwrap();
        registrations_survive_a_failed_batch_on(store).await;
        scratch.drop_database().await.unwrap();
    }
}
