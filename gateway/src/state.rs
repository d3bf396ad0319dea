use std::sync::Arc;

use registry::Store;
use search::SearchIndex;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The search index; `None` answers searches with 503.
    pub search: Option<Arc<SearchIndex>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        AppState {
            store,
            search: None,
        }
    }

    pub fn with_search(mut self, index: Arc<SearchIndex>) -> Self {
        self.search = Some(index);
        self
    }
}
