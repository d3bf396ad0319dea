//! Prints a few generated records as canonical CSV: `cargo run -p synthetic --example sample -- 20 [seed]`.

fn main() -> Result<(), synthetic::GeneratorError> {
    let mut args = std::env::args().skip(1);
    let records = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let config = synthetic::GeneratorConfig {
        records,
        seed,
        ..Default::default()
    };
    let dataset = synthetic::generate(&config);
    synthetic::write_canonical_csv(&dataset.records, std::io::stdout().lock())
}
