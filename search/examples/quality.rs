//! Search quality and raw query speed on generated children.
//!
//! Every generated child with two or more agency records has one record held out; the child
//! is indexed from its other records (children with one record are indexed whole, as
//! distractors). Each held-out record becomes the query an official would type from that
//! paper: given and family name plus birth date. Reports recall@1 and recall@5 (is the true
//! child first / in the top 5) and the raw tantivy query latency of the same queries.
//!
//! With `BY_CAUSE=1` it also breaks recall down by what differs between the query and the
//! records the child is indexed from (Khmer script, a word with no exact match, a date that is
//! off, an estimate, one name only), to see which corruptions the ranking misses.
//!
//! `cargo run --release -p search --example quality -- [records] [seed]`
//! (`RANKING=off`: the index's order alone, without the matching model's ranking;
//! `DEPTH=1`: also how deep the true child lies, up to 100 hits)
//! (`QUERIES=n` measures n of the queries, spread evenly, for large indexes;
//! `INDEX_DIR=dir` keeps the index on disk and reopens it on the next run)
//! (`CSV=records.csv TRUTH=truth.csv`: the children of a file in the canonical child CSV with
//! its ground truth, such as the other generators' in `bench/matching/`, instead of this
//! project's generator; `records` and `seed` are then ignored)
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use chrono::{TimeZone, Utc};
use matching::model::parse_flag;
use matching::normalize::{is_khmer, name_phonetic_key, normalized_tokens, SexCode};
use registry::model::{ChildData, ChildView, RecordSubmission, SourceRecordView};
use registry::{ChildId, ReadScope};
use search::{SearchIndex, SearchRequest};
use synthetic::{GeneratedRecord, GeneratorConfig};

fn child_data(record: &GeneratedRecord) -> ChildData {
    serde_json::from_value::<RecordSubmission>(record.api_body())
        .unwrap()
        .child
}

fn child_view(cluster: u64, records: &[&GeneratedRecord]) -> ChildView {
    let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let records: Vec<SourceRecordView> = records
        .iter()
        .map(|record| SourceRecordView {
            source_system: record.source_system.clone(),
            source_record_id: record.source_record_id.clone(),
            version: 1,
            received_at: at,
            first_received_at: at,
            child: child_data(record),
        })
        .collect();
    registry::golden::active_child(ChildId::from_value(cluster).unwrap(), records, at, at)
}

fn query_text(record: &GeneratedRecord, with_birth: bool) -> String {
    let mut parts: Vec<String> = [&record.given_name, &record.family_name]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if with_birth {
        if let Some(date) = record.date_of_birth {
            parts.push(date.to_string());
        }
    }
    parts.join(" ")
}

/// The records of a canonical child CSV (the columns of [`matching::CHILD_COLUMNS`], which the
/// slots below follow in order), each with its child from the truth file
/// (`record_id,cluster_id`).
fn records_from_csv(records: &str, truth: &str) -> Vec<GeneratedRecord> {
    let mut clusters: BTreeMap<String, u64> = BTreeMap::new();
    let mut cluster_of: BTreeMap<String, u64> = BTreeMap::new();
    for row in csv::Reader::from_path(truth).unwrap().records() {
        let row = row.unwrap();
        let next = clusters.len() as u64 + 1;
        let cluster = *clusters.entry(row[1].to_owned()).or_insert(next);
        cluster_of.insert(row[0].to_owned(), cluster);
    }
    let mut reader = csv::Reader::from_path(records).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
    let columns: Vec<usize> = matching::CHILD_COLUMNS
        .iter()
        .map(|name| column(name))
        .collect();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            let field = |slot: usize| {
                Some(row[columns[slot]].trim())
                    .filter(|value| !value.is_empty())
                    .map(str::to_owned)
            };
            let record_id = field(0).unwrap();
            // As the registry stores a sex: `F`, `M`, `X` or `unknown`.
            let sex = field(5).and_then(|sex| SexCode::parse(&sex)).map(|code| {
                match code {
                    SexCode::Female => "F",
                    SexCode::Male => "M",
                    SexCode::Other => "X",
                    SexCode::Unknown => "unknown",
                }
                .to_owned()
            });
            GeneratedRecord {
                cluster_id: cluster_of[&record_id],
                record_id,
                source_system: field(1).unwrap(),
                source_record_id: field(2).unwrap(),
                given_name: field(3),
                family_name: field(4),
                other_names: Vec::new(),
                sex,
                date_of_birth: field(6).and_then(|date| registry::dates::read_written_date(&date)),
                date_of_birth_estimated: field(7)
                    .and_then(|flag| parse_flag(&flag))
                    .unwrap_or(false),
                district: field(8),
                subcounty: field(9),
                village: field(10),
                mother_name: field(11),
                father_name: field(12),
                identifiers: Vec::new(),
                events: Vec::new(),
            }
        })
        .collect()
}

/// What sets a query apart from the records its child is indexed from.
fn causes(record: &GeneratedRecord, indexed: &ChildView) -> Vec<&'static str> {
    let mut causes = Vec::new();
    let names: Vec<&String> = [&record.given_name, &record.family_name]
        .into_iter()
        .flatten()
        .collect();
    if names.iter().any(|name| name.chars().any(is_khmer)) {
        causes.push("khmer script");
    }
    if names.len() < 2 {
        causes.push("one name field");
    }
    let mut known = BTreeSet::new();
    let mut dates = BTreeSet::new();
    for source in &indexed.records {
        let data = &source.child;
        for name in [&data.given_name, &data.family_name]
            .into_iter()
            .flatten()
            .chain(&data.other_names)
        {
            known.extend(normalized_tokens(name));
        }
        dates.extend(data.date_of_birth);
    }
    let keys: BTreeSet<String> = known.iter().map(|word| name_phonetic_key(word)).collect();
    let words: Vec<String> = names
        .iter()
        .flat_map(|name| normalized_tokens(name))
        .collect();
    if words.iter().all(|word| known.contains(word)) {
        causes.push("names exact");
    } else if words
        .iter()
        .all(|word| known.contains(word) || keys.contains(&name_phonetic_key(word)))
    {
        causes.push("names phonetic");
    } else {
        causes.push("a name word unmatched");
        if std::env::var_os("SHOW_UNMATCHED").is_some() {
            let unmatched: Vec<&String> = words
                .iter()
                .filter(|word| !known.contains(*word) && !keys.contains(&name_phonetic_key(word)))
                .collect();
            println!(
                "    unmatched {unmatched:?} ({}) among {known:?}",
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
    }
    if record.date_of_birth_estimated {
        causes.push("date flagged estimated");
    }
    let date_cause = match record.date_of_birth {
        None => "no date",
        Some(_) if dates.is_empty() => "indexed without date",
        Some(date) if dates.contains(&date) => "date exact",
        Some(date) => {
            let transposed = NaiveDate::from_ymd_opt(date.year(), date.day(), date.month());
            if transposed.is_some_and(|t| dates.contains(&t)) {
                "date transposed"
            } else if dates
                .iter()
                .any(|d| d.year() == date.year() && d.month() == date.month())
            {
                "date same month"
            } else if dates.iter().any(|d| d.year() == date.year()) {
                "date same year"
            } else if dates.iter().any(|d| (d.year() - date.year()).abs() == 1) {
                "date year ±1"
            } else {
                "date far off"
            }
        }
    };
    causes.push(date_cause);
    causes
}

/// A hit as the diagnostics print it: name, birth date, other names, score.
fn describe(hit: &search::SearchHit) -> String {
    format!(
        "{} {} [{}] {:.1}",
        hit.display_name,
        hit.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
        hit.other_names.join("/"),
        hit.score
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let records: usize = args.next().map_or(20_000, |n| n.parse().unwrap());
    let seed: u64 = args.next().map_or(7, |n| n.parse().unwrap());
    let started = Instant::now();
    let (source, generated_records) = match (std::env::var("CSV"), std::env::var("TRUTH")) {
        (Ok(records), Ok(truth)) => {
            let read = records_from_csv(&records, &truth);
            (records, read)
        }
        _ => {
            let generated = synthetic::generate(&GeneratorConfig {
                seed,
                records,
                ..GeneratorConfig::default()
            });
            (format!("seed {seed}"), generated.records)
        }
    };
    let records = generated_records.len();
    let mut clusters: BTreeMap<u64, Vec<&GeneratedRecord>> = BTreeMap::new();
    for record in &generated_records {
        clusters.entry(record.cluster_id).or_default().push(record);
    }
    let mut queries: Vec<(&GeneratedRecord, ChildId, usize)> = Vec::new();
    let mut views = Vec::with_capacity(clusters.len());
    for (cluster, records) in &clusters {
        let indexed = if records.len() >= 2 {
            queries.push((
                records[0],
                ChildId::from_value(*cluster).unwrap(),
                views.len(),
            ));
            &records[1..]
        } else {
            &records[..]
        };
        views.push(child_view(*cluster, indexed));
    }
    // At a million children every query would take hours; `QUERIES=n` keeps n spread evenly.
    if let Some(keep) = std::env::var("QUERIES")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let step = queries.len().div_ceil(keep.max(1)).max(1);
        queries = queries.into_iter().step_by(step).collect();
    }
    let generated = started.elapsed();

    // `INDEX_DIR=dir` keeps the index on disk: a later run with the same records and seed
    // opens it instead of indexing again (a million children take minutes to index).
    let index = match std::env::var_os("INDEX_DIR") {
        Some(dir) => SearchIndex::open(std::path::Path::new(&dir)).unwrap(),
        None => SearchIndex::in_ram().unwrap(),
    };
    let started = Instant::now();
    let children = views.len();
    if index.num_children() == 0 {
        for (position, chunk) in views.chunks(50_000).enumerate() {
            let changes = chunk
                .iter()
                .map(|view| (view.child_id, Some(view.clone())))
                .collect();
            index.apply(changes, position as i64 + 1).unwrap();
        }
    } else {
        assert_eq!(
            index.num_children(),
            children as u64,
            "INDEX_DIR holds another data set"
        );
    }
    // One segment, as a rebuild leaves the index (`search::follower::rebuild`).
    index.merge_segments().unwrap();
    // `FOLLOWER_ROUNDS=n`: then n rounds of the change feed's follower, 100 changed children
    // each, every one a commit and a small segment, as registrations leave them.
    let rounds = std::env::var("FOLLOWER_ROUNDS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    for round in 0..rounds {
        let changes = views
            .iter()
            .skip(round * 7919 % views.len())
            .take(100)
            .map(|view| (view.child_id, Some(view.clone())))
            .collect();
        index.apply(changes, round as i64 + 1).unwrap();
    }
    index.finish_writing().unwrap();
    let indexed = started.elapsed();
    println!(
        "{records} records ({source}): {children} children indexed in {:.1} s ({} segments; generated in {:.1} s), {} queries",
        indexed.as_secs_f64(),
        index.num_segments(),
        generated.as_secs_f64(),
        queries.len()
    );

    // The gateway ranks the first hits with the registry's active model; `RANKING=off`
    // measures the index's own order.
    let ranking = (std::env::var("RANKING").as_deref() != Ok("off")).then(|| {
        registry::linkage::Matcher::new(1, matching::Model::default_child().unwrap()).unwrap()
    });
    for with_birth in [true, false] {
        let mut first = 0usize;
        let mut top5 = 0usize;
        let mut latencies = Vec::with_capacity(queries.len());
        let mut misses = Vec::new();
        let mut by_cause: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
        for (record, truth, view) in &queries {
            let text = query_text(record, with_birth);
            let request = SearchRequest::text(&text, 5);
            let began = Instant::now();
            let results = index
                .search_blocking(&request, &ReadScope::All, ranking.as_ref())
                .unwrap();
            latencies.push(began.elapsed().as_secs_f64() * 1000.0);
            let rank = results.hits.iter().position(|hit| hit.child_id == *truth);
            let query_causes = causes(record, &views[*view]);
            if let (Ok(cause), true) = (std::env::var("SHOW_BEATEN"), rank != Some(0)) {
                // Queries of one cause whose true child is not first: what beat it.
                if with_birth && query_causes.contains(&cause.as_str()) {
                    let first = results.hits.first().map(describe).unwrap_or_default();
                    let true_hit = rank.map_or("below 5".to_owned(), |r| {
                        format!("#{} {}", r + 1, describe(&results.hits[r]))
                    });
                    println!("  beaten: {text}  | first: {first}  | truth: {true_hit}");
                }
            }
            for cause in query_causes {
                let counts = by_cause.entry(cause).or_default();
                counts[0] += 1;
                counts[1] += usize::from(rank == Some(0));
                counts[2] += usize::from(rank.is_some());
            }
            match rank {
                Some(0) => {
                    first += 1;
                    top5 += 1;
                }
                Some(_) => top5 += 1,
                None => misses.push((text, *truth, *view)),
            }
        }
        latencies.sort_by(f64::total_cmp);
        let n = queries.len() as f64;
        if std::env::var_os("DEPTH").is_some() {
            // How deep the true child lies: the ceiling of any re-ranking of the first hits.
            let mut within = [0usize; 4];
            for (record, truth, _) in &queries {
                let text = query_text(record, with_birth);
                let deeper = index
                    .search_blocking(
                        &SearchRequest::text(&text, 100),
                        &ReadScope::All,
                        ranking.as_ref(),
                    )
                    .unwrap();
                if let Some(rank) = deeper.hits.iter().position(|hit| hit.child_id == *truth) {
                    for (slot, depth) in [10, 20, 50, 100].into_iter().enumerate() {
                        within[slot] += usize::from(rank < depth);
                    }
                }
            }
            println!(
                "  recall@10 {:.2}%  @20 {:.2}%  @50 {:.2}%  @100 {:.2}%",
                100.0 * within[0] as f64 / n,
                100.0 * within[1] as f64 / n,
                100.0 * within[2] as f64 / n,
                100.0 * within[3] as f64 / n
            );
        }
        println!(
            "query = names{}: recall@1 {:.2}%  recall@5 {:.2}%  | raw query p50 {:.2} ms  p99 {:.2} ms  mean {:.2} ms",
            if with_birth { " + birth date" } else { " only" },
            100.0 * first as f64 / n,
            100.0 * top5 as f64 / n,
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            latencies.iter().sum::<f64>() / n,
        );
        if std::env::var_os("BY_CAUSE").is_some() {
            println!("  | cause | queries | recall@1 | recall@5 | misses@5 |");
            for (cause, [count, first, top5]) in &by_cause {
                println!(
                    "  | {cause} | {count} | {:.1} % | {:.1} % | {} |",
                    100.0 * *first as f64 / *count as f64,
                    100.0 * *top5 as f64 / *count as f64,
                    count - top5
                );
            }
        }
        if std::env::var_os("SHOW_MISSES").is_some() {
            // Each miss with the first hit and where the true child ranks, and why.
            for (text, truth, view) in misses.iter().take(40) {
                let deeper = index
                    .search_blocking(
                        &SearchRequest::text(text, 100),
                        &ReadScope::All,
                        ranking.as_ref(),
                    )
                    .unwrap();
                let first = deeper.hits.first().map(describe).unwrap_or_default();
                let found = deeper.hits.iter().position(|hit| hit.child_id == *truth);
                let true_hit = found
                    .map(|rank| format!("#{} {}", rank + 1, describe(&deeper.hits[rank])))
                    .unwrap_or_else(|| "not in top 100".to_owned());
                println!("  miss: {text}  | first: {first}  | truth: {true_hit}");
                if found.is_none() {
                    // What the index holds for the child the query did not find.
                    for source in &views[*view].records {
                        let data = &source.child;
                        println!(
                            "      indexed: {} | {} {}",
                            data.given_name.as_deref().unwrap_or("-"),
                            data.family_name.as_deref().unwrap_or("-"),
                            data.date_of_birth
                                .map(|d| d.to_string())
                                .unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
}
