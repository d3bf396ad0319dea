//! A generic record keyed by column name, and the canonical child columns.

use std::sync::Arc;

/// The columns of the canonical child CSV, in order.
pub const CHILD_COLUMNS: [&str; 13] = [
    "record_id",
    "source_system",
    "source_record_id",
    "given_name",
    "family_name",
    "sex",
    "date_of_birth",
    "date_of_birth_estimated",
    "district",
    "subcounty",
    "village",
    "mother_name",
    "father_name",
];

/// One record: an identifier and its values by column name.
///
/// Any schema works: the model file names the columns it reads. Empty values
/// are treated as missing. Column names are shared (`Arc<str>`) so a reader
/// allocates each header name once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's unique identifier (the model's `unique_id_column`).
    pub id: String,
    fields: Vec<(Arc<str>, String)>,
}

impl Record {
    /// An empty record with this identifier.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            fields: Vec::new(),
        }
    }

    /// Set a column's value (builder style).
    pub fn with(mut self, column: impl Into<Arc<str>>, value: impl Into<String>) -> Self {
        self.set(column, value);
        self
    }

    /// Set a column's value, replacing any previous value.
    pub fn set(&mut self, column: impl Into<Arc<str>>, value: impl Into<String>) {
        let column = column.into();
        let value = value.into();
        if let Some(slot) = self.fields.iter_mut().find(|(c, _)| *c == column) {
            slot.1 = value;
        } else {
            self.fields.push((column, value));
        }
    }

    /// Append a column's value without checking for an earlier value of the
    /// same column (readers that know their columns are distinct).
    pub fn push(&mut self, column: Arc<str>, value: impl Into<String>) {
        self.fields.push((column, value.into()));
    }

    /// A column's value; `None` when absent or blank.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| &**c == column)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// All (column, value) pairs.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(c, v)| (&**c, v.as_str()))
    }

    /// A record in the canonical child columns.
    pub fn child(child: &ChildFields<'_>) -> Self {
        let mut r = Record::new(child.record_id);
        let estimated = match child.date_of_birth_estimated {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        };
        let values = [
            ("source_system", child.source_system),
            ("source_record_id", child.source_record_id),
            ("given_name", child.given_name),
            ("family_name", child.family_name),
            ("sex", child.sex),
            ("date_of_birth", child.date_of_birth),
            ("date_of_birth_estimated", estimated),
            ("district", child.district),
            ("subcounty", child.subcounty),
            ("village", child.village),
            ("mother_name", child.mother_name),
            ("father_name", child.father_name),
        ];
        for (c, v) in values {
            r.fields.push((Arc::from(c), v.to_string()));
        }
        r
    }
}

/// The canonical child columns, borrowed, for [`Record::child`]. Empty strings
/// mean missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildFields<'a> {
    pub record_id: &'a str,
    pub source_system: &'a str,
    pub source_record_id: &'a str,
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub sex: &'a str,
    /// `YYYY-MM-DD`.
    pub date_of_birth: &'a str,
    pub date_of_birth_estimated: Option<bool>,
    pub district: &'a str,
    pub subcounty: &'a str,
    pub village: &'a str,
    pub mother_name: &'a str,
    pub father_name: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_are_missing() {
        let r = Record::new("1")
            .with("given_name", "  ")
            .with("family_name", "Okello");
        assert_eq!(r.get("given_name"), None);
        assert_eq!(r.get("family_name"), Some("Okello"));
        assert_eq!(r.get("village"), None);
    }

    #[test]
    fn child_constructor_fills_canonical_columns() {
        let r = Record::child(&ChildFields {
            record_id: "r1",
            given_name: "Mary",
            date_of_birth_estimated: Some(true),
            ..Default::default()
        });
        assert_eq!(r.id, "r1");
        assert_eq!(r.get("given_name"), Some("Mary"));
        assert_eq!(r.get("date_of_birth_estimated"), Some("1"));
    }
}
