//! TODO module cosignature
