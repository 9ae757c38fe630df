//! `tlog serve` killed with SIGKILL under concurrent HTTP writers, five times: a short run
//! of the kill -9 harness (`tools/crashloop` runs the long one). Real processes, real
//! sockets, RocksDB on disk. What each round checks: `tools/harness/crashloop.rs`.

#![cfg(feature = "server")]

#[path = "../tools/harness/crashloop.rs"]
mod crashloop;

use std::time::Duration;

#[test]
fn sigkill_under_http_load_loses_nothing_and_never_forks() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = crashloop::Options {
        tlog: env!("CARGO_BIN_EXE_tlog").into(),
        rounds: 5,
        time_limit: Duration::from_secs(300),
        writers: 3,
        seed: 0x5eed_cafe,
        max_kill_ms: 400,
        work_dir: tmp.path().to_path_buf(),
        checkpoint_interval_ms: 20,
    };
    let s = crashloop::run(opts, &mut |m| eprintln!("{m}")).expect("the harness runs");
    eprintln!("crash_server: {}", s.line());
    assert!(s.ok(), "{}\n{}", s.line(), s.problems.join("\n"));
    assert_eq!(s.rounds, 5, "every round ran: {}", s.line());
    assert!(s.acknowledged > 0, "the writers got acknowledgements");
    assert!(s.checkpoints > 1, "checkpoints were served and checked");
}

/// The harness's checks are not vacuous: an acknowledged event the log lacks, a second root
/// signed for one size, and a mirror record changed behind the server's back are each seen.
#[test]
fn the_checks_see_a_lost_event_a_fork_and_a_tampered_mirror() {
    use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint};
    use llm_audit_trail::core::hash::Hash;
    use llm_audit_trail::core::note::parse_signer_key;

    let tmp = tempfile::tempdir().unwrap();
    let opts = crashloop::Options {
        tlog: env!("CARGO_BIN_EXE_tlog").into(),
        rounds: 1,
        time_limit: Duration::from_secs(300),
        writers: 1,
        seed: 7,
        max_kill_ms: 100,
        work_dir: tmp.path().to_path_buf(),
        checkpoint_interval_ms: 20,
    };
    let data = tmp.path().join("data");
    let (mut h, server) = crashloop::Harness::start(opts.clone()).unwrap();
    for round in 0..3 {
        h.after_restart(&server.url, round);
    }
    h.check(&server.url, 0).unwrap();
    let s = h.summary();
    assert!(s.ok(), "a clean log passes: {:?}", s.problems);
    assert_eq!((s.tree_size, s.acknowledged), (3, 3));

    // 1. An acknowledgement the log does not have.
    h.forge_ack(7, "never-written", &"00".repeat(32));
    h.check(&server.url, 1).unwrap();
    let s = h.summary();
    assert_eq!(
        (s.lost, s.forks, s.mismatches),
        (1, 0, 0),
        "{:?}",
        s.problems
    );

    // 2. The log key signs a second root for size 2.
    let key = std::fs::read_to_string(data.join("log.key")).unwrap();
    let signer = parse_signer_key(key.trim()).unwrap();
    let forged = Checkpoint {
        origin: crashloop::ORIGIN.into(),
        tree_size: 2,
        root_hash: Hash::from_slice(&[7u8; 32]).unwrap(),
        extensions: Vec::new(),
    };
    h.forge_served_note(&sign_checkpoint(&forged, &signer).unwrap());
    h.check(&server.url, 2).unwrap();
    let s = h.summary();
    assert_eq!(
        s.lost, 2,
        "the forged ack is still missing: {:?}",
        s.problems
    );
    assert!(s.forks >= 1, "the second root is a fork: {:?}", s.problems);

    // 3. A mirror record changed while the server is down.
    server.kill();
    let mirror = data.join("audit_trail.jsonl");
    let text = std::fs::read_to_string(&mirror).unwrap();
    assert_eq!(text.matches("\"system\":\"crashloop\"").count(), 3);
    std::fs::write(
        &mirror,
        text.replacen("\"system\":\"crashloop\"", "\"system\":\"crashl00p\"", 1),
    )
    .unwrap();
    let server = crashloop::Server::start(&opts).unwrap();
    let before = h.summary().mismatches;
    h.check(&server.url, 3).unwrap();
    let s = h.summary();
    assert!(
        s.mismatches > before,
        "the changed mirror record is seen: {:?}",
        s.problems
    );
}
