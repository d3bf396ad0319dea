//! The one place a registry child becomes a search document.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use registry::model::{ChildStatus, ChildView, Sex};
use registry::validate::identifier_key;
use serde::{Deserialize, Serialize};
use tantivy::TantivyDocument;

use crate::birth_credit::birth_value;
use crate::schema::Fields;
use matching::normalize::{
    name_phonetic_key, name_phonetic_keys, nickname_canonical, normalize, normalized_tokens,
};

/// What a hit shows about a child, stored with its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredChild {
    pub child_id: String,
    pub display_name: String,
    pub other_names: Vec<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub date_of_birth_estimated: bool,
    pub sex: Option<Sex>,
    pub district: Option<String>,
    pub agencies: Vec<String>,
    /// The names and birth date of each of the child's records, once each: what the matching
    /// model compares a query with to rank the first hits (see [`crate::rank`]).
    #[serde(default)]
    pub spellings: Vec<Spelling>,
}

/// How one record names the child and dates the birth.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Spelling {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub date_of_birth_estimated: bool,
}

pub(crate) fn sex_term(sex: Sex) -> &'static str {
    match sex {
        Sex::F => "F",
        Sex::M => "M",
        Sex::X => "X",
        Sex::Unknown => "unknown",
    }
}

/// A district as a district-scoped reader's scope is compared with it: lower case, nothing
/// else folded, as the registry's visibility rule (`LOWER(district) = LOWER(scope)`) does, so
/// search never shows a child the reader could not then open.
pub(crate) fn scope_district(district: &str) -> String {
    district.to_lowercase()
}

/// Days since 0001-01-01: the birth date as a number for range filters.
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

/// The phonetic keys a name word is found by: its own, and its full form's when it is a
/// nickname or short form (Bob → Robert), so either spelling finds the other. Keys shorter
/// than two sounds match too much to be worth a term.
pub(crate) fn sound_keys(word: &str) -> Vec<String> {
    let mut keys = name_phonetic_keys(word);
    if let Some(full) = nickname_canonical(word) {
        keys.extend(name_phonetic_keys(full));
    }
    keys.retain(|key| key.chars().count() >= 2);
    keys.sort();
    keys.dedup();
    keys
}

pub(crate) fn year_term(year: i32) -> String {
    format!("{year:04}")
}

pub(crate) fn month_term(year: i32, month: u32) -> String {
    format!("{year:04}-{month:02}")
}

pub(crate) fn day_term(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Whether a birth date is only a guessed year: flagged as estimated, or written the way
/// agencies write a guessed year when they have no box to tick (1 January or 30 June). Its
/// month and day say nothing, so they are neither indexed nor queried.
pub(crate) fn is_estimate(date: NaiveDate, flagged: bool) -> bool {
    flagged || (date.month(), date.day()) == (1, 1) || (date.month(), date.day()) == (6, 30)
}

/// The terms a birth date is found by: its year, and unless it is an estimate
/// ([`is_estimate`]) its year-month and full date (`2022`, `2022-03`, `2022-03-17`).
pub(crate) fn birth_terms(date: NaiveDate, flagged_estimate: bool) -> Vec<String> {
    let mut terms = vec![year_term(date.year())];
    if !is_estimate(date, flagged_estimate) {
        terms.push(month_term(date.year(), date.month()));
        terms.push(day_term(date));
    }
    terms
}

/// The search document of a child; `None` for a child that must not be in the index (merged).
pub fn child_document(fields: &Fields, child: &ChildView) -> Option<TantivyDocument> {
    if child.status != ChildStatus::Active {
        return None;
    }
    let summary = &child.summary;
    let mut document = TantivyDocument::default();
    let id = child.child_id.to_string();
    document.add_text(fields.child_id, &id);

    let mut ids = BTreeSet::from([child.child_id.compact()]);
    let mut names = BTreeSet::new();
    let mut parents = BTreeSet::new();
    let mut places = BTreeSet::new();
    let mut births = BTreeSet::new();
    let mut districts = BTreeSet::new();
    let mut agencies = BTreeSet::new();
    let add_names = |set: &mut BTreeSet<String>, text: Option<&str>| {
        if let Some(text) = text {
            set.extend(normalized_tokens(text));
        }
    };
    // Khmer script leaves out the space between names (សុខដារ៉ា), which romanises to one word:
    // the whole name written together, in either order, is found by its sound too.
    let mut run_together = BTreeSet::new();
    let mut spellings = BTreeSet::new();
    for record in &child.records {
        let data = &record.child;
        spellings.insert(Spelling {
            given_name: data.given_name.clone(),
            family_name: data.family_name.clone(),
            date_of_birth: data.date_of_birth,
            date_of_birth_estimated: data.date_of_birth_estimated,
        });
        // A name of two words one agency writes as one (Srey Mom, Sreymom).
        for name in [&data.given_name, &data.family_name]
            .into_iter()
            .flatten()
            .chain(&data.other_names)
        {
            let words = normalized_tokens(name);
            if words.len() >= 2 {
                run_together.insert(name_phonetic_key(&words.concat()));
            }
        }
        if let (Some(given), Some(family)) = (&data.given_name, &data.family_name) {
            let (given, family) = (
                normalized_tokens(given).concat(),
                normalized_tokens(family).concat(),
            );
            run_together.insert(name_phonetic_key(&format!("{given}{family}")));
            run_together.insert(name_phonetic_key(&format!("{family}{given}")));
        }
        add_names(&mut names, data.given_name.as_deref());
        add_names(&mut names, data.family_name.as_deref());
        for other in &data.other_names {
            add_names(&mut names, Some(other.as_str()));
        }
        // "Maama Sarah", "the late Mr Opio": a title is not the parent's name, and as a word of
        // its own it would find every child whose parent an agency wrote so.
        for parent in [&data.mother_name, &data.father_name] {
            let name = parent.as_deref().map(matching::normalize::without_titles);
            add_names(&mut parents, name);
        }
        for place in [&data.district, &data.subcounty, &data.village] {
            add_names(&mut places, place.as_deref());
        }
        ids.extend(
            data.identifiers
                .iter()
                .map(|identifier| identifier_key(&identifier.value)),
        );
        births.extend(
            data.date_of_birth
                .map(|date| (date, data.date_of_birth_estimated)),
        );
        districts.extend(data.district.as_deref());
        agencies.insert(record.source_system.as_str());
    }
    // The summary is drawn from the records, but index it too in case a child has none.
    add_names(&mut names, summary.given_name.as_deref());
    add_names(&mut names, summary.family_name.as_deref());
    births.extend(
        summary
            .date_of_birth
            .map(|date| (date, summary.date_of_birth_estimated)),
    );

    for value in ids.iter().filter(|value| !value.is_empty()) {
        document.add_text(fields.ids, value);
    }
    let mut phonetic: BTreeSet<String> = names.iter().flat_map(|name| sound_keys(name)).collect();
    phonetic.extend(
        run_together
            .into_iter()
            .filter(|key| key.chars().count() >= 2),
    );
    for key in &phonetic {
        document.add_text(fields.names_phonetic, key);
    }
    // One value per field: tantivy counts the words for length normalisation.
    document.add_text(fields.names, join(&names));
    document.add_text(fields.parents, join(&parents));
    document.add_text(fields.location, join(&places));
    districts.extend(summary.district.as_deref());
    let filter_districts: BTreeSet<String> = districts.iter().map(|d| normalize(d)).collect();
    for district in filter_districts.iter().filter(|d| !d.is_empty()) {
        document.add_text(fields.district, district);
    }
    let scope_districts: BTreeSet<String> = districts.iter().map(|d| scope_district(d)).collect();
    for district in &scope_districts {
        document.add_text(fields.scope_districts, district);
    }
    if let Some(sex) = summary.sex {
        document.add_text(fields.sex, sex_term(sex));
    }
    let birth_terms: BTreeSet<String> = births
        .iter()
        .flat_map(|(date, estimated)| birth_terms(*date, *estimated))
        .collect();
    for term in &birth_terms {
        document.add_text(fields.birth, term);
    }
    let birth_values: BTreeSet<i64> = births
        .iter()
        .map(|(date, estimated)| birth_value(*date, is_estimate(*date, *estimated)))
        .collect();
    for value in birth_values {
        document.add_i64(fields.birth_dates, value);
    }
    if let Some(date) = summary.date_of_birth {
        document.add_i64(fields.birth_day, day_number(date));
    }
    agencies.extend(summary.source_systems.iter().map(String::as_str));
    for agency in agencies {
        document.add_text(fields.agencies, agency);
    }

    let display_name = [&summary.given_name, &summary.family_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let stored = StoredChild {
        child_id: id,
        display_name,
        other_names: summary.other_names.clone(),
        date_of_birth: summary.date_of_birth,
        date_of_birth_estimated: summary.date_of_birth_estimated,
        sex: summary.sex,
        district: summary.district.clone(),
        agencies: summary.source_systems.clone(),
        spellings: spellings.into_iter().collect(),
    };
    // Serialising plain strings and dates cannot fail; an empty object would only hide a hit's
    // details, never the hit.
    document.add_text(
        fields.stored,
        serde_json::to_string(&stored).unwrap_or_else(|_| "{}".to_owned()),
    );
    Some(document)
}

fn join(words: &BTreeSet<String>) -> String {
    words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}
