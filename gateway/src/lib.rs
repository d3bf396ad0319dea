//! The `child-registry` binary's library: HTTP API, authentication, web UI and the CLI commands.

pub mod commands;
