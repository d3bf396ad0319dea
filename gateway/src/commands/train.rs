//! `child-registry train` (placeholder until its issue lands).

#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

pub fn run(_args: TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("`train` is not built yet")
}
