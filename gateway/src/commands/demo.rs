//! `child-registry demo`: placeholder until the generator lands.

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("`demo` is not built yet")
}
