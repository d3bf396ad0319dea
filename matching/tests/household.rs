//! The household's ceiling: how much family name, place and parents may say
//! together, learned in training from the records themselves.

mod common;

use common::{generated, generated_with_truth};
use matching::model::{household_excess, weight_of};
use matching::{Dataset, Model, ModelSpec, Record};

/// Trains `spec` on `records`; returns the model and the data set it was
/// trained on, with its candidate pairs.
fn trained(spec: ModelSpec, records: Vec<Record>) -> (Model, Dataset, Vec<(u32, u32)>) {
    let mut model = Model::new(spec).expect("valid");
    let mut data = Dataset::new(&model);
    data.extend(&model, records, 0);
    let (blocks, _) = data.block(&model, model.spec().thresholds.max_block_size);
    data.train_model(&mut model, &blocks).expect("trains");
    let pairs = blocks
        .candidate_pairs()
        .iter()
        .map(|p| (p.a, p.b))
        .collect();
    (model, data, pairs)
}

/// The ceiling stands for the log₂ odds that a pair whose household reaches
/// it, and that no cannot-link rule keeps apart, is one child. Training
/// never sees the ground truth, yet its estimate is what the ground truth
/// says of those pairs, within a bit; and the pairs a rule keeps apart are
/// nearly all siblings, which is what the estimate stands on.
#[test]
fn the_household_ceiling_learned_in_training_is_what_the_truth_says() {
    let (records, truth) = generated_with_truth(11, 20_000);
    let spec = ModelSpec::canonical_child();
    let household = spec.household.as_ref().expect("the child model has one");
    assert_eq!(
        household.max_odds_bits, None,
        "the shipped configuration leaves the ceiling to training"
    );
    let (model, data, pairs) = trained(spec, records);
    let bits = model
        .household_odds_bits()
        .expect("20,000 records hold enough households to estimate it");
    let trained = model.spec().trained.as_ref().expect("trained");
    assert_eq!(trained.household_odds_bits, Some(bits));
    let prior_weight = weight_of(trained.prior);
    // [a cannot-link rule holds][one child]
    let mut counts = [[0u64; 2]; 2];
    for (a, b) in pairs {
        let (first, second) = (&data.prepared[a as usize], &data.prepared[b as usize]);
        let (_, together, cannot) = model
            .score_before_household(first, second)
            .expect("trained");
        if household_excess(together, bits, prior_weight) <= 0.0 {
            continue;
        }
        let same = truth[&data.ids[a as usize]] == truth[&data.ids[b as usize]];
        counts[usize::from(cannot.is_some())][usize::from(same)] += 1;
    }
    let [[open_apart, open_same], [ruled_apart, ruled_same]] = counts;
    assert!(open_same + open_apart > 500, "{counts:?}");
    let truth_bits = (open_same as f64 / open_apart.max(1) as f64).log2();
    assert!(
        (bits - truth_bits).abs() <= 1.0,
        "estimated {bits:+.2} bits, the ground truth says {truth_bits:+.2} ({counts:?})"
    );
    assert!(
        ruled_apart > 10 * ruled_same,
        "the pairs a cannot-link rule keeps apart are other children: {counts:?}"
    );
}

/// A model file that fixes the ceiling keeps it: training learns nothing of
/// it, and scoring applies the fixed one.
#[test]
fn a_ceiling_the_model_file_fixes_is_kept() {
    let records = generated(12, 3_000);
    let mut spec = ModelSpec::canonical_child();
    if let Some(household) = spec.household.as_mut() {
        household.max_odds_bits = Some(3.5);
    }
    let (model, _, _) = trained(spec, records);
    assert_eq!(model.household_odds_bits(), Some(3.5));
    let trained = model.spec().trained.as_ref().expect("trained");
    assert_eq!(trained.household_odds_bits, None);
    // Saved and loaded again, it is still the fixed one.
    let loaded = Model::from_text(&model.to_json().expect("json")).expect("loads");
    assert_eq!(loaded.household_odds_bits(), Some(3.5));
}

/// Too few records agreeing on a household to tell siblings from one child:
/// nothing is estimated, the model says so, and the household's comparisons
/// count in full rather than under a guessed ceiling.
#[test]
fn too_few_households_leave_the_ceiling_unestimated() {
    let records = generated(13, 40);
    let (model, _, _) = trained(ModelSpec::canonical_child(), records);
    assert!(model.is_trained());
    assert_eq!(model.household_odds_bits(), None);
}
