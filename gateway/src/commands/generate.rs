//! `child-registry generate` (placeholder until its issue lands).

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}

pub fn run(_args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("`generate` is not built yet")
}
