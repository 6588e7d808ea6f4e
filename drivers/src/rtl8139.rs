//! Realtek 8139 (placeholder)
