//! mbr writer
