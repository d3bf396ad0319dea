//! Property tests: normalisation is idempotent, comparisons are symmetric,
//! probabilities stay in [0, 1].

use matching::compare::{date_level, date_level_estimates, DateValue, NameValue};
use matching::model::probability;
use matching::normalize::{normalize, normalize_place};
use matching::{Bounded, ChildFields, Model, ModelSpec, Record};
use proptest::prelude::*;

fn trained_child_model() -> Model {
    // A small hand-trained model: enough to exercise scoring.
    let mut spec = ModelSpec::canonical_child();
    let mut comparisons = std::collections::BTreeMap::new();
    let model = Model::new(spec.clone()).unwrap_or_else(|e| panic!("{e}"));
    for c in model.comparators() {
        let k = c.num_levels();
        let levels = c
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| matching::spec::LevelParams {
                label: l.clone(),
                m: if i + 1 == k {
                    0.05
                } else {
                    0.95 / (k - 1) as f64
                },
                u: if i + 1 == k {
                    0.9
                } else {
                    0.1 / (k - 1) as f64
                },
            })
            .collect();
        comparisons.insert(c.name.clone(), levels);
    }
    spec.trained = Some(matching::spec::TrainedParams {
        prior: 1e-4,
        comparisons,
        term_frequencies: Default::default(),
        trained_on_records: 0,
        household_odds_bits: None,
    });
    Model::new(spec).unwrap_or_else(|e| panic!("{e}"))
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z' -]{0,16}",
        "[\u{1780}-\u{17DD}]{0,8}",
        "[a-zA-Zéèàçñü ]{0,12}",
        any::<String>(),
    ]
}

/// Names that often agree, nearly agree or share a word, so that pairs reach
/// every level (random strings almost never agree).
fn household_name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "Nakato", "Nakatto", "Sarah Nakato", "Sara", "Okello", "Okelo", "Sok", "Sokh",
            "Dara", "Srey Mom", "Mom", "Auma Grace", "Grace", "",
        ])
        .prop_map(str::to_string),
        1 => name_strategy(),
    ]
}

/// Birth dates of one household: equal, a day apart, swapped, years apart.
fn household_date_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["2015-03-04", "2015-04-03", "2015-03-05", "2015-01-01", "2019-07-30"])
            .prop_map(str::to_string),
        1 => date_strategy(),
    ]
}

fn bundled_model() -> &'static Model {
    static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| Model::default_child().unwrap_or_else(|e| panic!("{e}")))
}

fn date_strategy() -> impl Strategy<Value = String> {
    (1990u16..2027, 1u8..13, 1u8..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

fn child(id: &str, g: &str, f: &str, dob: &str, est: bool, village: &str, mother: &str) -> Record {
    Record::child(&ChildFields {
        record_id: id,
        given_name: g,
        family_name: f,
        date_of_birth: dob,
        date_of_birth_estimated: Some(est),
        district: "kampala",
        village,
        mother_name: mother,
        ..Default::default()
    })
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(s in name_strategy()) {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once.clone());
        let place = normalize_place(&s);
        prop_assert_eq!(normalize_place(&place), place);
    }

    #[test]
    fn name_levels_are_symmetric(a in name_strategy(), b in name_strategy()) {
        let dm = rphonetic::DoubleMetaphone::default();
        if let (Some(x), Some(y)) = (NameValue::new(&dm, &a), NameValue::new(&dm, &b)) {
            prop_assert_eq!(matching::compare::name_level(&x, &y), matching::compare::name_level(&y, &x));
        }
    }

    #[test]
    fn name_words_containment_is_symmetric(
        g1 in name_strategy(), f1 in name_strategy(), g2 in name_strategy(), f2 in name_strategy(),
    ) {
        let dm = rphonetic::DoubleMetaphone::default();
        let name = |s: &str| NameValue::new(&dm, s);
        if let (Some(a), Some(b), Some(c), Some(d)) = (name(&g1), name(&f1), name(&g2), name(&f2)) {
            prop_assert_eq!(
                matching::compare::name_words_contained(&[&a, &b], &[&c, &d]),
                matching::compare::name_words_contained(&[&c, &d], &[&a, &b])
            );
        }
    }

    #[test]
    fn date_levels_are_symmetric(a in date_strategy(), b in date_strategy(), ea: bool, eb: bool) {
        if let (Some(x), Some(y)) = (DateValue::parse(&a, ea), DateValue::parse(&b, eb)) {
            prop_assert_eq!(date_level(&x, &y), date_level(&y, &x));
            prop_assert_eq!(date_level_estimates(&x, &y), date_level_estimates(&y, &x));
        }
    }

    #[test]
    fn pair_scores_are_symmetric_probabilities(
        g1 in name_strategy(), f1 in name_strategy(), g2 in name_strategy(), f2 in name_strategy(),
        d1 in date_strategy(), d2 in date_strategy(), e1: bool, e2: bool,
        v1 in "[a-z]{0,6}", v2 in "[a-z]{0,6}", m1 in name_strategy(), m2 in name_strategy(),
    ) {
        let model = trained_child_model();
        let a = child("a", &g1, &f1, &d1, e1, &v1, &m1);
        let b = child("b", &g2, &f2, &d2, e2, &v2, &m2);
        let ab = model.compare(&a, &b).unwrap_or_else(|e| panic!("{e}"));
        let ba = model.compare(&b, &a).unwrap_or_else(|e| panic!("{e}"));
        prop_assert!((0.0..=1.0).contains(&ab.match_probability));
        prop_assert!((ab.match_weight - ba.match_weight).abs() < 1e-9, "{} vs {}", ab.match_weight, ba.match_weight);
        let levels = |e: &matching::PairExplanation| e.comparisons.iter().map(|c| c.level.clone()).collect::<Vec<_>>();
        prop_assert_eq!(levels(&ab), levels(&ba));
        prop_assert_eq!(ab.cannot_link, ba.cannot_link);
    }

    #[test]
    fn probability_is_in_unit_interval(w in -2000.0f64..2000.0) {
        let p = probability(w);
        prop_assert!((0.0..=1.0).contains(&p));
    }
}

proptest! {
    // Pairs near the floor are rare: more cases than the default.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The batch's early-exit scoring keeps exactly the pairs, weights and
    /// cannot-link verdicts that full scoring would keep at the same floor,
    /// also for a floor just below or above the pair's own weight.
    #[test]
    fn bounded_scores_keep_what_full_scores_keep(
        names in prop::collection::vec(household_name_strategy(), 8),
        d1 in household_date_strategy(), d2 in household_date_strategy(), e1: bool, e2: bool,
        v1 in "[ab]{0,2}", v2 in "[ab]{0,2}",
        floor in -40.0f64..30.0, near_own_weight: bool, drop_cannot_link: bool,
    ) {
        let model = bundled_model();
        let record = |id: &str, n: &[String], dob: &str, est: bool, village: &str| {
            Record::child(&ChildFields {
                record_id: id,
                given_name: &n[0],
                family_name: &n[1],
                date_of_birth: dob,
                date_of_birth_estimated: Some(est),
                district: "kampala",
                village,
                mother_name: &n[2],
                father_name: &n[3],
                ..Default::default()
            })
        };
        let a = model.prepare(&record("a", &names[..4], &d1, e1, &v1));
        let b = model.prepare(&record("b", &names[4..], &d2, e2, &v2));
        let (weight, cannot) = model.score_prepared(&a, &b).unwrap_or_else(|e| panic!("{e}"));
        let floor = if near_own_weight { weight + floor / 20.0 } else { floor };
        let expected = (weight >= floor && !(drop_cannot_link && cannot.is_some()))
            .then_some((weight, cannot));
        let bounded = model
            .score_bounded(&a, &b, floor, drop_cannot_link)
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(bounded, expected);
        // Online scoring keeps the same pairs, and knows the cannot-link rule of every pair.
        let online = model.score_floor(&a, &b, floor).unwrap_or_else(|e| panic!("{e}"));
        let expected_online = if weight >= floor {
            Bounded::Kept { weight, cannot_link: cannot }
        } else {
            Bounded::Below { cannot_link: cannot }
        };
        prop_assert_eq!(online, expected_online);
    }
}
