//! The child ID parser: any text is an ID or an error, never a panic; an accepted ID prints in
//! the canonical form and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry::ChildId;

fuzz_target!(|input: &str| {
    if let Ok(id) = input.parse::<ChildId>() {
        let printed = id.to_string();
        assert_eq!(printed.parse::<ChildId>().ok(), Some(id), "round trip");
        assert_eq!(printed.len(), 16, "XXXX-XXXX-XXXX-C");
    }
});
