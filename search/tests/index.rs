//! The index in memory: documents from registry children, queries as the API runs them.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};

use chrono::{NaiveDate, TimeZone, Utc};
use registry::linkage::Matcher;
use registry::model::{ChildData, ChildStatus, ChildView, Identifier, Sex, SourceRecordView};
use registry::{ChildId, ReadScope};
use search::{MatchedField, SearchIndex, SearchParams, SearchRequest};

/// The model the registry ships: the gateway ranks the first hits with the active model.
fn ranking() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| Matcher::new(1, matching::Model::default_child().unwrap()).unwrap())
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn person(given: &str, family: &str, sex: Sex, born: &str, district: &str) -> ChildData {
    ChildData {
        given_name: Some(given.to_owned()),
        family_name: Some(family.to_owned()),
        sex: Some(sex),
        date_of_birth: Some(date(born)),
        district: Some(district.to_owned()),
        ..ChildData::default()
    }
}

fn child(id: u64, records: &[(&str, ChildData)]) -> ChildView {
    let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let records: Vec<SourceRecordView> = records
        .iter()
        .enumerate()
        .map(|(n, (system, data))| SourceRecordView {
            source_system: (*system).to_owned(),
            source_record_id: format!("R{id}-{n}"),
            version: 1,
            received_at: at,
            first_received_at: at,
            child: data.clone(),
        })
        .collect();
    registry::golden::active_child(ChildId::from_value(id).unwrap(), records, at, at)
}

fn children() -> Vec<ChildView> {
    let mut halima = person("Halima", "Aguti", Sex::F, "2012-03-04", "Wakiso");
    halima.mother_name = Some("Sarah Nakato".to_owned());
    halima.identifiers = vec![Identifier {
        kind: "birth_registration".to_owned(),
        value: "UG-BR-2012-123".to_owned(),
    }];
    let school_halima = person("Halimah", "Aguti", Sex::F, "2012-03-04", "Wakiso");
    let mut okello = person("Okello", "Opio", Sex::M, "2012-09-30", "Gulu");
    okello.mother_name = Some("Maama Grace".to_owned());
    okello.father_name = Some("the late Mr. Opio".to_owned());
    vec![
        child(1, &[("police-ug", halima), ("school-ug", school_halima)]),
        child(
            2,
            &[(
                "police-ug",
                person("Halima", "Akello", Sex::F, "2014-06-01", "Gulu"),
            )],
        ),
        child(3, &[("welfare-ug", okello)]),
        child(
            4,
            &[(
                "school-kh",
                person("Dara", "Sok", Sex::M, "2016-01-15", "Battambang"),
            )],
        ),
        child(
            5,
            &[(
                "school-kh",
                person("Sophea", "Chan", Sex::F, "2015-11-02", "Kampot"),
            )],
        ),
        child(
            6,
            &[(
                "court-kh",
                person("Dara", "Meas", Sex::M, "2010-05-05", "Kampot"),
            )],
        ),
        // Moved: the police wrote Gulu, the school (whose record is newer) Lira.
        child(
            7,
            &[
                (
                    "police-ug",
                    person("Brenda", "Achieng", Sex::F, "2011-01-01", "Gulu"),
                ),
                (
                    "school-ug",
                    person("Brenda", "Achieng", Sex::F, "2011-01-01", "Lira"),
                ),
            ],
        ),
    ]
}

fn index() -> Arc<SearchIndex> {
    let index = SearchIndex::in_ram().unwrap();
    let changes = children()
        .into_iter()
        .map(|view| (view.child_id, Some(view)))
        .collect();
    index.apply(changes, 42).unwrap();
    index
}

fn id(value: u64) -> ChildId {
    ChildId::from_value(value).unwrap()
}

fn ids(index: &SearchIndex, text: &str) -> Vec<ChildId> {
    ids_ranked_by(index, text, Some(ranking()))
}

/// The first ten hits of `text`, ordered by `ranking` (the index's own order with `None`).
fn ids_ranked_by(index: &SearchIndex, text: &str, ranking: Option<&Matcher>) -> Vec<ChildId> {
    index
        .search_blocking(&SearchRequest::text(text, 10), &ReadScope::All, ranking)
        .unwrap()
        .hits
        .into_iter()
        .map(|hit| hit.child_id)
        .collect()
}

fn top(index: &SearchIndex, text: &str) -> Option<ChildId> {
    ids(index, text).first().copied()
}

#[test]
fn exact_names_in_either_order() {
    let index = index();
    assert_eq!(index.position(), 42);
    assert_eq!(index.num_children(), 7);
    assert_eq!(top(&index, "Halima Aguti"), Some(id(1)));
    assert_eq!(top(&index, "aguti halima"), Some(id(1)));
    assert_eq!(top(&index, "HALÍMA AGUTI"), Some(id(1)));
}

#[test]
fn typos_and_respellings_are_found_but_rank_below_exact() {
    let index = index();
    assert_eq!(top(&index, "Halema Agutti"), Some(id(1)));
    assert_eq!(top(&index, "Okelo Opio"), Some(id(3)));
    // "Akello" exactly beats the fuzzy "Okello" match.
    assert_eq!(top(&index, "Akello"), Some(id(2)));
    assert_eq!(top(&index, "Sopheap Chan"), Some(id(5)));
}

#[test]
fn khmer_script_finds_latin_spelling() {
    let index = index();
    assert_eq!(top(&index, "សុខ ដារ៉ា"), Some(id(4)));
    assert_eq!(top(&index, "សុខដារ៉ា"), Some(id(4)));
}

#[test]
fn birth_year_and_month_narrow_the_ranking() {
    let index = index();
    assert_eq!(top(&index, "Dara 2010"), Some(id(6)));
    assert_eq!(top(&index, "Dara 2016-01"), Some(id(4)));
    assert_eq!(top(&index, "Halima 2014"), Some(id(2)));
}

#[test]
fn a_birth_date_in_khmer_digits_narrows_the_ranking_too() {
    let index = index();
    // "ដារ៉ា" is Dara; ២០១០ is 2010, and ឆ្នាំ២០១០ "year 2010" as Khmer forms write it.
    assert_eq!(top(&index, "ដារ៉ា ២០១០"), Some(id(6)));
    assert_eq!(top(&index, "ដារ៉ា ឆ្នាំ២០១០"), Some(id(6)));
    assert_eq!(top(&index, "Dara ២០១៦-០១"), Some(id(4)));
    assert_eq!(top(&index, "Dara ០៥/០៥/២០១០"), Some(id(6)));
}

#[test]
fn a_birth_date_written_in_words_searches_as_the_same_date_in_digits() {
    let index = index();
    let hits = |text: &str| {
        index
            .search_blocking(
                &SearchRequest::text(text, 10),
                &ReadScope::All,
                Some(ranking()),
            )
            .unwrap()
            .hits
            .into_iter()
            .map(|hit| (hit.child_id, hit.score, hit.matched_fields))
            .collect::<Vec<_>>()
    };
    for (in_words, in_digits) in [
        ("Dara 5 May 2010", "Dara 2010-05-05"),
        ("Dara May 5, 2010", "Dara 2010-05-05"),
        ("Dara 5th May 2010", "Dara 2010-05-05"),
        ("Dara 05-May-2010", "Dara 2010-05-05"),
        // "day 5, month May, year 2010" as a Khmer form writes it.
        ("Dara ថ្ងៃទី៥ ខែឧសភា ឆ្នាំ២០១០", "Dara 2010-05-05"),
        ("Dara January 2016", "Dara 2016-01"),
        ("Dara ខែមករា ឆ្នាំ២០១៦", "Dara 2016-01"),
    ] {
        let found = hits(in_words);
        assert!(!found.is_empty(), "{in_words}");
        assert_eq!(found, hits(in_digits), "{in_words}");
    }
    assert_eq!(top(&index, "Dara 5 May 2010"), Some(id(6)));
    assert_eq!(top(&index, "Dara January 2016"), Some(id(4)));
}

#[test]
fn a_typed_day_finds_a_child_whose_every_name_slipped() {
    let index = index();
    // Neither word is within the typo allowance or sounds like Dara Meas (born 5 May 2010).
    assert_eq!(ids(&index, "aDra Mqxs 2010-05-05"), vec![id(6)]);
    assert!(ids(&index, "aDra Mqxs").is_empty());
    // A day read as a guess (1 January, 30 June) is indexed and searched as its year only.
    assert!(ids(&index, "Xqzz Vvkw 2011-01-01").is_empty());
    // A child the names found ranks above one the day alone found: Sophea Chan (born 2015)
    // first, then Dara Meas, born on the day typed.
    assert_eq!(ids(&index, "Sophea Chan 2010-05-05"), vec![id(5), id(6)]);
}

#[test]
fn child_ids_and_identifiers_hit_first() {
    let index = index();
    let wanted = id(3);
    for text in [
        wanted.to_string(),
        wanted.compact(),
        wanted.to_string().to_lowercase(),
        format!("Halima {}", wanted.compact()),
    ] {
        let results = index
            .search_blocking(
                &SearchRequest::text(&text, 10),
                &ReadScope::All,
                Some(ranking()),
            )
            .unwrap();
        assert_eq!(results.hits[0].child_id, wanted, "{text}");
        assert!(results.hits[0]
            .matched_fields
            .contains(&MatchedField::ChildId));
    }
    assert_eq!(top(&index, "ug-br-2012-123"), Some(id(1)));
}

#[test]
fn hits_say_what_matched() {
    let index = index();
    let results = index
        .search_blocking(
            &SearchRequest::text("Halimah Nakato 2012", 10),
            &ReadScope::All,
            Some(ranking()),
        )
        .unwrap();
    let hit = &results.hits[0];
    assert_eq!(hit.child_id, id(1));
    // The summary's given name is a tie between the two records: the later one wins.
    assert_eq!(hit.display_name, "Halimah Aguti");
    assert_eq!(hit.other_names, ["Halima"]);
    assert_eq!(hit.agencies, ["police-ug", "school-ug"]);
    assert_eq!(hit.date_of_birth, Some(date("2012-03-04")));
    for field in [
        MatchedField::Name,
        MatchedField::ParentName,
        MatchedField::BirthDate,
    ] {
        assert!(
            hit.matched_fields.contains(&field),
            "{field:?} in {:?}",
            hit.matched_fields
        );
    }
}

fn filtered(index: &SearchIndex, pairs: &[(&str, &str)], scope: &ReadScope) -> Vec<ChildId> {
    let mut params = SearchParams::default();
    for (name, value) in pairs {
        let value = Some((*value).to_owned());
        match *name {
            "q" => params.q = value,
            "district" => params.district = value,
            "sex" => params.sex = value,
            "born_from" => params.born_from = value,
            "born_to" => params.born_to = value,
            "source_system" => params.source_system = value,
            "limit" => params.limit = value,
            _ => unreachable!(),
        }
    }
    let mut found: Vec<ChildId> = index
        .search_blocking(&params.parse().unwrap(), scope, Some(ranking()))
        .unwrap()
        .hits
        .into_iter()
        .map(|hit| hit.child_id)
        .collect();
    found.sort();
    found
}

#[test]
fn filters_and_scope_apply_inside_the_query() {
    let index = index();
    let all = ReadScope::All;
    assert_eq!(
        filtered(&index, &[("district", "gulu")], &all),
        [id(2), id(3), id(7)]
    );
    assert_eq!(
        filtered(&index, &[("q", "halima"), ("district", "Gulu")], &all),
        [id(2)]
    );
    assert_eq!(
        filtered(&index, &[("sex", "m"), ("district", "Kampot")], &all),
        [id(6)]
    );
    assert_eq!(
        filtered(
            &index,
            &[("born_from", "2012-03"), ("born_to", "2012")],
            &all
        ),
        [id(1), id(3)]
    );
    assert_eq!(
        filtered(&index, &[("source_system", "school-ug")], &all),
        [id(1), id(7)]
    );
    let police = ReadScope::SourceSystem("police-ug".to_owned());
    assert_eq!(
        filtered(&index, &[("q", "halima")], &police),
        [id(1), id(2)]
    );
    assert_eq!(filtered(&index, &[("q", "opio")], &police), []);
    let school = ReadScope::SourceSystem("school-ug".to_owned());
    assert_eq!(filtered(&index, &[("q", "halima")], &school), [id(1)]);
}

#[test]
fn a_district_reader_finds_children_any_of_whose_records_is_in_the_district() {
    let index = index();
    // Each of the moved child's districts finds it, whichever one its summary shows.
    for district in ["Gulu", "lira", "LIRA"] {
        let scope = ReadScope::District(district.to_owned());
        assert!(
            filtered(&index, &[("q", "brenda achieng")], &scope).contains(&id(7)),
            "{district}"
        );
    }
    let gulu = ReadScope::District("Gulu".to_owned());
    assert_eq!(filtered(&index, &[("sex", "f")], &gulu), [id(2), id(7)]);
    // A filter for another district within the scope finds nothing outside it.
    assert_eq!(filtered(&index, &[("district", "Lira")], &gulu), [id(7)]);
    assert_eq!(filtered(&index, &[("district", "Kampot")], &gulu), []);
    let wakiso = ReadScope::District("Wakiso".to_owned());
    assert_eq!(filtered(&index, &[("q", "brenda")], &wakiso), []);
    assert_eq!(
        filtered(&index, &[("q", "halima")], &ReadScope::Nothing),
        []
    );
    assert_eq!(filtered(&index, &[("sex", "f")], &ReadScope::Nothing), []);
}

/// Every hit of `text`, page after page of `limit` following the cursors; each page's total
/// must be `total`.
fn walk_pages(index: &SearchIndex, text: &str, limit: usize, total: usize) -> Vec<ChildId> {
    let mut request = SearchRequest::text(text, limit);
    let mut seen = Vec::new();
    loop {
        let page = index
            .search_blocking(&request, &ReadScope::All, Some(ranking()))
            .unwrap();
        assert_eq!(page.total, total);
        seen.extend(page.hits.iter().map(|hit| hit.child_id));
        let Some(cursor) = page.next_cursor else {
            return seen;
        };
        request = SearchParams {
            q: Some(text.to_owned()),
            limit: Some(limit.to_string()),
            cursor: Some(cursor),
            ..SearchParams::default()
        }
        .parse()
        .unwrap();
    }
}

#[test]
fn pages_follow_the_cursor() {
    let mut seen = walk_pages(&index(), "dara halima", 1, 4);
    seen.sort();
    assert_eq!(seen, [id(1), id(2), id(4), id(6)]);
}

#[test]
fn replacing_and_removing_children() {
    let index = index();
    let mut renamed = children().remove(2);
    renamed.records[0].child.given_name = Some("Patrick".to_owned());
    renamed.summary = registry::golden::summarise(&renamed.records);
    index.apply(vec![(id(3), Some(renamed))], 43).unwrap();
    assert_eq!(index.num_children(), 7);
    assert_eq!(top(&index, "Patrick Opio"), Some(id(3)));
    assert!(!ids(&index, "Okello").contains(&id(3)));

    let mut merged = children().remove(1);
    merged.status = ChildStatus::Merged;
    index
        .apply(vec![(id(2), Some(merged)), (id(4), None)], 44)
        .unwrap();
    assert_eq!(index.num_children(), 5);
    assert_eq!(index.position(), 44);
    assert!(!ids(&index, "Akello").contains(&id(2)));
}

#[test]
fn the_position_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.position(), 0);
        let changes = children()
            .into_iter()
            .map(|view| (view.child_id, Some(view)))
            .collect();
        index.apply(changes, 7).unwrap();
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.position(), 7);
    assert_eq!(index.num_children(), 7);
    assert_eq!(top(&index, "Sophea"), Some(id(5)));
    index.clear().unwrap();
    assert_eq!((index.position(), index.num_children()), (0, 0));
}

#[test]
fn merging_into_one_segment_keeps_the_children_and_the_position() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        for (position, view) in (1..).zip(children()) {
            index
                .apply(vec![(view.child_id, Some(view))], position)
                .unwrap();
        }
        assert!(index.num_segments() > 1);
        let before: Vec<Vec<ChildId>> = ["Okello", "Sophea", "Brenda Achieng"]
            .iter()
            .map(|text| ids(&index, text))
            .collect();
        index.merge_segments().unwrap();
        assert_eq!(index.num_segments(), 1);
        assert_eq!((index.num_children(), index.position()), (7, 7));
        let after: Vec<Vec<ChildId>> = ["Okello", "Sophea", "Brenda Achieng"]
            .iter()
            .map(|text| ids(&index, text))
            .collect();
        assert_eq!(before, after);
        // The writer takes changes after the merge.
        index.apply(vec![(id(4), None)], 8).unwrap();
        assert_eq!(index.num_children(), 6);
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!((index.num_children(), index.position()), (6, 8));
}

#[test]
fn an_outdated_index_is_emptied_but_lock_files_stay() {
    let dir = tempfile::tempdir().unwrap();
    // Created and never committed: no position in it, so the next open starts it again.
    drop(SearchIndex::open(dir.path()).unwrap());
    std::fs::write(dir.path().join("server.lock"), "4242\n").unwrap();
    std::fs::write(dir.path().join("leftover"), "old segment").unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.position(), 0);
    assert!(
        !dir.path().join("leftover").exists(),
        "the directory was emptied"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("server.lock")).unwrap(),
        "4242\n",
        "a lock another process may hold is kept"
    );
}

#[test]
fn the_matching_model_orders_the_first_hits() {
    // Two children of the same name: one whose record gives another birth date a year off the
    // typed one, one whose record gives none. The index credits the year off; the model knows
    // that a date read from papers more than a year away is evidence against, and a missing
    // one is no evidence at all.
    let mut dated = person("Dara", "Chhim", Sex::M, "2015-09-03", "Kampot");
    dated.village = Some("Trapeang Veng".to_owned());
    let mut undated = person("Dara", "Chhim", Sex::M, "2000-01-01", "Kampot");
    undated.date_of_birth = None;
    let index = SearchIndex::in_ram().unwrap();
    let children = [
        child(101, &[("school-kh", dated)]),
        child(102, &[("police-kh", undated)]),
    ];
    index
        .apply(
            children
                .into_iter()
                .map(|view| (view.child_id, Some(view)))
                .collect(),
            1,
        )
        .unwrap();
    let order = |ranking| ids_ranked_by(&index, "Dara Chhim 2016-11-12", ranking);
    assert_eq!(order(None), [id(101), id(102)], "the index's own order");
    assert_eq!(order(Some(ranking())), [id(102), id(101)]);
    // The date typed alone as a year is left to the index: no reading of it as a guessed date.
    let by_year = index
        .search_blocking(
            &SearchRequest::text("Dara Chhim 2016", 10),
            &ReadScope::All,
            Some(ranking()),
        )
        .unwrap();
    assert_eq!(by_year.hits.len(), 2);
}

#[test]
fn pages_past_the_ranked_hits_continue_in_order() {
    // More namesakes than the model ranks: pages of any size, followed by their cursors, give
    // every child once, and the first page is the same whatever its size.
    let index = SearchIndex::in_ram().unwrap();
    let changes = (1..=45u64)
        .map(|n| {
            let born = format!("20{:02}-0{}-1{}", 5 + n % 10, 1 + n % 9, n % 10);
            let view = child(
                1000 + n,
                &[(
                    "school-ug",
                    person("Brenda", "Achieng", Sex::F, &born, "Gulu"),
                )],
            );
            (view.child_id, Some(view))
        })
        .collect();
    index.apply(changes, 1).unwrap();
    let walk = |limit: usize| walk_pages(&index, "brenda achieng 2010-03-12", limit, 45);
    let whole = walk(100);
    assert_eq!(whole.len(), 45);
    for limit in [1, 7, 20, 30] {
        assert_eq!(walk(limit), whole, "pages of {limit}");
    }
    let mut distinct = whole.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 45);
}

#[test]
fn a_parents_title_is_not_indexed_as_the_parents_name() {
    let index = index();
    let hits = |text: &str| {
        index
            .search_blocking(&SearchRequest::text(text, 10), &ReadScope::All, None)
            .unwrap()
            .hits
    };
    let grace = hits("Grace");
    assert_eq!(grace.first().map(|hit| hit.child_id), Some(id(3)));
    assert!(grace[0].matched_fields.contains(&MatchedField::ParentName));
    for title in ["Maama", "late", "Mr"] {
        assert!(
            hits(title).iter().all(|hit| hit.child_id != id(3)),
            "{title} found Okello's parents"
        );
    }
}
