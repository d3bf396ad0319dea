//! A registration body (`POST /v1/records`, one line of an NDJSON batch): any bytes parse to a
//! submission or fail, and validation accepts or names a field, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry::model::RecordSubmission;

fuzz_target!(|data: &[u8]| {
    let Ok(submission) = serde_json::from_slice::<RecordSubmission>(data) else {
        return;
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("a valid date");
    if let Err(invalid) = submission.validate(today) {
        assert!(!invalid.field.is_empty(), "a rejection names the field");
    }
});
