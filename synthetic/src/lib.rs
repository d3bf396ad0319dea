//! Seeded synthetic child records for Uganda and Cambodia, with ground truth.
//!
//! [`generate`] builds a true population of children (households with parents, siblings,
//! twins, namesakes) and the records that police, court, school and welfare systems hold on
//! them, each written with that agency's habits and errors. The same [`GeneratorConfig`]
//! always produces byte-identical output. The crate does no I/O of its own: the writers take
//! any [`std::io::Write`].
//!
//! ```
//! let config = synthetic::GeneratorConfig { records: 100, ..Default::default() };
//! let dataset = synthetic::generate(&config);
//! assert_eq!(dataset.records.len(), 100);
//! let mut csv = Vec::new();
//! synthetic::write_canonical_csv(&dataset.records, &mut csv).unwrap();
//! ```
//!
//! The model (rates, habits) is described in the crate's `README.md`.

mod agency;
mod config;
mod corrupt;
mod error;
mod events;
mod geo;
mod model;
mod names;
mod output;
mod population;
mod records;
mod sample;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Re-exported: dates in the public API are `chrono::NaiveDate`.
pub use chrono;
pub use config::GeneratorConfig;
pub use error::GeneratorError;
pub use model::{
    Country, CountryMix, Dataset, GeneratedRecord, Identifier, Location, Parent, Sex,
    TimelineEvent, TrueChild,
};
pub use output::{
    write_canonical_csv, write_children_jsonl, write_records_jsonl, write_truth_csv,
    CANONICAL_COLUMNS, TRUTH_COLUMNS,
};

/// Generates exactly `config.records` records and the children they describe.
///
/// Children are numbered from 1 (`cluster_id`); every child in [`Dataset::children`] has at
/// least one record. Records are shuffled, then numbered `r0000001`, `r0000002`, ...
pub fn generate(config: &GeneratorConfig) -> Dataset {
    let mut rng = sample::Rand::seed_from_u64(config.seed);
    let mut population = population::Population::new(config);
    let mut writer = records::Writer::new(config);
    let mut children: Vec<TrueChild> = Vec::with_capacity(config.records / 2 + 1);
    let mut records: Vec<GeneratedRecord> = Vec::with_capacity(config.records);

    while records.len() < config.records {
        let country = match config.country {
            CountryMix::Uganda => Country::Uganda,
            CountryMix::Cambodia => Country::Cambodia,
            CountryMix::Both => {
                if rng.gen_bool(0.5) {
                    Country::Uganda
                } else {
                    Country::Cambodia
                }
            }
        };
        for child in population.household(&mut rng, country) {
            if records.len() >= config.records {
                break;
            }
            for (kind, opened) in records::plan_visits(&mut rng, &child, config.reference_date) {
                if records.len() >= config.records {
                    break;
                }
                records.push(writer.record(&mut rng, &child, kind, opened));
            }
            children.push(child.truth);
        }
    }

    // Links to children cut off by the record limit are dropped.
    let last_id = children.last().map_or(0, |c| c.cluster_id);
    for child in &mut children {
        child.twin_of = child.twin_of.filter(|&id| id <= last_id);
        child.siblings.retain(|&id| id <= last_id);
    }

    records.shuffle(&mut rng);
    let width = config.records.to_string().len().max(7);
    for (index, record) in records.iter_mut().enumerate() {
        record.record_id = format!("r{:0width$}", index + 1);
    }
    Dataset { children, records }
}
