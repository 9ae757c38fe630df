//! TODO module chain
