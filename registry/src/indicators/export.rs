//! Anonymised aggregate tables for dashboards: every published number of one period's reports
//! (the country and each district), as rows. No child ID, no name, no hidden count: a
//! suppressed cell is a row with no value.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::IndicatorReport;
use crate::error::Result;

/// One published number.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    pub period: String,
    /// Empty for the whole country.
    pub district: String,
    pub indicator: String,
    pub unit: String,
    /// `total`, or the disaggregation's dimension.
    pub dimension: String,
    /// `total`, or the category within the dimension.
    pub category: String,
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub suppressed: bool,
}

/// The column names, in order (the CSV header and the table's columns).
pub const COLUMNS: [&str; 10] = [
    "period",
    "district",
    "indicator",
    "unit",
    "dimension",
    "category",
    "value",
    "low",
    "high",
    "suppressed",
];

/// Flattens reports into rows.
pub fn rows(reports: &[IndicatorReport]) -> Vec<AggregateRow> {
    let as_f64 = |number: &Option<serde_json::Number>| number.as_ref().and_then(|n| n.as_f64());
    let mut rows = Vec::new();
    for report in reports {
        for indicator in &report.indicators {
            let cells = std::iter::once(("total", &indicator.total)).chain(
                indicator.disaggregations.iter().flat_map(|disaggregation| {
                    disaggregation
                        .cells
                        .iter()
                        .map(|cell| (disaggregation.dimension.as_str(), cell))
                }),
            );
            for (dimension, cell) in cells {
                rows.push(AggregateRow {
                    period: report.period.clone(),
                    district: report.district.clone().unwrap_or_default(),
                    indicator: indicator.code.clone(),
                    unit: indicator.unit.clone(),
                    dimension: dimension.to_owned(),
                    category: cell.key.clone(),
                    value: as_f64(&cell.value),
                    low: as_f64(&cell.low),
                    high: as_f64(&cell.high),
                    suppressed: cell.suppressed,
                });
            }
        }
    }
    rows
}

const CREATE_TABLES: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS indicator_values ( \
         period     TEXT NOT NULL, \
         district   TEXT NOT NULL, \
         indicator  TEXT NOT NULL, \
         unit       TEXT NOT NULL, \
         dimension  TEXT NOT NULL, \
         category   TEXT NOT NULL, \
         value      DOUBLE PRECISION, \
         low        DOUBLE PRECISION, \
         high       DOUBLE PRECISION, \
         suppressed BOOLEAN NOT NULL, \
         PRIMARY KEY (period, district, indicator, dimension, category))",
    "CREATE TABLE IF NOT EXISTS indicator_exports ( \
         period               TEXT PRIMARY KEY, \
         exported_at          TIMESTAMPTZ NOT NULL, \
         suppression_threshold BIGINT NOT NULL, \
         open_candidate_pairs BIGINT NOT NULL, \
         rows                 BIGINT NOT NULL)",
];

/// Writes one period's rows to a reporting PostgreSQL database, creating the tables if
/// missing. The period's earlier rows are replaced in the same transaction, so a re-run leaves
/// exactly one copy and a reader never sees half a period.
pub async fn to_postgres(
    url: &str,
    period: &str,
    threshold: u64,
    open_pairs: usize,
    rows: &[AggregateRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut connection = PgConnectOptions::from_str(url)?.connect().await?;
    let mut tx = connection.begin().await?;
    // Two exports of the first period at once would race on CREATE TABLE: serialise them.
    sqlx::query("SELECT pg_advisory_xact_lock(7306541230)")
        .execute(&mut *tx)
        .await?;
    for statement in CREATE_TABLES {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM indicator_values WHERE period = $1")
        .bind(period)
        .execute(&mut *tx)
        .await?;
    for row in rows {
        sqlx::query(
            "INSERT INTO indicator_values (period, district, indicator, unit, dimension, category, \
             value, low, high, suppressed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.period)
        .bind(&row.district)
        .bind(&row.indicator)
        .bind(&row.unit)
        .bind(&row.dimension)
        .bind(&row.category)
        .bind(row.value)
        .bind(row.low)
        .bind(row.high)
        .bind(row.suppressed)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO indicator_exports (period, exported_at, suppression_threshold, open_candidate_pairs, rows) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (period) DO UPDATE SET exported_at = $2, \
         suppression_threshold = $3, open_candidate_pairs = $4, rows = $5",
    )
    .bind(period)
    .bind(now)
    .bind(i64::try_from(threshold).unwrap_or(i64::MAX))
    .bind(i64::try_from(open_pairs).unwrap_or(i64::MAX))
    .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    connection.close().await?;
    Ok(())
}
