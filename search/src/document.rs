//! The one place a registry child becomes a search document.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use registry::model::{ChildStatus, ChildView, Sex};
use registry::validate::identifier_key;
use serde::{Deserialize, Serialize};
use tantivy::TantivyDocument;

use crate::normalize::{normalize, phonetic_key, words};
use crate::schema::Fields;

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
}

pub(crate) fn sex_term(sex: Sex) -> &'static str {
    match sex {
        Sex::F => "F",
        Sex::M => "M",
        Sex::X => "X",
        Sex::Unknown => "unknown",
    }
}

/// Days since 0001-01-01: the birth date as a number for range filters.
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

/// The terms a birth date is found by: `2022`, `2022-01`, `2022-01-01`.
pub(crate) fn birth_terms(date: NaiveDate) -> [String; 3] {
    [
        format!("{:04}", date.year()),
        format!("{:04}-{:02}", date.year(), date.month()),
        date.format("%Y-%m-%d").to_string(),
    ]
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
    let add_names = |set: &mut BTreeSet<String>, text: Option<&String>| {
        if let Some(text) = text {
            set.extend(words(text));
        }
    };
    for record in &child.records {
        let data = &record.child;
        add_names(&mut names, data.given_name.as_ref());
        add_names(&mut names, data.family_name.as_ref());
        for other in &data.other_names {
            add_names(&mut names, Some(other));
        }
        add_names(&mut parents, data.mother_name.as_ref());
        add_names(&mut parents, data.father_name.as_ref());
        for place in [&data.district, &data.subcounty, &data.village] {
            add_names(&mut places, place.as_ref());
        }
        ids.extend(
            data.identifiers
                .iter()
                .map(|identifier| identifier_key(&identifier.value)),
        );
        births.extend(data.date_of_birth);
    }
    // The summary is drawn from the records, but index it too in case a child has none.
    add_names(&mut names, summary.given_name.as_ref());
    add_names(&mut names, summary.family_name.as_ref());
    births.extend(summary.date_of_birth);

    for value in ids.iter().filter(|value| !value.is_empty()) {
        document.add_text(fields.ids, value);
    }
    let phonetic: BTreeSet<String> = names.iter().map(|name| phonetic_key(name)).collect();
    for key in phonetic.iter().filter(|key| !key.is_empty()) {
        document.add_text(fields.names_phonetic, key);
    }
    // One value per field: tantivy counts the words for length normalisation.
    document.add_text(fields.names, join(&names));
    document.add_text(fields.parents, join(&parents));
    document.add_text(fields.location, join(&places));
    if let Some(district) = &summary.district {
        document.add_text(fields.district, normalize(district));
    }
    if let Some(sex) = summary.sex {
        document.add_text(fields.sex, sex_term(sex));
    }
    let birth_terms: BTreeSet<String> = births.iter().flat_map(|date| birth_terms(*date)).collect();
    for term in &birth_terms {
        document.add_text(fields.birth, term);
    }
    if let Some(date) = summary.date_of_birth {
        document.add_i64(fields.birth_day, day_number(date));
    }
    for agency in &summary.source_systems {
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
