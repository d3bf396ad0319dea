//! `child-registry migrate`: apply pending database migrations and exit.

use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    block_on(async move {
        let store = args.store.open().await?;
        store.migrate().await?;
        println!(
            "{} database at {} is up to date",
            store.backend(),
            args.store.describe()
        );
        Ok(())
    })
}
