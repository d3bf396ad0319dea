//! The registry: child IDs, source records, golden records, timelines and the change feed,
//! stored in SQLite (embedded) or PostgreSQL (production).

pub mod audit;
pub mod backup;
pub mod clients;
pub mod counts;
pub mod dates;
pub mod error;
pub mod golden;
pub mod ids;
pub mod imports;
pub mod indicators;
pub mod linkage;
pub mod model;
pub mod referrals;
pub mod rescore;
pub mod review;
pub mod store;
pub mod users;
pub mod validate;
pub mod webhooks;

pub use error::{RegistryError, Result};
pub use ids::{ChildId, ChildIdRange};
pub use imports::ImportStore;
pub use store::{AccessStore, ReadScope, Store};
pub use webhooks::FeedStore;
