//! Two records and their comparison as text, for the examples that write samples of pairs.

use matching::{Model, PairExplanation, Record};

/// A record's values in the model's column order, separated by ` | `.
pub fn record_line(model: &Model, record: &Record) -> String {
    model
        .spec()
        .columns
        .iter()
        .map(|column| record.get(&column.name).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Each comparison's level and weight: `given_name=exact:7.5 family_name=else:-5.6 …`.
pub fn comparisons_line(explanation: &PairExplanation) -> String {
    explanation
        .comparisons
        .iter()
        .map(|c| format!("{}={}:{:.1}", c.comparison, c.level, c.weight))
        .collect::<Vec<_>>()
        .join(" ")
}
