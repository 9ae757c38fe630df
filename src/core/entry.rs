//! TODO module entry
