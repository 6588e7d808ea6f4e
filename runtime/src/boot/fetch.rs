//! A file on its way into memory. Every file of a boot goes through [`FileSink`], whatever
//! fetches it (TFTP today; an HTTP client writes to the same `Sink`), so that the composition
//! lives here only: the file's first bytes decide the rest.
//!
//! - **gzip and xz** are inflated as they arrive (`netloader_proto::decompress`), unless the
//!   config says `--nounzip` or the file is an initrd: a kernel's header is then searched in
//!   the inflated bytes, a module's hash is that of what it inflates to.
//! - **Anything else** is copied as it arrives, with its CRC-32 in the same pass.
//!
//! Either way the CRC-32 (and, when the config gives one, the SHA-256) is that of the file as
//! fetched, what `crc32` and `sha256sum` say of it on the server.
//!
//! The decoders' state (`Scratch`: inflate ~11 KB, xz ~32 KB) and an xz file's dictionary (as
//! large as its first block says: 8 MiB for `xz -6`) take one block of upper memory for the
//! time of the transfer: from the load planner above 1 MiB, as high as it goes, for a file the
//! planner places; from the end of its own area for a file given an area (the kernel's
//! download area, where no planner is at hand and a second one would not fit the stack). The
//! runtime's own memory below 640 KiB has no room for them, and its 96 KiB stack must not carry
//! them: they are built in place.

#[cfg(feature = "unzip")]
use core::mem::MaybeUninit;
use core::ops::Range;

#[cfg(feature = "unzip")]
use netloader_proto::crc32::Crc32;
use netloader_proto::decompress::Format;
#[cfg(feature = "unzip")]
use netloader_proto::decompress::{
    DecompressError, DecompressSink, Scratch, XzDictionary, xz_dictionary_size,
};
use netloader_proto::planner::{self, PlanError, Request, Use};
use netloader_proto::tftp::{Sink, SinkError};
use sha2::{Digest, Sha256};

use super::plan::{PAGE, Planner, align_up};
use super::{Failure, fail};
use crate::download::MemorySink;

/// Where a file's bytes (inflated, if it is compressed) go.
pub enum Destination<'p> {
    /// Exactly this memory, already set aside (the kernel download area, an initrd's block).
    Area(Range<u64>),
    /// A place `plan` finds above `min`, reserved as `what` and cut down to the file: exactly
    /// the announced size (TFTP tsize) for a file copied as it is, else the largest free block.
    Planned {
        plan: &'p mut Planner,
        what: Use,
        min: u64,
    },
}

/// What arrived.
pub struct Fetched {
    /// The bytes in memory (inflated, for a compressed file).
    pub memory: MemorySink,
    pub format: Format,
    /// The file as fetched: its length, CRC-32, and SHA-256 when one was asked for.
    pub fetched_len: u64,
    pub crc32: u32,
    pub sha256: Option<[u8; 32]>,
}

/// Why the sink refused the file (the transfer then stops, and the sink keeps this).
#[derive(Clone, Copy, Debug)]
pub enum Refusal {
    /// No memory for the file: it needs `needed` bytes (at least), `capacity` were free.
    TooLarge { needed: u64, capacity: u64 },
    #[cfg(feature = "unzip")]
    Decompress(DecompressError),
    /// A compressed file, and this netloader has no decompression in it.
    #[cfg_attr(feature = "unzip", allow(dead_code))]
    NotBuilt(Format),
}

impl Refusal {
    fn sink_error(self) -> SinkError {
        match self {
            Refusal::TooLarge { needed, capacity } => SinkError::TooLarge { needed, capacity },
            #[cfg(feature = "unzip")]
            Refusal::Decompress(e) => SinkError::Refused(e.code()),
            Refusal::NotBuilt(_) => SinkError::Refused("E-UNZIP-NOTBUILT"),
        }
    }

    /// The failure line for `path`; `too_large` is the code for a file that has no room
    /// (each kind of file has its own).
    pub fn failure(self, path: &str, too_large: &'static str) -> Failure {
        match self {
            Refusal::TooLarge { needed, capacity } => fail!(
                too_large,
                "{path}: it does not fit in the {} KiB of memory left for it (the file needs {needed} bytes)",
                capacity / 1024
            ),
            #[cfg(feature = "unzip")]
            Refusal::Decompress(e) => fail!(e.code(), "{path}: {e}: {}", e.advice()),
            Refusal::NotBuilt(format) => fail!(
                "E-UNZIP-NOTBUILT",
                "{path} is {}-compressed, and this netloader was built without decompression (a --standalone option ROM): serve the file uncompressed, or start netloader.pxe from the ROM",
                format.name()
            ),
        }
    }
}

/// Bytes kept until the format (and an xz file's dictionary size) is known. TFTP's first
/// block (512 bytes or more) holds them; only a tiny file or tiny pieces are collected here.
const PREFIX: usize = 32;
/// An xz file whose first block header does not say (within the first piece) gets the
/// dictionary of `xz -6`, xz's default; a stream that needs more is refused by name.
#[cfg(feature = "unzip")]
const DEFAULT_XZ_DICTIONARY: u64 = 8 << 20;
/// The stack the decoders are built on (see [`build_scratch`]).
#[cfg(feature = "unzip")]
const BUILD_STACK: u64 = 96 * 1024;

enum State {
    Detect {
        prefix: [u8; PREFIX],
        len: usize,
    },
    Plain(MemorySink),
    #[cfg(feature = "unzip")]
    Inflate(Inflate),
}

/// A compressed file being inflated into `output`, with the decoders in `scratch_block`
/// (empty once given back).
#[cfg(feature = "unzip")]
struct Inflate {
    sink: DecompressSink<'static, 'static>,
    output: u64,
    scratch_block: Range<u64>,
    crc: Crc32,
}

/// The sink every boot file is fetched into (see the module docs).
pub struct FileSink<'p> {
    destination: Destination<'p>,
    unzip: bool,
    announced: Option<u64>,
    fetched_len: u64,
    hasher: Option<Sha256>,
    state: State,
    refusal: Option<Refusal>,
}

impl<'p> FileSink<'p> {
    /// `unzip`: inflate gzip and xz files (false for `--nounzip` and initrd files);
    /// `sha256`: hash the file as fetched.
    pub fn new(destination: Destination<'p>, unzip: bool, sha256: bool) -> Self {
        FileSink {
            destination,
            unzip,
            announced: None,
            fetched_len: 0,
            hasher: sha256.then(Sha256::new),
            state: State::Detect {
                prefix: [0; PREFIX],
                len: 0,
            },
            refusal: None,
        }
    }

    /// Why the file was refused, if the sink refused it.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }

    /// After a transfer that failed: the decoders' block goes back.
    pub fn abandon(mut self) {
        self.release_scratch();
    }

    /// After the transfer: the file in memory, its reservation (if planned) cut down to it and
    /// the decoders' block given back.
    pub fn finish(mut self) -> Result<Fetched, Refusal> {
        if let State::Detect { prefix, len } = self.state {
            // The file ended before its first bytes told anything: a (tiny) file as it is.
            let _ = self
                .decide(&prefix[..len], &prefix[..len], true)
                .and_then(|_| self.forward(&prefix[..len]));
        }
        if let Some(refusal) = self.refusal {
            self.release_scratch();
            return Err(refusal);
        }
        let sha256 = self.hasher.take().map(|h| h.finalize().into());
        let decided = State::Detect {
            prefix: [0; PREFIX],
            len: 0,
        };
        let (memory, format) = match core::mem::replace(&mut self.state, decided) {
            State::Detect { .. } => unreachable!("decided above"),
            State::Plain(memory) => (memory, Format::Plain),
            #[cfg(feature = "unzip")]
            State::Inflate(mut inflate) => {
                let summary = inflate.sink.finish();
                // The decoders' memory goes back whatever the outcome.
                let block = core::mem::replace(&mut inflate.scratch_block, 0..0);
                self.give_back(block);
                let summary = summary.map_err(Refusal::Decompress)?;
                // SAFETY: the output is RAM the destination set aside for this file; the
                // decoder wrote its first `output_len` bytes.
                let memory = unsafe {
                    MemorySink::holding(inflate.output, summary.output_len as u64, inflate.crc)
                };
                (memory, summary.format)
            }
        };
        if let Destination::Planned { plan, what, .. } = &mut self.destination {
            // A page for an empty file, so that each file has an address of its own.
            let end = memory.start() + memory.len().max(1);
            plan.shrink(*what, memory.start(), end);
        }
        Ok(Fetched {
            crc32: memory.crc32(),
            memory,
            format,
            fetched_len: self.fetched_len,
            sha256,
        })
    }

    /// Gives the decoders' block back (once: the state forgets it).
    fn release_scratch(&mut self) {
        #[cfg(feature = "unzip")]
        if let State::Inflate(inflate) = &mut self.state {
            let block = core::mem::replace(&mut inflate.scratch_block, 0..0);
            self.give_back(block);
        }
    }

    /// A decoders' block from the planner goes back to it (one from an area needs nothing).
    #[cfg(feature = "unzip")]
    fn give_back(&mut self, block: Range<u64>) {
        if let Destination::Planned { plan, .. } = &mut self.destination
            && block.start < block.end
        {
            plan.shrink(Use::LoaderBuffer, block.start, block.start);
        }
    }

    fn refuse<T>(&mut self, refusal: Refusal) -> Result<T, SinkError> {
        self.refusal = Some(refusal);
        Err(refusal.sink_error())
    }

    /// Chooses what to do with the file from its first bytes (`seen`; `first`: the whole first
    /// piece when nothing was kept before it); `last`: no more bytes will come to decide with.
    /// Ok(false): not yet.
    fn decide(&mut self, seen: &[u8], first: &[u8], last: bool) -> Result<bool, SinkError> {
        let format = match Format::detect(seen) {
            Some(format) => format,
            None if last => Format::Plain,
            None => return Ok(false),
        };
        if format == Format::Plain || !self.unzip {
            return self.open_plain().map(|()| true);
        }
        #[cfg(feature = "unzip")]
        {
            let dictionary = match format {
                Format::Xz => match (xz_dictionary_size(first), xz_dictionary_size(seen)) {
                    (XzDictionary::Size(size), _) | (_, XzDictionary::Size(size)) => Some(size),
                    (_, XzDictionary::NeedMore) if !last => return Ok(false),
                    _ => Some(DEFAULT_XZ_DICTIONARY),
                },
                _ => None,
            };
            self.open_inflate(dictionary).map(|()| true)
        }
        #[cfg(not(feature = "unzip"))]
        {
            let _ = first;
            self.refuse(Refusal::NotBuilt(format))
        }
    }

    /// The output memory, `size` bytes when known: the area, or (planned) exactly that much at
    /// the lowest page above `min`, or the largest free block there.
    fn take_output(&mut self, size: Option<u64>) -> Result<Range<u64>, SinkError> {
        let place = match &mut self.destination {
            Destination::Area(area) => return Ok(area.clone()),
            Destination::Planned { plan, what, min } => match size {
                Some(size) => plan
                    .place(Request::pages(*what, size.max(1)).above(*min))
                    .map_err(|e| too_large(size, e)),
                None => match plan
                    .largest_free(align_up(*min, PAGE)..planner::LIMIT)
                    .map(|block| align_up(block.start, PAGE)..block.end)
                    .filter(|block| block.start < block.end)
                {
                    Some(block) => plan
                        .reserve(block.clone(), *what)
                        .map(|_| block)
                        .map_err(|e| too_large(1, e)),
                    None => Err(Refusal::TooLarge {
                        needed: 1,
                        capacity: 0,
                    }),
                },
            },
        };
        place.or_else(|refusal| self.refuse(refusal))
    }

    fn open_plain(&mut self) -> Result<(), SinkError> {
        let output = self.take_output(self.announced)?;
        let capacity = output.end - output.start;
        if let Some(needed) = self.announced.filter(|&size| size > capacity) {
            return self.refuse(Refusal::TooLarge { needed, capacity });
        }
        // SAFETY: the area was set aside by the caller, or the planner just reserved it: RAM
        // below 4 GiB (identity-mapped) that nothing else uses.
        self.state = State::Plain(unsafe { MemorySink::new(output.start, capacity) });
        Ok(())
    }

    /// The decoders' block (with `dictionary` bytes of xz dictionary in it), then the output;
    /// starts inflating.
    #[cfg(feature = "unzip")]
    fn open_inflate(&mut self, dictionary: Option<u64>) -> Result<(), SinkError> {
        const MIB: u64 = 1 << 20;
        let state_len = align_up(core::mem::size_of::<Scratch<'static>>() as u64, PAGE);
        let dictionary_len = dictionary.map(|size| align_up(size.max(1), PAGE));
        let block_len = state_len + BUILD_STACK + dictionary_len.unwrap_or(0);
        let no_room = |largest: u64| {
            Refusal::Decompress(DecompressError::DictionaryTooSmall {
                needed: dictionary,
                have: largest.saturating_sub(state_len),
            })
        };
        let block = match &mut self.destination {
            Destination::Area(area) => {
                // The end of the area; the file gets the rest.
                let start = area.end.saturating_sub(block_len) & !(PAGE - 1);
                if start < area.start.saturating_add(PAGE) {
                    let room = area.end - area.start;
                    return self.refuse(no_room(room));
                }
                area.end = start;
                start..start + block_len
            }
            Destination::Planned { plan, .. } => {
                let request = Request::pages(Use::LoaderBuffer, block_len)
                    .above(MIB)
                    .highest();
                match plan.place(request) {
                    Ok(block) => block,
                    Err(e) => {
                        let largest = match e {
                            PlanError::NoRoom { largest, .. } => largest,
                            _ => 0,
                        };
                        return self.refuse(no_room(largest));
                    }
                }
            }
        };
        let output = match self.take_output(None) {
            Ok(output) => output,
            Err(e) => {
                self.give_back(block);
                return Err(e);
            }
        };
        // SAFETY: `block` is this file's alone until `finish` gives it back: RAM above 1 MiB
        // (identity-mapped; page-aligned, so aligned for `Scratch`): the decoder state, the
        // stack it is built on, then the dictionary.
        let (slot, dictionary) = unsafe {
            (
                &mut *(block.start as *mut MaybeUninit<Scratch<'static>>),
                dictionary_len.map(|len| {
                    core::slice::from_raw_parts_mut(
                        (block.start + state_len + BUILD_STACK) as *mut u8,
                        len as usize,
                    )
                }),
            )
        };
        let mut built = None;
        let stack_top = block.start + state_len + BUILD_STACK;
        // SAFETY: the stack is the block's part between the state and the dictionary, used by
        // nothing else; BUILD_STACK is well over what building the decoders takes (~60 KB).
        unsafe {
            crate::arch::on_stack(stack_top, || {
                built = Some(build_scratch(slot, dictionary));
            })
        };
        let Some(scratch) = built else {
            unreachable!("on_stack runs its function");
        };
        // SAFETY: as in `open_plain`: memory set aside for this file, used by nothing else.
        let place = unsafe {
            core::slice::from_raw_parts_mut(
                output.start as *mut u8,
                (output.end - output.start) as usize,
            )
        };
        self.state = State::Inflate(Inflate {
            sink: DecompressSink::new(place, scratch),
            output: output.start,
            scratch_block: block,
            crc: Crc32::new(),
        });
        Ok(())
    }

    /// Hands `data` (the next bytes of the file) to the decided state.
    fn forward(&mut self, data: &[u8]) -> Result<(), SinkError> {
        let offset = self.fetched_len;
        let refused = match &mut self.state {
            State::Detect { .. } => unreachable!("forward after decide"),
            State::Plain(sink) => sink.write_at(offset, data).err().map(|e| match e {
                SinkError::TooLarge { needed, capacity } => Refusal::TooLarge { needed, capacity },
                SinkError::Refused(_) => Refusal::TooLarge {
                    needed: offset + data.len() as u64,
                    capacity: 0,
                },
            }),
            #[cfg(feature = "unzip")]
            State::Inflate(inflate) => {
                inflate.crc.update(data);
                inflate.sink.push(data).err().map(Refusal::Decompress)
            }
        };
        if let Some(refusal) = refused {
            return self.refuse(refusal);
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(data);
        }
        self.fetched_len += data.len() as u64;
        Ok(())
    }
}

/// The decoders, built into `slot` (on a stack of their own: the values pass through frames of
/// ~60 KB).
#[cfg(feature = "unzip")]
#[inline(never)]
fn build_scratch(
    slot: &'static mut MaybeUninit<Scratch<'static>>,
    dictionary: Option<&'static mut [u8]>,
) -> &'static mut Scratch<'static> {
    match dictionary {
        Some(dictionary) => slot.write(Scratch::with_xz_dictionary(dictionary)),
        None => slot.write(Scratch::new()),
    }
}

fn too_large(needed: u64, e: PlanError) -> Refusal {
    Refusal::TooLarge {
        needed,
        capacity: match e {
            PlanError::NoRoom { largest, .. } => largest,
            _ => 0,
        },
    }
}

impl Sink for FileSink<'_> {
    fn size_hint(&mut self, size: u64) -> Result<(), SinkError> {
        self.announced = Some(size);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        if offset != self.fetched_len {
            return Err(SinkError::Refused("bytes out of order"));
        }
        let State::Detect { prefix, len } = &mut self.state else {
            return self.forward(data);
        };
        let kept = *len;
        let take = (PREFIX - kept).min(data.len());
        prefix[kept..kept + take].copy_from_slice(&data[..take]);
        *len += take;
        let (prefix, len) = (*prefix, *len);
        // The first piece alone, when nothing was kept before it (TFTP's first block holds
        // all that is needed).
        let first = if kept == 0 { data } else { &prefix[..len] };
        if !self.decide(&prefix[..len], first, len == PREFIX)? {
            // Undecided: everything so far is in `prefix` (fewer than PREFIX bytes).
            return Ok(());
        }
        self.forward(&prefix[..kept])?;
        self.forward(data)
    }
}
