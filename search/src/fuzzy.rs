//! A name word within the typo allowance whose first letter is the one typed.
//!
//! tantivy's `FuzzyTermQuery` walks the term dictionary of every segment with a Levenshtein
//! automaton. At a million children the names field holds every spelling any agency typed,
//! and that walk was a third of a search's time (BENCHMARKS.md, "Search at a million
//! children"). Holding the first letter fixed walks one letter's part of the dictionary.
//! A first letter typed differently is mostly another spelling of the same sound (c/k, ph/p,
//! ch/j), which the phonetic clause finds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA, SINK_STATE};
use tantivy::index::SegmentId;
use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, SegmentReader, TantivyError};
use tantivy_common::BitSet;
use tantivy_fst::Automaton;

/// Per segment, the documents holding a matching term. A search asks twice: its scoring
/// clauses, then which fields each hit matched; the second ask reads the first's answer
/// instead of walking the term dictionary again (the walk was a fifth of a search at a
/// million children, BENCHMARKS.md).
type Found = Arc<Mutex<HashMap<SegmentId, BitSet>>>;

/// Matches the terms of `field` that start with the first letter of `word` and whose rest is
/// within `distance` edits (a transposition counts as one) of the rest of `word`. Clones share
/// what they found, so a query lives as long as one search on one searcher.
#[derive(Clone)]
pub(crate) struct FirstLetterFuzzyQuery {
    field: Field,
    word: String,
    distance: u8,
    found: Found,
}

impl std::fmt::Debug for FirstLetterFuzzyQuery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FirstLetterFuzzyQuery")
            .field("field", &self.field)
            .field("word", &self.word)
            .field("distance", &self.distance)
            .finish_non_exhaustive()
    }
}

impl FirstLetterFuzzyQuery {
    /// `distance` is 1 or 2 (higher values are clamped to 2).
    pub fn new(field: Field, word: &str, distance: u8) -> Self {
        FirstLetterFuzzyQuery {
            field,
            word: word.to_owned(),
            distance: distance.clamp(1, 2),
            found: Found::default(),
        }
    }

    fn automaton(&self) -> FirstLetterLevenshtein {
        static BUILDERS: OnceLock<[LevenshteinAutomatonBuilder; 2]> = OnceLock::new();
        let builders = BUILDERS.get_or_init(|| {
            [
                LevenshteinAutomatonBuilder::new(1, true),
                LevenshteinAutomatonBuilder::new(2, true),
            ]
        });
        let split = self.word.chars().next().map_or(0, char::len_utf8);
        let (first, rest) = self.word.split_at(split);
        FirstLetterLevenshtein {
            first: first.as_bytes().to_vec(),
            rest: builders[usize::from(self.distance - 1)].build_dfa(rest),
        }
    }
}

impl Query for FirstLetterFuzzyQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(FirstLetterFuzzyWeight {
            field: self.field,
            automaton: self.automaton(),
            found: Arc::clone(&self.found),
        }))
    }
}

struct FirstLetterFuzzyWeight {
    field: Field,
    automaton: FirstLetterLevenshtein,
    found: Found,
}

impl FirstLetterFuzzyWeight {
    /// The documents of the segment holding a matching term, as tantivy's own automaton
    /// query gathers them.
    fn gather(&self, reader: &SegmentReader) -> tantivy::Result<BitSet> {
        let mut documents = BitSet::with_max_value(reader.max_doc());
        let inverted = reader.inverted_index(self.field)?;
        let mut terms = inverted.terms().search(&self.automaton).into_stream()?;
        while terms.advance() {
            let mut postings = inverted
                .read_block_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)?;
            while !postings.docs().is_empty() {
                for &doc in postings.docs() {
                    documents.insert(doc);
                }
                postings.advance();
            }
        }
        Ok(documents)
    }
}

impl Weight for FirstLetterFuzzyWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let segment = reader.segment_id();
        let known = self
            .found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&segment)
            .cloned();
        let documents = match known {
            Some(documents) => documents,
            None => {
                let documents = self.gather(reader)?;
                self.found
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(segment, documents.clone());
                documents
            }
        };
        Ok(Box::new(ConstScorer::new(
            BitSetDocSet::from(documents),
            boost,
        )))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new(
                "a spelling within the typo allowance",
                1.0,
            ))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} holds no spelling within the typo allowance"
            )))
        }
    }
}

struct FirstLetterLevenshtein {
    /// The UTF-8 bytes of the first letter, matched exactly.
    first: Vec<u8>,
    /// The Levenshtein automaton of the rest of the word.
    rest: DFA,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes of the first letter matched.
    FirstLetter(usize),
    /// In the automaton of the rest.
    Rest(u32),
    Rejected,
}

impl Automaton for FirstLetterLevenshtein {
    type State = State;

    fn start(&self) -> State {
        if self.first.is_empty() {
            State::Rest(self.rest.initial_state())
        } else {
            State::FirstLetter(0)
        }
    }

    fn is_match(&self, state: &State) -> bool {
        match state {
            State::Rest(rest) => matches!(self.rest.distance(*rest), Distance::Exact(_)),
            State::FirstLetter(_) | State::Rejected => false,
        }
    }

    fn can_match(&self, state: &State) -> bool {
        match state {
            State::FirstLetter(_) => true,
            State::Rest(rest) => *rest != SINK_STATE,
            State::Rejected => false,
        }
    }

    fn accept(&self, state: &State, byte: u8) -> State {
        match *state {
            State::FirstLetter(matched) if self.first.get(matched) == Some(&byte) => {
                if matched + 1 == self.first.len() {
                    State::Rest(self.rest.initial_state())
                } else {
                    State::FirstLetter(matched + 1)
                }
            }
            State::Rest(rest) => State::Rest(self.rest.transition(rest, byte)),
            State::FirstLetter(_) | State::Rejected => State::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(word: &str, distance: u8, term: &str) -> bool {
        let query = FirstLetterFuzzyQuery::new(Field::from_field_id(0), word, distance);
        let automaton = query.automaton();
        let mut state = automaton.start();
        for byte in term.bytes() {
            state = automaton.accept(&state, byte);
        }
        automaton.is_match(&state)
    }

    #[test]
    fn typos_after_the_first_letter_within_the_allowance() {
        assert!(accepts("sokha", 1, "sokha"));
        assert!(accepts("sokha", 1, "sokhaa"));
        assert!(accepts("sokha", 1, "soka"));
        assert!(accepts("sokha", 1, "sohka"), "a transposition is one edit");
        assert!(!accepts("sokha", 1, "sohkaa"));
        assert!(accepts("namukasa", 2, "namukassa"));
        assert!(accepts("namukasa", 2, "namkasaa"));
        assert!(!accepts("namukasa", 2, "nmkasaaa"));
    }

    #[test]
    fn the_first_letter_is_as_typed() {
        assert!(!accepts("sokha", 1, "tokha"));
        assert!(!accepts("sokha", 1, "okha"));
        assert!(
            accepts("élise", 1, "élyse"),
            "a letter of two bytes is one letter"
        );
        assert!(!accepts("élise", 1, "elise"));
    }
}
