//! Child-protection indicators counted on deduplicated children, each with its range under the
//! open review candidates, and small-cell suppression on every published number.
//!
//! Everything here is a pure function of [`IndicatorFacts`], a compact projection of the
//! registry (one entry per active child, its current events, the referrals and the open
//! candidate pairs) read by [`IndicatorStore::indicator_facts`](crate::store::IndicatorStore).
//! `docs/indicators.md` defines each indicator and explains the ranges.

pub mod export;
pub mod suppression;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::ChildId;
use crate::model::Sex;
use crate::referrals::ReferralStatus;
use crate::validate::InvalidField;

/// Counts from 1 to this minus one are hidden unless configured otherwise.
pub const DEFAULT_SUPPRESSION_THRESHOLD: u64 = 10;

/// Components of more children than this get the loose range `[0, n]` per cell instead of an
/// exact one (the number of ways to split a component grows as the Bell numbers: 4,140 for 8).
pub const MAX_EXACT_COMPONENT: usize = 8;

/// Days after a police or court case within which a new one counts as re-appearing.
pub const REAPPEARANCE_DAYS: u64 = 365;

// ---------------------------------------------------------------------------------------------
// Agency categories: the one place that says which agencies and events are police, court,
// education and welfare.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgencyCategory {
    Police,
    Court,
    Education,
    Welfare,
}

impl AgencyCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyCategory::Police => "police",
            AgencyCategory::Court => "court",
            AgencyCategory::Education => "education",
            AgencyCategory::Welfare => "welfare",
        }
    }
}

/// The first word of a source system (`police-ug` → `police`) or of an event type
/// (`court.hearing` → `court`) decides its category. Primero, OSCaR and CPIMS are case
/// management systems of social welfare; probation officers belong to welfare too.
const CATEGORY_WORDS: &[(&str, AgencyCategory)] = &[
    ("police", AgencyCategory::Police),
    ("cpu", AgencyCategory::Police),
    ("court", AgencyCategory::Court),
    ("judiciary", AgencyCategory::Court),
    ("school", AgencyCategory::Education),
    ("education", AgencyCategory::Education),
    ("emis", AgencyCategory::Education),
    ("welfare", AgencyCategory::Welfare),
    ("primero", AgencyCategory::Welfare),
    ("oscar", AgencyCategory::Welfare),
    ("cpims", AgencyCategory::Welfare),
    ("probation", AgencyCategory::Welfare),
    ("social", AgencyCategory::Welfare),
];

fn category_of_word(word: &str) -> Option<AgencyCategory> {
    CATEGORY_WORDS
        .iter()
        .find(|(known, _)| *known == word)
        .map(|(_, category)| *category)
}

/// The category of an agency by its source system (`police-ug`, `primero-ke`).
pub fn category_of_source_system(source_system: &str) -> Option<AgencyCategory> {
    category_of_word(
        source_system
            .split(['-', '.', '_'])
            .next()
            .unwrap_or_default(),
    )
}

/// The category of an event by its type (`police.case_opened`, `school.enrolled`).
pub fn category_of_event(event_type: &str) -> Option<AgencyCategory> {
    category_of_word(event_type.split('.').next().unwrap_or_default())
}

/// Events that open a case with the police or a court: what "re-appearing" counts.
const JUSTICE_CASE_OPENED: &[&str] = &["police.case_opened", "court.case_filed"];

// ---------------------------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------------------------

/// A reporting period: a year (`2026`), a quarter (`2026-Q3`) or a month (`2026-11`), from its
/// first to its last day inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }

    /// The calendar year holding `date`.
    pub fn year_of(date: NaiveDate) -> Period {
        // A year of a valid date always parses.
        Period::from_str(&date.year().to_string()).unwrap_or(Period {
            label: date.year().to_string(),
            start: date,
            end: date,
        })
    }
}

impl FromStr for Period {
    type Err = InvalidField;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            InvalidField::new(
                "period",
                "invalid_period",
                "a period is a year (2026), a quarter (2026-Q3) or a month (2026-11)",
            )
        };
        let text = text.trim();
        let (year, rest) = text
            .split_once('-')
            .map_or((text, None), |(y, r)| (y, Some(r)));
        if year.len() != 4 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let (first_month, months) = match rest {
            None => (1, 12),
            Some(quarter) if quarter.starts_with(['Q', 'q']) => {
                let quarter: u32 = quarter[1..].parse().map_err(|_| invalid())?;
                if !(1..=4).contains(&quarter) {
                    return Err(invalid());
                }
                (3 * quarter - 2, 3)
            }
            Some(month) if month.len() == 2 => {
                let month: u32 = month.parse().map_err(|_| invalid())?;
                (month, 1)
            }
            Some(_) => return Err(invalid()),
        };
        let start = NaiveDate::from_ymd_opt(year, first_month, 1).ok_or_else(invalid)?;
        let end = start
            .checked_add_months(Months::new(months))
            .and_then(|next| next.pred_opt())
            .ok_or_else(invalid)?;
        let label = match rest {
            None => format!("{year:04}"),
            Some(_) if months == 3 => format!("{year:04}-Q{}", first_month.div_ceil(3)),
            Some(_) => format!("{year:04}-{first_month:02}"),
        };
        Ok(Period { label, start, end })
    }
}

// ---------------------------------------------------------------------------------------------
// The projection
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFact {
    pub event_type: String,
    pub date: NaiveDate,
}

/// One active child as the indicators see it: the summary's demographics, the agencies
/// holding records, and the current events of every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFacts {
    pub child_id: ChildId,
    /// When the child ID was issued (a merged group takes its earliest member's demographics).
    pub registered_at: DateTime<Utc>,
    /// The day (UTC) the child ID was issued.
    pub registered_on: NaiveDate,
    pub sex: Option<Sex>,
    pub date_of_birth: Option<NaiveDate>,
    pub district: Option<String>,
    pub source_systems: BTreeSet<String>,
    pub events: Vec<EventFact>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralFact {
    /// The active child the referral is about now.
    pub child_id: ChildId,
    pub from: String,
    pub to: String,
    pub status: ReferralStatus,
    pub referred_on: NaiveDate,
    /// The day it was accepted, if it ever was.
    pub accepted_on: Option<NaiveDate>,
}

/// Everything the indicators are computed from. No names: demographics only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorFacts {
    pub children: Vec<ChildFacts>,
    pub referrals: Vec<ReferralFact>,
    /// Pairs of active children a steward has not decided about yet (open or deferred review
    /// candidates): each pair may or may not be one child.
    pub open_pairs: Vec<(ChildId, ChildId)>,
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// One published number: a count (or a median) with its range under linkage uncertainty.
/// A hidden number has `suppressed: true` and no value or range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Cell {
    /// `total`, or the category of a disaggregation (`F`, `10-14`, `Wakiso`, `accepted`).
    pub key: String,
    #[schema(value_type = Option<f64>)]
    pub value: Option<serde_json::Number>,
    /// The smallest value any resolution of the open review candidates could give.
    #[schema(value_type = Option<f64>)]
    pub low: Option<serde_json::Number>,
    /// The largest value any resolution of the open review candidates could give.
    #[schema(value_type = Option<f64>)]
    pub high: Option<serde_json::Number>,
    pub suppressed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Disaggregation {
    /// `sex`, `age_band`, `district`, `status`, `to_category` or `from_category`.
    pub dimension: String,
    /// Cells adding up to the indicator's total.
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Indicator {
    pub code: String,
    pub title: String,
    pub definition: String,
    /// `children`, `referrals` or `days`.
    pub unit: String,
    pub total: Cell,
    pub disaggregations: Vec<Disaggregation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IndicatorReport {
    pub period: String,
    #[schema(value_type = String, format = Date)]
    pub starts_on: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub ends_on: NaiveDate,
    /// The district the counts are restricted to; absent for the whole country.
    pub district: Option<String>,
    /// Counts from 1 to this minus one are hidden.
    pub suppression_threshold: u64,
    /// Undecided review candidate pairs the ranges account for.
    pub open_candidate_pairs: usize,
    /// Groups of children linked by candidates too large for an exact range; their cells get
    /// the loose range `[0, group size]`.
    pub loosely_bounded_groups: usize,
    pub indicators: Vec<Indicator>,
}

// ---------------------------------------------------------------------------------------------
// Indicator definitions
// ---------------------------------------------------------------------------------------------

/// A child as counted: one active child, or several the open candidates might make one.
struct Subject<'a> {
    registered_on: NaiveDate,
    sex: Option<Sex>,
    date_of_birth: Option<NaiveDate>,
    district: Option<&'a str>,
    source_systems: BTreeSet<&'a str>,
    events: Vec<&'a EventFact>,
    referred_on: Vec<NaiveDate>,
}

impl Subject<'_> {
    fn event_in(&self, period: &Period, test: impl Fn(&EventFact) -> bool) -> bool {
        self.events
            .iter()
            .any(|event| period.contains(event.date) && test(event))
    }

    fn category_event_in(&self, period: &Period, category: AgencyCategory) -> bool {
        self.event_in(period, |event| {
            category_of_event(&event.event_type) == Some(category)
        })
    }

    fn typed_event_in(&self, period: &Period, event_type: &str) -> bool {
        self.event_in(period, |event| event.event_type == event_type)
    }

    fn seen(&self, period: &Period) -> bool {
        period.contains(self.registered_on) || self.event_in(period, |_| true)
    }

    fn justice(&self, period: &Period) -> bool {
        self.category_event_in(period, AgencyCategory::Police)
            || self.category_event_in(period, AgencyCategory::Court)
    }

    fn reappears(&self, period: &Period) -> bool {
        let cases: Vec<NaiveDate> = self
            .events
            .iter()
            .filter(|event| JUSTICE_CASE_OPENED.contains(&event.event_type.as_str()))
            .map(|event| event.date)
            .collect();
        cases.iter().any(|first| {
            period.contains(*first)
                && cases.iter().any(|next| {
                    next > first
                        && first
                            .checked_add_days(Days::new(REAPPEARANCE_DAYS))
                            .is_some_and(|limit| *next <= limit)
                })
        })
    }

    fn welfare_case(&self, period: &Period) -> bool {
        self.category_event_in(period, AgencyCategory::Welfare)
    }

    fn in_school(&self, period: &Period) -> bool {
        let school_event = |event: &EventFact| {
            category_of_event(&event.event_type) == Some(AgencyCategory::Education)
        };
        if self.event_in(period, |event| {
            school_event(event) && event.event_type != "school.left"
        }) {
            return true;
        }
        // Enrolled before the period and not known to have left before it started.
        let last_before = self
            .events
            .iter()
            .filter(|event| {
                event.date < period.start
                    && (event.event_type == "school.enrolled" || event.event_type == "school.left")
            })
            .max_by_key(|event| (event.date, event.event_type == "school.left"));
        last_before.is_some_and(|event| event.event_type == "school.enrolled")
    }
}

type Predicate = fn(&Subject<'_>, &Period) -> bool;

struct ChildIndicator {
    code: &'static str,
    title: &'static str,
    definition: &'static str,
    counts: Predicate,
}

/// The child indicators, in the order they are published.
const CHILD_INDICATORS: &[ChildIndicator] = &[
    ChildIndicator {
        code: "children_registered",
        title: "Children registered",
        definition: "Children whose child ID was issued in the period (first record from any agency).",
        counts: |s, p| p.contains(s.registered_on),
    },
    ChildIndicator {
        code: "children_seen",
        title: "Children seen by any agency",
        definition: "Children registered in the period or with any event dated in it.",
        counts: |s, p| s.seen(p),
    },
    ChildIndicator {
        code: "children_known_to_two_or_more_agencies",
        title: "Children known to two or more agencies",
        definition: "Children seen in the period whose records come from two or more agencies (source systems).",
        counts: |s, p| s.seen(p) && s.source_systems.len() >= 2,
    },
    ChildIndicator {
        code: "children_with_police_event",
        title: "Children in contact with the police",
        definition: "Children with a police event dated in the period.",
        counts: |s, p| s.category_event_in(p, AgencyCategory::Police),
    },
    ChildIndicator {
        code: "children_with_court_event",
        title: "Children before a court",
        definition: "Children with a court event dated in the period.",
        counts: |s, p| s.category_event_in(p, AgencyCategory::Court),
    },
    ChildIndicator {
        code: "children_in_contact_with_justice",
        title: "Children in contact with the justice system",
        definition: "Children with a police or court event dated in the period.",
        counts: |s, p| s.justice(p),
    },
    ChildIndicator {
        code: "children_reappearing_in_justice_within_12_months",
        title: "Children re-appearing in the justice system within 12 months",
        definition: "Children with a police case opened or a court case filed in the period and another one opened or filed within 365 days after it.",
        counts: |s, p| s.reappears(p),
    },
    ChildIndicator {
        code: "children_with_welfare_case",
        title: "Children with a welfare case",
        definition: "Children with a social welfare event dated in the period.",
        counts: |s, p| s.welfare_case(p),
    },
    ChildIndicator {
        code: "children_with_welfare_case_opened",
        title: "Welfare cases opened",
        definition: "Children with a welfare case opened (welfare.case_opened) in the period.",
        counts: |s, p| s.typed_event_in(p, "welfare.case_opened"),
    },
    ChildIndicator {
        code: "children_with_abuse_reported",
        title: "Children with abuse reported",
        definition: "Children with abuse reported to social welfare (welfare.abuse_reported) in the period.",
        counts: |s, p| s.typed_event_in(p, "welfare.abuse_reported"),
    },
    ChildIndicator {
        code: "children_placed_in_care",
        title: "Children placed in alternative care",
        definition: "Children with a care placement (welfare.placement) in the period.",
        counts: |s, p| s.typed_event_in(p, "welfare.placement"),
    },
    ChildIndicator {
        code: "children_in_school",
        title: "Children enrolled in school",
        definition: "Children with an education event other than leaving school in the period, or enrolled before it without having left before it began.",
        counts: |s, p| s.in_school(p),
    },
    ChildIndicator {
        code: "children_with_welfare_case_in_school",
        title: "School enrolment among children with welfare cases",
        definition: "Children with a welfare case in the period who were enrolled in school in it (numerator; children_with_welfare_case is the denominator).",
        counts: |s, p| s.welfare_case(p) && s.in_school(p),
    },
    ChildIndicator {
        code: "children_leaving_school",
        title: "Children leaving school",
        definition: "Children who left school (school.left) in the period.",
        counts: |s, p| s.typed_event_in(p, "school.left"),
    },
    ChildIndicator {
        code: "children_referred",
        title: "Children referred between agencies",
        definition: "Children with a referral made in the period.",
        counts: |s, p| s.referred_on.iter().any(|date| p.contains(*date)),
    },
];

const SEXES: [&str; 4] = ["F", "M", "X", "unknown"];
const AGE_BANDS: [&str; 6] = ["0-4", "5-9", "10-14", "15-17", "18+", "unknown"];
const REFERRAL_STATUSES: [ReferralStatus; 4] = [
    ReferralStatus::Pending,
    ReferralStatus::Accepted,
    ReferralStatus::Declined,
    ReferralStatus::Closed,
];
const CATEGORY_KEYS: [&str; 5] = ["police", "court", "education", "welfare", "other"];
const UNKNOWN: &str = "unknown";

fn sex_key(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::F) => "F",
        Some(Sex::M) => "M",
        Some(Sex::X) => "X",
        Some(Sex::Unknown) | None => UNKNOWN,
    }
}

/// Age in whole years on the period's last day.
fn age_band(date_of_birth: Option<NaiveDate>, period: &Period) -> &'static str {
    let Some(born) = date_of_birth else {
        return UNKNOWN;
    };
    let Some(age) = period.end.years_since(born) else {
        return UNKNOWN;
    };
    match age {
        0..=4 => "0-4",
        5..=9 => "5-9",
        10..=14 => "10-14",
        15..=17 => "15-17",
        _ => "18+",
    }
}

fn category_key(source_system: &str) -> &'static str {
    category_of_source_system(source_system).map_or("other", AgencyCategory::as_str)
}

/// Dimensions of the child indicators: the total, then sex, age band and district.
const CHILD_DIMENSIONS: [&str; 3] = ["sex", "age_band", "district"];

/// Where one counted child goes in each child dimension.
fn subject_keys(subject: &Subject<'_>, period: &Period) -> [String; 3] {
    [
        sex_key(subject.sex).to_owned(),
        age_band(subject.date_of_birth, period).to_owned(),
        subject.district.unwrap_or(UNKNOWN).to_owned(),
    ]
}

/// (indicator, dimension: 0 the total, 1.. the disaggregations, key)
type CellId = (usize, usize, String);

/// Every cell one subject counts in.
fn subject_cells(subject: &Subject<'_>, period: &Period, district: Option<&str>) -> Vec<CellId> {
    if let Some(wanted) = district {
        if !subject
            .district
            .is_some_and(|own| own.eq_ignore_ascii_case(wanted))
        {
            return Vec::new();
        }
    }
    let keys = subject_keys(subject, period);
    let mut cells = Vec::new();
    for (index, indicator) in CHILD_INDICATORS.iter().enumerate() {
        if (indicator.counts)(subject, period) {
            cells.push((index, 0, "total".to_owned()));
            for (dimension, key) in keys.iter().enumerate() {
                cells.push((index, dimension + 1, key.clone()));
            }
        }
    }
    cells
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    point: u64,
    low: u64,
    high: u64,
}

/// Union-find over child indices.
struct Groups {
    parent: Vec<usize>,
}

impl Groups {
    fn new(size: usize) -> Self {
        Groups {
            parent: (0..size).collect(),
        }
    }

    fn root(&mut self, mut index: usize) -> usize {
        while self.parent[index] != index {
            self.parent[index] = self.parent[self.parent[index]];
            index = self.parent[index];
        }
        index
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// Every way to split `size` members into blocks (restricted growth strings), as block numbers
/// per member.
fn partitions(size: usize) -> Vec<Vec<usize>> {
    fn grow(current: &mut Vec<usize>, size: usize, out: &mut Vec<Vec<usize>>) {
        if current.len() == size {
            out.push(current.clone());
            return;
        }
        let next_block = current.iter().max().map_or(0, |max| max + 1);
        for block in 0..=next_block {
            current.push(block);
            grow(current, size, out);
            current.pop();
        }
    }
    let mut out = Vec::new();
    grow(&mut Vec::with_capacity(size), size, &mut out);
    out
}

/// Whether every block is connected by candidate pairs (a merge follows a candidate, so only
/// such blocks can be one child).
fn blocks_connected(assignment: &[usize], edges: &[(usize, usize)]) -> bool {
    let blocks = assignment.iter().max().map_or(0, |max| max + 1);
    let mut groups = Groups::new(assignment.len());
    for (a, b) in edges {
        if assignment[*a] == assignment[*b] {
            groups.join(*a, *b);
        }
    }
    let mut roots = vec![None; blocks];
    for (member, block) in assignment.iter().enumerate() {
        let root = groups.root(member);
        match roots[*block] {
            None => roots[*block] = Some(root),
            Some(seen) if seen != root => return false,
            Some(_) => {}
        }
    }
    true
}

/// The subject several children would be as one: agencies, events and referrals together,
/// demographics of the earliest registered (as a merge keeps the surviving child's ID).
fn merge_subject<'a>(
    members: &[&'a ChildFacts],
    referrals: &HashMap<ChildId, Vec<NaiveDate>>,
) -> Subject<'a> {
    let first = members
        .iter()
        .min_by_key(|child| (child.registered_at, child.child_id))
        .copied();
    Subject {
        registered_on: first.map_or(NaiveDate::MIN, |child| child.registered_on),
        sex: first.and_then(|child| child.sex),
        date_of_birth: first.and_then(|child| child.date_of_birth),
        district: first.and_then(|child| child.district.as_deref()),
        source_systems: members
            .iter()
            .flat_map(|child| child.source_systems.iter().map(String::as_str))
            .collect(),
        events: members
            .iter()
            .flat_map(|child| child.events.iter())
            .collect(),
        referred_on: members
            .iter()
            .flat_map(|child| {
                referrals
                    .get(&child.child_id)
                    .into_iter()
                    .flatten()
                    .copied()
            })
            .collect(),
    }
}

/// Counts the child indicators with their ranges.
fn tally_children(
    facts: &IndicatorFacts,
    period: &Period,
    district: Option<&str>,
) -> (HashMap<CellId, Tally>, usize) {
    let index: HashMap<ChildId, usize> = facts
        .children
        .iter()
        .enumerate()
        .map(|(position, child)| (child.child_id, position))
        .collect();
    let mut referred: HashMap<ChildId, Vec<NaiveDate>> = HashMap::new();
    for referral in &facts.referrals {
        referred
            .entry(referral.child_id)
            .or_default()
            .push(referral.referred_on);
    }
    let mut groups = Groups::new(facts.children.len());
    let mut edges = Vec::new();
    for (a, b) in &facts.open_pairs {
        if let (Some(a), Some(b)) = (index.get(a), index.get(b)) {
            if a != b {
                groups.join(*a, *b);
                edges.push((*a, *b));
            }
        }
    }
    let mut components: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for position in 0..facts.children.len() {
        components
            .entry(groups.root(position))
            .or_default()
            .push(position);
    }
    let mut tallies: HashMap<CellId, Tally> = HashMap::new();
    let mut loose = 0;
    for members in components.values() {
        let children: Vec<&ChildFacts> = members.iter().map(|m| &facts.children[*m]).collect();
        // As the registry stands: each child on its own.
        let mut point: HashMap<CellId, u64> = HashMap::new();
        for child in &children {
            for cell in subject_cells(&merge_subject(&[child], &referred), period, district) {
                *point.entry(cell).or_default() += 1;
            }
        }
        if members.len() == 1 {
            for (cell, count) in point {
                let tally = tallies.entry(cell).or_default();
                tally.point += count;
                tally.low += count;
                tally.high += count;
            }
            continue;
        }
        let local: HashMap<usize, usize> = members
            .iter()
            .enumerate()
            .map(|(local, global)| (*global, local))
            .collect();
        let local_edges: Vec<(usize, usize)> = edges
            .iter()
            .filter_map(|(a, b)| Some((*local.get(a)?, *local.get(b)?)))
            .collect();
        let mut low: HashMap<CellId, u64> = HashMap::new();
        let mut high: HashMap<CellId, u64> = HashMap::new();
        if members.len() > MAX_EXACT_COMPONENT {
            // Loose but true: each cell counts between none and all of the group's children.
            loose += 1;
            let size = members.len() as u64;
            for child in &children {
                let alone = merge_subject(&[child], &referred);
                let keys = subject_keys(&alone, period);
                for indicator in 0..CHILD_INDICATORS.len() {
                    high.insert((indicator, 0, "total".to_owned()), size);
                    for (dimension, key) in keys.iter().enumerate() {
                        high.insert((indicator, dimension + 1, key.clone()), size);
                    }
                }
            }
            for cell in point.keys() {
                high.insert(cell.clone(), size);
            }
        } else {
            let mut outcomes: Vec<HashMap<CellId, u64>> = Vec::new();
            for assignment in partitions(members.len()) {
                if !blocks_connected(&assignment, &local_edges) {
                    continue;
                }
                let blocks = assignment.iter().max().map_or(0, |max| max + 1);
                let mut counts: HashMap<CellId, u64> = HashMap::new();
                for block in 0..blocks {
                    let in_block: Vec<&ChildFacts> = assignment
                        .iter()
                        .zip(&children)
                        .filter(|(b, _)| **b == block)
                        .map(|(_, child)| *child)
                        .collect();
                    for cell in
                        subject_cells(&merge_subject(&in_block, &referred), period, district)
                    {
                        *counts.entry(cell).or_default() += 1;
                    }
                }
                outcomes.push(counts);
            }
            // A cell missing from one way of splitting counts zero in it.
            let cells: BTreeSet<&CellId> = outcomes.iter().flat_map(HashMap::keys).collect();
            for cell in cells {
                let counts = outcomes
                    .iter()
                    .map(|outcome| outcome.get(cell).copied().unwrap_or(0));
                low.insert(cell.clone(), counts.clone().min().unwrap_or(0));
                high.insert(cell.clone(), counts.max().unwrap_or(0));
            }
        }
        let cells: BTreeSet<CellId> = point
            .keys()
            .chain(low.keys())
            .chain(high.keys())
            .cloned()
            .collect();
        for cell in cells {
            let tally = tallies.entry(cell.clone()).or_default();
            tally.point += point.get(&cell).copied().unwrap_or(0);
            tally.low += low.get(&cell).copied().unwrap_or(0);
            tally.high += high.get(&cell).copied().unwrap_or(0);
        }
    }
    (tallies, loose)
}

fn number(value: u64) -> serde_json::Number {
    serde_json::Number::from(value)
}

/// Applies suppression to one indicator's tallies and builds its published form.
fn publish(
    code: &str,
    title: &str,
    definition: &str,
    unit: &str,
    total: Tally,
    disaggregations: Vec<(&str, Vec<(String, Tally)>)>,
    threshold: u64,
) -> Indicator {
    let values: Vec<Vec<u64>> = disaggregations
        .iter()
        .map(|(_, cells)| cells.iter().map(|(_, tally)| tally.point).collect())
        .collect();
    let hidden = suppression::suppress(total.point, &values, threshold);
    let cell = |key: String, tally: Tally, suppressed: bool| Cell {
        key,
        value: (!suppressed).then(|| number(tally.point)),
        low: (!suppressed).then(|| number(tally.low)),
        high: (!suppressed).then(|| number(tally.high)),
        suppressed,
    };
    Indicator {
        code: code.to_owned(),
        title: title.to_owned(),
        definition: definition.to_owned(),
        unit: unit.to_owned(),
        total: cell("total".to_owned(), total, hidden.total),
        disaggregations: disaggregations
            .into_iter()
            .zip(hidden.cells)
            .map(|((dimension, cells), hidden)| Disaggregation {
                dimension: dimension.to_owned(),
                cells: cells
                    .into_iter()
                    .zip(hidden)
                    .map(|((key, tally), suppressed)| cell(key, tally, suppressed))
                    .collect(),
            })
            .collect(),
    }
}

/// The median of whole day counts, to half a day.
fn median(mut values: Vec<i64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle] as f64
    } else {
        (values[middle - 1] + values[middle]) as f64 / 2.0
    })
}

/// Every indicator for `period`, restricted to one district when `district` is given,
/// suppressed with `threshold`.
pub fn compute(
    facts: &IndicatorFacts,
    period: &Period,
    district: Option<&str>,
    threshold: u64,
) -> IndicatorReport {
    let (tallies, loose) = tally_children(facts, period, district);
    let mut districts: BTreeSet<String> = tallies
        .keys()
        .filter(|(_, dimension, _)| *dimension == 3)
        .map(|(_, _, key)| key.clone())
        .collect();
    // Listed last, like the other dimensions' `unknown`.
    let unknown_district = districts.remove(UNKNOWN);
    let mut district_keys: Vec<String> = districts.into_iter().collect();
    if unknown_district {
        district_keys.push(UNKNOWN.to_owned());
    }
    let get = |indicator: usize, dimension: usize, key: &str| {
        tallies
            .get(&(indicator, dimension, key.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    let mut indicators: Vec<Indicator> = CHILD_INDICATORS
        .iter()
        .enumerate()
        .map(|(index, definition)| {
            let dimension_keys: [Vec<String>; 3] = [
                SEXES.iter().map(|k| (*k).to_owned()).collect(),
                AGE_BANDS.iter().map(|k| (*k).to_owned()).collect(),
                district_keys.clone(),
            ];
            let disaggregations = CHILD_DIMENSIONS
                .iter()
                .zip(dimension_keys)
                .enumerate()
                .map(|(dimension, (name, keys))| {
                    let cells = keys
                        .into_iter()
                        .map(|key| {
                            let tally = get(index, dimension + 1, &key);
                            (key, tally)
                        })
                        .collect();
                    (*name, cells)
                })
                .collect();
            publish(
                definition.code,
                definition.title,
                definition.definition,
                "children",
                get(index, 0, "total"),
                disaggregations,
                threshold,
            )
        })
        .collect();

    // Referrals are counted as referrals, not children: linkage does not change them, so
    // their range is the count itself.
    let district_of: HashMap<ChildId, Option<&str>> = facts
        .children
        .iter()
        .map(|child| (child.child_id, child.district.as_deref()))
        .collect();
    let in_scope: Vec<&ReferralFact> = facts
        .referrals
        .iter()
        .filter(|referral| period.contains(referral.referred_on))
        .filter(|referral| match district {
            None => true,
            Some(wanted) => district_of
                .get(&referral.child_id)
                .copied()
                .flatten()
                .is_some_and(|own| own.eq_ignore_ascii_case(wanted)),
        })
        .collect();
    let exact = |count: usize| Tally {
        point: count as u64,
        low: count as u64,
        high: count as u64,
    };
    let by = |key_of: &dyn Fn(&ReferralFact) -> String, keys: Vec<String>| {
        keys.into_iter()
            .map(|key| {
                let count = in_scope.iter().filter(|r| key_of(r) == key).count();
                (key, exact(count))
            })
            .collect::<Vec<_>>()
    };
    let categories = || CATEGORY_KEYS.iter().map(|k| (*k).to_owned()).collect();
    indicators.push(publish(
        "referrals_made",
        "Referrals made, accepted and completed",
        "Referrals made in the period, by their status now (accepted = `accepted` + `closed`; completed = `closed`), by receiving and referring agency category.",
        "referrals",
        exact(in_scope.len()),
        vec![
            (
                "status",
                by(
                    &|r| r.status.as_str().to_owned(),
                    REFERRAL_STATUSES.iter().map(|s| s.as_str().to_owned()).collect(),
                ),
            ),
            ("to_category", by(&|r| category_key(&r.to).to_owned(), categories())),
            ("from_category", by(&|r| category_key(&r.from).to_owned(), categories())),
        ],
        threshold,
    ));

    // A median of fewer than `threshold` referrals is hidden like a small count.
    let accepted_days: Vec<i64> = in_scope
        .iter()
        .filter_map(|r| r.accepted_on.map(|on| (on - r.referred_on).num_days()))
        .collect();
    let shown = accepted_days.len() as u64 >= threshold;
    let median_days = median(accepted_days)
        .filter(|_| shown)
        .and_then(serde_json::Number::from_f64);
    indicators.push(Indicator {
        code: "median_days_to_acceptance".to_owned(),
        title: "Median days from referral to acceptance".to_owned(),
        definition: "Among referrals made in the period and accepted, the median number of days from the referral's date to its acceptance.".to_owned(),
        unit: "days".to_owned(),
        total: Cell {
            key: "total".to_owned(),
            value: median_days.clone(),
            low: median_days.clone(),
            high: median_days,
            suppressed: !shown,
        },
        disaggregations: Vec::new(),
    });

    IndicatorReport {
        period: period.label.clone(),
        starts_on: period.start,
        ends_on: period.end,
        district: district.map(str::to_owned),
        suppression_threshold: threshold,
        open_candidate_pairs: facts.open_pairs.len(),
        loosely_bounded_groups: loose,
        indicators,
    }
}

/// The districts children are in (as their summaries spell them), for exporting one table per
/// district.
pub fn districts(facts: &IndicatorFacts) -> Vec<String> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for child in &facts.children {
        if let Some(district) = &child.district {
            seen.entry(district.to_lowercase())
                .or_insert_with(|| district.clone());
        }
    }
    seen.into_values().collect()
}

#[cfg(test)]
mod tests;
