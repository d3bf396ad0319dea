//! A birth date typed in a search, as credit added to the children the names found.
//!
//! As a union of the date's terms (its year and the years either side, its month, the day and
//! its near misses) the credit merged three years' posting lists, a quarter of all children,
//! into every search that names a date: at a million children that was two fifths of the
//! search's time (BENCHMARKS.md, "Search"). Here the credit is read from each found child's
//! own recorded dates (the `birth_dates` fast field) instead, and only for a child the names
//! found that the credit could still lift among the first hits ([`crate::index`]). A child
//! earns, for each typed date, the best credit among the terms its recorded dates hold, times
//! the BM25 score the term would have (so a full date counts more than a common year): the
//! score the terms' clause gave.
//!
//! A full date is worth far more than a year, so a bound from the best term alone let almost
//! every found child through to have its dates read (a fifth of the CPU of 32 officials'
//! searches at a million children). The rare terms (a day, a month) hold few children: their
//! posting lists are read first, and a child in none of them is bounded by the common terms
//! (its year and the years either side) alone.

use std::sync::{Arc, OnceLock};

use chrono::{Datelike, NaiveDate};
use tantivy::columnar::Column;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::{Bm25Weight, EnableScoring};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, SegmentReader, Term};

use crate::document::{day_term, month_term, year_term};
use crate::schema::BIRTH_DATES;

/// A part of a birth date a child can be found by, as indexed ([`crate::document`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BirthTerm {
    Year(i32),
    Month(i32, u32),
    Day(NaiveDate),
}

impl BirthTerm {
    /// The term of the `birth` field.
    pub fn text(self) -> String {
        match self {
            BirthTerm::Year(year) => year_term(year),
            BirthTerm::Month(year, month) => month_term(year, month),
            BirthTerm::Day(date) => day_term(date),
        }
    }

    /// Whether a recorded date is indexed with this term: an estimate by its year only.
    fn held_by(self, recorded: RecordedBirth) -> bool {
        match self {
            BirthTerm::Year(year) => recorded.year == year,
            BirthTerm::Month(year, month) => {
                !recorded.estimate && recorded.year == year && recorded.month == month
            }
            BirthTerm::Day(date) => {
                !recorded.estimate
                    && recorded.year == date.year()
                    && recorded.month == date.month()
                    && recorded.day == date.day()
            }
        }
    }
}

/// A birth date as the `birth_dates` fast field holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordedBirth {
    year: i32,
    month: u32,
    day: u32,
    estimate: bool,
}

/// A term held by at most one child in this many is rare: its children are read from its
/// posting list (at a million children a day holds some 150 and a month some 4,600; a year
/// holds 55,000, a twentieth, and is left to the bound).
const RARE_SHARE: u64 = 32;

/// The `birth_dates` value of a recorded date: `yyyymmdd`, doubled, plus one for an estimate
/// ([`crate::document::is_estimate`]), so it reads back without calendar arithmetic.
pub(crate) fn birth_value(date: NaiveDate, estimate: bool) -> i64 {
    let digits = i64::from(date.year()) * 10_000 + i64::from(date.month() * 100 + date.day());
    digits * 2 + i64::from(estimate)
}

fn recorded_birth(value: i64) -> RecordedBirth {
    let digits = value.div_euclid(2);
    // The parts of a value this module wrote; anything else matches no term.
    RecordedBirth {
        year: i32::try_from(digits.div_euclid(10_000)).unwrap_or(i32::MIN),
        month: u32::try_from(digits.div_euclid(100).rem_euclid(100)).unwrap_or(0),
        day: u32::try_from(digits.rem_euclid(100)).unwrap_or(0),
        estimate: value.rem_euclid(2) == 1,
    }
}

/// The typed dates of one search: each with its alternatives and their credit (a factor of
/// the BM25 score of the alternative's term).
#[derive(Debug, Clone)]
pub(crate) struct BirthCredit {
    typed: Vec<Vec<(BirthTerm, f32)>>,
    /// The `birth` text field, whose terms give each alternative's rarity.
    terms: Field,
}

impl BirthCredit {
    pub fn new(typed: Vec<Vec<(BirthTerm, f32)>>, terms: Field) -> Self {
        BirthCredit { typed, terms }
    }

    /// Each alternative's credit with the BM25 weight of its term in the searcher's index.
    pub fn scored(&self, scoring: EnableScoring<'_>) -> tantivy::Result<BirthCreditWeight> {
        let statistics = match scoring {
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => Some(statistics_provider),
            EnableScoring::Disabled { .. } => None,
        };
        let mut typed = Vec::with_capacity(self.typed.len());
        for alternatives in &self.typed {
            let mut weighted = Vec::with_capacity(alternatives.len());
            for (term, credit) in alternatives {
                let bm25 = match statistics {
                    Some(statistics) => {
                        let text = Term::from_field_text(self.terms, &term.text());
                        Some(Bm25Weight::for_terms(statistics, &[text])?.boost_by(*credit))
                    }
                    None => None,
                };
                weighted.push((*term, bm25));
            }
            typed.push(weighted);
        }
        Ok(BirthCreditWeight {
            typed: Arc::new(typed),
            terms: self.terms,
            most: OnceLock::new(),
        })
    }
}

/// Each typed date's alternatives, with the BM25 weight their term would score times their
/// credit (`None` when scoring is off).
type Alternatives = Arc<Vec<Vec<(BirthTerm, Option<Bm25Weight>)>>>;

pub(crate) struct BirthCreditWeight {
    typed: Alternatives,
    terms: Field,
    /// The most a child can earn, by field-length code of its birth terms.
    most: OnceLock<Arc<Vec<Score>>>,
}

impl BirthCreditWeight {
    /// The most a child holding this many birth terms (as a field-length code) can earn:
    /// the best alternative of every typed date.
    fn most_for_length(&self, length: u8) -> Score {
        best_of_each_date(
            self.typed
                .iter()
                .map(|alternatives| alternatives.iter().filter_map(|(_, bm25)| bm25.as_ref())),
            length,
        )
    }

    /// The credit of one segment's children.
    pub fn segment(&self, reader: &SegmentReader) -> tantivy::Result<SegmentBirthCredit> {
        let lengths = reader
            .fieldnorms_readers()
            .get_field(self.terms)?
            .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
        let postings = reader.inverted_index(self.terms)?;
        let mut rare_docs: Vec<DocId> = Vec::new();
        let mut common: Vec<Vec<Bm25Weight>> = Vec::with_capacity(self.typed.len());
        for alternatives in self.typed.iter() {
            let mut common_alternatives = Vec::new();
            for (term, bm25) in alternatives {
                let Some(bm25) = bm25 else { continue };
                let text = Term::from_field_text(self.terms, &term.text());
                let Some(info) = postings.get_term_info(&text)? else {
                    continue;
                };
                if u64::from(info.doc_freq) * RARE_SHARE > u64::from(reader.max_doc()) {
                    common_alternatives.push(bm25.clone());
                    continue;
                }
                let mut block =
                    postings.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
                while !block.docs().is_empty() {
                    rare_docs.extend_from_slice(block.docs());
                    block.advance();
                }
            }
            common.push(common_alternatives);
        }
        rare_docs.sort_unstable();
        rare_docs.dedup();
        Ok(SegmentBirthCredit {
            dates: reader.fast_fields().column_opt::<i64>(BIRTH_DATES)?,
            lengths,
            most: Arc::clone(self.most.get_or_init(|| {
                Arc::new(
                    (0..=u8::MAX)
                        .map(|length| self.most_for_length(length))
                        .collect(),
                )
            })),
            common,
            most_common: vec![Score::NAN; usize::from(u8::MAX) + 1],
            rare_docs,
            next_rare: 0,
            typed: Arc::clone(&self.typed),
            recorded: Vec::new(),
        })
    }
}

/// A typed date's credit for the children of one segment.
pub(crate) struct SegmentBirthCredit {
    dates: Option<Column<i64>>,
    /// How many birth terms each child holds: BM25 weighs a term of a child with several
    /// recorded dates less, as the term clause did.
    lengths: FieldNormReader,
    most: Arc<Vec<Score>>,
    /// Each typed date's common alternatives (their BM25 weight times their credit).
    common: Vec<Vec<Bm25Weight>>,
    /// The most a child holding none of the rare terms can earn, by field-length code (`NaN`
    /// until a child of that length asks).
    most_common: Vec<Score>,
    /// The children holding a rare term, in order.
    rare_docs: Vec<DocId>,
    /// The first of `rare_docs` not below the last child asked about.
    next_rare: usize,
    typed: Alternatives,
    recorded: Vec<RecordedBirth>,
}

impl SegmentBirthCredit {
    /// The most this child can earn, without reading its dates: from its number of birth
    /// terms, and whether it holds a rare term at all. Ask in increasing document order.
    pub fn most(&mut self, doc: DocId) -> Score {
        while self
            .rare_docs
            .get(self.next_rare)
            .is_some_and(|rare| *rare < doc)
        {
            self.next_rare += 1;
        }
        let length = self.lengths.fieldnorm_id(doc);
        if self.rare_docs.get(self.next_rare) == Some(&doc) {
            return self
                .most
                .get(usize::from(length))
                .copied()
                .unwrap_or(Score::MAX);
        }
        let most = &mut self.most_common[usize::from(length)];
        if most.is_nan() {
            *most = best_of_each_date(&self.common, length);
        }
        *most
    }

    pub fn of(&mut self, doc: DocId) -> Score {
        let Some(dates) = &self.dates else {
            return 0.0;
        };
        self.recorded.clear();
        self.recorded
            .extend(dates.values_for_doc(doc).map(recorded_birth));
        let length = self.lengths.fieldnorm_id(doc);
        let recorded = &self.recorded;
        best_of_each_date(
            self.typed.iter().map(|alternatives| {
                alternatives
                    .iter()
                    .filter(|(term, _)| recorded.iter().any(|date| term.held_by(*date)))
                    .filter_map(|(_, bm25)| bm25.as_ref())
            }),
            length,
        )
    }
}

/// The credit of a child holding `length` birth terms (as a field-length code): for each
/// typed date the best of the alternatives given, summed over the dates.
fn best_of_each_date<'a, Dates, Weights>(dates: Dates, length: u8) -> Score
where
    Dates: IntoIterator<Item = Weights>,
    Weights: IntoIterator<Item = &'a Bm25Weight>,
{
    dates
        .into_iter()
        .map(|weights| {
            weights
                .into_iter()
                .map(|bm25| bm25.score(length, 1))
                .fold(0.0, Score::max)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn recorded_dates_read_back() {
        for (text, estimate) in [("2015-03-07", false), ("2009-12-31", true)] {
            let recorded = recorded_birth(birth_value(date(text), estimate));
            assert_eq!(
                (
                    recorded.year,
                    recorded.month,
                    recorded.day,
                    recorded.estimate
                ),
                (
                    date(text).year(),
                    date(text).month(),
                    date(text).day(),
                    estimate
                )
            );
        }
    }

    #[test]
    fn an_estimate_holds_its_year_only() {
        let estimate = recorded_birth(birth_value(date("2015-06-30"), true));
        assert!(BirthTerm::Year(2015).held_by(estimate));
        assert!(!BirthTerm::Month(2015, 6).held_by(estimate));
        assert!(!BirthTerm::Day(date("2015-06-30")).held_by(estimate));
        let known = recorded_birth(birth_value(date("2015-06-29"), false));
        assert!(BirthTerm::Month(2015, 6).held_by(known));
        assert!(BirthTerm::Day(date("2015-06-29")).held_by(known));
        assert!(!BirthTerm::Day(date("2015-06-30")).held_by(known));
    }
}
