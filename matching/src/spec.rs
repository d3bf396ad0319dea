//! The model file: columns, comparisons and their levels, blocking rules,
//! clustering settings and (once trained) the learned weights.
//!
//! A model file is TOML or JSON with the same structure. `version` is the file
//! format version ([`FORMAT_VERSION`]); files of another version are refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{MatchError, Result};

/// The model file format version this library reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A model: the schema it reads, how to compare and block, and its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// File format version; must equal [`FORMAT_VERSION`].
    pub version: u32,
    /// A human name for the model ("canonical-child", "febrl").
    #[serde(default)]
    pub name: String,
    /// The column holding each record's unique identifier.
    pub unique_id_column: String,
    /// Columns the model reads, with their types (used to validate input).
    pub columns: Vec<ColumnSpec>,
    /// Comparisons, each with its ordered levels.
    pub comparisons: Vec<ComparisonSpec>,
    /// Two `name` comparisons whose values may be swapped between records
    /// (given and family name written in the other order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_swap: Option<[String; 2]>,
    /// Blocking rules: a pair is a candidate when any rule gives both records
    /// a common key.
    pub blocking: Vec<BlockingRuleSpec>,
    /// Pairs that must never be linked, whatever their weight.
    #[serde(default)]
    pub cannot_link: Vec<CannotLinkSpec>,
    /// Comparisons a household shares, and how much they may say together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<HouseholdSpec>,
    /// Thresholds and clustering settings.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Training settings.
    #[serde(default)]
    pub training: TrainingSpec,
    /// Learned parameters; absent in an untrained model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<TrainedParams>,
}

/// A column and its type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(default)]
    pub kind: ColumnKind,
    /// A row missing this column's value is malformed.
    #[serde(default)]
    pub required: bool,
}

/// Column types: checked when reading input.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Free text.
    #[default]
    Text,
    /// A date `YYYY-MM-DD`; anything else is a malformed row.
    Date,
    /// A date `YYYYMMDD` that may hold typos (not validated).
    LooseDate,
    /// `1`/`0`/`true`/`false`/`yes`/`no` (any case).
    Flag,
    /// Sex: `m`/`f`/`male`/`female`/`u`/`unknown` (any case).
    Sex,
}

/// One comparison. (`deny_unknown_fields` does not combine with `flatten`.)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComparisonSpec {
    /// Its name in explanations and in the learned parameters.
    pub name: String,
    #[serde(flatten)]
    pub kind: ComparisonKind,
}

/// What a comparison compares and how its levels are defined.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ComparisonKind {
    /// A person's name (one column, possibly several tokens). Levels: `exact`
    /// (term-frequency adjusted when `tf`), `alias` (same after nickname,
    /// token-order and romanisation folding), `jaro_winkler_high` (≥ 0.92),
    /// `phonetic_or_jaro_winkler` (Double Metaphone keys equal, or ≥ 0.85),
    /// `token_overlap` (a shared token or phonetic token, or an initial),
    /// `else`.
    ///
    /// With `household_names`, a level `household_name` follows `else`: the
    /// names agree at no level and one of them is a name households call a
    /// child by ([`crate::normalize::is_household_name`]: "Pov", "Toch",
    /// "Baby"), which one agency writes where another writes the child's
    /// given name. Such a pair is not `else`, so rules on `else` (a different
    /// given name is another child) do not hold for it.
    ///
    /// With `near_misses`, a level `near_miss` follows those: the names agree
    /// at no level but are a few slips of a clerk's pen apart ([`crate::compare::near_miss`]:
    /// "Minsjima" / "Ninsiima", "B0pga" / "Bopha"). Rules on `else` do not hold for it either.
    ///
    /// With `titles`, the titles a clerk writes before a name ("Mrs", "Maama", "Mzee", "the
    /// late", លោក, អ្នកស្រី) are dropped before comparing ([`crate::normalize::without_titles`]):
    /// for parents' names, which agencies write as the parent was introduced to them.
    Name {
        column: String,
        #[serde(default)]
        tf: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        household_names: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        near_misses: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        titles: bool,
    },
    /// Free text with levels given as predicates, tried in order:
    /// `exact`, `levenshtein<=N`, `jaro_winkler>=X`, `jaro>=X`, `prefix=N`.
    Text {
        column: String,
        levels: Vec<String>,
        #[serde(default)]
        tf: bool,
    },
    /// A date of birth `YYYY-MM-DD` or `YYYYMMDD`, with an optional flag column
    /// saying the date is estimated. Levels: `exact`, `day_month_swapped`,
    /// `estimated_close` (either side estimated and within 366 days),
    /// `estimated_within_2_years` (either side estimated, within 731 days),
    /// `guess_date_same_year` (same year, one side 1 January or 30 June),
    /// `one_part_differs` (two of year, month, day equal), `else`,
    /// `years_apart` (more than three years apart; not a year-digit slip).
    ///
    /// With `tf`, an exact agreement is weighed by how many records carry
    /// that date: agencies write a guessed birth date as 1 January or 30
    /// June of the guessed year, so those dates are shared by many more
    /// children than any other day.
    ///
    /// With `estimates` ([`crate::compare::date_level_estimates`]), a 1
    /// January or 30 June counts as estimated even when the source does not
    /// say so, and two levels follow `years_apart`: `estimated_years_apart`
    /// (either side estimated: an age guessed for an older child without
    /// papers can be years off, a date written from a birth certificate
    /// cannot) and `over_a_year_apart` (two dates from papers more than a
    /// year apart, which `else` would average with near misses). Day and
    /// month agreeing with years neither one digit nor one year apart is
    /// not `one_part_differs`. Two equal dates one of which is flagged
    /// estimated are `estimated_close`: they agree on a guess.
    /// `guess_date_same_year` is not used.
    Date {
        column: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_column: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        tf: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        estimates: bool,
    },
    /// A place hierarchy, coarse to fine (district, subcounty, village).
    /// Levels: the finest level that agrees (`village`, `subcounty`,
    /// `district`), then `else`. Walking from the coarsest, a place missing on
    /// either side is skipped and the first place both sides name differently
    /// stops the walk. Missing when no place is named on both sides.
    ///
    /// With `conflicts`, agreement above a place both sides name differently
    /// is a level of its own (`subcounty_below_differs`,
    /// `district_below_differs`): two records of one district, one naming
    /// another subcounty, are weaker evidence than two of one district where
    /// one side does not say.
    Location {
        columns: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        conflicts: bool,
    },
    /// Exact equality only (sex, an identifier). Levels: `exact`, `else`.
    Exact { column: String },
}

impl ComparisonKind {
    /// The columns this comparison reads.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            ComparisonKind::Name { column, .. }
            | ComparisonKind::Text { column, .. }
            | ComparisonKind::Exact { column } => vec![column.as_str()],
            ComparisonKind::Date {
                column,
                estimated_column,
                ..
            } => {
                let mut v = vec![column.as_str()];
                if let Some(e) = estimated_column {
                    v.push(e.as_str());
                }
                v
            }
            ComparisonKind::Location { columns, .. } => {
                columns.iter().map(String::as_str).collect()
            }
        }
    }
}

/// A blocking rule: the keys are the cartesian product of its expressions'
/// outputs. Expressions: `exact(col)`, `phonetic(col, ...)` (Double Metaphone
/// of each token of the columns, so swapped names share keys), `prefix(col,
/// N)`, `initial(col)`, `year(col)`, `month(col)`, `day(col)`,
/// `month_day(col)` (month and day, order-free, so transposed dates block
/// together), `sorted_tokens(col, ...)` (all tokens of the columns, sorted),
/// `place(col)` (a place name without generic words such as "district" or
/// "phum", abbreviations such as "Kg." written out), `place_phonetic(col)`
/// (the Double Metaphone key of its words run together as spoken, a final
/// "r" Khmer leaves unspoken left out), `place_skeleton(col)` (the consonant
/// skeletons of the place's spoken words run together, so "Kireka" /
/// "Kyreka" / "Kirkea", "Tnaot" / "Tnaoth", "Rokar" / "Roka" and
/// "Mean Chey" / "Meanchey" share a key),
/// `year_band(col)` (the year and the nearer neighbouring year, so birth
/// dates within about six months of each other, across a new year too,
/// share a key; estimated dates move that much), `year_band(col, flag)`
/// (as `year_band(col)`, and both neighbouring years for a date the `flag`
/// column marks as estimated or written as a guess, 1 January or 30 June:
/// two guesses of one child's age are often a year apart).
///
/// `skeleton_pair(a, b)` (as `phonetic_pair`, with the coarser consonant
/// skeleton of each word: "Gerald" / "Girald", "Sarah" / "Salah", "Lubega" /
/// "Lubea" are one key).
///
/// `phonetic_pair(a, b)` also pairs the words of a whole name written in
/// one of the two columns while the other is empty.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlockingRuleSpec {
    pub name: String,
    pub keys: Vec<String>,
}

/// Comparisons on which siblings agree as often as one child's own records do
/// (family name, place, parents). Weighed as independent, their agreements
/// multiply far beyond what sharing a household says: most pairs of different
/// children that agree on all of them are siblings, not strangers. So their
/// positive weights count together up to a ceiling, `max_odds_bits` above the
/// prior's weight: agreeing on the household and on nothing else makes a pair
/// at most 2^`max_odds_bits` to 1 one child, and the rest of the evidence must
/// come from the child's own fields (given name, birth date, sex). The
/// ceiling follows the prior, so it rises as a registry grows and a random
/// pair of its children is less likely to be siblings.
///
/// The ceiling is the log₂ odds that two records agreeing on their
/// household, and kept apart by no cannot-link rule, are one child: how many
/// such pairs are one child's records rather than siblings. It depends on
/// family sizes and naming customs (siblings whose given names begin alike
/// pass the different-given-name rule), so training estimates it (see
/// [`TrainedParams::household_odds_bits`]) unless `max_odds_bits` fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HouseholdSpec {
    pub comparisons: Vec<String>,
    /// Fixes the ceiling instead of estimating it in training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_odds_bits: Option<f64>,
}

/// A cannot-link rule: when every condition holds for a pair, the pair is
/// never linked (clustering keeps the two records apart).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CannotLinkSpec {
    /// Why, shown in explanations ("twins: same birth date, different given name").
    pub reason: String,
    pub all: Vec<LevelCondition>,
}

/// A condition: the comparison's level is one of these labels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelCondition {
    pub comparison: String,
    pub levels: Vec<String>,
}

/// Thresholds (probabilities) for linking and clustering.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Pairs at or above this probability are linked automatically online
    /// ([`crate::Model::decide`]); also the edges batch clustering starts
    /// from unless `cluster_link` is set.
    pub link: f64,
    /// Batch clustering starts from pairs at or above this probability
    /// (default: `link`). Online automatic links need a much higher
    /// probability than batch clustering edges, because clustering checks
    /// every merge against all cross pairs while an online link is final
    /// until a steward undoes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_link: Option<f64>,
    /// Pairs between `review` and `link` go to a steward's review queue.
    pub review: f64,
    /// In clustering, two groups merge only if the mean probability over all
    /// their cross pairs is at least this.
    pub cluster_mean: f64,
    /// In clustering, two groups merge only if every cross pair's probability
    /// is at least this (a pair the model finds clearly different vetoes it).
    pub cluster_min: f64,
    /// Blocks larger than this are skipped (their keys are too common to be
    /// useful); reported in the blocking statistics.
    pub max_block_size: usize,
}

impl Thresholds {
    /// The probability at which batch clustering starts an edge.
    pub fn cluster_edge(&self) -> f64 {
        self.cluster_link.unwrap_or(self.link)
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            link: 0.9,
            cluster_link: None,
            review: 0.5,
            cluster_mean: 0.5,
            cluster_min: 0.0,
            max_block_size: 2000,
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSpec {
    /// Random pairs sampled to estimate u.
    pub u_sample_pairs: usize,
    /// Blocked pairs sampled per EM session.
    pub em_max_pairs: usize,
    pub em_iterations: usize,
    pub seed: u64,
    /// Blocking rules for the EM sessions (one session each). Empty: the
    /// prediction rules. Rules that pair records on birth date alone let EM
    /// learn what names look like for the same child, rather than for
    /// siblings (which share surname, parents and village).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub em_blocking: Vec<BlockingRuleSpec>,
    /// Estimate u together with m by EM over all candidate pairs (starting
    /// from the random-pair u), instead of keeping the random-pair u. Among
    /// children, the non-matching candidates are mostly siblings and
    /// namesakes, who agree on surname, parents and village far more often
    /// than random pairs do; weights built on random-pair u count that
    /// household agreement as evidence of identity.
    #[serde(default)]
    pub estimate_u_in_em: bool,
}

impl Default for TrainingSpec {
    fn default() -> Self {
        Self {
            u_sample_pairs: 2_000_000,
            em_max_pairs: 2_000_000,
            em_iterations: 30,
            seed: 42,
            em_blocking: Vec::new(),
            estimate_u_in_em: false,
        }
    }
}

/// Learned parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainedParams {
    /// Probability that two records drawn at random are a match.
    pub prior: f64,
    /// m and u per level, per comparison name.
    pub comparisons: BTreeMap<String, Vec<LevelParams>>,
    /// Term-frequency tables for comparisons with `tf = true`.
    #[serde(default)]
    pub term_frequencies: BTreeMap<String, TfTable>,
    /// Records the model was trained on.
    pub trained_on_records: u64,
    /// The household's ceiling training estimated, when the model's
    /// `[household]` does not fix `max_odds_bits`: among the sampled
    /// candidate pairs whose household comparisons reach the ceiling, the
    /// log₂ odds that one no cannot-link rule keeps apart is one child, by
    /// an EM over their own comparisons (given name, birth date, sex) that
    /// learns how siblings differ. Absent when too few training pairs agreed
    /// on a household to estimate it; the household's comparisons then count
    /// in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household_odds_bits: Option<f64>,
}

/// m and u of one level.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelParams {
    pub label: String,
    pub m: f64,
    pub u: f64,
}

/// Term frequencies of normalised values: how often each value occurs.
/// Values seen once are not stored; they get `1 / total`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TfTable {
    pub total: u64,
    pub counts: BTreeMap<String, u64>,
}

impl TfTable {
    /// The relative frequency of a normalised value (at least `1 / total`).
    pub fn frequency(&self, value: &str) -> f64 {
        let total = self.total.max(1) as f64;
        let count = self.counts.get(value).copied().unwrap_or(1).max(1) as f64;
        count / total
    }
}

impl ModelSpec {
    /// Parse a model from TOML.
    pub fn from_toml(text: &str) -> Result<Self> {
        let spec: ModelSpec = toml::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    /// Parse a model from JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let spec: ModelSpec = serde_json::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    /// Parse JSON when the text starts with `{`, TOML otherwise.
    pub fn from_text(text: &str) -> Result<Self> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Serialise to pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Serialise to TOML.
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string(self)?)
    }

    /// The default model for the canonical child CSV.
    pub fn canonical_child() -> Self {
        #[allow(clippy::expect_used)]
        Self::from_toml(CANONICAL_CHILD_TOML).expect("the built-in child model is valid")
    }

    /// The model for the public FEBRL benchmark sets.
    pub fn febrl() -> Self {
        #[allow(clippy::expect_used)]
        Self::from_toml(FEBRL_TOML).expect("the built-in FEBRL model is valid")
    }

    fn check(&self) -> Result<()> {
        if self.version != FORMAT_VERSION {
            return Err(MatchError::UnsupportedVersion {
                found: self.version,
                supported: FORMAT_VERSION,
            });
        }
        let known =
            |c: &str| c == self.unique_id_column || self.columns.iter().any(|s| s.name == c);
        for comparison in &self.comparisons {
            for column in comparison.kind.columns() {
                if !known(column) {
                    return Err(MatchError::InvalidModel(format!(
                        "comparison `{}` reads column `{column}`, which is not listed in `columns`",
                        comparison.name
                    )));
                }
            }
            if let ComparisonKind::Text { levels, .. } = &comparison.kind {
                for level in levels {
                    crate::compare::TextPredicate::parse(level)?;
                }
            }
        }
        if self.comparisons.is_empty() {
            return Err(MatchError::InvalidModel("no comparisons".into()));
        }
        if let Some([a, b]) = &self.name_swap {
            for n in [a, b] {
                let ok = self
                    .comparisons
                    .iter()
                    .any(|c| &c.name == n && matches!(c.kind, ComparisonKind::Name { .. }));
                if !ok {
                    return Err(MatchError::InvalidModel(format!(
                        "name_swap names `{n}`, which is not a comparison of kind `name`"
                    )));
                }
            }
        }
        for rule in self.blocking.iter().chain(&self.training.em_blocking) {
            for key in &rule.keys {
                crate::blocking::KeyExpr::parse(key, &known)?;
            }
        }
        if let Some(household) = &self.household {
            if household
                .max_odds_bits
                .is_some_and(|bits| !bits.is_finite())
            {
                return Err(MatchError::InvalidModel(
                    "household.max_odds_bits must be a finite number".into(),
                ));
            }
            for name in &household.comparisons {
                if !self.comparisons.iter().any(|c| &c.name == name) {
                    return Err(MatchError::InvalidModel(format!(
                        "household names unknown comparison `{name}`"
                    )));
                }
            }
        }
        for rule in &self.cannot_link {
            for cond in &rule.all {
                if !self.comparisons.iter().any(|c| c.name == cond.comparison) {
                    return Err(MatchError::InvalidModel(format!(
                        "cannot_link rule `{}` names unknown comparison `{}`",
                        rule.reason, cond.comparison
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The built-in model for the canonical child CSV (`matching/models/child.toml`).
pub const CANONICAL_CHILD_TOML: &str = include_str!("../models/child.toml");
/// The trained child model shipped with the crate (`matching/models/child-trained.json`);
/// see [`crate::Model::default_child`].
pub const DEFAULT_CHILD_TRAINED_JSON: &str = include_str!("../models/child-trained.json");
/// The built-in model for FEBRL (`matching/models/febrl.toml`).
pub const FEBRL_TOML: &str = include_str!("../models/febrl.toml");
