//! TODO module cbor
