//! Tiles of the Merkle tree and entry bundles, per C2SP `tlog-tiles` (editor's copy of
//! c2sp.org/tlog-tiles, § "Merkle Tree", § "Partial Tiles", § "Log entries").
//!
//! A hash tile at level `L` with index `N` holds up to 256 consecutive stored hashes of tree
//! level `8·L` (spec: `MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L])`, `i` in 0..256).
//! The levels between two tile levels are not served: they are recomputed by hashing inside
//! a tile ([`hash_from_tile`]). A tree of size `s` has, at each tile level `L`,
//! `floor(s / 256^(L+1))` full tiles and one partial tile of width `floor(s / 256^L) mod 256`
//! when that is not zero. Entry bundles (`tile/entries/<N>[.p/<W>]`) hold the entries of the
//! matching level-0 tile, each as a big-endian `uint16` length and the bytes.
//!
//! This module parses and prints tile paths ([`TilePath`]), lists the tiles of a tree, reads a
//! tile's bytes from stored hashes ([`read_tile`]), turns fetched tiles back into a
//! [`HashReader`] ([`TileHashReader`]), and encodes and parses entry bundles.
//!
//! Out of scope: HTTP (prefixes, caching headers, compression), pruning (minimum index), and
//! authenticating tiles: a [`TileHashReader`] trusts its tiles, so a client must compare
//! `tree_root(size, &reader)` with a verified checkpoint's root and verify every proof built
//! from it against that root (a wrong tile then makes verification fail, never pass).

use std::collections::BTreeMap;

use crate::core::hash::{node_hash, Hash, HASH_SIZE};
use crate::core::merkle::{read_exact, HashReadError, HashReader, NodeId};

/// Height of a tile: the number of tree levels one tile spans.
pub const TILE_HEIGHT: u8 = 8;

/// Width of a full tile, in hashes (or entries for an entry bundle): `2^TILE_HEIGHT`.
pub const TILE_WIDTH: u16 = 256;

/// The highest tile level that can exist. Tile level `L` holds tree level `8·L`; a tree has
/// fewer than `2^64` leaves, so tree levels stop at 63 and tile levels at 7. (The spec's path
/// syntax allows `L` up to 63; such tiles cannot exist and are rejected.)
pub const MAX_TILE_LEVEL: u8 = 7;

/// The longest tile path accepted, in bytes, checked before any parsing. The longest valid
/// path is `tile/entries/` plus 7 index elements plus `.p/255`, well under this.
pub const MAX_TILE_PATH_LEN: usize = 64;

/// The most index elements (`x001/x234/067` has 3) in a tile path: `u64::MAX` has 20 digits.
pub const MAX_INDEX_ELEMENTS: usize = 7;

/// The largest entry an entry bundle can carry: its length is a `uint16`.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// The largest entry bundle accepted: 256 entries of [`MAX_ENTRY_SIZE`] bytes, each with its
/// 2-byte length, checked before parsing.
pub const MAX_ENTRY_BUNDLE_SIZE: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_SIZE);

/// Why a tile path, tile or entry bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The tile path is longer than [`MAX_TILE_PATH_LEN`].
    #[error("tile path is {len} bytes, more than the {max} allowed")]
    PathTooLong {
        /// Length of the path.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The tile path does not follow `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    #[error("malformed tile path {path:?}: {reason}")]
    MalformedPath {
        /// The path (at most [`MAX_TILE_PATH_LEN`] bytes).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tile level is above [`MAX_TILE_LEVEL`].
    #[error("tile level {level} is above the highest possible level {max}")]
    LevelOutOfRange {
        /// The level asked for.
        level: u64,
        /// The highest level a tile can have.
        max: u8,
    },
    /// The tile width is not in 1..=256.
    #[error("tile width {width} is not in 1..=256")]
    BadWidth {
        /// The width asked for.
        width: u64,
    },
    /// The tile would hold hashes of leaves beyond any possible tree (2^64 - 1 leaves).
    #[error("tile index {index} (width {width}) lies beyond any possible tree (2^64 - 1 leaves)")]
    IndexOutOfRange {
        /// Tile level (`None` for entry bundles).
        level: Option<u8>,
        /// Tile index.
        index: u64,
        /// Tile width.
        width: u16,
    },
    /// A hash operation was asked of an entry bundle, or the reverse.
    #[error("{0} is not a hash tile")]
    NotAHashTile(String),
    /// Tile data does not have the length its width calls for.
    #[error("tile {tile} has {got} bytes, expected {want}")]
    WrongTileLength {
        /// The tile path.
        tile: String,
        /// Bytes received.
        got: usize,
        /// Bytes expected (`32 · width`).
        want: usize,
    },
    /// The node asked for is not covered by the tile.
    #[error("node at level {level} index {index} is not in tile {tile}")]
    NodeNotInTile {
        /// Tree level of the node.
        level: u8,
        /// Index of the node.
        index: u64,
        /// The tile path.
        tile: String,
    },
    /// An entry is longer than [`MAX_ENTRY_SIZE`].
    #[error("entry {position} is {len} bytes, more than the {max} an entry bundle allows")]
    EntryTooLarge {
        /// Position of the entry in the bundle.
        position: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An entry bundle has no entries or more than [`TILE_WIDTH`].
    #[error("entry bundle has {count} entries, expected 1..=256")]
    BadEntryCount {
        /// Number of entries (for parsing: counted so far when it went over).
        count: usize,
    },
    /// The entry bundle is larger than [`MAX_ENTRY_BUNDLE_SIZE`].
    #[error("entry bundle is {len} bytes, more than the {max} allowed")]
    BundleTooLarge {
        /// Length of the bundle.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The entry bundle ends inside a length prefix or inside an entry.
    #[error("entry bundle truncated at byte {offset}: entry {position} needs {needed} more bytes")]
    TruncatedBundle {
        /// Offset where the incomplete entry (or length) starts.
        offset: usize,
        /// Position of the incomplete entry.
        position: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// A stored hash could not be read.
    #[error("reading stored hashes: {0}")]
    Read(#[from] HashReadError),
}

/// What a tile holds: hashes of one tile level, or entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// A hash tile of tile level `L` (tree level `8·L`), served at `tile/<L>/...`.
    Hash(u8),
    /// An entry bundle, served at `tile/entries/...`.
    Entries,
}

/// TilePath names a hash tile `tile/<L>/<N>[.p/<W>]` or an entry bundle
/// `tile/entries/<N>[.p/<W>]`. Built only through [`TilePath::hash`], [`TilePath::entries`] or
/// [`TilePath::parse`], so that its fields are always in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TilePath {
    kind: TileKind,
    index: u64,
    width: u16,
}

impl TilePath {
    /// Returns the hash tile `tile/<level>/<index>`, of width `width` (256 = full, 1..=255 =
    /// partial), checking the level, the width, and that the tile fits in a possible tree.
    pub fn hash(level: u8, index: u64, width: u16) -> Result<TilePath, TileError> {
        if level > MAX_TILE_LEVEL {
            return Err(TileError::LevelOutOfRange {
                level: u64::from(level),
                max: MAX_TILE_LEVEL,
            });
        }
        TilePath::checked(TileKind::Hash(level), index, width)
    }

    /// Returns the entry bundle `tile/entries/<index>` of width `width` (256 = full).
    pub fn entries(index: u64, width: u16) -> Result<TilePath, TileError> {
        TilePath::checked(TileKind::Entries, index, width)
    }

    fn checked(kind: TileKind, index: u64, width: u16) -> Result<TilePath, TileError> {
        if width == 0 || width > TILE_WIDTH {
            return Err(TileError::BadWidth {
                width: u64::from(width),
            });
        }
        let level = match kind {
            TileKind::Hash(l) => l,
            TileKind::Entries => 0,
        };
        // Leaves the tile's hashes span: (N·256 + W)·256^L; a tree has at most 2^64 - 1.
        let end = (u128::from(index) * u128::from(TILE_WIDTH) + u128::from(width))
            << (u32::from(TILE_HEIGHT) * u32::from(level));
        if end > u128::from(u64::MAX) {
            return Err(TileError::IndexOutOfRange {
                level: match kind {
                    TileKind::Hash(l) => Some(l),
                    TileKind::Entries => None,
                },
                index,
                width,
            });
        }
        Ok(TilePath { kind, index, width })
    }

    /// Returns what the tile holds.
    pub fn kind(&self) -> TileKind {
        self.kind
    }

    /// Returns the tile's index `N` within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Returns the tile's width: the number of hashes (or entries) it holds, 1..=256.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Reports whether the tile is partial (fewer than 256 hashes or entries).
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// Returns the tree level of the hashes in a hash tile (`8·L`), `None` for an entry bundle.
    pub fn tree_level(&self) -> Option<u8> {
        match self.kind {
            TileKind::Hash(l) => Some(l * TILE_HEIGHT),
            TileKind::Entries => None,
        }
    }

    /// Returns the full tile with the same level and index.
    pub fn full(&self) -> TilePath {
        TilePath {
            width: TILE_WIDTH,
            ..*self
        }
    }

    /// Parses a tile path, strictly: exactly the spelling [`TilePath::to_path`] produces.
    ///
    /// Accepted: `tile/<L>/<N>` and `tile/entries/<N>`, optionally followed by `.p/<W>`. `<L>`
    /// is decimal without leading zeros, at most [`MAX_TILE_LEVEL`]; `<N>` is split into
    /// 3-digit elements, all but the last prefixed with `x`, with no leading `x000` element;
    /// `<W>` is decimal 1..=255 without leading zeros. Anything else (leading or doubled
    /// slashes, `..`, signs, spaces, numbers too large) is an error.
    pub fn parse(path: &str) -> Result<TilePath, TileError> {
        if path.len() > MAX_TILE_PATH_LEN {
            return Err(TileError::PathTooLong {
                len: path.len(),
                max: MAX_TILE_PATH_LEN,
            });
        }
        let bad = |reason: &'static str| TileError::MalformedPath {
            path: path.to_string(),
            reason,
        };
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.len() < 3 || parts[0] != "tile" {
            return Err(bad("does not start with tile/<L>/ or tile/entries/"));
        }
        let kind = if parts[1] == "entries" {
            TileKind::Entries
        } else {
            let level =
                parse_decimal(parts[1]).ok_or_else(|| bad("level is not a canonical decimal"))?;
            if level > u64::from(MAX_TILE_LEVEL) {
                return Err(TileError::LevelOutOfRange {
                    level,
                    max: MAX_TILE_LEVEL,
                });
            }
            TileKind::Hash(level as u8)
        };
        // Partial tile: "<last index element>.p" then "<W>".
        let mut width = TILE_WIDTH;
        if parts.len() >= 4 {
            if let Some(stem) = parts[parts.len() - 2].strip_suffix(".p") {
                let w = parse_decimal(parts[parts.len() - 1])
                    .ok_or_else(|| bad("width is not a canonical decimal"))?;
                if w == 0 || w >= u64::from(TILE_WIDTH) {
                    return Err(TileError::BadWidth { width: w });
                }
                width = w as u16;
                parts.pop();
                let last = parts.len() - 1;
                parts[last] = stem;
            }
        }
        let elems = &parts[2..];
        if elems.len() > MAX_INDEX_ELEMENTS {
            return Err(bad("index has too many elements"));
        }
        let mut index: u64 = 0;
        for (i, elem) in elems.iter().enumerate() {
            let last = i + 1 == elems.len();
            let digits = if last {
                *elem
            } else {
                elem.strip_prefix('x')
                    .ok_or_else(|| bad("index element other than the last lacks its x"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index element is not 3 decimal digits"));
            }
            if i == 0 && !last && digits == "000" {
                return Err(bad("index has a leading x000 element"));
            }
            let group = digits.parse::<u64>().expect("3 ASCII digits parse");
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(group))
                .ok_or_else(|| bad("index does not fit in 64 bits"))?;
        }
        TilePath::checked(kind, index, width)
    }

    /// Returns the tile's path, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`, with
    /// `<N>` in `x001/x234/067` form (C2SP tlog-tiles).
    pub fn to_path(&self) -> String {
        let mut s = String::from("tile/");
        match self.kind {
            TileKind::Hash(l) => s.push_str(&l.to_string()),
            TileKind::Entries => s.push_str("entries"),
        }
        // Index 1234067 is written x001/x234/067.
        let mut groups = Vec::with_capacity(MAX_INDEX_ELEMENTS);
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            let prefix = if i + 1 == groups.len() { "" } else { "x" };
            s.push_str(&format!("/{prefix}{g:03}"));
        }
        if self.is_partial() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Returns the stored hashes a hash tile is made of: nodes `(8·L, N·256 + i)` for `i` in
    /// `0..W`, in order. Empty for an entry bundle.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self.tree_level() {
            None => Vec::new(),
            Some(level) => {
                let start = self.index * u64::from(TILE_WIDTH);
                (0..u64::from(self.width))
                    .map(|i| NodeId::new(level, start + i))
                    .collect()
            }
        }
    }
}

impl core::fmt::Display for TilePath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_path())
    }
}

/// Parses a canonical decimal: `0` or a non-zero digit then digits, at most 20 digits, fitting
/// in a `u64`.
fn parse_decimal(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    s.parse().ok()
}

/// Returns, for tile level `level`, the number of full tiles a tree of `tree_size` leaves has
/// and the width of its partial tile (0 when there is none): `floor(s / 256^(L+1))` and
/// `floor(s / 256^L) mod 256` (C2SP tlog-tiles § Partial Tiles). The same numbers count the
/// entry bundles at level 0.
pub fn tiles_at_level(tree_size: u64, level: u8) -> (u64, u16) {
    let shift = u32::from(TILE_HEIGHT) * u32::from(level);
    let hashes = if shift >= 64 { 0 } else { tree_size >> shift };
    (
        hashes >> TILE_HEIGHT,
        (hashes % u64::from(TILE_WIDTH)) as u16,
    )
}

/// Returns the partial tiles of a tree of `tree_size` leaves, one per tile level that has one,
/// lowest level first: the tiles a client fetches beside the full ones to check a checkpoint.
pub fn partial_tiles(tree_size: u64) -> Vec<TilePath> {
    (0..=MAX_TILE_LEVEL)
        .filter_map(|level| {
            let (full, width) = tiles_at_level(tree_size, level);
            (width > 0).then(|| TilePath::hash(level, full, width).expect("tile of a real tree"))
        })
        .collect()
}

/// Returns every hash tile of a tree of `tree_size` leaves, full and partial, level by level.
/// It has about `tree_size / 255` elements: for tests and tools, not for a log's hot path.
pub fn tiles_for_size(tree_size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let (full, width) = tiles_at_level(tree_size, level);
        for n in 0..full {
            out.push(TilePath::hash(level, n, TILE_WIDTH).expect("tile of a real tree"));
        }
        if width > 0 {
            out.push(TilePath::hash(level, full, width).expect("tile of a real tree"));
        }
    }
    out
}

/// Returns the bytes of a hash tile, the concatenation of its [`TilePath::nodes`], read with
/// one [`HashReader::read_hashes`] call. The tile must belong to a tree the reader stores.
pub fn read_tile(tile: &TilePath, reader: &impl HashReader) -> Result<Vec<u8>, TileError> {
    if tile.kind == TileKind::Entries {
        return Err(TileError::NotAHashTile(tile.to_path()));
    }
    let hashes = read_exact(reader, &tile.nodes())?;
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Returns the smallest hash tile from which the stored hash `node` can be computed: the tile
/// at tile level `floor(level / 8)` whose hashes cover the node's leaves, with the width
/// needed to reach the node's last hash. `None` for a node that cannot exist.
pub fn tile_for_node(node: NodeId) -> Option<TilePath> {
    if usize::from(node.level) >= crate::core::merkle::MAX_LEVELS {
        return None;
    }
    let tile_level = node.level / TILE_HEIGHT;
    let within = u32::from(node.level % TILE_HEIGHT);
    // The node spans tile-level hashes [k·2^r, (k+1)·2^r), r = level mod 8.
    let first = u128::from(node.index) << within;
    let end = (u128::from(node.index) + 1) << within;
    let width = TILE_WIDTH as u128;
    let tile_index = u64::try_from(first / width).ok()?;
    let w = u16::try_from(end - u128::from(tile_index) * width).ok()?;
    TilePath::hash(tile_level, tile_index, w).ok()
}

/// Computes the stored hash `node` from the data of hash tile `tile`: the hash is the Merkle
/// Tree Hash of the complete subtree of the tile's hashes under the node, hashed up inside the
/// tile (C2SP tlog-tiles: "the Merkle Tree levels between those expressed by the tile hashes
/// are reconstructed by hashing the leaves"). Works for any level `8·L ..= 8·L + 7` the tile
/// covers, and for `8·L + 8` when the tile is full.
pub fn hash_from_tile(tile: &TilePath, data: &[u8], node: NodeId) -> Result<Hash, TileError> {
    let base_level = tile
        .tree_level()
        .ok_or_else(|| TileError::NotAHashTile(tile.to_path()))?;
    let want = usize::from(tile.width) * HASH_SIZE;
    if data.len() != want {
        return Err(TileError::WrongTileLength {
            tile: tile.to_path(),
            got: data.len(),
            want,
        });
    }
    let not_in = || TileError::NodeNotInTile {
        level: node.level,
        index: node.index,
        tile: tile.to_path(),
    };
    if node.level < base_level || node.level - base_level > TILE_HEIGHT {
        return Err(not_in());
    }
    let r = u32::from(node.level - base_level);
    // Positions of the node's hashes inside the tile: [k·2^r - N·256, (k+1)·2^r - N·256).
    let tile_start = u128::from(tile.index) * u128::from(TILE_WIDTH);
    let first = u128::from(node.index) << r;
    let end = (u128::from(node.index) + 1) << r;
    if first < tile_start || end > tile_start + u128::from(tile.width) {
        return Err(not_in());
    }
    let lo = (first - tile_start) as usize;
    let hi = (end - tile_start) as usize;
    let mut level: Vec<Hash> = data[lo * HASH_SIZE..hi * HASH_SIZE]
        .chunks_exact(HASH_SIZE)
        .map(|c| Hash::from_slice(c).expect("chunks of HASH_SIZE"))
        .collect();
    // A complete subtree: pair up, SHA-256(0x01 || left || right), until one hash is left.
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    Ok(level[0])
}

/// TileHashReader is a [`HashReader`] over hash tiles fetched from a tiled log, so that a
/// client holding only tiles can compute tree roots and proofs with
/// [`crate::core::merkle::tree_root`], [`crate::core::proof::prove_inclusion`] and
/// [`crate::core::proof::prove_consistency`].
///
/// It does not authenticate tiles: compare the root it yields with a verified checkpoint's
/// root, and verify every proof against that root.
#[derive(Debug, Clone, Default)]
pub struct TileHashReader {
    /// The widest tile known for each (tile level, tile index), with its data.
    tiles: BTreeMap<(u8, u64), (TilePath, Vec<u8>)>,
}

impl TileHashReader {
    /// Returns a reader with no tiles.
    pub fn new() -> TileHashReader {
        TileHashReader::default()
    }

    /// Adds a fetched hash tile, checking that its data is `32 · width` bytes. A wider tile
    /// with the same level and index replaces a narrower one.
    pub fn insert(&mut self, tile: TilePath, data: Vec<u8>) -> Result<(), TileError> {
        let TileKind::Hash(level) = tile.kind else {
            return Err(TileError::NotAHashTile(tile.to_path()));
        };
        let want = usize::from(tile.width) * HASH_SIZE;
        if data.len() != want {
            return Err(TileError::WrongTileLength {
                tile: tile.to_path(),
                got: data.len(),
                want,
            });
        }
        let slot = self
            .tiles
            .entry((level, tile.index))
            .or_insert((tile, Vec::new()));
        if slot.1.is_empty() || tile.width > slot.0.width {
            *slot = (tile, data);
        }
        Ok(())
    }

    /// Returns the number of tiles held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Reports whether the reader holds no tiles.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    fn hash_of(&self, node: NodeId) -> Result<Hash, HashReadError> {
        let missing = || {
            HashReadError(format!(
                "no tile holds the stored hash at level {} index {}",
                node.level, node.index
            ))
        };
        let need = tile_for_node(node).ok_or_else(missing)?;
        let level = need.tree_level().expect("hash tile") / TILE_HEIGHT;
        let (tile, data) = self.tiles.get(&(level, need.index)).ok_or_else(missing)?;
        if tile.width < need.width {
            return Err(missing());
        }
        hash_from_tile(tile, data, node).map_err(|e| HashReadError(e.to_string()))
    }
}

impl HashReader for TileHashReader {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError> {
        nodes.iter().map(|&n| self.hash_of(n)).collect()
    }
}

/// Encodes an entry bundle: each entry as a big-endian `uint16` length then its bytes (C2SP
/// tlog-tiles § Log entries). A bundle holds 1..=256 entries of at most [`MAX_ENTRY_SIZE`]
/// bytes.
pub fn encode_entry_bundle(entries: &[impl AsRef<[u8]>]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::BadEntryCount {
            count: entries.len(),
        });
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| 2 + e.as_ref().len()).sum());
    for (position, entry) in entries.iter().enumerate() {
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge {
            position,
            len: entry.len(),
            max: MAX_ENTRY_SIZE,
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Parses an entry bundle into its entries, borrowing from `data`. Rejects a bundle larger
/// than [`MAX_ENTRY_BUNDLE_SIZE`] (before reading it), an empty bundle, more than 256
/// entries, and a bundle that ends inside a length or an entry (trailing bytes).
pub fn parse_entry_bundle(data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    if data.len() > MAX_ENTRY_BUNDLE_SIZE {
        return Err(TileError::BundleTooLarge {
            len: data.len(),
            max: MAX_ENTRY_BUNDLE_SIZE,
        });
    }
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let position = entries.len();
        if position == usize::from(TILE_WIDTH) {
            return Err(TileError::BadEntryCount {
                count: position + 1,
            });
        }
        let rest = &data[offset..];
        if rest.len() < 2 {
            return Err(TileError::TruncatedBundle {
                offset,
                position,
                needed: 2 - rest.len(),
            });
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if rest.len() - 2 < len {
            return Err(TileError::TruncatedBundle {
                offset,
                position,
                needed: len - (rest.len() - 2),
            });
        }
        entries.push(&rest[2..2 + len]);
        offset += 2 + len;
    }
    if entries.is_empty() {
        return Err(TileError::BadEntryCount { count: 0 });
    }
    Ok(entries)
}
