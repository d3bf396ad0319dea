//! The HTTP routes: each handler translates HTTP into one call on the registry.

pub mod admin;
pub mod audit;
pub mod changes;
pub mod children;
pub mod health;
pub mod imports;
pub mod indicators;
pub mod match_candidates;
pub mod records;
pub mod referrals;
pub mod search;
pub mod session;
pub mod webhooks;
