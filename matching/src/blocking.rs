//! Blocking: which pairs are worth comparing.
//!
//! Each rule turns a record into zero or more keys (the cartesian product of
//! its expressions' outputs); two records are a candidate pair when they share
//! a key of the same rule. The union over rules keeps recall high while every
//! rule stays specific enough that blocks are small, so the candidate pairs
//! grow about linearly with the records. Blocks above
//! [`crate::spec::Thresholds::max_block_size`] are skipped and counted.

use std::collections::BTreeSet;

use crate::compare::DateValue;
use crate::error::{MatchError, Result};
use crate::model::parse_date;
use crate::normalize::{
    is_placeholder_name, name_phonetic_key, normalize, normalize_place, phonetic_key,
    place_skeleton, spoken_place, tokens,
};
use crate::record::Record;

/// Longest run of tokens of one name that produce keys (the rest are middle names).
const MAX_TOKENS: usize = 3;

/// One expression of a blocking rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyExpr {
    Exact(String),
    Phonetic(Vec<String>),
    PhoneticPair(String, String),
    Prefix(String, usize),
    Initial(String),
    Year(String),
    Month(String),
    Day(String),
    MonthDay(String),
    SortedTokens(Vec<String>),
    Place(String),
    PlacePhonetic(String),
    PlaceSkeleton(String),
    SkeletonPair(String, String),
    /// The birth year and the nearer neighbouring one; both neighbours when the
    /// second column flags the date as estimated or it is written as a guess
    /// (1 January, 30 June).
    YearBand(String, Option<String>),
    PhoneticAll(String),
}

impl KeyExpr {
    /// Parse `fn(col, ...)`; `known` says whether a column exists.
    pub fn parse(s: &str, known: &dyn Fn(&str) -> bool) -> Result<Self> {
        let bad = |why: &str| MatchError::InvalidModel(format!("blocking key `{s}`: {why}"));
        let s = s.trim();
        let (func, args) = match s.find('(') {
            Some(open) if s.ends_with(')') => {
                let args: Vec<String> = s[open + 1..s.len() - 1]
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect();
                (&s[..open], args)
            }
            _ => ("exact", vec![s.to_string()]),
        };
        let cols = |n: usize| -> Result<Vec<String>> {
            if args.len() < n {
                return Err(bad("missing column"));
            }
            Ok(args.clone())
        };
        let check = |c: &str| -> Result<()> {
            if known(c) {
                Ok(())
            } else {
                Err(bad(&format!("unknown column `{c}`")))
            }
        };
        let expr = match func.trim() {
            "exact" => KeyExpr::Exact(cols(1)?[0].clone()),
            "phonetic" => KeyExpr::Phonetic(cols(1)?),
            "phonetic_pair" => {
                let c = cols(2)?;
                KeyExpr::PhoneticPair(c[0].clone(), c[1].clone())
            }
            "prefix" => {
                let c = cols(2)?;
                let n = c[1]
                    .parse()
                    .map_err(|_| bad("prefix length must be a number"))?;
                KeyExpr::Prefix(c[0].clone(), n)
            }
            "initial" => KeyExpr::Initial(cols(1)?[0].clone()),
            "year" => KeyExpr::Year(cols(1)?[0].clone()),
            "month" => KeyExpr::Month(cols(1)?[0].clone()),
            "day" => KeyExpr::Day(cols(1)?[0].clone()),
            "month_day" => KeyExpr::MonthDay(cols(1)?[0].clone()),
            "sorted_tokens" => KeyExpr::SortedTokens(cols(1)?),
            "place" => KeyExpr::Place(cols(1)?[0].clone()),
            "phonetic_all" => KeyExpr::PhoneticAll(cols(1)?[0].clone()),
            "place_phonetic" => KeyExpr::PlacePhonetic(cols(1)?[0].clone()),
            "place_skeleton" => KeyExpr::PlaceSkeleton(cols(1)?[0].clone()),
            "skeleton_pair" => {
                let c = cols(2)?;
                KeyExpr::SkeletonPair(c[0].clone(), c[1].clone())
            }
            "year_band" => {
                let c = cols(1)?;
                KeyExpr::YearBand(c[0].clone(), c.get(1).cloned())
            }
            other => return Err(bad(&format!("unknown function `{other}`"))),
        };
        for c in expr.columns() {
            check(c)?;
        }
        Ok(expr)
    }

    /// Columns the expression reads.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            KeyExpr::Exact(c)
            | KeyExpr::Prefix(c, _)
            | KeyExpr::Initial(c)
            | KeyExpr::Year(c)
            | KeyExpr::Month(c)
            | KeyExpr::Day(c)
            | KeyExpr::MonthDay(c)
            | KeyExpr::Place(c)
            | KeyExpr::PhoneticAll(c)
            | KeyExpr::PlacePhonetic(c)
            | KeyExpr::PlaceSkeleton(c)
            | KeyExpr::YearBand(c, None) => vec![c.as_str()],
            KeyExpr::YearBand(c, Some(flag)) => vec![c.as_str(), flag.as_str()],
            KeyExpr::Phonetic(cs) | KeyExpr::SortedTokens(cs) => {
                cs.iter().map(String::as_str).collect()
            }
            KeyExpr::PhoneticPair(a, b) | KeyExpr::SkeletonPair(a, b) => {
                vec![a.as_str(), b.as_str()]
            }
        }
    }

    /// The expression's keys for a record (empty when its columns are missing).
    pub fn eval(&self, record: &Record, dm: &rphonetic::DoubleMetaphone) -> Vec<String> {
        self.eval_cached(record, dm, &mut KeyCache::default())
    }

    /// [`KeyExpr::eval`], reusing the word codes of columns that other
    /// expressions of the same record already encoded.
    fn eval_cached<'m>(
        &'m self,
        record: &Record,
        dm: &rphonetic::DoubleMetaphone,
        cache: &mut KeyCache<'m>,
    ) -> Vec<String> {
        let norm = |c: &str| record.get(c).map(normalize).filter(|s| !s.is_empty());
        let date = |c: &str| record.get(c).and_then(|v| DateValue::parse(v, false));
        match self {
            KeyExpr::Exact(c) => norm(c).into_iter().collect(),
            KeyExpr::Phonetic(cs) => {
                let set: BTreeSet<String> = cs
                    .iter()
                    .flat_map(|c| cache.word_codes(record, c, WordCode::Phonetic(dm)))
                    .collect();
                set.into_iter().collect()
            }
            KeyExpr::PhoneticPair(a, b) => name_pairs(
                &cache.word_codes(record, a, WordCode::Phonetic(dm)),
                &cache.word_codes(record, b, WordCode::Phonetic(dm)),
            ),
            KeyExpr::SkeletonPair(a, b) => name_pairs(
                &cache.word_codes(record, a, WordCode::Skeleton),
                &cache.word_codes(record, b, WordCode::Skeleton),
            ),
            KeyExpr::Prefix(c, n) => norm(c)
                .map(|s| s.chars().filter(|c| *c != ' ').take(*n).collect::<String>())
                .into_iter()
                .collect(),
            KeyExpr::Initial(c) => norm(c)
                .and_then(|s| s.chars().next())
                .map(String::from)
                .into_iter()
                .collect(),
            KeyExpr::Year(c) => date(c).map(|d| d.year.to_string()).into_iter().collect(),
            KeyExpr::Month(c) => date(c).map(|d| d.month.to_string()).into_iter().collect(),
            KeyExpr::Day(c) => date(c).map(|d| d.day.to_string()).into_iter().collect(),
            KeyExpr::MonthDay(c) => date(c)
                .map(|d| {
                    let (lo, hi) = (d.month.min(d.day), d.month.max(d.day));
                    format!("{lo}/{hi}")
                })
                .into_iter()
                .collect(),
            KeyExpr::PhoneticAll(c) => {
                let mut codes = cache.word_codes(record, c, WordCode::Phonetic(dm));
                if codes.is_empty() {
                    return Vec::new();
                }
                codes.sort();
                vec![codes.join(" ")]
            }
            KeyExpr::Place(c) => record
                .get(c)
                .map(normalize_place)
                .filter(|s| !s.is_empty())
                .into_iter()
                .collect(),
            KeyExpr::PlacePhonetic(c) => record
                .get(c)
                .map(|place| spoken_place(&normalize_place(place)))
                .filter(|s| !s.is_empty())
                .map(|s| phonetic_key(dm, &s))
                .into_iter()
                .collect(),
            KeyExpr::PlaceSkeleton(c) => record
                .get(c)
                .map(|place| place_skeleton(&normalize_place(place)))
                .filter(|s| !s.is_empty())
                .into_iter()
                .collect(),
            KeyExpr::YearBand(c, flag) => parse_date(record, c, flag.as_deref())
                .map(|d| {
                    let year = i32::from(d.year);
                    // A guessed year is as often one too many as one too few (an age
                    // counted from a registration date), so it reaches both ways.
                    if flag.is_some() && d.counts_as_estimated() {
                        return vec![
                            (year - 1).to_string(),
                            year.to_string(),
                            (year + 1).to_string(),
                        ];
                    }
                    let neighbour = if d.month <= 6 { year - 1 } else { year + 1 };
                    vec![year.to_string(), neighbour.to_string()]
                })
                .unwrap_or_default(),
            KeyExpr::SortedTokens(cs) => {
                let mut all: Vec<String> = cs
                    .iter()
                    .filter_map(|c| norm(c))
                    .flat_map(|n| tokens(&n).map(str::to_string).collect::<Vec<_>>())
                    .collect();
                if all.is_empty() {
                    return Vec::new();
                }
                all.sort();
                vec![all.join(" ")]
            }
        }
    }
}

/// How the words of a name are encoded for keys.
#[derive(Clone, Copy)]
enum WordCode<'d> {
    /// Double Metaphone ([`phonetic_key`]).
    Phonetic(&'d rphonetic::DoubleMetaphone),
    /// The coarser consonant skeleton ([`name_phonetic_key`]).
    Skeleton,
}

impl WordCode<'_> {
    fn is_phonetic(self) -> bool {
        matches!(self, WordCode::Phonetic(_))
    }
}

/// What one record's expressions already computed: most rules of a model
/// read the same few names and places (a name's phonetic codes feed three or
/// four rules), and encoding a word is the costly part of a key.
#[derive(Default)]
pub struct KeyCache<'m> {
    exprs: Vec<(&'m KeyExpr, Vec<String>)>,
    words: Vec<(&'m str, bool, Vec<String>)>,
}

impl<'m> KeyCache<'m> {
    /// The expression's keys, evaluated once per record.
    fn eval(
        &mut self,
        expr: &'m KeyExpr,
        record: &Record,
        dm: &rphonetic::DoubleMetaphone,
    ) -> Vec<String> {
        if let Some((_, keys)) = self.exprs.iter().find(|(e, _)| *e == expr) {
            return keys.clone();
        }
        let keys = expr.eval_cached(record, dm, self);
        self.exprs.push((expr, keys.clone()));
        keys
    }

    /// A code per word of a name column (its first [`MAX_TOKENS`] words).
    fn word_codes(&mut self, record: &Record, column: &'m str, code: WordCode) -> Vec<String> {
        let phonetic = code.is_phonetic();
        if let Some((_, _, codes)) = self
            .words
            .iter()
            .find(|(c, p, _)| *c == column && *p == phonetic)
        {
            return codes.clone();
        }
        let codes: Vec<String> = record
            .get(column)
            .map(normalize)
            .filter(|n| !is_placeholder_name(n))
            .map(|n| {
                tokens(&n)
                    .take(MAX_TOKENS)
                    .map(|t| match code {
                        WordCode::Phonetic(dm) => phonetic_key(dm, t),
                        WordCode::Skeleton => name_phonetic_key(t),
                    })
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        self.words.push((column, phonetic, codes.clone()));
        codes
    }
}

/// Keys of a given and a family name's word codes taken in pairs, order-free
/// (so swapped names share keys). A whole name written in one of the two
/// fields, the other empty, pairs its words among themselves, as the two
/// fields' words would.
fn name_pairs(given: &[String], family: &[String]) -> Vec<String> {
    let mut set = BTreeSet::new();
    let mut pair = |x: &String, y: &String| {
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        set.insert(format!("{lo}+{hi}"));
    };
    let whole = match (given.is_empty(), family.is_empty()) {
        (false, true) => Some(given),
        (true, false) => Some(family),
        _ => None,
    };
    if let Some(words) = whole {
        for (i, x) in words.iter().enumerate() {
            for y in &words[i + 1..] {
                pair(x, y);
            }
        }
    }
    for x in given.iter().take(2) {
        for y in family.iter().take(2) {
            pair(x, y);
        }
    }
    set.into_iter().collect()
}

/// A compiled blocking rule.
#[derive(Debug, Clone)]
pub struct BlockingRule {
    pub name: String,
    pub exprs: Vec<KeyExpr>,
}

impl BlockingRule {
    /// The rule's keys for a record: the product of its expressions' keys,
    /// joined with `|`. Empty when any expression gives nothing.
    pub fn keys(&self, record: &Record, dm: &rphonetic::DoubleMetaphone) -> Vec<String> {
        self.keys_cached(record, dm, &mut KeyCache::default())
    }

    /// [`BlockingRule::keys`], sharing evaluated expressions with the other
    /// rules of the same record through `cache`.
    pub fn keys_cached<'m>(
        &'m self,
        record: &Record,
        dm: &rphonetic::DoubleMetaphone,
        cache: &mut KeyCache<'m>,
    ) -> Vec<String> {
        let mut acc: Vec<String> = vec![String::new()];
        for (i, expr) in self.exprs.iter().enumerate() {
            let keys = cache.eval(expr, record, dm);
            if keys.is_empty() {
                return Vec::new();
            }
            let mut next = Vec::with_capacity(acc.len() * keys.len());
            for prefix in &acc {
                for k in &keys {
                    if i == 0 {
                        next.push(k.clone());
                    } else {
                        next.push(format!("{prefix}|{k}"));
                    }
                }
            }
            acc = next;
        }
        acc
    }

    /// Columns the rule reads.
    pub fn columns(&self) -> Vec<&str> {
        self.exprs.iter().flat_map(|e| e.columns()).collect()
    }
}

/// Counts reported by the batch blocking phase.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlockingStats {
    /// Distinct candidate pairs (after the union of rules).
    pub candidate_pairs: u64,
    /// Pairs produced per rule (before the union).
    pub pairs_per_rule: Vec<(String, u64)>,
    /// Blocks skipped for being larger than the limit.
    pub skipped_blocks: u64,
    /// Records in the skipped blocks (counted once per block).
    pub skipped_block_records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonetic_pair_ignores_name_order() {
        let dm = rphonetic::DoubleMetaphone::default();
        let rule = BlockingRule {
            name: "n".into(),
            exprs: vec![
                KeyExpr::PhoneticPair("given_name".into(), "family_name".into()),
                KeyExpr::Year("date_of_birth".into()),
            ],
        };
        let a = Record::new("a")
            .with("given_name", "Dara")
            .with("family_name", "Sok")
            .with("date_of_birth", "2016-03-02");
        let b = Record::new("b")
            .with("given_name", "សុខ")
            .with("family_name", "Darah")
            .with("date_of_birth", "2016-02-03");
        let ka = rule.keys(&a, &dm);
        let kb = rule.keys(&b, &dm);
        assert!(!ka.is_empty());
        assert!(ka.iter().any(|k| kb.contains(k)), "{ka:?} vs {kb:?}");
    }

    #[test]
    fn a_whole_name_in_one_field_pairs_its_words() {
        let dm = rphonetic::DoubleMetaphone::default();
        let pair = KeyExpr::PhoneticPair("given_name".into(), "family_name".into());
        let whole = Record::new("a").with("given_name", "Mugoya Moses");
        let split = Record::new("b")
            .with("given_name", "Moses")
            .with("family_name", "Mugoya");
        let (kw, ks) = (pair.eval(&whole, &dm), pair.eval(&split, &dm));
        assert!(kw.iter().any(|k| ks.contains(k)), "{kw:?} vs {ks:?}");
        let single = Record::new("c").with("given_name", "Moses");
        assert!(pair.eval(&single, &dm).is_empty());
    }

    #[test]
    fn skeleton_pairs_absorb_letters_that_phonetic_codes_keep_apart() {
        let dm = rphonetic::DoubleMetaphone::default();
        let skeleton = KeyExpr::SkeletonPair("g".into(), "f".into());
        let phonetic = KeyExpr::PhoneticPair("g".into(), "f".into());
        let a = Record::new("a").with("g", "Gerald").with("f", "Ssemakula");
        let b = Record::new("b").with("g", "Girald").with("f", "SSEMAKURA");
        let shared = |e: &KeyExpr| {
            let (ka, kb) = (e.eval(&a, &dm), e.eval(&b, &dm));
            ka.iter().any(|k| kb.contains(k))
        };
        assert!(shared(&skeleton));
        assert!(!shared(&phonetic));
    }

    #[test]
    fn year_bands_join_dates_months_apart_across_a_new_year() {
        let dm = rphonetic::DoubleMetaphone::default();
        let band = KeyExpr::YearBand("d".into(), None);
        let keys = |d: &str| band.eval(&Record::new("a").with("d", d), &dm);
        assert_eq!(keys("2013-07-01"), ["2013", "2014"]);
        assert_eq!(keys("2014-01-01"), ["2014", "2013"]);
        assert_eq!(keys("2014-06-30"), ["2014", "2013"]);
        let (a, b) = (keys("2016-11-20"), keys("2017-03-02"));
        assert!(a.iter().any(|k| b.contains(k)));
        let (a, b) = (keys("2016-01-20"), keys("2017-12-02"));
        assert!(!a.iter().any(|k| b.contains(k)));
        assert!(keys("unknown").is_empty());
    }

    #[test]
    fn estimated_years_reach_both_neighbours() {
        let dm = rphonetic::DoubleMetaphone::default();
        let band = KeyExpr::YearBand("d".into(), Some("e".into()));
        let keys = |d: &str, e: &str| band.eval(&Record::new("a").with("d", d).with("e", e), &dm);
        // Two guesses of one child's year, one each way of the truth.
        let (a, b) = (keys("2021-07-01", "1"), keys("2020-03-29", "true"));
        assert_eq!(a, ["2020", "2021", "2022"]);
        assert!(a.iter().any(|k| b.contains(k)));
        // Written as a guess, flagged or not.
        assert_eq!(keys("2020-01-01", ""), ["2019", "2020", "2021"]);
        assert_eq!(keys("2020-06-30", "0"), ["2019", "2020", "2021"]);
        // A date known to the day keeps the nearer neighbour only.
        assert_eq!(keys("2020-03-29", "0"), ["2020", "2019"]);
        assert_eq!(keys("2020-03-29", ""), ["2020", "2019"]);
    }

    #[test]
    fn place_skeletons_absorb_respellings_and_administrative_marks() {
        let dm = rphonetic::DoubleMetaphone::default();
        let place = KeyExpr::PlaceSkeleton("v".into());
        let key = |v: &str| place.eval(&Record::new("a").with("v", v), &dm);
        assert_eq!(key("Kireka"), key("KYREKA"));
        assert_eq!(key("Kireka"), key("Kirkea"));
        assert_eq!(key("Tnaot"), key("Phum Tnaoth"));
        assert_eq!(key("Budumba LC1"), key("Budumba"));
        assert_eq!(key("Kg. Rokar"), key("Kampong Roka"));
        assert_eq!(key("Ta Mean Chey"), key("Taa Meanchey"));
        assert_ne!(key("Kireka"), key("Budumba"));
        assert!(key("").is_empty());
        let spoken = KeyExpr::PlacePhonetic("v".into());
        let key = |v: &str| spoken.eval(&Record::new("a").with("v", v), &dm);
        assert_eq!(key("TA ROKAR"), key("Ta Roka"));
        assert_eq!(key("Kg. Cham"), key("Kampong Cham"));
    }

    #[test]
    fn missing_values_give_no_keys() {
        let dm = rphonetic::DoubleMetaphone::default();
        let rule = BlockingRule {
            name: "n".into(),
            exprs: vec![KeyExpr::Exact("x".into()), KeyExpr::Year("d".into())],
        };
        assert!(rule.keys(&Record::new("a").with("x", "1"), &dm).is_empty());
    }

    #[test]
    fn parse_rejects_unknown_columns_and_functions() {
        let known = |c: &str| c == "a";
        assert!(KeyExpr::parse("phonetic(a)", &known).is_ok());
        assert!(KeyExpr::parse("year_band(a)", &known).is_ok());
        assert!(KeyExpr::parse("place_skeleton(a)", &known).is_ok());
        assert!(KeyExpr::parse("phonetic(b)", &known).is_err());
        assert!(KeyExpr::parse("soundex(a)", &known).is_err());
        assert_eq!(
            KeyExpr::parse("a", &known).ok(),
            Some(KeyExpr::Exact("a".into()))
        );
    }
}
