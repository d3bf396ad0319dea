//! Errors of the matching library.

/// Everything that can go wrong in the matching library.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// A model file could not be parsed or does not describe a usable model.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// A model file is of a version this library does not read.
    #[error(
        "model file version {found} is not supported (this library reads version {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    /// A row of an input CSV is malformed.
    #[error("line {line}: field `{field}`: {message}")]
    BadRow {
        line: u64,
        field: String,
        message: String,
    },
    /// The CSV header lacks a column the model needs.
    #[error("input has no column `{0}` (the model needs it)")]
    MissingColumn(String),
    /// The CSV reader failed (I/O or encoding).
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// JSON (de)serialisation of a model failed.
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// TOML deserialisation of a model failed.
    #[error("model TOML: {0}")]
    TomlDe(#[from] toml::de::Error),
    /// TOML serialisation of a model failed.
    #[error("model TOML: {0}")]
    TomlSer(#[from] toml::ser::Error),
    /// Training could not run (for example: no candidate pairs).
    #[error("training: {0}")]
    Training(String),
    /// An I/O error while writing output through a caller's writer.
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of the matching library.
pub type Result<T> = std::result::Result<T, MatchError>;
