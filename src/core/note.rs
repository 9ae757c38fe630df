//! TODO module note
