//! A search's scoring clauses as one flat union.
//!
//! The query's own form ([`crate::query::QueryPlan`]) nests unions: each name word takes the
//! best of an exact, a fuzzy and a phonetic match (`DisjunctionMaxQuery` over unions, boosts
//! and constants), and those add up with parents, places and identifiers. tantivy walks each
//! level as a union of its own, and at a million children a search finds some 56,000, which
//! that nesting scored at about 50 ns a child (BENCHMARKS.md, "Search"). Here every clause's
//! posting list goes into one union that keeps, per child, the best match of each name word
//! and the sum of the rest: the same children with the same scores, in one pass.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::{Bm25Weight, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

/// Most name words a flat union keeps apart; a longer text uses the nested query.
pub const MAX_WORDS: usize = 8;

/// What a clause's match adds to a child's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Credit {
    /// This much, however common the term.
    Constant(Score),
    /// The term's BM25 times this factor.
    Bm25(Score),
    /// A constant plus the term's BM25 times a factor.
    ConstantPlusBm25(Score, Score),
}

/// One clause: what matches, which name word's best match it competes for (`None`: it adds
/// to the score), and its credit.
#[derive(Debug)]
pub(crate) struct FlatClause {
    pub query: Box<dyn Query>,
    pub word: Option<usize>,
    pub credit: Credit,
}

impl Clone for FlatClause {
    fn clone(&self) -> Self {
        FlatClause {
            query: self.query.box_clone(),
            word: self.word,
            credit: self.credit,
        }
    }
}

/// The scoring clauses of a search, at most [`MAX_WORDS`] name words.
#[derive(Debug, Clone)]
pub(crate) struct FlatQuery {
    clauses: Vec<FlatClause>,
}

impl FlatQuery {
    /// `None` when a clause names a word past [`MAX_WORDS`].
    pub fn new(clauses: Vec<FlatClause>) -> Option<Self> {
        clauses
            .iter()
            .all(|clause| clause.word.is_none_or(|word| word < MAX_WORDS))
            .then_some(FlatQuery { clauses })
    }
}

impl Query for FlatQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let unscored = EnableScoring::disabled_from_schema(scoring.schema());
        let clauses = self
            .clauses
            .iter()
            .map(|clause| {
                let credit = same_for_every_child(clause, scoring)?.unwrap_or(clause.credit);
                // A constant needs neither the term's statistics nor its frequencies.
                let weight = match credit {
                    Credit::Constant(_) => clause.query.weight(unscored)?,
                    Credit::Bm25(_) | Credit::ConstantPlusBm25(..) => {
                        clause.query.weight(scoring)?
                    }
                };
                Ok((weight, clause.word, credit))
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(FlatWeight { clauses }))
    }
}

/// A scored clause's credit as a constant, when its term scores the same for every child
/// holding it: in a field without term frequencies or length norms (name words and their
/// sounds) a term's BM25 is the term's alone. It is computed here once, as the term's scorer
/// would for each child: that was an eighth of a search's time at a million children
/// (BENCHMARKS.md, "Search"). `None` for any other clause.
fn same_for_every_child(
    clause: &FlatClause,
    scoring: EnableScoring<'_>,
) -> tantivy::Result<Option<Credit>> {
    let (constant, factor) = match clause.credit {
        Credit::Constant(_) => return Ok(None),
        Credit::Bm25(factor) => (0.0, factor),
        Credit::ConstantPlusBm25(constant, factor) => (constant, factor),
    };
    let EnableScoring::Enabled {
        statistics_provider,
        ..
    } = scoring
    else {
        return Ok(None);
    };
    let mut terms: Vec<Term> = Vec::new();
    clause
        .query
        .query_terms(&mut |term, _| terms.push(term.clone()));
    let [term] = terms.as_slice() else {
        return Ok(None);
    };
    let field = scoring.schema().get_field_entry(term.field());
    let counts_occurrences = field
        .field_type()
        .get_index_record_option()
        .is_some_and(|option| option.has_freq());
    if counts_occurrences || field.has_fieldnorms() {
        return Ok(None);
    }
    // The same arithmetic as the term's scorer: its weight boosted by the factor, at the norm
    // tantivy gives every child of a field without norms (one word), for one occurrence.
    let bm25 =
        Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(term))?.boost_by(factor);
    let one_word = FieldNormReader::constant(1, 1).fieldnorm_id(0);
    Ok(Some(Credit::Constant(constant + bm25.score(one_word, 1))))
}

struct FlatWeight {
    clauses: Vec<(Box<dyn Weight>, Option<usize>, Credit)>,
}

impl Weight for FlatWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut clauses = Vec::with_capacity(self.clauses.len());
        for (weight, word, credit) in &self.clauses {
            let (constant, factor) = match *credit {
                Credit::Constant(constant) => (constant, 0.0),
                Credit::Bm25(factor) => (0.0, factor),
                Credit::ConstantPlusBm25(constant, factor) => (constant, factor),
            };
            let scored = factor > 0.0;
            let postings = weight.scorer(reader, if scored { boost * factor } else { boost })?;
            if postings.doc() != TERMINATED {
                clauses.push(Clause {
                    postings,
                    word: *word,
                    constant: constant * boost,
                    scored,
                });
            }
        }
        if clauses.is_empty() {
            return Ok(Box::new(EmptyScorer));
        }
        Ok(Box::new(FlatUnion::new(clauses)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new(
            "best match of each name word plus the other clauses",
            scorer.score(),
        ))
    }
}

struct Clause {
    postings: Box<dyn Scorer>,
    word: Option<usize>,
    constant: Score,
    /// Whether the term's (boosted) BM25 adds to the constant.
    scored: bool,
}

impl Clause {
    fn score(&mut self) -> Score {
        if self.scored {
            self.constant + self.postings.score()
        } else {
            self.constant
        }
    }
}

/// One child's score while its clauses are gathered.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    best: [Score; MAX_WORDS],
    rest: Score,
}

impl Tally {
    fn total(&self) -> Score {
        self.best.iter().sum::<Score>() + self.rest
    }
}

/// Documents gathered at a time: every clause's postings in the window are read, then the
/// window's documents are handed out in order (tantivy's own unions work the same way).
const WINDOW: usize = 2048;
const WINDOW_WORDS: usize = WINDOW / 64;

struct FlatUnion {
    clauses: Vec<Clause>,
    tallies: Box<[Tally]>,
    present: [u64; WINDOW_WORDS],
    /// The first document of the window.
    offset: DocId,
    /// The next word of `present` to read.
    cursor: usize,
    doc: DocId,
    score: Score,
}

impl FlatUnion {
    fn new(clauses: Vec<Clause>) -> Self {
        let mut union = FlatUnion {
            clauses,
            tallies: vec![Tally::default(); WINDOW].into_boxed_slice(),
            present: [0; WINDOW_WORDS],
            offset: 0,
            cursor: WINDOW_WORDS,
            doc: 0,
            score: 0.0,
        };
        if !union.refill() || !union.next_in_window() {
            union.doc = TERMINATED;
        }
        union
    }

    /// Gathers the window starting at the lowest document any clause is on.
    fn refill(&mut self) -> bool {
        let first = self
            .clauses
            .iter()
            .map(|clause| clause.postings.doc())
            .min()
            .unwrap_or(TERMINATED);
        if first == TERMINATED {
            return false;
        }
        self.offset = first;
        self.cursor = 0;
        let end = first.saturating_add(WINDOW as DocId);
        for clause in &mut self.clauses {
            let mut doc = clause.postings.doc();
            while doc < end {
                let delta = (doc - first) as usize;
                self.present[delta / 64] |= 1 << (delta % 64);
                let score = clause.score();
                let tally = &mut self.tallies[delta];
                match clause.word {
                    Some(word) => tally.best[word] = tally.best[word].max(score),
                    None => tally.rest += score,
                }
                doc = clause.postings.advance();
            }
        }
        true
    }

    /// Moves to the next gathered document of the window, if any.
    fn next_in_window(&mut self) -> bool {
        while self.cursor < WINDOW_WORDS {
            let bits = self.present[self.cursor];
            if bits == 0 {
                self.cursor += 1;
                continue;
            }
            self.present[self.cursor] = bits & (bits - 1);
            let delta = self.cursor * 64 + bits.trailing_zeros() as usize;
            self.doc = self.offset + delta as DocId;
            let tally = &mut self.tallies[delta];
            self.score = tally.total();
            *tally = Tally::default();
            return true;
        }
        false
    }

    /// Forgets what is left of the window.
    fn drop_window(&mut self) {
        for cursor in self.cursor..WINDOW_WORDS {
            let mut bits = self.present[cursor];
            while bits != 0 {
                let delta = cursor * 64 + bits.trailing_zeros() as usize;
                self.tallies[delta] = Tally::default();
                bits &= bits - 1;
            }
            self.present[cursor] = 0;
        }
        self.cursor = WINDOW_WORDS;
    }
}

impl DocSet for FlatUnion {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        if self.next_in_window() || (self.refill() && self.next_in_window()) {
            return self.doc;
        }
        self.doc = TERMINATED;
        TERMINATED
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        if target - self.offset < WINDOW as DocId {
            while self.doc < target {
                self.advance();
            }
            return self.doc;
        }
        self.drop_window();
        for clause in &mut self.clauses {
            if clause.postings.doc() < target {
                clause.postings.seek(target);
            }
        }
        if self.refill() && self.next_in_window() {
            return self.doc;
        }
        self.doc = TERMINATED;
        TERMINATED
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.clauses
            .iter()
            .map(|clause| clause.postings.size_hint())
            .max()
            .unwrap_or(0)
    }
}

impl Scorer for FlatUnion {
    fn score(&mut self) -> Score {
        self.score
    }
}
