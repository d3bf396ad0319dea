//! The crate's one error type.

/// Everything that can go wrong while writing generated data.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The CSV writer failed (usually an I/O error underneath).
    #[error("CSV output failed: {0}")]
    Csv(#[from] csv::Error),
    /// Writing to the output failed.
    #[error("output failed: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising a record as JSON failed.
    #[error("JSON output failed: {0}")]
    Json(#[from] serde_json::Error),
}
