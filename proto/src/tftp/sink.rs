//! Where downloaded bytes go: a trait the caller implements, and a sink over a byte slice.

use super::error::SinkError;

/// Receives the file as it arrives. The client calls `write_at` in order, without gaps or
/// overlaps (out-of-order blocks are dropped and fetched again), so `offset` always equals
/// the number of bytes written so far; it is given so a sink can check bounds cheaply.
pub trait Sink {
    /// Called once, before any data, when the server announced the file size (tsize).
    /// Refuse here (e.g. `SinkError::TooLarge`) to stop before anything is transferred.
    fn size_hint(&mut self, size: u64) -> Result<(), SinkError> {
        let _ = size;
        Ok(())
    }

    /// Stores `data` at byte `offset` of the file. May be called with empty `data`
    /// (the zero-length last block of a file whose size is a multiple of the block size).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError>;
}

/// A sink that writes into a byte slice and refuses files larger than it.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceSink { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    pub fn data(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn too_large(&self, needed: u64) -> SinkError {
        SinkError::TooLarge {
            needed,
            capacity: self.buf.len() as u64,
        }
    }
}

impl Sink for SliceSink<'_> {
    fn size_hint(&mut self, size: u64) -> Result<(), SinkError> {
        if size > self.buf.len() as u64 {
            return Err(self.too_large(size));
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        let end = offset.saturating_add(data.len() as u64);
        let range = usize::try_from(offset).ok().zip(usize::try_from(end).ok());
        let dst = range.and_then(|(start, end)| self.buf.get_mut(start..end));
        match dst {
            Some(dst) => {
                dst.copy_from_slice(data);
                self.len = self.len.max(end as usize);
                Ok(())
            }
            None => Err(self.too_large(end)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_sink_bounds() {
        let mut buf = [0u8; 8];
        let mut sink = SliceSink::new(&mut buf);
        assert_eq!(
            sink.size_hint(9),
            Err(SinkError::TooLarge {
                needed: 9,
                capacity: 8
            })
        );
        assert_eq!(sink.size_hint(8), Ok(()));
        sink.write_at(0, b"abcd").unwrap();
        sink.write_at(4, b"efgh").unwrap();
        sink.write_at(8, b"").unwrap();
        assert_eq!(
            sink.write_at(8, b"i"),
            Err(SinkError::TooLarge {
                needed: 9,
                capacity: 8
            })
        );
        assert_eq!(
            sink.write_at(u64::MAX, b"i"),
            Err(SinkError::TooLarge {
                needed: u64::MAX,
                capacity: 8
            })
        );
        assert_eq!(sink.data(), b"abcdefgh");
    }
}
