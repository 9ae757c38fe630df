//! The mirror written from the writer's hand-over of committed events
//! ([`Log::follow_commits`]) is byte for byte the mirror rebuilt from the store, whatever
//! groups the hand-over skipped or repeated.

#![cfg(feature = "server")]

use std::path::Path;

use llm_audit_trail::core::json::{JsonNumber, JsonValue};
use llm_audit_trail::datadir::DataDir;
use llm_audit_trail::log::event::NewEvent;
use llm_audit_trail::log::mirror::{self, Mirror, MirrorFollower};
use llm_audit_trail::log::{Committed, Log, LogConfig};

/// Event `i` of thread `t`: every optional field in turn, non-ASCII text, floats, nesting.
fn event(t: usize, i: usize) -> NewEvent {
    let mut e = NewEvent::new(["Evaluation", "Deployment", "InferenceRequest"][i % 3]);
    e.model_id = Some(format!("model-{}", i % 4));
    if i % 2 == 0 {
        e.dataset_id = Some("data-ü-✓".into());
    }
    if i % 5 == 0 {
        e.actor = Some(format!("owner-{t}"));
        e.deployment_id = Some("prod".into());
    }
    if i % 7 == 0 {
        // A client-chosen id: some threads retry it (a duplicate, not a new leaf).
        e.event_id = Some(format!("client-{i}"));
    }
    e.details = JsonValue::Object(vec![
        (
            "step".into(),
            JsonValue::Number(JsonNumber::Int((i as i64).into())),
        ),
        (
            "loss".into(),
            JsonValue::Number(JsonNumber::Float(0.25 + i as f64 * 1e-7)),
        ),
        (
            "note".into(),
            JsonValue::String("line\n\"quoted\" 𝄞".into()),
        ),
        (
            "tags".into(),
            JsonValue::Array(vec![JsonValue::Bool(true), JsonValue::Null]),
        ),
    ]);
    e
}

/// A new data folder (in a temporary directory) and its open log.
fn new_log() -> (tempfile::TempDir, DataDir, Log) {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::new(tmp.path().join("log"));
    d.init("example.com/follow").unwrap();
    let log = d.open_log(LogConfig::default()).unwrap();
    (tmp, d, log)
}

fn rebuilt(log: &Log, dir: &Path) -> Vec<u8> {
    let path = dir.join("rebuilt.jsonl");
    mirror::rebuild(log, &path).unwrap();
    std::fs::read(&path).unwrap()
}

fn take_all(log: &Log, stream: &llm_audit_trail::log::CommitStream) -> Vec<Committed> {
    let mut groups = Vec::new();
    while let Some(g) = stream.try_recv() {
        groups.push(g);
    }
    assert!(log.tree_size() > 0);
    groups
}

#[test]
fn gaps_and_repeats_in_the_hand_over_are_filled_from_the_store() {
    let (tmp, _d, log) = new_log();
    let stream = log.follow_commits();
    for g in 0..6 {
        log.append_blocking((0..10 + g).map(|i| event(g, i)).collect())
            .unwrap();
    }
    let groups = take_all(&log, &stream);
    assert_eq!(groups.len(), 6, "every group is handed over");
    let mut expect = 0;
    for g in &groups {
        for (index, _) in &g.events {
            assert_eq!(*index, expect, "in index order, without holes");
            expect += 1;
        }
    }
    assert_eq!(expect, log.tree_size());

    // Hand the mirror groups 0, 0 again, 2, 5 only: 1, 3 and 4 come from the store.
    let path = tmp.path().join("followed.jsonl");
    let mut m = Mirror::open(&path, &log).unwrap();
    let mut groups: Vec<Option<Committed>> = groups.into_iter().map(Some).collect();
    let g0 = groups[0].take().unwrap();
    let again = Committed {
        events: g0.events.iter().map(|(i, ev)| (*i, ev.clone())).collect(),
    };
    let picked = vec![
        g0,
        again,
        groups[2].take().unwrap(),
        groups[5].take().unwrap(),
    ];
    assert_eq!(m.write_committed(&log, picked).unwrap(), log.tree_size());
    assert_eq!(m.next_seq(), log.tree_size());
    assert_eq!(std::fs::read(&path).unwrap(), rebuilt(&log, tmp.path()));
    log.close();
}

#[test]
fn followed_mirror_equals_rebuilt_under_concurrent_appends() {
    let (tmp, d, log) = new_log();
    // Some events before the follower starts: its start-up catch-up writes them.
    log.append_blocking((0..50).map(|i| event(99, i)).collect())
        .unwrap();
    let follower = MirrorFollower::start(log.clone(), d.mirror_path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..6 {
            let log = log.clone();
            s.spawn(move || {
                for round in 0..60 {
                    // Single events and batches, so groups of many sizes form.
                    let n = if round % 4 == 0 { 37 } else { 1 };
                    let events = (0..n).map(|k| event(t, round * 40 + k)).collect();
                    for r in log.append_blocking(events).unwrap() {
                        // Retries of a client id from another thread: the original, or a
                        // conflict when the content differs; never an error of the log.
                        let _ = r;
                    }
                }
            });
        }
    });
    let size = log.tree_size();
    log.close();
    follower.stop().unwrap();
    drop(log);
    let followed = std::fs::read(d.mirror_path()).unwrap();
    assert_eq!(
        followed.iter().filter(|b| **b == b'\n').count() as u64,
        size,
        "one line per leaf"
    );
    let log = d.open_log(LogConfig::default()).unwrap();
    assert!(
        followed == rebuilt(&log, tmp.path()),
        "the followed mirror differs from the rebuilt one"
    );
    log.close();
}

#[test]
fn a_new_follower_is_not_held_back_by_what_an_old_one_left_unread() {
    let (_tmp, _d, log) = new_log();
    let old = log.follow_commits();
    // Fill the old follower's share to the brim and leave it unread.
    let mut left = llm_audit_trail::log::MAX_FED_EVENTS;
    while left > 0 {
        let n = left.min(5000);
        log.append_blocking((0..n).map(|_| NewEvent::new("Filler")).collect())
            .unwrap();
        left -= n;
    }
    // Past the limit, a group is not handed over (the follower would read it back).
    log.append_blocking(vec![NewEvent::new("Skipped")]).unwrap();
    // A new follower, while the old one's share is still full and unread.
    let fresh = log.follow_commits();
    let r = log.append_blocking(vec![NewEvent::new("Seen")]).unwrap();
    let index = r[0].as_ref().unwrap().index;
    let g = fresh.try_recv().expect("the new follower is fed");
    assert_eq!(g.events.len(), 1);
    assert_eq!(g.events[0].0, index);
    // The old stream holds exactly what was handed to it: not the skipped group, not the
    // new follower's.
    let mut unread = 0;
    while let Some(g) = old.try_recv() {
        unread += g.events.len();
    }
    assert_eq!(unread, llm_audit_trail::log::MAX_FED_EVENTS);
    log.close();
}
