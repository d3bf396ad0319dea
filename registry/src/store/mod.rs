//! Persistence behind one trait, with an embedded SQLite and a PostgreSQL backend.
//!
//! Both backends compile the same SQL engine (`engine.rs`) against their own sqlx driver, so
//! the registration logic is written once; each backend adds only how it connects, migrates and
//! locks.

pub(crate) mod content;
pub mod identity;
pub mod postgres;
mod prepared;
pub mod referrals;
pub mod sqlite;

pub use referrals::{IndicatorStore, ReferralStore};

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditDraft, AuditEntry, AuditKey, ChainBroken};
use crate::clients::{ApiClient, NewClient};
use crate::error::{RegistryError, Result};
use crate::ids::{ChildId, ChildIdRange};
use crate::linkage::StoredMatchRecord;
use crate::model::{
    ChildView, OutboxEntry, RecordHistory, Registration, RegistrationCounts, Timeline, ValidRecord,
};
use crate::review::{
    CandidateClaim, CandidateDecision, CandidatePage, CandidateQuery, CandidateStats,
    DecisionOutcome, MatchCandidate, ModelVersion,
};
use crate::users::{NewUser, SessionRecord, User};
use crate::webhooks::FeedStore;
pub use identity::IdentityStore;

/// The version a source record is stored with when it first arrives; each update adds one.
pub(crate) const FIRST_VERSION: i64 = 1;

/// Which children a read may see. Enforced inside the store's queries (one SQL clause built by
/// the engine's `visible_child`), never by filtering results afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadScope {
    /// Every child.
    All,
    /// Only children holding at least one record from this source system.
    SourceSystem(String),
    /// Only children with at least one current record placing them in this district (compared
    /// without regard to case).
    District(String),
    /// No child at all (roles that never read child data).
    Nothing,
}

impl ReadScope {
    /// The scope as the two parameters of the visibility clause: its kind and its value.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ReadScope::All => "all",
            ReadScope::SourceSystem(_) => "source_system",
            ReadScope::District(_) => "district",
            ReadScope::Nothing => "nothing",
        }
    }

    pub(crate) fn value(&self) -> Option<&str> {
        match self {
            ReadScope::All | ReadScope::Nothing => None,
            ReadScope::SourceSystem(value) | ReadScope::District(value) => Some(value),
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

/// One connection pool's use (the operations metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// `writer`, `readers` (SQLite) or `shared` (PostgreSQL).
    pub pool: &'static str,
    /// Connections open now.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The pool's limit.
    pub max: u32,
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
pub trait Store:
    AccessStore
    + IdentityStore
    + FeedStore
    + ReferralStore
    + IndicatorStore
    + crate::imports::ImportStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies the backend's pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Registers or updates a source record. Idempotent: the same content again changes
    /// nothing and returns the current version. Durable once it returns.
    async fn register(&self, record: ValidRecord, received_from: &str) -> Result<Registration>;

    /// [`Store::register`], with the audit entry of the registration appended in the same
    /// transaction: durable together once it returns, or neither written.
    async fn register_audited(
        &self,
        record: ValidRecord,
        received_from: &str,
        audit: crate::audit::RegistrationAudit,
    ) -> Result<Registration>;

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

    /// Like [`Store::merge_children`], only if `from` is still at `expected_revision` (checked
    /// under the row lock); otherwise nothing changes and the error is `Stale`.
    async fn merge_children_at_revision(
        &self,
        from: ChildId,
        into: ChildId,
        decision: &Decision,
        expected_revision: i64,
    ) -> Result<MergeResult>;

    /// The child's revision (counts every change to it; the HTTP ETag), `None` when the ID was
    /// never issued. For a merged ID, the revision of that ID's own row.
    async fn child_revision(&self, child_id: ChildId) -> Result<Option<i64>>;

    /// How many database connections each of the store's pools holds, and how many are idle.
    fn pool_use(&self) -> Vec<PoolUse>;

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

    /// Active children by district, agency and month, within the scope (the dashboard): the
    /// `largest` districts and agencies, the `largest` latest months, the rest summed. From the
    /// running totals, so it reads a few index entries however large the registry, about a
    /// second behind it (see [`crate::counts`]).
    async fn registration_counts(
        &self,
        scope: &ReadScope,
        largest: usize,
    ) -> Result<RegistrationCounts>;

    /// The same counts taken from the records themselves: exact at this instant, seconds at a
    /// million children. The check of the running totals.
    async fn registration_counts_from_records(
        &self,
        scope: &ReadScope,
        largest: usize,
    ) -> Result<RegistrationCounts>;

    /// Folds up to `max_entries` change-feed entries into the running totals; returns how many
    /// were folded (0: caught up, or another gateway's folder moved first).
    async fn fold_registration_totals(&self, max_entries: i64) -> Result<u64>;

    /// The first `limit` active children in `range`, in child ID order, each with its summary
    /// and current records: a few statements per page, for rebuilding the search index. The
    /// next page starts after the last child returned; ranges of one split
    /// ([`ChildIdRange::split`]) can be read side by side.
    async fn active_children(&self, range: ChildIdRange, limit: i64) -> Result<Vec<ChildView>>;

    /// The active children among `ids` (merged and unknown IDs are left out), read in a few
    /// statements: what the search index follower re-reads after outbox entries.
    async fn active_children_among(&self, ids: &[ChildId]) -> Result<Vec<ChildView>>;

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

    /// A steward takes, or renews, the claim on a pending candidate until `until`, so no other
    /// steward decides it meanwhile. `Conflict` while another steward's claim lasts or when the
    /// candidate is already decided.
    async fn claim_match_candidate(
        &self,
        id: i64,
        steward: &str,
        until: DateTime<Utc>,
    ) -> Result<CandidateClaim>;

    /// Gives up the steward's claim on a pending candidate; `false` when there was none.
    async fn release_match_candidate(&self, id: i64, steward: &str) -> Result<bool>;

    /// Every stored model version, the active one marked.
    async fn model_versions(&self) -> Result<Vec<ModelVersion>>;

    /// How many source records the registry holds (what `child-registry train` learns from).
    async fn source_record_count(&self) -> Result<u64>;

    /// Stores a model file (JSON) as the next version, not yet active.
    async fn add_model_version(&self, spec: &str, origin: &str, note: &str) -> Result<i64>;

    /// The model a version holds, ready to score.
    async fn matcher(
        &self,
        version: Option<i64>,
    ) -> Result<std::sync::Arc<crate::linkage::Matcher>>;

    /// Makes a stored version the active model (blocking keys are rebuilt for it).
    async fn activate_model_version(&self, version: i64) -> Result<()>;

    /// Takes up the active version if another process activated it since this store loaded
    /// its model (and re-keys records keyed for another version); returns the version taken
    /// up. A server calls it every few seconds ([`crate::rescore::follow_active_model`]).
    async fn follow_active_model(&self) -> Result<Option<i64>>;

    /// Loads records of an already deduplicated registry (a migration, a benchmark): each new
    /// record becomes its own child without matching; blocking keys are stored so later
    /// registrations match against them. Committed in chunks; returns how many were loaded.
    async fn bulk_load(&self, records: Vec<ValidRecord>, received_from: &str) -> Result<u64>;

    /// Every source record's current child fields and child, for training and rescoring.
    async fn match_records(&self) -> Result<Vec<StoredMatchRecord>>;

    /// Prepares stored records for comparison ahead of need, in record order, until every
    /// record is prepared or the cache ([`StoreOptions::prepared_records`]) is full; returns
    /// how many were added. A server calls it once in the background after starting: a
    /// registration's neighbours are scattered over the whole registry, and until they are
    /// prepared each registration reads and prepares them itself. Stops early, without
    /// error, when another model is activated meanwhile.
    async fn warm_match_cache(&self) -> Result<u64>;

    /// Queues review candidates for a stored record (its current version).
    async fn queue_candidates(
        &self,
        record_key: i64,
        scores: &[crate::linkage::ChildScore],
        model_version: i64,
    ) -> Result<()>;
}

/// People, sessions and the audit log (issue 7): part of every [`Store`], kept in a trait of
/// its own so the registry's core trait stays as it was.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Creates a person; `username_taken` conflict when the name exists.
    async fn create_user(&self, user: NewUser) -> Result<User>;

    /// The person with this username and their password hash.
    async fn user_with_password_hash(&self, username: &str) -> Result<Option<(User, String)>>;

    async fn user_by_id(&self, user_id: &str) -> Result<Option<User>>;

    async fn list_users(&self) -> Result<Vec<User>>;

    /// Disables a person and ends their sessions; `None` when there is no such username.
    async fn disable_user(&self, username: &str) -> Result<Option<User>>;

    /// Sets a new password hash, unlocks the account and ends its sessions.
    async fn set_user_password(&self, username: &str, password_hash: &str) -> Result<Option<User>>;

    /// Counts a failed login; the fifth in a row locks the account for 15 minutes.
    async fn record_failed_login(&self, user_id: &str, now: DateTime<Utc>) -> Result<User>;

    async fn record_successful_login(&self, user_id: &str) -> Result<()>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;

    /// The session with this token digest and its person (the caller checks expiry and
    /// whether the person is disabled).
    async fn session(&self, token_hash: &str) -> Result<Option<(SessionRecord, User)>>;

    /// Marks the session used now (the idle timeout counts from here).
    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<()>;

    async fn delete_session(&self, token_hash: &str) -> Result<bool>;

    /// Appends an entry to the audit chain, keyed with `key`. Concurrent appends are
    /// serialised into one chain.
    async fn append_audit(&self, draft: AuditDraft, key: &AuditKey) -> Result<AuditEntry>;

    /// Audit entries with `seq > after_seq`, in order, at most `limit`.
    async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>>;

    /// The stored end of the chain: last position and last hash.
    async fn audit_head(&self) -> Result<(i64, String)>;

    /// The newest entries naming this child (reads, writes, search hits), newest first.
    async fn access_log(&self, child_id: ChildId, limit: i64) -> Result<Vec<AuditEntry>>;
}

/// Walks the whole audit chain with `key`: `Ok(Ok(count))` when intact, `Ok(Err(first bad
/// entry))` when anything was modified, deleted, inserted or reordered.
pub async fn verify_audit_log(
    store: &dyn Store,
    key: &AuditKey,
) -> Result<std::result::Result<i64, ChainBroken>> {
    const PAGE: i64 = 10_000;
    // Appends may go on while verifying: the head read before and after the walk must agree,
    // otherwise walk again. Entries beyond the head are not ignored: they were appended
    // outside the registry.
    let mut attempts = 0;
    loop {
        let head_before = store.audit_head().await?;
        let mut entries = Vec::new();
        let mut after = i64::MIN;
        loop {
            let page = store.audit_entries(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() as i64 == PAGE;
            entries.extend(page);
            if !full {
                break;
            }
        }
        let head_after = store.audit_head().await?;
        attempts += 1;
        if head_before == head_after || attempts == 5 {
            let (last_seq, last_hash) = head_after;
            return Ok(crate::audit::verify_chain(
                key,
                &entries,
                (last_seq, &last_hash),
            ));
        }
    }
}

/// How a store is run, beside where its data is.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Stored records kept prepared for comparison (see [`DEFAULT_PREPARED_RECORDS`]): a
    /// registration compares the arriving record with every stored record sharing a blocking
    /// key, and one the cache misses is read and prepared again.
    pub prepared_records: usize,
}

pub use prepared::DEFAULT_PREPARED_RECORDS;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            prepared_records: DEFAULT_PREPARED_RECORDS,
        }
    }
}

/// Where the registry keeps its data: a `sqlite://` file or a `postgres://` server.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>> {
    open_with(database_url, &StoreOptions::default()).await
}

/// [`open`] with options.
pub async fn open_with(database_url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::connect_with(database_url, options).await?,
        ))
    } else if let Some(path) = database_url.strip_prefix("sqlite://") {
        Ok(Arc::new(
            sqlite::SqliteStore::open_with(Path::new(path), options).await?,
        ))
    } else {
        Err(RegistryError::UnsupportedUrl(database_url.to_owned()))
    }
}

/// The embedded default: `registry.db` inside `data_dir`.
pub async fn open_data_dir(data_dir: &Path) -> Result<Arc<dyn Store>> {
    open_data_dir_with(data_dir, &StoreOptions::default()).await
}

/// [`open_data_dir`] with options.
pub async fn open_data_dir_with(data_dir: &Path, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    std::fs::create_dir_all(data_dir)
        .map_err(|error| RegistryError::Unavailable(sqlx::Error::Io(error)))?;
    Ok(Arc::new(
        sqlite::SqliteStore::open_with(&data_dir.join("registry.db"), options).await?,
    ))
}
