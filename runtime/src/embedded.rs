//! The config `netloader build --config FILE` embeds: a fixed slot in .data that the image
//! builder finds by its marker and fills in (image-builder/src/stage1.rs, `embed_config`).

/// Mirrors image-builder/src/stage1.rs: marker, little-endian length, text.
pub const CAPACITY: usize = 8192;

#[repr(C)]
pub struct Slot {
    marker: [u8; 16],
    len: u32,
    text: [u8; CAPACITY],
}

#[used]
#[unsafe(link_section = ".data.embedded_config")]
static EMBEDDED_CONFIG: Slot = Slot {
    marker: *b"netloader-config",
    len: 0,
    text: [0; CAPACITY],
};

/// The embedded config, if the image carries one.
pub fn config() -> Option<&'static [u8]> {
    // SAFETY: a plain read of our own static; volatile because the builder changes its bytes
    // after compilation, so the compiler must not fold the initial zero length.
    let len = unsafe { core::ptr::read_volatile(&raw const EMBEDDED_CONFIG.len) } as usize;
    let text = &EMBEDDED_CONFIG.text;
    (len > 0).then(|| {
        // SAFETY: volatile for the same reason; the slice stays inside the slot.
        let _ = unsafe { core::ptr::read_volatile(text.as_ptr()) };
        &text[..len.min(CAPACITY)]
    })
}
