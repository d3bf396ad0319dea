//! Writers for the canonical child CSV, the truth CSV and JSON lines.

use std::io::Write;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;

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

/// Rows of a CSV file being built in memory: RFC 4180 (`\n` line ends, fields quoted only
/// when they contain a comma, a quote or a line break — the same bytes as the `csv` crate's
/// defaults). Several times faster than a general CSV writer for these fixed layouts.
struct CsvRows {
    buffer: Vec<u8>,
    at_line_start: bool,
}

impl CsvRows {
    fn with_capacity(bytes: usize) -> Self {
        CsvRows {
            buffer: Vec::with_capacity(bytes),
            at_line_start: true,
        }
    }

    fn field(&mut self, value: &[u8]) {
        if !self.at_line_start {
            self.buffer.push(b',');
        }
        self.at_line_start = false;
        // Branch-free scan (vectorises): most fields need no quotes.
        let special = value.iter().fold(false, |found, &b| {
            found | (b == b',') | (b == b'"') | (b == b'\n') | (b == b'\r')
        });
        if special {
            self.buffer.push(b'"');
            for &b in value {
                if b == b'"' {
                    self.buffer.push(b'"');
                }
                self.buffer.push(b);
            }
            self.buffer.push(b'"');
        } else {
            self.buffer.extend_from_slice(value);
        }
    }

    fn opt(&mut self, value: &Option<String>) {
        self.field(value.as_deref().unwrap_or("").as_bytes());
    }

    fn date(&mut self, value: Option<NaiveDate>) {
        match value {
            Some(date) => {
                let mut text = [0u8; 10];
                let year = date.year().clamp(0, 9999) as u32;
                let digits = [
                    year / 1000,
                    year / 100 % 10,
                    year / 10 % 10,
                    year % 10,
                    10,
                    date.month() / 10,
                    date.month() % 10,
                    10,
                    date.day() / 10,
                    date.day() % 10,
                ];
                for (slot, digit) in text.iter_mut().zip(digits) {
                    *slot = if digit == 10 {
                        b'-'
                    } else {
                        b'0' + digit as u8
                    };
                }
                self.field(&text);
            }
            None => self.field(b""),
        }
    }

    fn end_record(&mut self) {
        self.buffer.push(b'\n');
        self.at_line_start = true;
    }

    fn header(columns: &[&str]) -> Vec<u8> {
        let mut rows = CsvRows::with_capacity(256);
        for column in columns {
            rows.field(column.as_bytes());
        }
        rows.end_record();
        rows.buffer
    }

    fn canonical(&mut self, record: &GeneratedRecord) {
        self.field(record.record_id.as_bytes());
        self.field(record.source_system.as_bytes());
        self.field(record.source_record_id.as_bytes());
        self.opt(&record.given_name);
        self.opt(&record.family_name);
        self.opt(&record.sex);
        self.date(record.date_of_birth);
        self.field(if record.date_of_birth_estimated {
            b"1"
        } else {
            b"0"
        });
        self.opt(&record.district);
        self.opt(&record.subcounty);
        self.opt(&record.village);
        self.opt(&record.mother_name);
        self.opt(&record.father_name);
        self.end_record();
    }

    fn truth(&mut self, record: &GeneratedRecord) {
        use std::fmt::Write as _;
        let mut cluster = String::with_capacity(20);
        let _ = write!(cluster, "{}", record.cluster_id);
        self.field(record.record_id.as_bytes());
        self.field(cluster.as_bytes());
        self.end_record();
    }
}

/// Records formatted per batch: rows are built in parallel in blocks and written in order,
/// so memory stays bounded (one batch) and the bytes do not depend on threads.
fn write_rows<W: Write>(
    records: &[GeneratedRecord],
    mut out: W,
    header: &[&str],
    row: fn(&mut CsvRows, &GeneratedRecord),
) -> Result<(), GeneratorError> {
    const BLOCK: usize = 4_096;
    const BATCH: usize = 64 * BLOCK;
    out.write_all(&CsvRows::header(header))?;
    for batch in records.chunks(BATCH) {
        let blocks: Vec<Vec<u8>> = batch
            .par_chunks(BLOCK)
            .map(|block| {
                let mut rows = CsvRows::with_capacity(block.len() * 128);
                for record in block {
                    row(&mut rows, record);
                }
                rows.buffer
            })
            .collect();
        for block in blocks {
            out.write_all(&block)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes the canonical child CSV: the header, then one row per record.
///
/// Missing values are empty cells, dates are `YYYY-MM-DD`, `date_of_birth_estimated` is `1` or `0`.
pub fn write_canonical_csv<W: Write>(
    records: &[GeneratedRecord],
    out: W,
) -> Result<(), GeneratorError> {
    write_rows(records, out, &CANONICAL_COLUMNS, CsvRows::canonical)
}

/// Writes `record_id,cluster_id` for every record (same format as `shared/data/*_truth.csv`).
pub fn write_truth_csv<W: Write>(
    records: &[GeneratedRecord],
    out: W,
) -> Result<(), GeneratorError> {
    write_rows(records, out, &TRUTH_COLUMNS, CsvRows::truth)
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
