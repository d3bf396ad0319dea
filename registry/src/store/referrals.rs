//! Referrals between agencies and the indicators' projection: part of every
//! [`Store`](super::Store), in traits of their own so the core trait stays as it was. The SQL is
//! in `referrals_sql.rs` and `indicators_sql.rs`, compiled once per backend like `engine.rs`.

use async_trait::async_trait;

use crate::error::Result;
use crate::indicators::IndicatorFacts;
use crate::referrals::{NewReferral, Referral, ReferralPage, ReferralQuery, ReferralStatus};
use crate::store::ReadScope;

#[async_trait]
pub trait ReferralStore: Send + Sync {
    /// Makes a referral directly (not with a timeline event), `pending`, with its change-feed
    /// entry in the same transaction. `actor` is recorded as the author of the first status.
    async fn create_referral(&self, referral: NewReferral, actor: &str) -> Result<Referral>;

    /// Referrals matching `query` whose child is within `scope`, oldest first.
    async fn referrals(&self, query: &ReferralQuery, scope: &ReadScope) -> Result<ReferralPage>;

    async fn referral(&self, referral_id: i64) -> Result<Option<Referral>>;

    /// Moves a referral to `status` (pending → accepted | declined, accepted → closed), with its
    /// history entry and change-feed entry in one transaction; any other move is the
    /// `invalid_transition` conflict.
    async fn move_referral(
        &self,
        referral_id: i64,
        status: ReferralStatus,
        note: Option<String>,
        actor: &str,
    ) -> Result<Referral>;
}

#[async_trait]
pub trait IndicatorStore: Send + Sync {
    /// The compact projection the indicators are computed from: every active child's
    /// demographics, agencies and current events, the referrals, and the open candidate pairs.
    async fn indicator_facts(&self) -> Result<IndicatorFacts>;
}
