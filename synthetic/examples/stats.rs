//! Measures what the generator produces, per source system: `cargo run --release -p synthetic
//! --example stats -- 100000`. The figures in the crate's README come from this.

use std::collections::HashMap;

use synthetic::{GeneratedRecord, TrueChild};

/// A labelled test on a record and the child it describes.
type Check = (
    &'static str,
    Box<dyn Fn(&GeneratedRecord, &TrueChild) -> bool>,
);

fn is_khmer(text: &str) -> bool {
    text.chars().any(|c| ('\u{1780}'..='\u{17FF}').contains(&c))
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn main() {
    let records = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let config = synthetic::GeneratorConfig {
        records,
        ..Default::default()
    };
    let dataset = synthetic::generate(&config);
    let children: HashMap<u64, &TrueChild> =
        dataset.children.iter().map(|c| (c.cluster_id, c)).collect();

    let checks: Vec<Check> = vec![
        ("dob missing", Box::new(|r, _| r.date_of_birth.is_none())),
        ("dob estimated", Box::new(|r, _| r.date_of_birth_estimated)),
        (
            "dob exact+correct",
            Box::new(|r, c| !r.date_of_birth_estimated && r.date_of_birth == Some(c.date_of_birth)),
        ),
        (
            "sex missing/unknown",
            Box::new(|r, _| r.sex.as_deref().is_none_or(|s| s == "unknown")),
        ),
        (
            "sex wrong",
            Box::new(|r, c| {
                r.sex
                    .as_deref()
                    .is_some_and(|s| (s == "F" || s == "M") && s != c.sex.code())
            }),
        ),
        ("given missing", Box::new(|r, _| r.given_name.is_none())),
        ("family missing", Box::new(|r, _| r.family_name.is_none())),
        (
            "khmer script",
            Box::new(|r, _| {
                r.given_name
                    .as_deref()
                    .or(r.family_name.as_deref())
                    .is_some_and(is_khmer)
            }),
        ),
        (
            "given = truth",
            Box::new(|r, c| {
                r.given_name
                    .as_deref()
                    .is_some_and(|g| same(g, &c.given_name))
            }),
        ),
        (
            "family = truth",
            Box::new(|r, c| {
                r.family_name
                    .as_deref()
                    .is_some_and(|f| same(f, &c.family_name))
            }),
        ),
        (
            "given/family swapped",
            Box::new(|r, c| {
                r.family_name
                    .as_deref()
                    .is_some_and(|f| same(f, &c.given_name))
                    && c.given_name != c.family_name
            }),
        ),
        ("village missing", Box::new(|r, _| r.village.is_none())),
        (
            "village = truth",
            Box::new(|r, c| {
                r.village.as_deref().is_some_and(|v| {
                    same(v, &c.home.village)
                        || c.moved_to.as_ref().is_some_and(|m| same(v, &m.village))
                })
            }),
        ),
        ("mother present", Box::new(|r, _| r.mother_name.is_some())),
        ("father present", Box::new(|r, _| r.father_name.is_some())),
        (
            "birth reg shown",
            Box::new(|r, _| r.identifiers.iter().any(|i| i.kind == "birth_registration")),
        ),
        (
            "national id shown",
            Box::new(|r, _| r.identifiers.iter().any(|i| i.kind == "national_id")),
        ),
    ];

    let mut systems: Vec<&str> = dataset
        .records
        .iter()
        .map(|r| r.source_system.as_str())
        .collect();
    systems.sort_unstable();
    systems.dedup();
    print!("{:<22}", "share of records");
    for system in &systems {
        print!("{system:>11}");
    }
    println!();
    for (label, check) in &checks {
        print!("{label:<22}");
        for system in &systems {
            let of_system: Vec<&GeneratedRecord> = dataset
                .records
                .iter()
                .filter(|r| r.source_system == *system)
                .collect();
            let hits = of_system
                .iter()
                .filter(|r| check(r, children[&r.cluster_id]))
                .count();
            print!(
                "{:>10.1}%",
                100.0 * hits as f64 / of_system.len().max(1) as f64
            );
        }
        println!();
    }
    print!("{:<22}", "records");
    for system in &systems {
        print!(
            "{:>11}",
            dataset
                .records
                .iter()
                .filter(|r| r.source_system == *system)
                .count()
        );
    }
    println!();

    let mut per_child: HashMap<u64, usize> = HashMap::new();
    for record in &dataset.records {
        *per_child.entry(record.cluster_id).or_default() += 1;
    }
    let mut histogram = [0usize; 8];
    for &n in per_child.values() {
        histogram[n.min(7)] += 1;
    }
    let n = dataset.children.len() as f64;
    println!(
        "children: {}, records per child: {:?}",
        dataset.children.len(),
        &histogram[1..]
    );
    let twins = dataset
        .children
        .iter()
        .filter(|c| c.twin_of.is_some())
        .count() as f64;
    let siblings = dataset
        .children
        .iter()
        .filter(|c| !c.siblings.is_empty())
        .count() as f64;
    let namesakes = dataset
        .children
        .iter()
        .filter(|c| c.namesake_of.is_some())
        .count() as f64;
    let moved = dataset
        .children
        .iter()
        .filter(|c| c.moved_to.is_some())
        .count() as f64;
    println!(
        "twins {:.1}%, with sibling(s) {:.1}%, namesakes {:.1}%, moved district {:.1}%",
        100.0 * twins / n,
        100.0 * siblings / n,
        100.0 * namesakes / n,
        100.0 * moved / n
    );
    let events: usize = dataset.records.iter().map(|r| r.events.len()).sum();
    println!(
        "events per record: {:.2}",
        events as f64 / dataset.records.len() as f64
    );

    let mut given: HashMap<&str, usize> = HashMap::new();
    for child in &dataset.children {
        *given.entry(child.given_name.as_str()).or_default() += 1;
    }
    let mut top: Vec<(&str, usize)> = given.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let singletons = top.iter().filter(|(_, c)| *c == 1).count();
    println!(
        "distinct given names {}, used once {}, top 5 {:?}",
        top.len(),
        singletons,
        &top[..5.min(top.len())]
    );
}
