//! Cross-agency search: a tantivy index of the registry's active children, fed from the
//! outbox, queried with typo, phonetic and script tolerance, and scoped inside the query.
//!
//! The index is a projection of the registry, never its source of truth: it can be deleted
//! and rebuilt from the database at any time ([`follower::catch_up`] from position 0).

mod birth_credit;
mod document;
pub mod error;
mod flat;
pub mod follower;
mod fuzzy;
mod index;
pub mod query;
mod rank;
pub mod schema;

use chrono::NaiveDate;
use registry::model::Sex;
use registry::ChildId;
use serde::Serialize;
use utoipa::ToSchema;

pub use document::child_document;
pub use error::{Result, SearchError};
pub use index::{Change, SearchIndex};
pub use query::{InvalidParameter, MatchedField, SearchParams, SearchRequest};

/// One child found.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearchHit {
    pub child_id: ChildId,
    /// Given and family name as the registry's summary has them.
    #[schema(example = "Halima Aguti")]
    pub display_name: String,
    /// Every other name any agency used.
    pub other_names: Vec<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<NaiveDate>,
    pub date_of_birth_estimated: bool,
    pub sex: Option<Sex>,
    pub district: Option<String>,
    /// Source systems holding a record about the child.
    pub agencies: Vec<String>,
    /// Relevance: higher is better; comparable within one result list only (the first 20
    /// hits add the matching model's weight to the index's score).
    pub score: f32,
    /// What matched the query.
    pub matched_fields: Vec<MatchedField>,
}

/// A page of hits, best first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// Children matching the query and filters within the caller's scope.
    pub total: usize,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
