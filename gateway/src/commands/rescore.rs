//! `child-registry rescore`: what a model version would do to the automatic links, and
//! activating it. Manual decisions stay as stewards made them.

use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["dry_run", "apply"])))]
pub struct RescoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The stored model version to score with (see `child-registry models`).
    #[arg(long, env = "CHILD_REGISTRY_RESCORE_MODEL_VERSION")]
    pub model_version: i64,
    /// Report the links the version would make, break or send to review; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Activate the version: links it breaks are undone, links it would make go to review.
    #[arg(long)]
    pub apply: bool,
    /// How many individual changes to list (the counts always cover all of them).
    #[arg(long, default_value_t = 50, env = "CHILD_REGISTRY_RESCORE_LIST")]
    pub list: usize,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RescoreArgs) -> anyhow::Result<()> {
    block_on(async move {
        let store = args.store.open().await?;
        let matcher = store.matcher(Some(args.model_version)).await?;
        let records = store.match_records().await?;
        let plan = tokio::task::spawn_blocking(move || registry::rescore::plan(&matcher, &records))
            .await??;
        let mut report = if args.apply {
            registry::rescore::apply(store.as_ref(), plan).await?
        } else {
            plan.report
        };
        let total_changes = report.changes.len();
        report.changes.truncate(args.list);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        println!(
            "model version {}: {} records scored, {} manual kept",
            report.model_version, report.records_scored, report.manual_kept
        );
        println!(
            "  make {}  break {}  review {}  unchanged {}",
            report.make, report.r#break, report.review, report.unchanged
        );
        for change in &report.changes {
            println!(
                "  {:<6} {}/{} on {}{} (p = {:.4})",
                change.change,
                change.source_system,
                change.source_record_id,
                change.child_id,
                change
                    .other_child_id
                    .map(|other| format!(" → {other}"))
                    .unwrap_or_default(),
                change.probability
            );
        }
        if total_changes > report.changes.len() {
            println!(
                "  … {} more (use --list)",
                total_changes - report.changes.len()
            );
        }
        if report.applied {
            println!("version {} is now active", report.model_version);
        } else {
            println!("dry run: nothing changed; --apply activates the version");
        }
        Ok(())
    })
}
