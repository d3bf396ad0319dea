//! Times the generator's phases: `cargo run --release -p synthetic --example timing -- 1000000`.

use std::time::Instant;

fn main() -> Result<(), synthetic::GeneratorError> {
    let records = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = synthetic::GeneratorConfig {
        records,
        ..Default::default()
    };
    let start = Instant::now();
    let dataset = synthetic::generate(&config);
    let generated = start.elapsed();
    let mut csv = Vec::with_capacity(records * 120);
    synthetic::write_canonical_csv(&dataset.records, &mut csv)?;
    let written = start.elapsed();
    let bytes = csv.len();
    drop(dataset);
    let dropped = start.elapsed();
    eprintln!(
        "{records} records: generate {:.2?}, canonical CSV {:.2?} ({bytes} bytes), drop {:.2?}",
        generated,
        written - generated,
        dropped - written
    );
    Ok(())
}
