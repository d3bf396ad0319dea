use std::process::ExitCode;

// Batch matching prepares millions of small strings on two threads; mimalloc
// keeps per-thread free lists where glibc malloc contends and consolidates
// (see BENCHMARKS.md, "Early exit and mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    gateway::commands::main()
}
