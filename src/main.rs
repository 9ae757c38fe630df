//! The `tlog` binary: see `llm_audit_trail::cli`.

fn main() {
    std::process::exit(llm_audit_trail::cli::main());
}
