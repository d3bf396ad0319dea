//! What to generate.

use chrono::NaiveDate;

use crate::model::CountryMix;

/// Generator settings. The same config (seed included) always gives byte-identical output.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of the ChaCha8 random stream.
    pub seed: u64,
    /// Exact number of records to generate.
    pub records: usize,
    pub country: CountryMix,
    /// "Today" for the generated world: no event or record date is later. Fixed so output
    /// does not depend on the day it is generated.
    pub reference_date: NaiveDate,
    /// Share of households with a twin pair (hard negatives). Default 0.022, which makes
    /// about 3% of children twins.
    pub twin_rate: f64,
    /// Share of households whose first child gets the same given and family name, district
    /// and birth year as an earlier, unrelated child (hard negatives). Default 0.04.
    pub namesake_rate: f64,
    /// Multiplier on every error rate (typos, respellings, swaps, date slips, wrong sex,
    /// village misspellings). 0 gives clean records (habits such as missing fields,
    /// estimated dates and Khmer script stay), 1 the realistic default, 2 a hard data set.
    pub corruption: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            records: 10_000,
            country: CountryMix::Both,
            reference_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or(NaiveDate::MIN),
            twin_rate: 0.022,
            namesake_rate: 0.04,
            corruption: 1.0,
        }
    }
}
