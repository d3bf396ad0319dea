//! The first pass of a search: which children can reach the first page.
//!
//! A search's own query ([`crate::query::QueryPlan::query`]) scores every child that matches
//! any of its words: at a million children a common name and its sound bring in tens of
//! thousands, and scoring them all took most of a search's time (BENCHMARKS.md, "Search").
//! The first pass is every term of the query in one flat union of weighted term scores,
//! the shape tantivy prunes with block-max WAND: whole blocks of a posting list whose best
//! score cannot lift a child into the first [`CANDIDATES`] are skipped, never decoded.
//! The search's own query then scores only the children the first pass kept.
//!
//! The union's score is a sum where the search's query takes the best of an exact, a fuzzy
//! and a phonetic match, so the two orders differ; the first pass only has to keep the
//! children the query would put first among its candidates, and it keeps many more than a
//! page. Recall with and without it is measured in BENCHMARKS.md.

use std::sync::Arc;

use tantivy::query::{
    BooleanWeight, BoostQuery, EnableScoring, Explanation, Occur, Query, Scorer, SumCombiner,
    TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentReader, Term};

/// How many children the first pass keeps for the search's own query to score.
pub const CANDIDATES: usize = 200;

/// Every term of a search with what a child holding it earns (a factor of the term's BM25).
#[derive(Debug, Clone)]
pub(crate) struct FirstPassQuery {
    terms: Vec<(Term, f32)>,
}

impl FirstPassQuery {
    pub fn new(terms: Vec<(Term, f32)>) -> Self {
        FirstPassQuery { terms }
    }
}

impl Query for FirstPassQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let terms = self
            .terms
            .iter()
            .map(|(term, boost)| {
                let query = BoostQuery::new(
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                    *boost,
                );
                let weight: Arc<dyn Weight> = Arc::from(query.weight(scoring)?);
                Ok((term.clone(), weight))
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(FirstPassWeight { terms }))
    }
}

struct FirstPassWeight {
    terms: Vec<(Term, Arc<dyn Weight>)>,
}

impl FirstPassWeight {
    /// The union of the terms this segment holds. tantivy prunes a union only when every
    /// member reads term frequencies, and the empty scorer of a term a segment lacks reads
    /// none: one such term would make the whole segment scored child by child.
    fn in_segment(&self, reader: &SegmentReader) -> tantivy::Result<BooleanWeight<SumCombiner>> {
        let mut present: Vec<(Occur, Box<dyn Weight>)> = Vec::with_capacity(self.terms.len());
        for (term, weight) in &self.terms {
            let inverted = reader.inverted_index(term.field())?;
            if inverted.get_term_info(term)?.is_some() {
                present.push((Occur::Should, Box::new(Shared(Arc::clone(weight)))));
            }
        }
        Ok(BooleanWeight::new(
            present,
            true,
            Box::new(SumCombiner::default),
        ))
    }
}

impl Weight for FirstPassWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.in_segment(reader)?.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.in_segment(reader)?.explain(reader, doc)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        self.in_segment(reader)?
            .for_each_pruning(threshold, reader, callback)
    }
}

/// One term's weight, built once per search and lent to each segment's union.
struct Shared(Arc<dyn Weight>);

impl Weight for Shared {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.0.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}
