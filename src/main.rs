//! The `tlog` binary: see `llm_audit_trail::cli`.

/// jemalloc for the whole process (see Cargo.toml: glibc's malloc was a fifth of the
/// server's CPU under load).
#[cfg(feature = "server")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(llm_audit_trail::cli::main());
}
