//! Tests of C2SP tlog-tiles: tile paths (golden table, checked against `tlog_tiles`, the
//! Rust port of Go's sumdb/tlog), the tiles of a tree, hashes recomputed from tiles, and
//! entry bundles.

use llm_audit_trail::core::hash::{leaf_hash, Hash};
use llm_audit_trail::core::merkle::{tree_root, HashReader, MemoryHashStore, NodeId};
use llm_audit_trail::core::proof::{
    prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
};
use llm_audit_trail::core::tiles::{
    encode_entry_bundle, hash_from_tile, parse_entry_bundle, partial_tiles, read_tile,
    tile_for_node, tiles_at_level, tiles_for_size, TileError, TileHashReader, TileKind, TilePath,
    MAX_ENTRY_BUNDLE_SIZE, TILE_WIDTH,
};
use proptest::prelude::*;

fn leaf(i: u64) -> Hash {
    leaf_hash(&i.to_be_bytes())
}

fn store(n: u64) -> MemoryHashStore {
    let mut s = MemoryHashStore::new();
    for i in 0..n {
        s.push_leaf(leaf(i));
    }
    s
}

#[test]
fn good_tile_paths() {
    // (path, kind, index, width)
    let good: &[(&str, TileKind, u64, u16)] = &[
        ("tile/0/000", TileKind::Hash(0), 0, 256),
        ("tile/0/001", TileKind::Hash(0), 1, 256),
        ("tile/0/999", TileKind::Hash(0), 999, 256),
        ("tile/0/x001/000", TileKind::Hash(0), 1000, 256),
        ("tile/1/x001/x234/067", TileKind::Hash(1), 1_234_067, 256),
        ("tile/0/000.p/1", TileKind::Hash(0), 0, 1),
        ("tile/0/273.p/112", TileKind::Hash(0), 273, 112),
        ("tile/1/001.p/17", TileKind::Hash(1), 1, 17),
        ("tile/2/000.p/255", TileKind::Hash(2), 0, 255),
        ("tile/7/000.p/255", TileKind::Hash(7), 0, 255),
        ("tile/entries/000", TileKind::Entries, 0, 256),
        (
            "tile/entries/x001/x234/067.p/9",
            TileKind::Entries,
            1_234_067,
            9,
        ),
        // The last entry bundle of the largest tree: leaves up to 2^64 - 1.
        (
            "tile/entries/x072/x057/x594/x037/x927/935.p/255",
            TileKind::Entries,
            u64::MAX / 256,
            255,
        ),
    ];
    for &(path, kind, index, width) in good {
        let t = TilePath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            (t.kind(), t.index(), t.width()),
            (kind, index, width),
            "{path}"
        );
        assert_eq!(t.to_path(), path);
        assert_eq!(t.is_partial(), width < 256);
    }
}

#[test]
fn bad_tile_paths() {
    let long = format!("tile/0/{}", "x001/".repeat(12) + "000");
    let bad: &[(&str, &str)] = &[
        ("", "empty"),
        ("tile", "no level"),
        ("tile/0", "no index"),
        ("tile/0/", "empty index element"),
        ("/tile/0/000", "leading slash"),
        ("tile//0/000", "doubled slash"),
        ("tile/0//000", "doubled slash before the index"),
        ("tile/0/000/", "trailing slash"),
        ("tiles/0/000", "wrong first element"),
        ("TILE/0/000", "upper case"),
        ("tile/8/0/000", "Go sumdb height element: not C2SP"),
        ("tile/00/000", "level with a leading zero"),
        ("tile/01/000", "level with a leading zero"),
        ("tile/+1/000", "signed level"),
        ("tile/-0/000", "signed level"),
        ("tile/8/000", "level 8 cannot exist (tree level 64)"),
        (
            "tile/63/000",
            "allowed by the syntax, impossible in a tree of < 2^64 leaves",
        ),
        ("tile/99999999999999999999999/000", "level overflows"),
        (
            "tile/data/000",
            "Go sumdb data tiles are not C2SP entry bundles",
        ),
        ("tile/0/0", "index element not 3 digits"),
        ("tile/0/00", "index element not 3 digits"),
        ("tile/0/0000", "index element not 3 digits"),
        ("tile/0/1000", "index element not 3 digits"),
        ("tile/0/x000", "last element with an x"),
        ("tile/0/001/000", "non-last element without an x"),
        ("tile/0/x000/001", "leading x000 element: 1 is written 001"),
        ("tile/0/x000/x001/000", "leading x000 element"),
        ("tile/0/x1/000", "x element not 3 digits"),
        ("tile/0/xx01/000", "x element not 3 digits"),
        ("tile/0/X001/000", "upper-case X"),
        ("tile/0/00a", "non-digit"),
        ("tile/0/ 01", "space"),
        ("tile/0/+01", "sign"),
        ("tile/0/../000", "traversal"),
        ("tile/../0/000", "traversal in the level"),
        ("tile/0/000/..", "traversal at the end"),
        ("tile/0/./000", "dot element"),
        ("tile/0/000.p", "partial marker without width"),
        ("tile/0/000.p/", "empty width"),
        ("tile/0/000.p/0", "width 0: empty tiles are never served"),
        (
            "tile/0/000.p/256",
            "width 256 is a full tile, written without .p",
        ),
        ("tile/0/000.p/300", "width above 255"),
        ("tile/0/000.p/01", "width with a leading zero"),
        ("tile/0/000.p/+1", "signed width"),
        ("tile/0/000.p/1/", "trailing slash after the width"),
        ("tile/0/000.p/1/2", "extra element after the width"),
        ("tile/0/000.q/1", "wrong partial marker"),
        ("tile/0/000.P/1", "upper-case partial marker"),
        ("tile/0/x001.p/000", "partial marker on an x element"),
        (
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "index 18446744073709551616 overflows u64",
        ),
        (
            "tile/0/x072/x057/x594/x037/x927/936",
            "index 72057594037927936: leaves past 2^64",
        ),
        (
            "tile/1/x281/x474/x976/711/000",
            "level 1 tile past 2^64 leaves",
        ),
        (
            "tile/entries/x072/x057/x594/x037/x927/935",
            "full bundle would need 2^64 leaves",
        ),
        (
            "tile/0/x001/x001/x001/x001/x001/x001/x001/001",
            "8 index elements",
        ),
        ("tile/entries", "entries without index"),
        ("tile/entries/", "entries with empty index"),
        ("tile/0/000\n", "trailing newline"),
        ("tile/0/٣٣٣", "non-ASCII digits"),
        (&long, "longer than MAX_TILE_PATH_LEN"),
    ];
    for &(path, why) in bad {
        assert!(
            TilePath::parse(path).is_err(),
            "{path:?} accepted; should fail: {why}"
        );
    }
    assert!(matches!(
        TilePath::parse(&long),
        Err(TileError::PathTooLong { .. })
    ));
    assert!(matches!(
        TilePath::parse("tile/0/000.p/300"),
        Err(TileError::BadWidth { width: 300 })
    ));
}

#[test]
fn tile_paths_match_tlog_tiles() {
    let mut indexes = vec![0u64, 1, 9, 999, 1000, 1001, 123_456, 1_234_067, 999_999_999];
    indexes.extend((0..40).map(|k| 7u64.pow(k / 2) * (k as u64 + 1)));
    for level in 0..=2u8 {
        for &n in &indexes {
            for w in [1u16, 17, 255, 256] {
                let Ok(ours) = TilePath::hash(level, n, w) else {
                    continue;
                };
                let theirs = tlog_tiles::Tile::new(8, level, n, u32::from(w), false).path();
                // Go sumdb paths carry the tile height: tile/8/<L>/...; C2SP drops it.
                let theirs = theirs.replacen("tile/8/", "tile/", 1);
                assert_eq!(ours.to_path(), theirs);
                assert_eq!(TilePath::parse(&theirs).unwrap(), ours);
            }
        }
    }
}

#[test]
fn tile_for_node_matches_tlog_tiles() {
    for level in 0..=20u8 {
        for index in [
            0u64,
            1,
            2,
            3,
            5,
            100,
            255,
            256,
            257,
            1000,
            65_535,
            65_536,
            1 << 30,
        ] {
            let ours = tile_for_node(NodeId::new(level, index)).unwrap();
            let theirs =
                tlog_tiles::Tile::from_index(8, tlog_tiles::stored_hash_index(level, index));
            assert_eq!(
                ours.to_path(),
                theirs.path().replacen("tile/8/", "tile/", 1),
                "node ({level}, {index})"
            );
        }
    }
    assert_eq!(tile_for_node(NodeId::new(64, 0)), None);
    assert_eq!(tile_for_node(NodeId::new(63, 1)), None);
    assert!(tile_for_node(NodeId::new(63, 0)).is_some());
}

#[test]
fn tiles_of_spec_examples() {
    // C2SP tlog-tiles: size 70,000 has 273 full level-0 tiles, a partial of width 112, one
    // full level-1 tile, a partial level-1 tile of width 17, a partial level-2 tile of width 1.
    assert_eq!(tiles_at_level(70_000, 0), (273, 112));
    assert_eq!(tiles_at_level(70_000, 1), (1, 17));
    assert_eq!(tiles_at_level(70_000, 2), (0, 1));
    assert_eq!(tiles_at_level(70_000, 3), (0, 0));
    let p: Vec<String> = partial_tiles(70_000)
        .iter()
        .map(TilePath::to_path)
        .collect();
    assert_eq!(p, ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]);
    assert_eq!(tiles_for_size(70_000).len(), 273 + 1 + 1 + 1 + 1);
    // Size 256: a full level-0 tile and a partial level-1 tile of width 1.
    let t: Vec<String> = tiles_for_size(256).iter().map(TilePath::to_path).collect();
    assert_eq!(t, ["tile/0/000", "tile/1/000.p/1"]);
    assert!(tiles_for_size(0).is_empty());
    assert_eq!(tiles_at_level(u64::MAX, 7), (0, 255));
    assert_eq!(partial_tiles(u64::MAX).len(), 8);
    // Same tiles as tlog_tiles' new_tiles from the empty tree.
    for n in [1u64, 255, 256, 257, 65_535, 65_536, 70_000] {
        let ours: Vec<String> = tiles_for_size(n).iter().map(TilePath::to_path).collect();
        let mut theirs: Vec<String> = tlog_tiles::Tile::new_tiles(8, 0, n)
            .iter()
            .map(|t| t.path().replacen("tile/8/", "tile/", 1))
            .collect();
        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        theirs.sort();
        assert_eq!(ours_sorted, theirs, "size {n}");
    }
}

#[test]
fn tree_of_70000_from_tiles_alone() {
    let n = 70_000u64;
    let s = store(n);
    let root = s.root();
    let mut reader = TileHashReader::new();
    for tile in tiles_for_size(n) {
        let data = read_tile(&tile, &s).unwrap();
        assert_eq!(data.len(), 32 * usize::from(tile.width()));
        // Each hash of the tile is the stored hash it names.
        let stored = s.read_hashes(&tile.nodes()).unwrap();
        assert_eq!(data[..32], stored[0].0);
        reader.insert(tile, data).unwrap();
    }
    assert_eq!(reader.len(), 277);
    // The root of every size the tiles of n cover.
    for size in [
        1u64, 2, 255, 256, 257, 65_535, 65_536, 65_537, 69_999, 70_000,
    ] {
        assert_eq!(
            tree_root(size, &reader).unwrap(),
            tree_root(size, &s).unwrap(),
            "{size}"
        );
    }
    // Every stored hash at every level, not just multiples of 8.
    for level in 0..=16u8 {
        let count = n >> level;
        for index in (0..count).step_by(usize::max(1, (count / 50) as usize)) {
            let node = NodeId::new(level, index);
            assert_eq!(
                reader.read_hashes(&[node]),
                s.read_hashes(&[node]),
                "{node:?}"
            );
        }
    }
    // Proofs built only from tiles equal the store's and verify.
    for i in [0u64, 1, 255, 256, 4095, 65_535, 65_536, 69_998, 69_999] {
        let p = prove_inclusion(i, n, &reader).unwrap();
        assert_eq!(p, prove_inclusion(i, n, &s).unwrap());
        verify_inclusion(i, n, &leaf(i), &p, &root).unwrap();
        let m = i + 1;
        let c = prove_consistency(m, n, &reader).unwrap();
        assert_eq!(c, prove_consistency(m, n, &s).unwrap());
        verify_consistency(m, n, &tree_root(m, &s).unwrap(), &root, &c).unwrap();
    }
    // Beyond the tiles: an error, never a made-up hash.
    assert!(reader.read_hashes(&[NodeId::new(0, n)]).is_err());
    assert!(tree_root(n + 1, &reader).is_err());
}

#[test]
fn partial_tiles_replaced_by_wider_ones() {
    let s = store(600);
    let mut r = TileHashReader::new();
    let narrow = TilePath::hash(0, 2, 10).unwrap();
    r.insert(narrow, read_tile(&narrow, &s).unwrap()).unwrap();
    assert!(r.read_hashes(&[NodeId::new(0, 512 + 9)]).is_ok());
    assert!(r.read_hashes(&[NodeId::new(0, 512 + 10)]).is_err());
    let wide = TilePath::hash(0, 2, 88).unwrap();
    r.insert(wide, read_tile(&wide, &s).unwrap()).unwrap();
    // A narrower tile inserted later does not shrink what the reader knows.
    r.insert(narrow, read_tile(&narrow, &s).unwrap()).unwrap();
    assert_eq!(
        r.read_hashes(&[NodeId::new(0, 599)]).unwrap(),
        s.read_hashes(&[NodeId::new(0, 599)]).unwrap()
    );
    assert_eq!(tree_root(600, &r).ok(), None, "level-1 tile missing");
}

#[test]
fn tile_data_checks() {
    let s = store(300);
    let t = TilePath::hash(0, 0, 256).unwrap();
    let data = read_tile(&t, &s).unwrap();
    let mut r = TileHashReader::new();
    // Wrong lengths: one byte short, one byte over, empty.
    for bad in [
        &data[..data.len() - 1],
        &[data.as_slice(), &[0]].concat()[..],
        &[][..],
    ] {
        assert!(matches!(
            r.insert(t, bad.to_vec()),
            Err(TileError::WrongTileLength { .. })
        ));
        assert!(hash_from_tile(&t, bad, NodeId::new(0, 0)).is_err());
    }
    // An entry bundle is not a hash tile.
    let e = TilePath::entries(0, 256).unwrap();
    assert!(matches!(
        r.insert(e, data.clone()),
        Err(TileError::NotAHashTile(_))
    ));
    assert!(read_tile(&e, &s).is_err());
    // Nodes outside the tile: another tile's leaf, a level below, two tile levels above.
    assert!(hash_from_tile(&t, &data, NodeId::new(0, 256)).is_err());
    assert!(hash_from_tile(
        &TilePath::hash(1, 0, 1).unwrap(),
        &data[..32],
        NodeId::new(7, 0)
    )
    .is_err());
    assert!(hash_from_tile(&t, &data, NodeId::new(9, 0)).is_err());
    // Level 8 from a full level-0 tile is its whole hash.
    assert_eq!(
        hash_from_tile(&t, &data, NodeId::new(8, 0)).unwrap(),
        s.read_hashes(&[NodeId::new(8, 0)]).unwrap()[0]
    );
    // The tile-level-0 tile of size 300 cannot be read past what is stored.
    assert!(read_tile(&TilePath::hash(0, 1, 100).unwrap(), &s).is_err());
    assert!(read_tile(&TilePath::hash(0, 1, 44).unwrap(), &s).is_ok());
}

#[test]
fn entry_bundles() {
    // Golden bytes: two entries "a" and "" then "xyz".
    let b = encode_entry_bundle(&[b"a".as_slice(), b"", b"xyz"]).unwrap();
    assert_eq!(b, [0, 1, b'a', 0, 0, 0, 3, b'x', b'y', b'z']);
    assert_eq!(
        parse_entry_bundle(&b).unwrap(),
        [b"a".as_slice(), b"", b"xyz"]
    );
    // A maximal entry round-trips; one byte more is refused.
    let big = vec![7u8; 65_535];
    let e = encode_entry_bundle(&[&big]).unwrap();
    assert_eq!(&e[..2], [0xff, 0xff]);
    assert_eq!(parse_entry_bundle(&e).unwrap(), [big.as_slice()]);
    assert!(matches!(
        encode_entry_bundle(&[vec![0u8; 65_536]]),
        Err(TileError::EntryTooLarge {
            position: 0,
            len: 65_536,
            ..
        })
    ));
    // 256 entries is a full bundle; 257 and 0 are not bundles.
    let full: Vec<Vec<u8>> = (0..256u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let fb = encode_entry_bundle(&full).unwrap();
    assert_eq!(parse_entry_bundle(&fb).unwrap().len(), 256);
    assert!(encode_entry_bundle(&[[0u8; 1]; 257]).is_err());
    let none: [&[u8]; 0] = [];
    assert!(encode_entry_bundle(&none).is_err());
    assert!(parse_entry_bundle(&[&fb[..], &[0, 0]].concat()).is_err());

    let bad: &[(&[u8], &str)] = &[
        (&[], "empty: no entries"),
        (&[0], "one byte: half a length"),
        (&[0, 1], "length 1, no entry byte"),
        (&[0, 2, b'a'], "entry cut short"),
        (&[0, 1, b'a', 0], "trailing byte: half a length"),
        (&[0, 1, b'a', 0, 5, 1, 2], "trailing entry cut short"),
        (&[0xff, 0xff, 1, 2, 3], "huge length, few bytes"),
    ];
    for &(data, why) in bad {
        assert!(
            parse_entry_bundle(data).is_err(),
            "{data:?} accepted; should fail: {why}"
        );
    }
    assert!(matches!(
        parse_entry_bundle(&vec![0u8; MAX_ENTRY_BUNDLE_SIZE + 1]),
        Err(TileError::BundleTooLarge { .. })
    ));
    assert_eq!(usize::from(TILE_WIDTH), 256);
}

proptest! {
    #[test]
    fn tile_path_round_trips(level in 0u8..=7, index in any::<u64>(), width in 1u16..=256) {
        if let Ok(t) = TilePath::hash(level, index, width) {
            prop_assert_eq!(TilePath::parse(&t.to_path()).unwrap(), t);
        }
        if let Ok(t) = TilePath::entries(index, width) {
            prop_assert_eq!(TilePath::parse(&t.to_path()).unwrap(), t);
        }
    }

    #[test]
    fn parse_never_panics_and_only_accepts_canonical(s in "[tile/0-9x.pentris]{0,40}") {
        if let Ok(t) = TilePath::parse(&s) {
            prop_assert_eq!(t.to_path(), s);
        }
    }

    #[test]
    fn entry_bundles_round_trip(entries in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..300), 1..40)) {
        let b = encode_entry_bundle(&entries).unwrap();
        let parsed = parse_entry_bundle(&b).unwrap();
        prop_assert_eq!(parsed.len(), entries.len());
        for (a, e) in parsed.iter().zip(&entries) {
            prop_assert_eq!(*a, e.as_slice());
        }
        // Cutting any tail off is refused.
        prop_assert!(parse_entry_bundle(&b[..b.len() - 1]).is_err());
    }
}

#[test]
fn hash_from_tile_matches_tlog_tiles() {
    let s = store(2000);
    for level in 0..=10u8 {
        for index in 0..(2000u64 >> level) {
            let node = NodeId::new(level, index);
            let tile = tile_for_node(node).unwrap();
            let data = read_tile(&tile.full_or_self(&s), &s).unwrap();
            let t = tile.full_or_self(&s);
            let ours = hash_from_tile(&t, &data, node).unwrap();
            let theirs =
                tlog_tiles::Tile::new(8, level / 8, t.index(), u32::from(t.width()), false)
                    .hash_at_index(&data, tlog_tiles::stored_hash_index(level, index))
                    .unwrap();
            assert_eq!(ours.0, theirs.0, "{node:?}");
            assert_eq!(ours, s.read_hashes(&[node]).unwrap()[0], "{node:?}");
        }
    }
}

#[test]
fn corrupted_tile_is_caught_by_root_or_proofs() {
    // The reader does not authenticate tiles. A corrupted partial (right-edge) tile changes
    // the root; a corrupted full tile below the top is not used by the root, but every proof
    // built from it fails against the checkpoint's root.
    let n = 1000u64;
    let s = store(n);
    for victim in 0..tiles_for_size(n).len() {
        let mut r = TileHashReader::new();
        for (k, tile) in tiles_for_size(n).into_iter().enumerate() {
            let mut data = read_tile(&tile, &s).unwrap();
            if k == victim {
                let last = data.len() - 1;
                data[last] ^= 1;
            }
            r.insert(tile, data).unwrap();
        }
        let root = s.root();
        let caught = tree_root(n, &r).unwrap() != root
            || (0..n).any(|i| {
                let p = prove_inclusion(i, n, &r).unwrap();
                verify_inclusion(i, n, &leaf(i), &p, &root).is_err()
            });
        assert!(caught, "tile {victim}");
    }
}

/// The widest tile at the node's tile position that a store of this size has.
trait WidestIn {
    fn full_or_self(&self, s: &MemoryHashStore) -> TilePath;
}

impl WidestIn for TilePath {
    fn full_or_self(&self, s: &MemoryHashStore) -> TilePath {
        let level = match self.kind() {
            TileKind::Hash(l) => l,
            TileKind::Entries => unreachable!(),
        };
        let (full, width) = tiles_at_level(s.tree_size(), level);
        if self.index() < full {
            self.full()
        } else {
            TilePath::hash(level, self.index(), width).unwrap()
        }
    }
}
