//! TODO module checkpoint
