//! The name normaliser never panics, and normalising twice changes nothing (idempotent), for
//! any text, Khmer script included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use matching::normalize::{normalize, normalize_place, romanise_khmer, tokens};

fuzz_target!(|input: &str| {
    let once = normalize(input);
    assert_eq!(normalize(&once), once, "normalize is idempotent");
    for token in tokens(&once) {
        assert!(!token.is_empty());
    }
    let place = normalize_place(input);
    assert_eq!(normalize_place(&place), place, "normalize_place is idempotent");
    let _ = romanise_khmer(input);
});
