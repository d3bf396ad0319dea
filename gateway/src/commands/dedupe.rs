//! `child-registry dedupe` (placeholder until its issue lands).

#[derive(Debug, clap::Args)]
pub struct DedupeArgs {}

pub fn run(_args: DedupeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`dedupe` is not built yet")
}
