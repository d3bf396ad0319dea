//! The dashboard's running totals (see [`crate::counts`]): folding the change feed into them,
//! and reading a scope's totals. Shared by both backends like `engine.rs`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::{engine, imports, Backend, MONTH_CREATED};
use crate::counts::{self, dimension, CountedChild};
use crate::error::Result;
use crate::model::{Count, RegistrationCounts, Rest};
use crate::store::ReadScope;

/// Children per look-up statement (bind parameters stay far below both backends' limits).
const CHILDREN_PER_STATEMENT: usize = 1_000;

impl Backend {
    /// Folds up to `max_entries` change-feed entries after the totals' position into the
    /// totals, in one transaction that moves the position only if nobody moved it meanwhile
    /// (another gateway's folder); returns the entries folded, 0 when there were none or
    /// another folder got there first.
    pub(super) async fn fold_totals(&self, max_entries: i64) -> Result<u64> {
        let position: i64 =
            sqlx::query_scalar("SELECT position FROM registration_totals_position WHERE id = 1")
                .fetch_one(&self.read)
                .await?;
        let entries: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, child_id FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(position)
                .bind(max_entries)
                .fetch_all(&self.read)
                .await?;
        let Some(&(last, _)) = entries.last() else {
            return Ok(0);
        };
        let children: Vec<String> = entries
            .iter()
            .map(|(_, child)| child.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Read after the entries: what the children count towards now is at least as recent
        // as the changes being folded. A later change to them folds again from here.
        let before = self.counted_children(&children).await?;
        let now = self.children_to_count(&children).await?;
        let changed: Vec<&String> = children
            .iter()
            .filter(|child| before.get(*child) != now.get(*child))
            .collect();
        let deltas = counts::differences(
            changed
                .iter()
                .map(|child| (before.get(*child), now.get(*child))),
        );

        // Encoded before the writer is taken: SQLite has one.
        let mut counted = Vec::with_capacity(changed.len());
        for id in &changed {
            if let Some(child) = now.get(*id) {
                counted.push((
                    (*id).clone(),
                    child.month.clone(),
                    serde_json::to_string(&child.districts)?,
                    serde_json::to_string(&child.agencies)?,
                ));
            }
        }
        let deltas: Vec<_> = deltas.into_iter().collect();

        let mut tx = super::begin_write(&self.write).await?;
        let moved = sqlx::query(
            "UPDATE registration_totals_position SET position = $1, folded_at = $2 \
             WHERE id = 1 AND position = $3",
        )
        .bind(last)
        .bind(Utc::now())
        .bind(position)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Ok(0);
        }
        imports::insert_rows(
            &mut tx,
            "INSERT INTO registration_totals (scope_kind, scope_value, dimension, bucket, children) ",
            " ON CONFLICT (scope_kind, scope_value, dimension, bucket) \
             DO UPDATE SET children = registration_totals.children + excluded.children",
            &deltas,
            |row, (key, delta)| {
                row.push_bind(key.scope_kind)
                    .push_bind(key.scope_value.as_str())
                    .push_bind(key.dimension)
                    .push_bind(key.bucket.as_str())
                    .push_bind(*delta);
            },
        )
        .await?;
        for ids in changed.chunks(CHILDREN_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM counted_children WHERE child_id IN ({})",
                engine::placeholders(1, ids.len())
            );
            let mut delete = sqlx::query(&sql);
            for id in ids {
                delete = delete.bind(id.as_str());
            }
            delete.execute(&mut *tx).await?;
        }
        imports::insert_rows(
            &mut tx,
            "INSERT INTO counted_children (child_id, month, districts, agencies) ",
            "",
            &counted,
            |row, (id, month, districts, agencies)| {
                row.push_bind(id.as_str())
                    .push_bind(month.as_str())
                    .push_bind(districts.as_str())
                    .push_bind(agencies.as_str());
            },
        )
        .await?;
        tx.commit().await?;
        Ok(entries.len() as u64)
    }

    /// What the totals counted for these children (those counted at all).
    async fn counted_children(&self, ids: &[String]) -> Result<HashMap<String, CountedChild>> {
        let mut counted = HashMap::with_capacity(ids.len());
        for ids in ids.chunks(CHILDREN_PER_STATEMENT) {
            let sql = format!(
                "SELECT child_id, month, districts, agencies FROM counted_children \
                 WHERE child_id IN ({})",
                engine::placeholders(1, ids.len())
            );
            let mut select = sqlx::query_as::<_, (String, String, String, String)>(&sql);
            for id in ids {
                select = select.bind(id.as_str());
            }
            let rows = select.fetch_all(&self.read).await?;
            for (id, month, districts, agencies) in rows {
                counted.insert(
                    id,
                    CountedChild {
                        month,
                        districts: serde_json::from_str(&districts)?,
                        agencies: serde_json::from_str(&agencies)?,
                    },
                );
            }
        }
        Ok(counted)
    }

    /// What these children count towards now (the active ones).
    async fn children_to_count(&self, ids: &[String]) -> Result<HashMap<String, CountedChild>> {
        let mut children: HashMap<String, CountedChild> = HashMap::with_capacity(ids.len());
        for ids in ids.chunks(CHILDREN_PER_STATEMENT) {
            let sql = format!(
                "SELECT c.child_id, {MONTH_CREATED}, sr.district_key, sr.source_system \
                 FROM children c JOIN source_records sr ON sr.child_id = c.child_id \
                 WHERE c.status = 'active' AND c.child_id IN ({})",
                engine::placeholders(1, ids.len())
            );
            let mut select = sqlx::query_as::<_, (String, String, Option<String>, String)>(&sql);
            for id in ids {
                select = select.bind(id.as_str());
            }
            let rows = select.fetch_all(&self.read).await?;
            for (id, month, district, agency) in rows {
                let child = children.entry(id).or_insert_with(|| CountedChild {
                    month,
                    districts: BTreeSet::new(),
                    agencies: BTreeSet::new(),
                });
                child.districts.insert(district.unwrap_or_default());
                child.agencies.insert(agency);
            }
        }
        Ok(children)
    }

    /// A scope's counts from the running totals, the `largest` buckets of each dimension
    /// read through the index and the rest summed inside the database, and when they were
    /// last known complete: now if every change is folded, else the time of the last fold.
    /// Every figure is read in one snapshot: read statement by statement, a fold committed
    /// between two of them showed the districts of children the headline did not count yet.
    pub(super) async fn totals_of(
        &self,
        scope: &ReadScope,
        largest: usize,
    ) -> Result<RegistrationCounts> {
        let mut tx = super::begin_snapshot(&self.read).await?;
        let (folded_up_to, folded_at, head): (i64, Option<DateTime<Utc>>, i64) = sqlx::query_as(
            "SELECT p.position, p.folded_at, h.last_seq \
             FROM registration_totals_position p, outbox_head h WHERE p.id = 1 AND h.id = 1",
        )
        .fetch_one(&mut *tx)
        .await?;
        let counted_at = if folded_up_to >= head {
            Some(Utc::now())
        } else {
            folded_at
        };
        if *scope == ReadScope::Nothing {
            return Ok(RegistrationCounts {
                counted_at,
                ..RegistrationCounts::default()
            });
        }
        // Totals are stored under the scope's kind and value, as `CountedChild::totals` names
        // them; everyone's scope has no value.
        let totals = ScopeTotals {
            kind: scope.kind(),
            value: scope.value().unwrap_or_default(),
            largest: i64::try_from(largest).unwrap_or(i64::MAX),
        };
        let children = totals.summed(&mut tx, dimension::CHILDREN).await?.children;
        let by_district = totals
            .listed(&mut tx, dimension::DISTRICT, "children DESC, bucket")
            .await?;
        let by_agency = totals
            .listed(&mut tx, dimension::AGENCY, "children DESC, bucket")
            .await?;
        let by_month = totals
            .listed(&mut tx, dimension::MONTH, "bucket DESC")
            .await?;
        let left_out = |all: Rest, listed: &[Count]| Rest {
            buckets: all.buckets - listed.len() as i64,
            children: all.children - listed.iter().map(|count| count.children).sum::<i64>(),
        };
        let mut counts = RegistrationCounts {
            children,
            other_districts: left_out(
                totals.summed(&mut tx, dimension::DISTRICT).await?,
                &by_district,
            ),
            other_agencies: left_out(totals.summed(&mut tx, dimension::AGENCY).await?, &by_agency),
            earlier_months: left_out(totals.summed(&mut tx, dimension::MONTH).await?, &by_month),
            by_district,
            by_agency,
            by_month,
            counted_at,
        };
        tx.commit().await?;
        // Ties in the database's order follow its collation; listed, they follow Rust's.
        counts::sort_for_listing(&mut counts);
        Ok(counts)
    }
}

/// One scope's rows of the running totals.
struct ScopeTotals<'a> {
    kind: &'a str,
    value: &'a str,
    largest: i64,
}

impl ScopeTotals<'_> {
    /// District keys are lower-cased by the database when records are written; the scope's
    /// district is lower-cased the same way.
    const IN_SCOPE: &'static str = "scope_kind = CAST($1 AS TEXT) \
         AND scope_value = CASE WHEN CAST($1 AS TEXT) = 'district' \
         THEN LOWER(CAST($2 AS TEXT)) ELSE CAST($2 AS TEXT) END \
         AND dimension = CAST($3 AS TEXT) AND children > 0";

    /// The `largest` buckets of a dimension, in `order`.
    async fn listed(
        &self,
        tx: &mut engine::Transaction<'_>,
        dimension: &str,
        order: &str,
    ) -> Result<Vec<Count>> {
        let sql = format!(
            "SELECT bucket, children FROM registration_totals WHERE {} ORDER BY {order} LIMIT $4",
            Self::IN_SCOPE
        );
        let rows: Vec<(String, i64)> = sqlx::query_as(&sql)
            .bind(self.kind)
            .bind(self.value)
            .bind(dimension)
            .bind(self.largest)
            .fetch_all(&mut **tx)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(key, children)| Count { key, children })
            .collect())
    }

    /// How many buckets a dimension has and the children they count together.
    async fn summed(&self, tx: &mut engine::Transaction<'_>, dimension: &str) -> Result<Rest> {
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(children), 0) AS BIGINT) FROM registration_totals \
             WHERE {}",
            Self::IN_SCOPE
        );
        let (buckets, children): (i64, i64) = sqlx::query_as(&sql)
            .bind(self.kind)
            .bind(self.value)
            .bind(dimension)
            .fetch_one(&mut **tx)
            .await?;
        Ok(Rest { buckets, children })
    }
}
