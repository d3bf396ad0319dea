//! The matching engine: decides whether two records describe the same child.
//!
//! A pure library (no file or network I/O, no async, no database): callers
//! hand it records and readers/writers.
//!
//! # Pieces
//! - [`normalize`]: Unicode NFKC, case, diacritics, punctuation; Khmer script
//!   romanised by a documented table; nicknames; a phonetic key.
//! - [`compare`]: comparators with levels (names, dates with estimated and
//!   transposed forms, place hierarchies, text with edit-distance bands).
//! - [`spec`]: the model file (TOML or JSON, versioned): columns, comparisons,
//!   blocking rules, cannot-link rules, thresholds and learned weights. The
//!   same engine runs any schema a model file describes.
//! - [`model`]: a compiled [`Model`]: [`Model::blocking_keys`],
//!   [`Model::compare`] (a [`PairExplanation`]: each comparison's level and
//!   log₂ Bayes factor, the prior, the final weight and probability),
//!   [`Model::decide`].
//! - [`train`]: Fellegi–Sunter training: u from random pairs, m by EM per
//!   blocking rule, term frequencies, the prior.
//! - [`batch`]: batch dedupe/link; [`cluster`]: clustering that resists
//!   chaining (constrained average linkage inside connected components; see
//!   the module docs for why).
//! - [`csvio`]: CSV in from any `Read`, clusters out to any `Write`.
//! - [`evaluate`]: pairwise and B-cubed scores, blocking recall.
//!
//! # Online use (one record at a time)
//! ```
//! use matching::{Model, Record, ChildFields};
//! # fn main() -> Result<(), matching::MatchError> {
//! let mut model = Model::new(matching::ModelSpec::canonical_child())?;
//! # let text = matching::spec::CANONICAL_CHILD_TOML; let _ = text;
//! let a = Record::child(&ChildFields { record_id: "a", given_name: "Dara", family_name: "Sok",
//!     date_of_birth: "2016-03-02", ..Default::default() });
//! let keys = model.blocking_keys(&a); // store these; candidates share one
//! assert!(!keys.is_empty());
//! # let _ = &mut model;
//! # Ok(()) }
//! ```

pub mod batch;
pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod csvio;
pub mod error;
pub mod evaluate;
pub mod model;
pub mod normalize;
pub mod record;
pub mod spec;
pub mod train;

pub use batch::{dedupe, Dataset, DedupeResult, NoProgress, Progress};
pub use error::{MatchError, Result};
pub use model::{ComparisonExplanation, Decision, Model, PairExplanation, PreparedRecord};
pub use record::{ChildFields, Record, CHILD_COLUMNS};
pub use spec::ModelSpec;
