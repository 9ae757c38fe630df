//! TODO module tlog_proof
