//! Reading records from CSV (any `Read`) and writing clusters (any `Write`).
//!
//! The one place where the canonical child CSV (and any schema a model
//! describes) is parsed; bulk import reuses it. Rows are streamed in chunks.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::sync::Arc;

use crate::error::{MatchError, Result};
use crate::model::Model;
use crate::record::Record;

/// How to treat malformed rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Skip malformed rows (and count them) instead of stopping at the first.
    pub skip_bad_rows: bool,
    /// Records handed to the sink at a time.
    pub chunk_size: usize,
}

/// What reading found.
#[derive(Debug, Default)]
pub struct ReadReport {
    pub records: u64,
    /// Rows skipped (only with `skip_bad_rows`).
    pub skipped: u64,
    /// The first few problems (line, field, message), for the user.
    pub problems: Vec<MatchError>,
}

const KEPT_PROBLEMS: usize = 20;

/// A reader that hands on each `\r\n` as `\n` (a `\r` on its own is left as it is). The
/// CSV reader counts a line at each `\n`, but takes a record's position before the `\n`
/// that ends the line above it when that line ends in `\r\n`: every record of a file
/// saved on Windows would otherwise be reported a line early.
pub struct UnixLineEndings<R> {
    inner: R,
}

impl<R: BufRead> UnixLineEndings<R> {
    pub fn new(inner: R) -> Self {
        Self { inner }
    }
}

impl<R: BufRead> Read for UnixLineEndings<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                break;
            }
            let mut used = 0;
            // Whether the last byte available is a `\r`, which the next byte decides.
            let mut undecided = false;
            while used < available.len() && written < out.len() {
                let byte = available[used];
                if byte == b'\r' {
                    match available.get(used + 1) {
                        Some(b'\n') => {
                            used += 1;
                            continue;
                        }
                        None => {
                            undecided = true;
                            break;
                        }
                        Some(_) => {}
                    }
                }
                out[written] = byte;
                written += 1;
                used += 1;
            }
            self.inner.consume(used);
            if undecided {
                if written > 0 {
                    // The `\r` comes first next time.
                    break;
                }
                self.inner.consume(1);
                if self.inner.fill_buf()?.first() != Some(&b'\n') {
                    out[0] = b'\r';
                    written = 1;
                }
            }
        }
        Ok(written)
    }
}

/// Read records with the model's columns from CSV with a header row. Calls
/// `sink` with chunks of records. Stops at the first malformed row (a
/// [`MatchError::BadRow`] with its line and field) unless `skip_bad_rows`.
/// Duplicate record ids are malformed rows. `seen_ids` lets two files share one
/// id space (pass the same set for both).
pub fn read_records<R: Read>(
    model: &Model,
    input: R,
    options: ReadOptions,
    seen_ids: &mut HashSet<String>,
    mut sink: impl FnMut(Vec<Record>),
) -> Result<ReadReport> {
    let chunk_size = if options.chunk_size == 0 {
        50_000
    } else {
        options.chunk_size
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(UnixLineEndings::new(std::io::BufReader::new(input)));
    let header = reader.headers()?.clone();
    let names: Vec<Arc<str>> = header
        .iter()
        .map(|h| Arc::from(h.trim().trim_start_matches('\u{feff}').to_lowercase()))
        .collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(MatchError::BadRow {
                line: 1,
                field: n.to_string(),
                message: "column appears twice in the header".into(),
            });
        }
    }
    let spec = model.spec();
    let id_col = names
        .iter()
        .position(|n| **n == *spec.unique_id_column)
        .ok_or_else(|| MatchError::MissingColumn(spec.unique_id_column.clone()))?;
    for c in &spec.columns {
        if !names.iter().any(|n| **n == *c.name) {
            return Err(MatchError::MissingColumn(c.name.clone()));
        }
    }
    let mut report = ReadReport::default();
    let mut chunk = Vec::with_capacity(chunk_size);
    let mut row = csv::StringRecord::new();
    loop {
        let line_hint = reader.position().line() + 1;
        let result = reader.read_record(&mut row);
        let problem = match result {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map_or(line_hint, |p| p.line());
                if row.len() != names.len() {
                    Some(MatchError::BadRow {
                        line,
                        field: "(row)".into(),
                        message: format!("{} fields, the header has {}", row.len(), names.len()),
                    })
                } else {
                    let id = row.get(id_col).unwrap_or("").trim().to_string();
                    let mut record = Record::new(id);
                    for (name, value) in names.iter().zip(row.iter()) {
                        if Arc::ptr_eq(name, &names[id_col]) {
                            continue;
                        }
                        record.push(name.clone(), value);
                    }
                    match model.validate(&record) {
                        Err((field, message)) => Some(MatchError::BadRow {
                            line,
                            field,
                            message,
                        }),
                        Ok(()) if !seen_ids.insert(record.id.clone()) => Some(MatchError::BadRow {
                            line,
                            field: spec.unique_id_column.clone(),
                            message: format!("duplicate record id `{}`", record.id),
                        }),
                        Ok(()) => {
                            chunk.push(record);
                            report.records += 1;
                            if chunk.len() >= chunk_size {
                                sink(std::mem::take(&mut chunk));
                            }
                            None
                        }
                    }
                }
            }
            Err(e) => {
                let line = e.position().map_or(line_hint, |p| p.line());
                let message = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
                    _ => e.to_string(),
                };
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(e.into());
                }
                Some(MatchError::BadRow {
                    line,
                    field: "(row)".into(),
                    message,
                })
            }
        };
        if let Some(p) = problem {
            if !options.skip_bad_rows {
                return Err(p);
            }
            report.skipped += 1;
            if report.problems.len() < KEPT_PROBLEMS {
                report.problems.push(p);
            }
        }
    }
    if !chunk.is_empty() {
        sink(chunk);
    }
    Ok(report)
}

/// Read `record_id,cluster_id` rows (a header row first), as
/// [`write_clusters`] writes them and as ground truth comes: cluster by record.
pub fn read_clusters<R: Read>(input: R) -> Result<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(input);
    let mut clusters = HashMap::new();
    for row in reader.records() {
        let row = row?;
        if let (Some(id), Some(cluster)) = (row.get(0), row.get(1)) {
            clusters.insert(id.to_string(), cluster.to_string());
        }
    }
    Ok(clusters)
}

/// Write `record_id,cluster_id` for every record.
pub fn write_clusters<W: Write>(out: W, ids: &[String], labels: &[u32]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["record_id", "cluster_id"])?;
    for (id, label) in ids.iter().zip(labels) {
        w.write_record([id.as_str(), &label.to_string()])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ModelSpec;

    fn model() -> Model {
        Model::new(ModelSpec::canonical_child()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads `csv` with the default options, keeping nothing but the report.
    fn read_only(csv: &str) -> Result<ReadReport> {
        read_records(
            &model(),
            csv.as_bytes(),
            ReadOptions::default(),
            &mut HashSet::new(),
            |_| {},
        )
    }

    const HEADER: &str = "record_id,source_system,source_record_id,given_name,family_name,sex,date_of_birth,date_of_birth_estimated,district,subcounty,village,mother_name,father_name\n";

    #[test]
    fn clusters_read_back_as_written() {
        let mut out = Vec::new();
        write_clusters(&mut out, &["a".into(), "b".into()], &[7, 7])
            .unwrap_or_else(|e| panic!("{e}"));
        let clusters = read_clusters(&out[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters["a"], "7");
        assert_eq!(clusters["a"], clusters["b"]);
    }

    #[test]
    fn reads_canonical_rows_with_khmer() {
        let csv = format!("{HEADER}r1,edu,1,ដារ៉ា,សុខ,F,2016-03-02,0,Phnom Penh,,,,\nr2,court,9,Mary,NAKATO,female,2015-01-01,TRUE,Kampala,Nakawa,Kiswa,Nambi Sarah,\n");
        let mut got = Vec::new();
        let report = read_records(
            &model(),
            csv.as_bytes(),
            ReadOptions::default(),
            &mut HashSet::new(),
            |c| got.extend(c),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.records, 2);
        assert_eq!(got[0].get("given_name"), Some("ដារ៉ា"));
        assert_eq!(got[1].id, "r2");
    }

    proptest::proptest! {
        #[test]
        fn windows_line_endings_are_read_as_unix_ones(
            text in "[a\\r\\n]{0,40}",
            buffered in 1usize..6,
            asked in 1usize..6,
        ) {
            let mut reader = UnixLineEndings::new(std::io::BufReader::with_capacity(
                buffered,
                text.as_bytes(),
            ));
            let mut read = Vec::new();
            let mut piece = vec![0u8; asked];
            loop {
                let n = reader.read(&mut piece).unwrap();
                if n == 0 {
                    break;
                }
                read.extend_from_slice(&piece[..n]);
            }
            proptest::prop_assert_eq!(read, text.replace("\r\n", "\n").into_bytes());
        }
    }

    #[test]
    fn bad_date_is_reported_with_line_and_field() {
        let csv = format!("{HEADER}r1,edu,1,Dara,Sok,F,2016-03-02,0,,,,,\nr2,edu,2,Dara,Sok,F,2016-31-02,0,,,,,\n");
        // The same line whether the file's lines end as on Unix or as on Windows.
        for csv in [csv.clone(), csv.replace('\n', "\r\n")] {
            let err = read_only(&csv).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("line 3: field `date_of_birth`: `2016-31-02` is not a date YYYY-MM-DD")
            );
        }
    }

    #[test]
    fn skip_bad_rows_counts_them() {
        let csv = format!("{HEADER}r1,edu,1,Dara,Sok,F,2016-03-02,0,,,,,\nr2,edu,2,Dara\nr1,edu,1,Dara,Sok,F,2016-03-02,maybe,,,,,\nr3,edu,3,Dara,Sok,F,2016-03-02,1,,,,,\nr3,edu,3,Dara,Sok,F,2016-03-02,1,,,,,\n");
        let opts = ReadOptions {
            skip_bad_rows: true,
            chunk_size: 0,
        };
        let mut n = 0;
        let report = read_records(&model(), csv.as_bytes(), opts, &mut HashSet::new(), |c| {
            n += c.len()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, 2);
        assert_eq!(report.skipped, 3);
        assert!(report.problems[0]
            .to_string()
            .starts_with("line 3: field `(row)`"));
    }

    #[test]
    fn sexes_the_import_accepts_are_read_and_others_reported() {
        let row = |sex: &str| format!("{HEADER}r1,edu,1,Dara,Sok,{sex},2016-03-02,0,,,,,\n");
        let read = |sex: &str| {
            read_only(&row(sex))
                .map(|report| report.records)
                .map_err(|e| e.to_string())
        };
        for sex in [
            "F",
            "male",
            "Girl",
            "Other",
            "intersex",
            "not_stated",
            "ស្រី",
            "ប្រុស",
            "",
        ] {
            assert_eq!(read(sex), Ok(1), "{sex}");
        }
        assert_eq!(
            read("fem").err().as_deref(),
            Some("line 2: field `sex`: `fem` is not m, f, male, female, other or unknown")
        );
    }

    #[test]
    fn missing_column_is_an_error() {
        let csv = "record_id,given_name\nr1,Dara\n";
        assert!(matches!(read_only(csv), Err(MatchError::MissingColumn(_))));
    }
}
