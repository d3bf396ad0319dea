//! A compiled model: prepares records, gives blocking keys, scores and explains pairs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::blocking::{BlockingRule, KeyCache, KeyExpr};
use crate::compare::{
    name_words_contained, written_together, Comparator, DateValue, NameValue, Place, Value,
    NAME_ELSE_LEVEL, NAME_PHONETIC_LEVEL, NULL_LEVEL,
};
use crate::error::{MatchError, Result};
use crate::normalize::{normalize, SexCode};
use crate::record::Record;
use crate::spec::{ColumnKind, ComparisonKind, ModelSpec, TfTable, TrainedParams};

/// Most levels a comparison may have.
pub const MAX_COMPARISONS: usize = 32;

/// A record prepared for comparison: one value per comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRecord {
    pub values: Vec<Value>,
    /// When the whole name sits in one of the model's two swappable name
    /// fields and the other is empty ("Mugoya Moses" as the given name, no
    /// family name), the ways to read it as (given, family): the last or the
    /// first word as the family name. Empty otherwise.
    pub name_readings: Vec<(Value, Value)>,
}

/// Longest whole name (in words) that is read as given and family names.
const MAX_FULL_NAME_WORDS: usize = 4;

/// The levels of one pair (one per comparison) and how the names were paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gamma {
    pub levels: [u8; MAX_COMPARISONS],
    pub len: usize,
    pub swapped: bool,
    /// Which side's whole name, written in one field, was read as given and
    /// family names (0: the first record, 1: the second).
    pub full_name_side: Option<u8>,
}

impl Gamma {
    /// Of the two records, the one whose names sit in their own fields: the
    /// other one when that one's whole name was read as two, else `a`.
    fn separately_named<'r>(
        &self,
        a: &'r PreparedRecord,
        b: &'r PreparedRecord,
    ) -> &'r PreparedRecord {
        if self.full_name_side == Some(0) {
            b
        } else {
            a
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.levels[..self.len]
    }
}

/// A matching model ready to use: the spec, compiled comparators and weights.
#[derive(Debug, Clone)]
pub struct Model {
    spec: ModelSpec,
    comparators: Vec<Comparator>,
    rules: Vec<BlockingRule>,
    training_rules: Vec<BlockingRule>,
    swap: Option<(usize, usize)>,
    /// The comparisons other than the swappable name pair, cheapest first:
    /// the order in which [`Model::score_bounded`] makes them.
    rest: Vec<usize>,
    cannot: Vec<CannotLinkRule>,
    /// How many comparisons of `rest` are made before every comparison a
    /// cannot-link rule reads is made (see [`Model::score_floor`]).
    cannot_link_known_after: usize,
    /// The comparisons a household shares (see [`crate::spec::HouseholdSpec`]).
    household: Vec<usize>,
    weights: Option<Weights>,
    encoder: rphonetic::DoubleMetaphone,
}

/// How [`Model::score_floor`] judged a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bounded {
    /// At or above the floor: `score_prepared`'s weight and cannot-link rule.
    Kept {
        weight: f64,
        cannot_link: Option<usize>,
    },
    /// Below the floor, with the cannot-link rule that holds, if any.
    Below { cannot_link: Option<usize> },
}

/// When [`Model::score_until`] may stop before making every comparison.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// As soon as a cannot-link rule holds or the floor is out of reach.
    AtCannotLink,
    /// Once the floor is out of reach, from the `from`-th comparison of
    /// [`Model::rest`] on.
    BelowFloor { from: usize },
}

/// A compiled cannot-link rule: its reason and (comparison, levels) conditions.
type CannotLinkRule = (String, Vec<(usize, Vec<u8>)>);

#[derive(Debug, Clone)]
struct Weights {
    prior_weight: f64,
    /// log2(m/u) per comparison per level.
    level: Vec<Vec<f64>>,
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    tf: Vec<Option<HashMap<String, f64>>>,
    tf_floor: Vec<f64>,
    /// Frequencies of given and family names together (see
    /// [`Model::joint_name_adjustment`]), and their floor.
    joint_tf: Option<(HashMap<String, f64>, f64)>,
    /// `bound_after[k]`: the most that the comparisons of `rest[k..]`
    /// outside the household can add to a pair's weight (each one's best
    /// level, with the largest term-frequency adjustment its floor allows; a
    /// missing value adds 0).
    bound_after: Vec<f64>,
    /// `household_bound_after[k]`: the same for the household's comparisons
    /// of `rest[k..]`, before the household's ceiling, which caps what they
    /// add together (see [`WeightSoFar::best_final`]).
    household_bound_after: Vec<f64>,
    /// The household's `max_odds_bits` (see [`household_excess`]).
    household_bits: Option<f64>,
}

impl Weights {
    /// What the household's ceiling takes from a pair whose household
    /// comparisons' positive weights come `together` to so much.
    fn household_loss(&self, together: f64) -> f64 {
        self.household_bits.map_or(0.0, |bits| {
            household_excess(together, bits, self.prior_weight)
        })
    }
}

/// One comparison's part of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonExplanation {
    pub comparison: String,
    /// The level label, or `null` (missing on a side: no evidence).
    pub level: String,
    pub level_index: Option<u8>,
    /// log₂ Bayes factor of this comparison (term-frequency adjusted when applicable).
    pub weight: f64,
    /// The part of `weight` due to the term-frequency adjustment.
    pub tf_adjustment: f64,
    /// The part of `weight` the household's ceiling took (≤ 0): the household's
    /// comparisons together weigh at most so much, shared among them by weight.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub household_adjustment: f64,
    pub m: Option<f64>,
    pub u: Option<f64>,
}

/// A pair's weight while [`Model::score_until`] makes its comparisons one by
/// one: the prior and every weight made so far, and the household's part of
/// it that its ceiling caps.
struct WeightSoFar {
    sum: f64,
    household_positive: f64,
}

impl WeightSoFar {
    fn new(w: &Weights) -> Self {
        Self {
            sum: w.prior_weight,
            household_positive: 0.0,
        }
    }

    fn add(&mut self, weight: f64, in_household: bool) {
        self.sum += weight;
        if in_household {
            self.household_positive += weight.max(0.0);
        }
    }

    /// The most the pair can weigh once the comparisons from `rest[k]` on
    /// are made too. The household's ceiling caps what its comparisons add
    /// together, those made and those to come: without it, a pair that
    /// shares a family name could still be lifted by a village and two
    /// parents' names to far more than a household may weigh, and most
    /// siblings' and namesakes' pairs would be compared in full.
    fn best_final(&self, w: &Weights, k: usize) -> f64 {
        let household_best = self.household_positive + w.household_bound_after[k];
        let household_capped = match w.household_bits {
            Some(bits) => household_best - household_excess(household_best, bits, w.prior_weight),
            None => household_best,
        };
        self.sum - self.household_positive + household_capped + w.bound_after[k]
    }
}

/// How far the household's comparisons together (`together`, their positive
/// weights) exceed the household's ceiling, `max_odds_bits` above the prior's
/// weight: what the pair's weight loses to it (see
/// [`crate::spec::HouseholdSpec`]).
pub fn household_excess(together: f64, max_odds_bits: f64, prior_weight: f64) -> f64 {
    (together - (max_odds_bits - prior_weight)).max(0.0)
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// Why two records are (not) the same child: the data of a match-weight waterfall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairExplanation {
    /// log₂ prior odds that two random records are a match.
    pub prior_weight: f64,
    pub prior_probability: f64,
    pub comparisons: Vec<ComparisonExplanation>,
    /// The given and family names were compared crosswise.
    pub names_swapped: bool,
    /// One record's whole name, written in one name field, was read as the
    /// given and family names the comparisons show.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_name_read: bool,
    /// Prior plus all comparison weights.
    pub match_weight: f64,
    /// 2^w / (1 + 2^w).
    pub match_probability: f64,
    /// Set when a cannot-link rule holds: the pair is never linked.
    pub cannot_link: Option<String>,
}

/// What to do with a scored pair, by the model's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Link,
    Review,
    NoMatch,
}

/// The probability of a match weight.
pub fn probability(weight: f64) -> f64 {
    let odds = weight.clamp(-1000.0, 1000.0).exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

/// The match weight of a probability.
pub fn weight_of(probability: f64) -> f64 {
    let p = probability.clamp(1e-300, 1.0 - 1e-16);
    (p / (1.0 - p)).log2()
}

impl Model {
    /// Compile a spec.
    pub fn new(spec: ModelSpec) -> Result<Self> {
        let comparators = spec
            .comparisons
            .iter()
            .map(|c| Comparator::new(&c.name, &c.kind))
            .collect::<Result<Vec<_>>>()?;
        if comparators.len() > MAX_COMPARISONS {
            return Err(MatchError::InvalidModel(format!(
                "at most {MAX_COMPARISONS} comparisons"
            )));
        }
        let known =
            |c: &str| c == spec.unique_id_column || spec.columns.iter().any(|s| s.name == c);
        let compile = |rules: &[crate::spec::BlockingRuleSpec]| {
            rules
                .iter()
                .map(|r| {
                    Ok(BlockingRule {
                        name: r.name.clone(),
                        exprs: r
                            .keys
                            .iter()
                            .map(|k| KeyExpr::parse(k, &known))
                            .collect::<Result<Vec<_>>>()?,
                    })
                })
                .collect::<Result<Vec<_>>>()
        };
        let rules = compile(&spec.blocking)?;
        let training_rules = compile(&spec.training.em_blocking)?;
        let index = |n: &str| comparators.iter().position(|c| c.name == n);
        let swap = match &spec.name_swap {
            Some([a, b]) => match (index(a), index(b)) {
                (Some(i), Some(j)) => Some((i, j)),
                _ => {
                    return Err(MatchError::InvalidModel(
                        "name_swap: unknown comparison".into(),
                    ))
                }
            },
            None => None,
        };
        let mut cannot = Vec::new();
        for rule in &spec.cannot_link {
            let mut conds = Vec::new();
            for cond in &rule.all {
                let ci = index(&cond.comparison).ok_or_else(|| {
                    MatchError::InvalidModel(format!(
                        "cannot_link: unknown comparison `{}`",
                        cond.comparison
                    ))
                })?;
                let mut levels = Vec::new();
                for label in &cond.levels {
                    let li = comparators[ci]
                        .labels
                        .iter()
                        .position(|l| l == label)
                        .ok_or_else(|| {
                            MatchError::InvalidModel(format!(
                                "cannot_link: comparison `{}` has no level `{label}`",
                                cond.comparison
                            ))
                        })?;
                    levels.push(li as u8);
                }
                conds.push((ci, levels));
            }
            cannot.push((rule.reason.clone(), conds));
        }
        let mut rest: Vec<usize> = (0..comparators.len())
            .filter(|&i| swap.is_none_or(|(gi, fi)| i != gi && i != fi))
            .collect();
        rest.sort_by_key(|&i| comparison_cost(&comparators[i].kind));
        let cannot_link_known_after = cannot
            .iter()
            .flat_map(|(_, conds)| conds.iter().map(|(ci, _)| *ci))
            .filter_map(|ci| rest.iter().position(|&i| i == ci))
            .map(|k| k + 1)
            .max()
            .unwrap_or(0);
        let household = spec.household.as_ref().map_or_else(Vec::new, |h| {
            comparators
                .iter()
                .enumerate()
                .filter(|(_, c)| h.comparisons.contains(&c.name))
                .map(|(i, _)| i)
                .collect()
        });
        let mut model = Self {
            spec,
            comparators,
            rules,
            training_rules,
            swap,
            rest,
            cannot,
            cannot_link_known_after,
            household,
            weights: None,
            encoder: rphonetic::DoubleMetaphone::default(),
        };
        if let Some(trained) = model.spec.trained.clone() {
            model.set_trained(trained)?;
        }
        Ok(model)
    }

    /// The trained model for the canonical child CSV shipped with this crate
    /// (`matching/models/child-trained.json`, made by
    /// `bench/matching/train_default.sh`): the built-in child model's
    /// comparisons and blocking rules with weights learned on a seeded
    /// synthetic population, and thresholds chosen for online use (automatic
    /// links at `thresholds.link`, a steward's review from
    /// `thresholds.review`). Lets a registry match from its first record;
    /// retrain on the registry's own records once it holds enough of them.
    pub fn default_child() -> Result<Self> {
        Self::from_text(crate::spec::DEFAULT_CHILD_TRAINED_JSON)
    }

    /// Load a model from TOML or JSON text.
    pub fn from_text(text: &str) -> Result<Self> {
        Self::new(ModelSpec::from_text(text)?)
    }

    /// The model as pretty JSON (with its trained parameters, if any).
    pub fn to_json(&self) -> Result<String> {
        self.spec.to_json()
    }

    /// The model as TOML.
    pub fn to_toml(&self) -> Result<String> {
        self.spec.to_toml()
    }

    /// The spec (including trained parameters).
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Whether the model has learned weights.
    pub fn is_trained(&self) -> bool {
        self.weights.is_some()
    }

    /// The household's ceiling the trained model applies, in log₂ odds
    /// (fixed by the model file or estimated in training); `None` when it
    /// has none or is untrained.
    pub fn household_odds_bits(&self) -> Option<f64> {
        self.weights.as_ref().and_then(|w| w.household_bits)
    }

    /// The comparisons a household shares, by index.
    pub(crate) fn household_comparisons(&self) -> &[usize] {
        &self.household
    }

    /// The compiled comparators.
    pub fn comparators(&self) -> &[Comparator] {
        &self.comparators
    }

    /// The compiled blocking rules.
    pub fn blocking_rules(&self) -> &[BlockingRule] {
        &self.rules
    }

    /// The blocking rules of the EM sessions (empty: the prediction rules).
    pub fn training_rules(&self) -> &[BlockingRule] {
        &self.training_rules
    }

    pub(crate) fn encoder(&self) -> &rphonetic::DoubleMetaphone {
        &self.encoder
    }

    /// The indices of the two swappable name comparisons (given, family).
    pub(crate) fn name_pair(&self) -> Option<(usize, usize)> {
        self.swap
    }

    /// The name under which the joint term frequencies of the two swappable
    /// names are stored among the trained term frequencies.
    pub(crate) fn joint_tf_name(&self) -> String {
        match self.swap {
            Some((gi, fi)) => format!(
                "{}+{}",
                self.comparators[gi].name, self.comparators[fi].name
            ),
            None => String::new(),
        }
    }

    /// Install learned parameters.
    pub fn set_trained(&mut self, trained: TrainedParams) -> Result<()> {
        let mut level: Vec<Vec<f64>> = Vec::new();
        let mut ms = Vec::new();
        let mut us = Vec::new();
        let mut tf = Vec::new();
        let mut tf_floor = Vec::new();
        for c in &self.comparators {
            let params = trained.comparisons.get(&c.name).ok_or_else(|| {
                MatchError::InvalidModel(format!("trained parameters lack comparison `{}`", c.name))
            })?;
            if params.len() != c.num_levels() {
                return Err(MatchError::InvalidModel(format!(
                    "comparison `{}` has {} levels but {} trained",
                    c.name,
                    c.num_levels(),
                    params.len()
                )));
            }
            let m: Vec<f64> = params.iter().map(|p| p.m.clamp(1e-9, 1.0)).collect();
            let u: Vec<f64> = params.iter().map(|p| p.u.clamp(1e-9, 1.0)).collect();
            level.push(m.iter().zip(&u).map(|(m, u)| (m / u).log2()).collect());
            ms.push(m);
            us.push(u);
            match trained.term_frequencies.get(&c.name).filter(|_| c.tf) {
                Some(table) => {
                    tf.push(Some(tf_map(table)));
                    tf_floor.push(1.0 / table.total.max(1) as f64);
                }
                None => {
                    tf.push(None);
                    tf_floor.push(0.0);
                }
            }
        }
        let joint_tf = trained
            .term_frequencies
            .get(&self.joint_tf_name())
            .filter(|_| self.swap.is_some())
            .map(|table| (tf_map(table), 1.0 / table.total.max(1) as f64));
        let prior = trained.prior.clamp(1e-12, 1.0 - 1e-9);
        let bound = |i: usize| {
            let best = level[i].iter().copied().fold(0.0_f64, f64::max);
            if tf[i].is_none() || tf_floor[i] <= 0.0 {
                return best;
            }
            let u0: f64 = us[i][0];
            best.max(level[i][0] + (u0 / tf_floor[i]).log2().max(0.0))
        };
        let mut bound_after = vec![0.0; self.rest.len() + 1];
        let mut household_bound_after = vec![0.0; self.rest.len() + 1];
        for k in (0..self.rest.len()).rev() {
            let i = self.rest[k];
            let in_household = self.household.contains(&i);
            bound_after[k] = bound_after[k + 1] + if in_household { 0.0 } else { bound(i) };
            household_bound_after[k] =
                household_bound_after[k + 1] + if in_household { bound(i) } else { 0.0 };
        }
        self.weights = Some(Weights {
            household_bits: self
                .spec
                .household
                .as_ref()
                .and_then(|h| h.max_odds_bits.or(trained.household_odds_bits)),
            prior_weight: weight_of(prior),
            level,
            m: ms,
            u: us,
            tf,
            tf_floor,
            joint_tf,
            bound_after,
            household_bound_after,
        });
        self.spec.trained = Some(trained);
        Ok(())
    }

    /// Prepare a record for comparison.
    pub fn prepare(&self, record: &Record) -> PreparedRecord {
        let values: Vec<Value> = self
            .spec
            .comparisons
            .iter()
            .map(|c| self.prepare_value(&c.kind, record))
            .collect();
        let name_readings = self.name_readings(&values);
        PreparedRecord {
            values,
            name_readings,
        }
    }

    /// See [`PreparedRecord::name_readings`].
    fn name_readings(&self, values: &[Value]) -> Vec<(Value, Value)> {
        let Some((gi, fi)) = self.swap else {
            return Vec::new();
        };
        let whole = match (&values[gi], &values[fi]) {
            (Value::Name(n), Value::Missing) | (Value::Missing, Value::Name(n)) => n,
            _ => return Vec::new(),
        };
        let words: Vec<&str> = crate::normalize::tokens(&whole.norm).collect();
        if words.len() < 2 || words.len() > MAX_FULL_NAME_WORDS {
            return Vec::new();
        }
        let name = |parts: &[&str]| match NameValue::new(&self.encoder, &parts.join(" ")) {
            Some(mut n) => {
                n.khmer = whole.khmer;
                Value::Name(n)
            }
            None => Value::Missing,
        };
        let last = words.len() - 1;
        vec![
            (name(&words[..last]), name(&words[last..])),
            (name(&words[1..]), name(&words[..1])),
        ]
    }

    fn prepare_value(&self, kind: &ComparisonKind, record: &Record) -> Value {
        match kind {
            ComparisonKind::Name { column, titles, .. } => record
                .get(column)
                .map(|v| {
                    if *titles {
                        crate::normalize::without_titles(v)
                    } else {
                        v
                    }
                })
                .and_then(|v| NameValue::new(&self.encoder, v))
                .map_or(Value::Missing, Value::Name),
            ComparisonKind::Text { column, .. } | ComparisonKind::Exact { column } => {
                let n = record.get(column).map(normalize).unwrap_or_default();
                if n.is_empty() {
                    Value::Missing
                } else if column_is_sex(&self.spec, column) {
                    match record.get(column).and_then(canonical_sex) {
                        Some("u") => Value::Missing,
                        Some(sex) => Value::Text(sex.into()),
                        None => Value::Text(n.into()),
                    }
                } else {
                    Value::Text(n.into())
                }
            }
            ComparisonKind::Date {
                column,
                estimated_column,
                ..
            } => parse_date(record, column, estimated_column.as_deref())
                .map_or(Value::Missing, Value::Date),
            ComparisonKind::Location { columns, .. } => {
                let v: Vec<Option<Place>> = columns
                    .iter()
                    .map(|c| record.get(c).and_then(Place::new))
                    .collect();
                if v.iter().all(Option::is_none) {
                    Value::Missing
                } else {
                    Value::Location(v)
                }
            }
        }
    }

    /// The record's blocking keys, as `rule:key` strings. Two records are
    /// candidates when they share a key: store these in the database.
    pub fn blocking_keys(&self, record: &Record) -> Vec<String> {
        let mut out = Vec::new();
        let mut cache = KeyCache::default();
        for rule in &self.rules {
            for key in rule.keys_cached(record, &self.encoder, &mut cache) {
                out.push(format!("{}:{key}", rule.name));
            }
        }
        out
    }

    /// The levels of a pair of prepared records.
    pub fn gamma(&self, a: &PreparedRecord, b: &PreparedRecord) -> Gamma {
        let mut g = self.empty_gamma();
        self.name_pair_levels(&mut g, a, b);
        for &i in &self.rest {
            g.levels[i] = self.comparators[i].level(&a.values[i], &b.values[i]);
        }
        g
    }

    fn empty_gamma(&self) -> Gamma {
        Gamma {
            levels: [NULL_LEVEL; MAX_COMPARISONS],
            len: self.comparators.len(),
            swapped: false,
            full_name_side: None,
        }
    }

    /// The levels of the swappable given and family names, read straight,
    /// crosswise, or from a whole name written in one field, whichever
    /// agrees best (nothing without a swappable pair).
    fn name_pair_levels(&self, g: &mut Gamma, a: &PreparedRecord, b: &PreparedRecord) {
        let Some((gi, fi)) = self.swap else {
            return;
        };
        for i in [gi, fi] {
            g.levels[i] = self.comparators[i].level(&a.values[i], &b.values[i]);
        }
        if self.read_full_name(g, a, b, 0) || self.read_full_name(g, b, a, 1) {
            return;
        }
        // A whole name in one field was tried both ways round above; reading
        // it crosswise against an empty field would only hide a given name
        // that agrees with nothing.
        let whole_name = !a.name_readings.is_empty() || !b.name_readings.is_empty();
        if whole_name {
            return;
        }
        self.read_crosswise(g, a, b, gi, fi);
        self.regroup_name_words(g, a, b, gi, fi);
    }

    fn read_crosswise(
        &self,
        g: &mut Gamma,
        a: &PreparedRecord,
        b: &PreparedRecord,
        gi: usize,
        fi: usize,
    ) {
        let straight = rank(g.levels[gi]) + rank(g.levels[fi]);
        if straight == 0 {
            return;
        }
        let cg = self.comparators[gi].level(&a.values[gi], &b.values[fi]);
        // Crosswise wins only by two ranks or more: no need for the
        // second name when the first alone rules that out.
        if rank(cg) + 1 >= straight {
            return;
        }
        let cf = self.comparators[fi].level(&a.values[fi], &b.values[gi]);
        if rank(cg) + rank(cf) + 1 < straight {
            // Which crosswise level goes to which comparison must not
            // depend on the order of the two records: the worse one
            // goes to the given name. Siblings written in opposite
            // name orders share the family name crosswise ("Ratana
            // Sath" / "Sath Pov"); counting the shared name as an
            // agreeing *given* name would make them one child.
            g.levels[gi] = if rank(cg) >= rank(cf) { cg } else { cf };
            g.levels[fi] = if rank(cg) >= rank(cf) { cf } else { cg };
            g.swapped = true;
        }
    }

    /// A child with three or more names has them split between the two
    /// fields differently by each agency ("Juliet Abooki | Businge" /
    /// "Abooki | Juliet", "Vincent Edward | Ojok" / "Vincent | Edward"), so
    /// neither the straight nor the crosswise reading has both names
    /// agreeing. When every word of the record with fewer name words is
    /// (nearly) a distinct word of the other record's names, both names
    /// agree at the phonetic level: what a one-word name contained in a
    /// longer one gets within one field.
    fn regroup_name_words(
        &self,
        g: &mut Gamma,
        a: &PreparedRecord,
        b: &PreparedRecord,
        gi: usize,
        fi: usize,
    ) {
        let agreeing = rank(NAME_PHONETIC_LEVEL);
        if rank(g.levels[gi]) <= agreeing && rank(g.levels[fi]) <= agreeing {
            return;
        }
        let (Value::Name(ag), Value::Name(af), Value::Name(bg), Value::Name(bf)) =
            (&a.values[gi], &a.values[fi], &b.values[gi], &b.values[fi])
        else {
            return;
        };
        // Two words on each side were read both ways round already.
        if ag.parts + af.parts < 3 && bg.parts + bf.parts < 3 {
            return;
        }
        if name_words_contained(&[ag, af], &[bg, bf]) {
            g.levels[gi] = NAME_PHONETIC_LEVEL;
            g.levels[fi] = NAME_PHONETIC_LEVEL;
        }
    }

    /// When `whole`'s name sits in one field and `other` has both names, pair
    /// the reading of the whole name that agrees best with `other`'s given and
    /// family names. Only a reading where both names agree (phonetic or
    /// better) is taken: two of one child's records, one with the name in one
    /// field, would otherwise meet only as a shared word (a `token_overlap`
    /// given name: the twins' level).
    fn read_full_name(
        &self,
        g: &mut Gamma,
        whole: &PreparedRecord,
        other: &PreparedRecord,
        side: u8,
    ) -> bool {
        let Some((gi, fi)) = self.swap else {
            return false;
        };
        if whole.name_readings.is_empty()
            || matches!(other.values[gi], Value::Missing)
            || matches!(other.values[fi], Value::Missing)
        {
            return false;
        }
        let agreeing = rank(NAME_PHONETIC_LEVEL);
        let best = whole
            .name_readings
            .iter()
            .map(|(given, family)| {
                (
                    self.comparators[gi].level(given, &other.values[gi]),
                    self.comparators[fi].level(family, &other.values[fi]),
                )
            })
            .filter(|(lg, lf)| rank(*lg) <= agreeing && rank(*lf) <= agreeing)
            .min_by_key(|(lg, lf)| rank(*lg) + rank(*lf));
        let Some((lg, lf)) = best else {
            return false;
        };
        g.levels[gi] = lg;
        g.levels[fi] = lf;
        g.full_name_side = Some(side);
        true
    }

    /// The match weight of a pair (prior + comparison weights), and the
    /// cannot-link rule that holds, if any. Requires a trained model.
    pub fn score_prepared(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Result<(f64, Option<usize>)> {
        let g = self.gamma(a, b);
        self.score_gamma(a, b, &g)
    }

    fn score_gamma(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
        g: &Gamma,
    ) -> Result<(f64, Option<usize>)> {
        let w = self.weights.as_ref().ok_or_else(untrained)?;
        let (total, together) = self.weight_and_household(w, a, b, g);
        Ok((total - w.household_loss(together), self.cannot_link_rule(g)))
    }

    /// The pair's weight before the household's ceiling, and the household's
    /// comparisons' positive weights together.
    fn weight_and_household(
        &self,
        w: &Weights,
        a: &PreparedRecord,
        b: &PreparedRecord,
        g: &Gamma,
    ) -> (f64, f64) {
        let mut total = w.prior_weight;
        let mut weights = [0.0_f64; MAX_COMPARISONS];
        for (i, &l) in g.as_slice().iter().enumerate() {
            weights[i] = self.level_weight(w, i, l, a, b, g).0;
            total += weights[i];
        }
        total += self.joint_name_adjustment(w, g, a, b);
        (total, self.household_together(&weights))
    }

    /// For training's prior, which the household's ceiling depends on: the
    /// pair's weight with the prior left out and before the ceiling, the
    /// household's comparisons' positive weights together, and the
    /// cannot-link rule that holds.
    pub fn score_before_household(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Result<(f64, f64, Option<usize>)> {
        self.score_gamma_before_household(a, b, &self.gamma(a, b))
    }

    /// [`Self::score_before_household`] on levels already compared.
    pub(crate) fn score_gamma_before_household(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
        g: &Gamma,
    ) -> Result<(f64, f64, Option<usize>)> {
        let w = self.weights.as_ref().ok_or_else(untrained)?;
        let (total, together) = self.weight_and_household(w, a, b, g);
        Ok((total - w.prior_weight, together, self.cannot_link_rule(g)))
    }

    /// A pair whose given names agree at no level (the twins' and the
    /// different-given-name cannot-link rules) may be one child known by two
    /// given names, each agency writing one ("Brian" at school, "Kwotso" at
    /// home). When another record of the same child writes both in its given
    /// name ([`written_together`]), the two given names are no evidence
    /// either way: the pair is scored with its given name left out, and the
    /// other cannot-link rules still apply. `None` when the given names do
    /// agree at some level, were paired crosswise, or no record in `others`
    /// writes both.
    pub fn score_given_names_written_together<'r>(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
        mut others: impl Iterator<Item = &'r PreparedRecord>,
    ) -> Result<Option<(f64, Option<usize>)>> {
        let Some((gi, _)) = self.swap else {
            return Ok(None);
        };
        let (Value::Name(given_a), Value::Name(given_b)) = (&a.values[gi], &b.values[gi]) else {
            return Ok(None);
        };
        // The cheap test first: most pairs under a cannot-link rule are
        // namesakes and siblings, whose other records write no such name.
        let bridged = others.any(|other| match &other.values[gi] {
            Value::Name(both) => written_together(both, given_a, given_b),
            _ => false,
        });
        if !bridged {
            return Ok(None);
        }
        let mut g = self.gamma(a, b);
        if g.levels[gi] != NAME_ELSE_LEVEL || g.swapped || g.full_name_side.is_some() {
            return Ok(None);
        }
        g.levels[gi] = NULL_LEVEL;
        self.score_gamma(a, b, &g).map(Some)
    }

    /// [`Model::score_prepared`] for a batch that keeps only pairs weighing
    /// at least `floor` (and, with `drop_cannot_link`, only pairs no
    /// cannot-link rule holds for): `None` for any other pair, found out as
    /// soon as the comparisons made so far decide it, so that most pairs
    /// skip the costlier comparisons. The swappable names come first (a
    /// cannot-link rule on the given name ends most pairs of a block of
    /// siblings and namesakes), then the other comparisons cheapest first,
    /// each time checking whether the best the rest could add still reaches
    /// `floor`. A pair that is kept gets exactly `score_prepared`'s result.
    pub fn score_bounded(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
        floor: f64,
        drop_cannot_link: bool,
    ) -> Result<Option<(f64, Option<usize>)>> {
        let stop = if drop_cannot_link {
            Stop::AtCannotLink
        } else {
            Stop::BelowFloor { from: 0 }
        };
        Ok(match self.score_until(a, b, floor, stop)? {
            Bounded::Kept {
                weight,
                cannot_link,
            } => Some((weight, cannot_link)),
            Bounded::Below { .. } => None,
        })
    }

    /// [`Model::score_prepared`] for a pair that matters only at or above
    /// `floor`, where whether a cannot-link rule holds matters for every pair
    /// (online, a child with one record under a cannot-link rule is never
    /// linked automatically, however well its other records match). The
    /// comparisons the cannot-link rules read are always made; the costlier
    /// rest are skipped once the pair cannot reach `floor`. A kept pair gets
    /// exactly `score_prepared`'s result, and so does the cannot-link rule of
    /// a pair below.
    pub fn score_floor(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
        floor: f64,
    ) -> Result<Bounded> {
        self.score_until(
            a,
            b,
            floor,
            Stop::BelowFloor {
                from: self.cannot_link_known_after,
            },
        )
    }

    fn score_until(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
        floor: f64,
        stop: Stop,
    ) -> Result<Bounded> {
        // Sums below are made in another order than the final one: leave
        // room for rounding so that a pair at `floor` is never cut.
        const SLACK: f64 = 1e-6;
        let w = self.weights.as_ref().ok_or_else(untrained)?;
        let mut g = self.empty_gamma();
        let mut weights = [0.0_f64; MAX_COMPARISONS];
        let mut so_far = WeightSoFar::new(w);
        if let Some((gi, fi)) = self.swap {
            self.name_pair_levels(&mut g, a, b);
            for i in [gi, fi] {
                weights[i] = self.level_weight(w, i, g.levels[i], a, b, &g).0;
                so_far.add(weights[i], self.household.contains(&i));
            }
        }
        for (k, &i) in self.rest.iter().enumerate() {
            match stop {
                // A comparison not made yet holds the null level, which no
                // cannot-link condition lists: a rule that holds now holds
                // whatever the rest turn out to be.
                Stop::AtCannotLink => {
                    if let Some(rule) = self.cannot_link_rule(&g) {
                        return Ok(Bounded::Below {
                            cannot_link: Some(rule),
                        });
                    }
                    if so_far.best_final(w, k) < floor - SLACK {
                        return Ok(Bounded::Below { cannot_link: None });
                    }
                }
                // Every comparison a cannot-link rule reads is made before
                // `from`: the rule that holds now is the one that holds.
                Stop::BelowFloor { from } => {
                    if k >= from && so_far.best_final(w, k) < floor - SLACK {
                        return Ok(Bounded::Below {
                            cannot_link: self.cannot_link_rule(&g),
                        });
                    }
                }
            }
            g.levels[i] = self.comparators[i].level(&a.values[i], &b.values[i]);
            weights[i] = self.level_weight(w, i, g.levels[i], a, b, &g).0;
            so_far.add(weights[i], self.household.contains(&i));
        }
        let cannot_link = self.cannot_link_rule(&g);
        if matches!(stop, Stop::AtCannotLink) && cannot_link.is_some() {
            return Ok(Bounded::Below { cannot_link });
        }
        // The same additions in the same order as `score_prepared`.
        let mut total = w.prior_weight;
        for &weight in &weights[..g.len] {
            total += weight;
        }
        total += self.joint_name_adjustment(w, &g, a, b);
        total -= self.household_loss(w, &weights);
        Ok(if total >= floor {
            Bounded::Kept {
                weight: total,
                cannot_link,
            }
        } else {
            Bounded::Below { cannot_link }
        })
    }

    pub(crate) fn cannot_link_rule(&self, g: &Gamma) -> Option<usize> {
        self.cannot.iter().position(|(_, conds)| {
            conds
                .iter()
                .all(|(ci, levels)| levels.contains(&g.levels[*ci]))
        })
    }

    /// A correction (≤ 0 bits) when both names agree exactly: the two names'
    /// term-frequency adjustments assume a given name and a family name are
    /// chosen independently, but names cluster (by region, by language, by
    /// fashion in a birth year), so a common pair such as "Sarah Nakato" is
    /// shared by far more children than its two frequencies multiplied
    /// predict. The correction is log₂ of the product of the two names'
    /// frequencies over the frequency of the pair, capped at 0.
    fn joint_name_adjustment(
        &self,
        w: &Weights,
        g: &Gamma,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> f64 {
        let (Some((gi, fi)), Some((joint, floor))) = (self.swap, &w.joint_tf) else {
            return 0.0;
        };
        if g.levels[gi] != 0 || g.levels[fi] != 0 {
            return 0.0;
        }
        let (Some(given), Some(family)) = (&w.tf[gi], &w.tf[fi]) else {
            return 0.0;
        };
        let named = g.separately_named(a, b);
        let (Value::Name(gv), Value::Name(fv)) = (&named.values[gi], &named.values[fi]) else {
            return 0.0;
        };
        // Crosswise, the given name of one side is the family name of the
        // other: look each value up in both tables and keep the larger.
        let either = |value: &str| {
            tf_frequency(given, value, w.tf_floor[gi]).max(tf_frequency(
                family,
                value,
                w.tf_floor[fi],
            ))
        };
        let independent = if g.swapped {
            either(&gv.norm) * either(&fv.norm)
        } else {
            tf_frequency(given, &gv.norm, w.tf_floor[gi])
                * tf_frequency(family, &fv.norm, w.tf_floor[fi])
        };
        let Some(together) = known_frequency(joint, &crate::train::joint_name_key(gv, fv), *floor)
        else {
            return 0.0;
        };
        (independent / together).log2().min(0.0)
    }

    /// The household's comparisons' positive level weights together
    /// (`weights` per comparison).
    fn household_together(&self, weights: &[f64; MAX_COMPARISONS]) -> f64 {
        self.household.iter().map(|&i| weights[i].max(0.0)).sum()
    }

    /// What a pair with these level weights loses to the household's ceiling.
    fn household_loss(&self, w: &Weights, weights: &[f64; MAX_COMPARISONS]) -> f64 {
        w.household_loss(self.household_together(weights))
    }

    /// (weight, tf adjustment) of comparison `i` at level `l`.
    #[allow(clippy::too_many_arguments)]
    fn level_weight<'a>(
        &self,
        w: &Weights,
        i: usize,
        l: u8,
        a: &'a PreparedRecord,
        b: &'a PreparedRecord,
        g: &Gamma,
    ) -> (f64, f64) {
        if l == NULL_LEVEL {
            return (0.0, 0.0);
        }
        let base = w.level[i][l as usize];
        if l != 0 {
            return (base, 0.0);
        }
        let Some(table) = &w.tf[i] else {
            return (base, 0.0);
        };
        // The value that agreed exactly. Straight: side a's value. Crosswise:
        // a name of side a that side b also has (the more frequent one when
        // both do), so the result does not depend on the order of a and b.
        let key_of = |v: &'a Value| -> Option<&'a str> {
            match v {
                Value::Name(n) => Some(&n.norm),
                Value::Text(t) => Some(t),
                _ => None,
            }
        };
        if let Value::Date(d) = &a.values[i] {
            let Some(freq) = known_frequency(table, &d.key(), w.tf_floor[i]) else {
                return (base, 0.0);
            };
            let adj = (w.u[i][0] / freq).log2();
            return (base + adj, adj);
        }
        let key = match (g.swapped, self.swap) {
            // A whole name read as two: the name that agreed is the other
            // side's, written in its own field.
            (_, Some((gi, fi))) if g.full_name_side.is_some() && (i == gi || i == fi) => {
                key_of(&g.separately_named(a, b).values[i])
            }
            (true, Some((gi, fi))) if i == gi || i == fi => {
                let theirs = [key_of(&b.values[gi]), key_of(&b.values[fi])];
                [key_of(&a.values[gi]), key_of(&a.values[fi])]
                    .into_iter()
                    .flatten()
                    .filter(|k| theirs.contains(&Some(*k)))
                    .max_by(|x, y| {
                        let fx = table.get(*x).copied().unwrap_or(0.0);
                        let fy = table.get(*y).copied().unwrap_or(0.0);
                        fx.total_cmp(&fy).then(x.cmp(y))
                    })
            }
            _ => key_of(&a.values[i]),
        };
        let Some(key) = key else {
            return (base, 0.0);
        };
        let Some(freq) = known_frequency(table, key, w.tf_floor[i]) else {
            return (base, 0.0);
        };
        let u = w.u[i][0];
        let adj = (u / freq).log2();
        (base + adj, adj)
    }

    /// Score and explain a pair of records. Requires a trained model.
    pub fn compare(&self, a: &Record, b: &Record) -> Result<PairExplanation> {
        self.explain_prepared(&self.prepare(a), &self.prepare(b))
    }

    /// Score and explain a pair of prepared records.
    pub fn explain_prepared(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Result<PairExplanation> {
        let w = self.weights.as_ref().ok_or_else(untrained)?;
        let g = self.gamma(a, b);
        let mut total = w.prior_weight;
        let mut comparisons = Vec::with_capacity(g.len);
        let joint = self.joint_name_adjustment(w, &g, a, b);
        let mut level_weights = [0.0_f64; MAX_COMPARISONS];
        let mut tf_adjustments = [0.0_f64; MAX_COMPARISONS];
        for (i, &l) in g.as_slice().iter().enumerate() {
            (level_weights[i], tf_adjustments[i]) = self.level_weight(w, i, l, a, b, &g);
        }
        // The household's excess is shown on its comparisons, each losing its
        // share of their positive weights.
        let excess = self.household_loss(w, &level_weights);
        let positive = self.household_together(&level_weights);
        for (i, &l) in g.as_slice().iter().enumerate() {
            let (mut weight, mut adj) = (level_weights[i], tf_adjustments[i]);
            // The joint correction is shown on the family name: it says how
            // much less the family name adds once the given name agreed.
            if self.swap.is_some_and(|(_, fi)| fi == i) {
                weight += joint;
                adj += joint;
            }
            let household_adjustment = if excess > 0.0 && self.household.contains(&i) {
                -excess * level_weights[i].max(0.0) / positive
            } else {
                0.0
            };
            weight += household_adjustment;
            total += weight;
            let c = &self.comparators[i];
            let (label, idx, m, u) = if l == NULL_LEVEL {
                ("null".to_string(), None, None, None)
            } else {
                (
                    c.labels[l as usize].clone(),
                    Some(l),
                    Some(w.m[i][l as usize]),
                    Some(w.u[i][l as usize]),
                )
            };
            comparisons.push(ComparisonExplanation {
                comparison: c.name.clone(),
                level: label,
                level_index: idx,
                weight,
                tf_adjustment: adj,
                household_adjustment,
                m,
                u,
            });
        }
        Ok(PairExplanation {
            prior_weight: w.prior_weight,
            prior_probability: probability(w.prior_weight),
            comparisons,
            names_swapped: g.swapped,
            whole_name_read: g.full_name_side.is_some(),
            match_weight: total,
            match_probability: probability(total),
            cannot_link: self.cannot_link_rule(&g).map(|r| self.cannot[r].0.clone()),
        })
    }

    /// What to do with an explained pair under the model's thresholds. A pair
    /// under a cannot-link rule is never linked.
    pub fn decide(&self, explanation: &PairExplanation) -> Decision {
        let t = &self.spec.thresholds;
        if explanation.cannot_link.is_some() {
            Decision::NoMatch
        } else if explanation.match_probability >= t.link {
            Decision::Link
        } else if explanation.match_probability >= t.review {
            Decision::Review
        } else {
            Decision::NoMatch
        }
    }

    /// Check a record's values against the column types; the first problem as
    /// (column, message).
    pub fn validate(&self, record: &Record) -> std::result::Result<(), (String, String)> {
        for col in &self.spec.columns {
            let value = record.get(&col.name);
            let Some(v) = value else {
                if col.required {
                    return Err((col.name.clone(), "required value is missing".into()));
                }
                continue;
            };
            let ok = match col.kind {
                ColumnKind::Text | ColumnKind::LooseDate => true,
                ColumnKind::Date => DateValue::parse(v, false).is_some(),
                ColumnKind::Flag => parse_flag(v).is_some(),
                ColumnKind::Sex => canonical_sex(v).is_some(),
            };
            if !ok {
                let expected = match col.kind {
                    ColumnKind::Date => "a date YYYY-MM-DD",
                    ColumnKind::Flag => "1, 0, true or false",
                    ColumnKind::Sex => "m, f, male, female, other or unknown",
                    _ => "text",
                };
                return Err((col.name.clone(), format!("`{v}` is not {expected}")));
            }
        }
        if record.id.trim().is_empty() {
            return Err((
                self.spec.unique_id_column.clone(),
                "record id is empty".into(),
            ));
        }
        Ok(())
    }
}

fn untrained() -> MatchError {
    MatchError::Training("the model has no trained weights (train it first)".into())
}

/// How costly a comparison is to make, to order [`Model::score_bounded`]:
/// exact values and dates are a few instructions, places are memoised,
/// names and free text go through string similarities.
fn comparison_cost(kind: &crate::compare::ComparatorKind) -> u8 {
    use crate::compare::ComparatorKind;
    match kind {
        ComparatorKind::Exact | ComparatorKind::Date { .. } => 0,
        ComparatorKind::Location { .. } => 1,
        ComparatorKind::Text(_) => 2,
        ComparatorKind::Name { .. } => 3,
    }
}

/// How well a pair of names agrees, best first: the name levels in order, a
/// household name as bad as `else`, a missing name worst.
fn rank(level: u8) -> u32 {
    if level == NULL_LEVEL {
        6
    } else {
        u32::from(level.min(NAME_ELSE_LEVEL))
    }
}

/// A value's relative frequency in a term-frequency table, never below the
/// table's floor (the frequency of a value seen once).
fn tf_frequency(table: &HashMap<String, f64>, value: &str, floor: f64) -> f64 {
    known_frequency(table, value, floor).unwrap_or(floor)
}

/// A value's relative frequency when the model's records held it at least
/// twice, never below the table's floor (so never 0: the floor of a table is
/// one over its total). Two records that agree on a value were both counted when the model
/// was trained on them, so a value the table lacks is one the model never saw
/// twice: a record registered after training, or a name spelt in a way the
/// training records never spelt it. How common such a name is, the model does
/// not know; giving it the floor's frequency would make it the rarest of all
/// names (+10 bits and more).
fn known_frequency(table: &HashMap<String, f64>, value: &str, floor: f64) -> Option<f64> {
    table.get(value).map(|f| f.max(floor))
}

fn tf_map(table: &TfTable) -> HashMap<String, f64> {
    let total = table.total.max(1) as f64;
    table
        .counts
        .iter()
        .map(|(k, &c)| (k.clone(), c as f64 / total))
        .collect()
}

fn column_is_sex(spec: &ModelSpec, column: &str) -> bool {
    spec.columns
        .iter()
        .any(|c| c.name == column && c.kind == ColumnKind::Sex)
}

/// `m`, `f`, or `u` for a sex that says nothing for matching (unknown, not
/// stated, other): the values the registry's import accepts, and the Khmer
/// words agencies type in Khmer-script forms. `None` for anything else.
fn canonical_sex(raw: &str) -> Option<&'static str> {
    // Another sex is no evidence either way between two records, as an unknown one.
    Some(match SexCode::parse(raw)? {
        SexCode::Male => "m",
        SexCode::Female => "f",
        SexCode::Other | SexCode::Unknown => "u",
    })
}

/// The date in `column`, estimated when `estimated_column` flags it so.
pub(crate) fn parse_date(
    record: &Record,
    column: &str,
    estimated_column: Option<&str>,
) -> Option<DateValue> {
    let estimated = estimated_column
        .and_then(|c| record.get(c))
        .and_then(parse_flag)
        .unwrap_or(false);
    record
        .get(column)
        .and_then(|v| DateValue::parse(v, estimated))
}

/// Parse an estimated-date flag.
pub fn parse_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "t" => Some(true),
        "0" | "false" | "no" | "n" | "f" => Some(false),
        _ => None,
    }
}
