//! The canonical child CSV import (`dedupe`, `train`): any bytes give records or a row error
//! naming a line, never a panic, with bad rows stopping or skipped.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use matching::csvio::{read_records, ReadOptions};
use matching::{Model, ModelSpec};

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let spec = ModelSpec::from_toml(matching::spec::CANONICAL_CHILD_TOML)
            .expect("the bundled model parses");
        Model::new(spec).expect("the bundled model is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    for skip_bad_rows in [false, true] {
        let mut seen = HashSet::new();
        let mut records = 0u64;
        let options = ReadOptions {
            skip_bad_rows,
            chunk_size: 7,
        };
        if let Ok(report) = read_records(model(), data, options, &mut seen, |chunk| {
            records += chunk.len() as u64;
        }) {
            assert_eq!(report.records, records, "every record read reaches the sink");
        }
    }
});
