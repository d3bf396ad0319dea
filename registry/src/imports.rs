//! Bulk import jobs (issue 9): what an uploaded file holds, how its rows become submissions
//! (the canonical child CSV, NDJSON of `/v1/records` bodies, or a Primero or OSCaR export
//! mapped field by field), and the runner that feeds a job's rows to the store chunk by chunk.
//!
//! A job's body and progress live in the database. Each chunk's registrations, per-row results
//! and the job's counters commit together ([`ImportStore::import_chunk`]), so a runner stopped
//! at any moment resumes at the first row not committed: no row counted twice, none lost.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use matching::csvio::UnixLineEndings;
use matching::normalize::SexCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{Actor, AuditAction, AuditDraft, AuditKey};
use crate::dates::read_written_date;
use crate::error::{RegistryError, Result};
use crate::ids::ChildId;
use crate::linkage::{self, Matcher};
use crate::model::{ChildData, EventData, Identifier, RecordSubmission, Sex, ValidRecord};
use crate::store::content::{content_hash, StoredBody};
use crate::store::Store;
use crate::validate::{identifier_key, InvalidField};

/// Rows committed per transaction: large enough that multi-row statements and batched
/// look-ups pay off, small enough that a restart repeats little and online registrations
/// wait little for the writer.
pub const CHUNK_ROWS: usize = 2000;

/// How the uploaded body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl ImportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Csv => "csv",
            ImportFormat::Ndjson => "ndjson",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "csv" => Some(ImportFormat::Csv),
            "ndjson" | "jsonl" => Some(ImportFormat::Ndjson),
            _ => None,
        }
    }
}

/// Whose field names the rows use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportMapping {
    /// The canonical child columns (CSV) or `/v1/records` bodies (NDJSON).
    Canonical,
    /// A Primero (v2) case export.
    Primero,
    /// An OSCaR client export.
    Oscar,
}

impl ImportMapping {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMapping::Canonical => "canonical",
            ImportMapping::Primero => "primero",
            ImportMapping::Oscar => "oscar",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "canonical" => Some(ImportMapping::Canonical),
            "primero" => Some(ImportMapping::Primero),
            "oscar" => Some(ImportMapping::Oscar),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(ImportStatus::Queued),
            "running" => Some(ImportStatus::Running),
            "done" => Some(ImportStatus::Done),
            "failed" => Some(ImportStatus::Failed),
            _ => None,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, ImportStatus::Done | ImportStatus::Failed)
    }
}

/// A job to create: the body as uploaded and who may be named in it.
#[derive(Debug, Clone)]
pub struct NewImport {
    pub format: ImportFormat,
    pub mapping: ImportMapping,
    /// The one source system rows may name, and the one rows without a source system get
    /// (mapped exports carry none). `None` (the command line) lets rows name any.
    pub source_system: Option<String>,
    /// The API client or person importing: recorded as each version's `received_from`.
    pub submitted_by: String,
    pub body: Vec<u8>,
}

/// A job and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ImportJob {
    /// `imp_…`.
    pub id: String,
    pub status: ImportStatus,
    pub format: ImportFormat,
    pub mapping: ImportMapping,
    pub source_system: Option<String>,
    #[serde(skip)]
    pub submitted_by: String,
    /// Data rows in the body.
    pub total_rows: i64,
    /// Rows processed so far (each has its result).
    pub rows_done: i64,
    /// Rows that joined an existing child.
    pub linked: i64,
    /// Rows that got a new child.
    pub new: i64,
    /// Rows that got a new child and a review candidate for a data steward.
    pub review: i64,
    /// Rows rejected with a reason (see the results).
    pub rejected: i64,
    /// Why a failed job stopped.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why a row was rejected: the field (a column name, or a JSON path in NDJSON) and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl RowError {
    fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        RowError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// One data row of the body, parsed.
#[derive(Debug, Clone)]
pub struct ParsedRow {
    /// Line of the body the row starts on (the CSV header is line 1).
    pub line: i64,
    pub submission: std::result::Result<RecordSubmission, RowError>,
    /// The record's source system and ID as far as a row that could not be read gave them,
    /// so that its result still says which of the agency's records it was.
    pub key: RowKey,
}

/// A record's source system and ID, each if given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowKey {
    pub source_system: Option<String>,
    pub source_record_id: Option<String>,
}

impl RowKey {
    fn of_fields(
        fields: &HashMap<&str, &str>,
        mapping: ImportMapping,
        default_source_system: Option<&str>,
    ) -> Self {
        let source_system = match mapping {
            ImportMapping::Canonical => text(fields, &["source_system"]),
            // Exports do not name the system they come from: the job says.
            ImportMapping::Primero | ImportMapping::Oscar => None,
        };
        Self {
            source_system: source_system.or_else(|| default_source_system.map(str::to_owned)),
            source_record_id: text(fields, required_id_column(mapping)),
        }
    }

    /// From an NDJSON line that is a JSON object, whatever else is wrong with it.
    fn of_json(line: &str, default_source_system: Option<&str>) -> Self {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            source_system: field("source_system")
                .or_else(|| default_source_system.map(str::to_owned)),
            source_record_id: field("source_record_id"),
        }
    }
}

/// One row handed to the store: checked, or rejected with its reason.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// 1-based position among the data rows.
    pub row: i64,
    pub line: i64,
    pub source_system: Option<String>,
    pub source_record_id: Option<String>,
    pub record: std::result::Result<ValidRecord, RowError>,
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportResult {
    pub row: i64,
    pub line: i64,
    pub source_system: Option<String>,
    pub source_record_id: Option<String>,
    pub child_id: Option<ChildId>,
    /// `new`, `linked`, `review` or `rejected`.
    pub outcome: String,
    pub error_field: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// A chunk of rows ready for the store: each valid row normalised, keyed and hashed with the
/// model that was active when it was prepared. That work needs no database, so the runner
/// prepares the next chunk while the store writes this one ([`run_job`]).
pub struct PreparedChunk {
    pub(crate) model_version: i64,
    pub(crate) rows: Vec<ImportRow>,
    /// The valid rows, in row order.
    pub(crate) fresh: Vec<PreparedRow>,
}

/// A valid row of a chunk, ready to compare and write.
pub(crate) struct PreparedRow {
    /// Position in the chunk's rows.
    pub(crate) index: usize,
    pub(crate) record: ValidRecord,
    /// Its blocking keys' distinct hashes, as stored.
    pub(crate) key_hashes: Vec<i64>,
    pub(crate) identifiers: BTreeSet<(String, String)>,
    pub(crate) prepared: matching::PreparedRecord,
    pub(crate) body: StoredBody,
    pub(crate) hash: String,
    /// The record's distinct events with their content hashes.
    pub(crate) events: Vec<(String, EventData)>,
}

/// A record ready to compare and write, at `index` of its chunk (or batch).
pub(crate) fn prepare_row(
    matcher: &Matcher,
    index: usize,
    record: ValidRecord,
) -> Result<PreparedRow> {
    let body = StoredBody {
        child: record.child.clone(),
        events: record.events.clone(),
    };
    let hash = content_hash(&body)?;
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    for event in &record.events {
        let event_hash = content_hash(event)?;
        if seen.insert(event_hash.clone()) {
            events.push((event_hash, event.clone()));
        }
    }
    Ok(PreparedRow {
        index,
        key_hashes: linkage::key_hashes(&matcher.blocking_keys(&record.child)),
        identifiers: record
            .child
            .identifiers
            .iter()
            .map(|identifier| (identifier.kind.clone(), identifier_key(&identifier.value)))
            .filter(|(_, key)| !key.is_empty())
            .collect(),
        prepared: matcher.prepare(&record.source_system, &record.child),
        body,
        hash,
        events,
        record,
    })
}

/// Prepares a chunk's valid rows with `matcher`, on the calling thread: the runner calls it on
/// one blocking thread beside the store's writing and comparing of the chunk before, which
/// keep the other cores busy (on two cores, preparing on all of them only slowed those down as
/// much as it saved).
fn prepare_rows(matcher: &Matcher, rows: Vec<ImportRow>) -> Result<PreparedChunk> {
    let fresh = rows
        .iter()
        .enumerate()
        .filter_map(|(index, row)| {
            let record = row.record.as_ref().ok()?;
            Some(prepare_row(matcher, index, record.clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PreparedChunk {
        model_version: matcher.version(),
        rows,
        fresh,
    })
}

/// Starts preparing `rows` with `matcher` on a blocking thread.
fn spawn_prepare_rows(
    matcher: Arc<Matcher>,
    rows: Vec<ImportRow>,
) -> tokio::task::JoinHandle<Result<PreparedChunk>> {
    tokio::task::spawn_blocking(move || prepare_rows(&matcher, rows))
}

/// The chunk a blocking thread prepared.
async fn prepared(task: tokio::task::JoinHandle<Result<PreparedChunk>>) -> Result<PreparedChunk> {
    task.await
        .map_err(|error| RegistryError::Corrupt(format!("preparing rows stopped: {error}")))?
}

/// Prepares a chunk's valid rows with `matcher`, off the async runtime.
pub async fn prepare_chunk(matcher: Arc<Matcher>, rows: Vec<ImportRow>) -> Result<PreparedChunk> {
    prepared(spawn_prepare_rows(matcher, rows)).await
}

/// Import jobs in the database: part of every [`Store`].
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Stores the body and a queued job of `total_rows` rows.
    async fn create_import(&self, import: NewImport, total_rows: i64) -> Result<ImportJob>;

    async fn import_job(&self, job_id: &str) -> Result<Option<ImportJob>>;

    /// The body as uploaded.
    async fn import_body(&self, job_id: &str) -> Result<Vec<u8>>;

    /// Queued and running jobs, oldest first (what a runner picks up after a restart).
    async fn pending_imports(&self) -> Result<Vec<ImportJob>>;

    /// Registers the chunk's rows (the job's rows from `first_row + 1` on) with matching, and
    /// stores their results and the job's new counters, all in one transaction. A `Conflict`
    /// with code `import_moved` when the job is no longer at `first_row` (another runner got
    /// there first): nothing is written.
    async fn import_chunk(
        &self,
        job_id: &str,
        first_row: i64,
        chunk: PreparedChunk,
    ) -> Result<ImportJob>;

    /// Scores `chunk` (the job's rows from `first_row + 1` on) against the registry as
    /// committed now, on a read connection, and keeps the scores for the same chunk's
    /// [`import_chunk`](Self::import_chunk): the runner calls it while the chunk before is
    /// written. `import_chunk` uses them only when nothing but that chunk before was committed
    /// since (its new records are added from memory); otherwise it reads and scores again.
    async fn score_ahead(
        &self,
        job_id: &str,
        first_row: i64,
        chunk: PreparedChunk,
    ) -> Result<PreparedChunk>;

    /// Marks the job done, or failed with `error`.
    async fn finish_import(&self, job_id: &str, error: Option<String>) -> Result<ImportJob>;

    /// Every row's result, in row order.
    async fn import_results(&self, job_id: &str) -> Result<Vec<ImportResult>>;
}

/// The canonical child columns. `record_id` (the generator's row ID) is accepted and ignored.
pub const CANONICAL_COLUMNS: [&str; 16] = [
    "record_id",
    "source_system",
    "source_record_id",
    "given_name",
    "family_name",
    "other_names",
    "sex",
    "date_of_birth",
    "date_of_birth_estimated",
    "district",
    "subcounty",
    "village",
    "mother_name",
    "father_name",
    "identifiers",
    "events",
];

/// A body that cannot be read as a whole (its header, its encoding): the job is refused.
pub fn check_body(
    body: &[u8],
    format: ImportFormat,
    mapping: ImportMapping,
    default_source_system: Option<&str>,
) -> std::result::Result<Vec<ParsedRow>, InvalidField> {
    match format {
        ImportFormat::Csv => parse_csv(body, mapping, default_source_system),
        ImportFormat::Ndjson => parse_ndjson(body, mapping, default_source_system),
    }
}

/// `Given Name (English)` → `given_name_english`: export headers compared without case,
/// spaces or punctuation.
fn normalise_column(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().trim_start_matches('\u{feff}').chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// The field separator the header row uses: a comma, or, in a header without one, a
/// semicolon or a tab. Spreadsheets save "CSV" with semicolons where the comma is the
/// decimal separator (French and other locales), and "text" with tabs; none of the columns
/// this reads has one of those characters in its name.
fn header_delimiter(body: &[u8]) -> u8 {
    let header = body.split(|byte| *byte == b'\n').next().unwrap_or_default();
    let mut quoted = false;
    let (mut semicolons, mut tabs) = (0usize, 0usize);
    for &byte in header {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => return b',',
            b';' if !quoted => semicolons += 1,
            b'\t' if !quoted => tabs += 1,
            _ => {}
        }
    }
    if semicolons >= tabs && semicolons > 0 {
        b';'
    } else if tabs > 0 {
        b'\t'
    } else {
        b','
    }
}

fn parse_csv(
    body: &[u8],
    mapping: ImportMapping,
    default_source_system: Option<&str>,
) -> std::result::Result<Vec<ParsedRow>, InvalidField> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(header_delimiter(body))
        .from_reader(UnixLineEndings::new(body));
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| InvalidField::new("body", "malformed_csv", error.to_string()))?
        .iter()
        .map(normalise_column)
        .collect();
    for (index, name) in header.iter().enumerate() {
        if header[..index].contains(name) {
            return Err(InvalidField::new(
                name.clone(),
                "duplicate_column",
                "the column appears twice in the header",
            ));
        }
    }
    if mapping == ImportMapping::Canonical {
        if let Some(unknown) = header
            .iter()
            .find(|name| !CANONICAL_COLUMNS.contains(&name.as_str()))
        {
            return Err(InvalidField::new(
                unknown.clone(),
                "unknown_column",
                format!(
                    "not a canonical child column (expected some of: {})",
                    CANONICAL_COLUMNS.join(", ")
                ),
            ));
        }
    }
    let required = required_id_column(mapping);
    if !required.iter().any(|name| header.iter().any(|h| h == name)) {
        return Err(InvalidField::new(
            required[0],
            "missing_column",
            format!("the header needs a '{}' column", required[0]),
        ));
    }
    if mapping == ImportMapping::Canonical
        && default_source_system.is_none()
        && !header.iter().any(|h| h == "source_system")
    {
        return Err(InvalidField::new(
            "source_system",
            "missing_column",
            "the header needs a 'source_system' column",
        ));
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as i64;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record
                    .position()
                    .map_or(line, |position| position.line() as i64);
                let fields: HashMap<&str, &str> = header
                    .iter()
                    .map(String::as_str)
                    .zip(record.iter())
                    .collect();
                rows.push(parsed_from_fields(
                    line,
                    &fields,
                    mapping,
                    default_source_system,
                ));
            }
            Err(error) => {
                // A broken row (an unclosed quote, invalid UTF-8) is rejected; the reader goes on.
                let line = error.position().map_or(line, |p| p.line() as i64);
                let problem = match error.kind() {
                    // Spreadsheets on Windows save "CSV" in the local code page unless told
                    // otherwise: say which column and what to do.
                    csv::ErrorKind::Utf8 { err, .. } => RowError::new(
                        header.get(err.field()).map_or("row", String::as_str),
                        "invalid_utf8",
                        "the text is not UTF-8: save the file as \"CSV UTF-8\"",
                    ),
                    _ => RowError::new("row", "malformed_csv", error.to_string()),
                };
                rows.push(ParsedRow {
                    line,
                    submission: Err(problem),
                    key: RowKey::default(),
                });
                if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    Ok(rows)
}

fn required_id_column(mapping: ImportMapping) -> &'static [&'static str] {
    match mapping {
        ImportMapping::Canonical => &["source_record_id"],
        ImportMapping::Primero => &["case_id_display", "case_id", "short_id"],
        ImportMapping::Oscar => &["slug", "client_id", "id"],
    }
}

fn parse_ndjson(
    body: &[u8],
    mapping: ImportMapping,
    default_source_system: Option<&str>,
) -> std::result::Result<Vec<ParsedRow>, InvalidField> {
    let text = std::str::from_utf8(body)
        .map_err(|error| InvalidField::new("body", "invalid_utf8", error.to_string()))?;
    // Editors on Windows save UTF-8 with a byte order mark, which is no JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (index, line_text) in text.lines().enumerate() {
        if line_text.trim().is_empty() {
            continue;
        }
        let line = index as i64 + 1;
        let row = match mapping {
            ImportMapping::Canonical => {
                let submission = parse_submission_json(line_text, default_source_system);
                let key = match submission {
                    Ok(_) => RowKey::default(),
                    Err(_) => RowKey::of_json(line_text, default_source_system),
                };
                ParsedRow {
                    line,
                    submission,
                    key,
                }
            }
            _ => match flat_json_fields(line_text) {
                Ok(owned) => {
                    let fields: HashMap<&str, &str> = owned
                        .iter()
                        .map(|(key, value)| (key.as_str(), value.as_str()))
                        .collect();
                    parsed_from_fields(line, &fields, mapping, default_source_system)
                }
                Err(error) => ParsedRow {
                    line,
                    submission: Err(error),
                    key: RowKey::default(),
                },
            },
        };
        rows.push(row);
    }
    Ok(rows)
}

/// A `/v1/records` body; a missing `source_system` takes the job's.
fn parse_submission_json(
    text: &str,
    default_source_system: Option<&str>,
) -> std::result::Result<RecordSubmission, RowError> {
    let mut value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| RowError::new("body", "malformed_json", error.to_string()))?;
    if let (Some(default), serde_json::Value::Object(map)) = (default_source_system, &mut value) {
        map.entry("source_system")
            .or_insert_with(|| serde_json::Value::String(default.to_owned()));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = if path == "." {
            message.split('`').nth(1).unwrap_or("body").to_owned()
        } else {
            path
        };
        RowError::new(field, "invalid_value", message)
    })
}

/// A flat JSON object (an export's row) as text fields; nested values are kept as JSON text.
fn flat_json_fields(text: &str) -> std::result::Result<Vec<(String, String)>, RowError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| RowError::new("body", "malformed_json", error.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(RowError::new(
            "body",
            "invalid_value",
            "each line must be a JSON object",
        ));
    };
    Ok(map
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (normalise_column(&key), text)
        })
        .collect())
}

/// The first non-empty of these columns.
fn first<'a>(fields: &HashMap<&str, &'a str>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|name| fields.get(name))
        .map(|value| value.trim())
        .find(|value| !value.is_empty())
}

fn text(fields: &HashMap<&str, &str>, names: &[&str]) -> Option<String> {
    first(fields, names).map(str::to_owned)
}

fn parse_sex(column: &str, value: Option<&str>) -> std::result::Result<Option<Sex>, RowError> {
    let Some(value) = value else { return Ok(None) };
    match SexCode::parse(value) {
        Some(SexCode::Female) => Ok(Some(Sex::F)),
        Some(SexCode::Male) => Ok(Some(Sex::M)),
        Some(SexCode::Other) => Ok(Some(Sex::X)),
        Some(SexCode::Unknown) => Ok(Some(Sex::Unknown)),
        None => Err(RowError::new(
            column,
            "invalid_sex",
            format!(
                "'{value}' is not a sex (F, M, X, unknown; female, male, other, not stated; ស្រី, ប្រុស)"
            ),
        )),
    }
}

/// A date column read by [`crate::dates::read_written_date`]; the row's error names the column.
fn parse_date(
    column: &str,
    value: Option<&str>,
) -> std::result::Result<Option<NaiveDate>, RowError> {
    let Some(written) = value else {
        return Ok(None);
    };
    read_written_date(written).map(Some).ok_or_else(|| {
        RowError::new(
            column,
            "invalid_date",
            format!("'{written}' is not a date (YYYY-MM-DD)"),
        )
    })
}

/// The oldest age, in whole years, a case record of a child can hold: care leavers are
/// followed into their twenties.
const OLDEST_AGE: u32 = 30;

/// The birth date a Primero case's `age` stands for when it has no `date_of_birth` (case
/// workers write the age they were told or guessed): half a year before the child's last
/// birthday as of the case's `registration_date` (else the day of the import), so either
/// true birthday is at most half a year off. It is flagged estimated, which matching reads
/// as a guess that may be a year or two out.
fn birth_from_age(
    fields: &HashMap<&str, &str>,
) -> std::result::Result<Option<NaiveDate>, RowError> {
    let Some(written) = first(fields, &["age"]) else {
        return Ok(None);
    };
    let not_an_age = || {
        RowError::new(
            "age",
            "invalid_age",
            format!("'{written}' is not an age in whole years from 0 to {OLDEST_AGE}"),
        )
    };
    // JSON exports write numbers, some as `7.0`.
    let years = written.trim().strip_suffix(".0").unwrap_or(written.trim());
    let years: u32 = years.parse().map_err(|_| not_an_age())?;
    if years > OLDEST_AGE {
        return Err(not_an_age());
    }
    let registered = parse_date("registration_date", first(fields, &["registration_date"]))?
        .unwrap_or_else(|| Utc::now().date_naive());
    Ok(registered.checked_sub_months(chrono::Months::new(years * 12 + 6)))
}

fn parse_flag(column: &str, value: Option<&str>) -> std::result::Result<bool, RowError> {
    let Some(value) = value else { return Ok(false) };
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "t" => Ok(true),
        "false" | "0" | "no" | "n" | "f" => Ok(false),
        _ => Err(RowError::new(
            column,
            "invalid_flag",
            format!("'{value}' is not true or false"),
        )),
    }
}

/// `type:value;type:value`.
fn parse_identifiers(value: Option<&str>) -> std::result::Result<Vec<Identifier>, RowError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once(':') {
            Some((kind, value)) if !kind.trim().is_empty() && !value.trim().is_empty() => {
                Ok(Identifier {
                    kind: kind.trim().to_owned(),
                    value: value.trim().to_owned(),
                })
            }
            _ => Err(RowError::new(
                "identifiers",
                "invalid_identifier",
                format!("'{part}' is not type:value"),
            )),
        })
        .collect()
}

fn other_names(fields: &HashMap<&str, &str>, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| fields.get(name))
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

fn identifier(fields: &HashMap<&str, &str>, column: &str, kind: &str) -> Option<Identifier> {
    first(fields, &[column]).map(|value| Identifier {
        kind: kind.to_owned(),
        value: value.to_owned(),
    })
}

/// A row's fields (normalised column names) as a `/v1/records` submission.
/// A row of named fields (a CSV row, a mapped export's JSON line), with its key read only
/// when the row could not be.
fn parsed_from_fields(
    line: i64,
    fields: &HashMap<&str, &str>,
    mapping: ImportMapping,
    default_source_system: Option<&str>,
) -> ParsedRow {
    let submission = submission_from_fields(fields, mapping, default_source_system);
    let key = match submission {
        Ok(_) => RowKey::default(),
        Err(_) => RowKey::of_fields(fields, mapping, default_source_system),
    };
    ParsedRow {
        line,
        submission,
        key,
    }
}

fn submission_from_fields(
    fields: &HashMap<&str, &str>,
    mapping: ImportMapping,
    default_source_system: Option<&str>,
) -> std::result::Result<RecordSubmission, RowError> {
    let key = RowKey::of_fields(fields, mapping, default_source_system);
    let child = match mapping {
        ImportMapping::Canonical => ChildData {
            given_name: text(fields, &["given_name"]),
            family_name: text(fields, &["family_name"]),
            other_names: other_names(fields, &["other_names"]),
            sex: parse_sex("sex", first(fields, &["sex"]))?,
            date_of_birth: parse_date("date_of_birth", first(fields, &["date_of_birth"]))?,
            date_of_birth_estimated: parse_flag(
                "date_of_birth_estimated",
                first(fields, &["date_of_birth_estimated"]),
            )?,
            district: text(fields, &["district"]),
            subcounty: text(fields, &["subcounty"]),
            village: text(fields, &["village"]),
            mother_name: text(fields, &["mother_name"]),
            father_name: text(fields, &["father_name"]),
            identifiers: parse_identifiers(first(fields, &["identifiers"]))?,
        },
        ImportMapping::Primero => {
            // Read in the order the fields are reported: the first bad one names the row's error.
            let sex = parse_sex("sex", first(fields, &["sex"]))?;
            let written_birth = parse_date("date_of_birth", first(fields, &["date_of_birth"]))?;
            // An age stands for a birth date only where none is written.
            let from_age = match written_birth {
                Some(_) => None,
                None => birth_from_age(fields)?,
            };
            ChildData {
                given_name: text(fields, &["name_first"]),
                family_name: text(fields, &["name_last"]),
                other_names: other_names(fields, &["name_middle", "name_nickname", "name_other"]),
                sex,
                date_of_birth: written_birth.or(from_age),
                date_of_birth_estimated: parse_flag("estimated", first(fields, &["estimated"]))?
                    || from_age.is_some(),
                district: text(fields, &["location_current", "district"]),
                subcounty: text(fields, &["subcounty"]),
                village: text(fields, &["village"]),
                mother_name: text(fields, &["mothers_name", "mother_name"]),
                father_name: text(fields, &["fathers_name", "father_name"]),
                identifiers: [
                    identifier(fields, "national_id_no", "national_id"),
                    identifier(fields, "unhcr_id_no", "unhcr"),
                    identifier(fields, "birth_registration_number", "birth_registration"),
                    identifier(fields, "other_id_no", "other"),
                ]
                .into_iter()
                .flatten()
                .collect(),
            }
        }
        ImportMapping::Oscar => {
            let local_name = [
                first(fields, &["local_given_name"]),
                first(fields, &["local_family_name"]),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            ChildData {
                given_name: text(fields, &["given_name"]),
                family_name: text(fields, &["family_name"]),
                other_names: if local_name.is_empty() {
                    Vec::new()
                } else {
                    vec![local_name]
                },
                sex: parse_sex("gender", first(fields, &["gender"]))?,
                date_of_birth: parse_date("date_of_birth", first(fields, &["date_of_birth"]))?,
                date_of_birth_estimated: false,
                district: text(fields, &["district", "province"]),
                subcounty: text(fields, &["commune"]),
                village: text(fields, &["village"]),
                mother_name: text(fields, &["mother_name"]),
                father_name: text(fields, &["father_name"]),
                identifiers: [
                    identifier(fields, "national_id_number", "national_id"),
                    identifier(fields, "birth_cert_number", "birth_registration"),
                    identifier(fields, "passport_number", "passport"),
                ]
                .into_iter()
                .flatten()
                .collect(),
            }
        }
    };
    let events = match first(fields, &["events"]) {
        Some(json) if mapping == ImportMapping::Canonical => serde_json::from_str(json)
            .map_err(|error| RowError::new("events", "invalid_value", error.to_string()))?,
        _ => Vec::new(),
    };
    Ok(RecordSubmission {
        source_system: key.source_system.unwrap_or_default(),
        source_record_id: key.source_record_id.unwrap_or_default(),
        child,
        events,
    })
}

/// The column a validation error's JSON path names, in the job's own field names.
fn column_of(field: &str, format: ImportFormat, mapping: ImportMapping) -> String {
    if format == ImportFormat::Ndjson && mapping == ImportMapping::Canonical {
        return field.to_owned();
    }
    let canonical = field.strip_prefix("child.").unwrap_or(field);
    let canonical = canonical.split(['[', '.']).next().unwrap_or(canonical);
    let mapped = match (mapping, canonical) {
        (ImportMapping::Primero, "source_record_id") => "case_id_display",
        (ImportMapping::Primero, "given_name") => "name_first",
        (ImportMapping::Primero, "family_name") => "name_last",
        (ImportMapping::Primero, "date_of_birth_estimated") => "estimated",
        (ImportMapping::Primero, "district") => "location_current",
        (ImportMapping::Oscar, "source_record_id") => "slug",
        (ImportMapping::Oscar, "sex") => "gender",
        (ImportMapping::Oscar, "subcounty") => "commune",
        (_, other) => other,
    };
    mapped.to_owned()
}

/// Checks one parsed row as `POST /v1/records` checks a body, and that the job may write it.
pub fn check_row(
    row_number: i64,
    parsed: ParsedRow,
    job: &ImportJob,
    today: NaiveDate,
) -> ImportRow {
    let (source_system, source_record_id) = match &parsed.submission {
        Ok(submission) => (
            Some(submission.source_system.clone()),
            Some(submission.source_record_id.clone()),
        ),
        Err(_) => (parsed.key.source_system, parsed.key.source_record_id),
    };
    let (source_system, source_record_id) = (
        source_system.filter(|s| !s.is_empty()),
        source_record_id.filter(|s| !s.is_empty()),
    );
    let record = parsed.submission.and_then(|submission| {
        let record = submission.validate(today).map_err(|invalid| {
            RowError::new(
                column_of(&invalid.field, job.format, job.mapping),
                invalid.code,
                invalid.message,
            )
        })?;
        match &job.source_system {
            Some(allowed) if *allowed != record.source_system => Err(RowError::new(
                column_of("source_system", job.format, job.mapping),
                "forbidden_source_system",
                format!(
                    "this import writes records for '{allowed}' only, not '{}'",
                    record.source_system
                ),
            )),
            _ => Ok(record),
        }
    });
    ImportRow {
        row: row_number,
        line: parsed.line,
        source_system,
        source_record_id,
        record,
    }
}

/// Registers a job's remaining rows from wherever it stopped, calling `progress` after every
/// chunk. Returns the job with every row done (still `running`: [`complete_job`] audits and
/// closes it), or finished already. A database error leaves the job as it was (every
/// committed chunk counted) for the next attempt.
pub async fn run_job(
    store: &dyn Store,
    job_id: &str,
    progress: &mut (dyn FnMut(&ImportJob) + Send),
) -> Result<ImportJob> {
    let mut job = store
        .import_job(job_id)
        .await?
        .ok_or(RegistryError::NotFound("import job"))?;
    if job.status.is_finished() {
        return Ok(job);
    }
    let body = store.import_body(job_id).await?;
    let (format, mapping, source_system) = (job.format, job.mapping, job.source_system.clone());
    let parsed = tokio::task::spawn_blocking(move || {
        check_body(&body, format, mapping, source_system.as_deref())
    })
    .await
    .map_err(|error| RegistryError::Corrupt(format!("parsing the import stopped: {error}")))?;
    let rows = match parsed {
        Ok(rows) => rows,
        Err(invalid) => return store.finish_import(job_id, Some(invalid.to_string())).await,
    };
    progress(&job);
    let today = Utc::now().date_naive();
    let mut rows = rows.into_iter().enumerate().skip(job.rows_done as usize);
    let mut next_chunk = |job: &ImportJob| -> Vec<ImportRow> {
        rows.by_ref()
            .take(CHUNK_ROWS)
            .map(|(index, parsed)| check_row(index as i64 + 1, parsed, job, today))
            .collect()
    };
    let mut next = match spawn_prepare(store, next_chunk(&job)).await? {
        Some((first_row, task)) => Some((first_row, prepared(task).await?)),
        None => None,
    };
    while let Some((first_row, chunk)) = next.take() {
        // The next chunk is prepared and scored against the registry while the store writes
        // this one: the writer's work and the cores' overlap.
        let (written, ahead) = tokio::join!(
            store.import_chunk(job_id, first_row, chunk),
            prepare_ahead(store, job_id, next_chunk(&job))
        );
        job = match written {
            Ok(job) => job,
            Err(RegistryError::Conflict {
                code: "import_moved",
                ..
            }) => {
                // Another runner (another gateway) is on this job: leave it to them.
                return store
                    .import_job(job_id)
                    .await?
                    .ok_or(RegistryError::NotFound("import job"));
            }
            Err(error) => return Err(error),
        };
        progress(&job);
        next = ahead?;
    }
    Ok(job)
}

/// Prepares `rows` and scores them ahead ([`ImportStore::score_ahead`]); `None` when no rows
/// are left.
async fn prepare_ahead(
    store: &dyn Store,
    job_id: &str,
    rows: Vec<ImportRow>,
) -> Result<Option<(i64, PreparedChunk)>> {
    let Some((first_row, task)) = spawn_prepare(store, rows).await? else {
        return Ok(None);
    };
    let chunk = prepared(task).await?;
    Ok(Some((
        first_row,
        store.score_ahead(job_id, first_row, chunk).await?,
    )))
}

/// A chunk being prepared in the background, and the row it starts after.
type Preparing = (i64, tokio::task::JoinHandle<Result<PreparedChunk>>);

/// Starts preparing `rows` with the store's active model; `None` when there are no rows left.
async fn spawn_prepare(store: &dyn Store, rows: Vec<ImportRow>) -> Result<Option<Preparing>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let first_row = first.row - 1;
    let matcher = store.matcher(None).await?;
    Ok(Some((first_row, spawn_prepare_rows(matcher, rows))))
}

/// Who the audit log names for a job's writes: the API client or person who submitted it, or
/// the operator who ran `child-registry import`.
pub fn submitter_actor(submitted_by: &str) -> Actor {
    if let Some(operator) = submitted_by.strip_prefix("cli:") {
        return Actor {
            kind: "cli".to_owned(),
            id: operator.to_owned(),
            role: Some("admin".to_owned()),
        };
    }
    Actor {
        kind: if submitted_by.starts_with("usr_") {
            "user"
        } else {
            "client"
        }
        .to_owned(),
        id: submitted_by.to_owned(),
        role: None,
    }
}

/// Closes a job whose rows are all done: one audit entry naming every child the job wrote
/// (their access logs show the import), then the job is `done`. An interruption between the
/// two audits again at the next attempt: never a child written without an entry.
pub async fn complete_job(store: &dyn Store, job: ImportJob, key: &AuditKey) -> Result<ImportJob> {
    if job.status.is_finished() || job.rows_done < job.total_rows {
        return Ok(job);
    }
    let results = store.import_results(&job.id).await?;
    let children: BTreeSet<ChildId> = results
        .iter()
        .filter_map(|result| result.child_id)
        .collect();
    store
        .append_audit(
            AuditDraft {
                actor: submitter_actor(&job.submitted_by),
                action: AuditAction::ImportCompleted,
                target: Some(job.id.clone()),
                children: children.into_iter().collect(),
                details: serde_json::json!({
                    "rows": job.total_rows,
                    "linked": job.linked,
                    "new": job.new,
                    "review": job.review,
                    "rejected": job.rejected,
                }),
                purpose: None,
                flagged: false,
                request_id: None,
            },
            key,
        )
        .await?;
    store.finish_import(&job.id, None).await
}

/// Runs a job to its end and closes it (see [`run_job`] and [`complete_job`]).
pub async fn run_to_end(
    store: &dyn Store,
    job_id: &str,
    key: &AuditKey,
    progress: &mut (dyn FnMut(&ImportJob) + Send),
) -> Result<ImportJob> {
    let job = run_job(store, job_id, progress).await?;
    complete_job(store, job, key).await
}

/// How often the background runner looks for queued jobs.
pub const RUNNER_POLL: std::time::Duration = std::time::Duration::from_millis(300);

/// A job that fails this many times in a row at the same row, for a reason other than the
/// database being out of reach, is closed as `failed` with the error: the rows before it stay
/// registered (and in its results), and the jobs behind it are no longer held up.
pub const MAX_JOB_ATTEMPTS: u32 = 5;
/// The first wait before a failed job is tried again; it doubles with each failure.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(2);
/// The longest wait between two tries of a job.
const RETRY_CAP: std::time::Duration = std::time::Duration::from_secs(300);

/// What the runner does after a job stopped with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try the job again once this much time has passed; other jobs run meanwhile.
    RetryIn(std::time::Duration),
    /// Close the job as failed.
    GiveUp,
}

/// The runner's memory of failing jobs: consecutive failures at the same row and when each
/// job may be tried again.
#[derive(Debug, Default)]
pub struct JobRetries {
    failing: HashMap<String, Failing>,
}

#[derive(Debug)]
struct Failing {
    rows_done: i64,
    attempts: u32,
    not_before: std::time::Instant,
}

impl JobRetries {
    /// Whether the job may be tried at `now`.
    pub fn ready(&self, job_id: &str, now: std::time::Instant) -> bool {
        self.failing
            .get(job_id)
            .is_none_or(|failing| now >= failing.not_before)
    }

    /// Records a failure of the job at `rows_done`. A job that `may_give_up` gives up after
    /// [`MAX_JOB_ATTEMPTS`] failures without progress; any other is tried for ever.
    pub fn failed(
        &mut self,
        job_id: &str,
        rows_done: i64,
        may_give_up: bool,
        now: std::time::Instant,
    ) -> AfterFailure {
        let failing = self.failing.entry(job_id.to_owned()).or_insert(Failing {
            rows_done,
            attempts: 0,
            not_before: now,
        });
        if failing.rows_done != rows_done {
            failing.rows_done = rows_done;
            failing.attempts = 0;
        }
        failing.attempts += 1;
        if may_give_up && failing.attempts >= MAX_JOB_ATTEMPTS {
            self.failing.remove(job_id);
            return AfterFailure::GiveUp;
        }
        let wait = RETRY_FIRST
            .saturating_mul(1 << failing.attempts.saturating_sub(1).min(16))
            .min(RETRY_CAP);
        failing.not_before = now + wait;
        AfterFailure::RetryIn(wait)
    }

    /// Forgets a job that ran to its end.
    pub fn succeeded(&mut self, job_id: &str) {
        self.failing.remove(job_id);
    }
}

/// The background runner `serve` starts: picks up queued and running jobs (those a restart
/// interrupted included) one at a time, for ever. A failing job waits its turn again with a
/// growing delay while the others run (see [`JobRetries`]).
pub async fn run_forever(store: std::sync::Arc<dyn Store>, key: std::sync::Arc<AuditKey>) {
    let mut retries = JobRetries::default();
    loop {
        match store.pending_imports().await {
            Ok(jobs) => {
                for job in jobs {
                    if !retries.ready(&job.id, std::time::Instant::now()) {
                        continue;
                    }
                    match run_to_end(store.as_ref(), &job.id, &key, &mut |_| {}).await {
                        Ok(_) => retries.succeeded(&job.id),
                        Err(error) => {
                            give_up_or_wait(store.as_ref(), &job.id, &mut retries, error).await
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the import queue"),
        }
        tokio::time::sleep(RUNNER_POLL).await;
    }
}

async fn give_up_or_wait(
    store: &dyn Store,
    job_id: &str,
    retries: &mut JobRetries,
    error: RegistryError,
) {
    // Where the job stands now (the chunks before the failure are committed).
    let (rows_done, rows_left) = match store.import_job(job_id).await {
        Ok(Some(job)) => (job.rows_done, job.rows_done < job.total_rows),
        Ok(None) => return,
        Err(read_error) => {
            tracing::warn!(error = ?read_error, job = %job_id, "cannot read a failed import job");
            (-1, false)
        }
    };
    // An unreachable database comes back, and the job with it. A job with every row done
    // only lacks its audit entry: it is never closed without one.
    let away = matches!(
        error,
        RegistryError::Unavailable(_) | RegistryError::WriterStopped
    );
    let may_give_up = rows_left && !away;
    match retries.failed(job_id, rows_done, may_give_up, std::time::Instant::now()) {
        AfterFailure::RetryIn(wait) => {
            tracing::warn!(error = ?error, job = %job_id, rows_done, ?wait, "an import job stopped; retrying later");
        }
        AfterFailure::GiveUp => {
            let reason = format!(
                "stopped at row {} after {MAX_JOB_ATTEMPTS} attempts: {error}",
                rows_done + 1
            );
            tracing::error!(job = %job_id, %reason, "an import job failed");
            if let Err(close_error) = store.finish_import(job_id, Some(reason)).await {
                tracing::warn!(error = ?close_error, job = %job_id, "cannot close a failed import job");
            }
        }
    }
}

/// The results as CSV: `row,line,source_system,source_record_id,child_id,outcome,error_field,
/// error_code,error_message`.
pub fn results_csv(results: &[ImportResult]) -> std::result::Result<Vec<u8>, csv::Error> {
    // The header is written here, so an empty result still has one.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record([
        "row",
        "line",
        "source_system",
        "source_record_id",
        "child_id",
        "outcome",
        "error_field",
        "error_code",
        "error_message",
    ])?;
    for result in results {
        writer.serialize(result)?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn dates_are_read_in_the_forms_spreadsheets_and_exports_write() {
        let third_of_february = NaiveDate::from_ymd_opt(2019, 2, 3);
        for written in [
            "2019-02-03",
            "2019-2-3",
            "03/02/2019",
            "3/2/2019",
            "2019/02/03",
            "03-02-2019",
            "03.02.2019",
            "03-Feb-2019",
            "3-feb-2019",
            "03 Feb 2019",
            "3 February 2019",
            "03-February-2019",
            "2019-02-03T00:00:00Z",
            "2019-02-03 00:00:00",
            "២០១៩-០២-០៣",
            "០៣/០២/២០១៩",
            "ថ្ងៃទី៣ ខែកុម្ភៈ ឆ្នាំ២០១៩",
            "03-កុម្ភៈ-2019",
            "3rd February 2019",
            "3RD Feb 2019",
            "February 3, 2019",
            "Feb 3 2019",
        ] {
            assert_eq!(
                parse_date("date_of_birth", Some(written)).ok().flatten(),
                third_of_february,
                "{written}"
            );
        }
        for not_a_date in [
            "2019-02-30",
            "02/30/2019",
            "Feb 2019",
            "2019",
            "03 Fbr 2019",
            "ថ្ងៃទី៣០ ខែកុម្ភៈ ឆ្នាំ២០១៩",
            "ខែកុម្ភៈ ឆ្នាំ២០១៩",
            "3rdd February 2019",
            "February 2019",
        ] {
            let error = parse_date("date_of_birth", Some(not_a_date)).unwrap_err();
            assert_eq!(error.code, "invalid_date", "{not_a_date}");
        }
    }

    #[test]
    fn sexes_are_read_as_matching_reads_them() {
        assert_eq!(parse_sex("sex", Some("ស្រី")).unwrap(), Some(Sex::F));
        assert_eq!(parse_sex("sex", Some("BOY")).unwrap(), Some(Sex::M));
        assert_eq!(parse_sex("sex", Some("non-binary")).unwrap(), Some(Sex::X));
        assert_eq!(
            parse_sex("sex", Some("Not stated")).unwrap(),
            Some(Sex::Unknown)
        );
        assert_eq!(parse_sex("sex", None).unwrap(), None);
        let refused = parse_sex("gender", Some("fem")).unwrap_err();
        assert_eq!(
            (refused.field.as_str(), refused.code.as_str()),
            ("gender", "invalid_sex")
        );
        assert!(refused.message.contains("'fem'"), "{}", refused.message);
    }

    #[test]
    fn a_failing_job_waits_longer_each_time_then_fails_unless_it_may_not() {
        let start = std::time::Instant::now();
        let mut retries = JobRetries::default();
        let mut waits = Vec::new();
        for _ in 1..MAX_JOB_ATTEMPTS {
            match retries.failed("imp_a", 4000, true, start) {
                AfterFailure::RetryIn(wait) => waits.push(wait.as_secs()),
                AfterFailure::GiveUp => panic!("gave up too early"),
            }
        }
        assert_eq!(waits, [2, 4, 8, 16]);
        assert!(!retries.ready("imp_a", start));
        assert!(retries.ready("imp_a", start + std::time::Duration::from_secs(16)));
        assert!(retries.ready("imp_b", start), "other jobs run meanwhile");
        assert_eq!(
            retries.failed("imp_a", 4000, true, start),
            AfterFailure::GiveUp
        );

        // Progress between failures starts the count again.
        let mut retries = JobRetries::default();
        for rows_done in 0..(MAX_JOB_ATTEMPTS as i64 * 2) {
            let after = retries.failed("imp_a", rows_done * 2000, true, start);
            assert_eq!(after, AfterFailure::RetryIn(RETRY_FIRST));
        }

        // A job that may not give up (the database is away) is waited for, however long, at
        // most five minutes apart.
        let mut retries = JobRetries::default();
        let mut last = None;
        for _ in 0..(MAX_JOB_ATTEMPTS * 4) {
            last = Some(retries.failed("imp_a", 0, false, start));
        }
        assert_eq!(last, Some(AfterFailure::RetryIn(RETRY_CAP)));
        retries.succeeded("imp_a");
        assert!(retries.ready("imp_a", start));
    }

    #[test]
    fn canonical_csv_rows_carry_lines_and_column_errors() {
        let body = b"source_system,source_record_id,given_name,family_name,sex,date_of_birth,identifiers\n\
police-ug,A1,Halima,Aguti,F,2019-02-03,birth_registration:UG-1;nin:X9\n\
police-ug,A2,Okello,,Q,2019-02-03,\n";
        let rows = check_body(body, ImportFormat::Csv, ImportMapping::Canonical, None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        let first = rows[0].submission.as_ref().unwrap();
        assert_eq!(first.child.identifiers.len(), 2);
        assert_eq!(first.child.sex, Some(Sex::F));
        let second = rows[1].submission.as_ref().unwrap_err();
        assert_eq!((rows[1].line, second.field.as_str()), (3, "sex"));
        // A row that could not be read still says whose record it was.
        assert_eq!(
            (
                rows[1].key.source_system.as_deref(),
                rows[1].key.source_record_id.as_deref()
            ),
            (Some("police-ug"), Some("A2"))
        );
    }

    /// A canonical body's rows as they would be compared: everything read, line included.
    fn rows_read(body: &str, format: ImportFormat) -> Vec<String> {
        check_body(body.as_bytes(), format, ImportMapping::Canonical, None)
            .unwrap()
            .into_iter()
            .map(|row| format!("{row:?}"))
            .collect()
    }

    #[test]
    fn semicolon_and_tab_separated_files_read_as_comma_separated_ones() {
        let comma =
            "source_system,source_record_id,given_name,family_name,sex,date_of_birth,identifiers\n\
police-ug,A1,Halima,Aguti,F,03/02/2019,\"birth_registration:UG-1;nin:X9\"\n\
police-ug,A2,\"Okot, Peter\",,M,2018-11-30,\n";
        let semicolon = "\u{feff}source_system;source_record_id;given_name;family_name;sex;date_of_birth;identifiers\r\n\
police-ug;A1;Halima;Aguti;F;03/02/2019;\"birth_registration:UG-1;nin:X9\"\r\n\
police-ug;A2;Okot, Peter;;M;2018-11-30;\r\n";
        let tab = "source_system\tsource_record_id\tgiven_name\tfamily_name\tsex\tdate_of_birth\tidentifiers\n\
police-ug\tA1\tHalima\tAguti\tF\t03/02/2019\tbirth_registration:UG-1;nin:X9\n\
police-ug\tA2\tOkot, Peter\t\tM\t2018-11-30\t\n";
        let read = |body: &str| rows_read(body, ImportFormat::Csv);
        let expected = read(comma);
        assert_eq!(expected.len(), 2);
        assert!(
            expected[0].starts_with("ParsedRow { line: 2,"),
            "{}",
            expected[0]
        );
        assert!(
            expected[1].starts_with("ParsedRow { line: 3,"),
            "{}",
            expected[1]
        );
        assert!(expected[1].contains("Okot, Peter"), "{}", expected[1]);
        assert_eq!(read(semicolon), expected);
        assert_eq!(read(tab), expected);
        // Windows line endings, a byte order mark: the same rows on the same lines.
        assert_eq!(read(&comma.replace('\n', "\r\n")), expected);
        assert_eq!(read(&format!("\u{feff}{comma}")), expected);
    }

    #[test]
    fn rows_are_counted_on_the_lines_they_start_on_whatever_the_line_endings() {
        // A quoted field over two lines.
        let body = "source_system,source_record_id,given_name,village\n\
police-ug,A1,Halima,\"Upper\nVillage\"\n\
police-ug,A2,Peter,Gulu\n\
police-ug,A3,Sarah,Lira\n";
        let lines = |body: &str| {
            check_body(
                body.as_bytes(),
                ImportFormat::Csv,
                ImportMapping::Canonical,
                None,
            )
            .unwrap()
            .iter()
            .map(|row| row.line)
            .collect::<Vec<_>>()
        };
        assert_eq!(lines(body), [2, 4, 5]);
        assert_eq!(lines(&body.replace('\n', "\r\n")), [2, 4, 5]);
    }

    #[test]
    fn ndjson_saved_on_windows_reads_as_saved_on_unix() {
        let unix = "{\"source_system\":\"police-ug\",\"source_record_id\":\"A1\",\"child\":{\"given_name\":\"Halima\"}}\n\
\n\
{\"source_system\":\"police-ug\",\"source_record_id\":\"A2\",\"child\":{\"given_name\":\"Peter\"}}\n";
        let windows = format!("\u{feff}{}", unix.replace('\n', "\r\n"));
        let read = |body: &str| rows_read(body, ImportFormat::Ndjson);
        let expected = read(unix);
        assert_eq!(expected.len(), 2);
        assert!(
            expected.iter().all(|row| row.contains("Ok(")),
            "{expected:?}"
        );
        assert_eq!(read(&windows), expected);
    }

    #[test]
    fn text_not_in_utf8_is_rejected_by_its_row_and_column() {
        // "José" as Windows-1252 writes it.
        let body = b"source_system,source_record_id,given_name,family_name\n\
police-ug,A1,Jos\xe9,Okot\n\
police-ug,A2,Peter,Okot\n";
        let rows = check_body(body, ImportFormat::Csv, ImportMapping::Canonical, None).unwrap();
        let error = rows[0].submission.as_ref().unwrap_err();
        assert_eq!(
            (rows[0].line, error.field.as_str(), error.code.as_str()),
            (2, "given_name", "invalid_utf8")
        );
        assert!(error.message.contains("CSV UTF-8"), "{}", error.message);
        assert!(rows[1].submission.is_ok());
    }

    #[test]
    fn unknown_canonical_columns_are_refused() {
        let body = b"source_system,source_record_id,given_nme\n";
        let error =
            check_body(body, ImportFormat::Csv, ImportMapping::Canonical, None).unwrap_err();
        assert_eq!(error.field, "given_nme");
    }

    /// A Primero CSV export's rows as the `primero-ug` agency imports them.
    fn primero_rows(body: &[u8]) -> Vec<ParsedRow> {
        check_body(
            body,
            ImportFormat::Csv,
            ImportMapping::Primero,
            Some("primero-ug"),
        )
        .unwrap()
    }

    #[test]
    fn primero_rows_map_to_canonical_fields() {
        let body = b"Case ID Display,Name First,Name Last,Sex,Date of Birth,Estimated,Location Current,National ID No\n\
a1b2c3,Sarah,Nakato,female,03-Feb-2018,true,Gulu,CM123\n";
        let rows = primero_rows(body);
        let submission = rows[0].submission.as_ref().unwrap();
        assert_eq!(submission.source_system, "primero-ug");
        assert_eq!(submission.source_record_id, "a1b2c3");
        assert_eq!(submission.child.given_name.as_deref(), Some("Sarah"));
        assert_eq!(
            submission.child.date_of_birth,
            NaiveDate::from_ymd_opt(2018, 2, 3)
        );
        assert!(submission.child.date_of_birth_estimated);
        assert_eq!(submission.child.identifiers[0].kind, "national_id");
    }

    #[test]
    fn a_primero_age_without_a_birth_date_is_an_estimated_birth_date() {
        let body = b"Case ID Display,Name First,Name Last,Age,Date of Birth,Registration Date
a1,Sarah,Nakato,7,,10-Mar-2024
a2,Opio,Okello,7.0,,2024-03-10
a3,Grace,Auma,9,2015-01-20,2024-03-10
a4,Peter,Ocen,seven,,2024-03-10
a5,Ruth,Nambi,45,,2024-03-10
";
        let rows = primero_rows(body);
        let child = |index: usize| &rows[index].submission.as_ref().unwrap().child;
        // Seven at registration on 10 March 2024: born between March 2016 and March 2017.
        for index in [0, 1] {
            assert_eq!(
                child(index).date_of_birth,
                NaiveDate::from_ymd_opt(2016, 9, 10)
            );
            assert!(child(index).date_of_birth_estimated);
        }
        // A birth date written beside the age is the birth date.
        assert_eq!(child(2).date_of_birth, NaiveDate::from_ymd_opt(2015, 1, 20));
        assert!(!child(2).date_of_birth_estimated);
        for index in [3, 4] {
            let error = rows[index].submission.as_ref().unwrap_err();
            assert_eq!(
                (error.field.as_str(), error.code.as_str()),
                ("age", "invalid_age")
            );
        }
    }
}
