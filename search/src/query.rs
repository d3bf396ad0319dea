//! `GET /v1/search` parameters, their validation, and the tantivy query they become.
//!
//! Tantivy scores a fuzzy match like an exact one (tantivy issue #563), so each kind of match
//! is its own clause with its own weight. Each name word of the query scores the best of: an
//! exact match (a constant plus BM25, so rare names count more), a fuzzy match within the
//! typo allowance after the first letter (a constant below the exact one; see
//! [`crate::fuzzy`]) and a phonetic match (BM25 of the phonetic key: a rare-sounding name
//! counts more). Taking the best rather than the sum keeps one word matched three ways from
//! outweighing two words matched once. A birth date scores the best
//! of the same day, a near miss (day and month swapped, one year off) and the same month or
//! year, as BM25 times a factor, so a full date counts more than a common year. The weights
//! were tuned on the recall measurement in `BENCHMARKS.md` (`examples/quality.rs`, seed 11)
//! and are reported on another seed (7).

use chrono::{Datelike, NaiveDate};
use registry::model::{ChildData, Sex};
use registry::validate::identifier_key;
use registry::{ChildId, ReadScope};
use serde::{Deserialize, Serialize};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery, Occur, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;
use utoipa::{IntoParams, ToSchema};

use crate::birth_credit::{BirthCredit, BirthTerm};
use crate::document::{day_number, is_estimate, scope_district, sex_term, sound_keys};
use crate::flat::{Credit, FlatClause, FlatQuery};
use crate::fuzzy::FirstLetterFuzzyQuery;
use crate::schema::Fields;
use matching::normalize::{
    is_khmer, khmer_date_as_latin, name_phonetic_key, normalize, normalized_tokens,
};
use registry::dates::{
    is_date_number, is_khmer_month, month_named, read_written_date, read_written_month,
};

/// Most hits one page may hold.
pub const MAX_LIMIT: usize = 100;
pub const DEFAULT_LIMIT: usize = 20;
/// How deep a cursor may page (offset of the first hit).
pub const MAX_OFFSET: usize = 10_000;
/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// Query-string parameters of `GET /v1/search`, as received.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Free text: names in any order and spelling (Latin or Khmer script), a birth year
    /// (`2015`), year-month (`2015-03`, `March 2015`) or date (`2015-03-12`, `12/03/2015`,
    /// `12 March 2015`, `March 12, 2015`), in Latin or Khmer digits and months (`២០១៥`,
    /// `ថ្ងៃទី១២ ខែមីនា ឆ្នាំ២០១៥`), a child ID (hyphens optional, or spaces in their place) or
    /// another identifier. `April`, `May`, `June` and `August` beside a year alone are read
    /// as names. A date typed to the day (but 1 January and 30 June, read as guesses) also
    /// finds the children born that day whose names match none of the words.
    pub q: Option<String>,
    /// Only children whose district is this (case and accents ignored).
    pub district: Option<String>,
    /// `F`, `M`, `X` or `unknown`.
    pub sex: Option<String>,
    /// Born on or after: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub born_from: Option<String>,
    /// Born on or before: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub born_to: Option<String>,
    /// Only children holding a record from this source system.
    pub source_system: Option<String>,
    /// Hits per page, 1 to 100 (default 20).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A search request that passed validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRequest {
    pub text: String,
    pub district: Option<String>,
    pub sex: Option<Sex>,
    pub born_from: Option<NaiveDate>,
    pub born_to: Option<NaiveDate>,
    pub source_system: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

impl SearchRequest {
    /// A free-text request for the first page of `limit` hits.
    pub fn text(text: &str, limit: usize) -> Self {
        SearchRequest {
            text: text.to_owned(),
            limit,
            ..SearchRequest::default()
        }
    }
}

/// Why a search request was refused; `field` names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct InvalidParameter {
    pub code: &'static str,
    pub field: &'static str,
    pub detail: String,
}

fn invalid(code: &'static str, field: &'static str, detail: impl Into<String>) -> InvalidParameter {
    InvalidParameter {
        code,
        field,
        detail: detail.into(),
    }
}

/// Reads `YYYY-MM-DD`, `YYYY-MM` or `YYYY` (in Latin or Khmer digits) as the first
/// (`end == false`) or last day it names.
fn parse_date_bound(text: &str, end: bool) -> Option<NaiveDate> {
    let latin = khmer_date_as_latin(text);
    let parts: Vec<&str> = latin.trim().split('-').collect();
    let number = |part: &str, digits: usize| -> Option<u32> {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    match parts.as_slice() {
        [year] => {
            let year = number(year, 4)? as i32;
            if end {
                NaiveDate::from_ymd_opt(year, 12, 31)
            } else {
                NaiveDate::from_ymd_opt(year, 1, 1)
            }
        }
        [year, month] => {
            let (year, month) = (number(year, 4)? as i32, number(month, 2)?);
            let first = NaiveDate::from_ymd_opt(year, month, 1)?;
            if end {
                let next = first.checked_add_months(chrono::Months::new(1))?;
                next.pred_opt()
            } else {
                Some(first)
            }
        }
        [year, month, day] => {
            NaiveDate::from_ymd_opt(number(year, 4)? as i32, number(month, 2)?, number(day, 2)?)
        }
        _ => None,
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

impl SearchParams {
    pub fn parse(self) -> Result<SearchRequest, InvalidParameter> {
        let text = non_empty(self.q).unwrap_or_default();
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(
                "query_too_long",
                "q",
                format!("q is longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
        let district = non_empty(self.district);
        let sex = match non_empty(self.sex) {
            None => None,
            Some(sex) => Some(match sex.to_ascii_lowercase().as_str() {
                "f" => Sex::F,
                "m" => Sex::M,
                "x" => Sex::X,
                "unknown" => Sex::Unknown,
                _ => {
                    return Err(invalid(
                        "invalid_sex",
                        "sex",
                        format!("sex must be F, M, X or unknown, not '{sex}'"),
                    ))
                }
            }),
        };
        let date = |value: Option<String>, field: &'static str, end: bool| match non_empty(value) {
            None => Ok(None),
            Some(text) => parse_date_bound(&text, end).map(Some).ok_or_else(|| {
                invalid(
                    "invalid_date",
                    field,
                    format!("{field} must be a date (YYYY-MM-DD, YYYY-MM or YYYY), not '{text}'"),
                )
            }),
        };
        let born_from = date(self.born_from, "born_from", false)?;
        let born_to = date(self.born_to, "born_to", true)?;
        if let (Some(from), Some(to)) = (born_from, born_to) {
            if from > to {
                return Err(invalid(
                    "invalid_date_range",
                    "born_from",
                    format!("born_from ({from}) is after born_to ({to})"),
                ));
            }
        }
        let source_system = non_empty(self.source_system);
        let limit = match non_empty(self.limit) {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => {
                    return Err(invalid(
                        "limit_out_of_range",
                        "limit",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}, not '{text}'"),
                    ))
                }
            },
        };
        let offset = match non_empty(self.cursor) {
            None => 0,
            Some(text) => decode_cursor(&text).ok_or_else(|| {
                invalid(
                    "invalid_cursor",
                    "cursor",
                    "cursor must be the next_cursor of a previous page",
                )
            })?,
        };
        let has_words = text.chars().any(char::is_alphanumeric);
        let has_filter = district.is_some()
            || sex.is_some()
            || born_from.is_some()
            || born_to.is_some()
            || source_system.is_some();
        if !has_words && !has_filter {
            return Err(invalid(
                "empty_query",
                "q",
                "give a search text in q or at least one filter",
            ));
        }
        Ok(SearchRequest {
            text,
            district,
            sex,
            born_from,
            born_to,
            source_system,
            limit,
            offset,
        })
    }
}

/// Cursors are opaque to clients; today they carry the offset of the next page's first hit.
pub(crate) fn encode_cursor(offset: usize) -> String {
    format!("o{offset}")
}

fn decode_cursor(text: &str) -> Option<usize> {
    text.strip_prefix('o')?
        .parse::<usize>()
        .ok()
        .filter(|offset| *offset <= MAX_OFFSET)
}

/// Which part of a child's document a hit matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchedField {
    /// The child ID, exactly.
    ChildId,
    /// An identifier another system gave the child (birth registration, student number).
    Identifier,
    /// A name word, exactly (after normalisation).
    Name,
    /// A name word within the typo allowance.
    NameFuzzy,
    /// A name word that sounds the same.
    NamePhonetic,
    ParentName,
    Location,
    BirthDate,
}

/// The query for a request: the scoring clauses, one sub-query per [`MatchedField`] (so hits
/// can say what matched) and the filters every hit must pass.
pub(crate) struct QueryPlan {
    /// At least one must match (when there is text); their scores add up.
    pub scoring: Vec<Box<dyn Query>>,
    /// Birth dates typed in the text, as the terms that find children: they do so only when
    /// the text holds nothing else. A birth year (and the years either side) is shared by a
    /// fifth of all children: as a clause that may find children on its own, a search at a
    /// million children scored some 200,000 of them, none of which could rank above a child
    /// that also matches a name.
    pub births: Vec<Box<dyn Query>>,
    /// The same dates as credit added to the score of a child the other clauses found
    /// (`None` when there are none, or when nothing else finds children).
    pub birth_credit: Option<BirthCredit>,
    /// The scoring clauses as one flat union, the same scores in one pass
    /// ([`crate::flat`]); `None` for a text of more name words than it keeps apart.
    pub flat: Option<FlatQuery>,
    pub groups: Vec<(MatchedField, Box<dyn Query>)>,
    pub filters: Vec<Box<dyn Query>>,
    /// The text read as a child's record, for the matching model to rank the first hits
    /// ([`crate::rank`]); `None` when the text names no one.
    pub as_record: Option<ChildData>,
}

/// Weights of the clauses (see the module comment). Tuned on `examples/quality.rs` with seed
/// 11 and reported on seed 7 (BENCHMARKS.md); the birth-date weights multiply BM25 scores, so
/// a rare date (a full day) counts more than a common one (a year).
mod weight {
    pub const CHILD_ID: f32 = 1000.0;
    pub const IDENTIFIER: f32 = 50.0;
    /// An exact name word scores this plus its BM25 (rare names count more), which puts it
    /// above a fuzzy match of the same word.
    pub const NAME_EXACT: f32 = 2.0;
    pub const NAME_EXACT_BM25: f32 = 1.0;
    pub const NAME_FUZZY: f32 = 3.0;
    /// Multiplies the BM25 of the phonetic key: a rare-sounding name counts more.
    pub const NAME_PHONETIC_BM25: f32 = 1.0;
    /// Two query words found written as one, or one found as two.
    pub const NAME_RUN_TOGETHER_BM25: f32 = 0.5;
    pub const PARENT_EXACT_BM25: f32 = 0.3;
    pub const LOCATION_BM25: f32 = 0.3;
    /// The same date.
    pub const BIRTH_DAY: f32 = 2.0;
    /// Day and month swapped (07/03 read as 3 July).
    pub const BIRTH_DAY_TRANSPOSED: f32 = 1.4;
    /// The same day and month one year off.
    pub const BIRTH_DAY_YEAR_OFF: f32 = 1.2;
    pub const BIRTH_MONTH: f32 = 2.0;
    pub const BIRTH_YEAR: f32 = 2.0;
    /// One year off (estimated ages often are).
    pub const BIRTH_YEAR_OFF: f32 = 1.3;
}

/// Edit distance allowed for a word of this many characters.
pub(crate) fn typo_allowance(word: &str) -> u8 {
    match word.chars().count() {
        0..=2 => 0,
        3..=7 => 1,
        _ => 2,
    }
}

/// A birth date typed in free text, as precise as it was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypedBirth {
    Year(i32),
    Month(i32, u32),
    Day(NaiveDate),
}

/// Birth years a typed number can stand for: other four-digit numbers are identifiers.
fn plausible_birth_year(year: i32) -> bool {
    (1900..=2100).contains(&year)
}

/// A date typed in free text as one word: `2015`, `2015-03`, `2015-03-07`, `07/03/2015`,
/// `07.03.2015`, `07-Mar-2015`, `Mar-2015`, in Latin or Khmer digits (`២០១៥`, `ឆ្នាំ២០១៥`:
/// "year 2015"). Dates over several words are [`dates_in_words`].
fn typed_birth(token: &str) -> Option<TypedBirth> {
    let latin = khmer_date_as_latin(token);
    let token = latin.as_ref();
    let digits_only = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let dashed: Vec<&str> = token.split('-').collect();
    let date = match dashed.as_slice() {
        [year] if year.len() == 4 && digits_only(year) => {
            let year: i32 = year.parse().ok()?;
            return plausible_birth_year(year).then_some(TypedBirth::Year(year));
        }
        [year, month] if year.len() == 4 && digits_only(year) && digits_only(month) => {
            let date = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
            return plausible_birth_year(date.year())
                .then_some(TypedBirth::Month(date.year(), date.month()));
        }
        [year, month, day] if year.len() == 4 => {
            NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)?
        }
        // `07/03/2015`, `7.3.2015`, `07-Mar-2015`, `Mar-2015`, `03/2015`: as forms write them.
        _ => {
            if let Some(date) = read_written_date(token) {
                date
            } else {
                let (year, month) = read_written_month(token)?;
                return plausible_birth_year(year).then_some(TypedBirth::Month(year, month));
            }
        }
    };
    plausible_birth_year(date.year()).then_some(TypedBirth::Day(date))
}

/// Dates written in words across two or three of the query's words (`12 March 2015`,
/// `March 12, 2015`, `12th Mar 2015`, `March 2015`, `ថ្ងៃទី១២ ខែមីនា ឆ្នាំ២០១៥`): where each
/// starts, how many words it takes, and the date. Every word of one must be a number or a
/// month's name, so a name beside a date is never taken into it. A month and year alone is read
/// as a month only when the month's English name is not also a child's name (`April`, `May`,
/// `June`, `August`): in `June 2015` the word stays a name and the year is read alone, as a
/// typed date it could be either. A Khmer month (`ខែឧសភា`) is always a month.
fn dates_in_words(tokens: &[&str]) -> Vec<(usize, usize, TypedBirth)> {
    let month_of = |token: &str| month_named(token.trim_end_matches([',', '.']));
    let month_word = |token: &str| month_of(token).is_some();
    let date_word = |token: &str| month_word(token) || is_date_number(token.trim_end_matches(','));
    let also_a_name =
        |token: &str| !is_khmer_month(token) && matches!(month_of(token), Some(4 | 5 | 6 | 8));
    let mut found = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        let mut taken = None;
        for words in [3, 2] {
            let Some(span) = date_span(tokens, start, words) else {
                continue;
            };
            if !span
                .iter()
                .all(|token| date_word(token) || khmer_date_filler(token))
                || !span.iter().any(|token| month_word(token))
            {
                continue;
            }
            // "March 12, 2015", "12 Mar. 2015": read without the punctuation.
            let written = span
                .iter()
                .map(|token| token.trim_end_matches([',', '.']))
                .collect::<Vec<_>>()
                .join(" ");
            let birth = if words == 3 {
                read_written_date(&written)
                    .filter(|date| plausible_birth_year(date.year()))
                    .map(TypedBirth::Day)
            } else if span.iter().any(|token| also_a_name(token)) {
                None
            } else {
                read_written_month(&written)
                    .filter(|(year, _)| plausible_birth_year(*year))
                    .map(|(year, month)| TypedBirth::Month(year, month))
            };
            if let Some(birth) = birth {
                taken = Some((start, span.len(), birth));
                break;
            }
        }
        match taken {
            Some(date) => {
                start += date.1;
                found.push(date);
            }
            None => start += 1,
        }
    }
    found
}

/// The query's words from `start` that hold `words` of a date's parts, with the Khmer date
/// words written apart from them (`ថ្ងៃទី ១២ ខែ មីនា ឆ្នាំ ២០១៥`) taken in without counting.
fn date_span<'a>(tokens: &'a [&'a str], start: usize, words: usize) -> Option<&'a [&'a str]> {
    let mut counted = 0;
    for (end, token) in tokens.iter().enumerate().skip(start) {
        if !khmer_date_filler(token) {
            counted += 1;
        }
        if counted == words {
            return Some(&tokens[start..=end]);
        }
    }
    None
}

/// A word of the formal Khmer date written apart (ថ្ងៃទី "day", ខែ "month", ឆ្នាំ "year").
fn khmer_date_filler(token: &str) -> bool {
    token.chars().any(is_khmer) && khmer_date_as_latin(token).trim().is_empty()
}

/// The birth terms a typed date earns credit for, with the credit: the best one a child has
/// counts (a near miss, such as day and month swapped or one year off, earns part). A date
/// typed as an estimate ([`is_estimate`]) counts as its year only, as it is indexed.
fn birth_alternatives(birth: TypedBirth) -> Vec<(BirthTerm, f32)> {
    let years = |year: i32| {
        [
            (BirthTerm::Year(year), weight::BIRTH_YEAR),
            (BirthTerm::Year(year - 1), weight::BIRTH_YEAR_OFF),
            (BirthTerm::Year(year + 1), weight::BIRTH_YEAR_OFF),
        ]
    };
    match birth {
        TypedBirth::Year(year) => years(year).into(),
        TypedBirth::Month(year, month) => {
            let mut terms = vec![(BirthTerm::Month(year, month), weight::BIRTH_MONTH)];
            terms.extend(years(year));
            terms
        }
        TypedBirth::Day(date) if is_estimate(date, false) => years(date.year()).into(),
        TypedBirth::Day(date) => {
            let mut terms = vec![
                (BirthTerm::Day(date), weight::BIRTH_DAY),
                (
                    BirthTerm::Month(date.year(), date.month()),
                    weight::BIRTH_MONTH,
                ),
            ];
            if let Some(swapped) = NaiveDate::from_ymd_opt(date.year(), date.day(), date.month())
                .filter(|swapped| *swapped != date)
            {
                terms.push((BirthTerm::Day(swapped), weight::BIRTH_DAY_TRANSPOSED));
            }
            for year in [date.year() - 1, date.year() + 1] {
                if let Some(shifted) = date.with_year(year) {
                    terms.push((BirthTerm::Day(shifted), weight::BIRTH_DAY_YEAR_OFF));
                }
            }
            terms.extend(years(date.year()));
            terms
        }
    }
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

fn constant(query: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, score))
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

/// The caller's read scope as a query, the same rule the registry's reads apply: an agency
/// sees the children it holds a record for, a district reader the children any of whose
/// records is in the district.
/// `None` when the caller sees every child.
fn scope_filter(fields: &Fields, scope: &ReadScope) -> Option<Box<dyn Query>> {
    match scope {
        ReadScope::All => None,
        ReadScope::SourceSystem(system) => Some(term_query(fields.agencies, system)),
        ReadScope::District(district) => Some(term_query(
            fields.scope_districts,
            &scope_district(district),
        )),
        ReadScope::Nothing => Some(Box::new(EmptyQuery)),
    }
}

/// Filters a hit must pass, including the caller's scope: applied inside the query, so
/// counts and pages only ever contain children the caller may see.
fn filters(fields: &Fields, request: &SearchRequest, scope: &ReadScope) -> Vec<Box<dyn Query>> {
    let mut filters: Vec<Box<dyn Query>> = scope_filter(fields, scope).into_iter().collect();
    if let Some(system) = &request.source_system {
        filters.push(term_query(fields.agencies, system));
    }
    if let Some(district) = &request.district {
        filters.push(term_query(fields.district, &normalize(district)));
    }
    if let Some(sex) = request.sex {
        filters.push(term_query(fields.sex, sex_term(sex)));
    }
    if request.born_from.is_some() || request.born_to.is_some() {
        let bound = |date: Option<NaiveDate>| match date {
            Some(date) => {
                std::ops::Bound::Included(Term::from_field_i64(fields.birth_day, day_number(date)))
            }
            None => std::ops::Bound::Unbounded,
        };
        filters.push(Box::new(RangeQuery::new(
            bound(request.born_from),
            bound(request.born_to),
        )));
    }
    filters
}

pub(crate) fn plan(fields: &Fields, request: &SearchRequest, scope: &ReadScope) -> QueryPlan {
    let mut scoring: Vec<Box<dyn Query>> = Vec::new();
    let mut births: Vec<Box<dyn Query>> = Vec::new();
    let mut birth_credit: Vec<Vec<(BirthTerm, f32)>> = Vec::new();
    let mut matches: Vec<(MatchedField, Box<dyn Query>)> = Vec::new();
    let mut flat: Vec<FlatClause> = Vec::new();
    let mut name_words: Vec<String> = Vec::new();
    let mut name_tokens: Vec<&str> = Vec::new();
    let mut birth_day: Option<NaiveDate> = None;
    let mut day_finders: Vec<Box<dyn Query>> = Vec::new();
    let tokens: Vec<&str> = request.text.split_whitespace().collect();
    let whole_ids: Vec<Option<ChildId>> = tokens.iter().map(|token| token.parse().ok()).collect();
    let typed_ids = whole_ids
        .iter()
        .flatten()
        .copied()
        .chain(child_ids_in_parts(&tokens));
    for child_id in typed_ids {
        let query = term_query(fields.child_id, &child_id.to_string());
        let clause = (MatchedField::ChildId, weight::CHILD_ID);
        push_exact(query, clause, &mut scoring, &mut flat, &mut matches);
    }
    let typed_dates = dates_in_words(&tokens);
    let mut index = 0;
    while index < tokens.len() {
        let (token, whole_id) = (tokens[index], whole_ids[index]);
        let birth = match typed_dates.iter().find(|(start, _, _)| *start == index) {
            Some((_, words, birth)) => {
                index += words;
                Some(*birth)
            }
            None => {
                index += 1;
                if whole_id.is_some() {
                    continue;
                }
                typed_birth(token)
            }
        };
        if let Some(birth) = birth {
            if let TypedBirth::Day(date) = birth {
                birth_day = Some(date);
                if !is_estimate(date, false) {
                    day_finders.push(term_query(fields.birth, &BirthTerm::Day(date).text()));
                }
            }
            let alternatives = birth_alternatives(birth);
            let queries: Vec<Box<dyn Query>> = alternatives
                .iter()
                .map(|(term, credit)| boosted(term_query(fields.birth, &term.text()), *credit))
                .collect();
            let best: Box<dyn Query> = Box::new(DisjunctionMaxQuery::new(queries));
            matches.push((MatchedField::BirthDate, best.box_clone()));
            births.push(best);
            birth_credit.push(alternatives);
            continue;
        }
        let key = identifier_key(token);
        if key.chars().count() >= 4 && key.chars().any(|c| c.is_ascii_digit()) {
            let query = term_query(fields.ids, &key);
            let clause = (MatchedField::Identifier, weight::IDENTIFIER);
            push_exact(query, clause, &mut scoring, &mut flat, &mut matches);
        }
        let words = normalized_tokens(token);
        if !words.is_empty() && !token.chars().any(|c| c.is_ascii_digit()) {
            name_tokens.push(token);
        }
        for word in words {
            let clauses = name_word_clauses(fields, &word, &mut matches);
            scoring.push(clauses.nested);
            let word_index = name_words.len();
            flat.extend(clauses.flat.into_iter().map(|mut clause| {
                if clause.word.is_some() {
                    clause.word = Some(word_index);
                }
                clause
            }));
            name_words.push(word);
        }
    }
    // Two words that one agency may write as one name (Srey Mom, Sreymom), and one word
    // that may be two run together (Khmer script has no spaces): their sound together.
    for pair in name_words.windows(2) {
        let key = name_phonetic_key(&pair.concat());
        if key.chars().count() >= 2 {
            let query = term_query(fields.names_phonetic, &key);
            scoring.push(boosted(query.box_clone(), weight::NAME_RUN_TOGETHER_BM25));
            flat.push(FlatClause {
                query: query.box_clone(),
                word: None,
                credit: Credit::Bm25(weight::NAME_RUN_TOGETHER_BM25),
            });
            matches.push((MatchedField::NamePhonetic, query));
        }
    }
    let mut groups: Vec<(MatchedField, Vec<Box<dyn Query>>)> = Vec::new();
    for (field, clause) in matches {
        match groups.iter_mut().find(|(existing, _)| *existing == field) {
            Some((_, group)) => group.push(clause),
            None => groups.push((field, vec![clause])),
        }
    }
    let text_finds = !scoring.is_empty();
    // A typed day finds the children born on it even when no name word does (every word
    // slipped: `aDra Kheu` for a child indexed as Dara Kheav): the date's credit is then all
    // they score, which ranks them below any child the names found with the same credit.
    if text_finds {
        for day in day_finders {
            scoring.push(constant(day.box_clone(), 0.0));
            flat.push(FlatClause {
                query: day,
                word: None,
                credit: Credit::Constant(0.0),
            });
        }
    }
    QueryPlan {
        scoring,
        births,
        flat: FlatQuery::new(flat),
        birth_credit: (!birth_credit.is_empty() && text_finds)
            .then(|| BirthCredit::new(birth_credit, fields.birth)),
        groups: groups
            .into_iter()
            .map(|(field, queries)| {
                let query: Box<dyn Query> = Box::new(BooleanQuery::union(queries));
                (field, query)
            })
            .collect(),
        filters: filters(fields, request, scope),
        as_record: query_as_record(&name_tokens, birth_day),
    }
}

/// An exact clause worth the same to every child it finds (a child ID, an identifier): in the
/// nested query, in the flat union, and as the field it shows matched.
fn push_exact(
    query: Box<dyn Query>,
    (field, credit): (MatchedField, f32),
    scoring: &mut Vec<Box<dyn Query>>,
    flat: &mut Vec<FlatClause>,
    matches: &mut Vec<(MatchedField, Box<dyn Query>)>,
) {
    scoring.push(constant(query.box_clone(), credit));
    flat.push(FlatClause {
        query: query.box_clone(),
        word: None,
        credit: Credit::Constant(credit),
    });
    matches.push((field, query));
}

/// Child IDs typed in parts, with spaces where the printed ID has hyphens (`P8BS 80WV Z59F
/// J`, read out from a card): runs of two or more consecutive words that together make a
/// valid ID. The check character keeps names from passing for one but by chance (1 in 37 of
/// the runs of the right length), so the words are still read as words too: an ID that is
/// no child's finds nothing.
fn child_ids_in_parts(tokens: &[&str]) -> Vec<ChildId> {
    let mut found = Vec::new();
    for start in 0..tokens.len() {
        let mut joined = String::new();
        for (count, token) in tokens[start..].iter().enumerate() {
            joined.push_str(token);
            if joined.chars().filter(|c| *c != '-').count() > ChildId::SYMBOLS {
                break;
            }
            if count > 0 {
                if let Ok(child_id) = joined.parse::<ChildId>() {
                    found.push(child_id);
                    break;
                }
            }
        }
    }
    found
}

/// Names typed in a search read as a record: the last word the family name, the words before
/// it the given name (the model also compares the two swapped, and reads a whole name in one
/// field both ways), with a birth date typed to the day. A year or a month typed alone is
/// left to the index's own date clauses: as a record's date it would read as a guess.
fn query_as_record(name_tokens: &[&str], birth_day: Option<NaiveDate>) -> Option<ChildData> {
    let (family, given) = name_tokens.split_last()?;
    let mut record = ChildData {
        date_of_birth: birth_day,
        ..ChildData::default()
    };
    if given.is_empty() {
        record.given_name = Some((*family).to_owned());
    } else {
        record.given_name = Some(given.join(" "));
        record.family_name = Some((*family).to_owned());
    }
    Some(record)
}

/// One name word's clauses: nested (its best match among them as one query: the form for a
/// text past [`crate::flat::MAX_WORDS`] name words, and the reference the flat form is tested
/// against) and flat.
struct NameWordClauses {
    nested: Box<dyn Query>,
    /// Every clause with its credit; those competing for the word's best match name word 0.
    flat: Vec<FlatClause>,
}

/// The clauses of one name word. The child's own names score the best of an exact, a fuzzy
/// and a phonetic (or nickname) match, not their sum, so a word matched three ways does not
/// outweigh two words matched once; parents' names and places, written exactly, add a little
/// on top (a fuzzy clause on parents' names cost a third of a search at a million children
/// and moved no true child into the first five: BENCHMARKS.md).
fn name_word_clauses(
    fields: &Fields,
    word: &str,
    matches: &mut Vec<(MatchedField, Box<dyn Query>)>,
) -> NameWordClauses {
    let mut flat: Vec<FlatClause> = Vec::new();
    let mut best = |query: &dyn Query, credit: Credit| {
        flat.push(FlatClause {
            query: query.box_clone(),
            word: Some(0),
            credit,
        })
    };
    let exact = term_query(fields.names, word);
    let mut alternatives: Vec<Box<dyn Query>> = vec![Box::new(BooleanQuery::union(vec![
        constant(exact.box_clone(), weight::NAME_EXACT),
        boosted(exact.box_clone(), weight::NAME_EXACT_BM25),
    ]))];
    best(
        exact.as_ref(),
        Credit::ConstantPlusBm25(weight::NAME_EXACT, weight::NAME_EXACT_BM25),
    );
    matches.push((MatchedField::Name, exact));
    let distance = typo_allowance(word);
    if distance > 0 {
        let query: Box<dyn Query> =
            Box::new(FirstLetterFuzzyQuery::new(fields.names, word, distance));
        alternatives.push(constant(query.box_clone(), weight::NAME_FUZZY));
        best(query.as_ref(), Credit::Constant(weight::NAME_FUZZY));
        matches.push((MatchedField::NameFuzzy, query));
    }
    for key in sound_keys(word) {
        let query = term_query(fields.names_phonetic, &key);
        alternatives.push(boosted(query.box_clone(), weight::NAME_PHONETIC_BM25));
        best(query.as_ref(), Credit::Bm25(weight::NAME_PHONETIC_BM25));
        matches.push((MatchedField::NamePhonetic, query));
    }
    let nested: Box<dyn Query> = Box::new(DisjunctionMaxQuery::new(alternatives));

    let parent = term_query(fields.parents, word);
    let place = term_query(fields.location, word);
    for (query, credit) in [
        (&parent, weight::PARENT_EXACT_BM25),
        (&place, weight::LOCATION_BM25),
    ] {
        flat.push(FlatClause {
            query: query.box_clone(),
            word: None,
            credit: Credit::Bm25(credit),
        });
    }
    let nested: Box<dyn Query> = Box::new(BooleanQuery::union(vec![
        nested,
        boosted(parent.box_clone(), weight::PARENT_EXACT_BM25),
        boosted(place.box_clone(), weight::LOCATION_BM25),
    ]));
    matches.push((MatchedField::ParentName, parent));
    matches.push((MatchedField::Location, place));
    NameWordClauses { nested, flat }
}

impl QueryPlan {
    /// The query that finds the children, scored but for the birth credit: at least one
    /// scoring clause must match (when there is text), every filter must match.
    pub fn finding_query(&self) -> Box<dyn Query> {
        self.finding_query_with(self.flat.is_some())
    }

    /// [`QueryPlan::finding_query`] with the scoring clauses nested or flat (when there is a
    /// flat form).
    pub(crate) fn finding_query_with(&self, flat: bool) -> Box<dyn Query> {
        let union = |queries: &[Box<dyn Query>]| -> Box<dyn Query> {
            Box::new(BooleanQuery::union(
                queries.iter().map(|query| query.box_clone()).collect(),
            ))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if self.scoring.is_empty() {
            if !self.births.is_empty() {
                clauses.push((Occur::Must, union(&self.births)));
            }
        } else {
            let scoring: Box<dyn Query> = match &self.flat {
                Some(flat_query) if flat => Box::new(flat_query.clone()),
                _ => union(&self.scoring),
            };
            clauses.push((Occur::Must, scoring));
        }
        for filter in &self.filters {
            clauses.push((Occur::Must, constant(filter.box_clone(), 0.0)));
        }
        if clauses.is_empty() {
            return Box::new(EmptyQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> SearchParams {
        let mut params = SearchParams::default();
        for (name, value) in pairs {
            let value = Some((*value).to_owned());
            match *name {
                "q" => params.q = value,
                "district" => params.district = value,
                "sex" => params.sex = value,
                "born_from" => params.born_from = value,
                "born_to" => params.born_to = value,
                "source_system" => params.source_system = value,
                "limit" => params.limit = value,
                "cursor" => params.cursor = value,
                other => panic!("no parameter {other}"),
            }
        }
        params
    }

    fn refused(pairs: &[(&str, &str)]) -> (&'static str, &'static str) {
        let error = params(pairs).parse().unwrap_err();
        (error.code, error.field)
    }

    #[test]
    fn a_child_id_typed_with_spaces_is_read_as_one() {
        let child_id = ChildId::from_value(0x0123_4567_89ab).unwrap();
        let printed = child_id.to_string();
        let spaced = printed.replace('-', " ");
        let (first, rest) = printed.split_at(6);
        let found = |text: &str| {
            let tokens: Vec<&str> = text.split_whitespace().collect();
            child_ids_in_parts(&tokens)
        };
        assert_eq!(found(&format!("Grace {spaced} 2012")), [child_id]);
        assert_eq!(found(&spaced.to_lowercase()), [child_id]);
        assert_eq!(found(&format!("{first} {rest}")), [child_id]);
        // One word is the single-token path's; a wrong check character is no ID.
        assert!(found(&printed).is_empty());
        let (mistyped, _) = spaced.split_at(spaced.len() - 1);
        let check = spaced.chars().last().unwrap();
        let other = if check == 'A' { 'B' } else { 'A' };
        assert!(found(&format!("{mistyped}{other}")).is_empty());
        assert!(found("Sokha Chan 2019 Mony Dara").is_empty());
    }

    #[test]
    fn bad_input_is_refused_naming_the_parameter() {
        assert_eq!(refused(&[]), ("empty_query", "q"));
        assert_eq!(refused(&[("q", "  ")]), ("empty_query", "q"));
        assert_eq!(refused(&[("q", "--")]), ("empty_query", "q"));
        assert_eq!(
            refused(&[("q", "a"), ("limit", "0")]),
            ("limit_out_of_range", "limit")
        );
        assert_eq!(
            refused(&[("q", "a"), ("limit", "101")]),
            ("limit_out_of_range", "limit")
        );
        assert_eq!(
            refused(&[("q", "a"), ("limit", "ten")]),
            ("limit_out_of_range", "limit")
        );
        assert_eq!(
            refused(&[("q", "a"), ("born_from", "2015-13")]),
            ("invalid_date", "born_from")
        );
        assert_eq!(
            refused(&[("born_to", "yesterday")]),
            ("invalid_date", "born_to")
        );
        assert_eq!(
            refused(&[("born_from", "2016"), ("born_to", "2015")]),
            ("invalid_date_range", "born_from")
        );
        assert_eq!(refused(&[("sex", "female")]), ("invalid_sex", "sex"));
        assert_eq!(
            refused(&[("q", "a"), ("cursor", "x")]),
            ("invalid_cursor", "cursor")
        );
    }

    #[test]
    fn filters_alone_are_a_query() {
        let request = params(&[
            ("district", "Gulu"),
            ("born_from", "2015"),
            ("born_to", "2016-02"),
        ])
        .parse()
        .unwrap();
        assert_eq!(request.born_from, NaiveDate::from_ymd_opt(2015, 1, 1));
        assert_eq!(request.born_to, NaiveDate::from_ymd_opt(2016, 2, 29));
        assert_eq!(request.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn cursors_round_trip() {
        let request = params(&[("q", "x"), ("cursor", &encode_cursor(40))])
            .parse()
            .unwrap();
        assert_eq!(request.offset, 40);
    }

    #[test]
    fn dates_in_free_text() {
        let day = |text: &str| TypedBirth::Day(text.parse().unwrap());
        assert_eq!(typed_birth("2015"), Some(TypedBirth::Year(2015)));
        assert_eq!(typed_birth("2015-03"), Some(TypedBirth::Month(2015, 3)));
        assert_eq!(typed_birth("07/03/2015"), Some(day("2015-03-07")));
        assert_eq!(typed_birth("2015-3-7"), Some(day("2015-03-07")));
        assert_eq!(typed_birth("1234"), None);
        assert_eq!(typed_birth("2015-02-30"), None);
        assert_eq!(typed_birth("halima"), None);
        // Khmer digits, and the year as a Khmer form writes it ("ឆ្នាំ២០១៥": year 2015).
        assert_eq!(typed_birth("២០១៥"), Some(TypedBirth::Year(2015)));
        assert_eq!(typed_birth("ឆ្នាំ២០១៥"), Some(TypedBirth::Year(2015)));
        assert_eq!(typed_birth("០៧/០៣/២០១៥"), Some(day("2015-03-07")));
        assert_eq!(typed_birth("សុខា"), None);
        assert_eq!(typed_birth("07-Mar-2015"), Some(day("2015-03-07")));
        assert_eq!(typed_birth("Mar-2015"), Some(TypedBirth::Month(2015, 3)));
        assert_eq!(typed_birth("07/03/1850"), None);
        assert_eq!(
            parse_date_bound("២០១៥-០៣", true),
            NaiveDate::from_ymd_opt(2015, 3, 31)
        );
    }

    #[test]
    fn dates_written_in_words() {
        let day = |text: &str| TypedBirth::Day(text.parse().unwrap());
        let read = |text: &str| {
            let tokens: Vec<&str> = text.split_whitespace().collect();
            dates_in_words(&tokens)
        };
        assert_eq!(
            read("Akello 12 March 2015"),
            vec![(1, 3, day("2015-03-12"))]
        );
        assert_eq!(
            read("March 12, 2015 Akello"),
            vec![(0, 3, day("2015-03-12"))]
        );
        assert_eq!(
            read("Halima 3rd feb 2019 Akello"),
            vec![(1, 3, day("2019-02-03"))]
        );
        assert_eq!(read("12 June 2015"), vec![(0, 3, day("2015-06-12"))]);
        assert_eq!(read("12 Mar. 2015"), vec![(0, 3, day("2015-03-12"))]);
        assert_eq!(read("Sept. 12, 2015"), vec![(0, 3, day("2015-09-12"))]);
        assert_eq!(
            read("Sokha March 2015"),
            vec![(1, 2, TypedBirth::Month(2015, 3))]
        );
        assert_eq!(
            read("សុខា ថ្ងៃទី១២ ខែមីនា ឆ្នាំ២០១៥"),
            vec![(1, 3, day("2015-03-12"))]
        );
        assert_eq!(
            read("ខែឧសភា ឆ្នាំ២០១៥"),
            vec![(0, 2, TypedBirth::Month(2015, 5))]
        );
        // The formal date's words written apart from the numbers and the month.
        assert_eq!(
            read("សុខា ថ្ងៃទី ១២ ខែ មីនា ឆ្នាំ ២០១៥ ចាន់"),
            vec![(1, 6, day("2015-03-12"))]
        );
        assert_eq!(
            read("ខែ ឧសភា ឆ្នាំ ២០១៥"),
            vec![(0, 4, TypedBirth::Month(2015, 5))]
        );
        // June, May, April, August are children's names too: with a year alone they stay names.
        assert_eq!(read("June 2015"), vec![]);
        assert_eq!(read("Akello May 2015"), vec![]);
        // A name beside a date is never read into it, nor a number without a month.
        assert_eq!(read("Akello 2015"), vec![]);
        assert_eq!(read("12 03 2015"), vec![]);
        assert_eq!(read("Marsh 12 2015"), vec![]);
        assert_eq!(read("12 March 1850"), vec![]);
    }

    #[test]
    fn near_miss_dates_earn_part_of_the_credit() {
        let credit = |typed: &str, term: &str| {
            birth_alternatives(typed_birth(typed).unwrap())
                .into_iter()
                .find(|(candidate, _)| candidate.text() == term)
                .map(|(_, credit)| credit)
        };
        // Factors of BM25: a full date is rarer than its month or year, so it scores more at
        // the same factor; a near miss scores a part of it.
        let exact = credit("2015-03-07", "2015-03-07").unwrap();
        let swapped = credit("2015-03-07", "2015-07-03").unwrap();
        let year_off = credit("2015-03-07", "2016-03-07").unwrap();
        assert!(
            exact > swapped && exact > year_off,
            "{exact} {swapped} {year_off}"
        );
        assert!(credit("2015-03-07", "2015-03").is_some());
        assert!(credit("2015-03-07", "2014").unwrap() < credit("2015-03-07", "2015").unwrap());
        // An estimate (1 January, 30 June) counts as its year only.
        assert_eq!(credit("2015-01-01", "2015-01-01"), None);
        assert_eq!(credit("2015-06-30", "2015"), Some(weight::BIRTH_YEAR));
    }

    #[test]
    fn typo_allowance_grows_with_length() {
        assert_eq!(typo_allowance("ok"), 0);
        assert_eq!(typo_allowance("sok"), 1);
        assert_eq!(typo_allowance("dara"), 1);
        assert_eq!(typo_allowance("nakato"), 1);
        assert_eq!(typo_allowance("namukasa"), 2);
    }
}
