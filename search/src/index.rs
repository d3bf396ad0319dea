//! The index handle: one writer, one shared reader, a fresh searcher per query.

use std::collections::{BTreeSet, BinaryHeap};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use registry::linkage::Matcher;
use registry::model::ChildView;
use registry::{ChildId, ReadScope};
use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::query::EnableScoring;
use tantivy::schema::Value;
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Score,
    Searcher, TantivyDocument, TantivyError, Term, TERMINATED,
};

use crate::document::{child_document, StoredChild};
use crate::error::{Result, SearchError};
use crate::query::{encode_cursor, plan, MatchedField, QueryPlan, SearchRequest, MAX_OFFSET};
use crate::rank::{rank, FoundHit, RANKED_HITS};
use crate::schema::{Fields, SCHEMA_VERSION};
use crate::{SearchHit, SearchResults};

/// Memory the writer may use before it flushes a segment.
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// What each commit records: the outbox position it reflects and the schema that wrote it.
#[derive(Debug, Serialize, Deserialize)]
struct CommitPayload {
    schema: u32,
    outbox_seq: i64,
}

/// The search index of the registry's active children.
pub struct SearchIndex {
    fields: Fields,
    reader: IndexReader,
    /// `None` once [`SearchIndex::finish_writing`] ran.
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    /// Outbox position of the last commit.
    position: AtomicI64,
    /// Woken after a write to the registry, so the follower reads the outbox now instead of
    /// at its next poll (see [`SearchIndex::registry_changed`]).
    registry_changed: tokio::sync::Notify,
    /// Held by whoever reads the registry to change the index: see [`SearchIndex::changing`].
    changing: tokio::sync::Mutex<()>,
}

/// A child to put in the index (`Some`) or take out of it (`None`: merged or gone).
pub type Change = (ChildId, Option<ChildView>);

impl SearchIndex {
    /// Opens the index in `dir`, creating it when absent. An index written with another schema
    /// is deleted and starts empty at outbox position 0, so the follower rebuilds it.
    pub fn open(dir: &Path) -> Result<Arc<SearchIndex>> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = Fields::schema();
        let directory = MmapDirectory::open(dir)?;
        let index = if Index::exists(&directory).map_err(TantivyError::from)? {
            let existing = Index::open(directory)?;
            if existing.schema() == schema && payload(&existing)?.is_some() {
                existing
            } else {
                tracing::warn!(dir = %dir.display(), "search index has another schema: rebuilding");
                drop(existing);
                clear_dir(dir)?;
                Index::create_in_dir(dir, schema)?
            }
        } else {
            Index::create(directory, schema, IndexSettings::default())?
        };
        SearchIndex::with_index(index, fields)
    }

    /// An index in memory, for tests and measurements.
    pub fn in_ram() -> Result<Arc<SearchIndex>> {
        let (schema, fields) = Fields::schema();
        SearchIndex::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Arc<SearchIndex>> {
        Fields::register_tokenizers(&index);
        let writer = new_writer(&index)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let position = payload(&index)?.map_or(0, |payload| payload.outbox_seq);
        Ok(Arc::new(SearchIndex {
            fields,
            reader,
            writer: Mutex::new(Some(writer)),
            position: AtomicI64::new(position),
            registry_changed: tokio::sync::Notify::new(),
            changing: tokio::sync::Mutex::new(()),
        }))
    }

    /// The outbox position the committed index reflects.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Acquire)
    }

    /// Children in the index, as the current searcher sees them.
    pub fn num_children(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Segments a search visits (each has its own term dictionary to walk for fuzzy words).
    pub fn num_segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Option<IndexWriter<TantivyDocument>>> {
        // A panic while holding the writer leaves nothing half-done that a commit could
        // publish: uncommitted changes are only published by `commit`.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the follower that the registry may have changed (a write just committed). Cheap
    /// and never blocks; wake-ups while the follower is busy fold into one.
    pub fn registry_changed(&self) {
        self.registry_changed.notify_one();
    }

    /// Waits until [`SearchIndex::registry_changed`] is called (or returns at once if it was
    /// called since the last wait).
    pub async fn wait_for_registry_change(&self) {
        self.registry_changed.notified().await;
    }

    /// Taken by a follower round and by a rebuild for as long as they read the registry and
    /// change the index: a round applied while a rebuild runs would add children the
    /// rebuild's pages add again (two documents for one child) and commit the rebuild's
    /// half-done pages.
    pub async fn changing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changing.lock().await
    }

    /// Replaces or removes each child, then commits with `position` in the payload and makes
    /// the commit visible to searches. Blocking: call it off the async runtime.
    pub fn apply(&self, changes: Vec<Change>, position: i64) -> Result<()> {
        let mut guard = self.writer();
        let writer = guard.as_mut().ok_or(SearchError::Closed)?;
        self.replace(writer, changes)?;
        self.commit(writer, position)
    }

    /// Adds active children to a freshly cleared index without committing (a rebuild adds
    /// page after page, then commits once with [`SearchIndex::commit_at`]). Blocking.
    pub fn add_children(&self, children: Vec<ChildView>) -> Result<()> {
        let mut guard = self.writer();
        let writer = guard.as_mut().ok_or(SearchError::Closed)?;
        for view in &children {
            if let Some(document) = child_document(&self.fields, view) {
                writer.add_document(document)?;
            }
        }
        Ok(())
    }

    /// Commits what was added with `position` in the payload and makes it searchable. Blocking.
    pub fn commit_at(&self, position: i64) -> Result<()> {
        let mut guard = self.writer();
        let writer = guard.as_mut().ok_or(SearchError::Closed)?;
        self.commit(writer, position)
    }

    /// Drops what was added since the last commit (a rebuild that failed half way): the
    /// index stays as committed, and the follower carries on from its position. Blocking.
    pub fn discard_uncommitted(&self) -> Result<()> {
        let mut guard = self.writer();
        let writer = guard.as_mut().ok_or(SearchError::Closed)?;
        writer.rollback()?;
        Ok(())
    }

    fn replace(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        changes: Vec<Change>,
    ) -> Result<()> {
        for (child_id, view) in changes {
            writer.delete_term(Term::from_field_text(
                self.fields.child_id,
                &child_id.to_string(),
            ));
            if let Some(document) = view
                .as_ref()
                .and_then(|view| child_document(&self.fields, view))
            {
                writer.add_document(document)?;
            }
        }
        Ok(())
    }

    /// Empties the index and sets its position back to 0 (the start of `reindex`).
    pub fn clear(&self) -> Result<()> {
        let mut guard = self.writer();
        let writer = guard.as_mut().ok_or(SearchError::Closed)?;
        writer.delete_all_documents()?;
        self.commit(writer, 0)
    }

    fn commit(&self, writer: &mut IndexWriter<TantivyDocument>, position: i64) -> Result<()> {
        let payload = serde_json::to_string(&CommitPayload {
            schema: SCHEMA_VERSION,
            outbox_seq: position,
        })
        .map_err(|error| SearchError::Payload(error.to_string()))?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        // Searchable first, then published: whoever sees the new position (a caller waiting
        // for a registration to become findable) must find it.
        self.reader.reload()?;
        self.position.store(position, Ordering::Release);
        Ok(())
    }

    /// Merges every segment into one and waits for it; the index stays searchable meanwhile.
    /// A search looks up each of its terms (and walks the term dictionary for each fuzzy word)
    /// once per segment: at a million children one segment answers in about two thirds of the
    /// time the dozen a rebuild leaves take (BENCHMARKS.md, "Search"). The background merges
    /// the writer started are waited for first, so that none holds a segment this merges.
    /// Changes wait until it is done (a few seconds at a million children). Blocking.
    pub fn merge_segments(&self) -> Result<()> {
        let mut guard = self.writer();
        let writer = guard.take().ok_or(SearchError::Closed)?;
        let index = writer.index().clone();
        let waited = writer.wait_merging_threads();
        // A writer again whatever the wait gave: the follower needs one.
        let writer = guard.insert(new_writer(&index)?);
        waited?;
        let segments = index.searchable_segment_ids()?;
        if segments.len() >= 2 {
            writer.merge(&segments).wait()?;
            self.reader.reload()?;
        }
        Ok(())
    }

    /// Waits for background segment merges and releases the writer (end of a bulk load);
    /// the index stays searchable but takes no more changes.
    pub fn finish_writing(&self) -> Result<()> {
        let writer = self.writer().take();
        if let Some(writer) = writer {
            writer.wait_merging_threads()?;
        }
        Ok(())
    }

    /// Runs a search off the async runtime. With `ranking`, the matching model orders the
    /// first hits ([`crate::rank`]); the registry passes its active model.
    pub async fn search(
        self: &Arc<Self>,
        request: SearchRequest,
        scope: ReadScope,
        ranking: Option<Arc<Matcher>>,
    ) -> Result<SearchResults> {
        let index = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            index.search_blocking(&request, &scope, ranking.as_deref())
        })
        .await?
    }

    /// Runs a search on this thread (CPU-bound: not on the async runtime).
    pub fn search_blocking(
        &self,
        request: &SearchRequest,
        scope: &ReadScope,
        ranking: Option<&Matcher>,
    ) -> Result<SearchResults> {
        let searcher = self.reader.searcher();
        let plan = plan(&self.fields, request, scope);
        let offset = request.offset.min(MAX_OFFSET);
        // The model ranks a fixed window of first hits, so a page inside it is read from the
        // window's start; a page past it continues in the index's order.
        let ranked = ranking
            .zip(plan.as_record.as_ref())
            .filter(|_| offset < RANKED_HITS);
        let (skip, take) = match ranked {
            Some(_) => (0, (offset + request.limit).max(RANKED_HITS)),
            None => (offset, request.limit),
        };
        let (top, total) = top_hits(&searcher, &plan, skip, take)?;
        let mut found: Vec<FoundHit> = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let stored = document
                .get_first(self.fields.stored)
                .and_then(|value| value.as_str())
                .and_then(|json| serde_json::from_str::<StoredChild>(json).ok());
            let Some(stored) = stored else {
                tracing::error!(?address, "search document without readable stored fields");
                continue;
            };
            found.push(FoundHit {
                score,
                address,
                stored,
            });
        }
        let page: Vec<FoundHit> = match ranked {
            Some((matcher, as_record)) => {
                let rest = found.split_off(found.len().min(RANKED_HITS));
                let mut ordered = rank(matcher, as_record, found);
                ordered.extend(rest);
                ordered
                    .into_iter()
                    .skip(offset)
                    .take(request.limit)
                    .collect()
            }
            None => found,
        };
        let addresses: Vec<DocAddress> = page.iter().map(|hit| hit.address).collect();
        let matched = self.matched_fields(&searcher, &plan, &addresses)?;

        let mut hits = Vec::with_capacity(page.len());
        for (FoundHit { score, stored, .. }, matched_fields) in page.into_iter().zip(matched) {
            let Ok(child_id) = stored.child_id.parse::<ChildId>() else {
                tracing::error!(child_id = %stored.child_id, "search document with a malformed child ID");
                continue;
            };
            hits.push(SearchHit {
                child_id,
                display_name: stored.display_name,
                other_names: stored.other_names,
                date_of_birth: stored.date_of_birth,
                date_of_birth_estimated: stored.date_of_birth_estimated,
                sex: stored.sex,
                district: stored.district,
                agencies: stored.agencies,
                score,
                matched_fields: matched_fields.into_iter().collect(),
            });
        }
        let next = offset + request.limit;
        let next_cursor = (next < total && next <= MAX_OFFSET).then(|| encode_cursor(next));
        Ok(SearchResults {
            hits,
            total,
            next_cursor,
        })
    }

    /// Which groups of the plan each hit matched: one scorer per group and segment, advanced
    /// in document order.
    fn matched_fields(
        &self,
        searcher: &Searcher,
        plan: &QueryPlan,
        addresses: &[DocAddress],
    ) -> Result<Vec<BTreeSet<MatchedField>>> {
        let mut matched: Vec<BTreeSet<MatchedField>> = vec![BTreeSet::new(); addresses.len()];
        let mut order: Vec<(usize, DocAddress)> = addresses.iter().copied().enumerate().collect();
        order.sort_by_key(|(_, address)| *address);
        for (field, group) in &plan.groups {
            let weight = group.weight(EnableScoring::disabled_from_searcher(searcher))?;
            let mut current: Option<(u32, Box<dyn tantivy::query::Scorer>)> = None;
            for (hit, address) in &order {
                if current.as_ref().map(|(segment, _)| *segment) != Some(address.segment_ord) {
                    let reader = searcher.segment_reader(address.segment_ord);
                    current = Some((address.segment_ord, weight.scorer(reader, 1.0)?));
                }
                if let Some((_, scorer)) = current.as_mut() {
                    let target = address.doc_id;
                    let found = match scorer.doc() {
                        doc if doc < target => scorer.seek(target) == target,
                        doc => doc == target,
                    };
                    if found {
                        matched[*hit].insert(*field);
                    }
                }
            }
        }
        Ok(matched)
    }
}

/// A hit while the best ones are gathered: a higher score first, then the earlier document.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ranked {
    score: Score,
    address: DocAddress,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.address.cmp(&other.address))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The `take` best hits after the first `skip`, best first, and how many children the query
/// finds, in one walk over the children it finds. A typed birth date's credit is read only
/// for a child whose other clauses leave it a chance of a place among the hits: at a million
/// children a search finds some 56,000 children on average, and reading every one's dates
/// cost two fifths of the search (BENCHMARKS.md, "Search").
fn top_hits(
    searcher: &Searcher,
    plan: &QueryPlan,
    skip: usize,
    take: usize,
) -> Result<(Vec<(Score, DocAddress)>, usize)> {
    let wanted = skip + take;
    let scoring = EnableScoring::enabled_from_searcher(searcher);
    let finding = plan.finding_query().weight(scoring)?;
    let credit = match &plan.birth_credit {
        Some(credit) => Some(credit.scored(scoring)?),
        None => None,
    };
    // The worst of the best `wanted` so far sits on top (`Ranked` orders best first).
    let mut best: BinaryHeap<Ranked> = BinaryHeap::with_capacity(wanted + 1);
    let mut total = 0usize;
    for (segment_ord, reader) in (0u32..).zip(searcher.segment_readers()) {
        let mut scorer = finding.scorer(reader, 1.0)?;
        let mut segment_credit = match &credit {
            Some(credit) => Some(credit.segment(reader)?),
            None => None,
        };
        let alive = reader.alive_bitset();
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|alive| alive.is_alive(doc)) {
                total += 1;
                let full = best.len() >= wanted;
                let mut score = scorer.score();
                let worst = best.peek().map_or(Score::MIN, |worst| worst.score);
                let most_credit = segment_credit
                    .as_mut()
                    .map_or(0.0, |credit| credit.most(doc));
                if !full || score + most_credit >= worst {
                    if let Some(segment_credit) = segment_credit.as_mut() {
                        score += segment_credit.of(doc);
                    }
                    let hit = Ranked {
                        score,
                        address: DocAddress::new(segment_ord, doc),
                    };
                    if !full {
                        best.push(hit);
                    } else if best.peek().is_some_and(|worst| hit < *worst) {
                        best.pop();
                        best.push(hit);
                    }
                }
            }
            doc = scorer.advance();
        }
    }
    let ranked = best.into_sorted_vec();
    Ok((
        ranked
            .into_iter()
            .skip(skip)
            .map(|hit| (hit.score, hit.address))
            .collect(),
        total,
    ))
}

/// The index's one writer; another process holding it is [`SearchError::Locked`].
fn new_writer(index: &Index) -> Result<IndexWriter<TantivyDocument>> {
    index.writer(WRITER_MEMORY).map_err(|error| match error {
        TantivyError::LockFailure(..) => SearchError::Locked,
        other => other.into(),
    })
}

fn payload(index: &Index) -> Result<Option<CommitPayload>> {
    let metas = index.load_metas()?;
    match metas.payload {
        None => Ok(None),
        Some(text) => serde_json::from_str::<CommitPayload>(&text)
            .map(|payload| (payload.schema == SCHEMA_VERSION).then_some(payload))
            .or(Ok(None)),
    }
}

/// Removes an outdated index's files (only inside the index directory). Lock files stay: a
/// process may hold one (the gateway's `server.lock`), and one recreated in its place would
/// let a second process lock it too.
fn clear_dir(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "lock")
        {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::birth_credit::SegmentBirthCredit;
    use chrono::{TimeZone, Utc};
    use registry::model::{RecordSubmission, SourceRecordView};
    use std::collections::BTreeMap;
    use synthetic::GeneratorConfig;
    use tantivy::query::Query;

    /// Generated children, each indexed from all its records.
    fn generated_index() -> (Arc<SearchIndex>, Vec<synthetic::GeneratedRecord>) {
        let dataset = synthetic::generate(&GeneratorConfig {
            seed: 3,
            records: 3000,
            ..GeneratorConfig::default()
        });
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let mut clusters: BTreeMap<u64, Vec<SourceRecordView>> = BTreeMap::new();
        for record in &dataset.records {
            let child = serde_json::from_value::<RecordSubmission>(record.api_body())
                .unwrap()
                .child;
            clusters
                .entry(record.cluster_id)
                .or_default()
                .push(SourceRecordView {
                    source_system: record.source_system.clone(),
                    source_record_id: record.source_record_id.clone(),
                    version: 1,
                    received_at: at,
                    first_received_at: at,
                    child,
                });
        }
        let changes = clusters
            .into_iter()
            .map(|(cluster, records)| {
                let child_id = ChildId::from_value(cluster).unwrap();
                let view = registry::golden::active_child(child_id, records, at, at);
                (child_id, Some(view))
            })
            .collect();
        let index = SearchIndex::in_ram().unwrap();
        index.apply(changes, 1).unwrap();
        (index, dataset.records)
    }

    /// Every child a query finds, with its score, in document order.
    fn found(searcher: &Searcher, query: &dyn Query) -> Vec<(DocAddress, Score)> {
        let weight = query
            .weight(EnableScoring::enabled_from_searcher(searcher))
            .unwrap();
        let mut found = Vec::new();
        for (segment_ord, reader) in (0u32..).zip(searcher.segment_readers()) {
            let mut scorer = weight.scorer(reader, 1.0).unwrap();
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                found.push((DocAddress::new(segment_ord, doc), scorer.score()));
                doc = scorer.advance();
            }
        }
        found
    }

    #[test]
    fn the_flat_union_finds_and_scores_as_the_nested_query() {
        let (index, records) = generated_index();
        let searcher = index.reader.searcher();
        let mut compared = 0;
        for record in records.iter().step_by(20) {
            let given = record.given_name.clone().unwrap_or_default();
            let family = record.family_name.clone().unwrap_or_default();
            let born = record.date_of_birth.map(|date| date.to_string());
            let texts = [
                format!("{given} {family} {}", born.clone().unwrap_or_default()),
                format!("{family} {given}"),
                format!("{given}x {family}"),
            ];
            for text in texts {
                let mut request = SearchRequest::text(&text, 20);
                // A rare filter makes the union be sought, not walked.
                for district in [None, record.district.clone()] {
                    request.district = district;
                    let plan = plan(&index.fields, &request, &ReadScope::All);
                    if plan.scoring.is_empty() {
                        continue;
                    }
                    assert!(plan.flat.is_some(), "{text}");
                    let flat = found(&searcher, plan.finding_query_with(true).as_ref());
                    let nested = found(&searcher, plan.finding_query_with(false).as_ref());
                    assert_eq!(flat.len(), nested.len(), "{text}");
                    for ((flat_at, flat_score), (nested_at, nested_score)) in
                        flat.iter().zip(&nested)
                    {
                        assert_eq!(flat_at, nested_at, "{text}");
                        assert!(
                            (flat_score - nested_score).abs() <= 1e-4 * nested_score.abs().max(1.0),
                            "{text}: {flat_score} against {nested_score}"
                        );
                    }
                    compared += flat.len();
                }
            }
        }
        assert!(compared > 10_000, "only {compared} hits compared");
    }

    #[test]
    fn children_passed_over_for_the_birth_credit_could_not_have_ranked() {
        let (index, records) = generated_index();
        let searcher = index.reader.searcher();
        let scoring = EnableScoring::enabled_from_searcher(&searcher);
        let mut compared = 0;
        for record in records.iter().step_by(10) {
            let Some(born) = record.date_of_birth else {
                continue;
            };
            let given = record.given_name.clone().unwrap_or_default();
            let family = record.family_name.clone().unwrap_or_default();
            let texts = [
                format!("{given} {family} {born}"),
                format!("{family} {given} {}", born.format("%m/%d/%Y")),
                format!("{given} {}", born.format("%Y")),
                format!("{family} {}", born.format("%Y-%m")),
                format!("{given}x {born}"),
            ];
            for text in texts {
                let plan = plan(
                    &index.fields,
                    &SearchRequest::text(&text, 20),
                    &ReadScope::All,
                );
                let Some(credit) = &plan.birth_credit else {
                    continue;
                };
                let credit = credit.scored(scoring).unwrap();
                // Every found child's credit read, best first.
                let mut everyone: Vec<Ranked> = Vec::new();
                let mut segment: Option<(u32, SegmentBirthCredit)> = None;
                for (address, score) in found(&searcher, plan.finding_query().as_ref()) {
                    if segment.as_ref().map(|(ord, _)| *ord) != Some(address.segment_ord) {
                        let reader = searcher.segment_reader(address.segment_ord);
                        segment = Some((address.segment_ord, credit.segment(reader).unwrap()));
                    }
                    let (_, credit) = segment.as_mut().unwrap();
                    everyone.push(Ranked {
                        score: score + credit.of(address.doc_id),
                        address,
                    });
                }
                everyone.sort();
                let (top, total) = top_hits(&searcher, &plan, 0, 20).unwrap();
                assert_eq!(total, everyone.len(), "{text}");
                let expected: Vec<(Score, DocAddress)> = everyone
                    .iter()
                    .take(20)
                    .map(|hit| (hit.score, hit.address))
                    .collect();
                assert_eq!(top, expected, "{text}");
                compared += top.len();
            }
        }
        assert!(compared > 5_000, "only {compared} hits compared");
    }
}
