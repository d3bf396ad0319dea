//! Invariants of generated datasets: determinism, counts, ground truth, uniqueness, CSV
//! round trips, dates, Khmer script, twins.

#![allow(clippy::unwrap_used)] // test helpers, like tests, may unwrap

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use synthetic::chrono::NaiveDate;
use synthetic::{
    generate, write_canonical_csv, write_truth_csv, CountryMix, Dataset, GeneratorConfig,
    TrueChild, CANONICAL_COLUMNS,
};

fn config(records: usize, seed: u64, country: CountryMix) -> GeneratorConfig {
    GeneratorConfig {
        records,
        seed,
        country,
        ..GeneratorConfig::default()
    }
}

fn csv_bytes(dataset: &Dataset) -> (Vec<u8>, Vec<u8>) {
    let mut canonical = Vec::new();
    write_canonical_csv(&dataset.records, &mut canonical).unwrap();
    let mut truth = Vec::new();
    write_truth_csv(&dataset.records, &mut truth).unwrap();
    (canonical, truth)
}

fn is_khmer(text: &str) -> bool {
    text.chars().any(|c| ('\u{1780}'..='\u{17FF}').contains(&c))
}

#[test]
fn default_config_is_as_documented() {
    let config = GeneratorConfig::default();
    assert_eq!(config.seed, 42);
    assert_eq!(config.records, 10_000);
    assert_eq!(config.country, CountryMix::Both);
    assert_eq!(
        config.reference_date,
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    );
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seed_differs() {
    let a = csv_bytes(&generate(&config(3_000, 7, CountryMix::Both)));
    let b = csv_bytes(&generate(&config(3_000, 7, CountryMix::Both)));
    let c = csv_bytes(&generate(&config(3_000, 8, CountryMix::Both)));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}

#[test]
fn events_do_not_change_the_csv() {
    let with = generate(&config(2_000, 19, CountryMix::Both));
    let without = generate(&GeneratorConfig {
        events: false,
        ..config(2_000, 19, CountryMix::Both)
    });
    assert!(without.records.iter().all(|r| r.events.is_empty()));
    assert_eq!(csv_bytes(&with), csv_bytes(&without));
    assert_eq!(with.children, without.children);
}

#[test]
fn json_lines_round_trip() {
    let dataset = generate(&config(500, 29, CountryMix::Both));
    let mut records = Vec::new();
    synthetic::write_records_jsonl(&dataset.records, &mut records).unwrap();
    let back: Vec<synthetic::GeneratedRecord> = records
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(back, dataset.records);
    let mut children = Vec::new();
    synthetic::write_children_jsonl(&dataset.children, &mut children).unwrap();
    let back: Vec<TrueChild> = children
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(back, dataset.children);
}

#[test]
fn requested_record_count_is_honoured() {
    for country in [CountryMix::Uganda, CountryMix::Cambodia, CountryMix::Both] {
        for records in [0, 1, 2, 3, 17, 1_000] {
            let dataset = generate(&config(records, 3, country));
            assert_eq!(dataset.records.len(), records, "{country:?} {records}");
        }
    }
}

#[test]
fn ground_truth_is_consistent() {
    let dataset = generate(&config(5_000, 11, CountryMix::Both));
    let children: HashMap<u64, &TrueChild> =
        dataset.children.iter().map(|c| (c.cluster_id, c)).collect();
    assert_eq!(children.len(), dataset.children.len(), "cluster ids unique");
    let mut with_records = HashSet::new();
    for record in &dataset.records {
        assert!(
            children.contains_key(&record.cluster_id),
            "{}",
            record.record_id
        );
        with_records.insert(record.cluster_id);
    }
    assert_eq!(
        with_records.len(),
        children.len(),
        "every child has a record"
    );
    for child in &dataset.children {
        for linked in child
            .twin_of
            .iter()
            .chain(&child.siblings)
            .chain(&child.namesake_of)
        {
            assert!(
                children.contains_key(linked),
                "dangling link from {}",
                child.cluster_id
            );
            assert_ne!(*linked, child.cluster_id);
        }
        if let Some(twin) = child.twin_of {
            assert_eq!(children[&twin].twin_of, Some(child.cluster_id));
        }
    }
}

#[test]
fn record_ids_and_source_ids_are_unique() {
    let dataset = generate(&config(20_000, 5, CountryMix::Both));
    let ids: HashSet<&str> = dataset
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids.len(), dataset.records.len());
    let source_ids: HashSet<(&str, &str)> = dataset
        .records
        .iter()
        .map(|r| (r.source_system.as_str(), r.source_record_id.as_str()))
        .collect();
    assert_eq!(source_ids.len(), dataset.records.len());
}

#[test]
fn canonical_csv_has_exact_header_and_parses_back() {
    let dataset = generate(&config(2_000, 9, CountryMix::Both));
    let (canonical, truth) = csv_bytes(&dataset);
    let text = String::from_utf8(canonical.clone()).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "record_id,source_system,source_record_id,given_name,family_name,sex,date_of_birth,\
         date_of_birth_estimated,district,subcounty,village,mother_name,father_name"
    );
    let mut reader = csv::Reader::from_reader(canonical.as_slice());
    assert_eq!(reader.headers().unwrap(), CANONICAL_COLUMNS.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), dataset.records.len());
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    for (row, record) in rows.iter().zip(&dataset.records) {
        assert_eq!(&row[0], record.record_id);
        assert_eq!(&row[1], record.source_system);
        assert_eq!(&row[2], record.source_record_id);
        assert_eq!(row[3], opt(&record.given_name));
        assert_eq!(row[4], opt(&record.family_name));
        assert!(["", "F", "M", "X", "unknown"].contains(&&row[5]));
        assert_eq!(row[5], opt(&record.sex));
        match record.date_of_birth {
            Some(d) => assert_eq!(NaiveDate::parse_from_str(&row[6], "%Y-%m-%d").unwrap(), d),
            None => assert_eq!(&row[6], ""),
        }
        assert_eq!(
            &row[7],
            if record.date_of_birth_estimated {
                "1"
            } else {
                "0"
            }
        );
        assert_eq!(row[8], opt(&record.district));
        assert_eq!(row[9], opt(&record.subcounty));
        assert_eq!(row[10], opt(&record.village));
        assert_eq!(row[11], opt(&record.mother_name));
        assert_eq!(row[12], opt(&record.father_name));
    }

    let mut reader = csv::Reader::from_reader(truth.as_slice());
    assert_eq!(reader.headers().unwrap(), vec!["record_id", "cluster_id"]);
    for (row, record) in reader.records().map(Result::unwrap).zip(&dataset.records) {
        assert_eq!(&row[0], record.record_id);
        assert_eq!(row[1].parse::<u64>().unwrap(), record.cluster_id);
    }
}

#[test]
fn dates_are_plausible_and_never_after_the_reference_date() {
    let config = config(10_000, 13, CountryMix::Both);
    let reference = config.reference_date;
    let dataset = generate(&config);
    let children: HashMap<u64, &TrueChild> =
        dataset.children.iter().map(|c| (c.cluster_id, c)).collect();
    for child in &dataset.children {
        assert!(child.date_of_birth <= reference);
        assert!(child.date_of_birth >= NaiveDate::from_ymd_opt(2006, 1, 1).unwrap());
    }
    for record in &dataset.records {
        let child = children[&record.cluster_id];
        if let Some(dob) = record.date_of_birth {
            assert!(dob <= reference, "{} {dob}", record.record_id);
            assert!(
                (dob - child.date_of_birth).num_days().abs() < 4 * 366,
                "{}",
                record.record_id
            );
        }
        assert!(
            (1..=6).contains(&record.events.len()),
            "{}",
            record.record_id
        );
        for event in &record.events {
            assert!(event.date <= reference);
            assert!(event.date >= child.date_of_birth);
            // Children are 0-17 on every event date.
            let eighteen = NaiveDate::from_ymd_opt(
                child
                    .date_of_birth
                    .format("%Y")
                    .to_string()
                    .parse::<i32>()
                    .unwrap()
                    + 18,
                1,
                1,
            )
            .unwrap();
            assert!(event.date < eighteen + synthetic::chrono::Duration::days(366));
            assert!(["normal", "restricted", "confidential"].contains(&event.sensitivity.as_str()));
            assert!(event.details.is_object());
        }
        let first = record.events.iter().map(|e| e.date).min().unwrap();
        let prefix = record.source_system.split('-').next().unwrap();
        let opening = &record
            .events
            .iter()
            .find(|e| e.date == first)
            .unwrap()
            .event_type;
        assert!(
            opening.starts_with(prefix),
            "{opening} in {}",
            record.source_system
        );
    }
}

#[test]
fn systems_match_the_country_mix() {
    for (country, suffix) in [(CountryMix::Uganda, "-ug"), (CountryMix::Cambodia, "-kh")] {
        let dataset = generate(&config(2_000, 1, country));
        let systems: HashSet<&str> = dataset
            .records
            .iter()
            .map(|r| r.source_system.as_str())
            .collect();
        assert_eq!(systems.len(), 4, "{systems:?}");
        assert!(systems.iter().all(|s| s.ends_with(suffix)));
    }
    let dataset = generate(&config(4_000, 1, CountryMix::Both));
    let systems: HashSet<&str> = dataset
        .records
        .iter()
        .map(|r| r.source_system.as_str())
        .collect();
    let mut expected = vec![
        "police-ug",
        "court-ug",
        "school-ug",
        "welfare-ug",
        "police-kh",
        "court-kh",
        "school-kh",
        "welfare-kh",
    ];
    expected.sort();
    let mut got: Vec<&str> = systems.into_iter().collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn cambodian_agencies_write_a_share_of_names_in_khmer_script() {
    let dataset = generate(&config(10_000, 21, CountryMix::Cambodia));
    let share = |system: &str| {
        let records: Vec<_> = dataset
            .records
            .iter()
            .filter(|r| r.source_system == system)
            .collect();
        let khmer = records
            .iter()
            .filter(|r| {
                r.given_name
                    .as_deref()
                    .or(r.family_name.as_deref())
                    .is_some_and(is_khmer)
            })
            .count();
        khmer as f64 / records.len() as f64
    };
    for system in ["school-kh", "welfare-kh"] {
        let s = share(system);
        assert!((0.15..=0.40).contains(&s), "{system}: {s}");
    }
    assert!(share("police-kh") < share("school-kh"));
    let uganda = generate(&config(2_000, 21, CountryMix::Uganda));
    assert!(!uganda
        .records
        .iter()
        .any(|r| r.given_name.as_deref().is_some_and(is_khmer)));
}

#[test]
fn twins_siblings_and_namesakes_are_present() {
    let dataset = generate(&config(20_000, 17, CountryMix::Both));
    let children: HashMap<u64, &TrueChild> =
        dataset.children.iter().map(|c| (c.cluster_id, c)).collect();
    let twins: Vec<&TrueChild> = dataset
        .children
        .iter()
        .filter(|c| c.twin_of.is_some())
        .collect();
    let share = twins.len() as f64 / dataset.children.len() as f64;
    assert!((0.015..=0.06).contains(&share), "twin share {share}");
    for child in twins {
        let twin = children[&child.twin_of.unwrap()];
        assert_eq!(child.date_of_birth, twin.date_of_birth);
        assert_eq!(child.family_name, twin.family_name);
        assert_eq!(child.home, twin.home);
        assert_eq!(child.mother, twin.mother);
        assert_eq!(child.father, twin.father);
        assert_ne!(child.given_name, twin.given_name);
    }
    let with_siblings = dataset
        .children
        .iter()
        .filter(|c| !c.siblings.is_empty())
        .count();
    assert!(with_siblings as f64 / dataset.children.len() as f64 > 0.15);
    let namesakes: Vec<&TrueChild> = dataset
        .children
        .iter()
        .filter(|c| c.namesake_of.is_some())
        .collect();
    assert!(!namesakes.is_empty());
    for child in namesakes {
        let other = children[&child.namesake_of.unwrap()];
        assert_eq!(child.given_name, other.given_name);
        assert_eq!(child.family_name, other.family_name);
        assert_eq!(child.home.district, other.home.district);
        assert_ne!(child.family_id, other.family_id);
    }
}

#[test]
fn agencies_show_their_habits() {
    let dataset = generate(&config(40_000, 23, CountryMix::Both));
    let rate = |system: &str, f: &dyn Fn(&synthetic::GeneratedRecord) -> bool| {
        let records: Vec<_> = dataset
            .records
            .iter()
            .filter(|r| r.source_system.starts_with(system))
            .collect();
        records.iter().filter(|r| f(r)).count() as f64 / records.len() as f64
    };
    // Police estimate birth dates far more than schools.
    assert!(
        rate("police", &|r| r.date_of_birth_estimated)
            > 3.0 * rate("school", &|r| r.date_of_birth_estimated)
    );
    // Courts record fathers, schools mothers, police often neither.
    assert!(
        rate("court", &|r| r.father_name.is_some())
            > rate("police", &|r| r.father_name.is_some()) + 0.3
    );
    assert!(rate("school", &|r| r.mother_name.is_some()) > 0.7);
    // Only schools issue student ids.
    for record in &dataset.records {
        let has_student_id = record.identifiers.iter().any(|i| i.kind == "student_id");
        assert_eq!(has_student_id, record.source_system.starts_with("school"));
    }
    // Birth registration numbers are shared across agencies only sometimes.
    let brn = rate("welfare", &|r| {
        r.identifiers.iter().any(|i| i.kind == "birth_registration")
    });
    assert!((0.05..0.5).contains(&brn), "{brn}");
    // Most children appear in one or two systems, some in more.
    let mut per_child: HashMap<u64, usize> = HashMap::new();
    for record in &dataset.records {
        *per_child.entry(record.cluster_id).or_default() += 1;
    }
    let singles = per_child.values().filter(|&&n| n == 1).count() as f64 / per_child.len() as f64;
    let many = per_child.values().filter(|&&n| n >= 3).count() as f64 / per_child.len() as f64;
    assert!((0.3..0.6).contains(&singles), "{singles}");
    assert!((0.1..0.35).contains(&many), "{many}");
}

#[test]
fn zero_corruption_keeps_latin_names_close_to_the_truth() {
    let config = GeneratorConfig {
        records: 3_000,
        corruption: 0.0,
        country: CountryMix::Uganda,
        ..GeneratorConfig::default()
    };
    let dataset = generate(&config);
    let children: HashMap<u64, &TrueChild> =
        dataset.children.iter().map(|c| (c.cluster_id, c)).collect();
    for record in &dataset.records {
        let child = children[&record.cluster_id];
        if let Some(family) = &record.family_name {
            let known: Vec<String> = std::iter::once(&child.family_name)
                .chain(&child.other_names)
                .map(|n| n.to_uppercase())
                .collect();
            assert!(
                known.contains(&family.to_uppercase()),
                "{family} vs {known:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn invariants_hold_for_any_seed(seed in any::<u64>(), records in 0usize..400, both in any::<bool>()) {
        let country = if both { CountryMix::Both } else { CountryMix::Cambodia };
        let config = config(records, seed, country);
        let dataset = generate(&config);
        prop_assert_eq!(dataset.records.len(), records);
        let clusters: HashSet<u64> = dataset.children.iter().map(|c| c.cluster_id).collect();
        let ids: HashSet<&str> = dataset.records.iter().map(|r| r.record_id.as_str()).collect();
        prop_assert_eq!(ids.len(), records);
        for record in &dataset.records {
            prop_assert!(clusters.contains(&record.cluster_id));
            prop_assert!(record.date_of_birth.is_none_or(|d| d <= config.reference_date));
            prop_assert!(record.events.iter().all(|e| e.date <= config.reference_date));
        }
        let again = generate(&config);
        prop_assert_eq!(csv_bytes(&dataset), csv_bytes(&again));
    }
}

fn record_with_names(given: &str, family: &str, mother: &str) -> synthetic::GeneratedRecord {
    synthetic::GeneratedRecord {
        record_id: "r1".to_string(),
        cluster_id: 1,
        source_system: "welfare-ug".to_string(),
        source_record_id: "PRIM-0000001".to_string(),
        given_name: Some(given.to_string()),
        family_name: Some(family.to_string()),
        other_names: Vec::new(),
        sex: None,
        date_of_birth: None,
        date_of_birth_estimated: false,
        district: None,
        subcounty: None,
        village: None,
        mother_name: Some(mother.to_string()),
        father_name: None,
        identifiers: Vec::new(),
        events: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The hand-written CSV writer quotes exactly what the csv crate needs to read it back.
    #[test]
    fn csv_writer_round_trips_any_text(
        given in "[a-zA-Z ,\"\n\r'\u{1780}-\u{17FF}]{0,12}",
        family in "\\PC{0,8}",
        mother in "[,\"]{0,3}[a-z]{0,3}",
    ) {
        let record = record_with_names(&given, &family, &mother);
        let mut bytes = Vec::new();
        write_canonical_csv(std::slice::from_ref(&record), &mut bytes).unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        prop_assert_eq!(rows.len(), 1);
        prop_assert_eq!(&rows[0][3], given.as_str());
        prop_assert_eq!(&rows[0][4], family.as_str());
        prop_assert_eq!(&rows[0][11], mother.as_str());
        prop_assert_eq!(rows[0].len(), 13);
    }
}
