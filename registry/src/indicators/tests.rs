use super::*;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn child(n: u64, registered: &str, systems: &[&str], events: &[(&str, &str)]) -> ChildFacts {
    ChildFacts {
        child_id: ChildId::from_value(n).unwrap(),
        registered_at: date(registered)
            .and_hms_opt(8, 0, n as u32)
            .unwrap()
            .and_utc(),
        registered_on: date(registered),
        sex: Some(if n.is_multiple_of(2) { Sex::F } else { Sex::M }),
        date_of_birth: Some(date("2015-06-01")),
        district: Some("Wakiso".to_owned()),
        source_systems: systems.iter().map(|s| (*s).to_owned()).collect(),
        events: events
            .iter()
            .map(|(event_type, on)| EventFact {
                event_type: (*event_type).to_owned(),
                date: date(on),
            })
            .collect(),
    }
}

fn find<'a>(report: &'a IndicatorReport, code: &str) -> &'a Indicator {
    report
        .indicators
        .iter()
        .find(|indicator| indicator.code == code)
        .unwrap()
}

fn triple(cell: &Cell) -> (u64, u64, u64) {
    (
        cell.value.as_ref().unwrap().as_u64().unwrap(),
        cell.low.as_ref().unwrap().as_u64().unwrap(),
        cell.high.as_ref().unwrap().as_u64().unwrap(),
    )
}

#[test]
fn periods_are_years_quarters_and_months() {
    let quarter: Period = "2026-Q3".parse().unwrap();
    assert_eq!(
        (quarter.start, quarter.end),
        (date("2026-07-01"), date("2026-09-30"))
    );
    let month: Period = "2024-02".parse().unwrap();
    assert_eq!(month.end, date("2024-02-29"));
    let year: Period = "2026".parse().unwrap();
    assert_eq!(
        (year.start, year.end, year.label.as_str()),
        (date("2026-01-01"), date("2026-12-31"), "2026")
    );
    for bad in ["26", "2026-Q5", "2026-13", "2026-1", "last year"] {
        assert_eq!(bad.parse::<Period>().unwrap_err().field, "period", "{bad}");
    }
}

#[test]
fn categories_come_from_the_first_word() {
    assert_eq!(
        category_of_source_system("police-ug"),
        Some(AgencyCategory::Police)
    );
    assert_eq!(
        category_of_source_system("primero-ke"),
        Some(AgencyCategory::Welfare)
    );
    assert_eq!(
        category_of_source_system("school-kh"),
        Some(AgencyCategory::Education)
    );
    assert_eq!(category_of_source_system("hospital-ug"), None);
    assert_eq!(
        category_of_event("court.hearing"),
        Some(AgencyCategory::Court)
    );
    assert_eq!(category_of_event("referral"), None);
}

#[test]
fn an_open_candidate_widens_the_range_both_ways() {
    let police = child(
        1,
        "2026-02-01",
        &["police-ug"],
        &[("police.case_opened", "2026-02-01")],
    );
    let court = child(
        2,
        "2026-03-01",
        &["court-ug"],
        &[("court.case_filed", "2026-06-01")],
    );
    let other = child(
        3,
        "2026-04-01",
        &["school-ug"],
        &[("school.enrolled", "2026-04-01")],
    );
    let facts = IndicatorFacts {
        open_pairs: vec![(police.child_id, court.child_id)],
        children: vec![police, court, other],
        referrals: Vec::new(),
    };
    let report = compute(&facts, &"2026".parse().unwrap(), None, 1);
    // Two children or one: registered 3, or 2 if the pair is one child.
    assert_eq!(
        triple(&find(&report, "children_registered").total),
        (3, 2, 3)
    );
    // As one child they are known to two agencies and re-appear within a year.
    assert_eq!(
        triple(&find(&report, "children_known_to_two_or_more_agencies").total),
        (0, 0, 1)
    );
    assert_eq!(
        triple(&find(&report, "children_reappearing_in_justice_within_12_months").total),
        (0, 0, 1)
    );
    // The merged child takes the earlier registered one's sex (child 1: M).
    let by_sex = &find(&report, "children_registered").disaggregations[0];
    let female = by_sex.cells.iter().find(|cell| cell.key == "F").unwrap();
    assert_eq!(triple(female), (1, 0, 1));
    // Without the candidate there is no range.
    let decided = IndicatorFacts {
        open_pairs: Vec::new(),
        ..facts
    };
    let report = compute(&decided, &"2026".parse().unwrap(), None, 1);
    assert_eq!(
        triple(&find(&report, "children_registered").total),
        (3, 3, 3)
    );
}

#[test]
fn school_enrolment_carries_over_until_the_child_leaves() {
    let stays = child(
        1,
        "2025-01-01",
        &["school-ug"],
        &[("school.enrolled", "2025-02-01")],
    );
    let left = child(
        2,
        "2025-01-01",
        &["school-ug"],
        &[
            ("school.enrolled", "2025-02-01"),
            ("school.left", "2025-10-01"),
        ],
    );
    let facts = IndicatorFacts {
        children: vec![stays, left],
        ..IndicatorFacts::default()
    };
    let report = compute(&facts, &"2026".parse().unwrap(), None, 1);
    assert_eq!(
        triple(&find(&report, "children_in_school").total),
        (1, 1, 1)
    );
}

#[test]
fn small_counts_are_hidden_with_their_ranges() {
    let children: Vec<ChildFacts> = (1..=14)
        .map(|n| {
            let mut facts = child(n, "2026-05-01", &["welfare-ug"], &[]);
            facts.district = Some(if n <= 11 { "Wakiso" } else { "Gulu" }.to_owned());
            facts
        })
        .collect();
    let facts = IndicatorFacts {
        children,
        ..IndicatorFacts::default()
    };
    let report = compute(&facts, &"2026".parse().unwrap(), None, 10);
    let registered = find(&report, "children_registered");
    assert_eq!(triple(&registered.total), (14, 14, 14));
    let by_district = &registered.disaggregations[2];
    assert_eq!(by_district.dimension, "district");
    // Gulu's 3 is hidden, and Wakiso's 11 with it (the total would give Gulu away).
    assert!(by_district.cells.iter().all(|cell| cell.suppressed));
    assert!(by_district
        .cells
        .iter()
        .all(|cell| cell.value.is_none() && cell.low.is_none()));
    // Sex: 7 and 7, both hidden; the total stays.
    let by_sex = &registered.disaggregations[0];
    assert!(by_sex
        .cells
        .iter()
        .filter(|c| c.key == "F" || c.key == "M")
        .all(|c| c.suppressed));
    // Fewer than ten accepted referrals: no median.
    assert!(find(&report, "median_days_to_acceptance").total.suppressed);
}

#[test]
fn referrals_count_by_status_and_median_days() {
    let children = vec![child(1, "2026-01-01", &["police-ug"], &[])];
    let referral = |status, accepted: Option<&str>| ReferralFact {
        child_id: ChildId::from_value(1).unwrap(),
        from: "police-ug".to_owned(),
        to: "welfare-ug".to_owned(),
        status,
        referred_on: date("2026-03-01"),
        accepted_on: accepted.map(date),
    };
    let facts = IndicatorFacts {
        children,
        referrals: vec![
            referral(ReferralStatus::Pending, None),
            referral(ReferralStatus::Accepted, Some("2026-03-03")),
            referral(ReferralStatus::Closed, Some("2026-03-09")),
        ],
        open_pairs: Vec::new(),
    };
    let report = compute(&facts, &"2026-Q1".parse().unwrap(), None, 1);
    let made = find(&report, "referrals_made");
    assert_eq!(triple(&made.total), (3, 3, 3));
    let status: Vec<(String, u64)> = made.disaggregations[0]
        .cells
        .iter()
        .map(|c| (c.key.clone(), c.value.as_ref().unwrap().as_u64().unwrap()))
        .collect();
    assert_eq!(
        status,
        vec![
            ("pending".into(), 1),
            ("accepted".into(), 1),
            ("declined".into(), 0),
            ("closed".into(), 1)
        ]
    );
    let median = find(&report, "median_days_to_acceptance")
        .total
        .value
        .clone()
        .unwrap();
    assert_eq!(median.as_f64(), Some(5.0));
    assert_eq!(triple(&find(&report, "children_referred").total), (1, 1, 1));
}

#[test]
fn at_least_fifteen_indicators() {
    let report = compute(
        &IndicatorFacts::default(),
        &"2026".parse().unwrap(),
        None,
        10,
    );
    assert!(report.indicators.len() >= 15);
    let codes: BTreeSet<&str> = report.indicators.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes.len(), report.indicators.len());
}
