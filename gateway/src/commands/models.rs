//! `child-registry models`: the stored model versions, which one is active, what each learned
//! from, and whether the registry has outgrown the active one.

use registry::rescore::{model_status, ModelStatus};

use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the listing as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    block_on(async move {
        let store = args.store.open().await?;
        let status = model_status(store.as_ref()).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print_text(&status);
        }
        Ok(())
    })
}

fn print_text(listing: &ModelStatus) {
    println!(
        "{:>7}  {:<6}  {:<8}  {:>11}  {:<20}  {:<20}  note",
        "version", "active", "origin", "trained on", "created", "activated"
    );
    let time = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    for version in &listing.versions {
        println!(
            "{:>7}  {:<6}  {:<8}  {:>11}  {:<20}  {:<20}  {}",
            version.version,
            if version.active { "*" } else { "" },
            version.origin,
            version
                .trained_on_records
                .map_or_else(|| "-".to_string(), |records| records.to_string()),
            time(version.created_at),
            version.activated_at.map(time).unwrap_or_default(),
            version.note
        );
    }
    println!("the registry holds {} records", listing.records);
    if let Some(advice) = &listing.retrain_advice {
        println!("advice: {advice}");
    }
}
