use registry::RegistryError;

/// What can go wrong in the search index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("the search index is in use by another process (is a server running on it?)")]
    Locked,
    #[error("the search index no longer takes changes")]
    Closed,
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("search index directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index commit payload is unreadable: {0}")]
    Payload(String),
    #[error("a search task failed: {0}")]
    Task(String),
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

impl From<tokio::task::JoinError> for SearchError {
    fn from(error: tokio::task::JoinError) -> Self {
        SearchError::Task(error.to_string())
    }
}

impl From<tantivy::directory::error::OpenDirectoryError> for SearchError {
    fn from(error: tantivy::directory::error::OpenDirectoryError) -> Self {
        SearchError::Index(error.into())
    }
}
