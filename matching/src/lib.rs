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
//! Train once in batch (`child-registry train`, or [`dedupe`] on an untrained
//! model), keep the JSON model file, then per arriving record:
//! ```
//! use matching::{ChildFields, Decision, Model, ModelSpec, Record};
//! # fn main() -> Result<(), matching::MatchError> {
//! let model = Model::new(ModelSpec::canonical_child())?; // or Model::from_text(&json)?
//! let arriving = Record::child(&ChildFields { record_id: "a", given_name: "Dara", family_name: "Sok",
//!     date_of_birth: "2016-03-02", ..Default::default() });
//! // 1. Blocking keys (`rule:key` strings): store them for every record;
//! //    candidates are the records sharing at least one key.
//! let keys = model.blocking_keys(&arriving);
//! assert!(keys.iter().any(|k| k.starts_with("names_year:")));
//! // 2. With a trained model, score and explain each candidate:
//! //    let e = model.compare(&arriving, &candidate)?;   // PairExplanation
//! //    match model.decide(&e) { Decision::Link => .., Decision::Review => .., Decision::NoMatch => .. }
//! assert!(model.compare(&arriving, &arriving).is_err()); // untrained: an error, not a guess
//! # let _ = Decision::Link;
//! # Ok(()) }
//! ```
//! For many candidates, [`Model::prepare`] each record once and use
//! [`Model::explain_prepared`] / [`Model::score_prepared`].

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

pub use batch::{
    dedupe, dedupe_with, Blocks, Dataset, DedupeOptions, DedupeResult, NoProgress, Progress,
};
pub use error::{MatchError, Result};
pub use model::{Bounded, ComparisonExplanation, Decision, Model, PairExplanation, PreparedRecord};
pub use record::{ChildFields, Record, CHILD_COLUMNS};
pub use spec::ModelSpec;
