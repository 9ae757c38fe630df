//! TODO module tiles
