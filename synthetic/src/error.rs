//! The crate's one error type.

/// Everything that can go wrong while writing generated data.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// Writing to the output failed.
    #[error("output failed: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising a record as JSON failed.
    #[error("JSON output failed: {0}")]
    Json(#[from] serde_json::Error),
}
