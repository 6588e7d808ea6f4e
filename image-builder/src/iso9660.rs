//! iso9660 writer
