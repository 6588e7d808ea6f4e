//! fat12 writer
