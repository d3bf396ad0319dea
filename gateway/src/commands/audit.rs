//! `child-registry audit verify`: walks the audit chain and names the first bad entry.

use super::security_args::AuditKeyArgs;
use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check that no audit entry was modified, deleted, inserted or reordered; exits non-zero
    /// and names the first bad entry otherwise.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        audit: AuditKeyArgs,
    },
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    block_on(async move {
        match args.command {
            AuditCommand::Verify { store, audit } => {
                let key = audit.resolve(&store.data_dir)?;
                let store = store.open().await?;
                match registry::store::verify_audit_log(store.as_ref(), &key).await? {
                    Ok(count) => {
                        println!("audit log intact: {count} entries verified");
                        Ok(())
                    }
                    Err(broken) => anyhow::bail!("audit log broken: {broken}"),
                }
            }
        }
    })
}
