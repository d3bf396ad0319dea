//! Writers for the canonical child CSV, the truth CSV and JSON lines.

use std::io::Write;

use chrono::{Datelike, NaiveDate};

use crate::error::GeneratorError;
use crate::model::{GeneratedRecord, TrueChild};

/// Columns of the canonical child CSV, in order (a contract with the matching engine and bulk import).
pub const CANONICAL_COLUMNS: [&str; 13] = [
    "record_id",
    "source_system",
    "source_record_id",
    "given_name",
    "family_name",
    "sex",
    "date_of_birth",
    "date_of_birth_estimated",
    "district",
    "subcounty",
    "village",
    "mother_name",
    "father_name",
];

/// Columns of the truth CSV.
pub const TRUTH_COLUMNS: [&str; 2] = ["record_id", "cluster_id"];

/// `YYYY-MM-DD` into a reusable buffer (faster than chrono's formatter).
fn format_date(date: NaiveDate, buffer: &mut String) {
    use std::fmt::Write as _;
    buffer.clear();
    // Writing to a String cannot fail.
    let _ = write!(
        buffer,
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month(),
        date.day()
    );
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// Writes the canonical child CSV: the header, then one row per record.
///
/// Missing values are empty cells, dates are `YYYY-MM-DD`, `date_of_birth_estimated` is `1` or `0`.
pub fn write_canonical_csv<W: Write>(
    records: &[GeneratedRecord],
    out: W,
) -> Result<(), GeneratorError> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    writer.write_record(CANONICAL_COLUMNS)?;
    let mut date = String::with_capacity(10);
    for record in records {
        match record.date_of_birth {
            Some(dob) => format_date(dob, &mut date),
            None => date.clear(),
        }
        writer.write_record([
            record.record_id.as_str(),
            record.source_system.as_str(),
            record.source_record_id.as_str(),
            opt(&record.given_name),
            opt(&record.family_name),
            opt(&record.sex),
            date.as_str(),
            if record.date_of_birth_estimated {
                "1"
            } else {
                "0"
            },
            opt(&record.district),
            opt(&record.subcounty),
            opt(&record.village),
            opt(&record.mother_name),
            opt(&record.father_name),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes `record_id,cluster_id` for every record (same format as `shared/data/*_truth.csv`).
pub fn write_truth_csv<W: Write>(
    records: &[GeneratedRecord],
    out: W,
) -> Result<(), GeneratorError> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    writer.write_record(TRUTH_COLUMNS)?;
    let mut cluster = String::with_capacity(20);
    for record in records {
        use std::fmt::Write as _;
        cluster.clear();
        let _ = write!(cluster, "{}", record.cluster_id);
        writer.write_record([record.record_id.as_str(), cluster.as_str()])?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes every record as one JSON object per line, with identifiers, other names and events
/// (everything the canonical CSV leaves out).
pub fn write_records_jsonl<W: Write>(
    records: &[GeneratedRecord],
    mut out: W,
) -> Result<(), GeneratorError> {
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes every true child as one JSON object per line.
pub fn write_children_jsonl<W: Write>(
    children: &[TrueChild],
    mut out: W,
) -> Result<(), GeneratorError> {
    for child in children {
        serde_json::to_writer(&mut out, child)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
