//! Persistence behind one trait, with an embedded SQLite and a PostgreSQL backend.
//!
//! Both backends compile the same SQL engine (`engine.rs`) against their own sqlx driver, so
//! the registration logic is written once; each backend adds only how it connects, migrates and
//! locks.

pub mod postgres;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::clients::{ApiClient, NewClient};
use crate::error::{RegistryError, Result};
use crate::ids::ChildId;
use crate::linkage::StoredMatchRecord;
use crate::model::{ChildView, OutboxEntry, RecordHistory, Registration, Timeline, ValidRecord};
use crate::review::{
    CandidateDecision, CandidatePage, CandidateQuery, CandidateStats, DecisionOutcome,
    MatchCandidate, ModelVersion,
};

/// Which children a read may see. Enforced inside the store's queries, never by filtering
/// results afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    /// Every child.
    All,
    /// Only children holding at least one record from this source system.
    SourceSystem(String),
}

impl ReadScope {
    fn source_system(&self) -> Option<&str> {
        match self {
            ReadScope::All => None,
            ReadScope::SourceSystem(system) => Some(system),
        }
    }
}

/// Who decided a manual link change, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The API client or person that decided.
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MergeResult {
    pub merged: ChildId,
    pub into: ChildId,
    pub records_moved: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UnlinkResult {
    /// The child the record belongs to now.
    pub child_id: ChildId,
    pub previous_child_id: ChildId,
    /// True when the record went back to the child it came from with a merge.
    pub returned_to_origin: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies the backend's pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Registers or updates a source record. Idempotent: the same content again changes
    /// nothing and returns the current version. Durable once it returns.
    async fn register(&self, record: ValidRecord, received_from: &str) -> Result<Registration>;

    /// The child with its summary and current source records, if it exists within `scope`.
    async fn child(&self, child_id: ChildId, scope: &ReadScope) -> Result<Option<ChildView>>;

    /// Every current event of every record of the child, ordered by date.
    async fn timeline(&self, child_id: ChildId, scope: &ReadScope) -> Result<Option<Timeline>>;

    /// A source record with all its versions, if its child is within `scope`.
    async fn record_history(
        &self,
        source_system: &str,
        source_record_id: &str,
        scope: &ReadScope,
    ) -> Result<Option<RecordHistory>>;

    /// Merges child `from` into `into` (resolved to its survivor): every record of `from` moves,
    /// `from` points to `into` for ever. Never automatic: a person decides.
    async fn merge_children(
        &self,
        from: ChildId,
        into: ChildId,
        decision: &Decision,
    ) -> Result<MergeResult>;

    /// Takes a record away from its child: back to the child it came from with a merge, or to a
    /// new child ID.
    async fn unlink_record(
        &self,
        source_system: &str,
        source_record_id: &str,
        decision: &Decision,
    ) -> Result<UnlinkResult>;

    /// Broken invariants (records on inactive children, empty active children, merged children
    /// leading nowhere); empty when the registry is consistent.
    async fn invariant_violations(&self) -> Result<Vec<String>>;

    /// Every source system holding at least one record, sorted.
    async fn source_systems(&self) -> Result<Vec<String>>;

    /// Change-feed entries with `seq > after`, in order, at most `limit`.
    async fn outbox_after(&self, after: i64, limit: i64) -> Result<Vec<OutboxEntry>>;

    /// The highest committed change-feed position (0 when empty).
    async fn outbox_head(&self) -> Result<i64>;

    /// Creates a client and returns it with its secret key, which is not stored.
    async fn create_client(&self, client: NewClient) -> Result<(ApiClient, String)>;

    /// Revokes a client by ID; false when there is no such client.
    async fn revoke_client(&self, client_id: &str) -> Result<bool>;

    async fn list_clients(&self) -> Result<Vec<ApiClient>>;

    /// The client holding this key, if the key is known (revoked and expired clients included;
    /// the caller decides).
    async fn client_by_key(&self, secret: &str) -> Result<Option<ApiClient>>;

    /// Match candidates in the review queue.
    async fn match_candidates(&self, query: &CandidateQuery) -> Result<CandidatePage>;

    async fn match_candidate(&self, id: i64) -> Result<Option<MatchCandidate>>;

    /// A steward's decision: `link` merges the record's child into the candidate child,
    /// `not_a_match` is remembered for ever, `defer` sets it aside.
    async fn decide_match_candidate(
        &self,
        id: i64,
        choice: CandidateDecision,
        decision: &Decision,
    ) -> Result<DecisionOutcome>;

    async fn match_candidate_stats(&self) -> Result<CandidateStats>;

    /// Every stored model version, the active one marked.
    async fn model_versions(&self) -> Result<Vec<ModelVersion>>;

    /// Stores a model file (JSON) as the next version, not yet active.
    async fn add_model_version(&self, spec: &str, origin: &str, note: &str) -> Result<i64>;

    /// The model a version holds, ready to score.
    async fn matcher(
        &self,
        version: Option<i64>,
    ) -> Result<std::sync::Arc<crate::linkage::Matcher>>;

    /// Makes a stored version the active model (blocking keys are rebuilt for it).
    async fn activate_model_version(&self, version: i64) -> Result<()>;

    /// Loads records of an already deduplicated registry (a migration, a benchmark): each new
    /// record becomes its own child without matching; blocking keys are stored so later
    /// registrations match against them. Committed in chunks; returns how many were loaded.
    async fn bulk_load(&self, records: Vec<ValidRecord>, received_from: &str) -> Result<u64>;

    /// Every source record's current child fields and child, for training and rescoring.
    async fn match_records(&self) -> Result<Vec<StoredMatchRecord>>;

    /// Queues review candidates for a stored record (its current version).
    async fn queue_candidates(
        &self,
        record_key: i64,
        scores: &[crate::linkage::ChildScore],
        model_version: i64,
    ) -> Result<()>;
}

/// Where the registry keeps its data: a `sqlite://` file or a `postgres://` server.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::connect(database_url).await?,
        ))
    } else if let Some(path) = database_url.strip_prefix("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStore::open(Path::new(path)).await?))
    } else {
        Err(RegistryError::UnsupportedUrl(database_url.to_owned()))
    }
}

/// The embedded default: `registry.db` inside `data_dir`.
pub async fn open_data_dir(data_dir: &Path) -> Result<Arc<dyn Store>> {
    std::fs::create_dir_all(data_dir)
        .map_err(|error| RegistryError::Unavailable(sqlx::Error::Io(error)))?;
    Ok(Arc::new(
        sqlite::SqliteStore::open(&data_dir.join("registry.db")).await?,
    ))
}
