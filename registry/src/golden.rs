//! The golden record: one summary of a child drawn from every agency's current record.
//!
//! Each field takes the value most agencies agree on (compared without case); a tie goes to
//! the most recently received record. A birth date someone recorded exactly beats an estimate.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::ids::ChildId;
use crate::model::{ChildStatus, ChildView, GoldenRecord, Identifier, SourceRecordView};

/// An active child as its current records make it, the summary drawn from them.
pub fn active_child(
    child_id: ChildId,
    records: Vec<SourceRecordView>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> ChildView {
    ChildView {
        child_id,
        status: ChildStatus::Active,
        merged_into: None,
        created_at,
        updated_at,
        summary: summarise(&records),
        records,
    }
}

/// Picks the consensus value of one field; `records` are ordered oldest first.
fn consensus<T: Clone>(
    records: &[SourceRecordView],
    value: impl Fn(&SourceRecordView) -> Option<T>,
    key: impl Fn(&T) -> String,
) -> Option<T> {
    let mut tally: HashMap<String, (usize, usize, T)> = HashMap::new();
    for (position, record) in records.iter().enumerate() {
        if let Some(found) = value(record) {
            let entry = tally
                .entry(key(&found))
                .or_insert((0, position, found.clone()));
            entry.0 += 1;
            entry.1 = position;
            entry.2 = found;
        }
    }
    tally
        .into_values()
        .max_by_key(|(count, latest, _)| (*count, *latest))
        .map(|(_, _, found)| found)
}

fn text_consensus(
    records: &[SourceRecordView],
    value: impl Fn(&SourceRecordView) -> Option<&String>,
) -> Option<String> {
    consensus(
        records,
        |record| value(record).cloned(),
        |text| text.to_lowercase(),
    )
}

/// Summarises a child's current source records (any order).
pub fn summarise(records: &[SourceRecordView]) -> GoldenRecord {
    let mut records = records.to_vec();
    records.sort_by_key(|record| record.received_at);

    let given_name = text_consensus(&records, |r| r.child.given_name.as_ref());
    let family_name = text_consensus(&records, |r| r.child.family_name.as_ref());
    let exact_births: Vec<SourceRecordView> = records
        .iter()
        .filter(|record| {
            record.child.date_of_birth.is_some() && !record.child.date_of_birth_estimated
        })
        .cloned()
        .collect();
    let birth_source = if exact_births.is_empty() {
        &records
    } else {
        &exact_births
    };
    let date_of_birth = consensus(
        birth_source,
        |r| r.child.date_of_birth,
        |date| date.to_string(),
    );

    let mut other_names: Vec<String> = Vec::new();
    let mut identifiers: Vec<Identifier> = Vec::new();
    let mut source_systems: Vec<String> = Vec::new();
    let mut push_name = |name: &String| {
        let chosen = [given_name.as_ref(), family_name.as_ref()];
        let already = other_names.iter().any(|n| n.eq_ignore_ascii_case(name))
            || chosen
                .iter()
                .flatten()
                .any(|n| n.eq_ignore_ascii_case(name));
        if !already {
            other_names.push(name.clone());
        }
    };
    for record in &records {
        let child = &record.child;
        child.given_name.iter().for_each(&mut push_name);
        child.family_name.iter().for_each(&mut push_name);
        child.other_names.iter().for_each(&mut push_name);
        for identifier in &child.identifiers {
            if !identifiers.contains(identifier) {
                identifiers.push(identifier.clone());
            }
        }
        if !source_systems.contains(&record.source_system) {
            source_systems.push(record.source_system.clone());
        }
    }
    identifiers.sort();
    source_systems.sort();

    GoldenRecord {
        given_name,
        family_name,
        other_names,
        sex: consensus(&records, |r| r.child.sex, |sex| format!("{sex:?}")),
        date_of_birth,
        date_of_birth_estimated: exact_births.is_empty() && date_of_birth.is_some(),
        district: text_consensus(&records, |r| r.child.district.as_ref()),
        subcounty: text_consensus(&records, |r| r.child.subcounty.as_ref()),
        village: text_consensus(&records, |r| r.child.village.as_ref()),
        mother_name: text_consensus(&records, |r| r.child.mother_name.as_ref()),
        father_name: text_consensus(&records, |r| r.child.father_name.as_ref()),
        identifiers,
        source_systems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChildData, Sex};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn record(system: &str, second: u32, child: ChildData) -> SourceRecordView {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, second).unwrap();
        SourceRecordView {
            source_system: system.into(),
            source_record_id: format!("{system}-1"),
            version: 1,
            received_at: at,
            first_received_at: at,
            child,
        }
    }

    #[test]
    fn majority_then_recency_and_exact_birth_dates_win() {
        let date = |d| NaiveDate::from_ymd_opt(2020, 1, d);
        let a = ChildData {
            given_name: Some("Halima".into()),
            family_name: Some("Aguti".into()),
            sex: Some(Sex::F),
            date_of_birth: date(1),
            date_of_birth_estimated: true,
            ..Default::default()
        };
        let b = ChildData {
            given_name: Some("HALIMA".into()),
            family_name: Some("Agutti".into()),
            date_of_birth: date(17),
            ..Default::default()
        };
        let c = ChildData {
            given_name: Some("Alima".into()),
            family_name: Some("Agutti".into()),
            ..Default::default()
        };
        let golden = summarise(&[
            record("police-ug", 1, a),
            record("school-ug", 2, b),
            record("court-ug", 3, c),
        ]);
        assert_eq!(golden.given_name.as_deref(), Some("HALIMA"));
        assert_eq!(golden.family_name.as_deref(), Some("Agutti"));
        assert_eq!(golden.date_of_birth, date(17));
        assert!(!golden.date_of_birth_estimated);
        assert_eq!(golden.sex, Some(Sex::F));
        assert_eq!(
            golden.other_names,
            vec!["Aguti".to_owned(), "Alima".to_owned()]
        );
        assert_eq!(
            golden.source_systems,
            vec!["court-ug", "police-ug", "school-ug"]
        );
    }
}
