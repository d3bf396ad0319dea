//! The index schema, built once, and the tokenizer it names.

use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::Index;

/// Bumped whenever the schema or what goes into a document changes: an index written with
/// another version is rebuilt from the registry at start. That includes the normaliser the
/// words pass through (4: Khmer spelling read as pronounced, `matching::normalize`; 5: the
/// recorded birth dates as a fast field, [`crate::birth_credit`]; 6: name words without term
/// frequencies, so their BM25 is the term's alone, [`crate::flat`]; 7: parents' names without
/// the titles written before them, [`matching::normalize::without_titles`]).
pub const SCHEMA_VERSION: u32 = 7;

/// Name of the fast field of recorded birth dates ([`Fields::birth_dates`]).
pub const BIRTH_DATES: &str = "birth_dates";

/// Tokenizer of the name-like text fields. Text is normalised ([`matching::normalize`]) before
/// it reaches the index and before query terms are built, so this only splits words.
pub const NAME_TOKENIZER: &str = "child_name";

/// The fields of a child document.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The child ID, hyphenated (`7KQ2-M9XA-04TB-S`): one term, used to replace and delete.
    pub child_id: Field,
    /// The compact child ID and every identifier value, as identifier keys (`UGBR2022123`).
    pub ids: Field,
    /// Every name word any agency used, normalised.
    pub names: Field,
    /// Phonetic keys of the name words.
    pub names_phonetic: Field,
    /// Mother's and father's name words, normalised.
    pub parents: Field,
    /// District, subcounty and village words, normalised.
    pub location: Field,
    /// Every district any of the child's records names, normalised, one term each (the
    /// `district` filter).
    pub district: Field,
    /// Every district any of the child's records names, lower-cased as the registry compares
    /// them for a district-scoped reader (the scope filter: a hit must be a child the reader
    /// may then open).
    pub scope_districts: Field,
    /// `F`, `M`, `X` or `unknown`.
    pub sex: Field,
    /// Birth dates agencies recorded, as year, year-month and full date terms.
    pub birth: Field,
    /// The summary birth date as days since 0001-01-01 (range filter).
    pub birth_day: Field,
    /// Every birth date the child's records hold, each with whether it is a guessed year
    /// ([`crate::birth_credit::birth_value`]): a typed date's credit.
    pub birth_dates: Field,
    /// Source systems holding a record about the child (scope and `source_system` filter).
    pub agencies: Field,
    /// What a hit shows, as JSON.
    pub stored: Field,
}

impl Fields {
    pub fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let name_text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(NAME_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        // A child's name words are counted without regard to how many there are: a child known
        // to several agencies has more spellings, and must not rank below a namesake known
        // to one (BM25's length normalisation would do that). So no field norms here, and no
        // term frequencies (a document writes each word once): every child holding a word
        // scores it the same, computed once per search ([`crate::flat`]).
        let name_words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(NAME_TOKENIZER)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        );
        let exact_terms = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        );
        let fields = Fields {
            child_id: builder.add_text_field("child_id", STRING),
            ids: builder.add_text_field("ids", STRING),
            names: builder.add_text_field("names", name_words),
            names_phonetic: builder.add_text_field("names_phonetic", exact_terms.clone()),
            parents: builder.add_text_field("parents", name_text.clone()),
            location: builder.add_text_field("location", name_text),
            district: builder.add_text_field("district", STRING),
            scope_districts: builder.add_text_field("scope_districts", STRING),
            sex: builder.add_text_field("sex", STRING),
            birth: builder.add_text_field("birth", STRING),
            birth_day: builder.add_i64_field("birth_day", INDEXED | FAST),
            birth_dates: builder.add_i64_field(BIRTH_DATES, FAST),
            agencies: builder.add_text_field("agencies", STRING),
            stored: builder.add_text_field("stored", STORED),
        };
        (builder.build(), fields)
    }

    /// Registers the tokenizers the schema names; every opened or created index needs it.
    pub fn register_tokenizers(index: &Index) {
        index.tokenizers().register(
            NAME_TOKENIZER,
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(64))
                .build(),
        );
    }
}
