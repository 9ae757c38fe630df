//! Tile paths, entry bundles and tile reading (`core::tiles`, C2SP tlog-tiles).
//!
//! - Paths: the parser never panics and is strict: whatever it accepts prints back to
//!   exactly the same bytes; every tile built from fuzzed level, index and width prints to a
//!   path that parses back to it.
//! - Entry bundles: whatever parses encodes back to the same bytes; fuzzed entry lists
//!   encode and parse back.
//! - Differential: a client holding only the tiles of the honest tree at a fuzzed size
//!   computes the same root and the same proofs as the tree itself, and a tile with one
//!   flipped byte never yields the honest root.

use llm_audit_trail::core::merkle::{tree_root, NodeId};
use llm_audit_trail::core::proof::{prove_consistency, prove_inclusion};
use llm_audit_trail::core::tiles::{
    encode_entry_bundle, hash_from_tile, parse_entry_bundle, read_tile, tile_for_node,
    tiles_for_size, TileHashReader, TileKind, TilePath,
};

use super::common::{honest, Input, TREE_LEAVES};

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = TilePath::parse(s) {
            assert_eq!(t.to_path(), s, "an accepted path prints back to itself");
            assert_eq!(TilePath::parse(&t.to_path()), Ok(t));
        }
    }
    if let Ok(entries) = parse_entry_bundle(data) {
        assert_eq!(encode_entry_bundle(&entries).as_deref(), Ok(data));
    }

    let mut input = Input::new(data);
    // Paths built from fields.
    let level = input.u8() % 9;
    let index = input.u64() >> (input.u8() % 64);
    let width = input.u16() % 300;
    for t in [
        TilePath::hash(level, index, width),
        TilePath::entries(index, width),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(TilePath::parse(&t.to_path()), Ok(t));
        assert_eq!(t.index(), index);
        assert_eq!(t.width(), width);
        if let TileKind::Hash(_) = t.kind() {
            assert_eq!(t.nodes().len(), usize::from(width));
        }
    }
    // Where a node's hash lives: that tile covers it.
    let node = NodeId::new(input.u8() % 70, input.u64() >> (input.u8() % 64));
    if let Some(t) = tile_for_node(node) {
        assert_eq!(t.tree_level(), Some(node.level / 8 * 8));
        let data = vec![0u8; usize::from(t.width()) * 32];
        assert!(hash_from_tile(&t, &data, node).is_ok());
    }
    // Entry bundles built from the input.
    let count = usize::from(input.u8() % 8);
    let entries: Vec<&[u8]> = (0..count)
        .map(|_| {
            let len = usize::from(input.u8());
            input.bytes(len)
        })
        .collect();
    match encode_entry_bundle(&entries) {
        Ok(bundle) => assert_eq!(parse_entry_bundle(&bundle), Ok(entries)),
        Err(_) => assert!(entries.is_empty()),
    }

    // The honest tree read through its tiles.
    let log = honest();
    let n = 1 + input.below(TREE_LEAVES);
    let mut reader = TileHashReader::new();
    let tiles = tiles_for_size(n);
    let corrupt = input.u8() % 2 == 1;
    let corrupt_tile = input.below(tiles.len() as u64) as usize;
    let corrupt_byte = input.u16();
    let mut corrupted = None;
    let mut without = TileHashReader::new();
    for (k, t) in tiles.iter().enumerate() {
        let mut bytes = read_tile(t, &log.store).expect("tile of a stored size");
        assert_eq!(bytes.len(), usize::from(t.width()) * 32);
        if corrupt && k == corrupt_tile {
            let at = usize::from(corrupt_byte) % bytes.len();
            bytes[at] ^= 0x01;
            corrupted = Some(*t);
        } else {
            without
                .insert(*t, bytes.clone())
                .expect("a tile of the right length");
        }
        reader
            .insert(*t, bytes)
            .expect("a tile of the right length");
    }
    let root = tree_root(n, &reader);
    match corrupted {
        None => {
            assert_eq!(root, Ok(log.root(n)));
            let i = input.below(n);
            assert_eq!(
                prove_inclusion(i, n, &reader).expect("tiles hold the proof"),
                log.inclusion(i, n)
            );
            let m = 1 + input.below(n);
            assert_eq!(
                prove_consistency(m, n, &reader).expect("tiles hold the proof"),
                log.consistency(m, n)
            );
        }
        Some(t) => {
            // A flipped bit in a tile the root is computed from changes the root; a tile it
            // is not computed from (a level-0 tile under a level-1 tile) leaves it honest.
            let needed = tree_root(n, &without).is_err();
            if needed {
                assert_ne!(
                    root,
                    Ok(log.root(n)),
                    "a corrupted tile {t} gave the honest root"
                );
            } else {
                assert_eq!(root, Ok(log.root(n)), "tile {t} is not read for the root");
            }
        }
    }
}
