//! Shared fan-out chunks: a frame fanned out to many connections is copied
//! once into an append-only chunk, and every connection queues a reference
//! to its byte range instead of a copy (see `super::outq`). Consecutive
//! frames of one room land next to each other, so a subscriber's queue holds
//! one range per burst, written with one `writev`.
//!
//! Safety model: a [`Chunk`] is an allocation whose bytes `[0, len)` never
//! change once handed out as a [`Slice`]; only the one [`ChunkWriter`]
//! (unique, `&mut self`) writes, and only past `len`. A chunk is rewound to
//! 0 only when the writer holds the sole reference (`Arc::get_mut`).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::Arc;

/// Capacity of a regular chunk; larger frames get a chunk of their own.
pub const CHUNK: usize = 64 * 1024;
/// Retired chunks (still referenced when the writer moved on) kept for reuse.
const SPARE: usize = 4;

/// One fixed-size allocation (never reallocated, so slices stay valid).
pub struct Chunk {
    ptr: NonNull<u8>,
    cap: usize,
}

// The bytes are only written through the unique `ChunkWriter`, past every
// range handed out, and read through `Slice`s of already written ranges.
unsafe impl Send for Chunk {}
unsafe impl Sync for Chunk {}

impl Chunk {
    fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        let layout = Layout::array::<u8>(cap).expect("chunk size");
        // SAFETY: layout has a non-zero size.
        let ptr = unsafe { alloc(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout));
        Chunk { ptr, cap }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let layout = Layout::array::<u8>(self.cap).expect("chunk size");
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

/// A written, immutable byte range of a chunk.
#[derive(Clone)]
pub struct Slice {
    chunk: Arc<Chunk>,
    start: u32,
    end: u32,
}

impl Slice {
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: [start, end) was written before this slice was made and is
        // never written again while a reference to the chunk exists.
        unsafe {
            std::slice::from_raw_parts(
                self.chunk.ptr.as_ptr().add(self.start as usize),
                (self.end - self.start) as usize,
            )
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Extend `self` by `next` when `next` starts where `self` ends in the
    /// same chunk (consecutive frames of a burst). `true` if merged.
    pub fn merge(&mut self, next: &Slice) -> bool {
        if self.end == next.start && Arc::ptr_eq(&self.chunk, &next.chunk) {
            self.end = next.end;
            true
        } else {
            false
        }
    }
}

/// Appends frames to the current chunk; hands out slices of them.
pub struct ChunkWriter {
    chunk: Option<Arc<Chunk>>,
    len: usize,
    spare: Vec<Arc<Chunk>>,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    pub const fn new() -> Self {
        ChunkWriter {
            chunk: None,
            len: 0,
            spare: Vec::new(),
        }
    }

    /// Copy `data` into the chunk and return its slice.
    pub fn append(&mut self, data: &[u8]) -> Slice {
        assert!(
            data.len() <= u32::MAX as usize / 2,
            "frame too large to share"
        );
        self.make_room(data.len());
        let chunk = self.chunk.as_ref().expect("a chunk after make_room");
        let start = self.len;
        // SAFETY: make_room guarantees start + data.len() <= cap, and bytes
        // past `len` are not part of any slice.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), chunk.ptr.as_ptr().add(start), data.len());
        }
        self.len += data.len();
        Slice {
            chunk: Arc::clone(chunk),
            start: start as u32,
            end: self.len as u32,
        }
    }

    fn make_room(&mut self, need: usize) {
        if let Some(c) = self.chunk.as_mut() {
            if Arc::get_mut(c).is_some() {
                // Nobody references it any more: start over at the front.
                self.len = 0;
            }
            // (a one-off chunk of a large frame is not kept for small ones)
            let oversized = c.cap > CHUNK && need <= CHUNK;
            if !oversized && self.len + need <= c.cap {
                return;
            }
            let old = self.chunk.take().expect("checked above");
            if old.cap == CHUNK && self.spare.len() < SPARE {
                self.spare.push(old);
            }
        }
        self.len = 0;
        if need > CHUNK {
            self.chunk = Some(Arc::new(Chunk::new(need)));
            return;
        }
        // A retired chunk every slice of which has been written and dropped.
        if let Some(i) = self
            .spare
            .iter_mut()
            .position(|c| Arc::get_mut(c).is_some())
        {
            self.chunk = Some(self.spare.swap_remove(i));
            return;
        }
        self.chunk = Some(Arc::new(Chunk::new(CHUNK)));
    }

    /// Bytes held by this writer's chunks (current and spare).
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        self.chunk.iter().chain(&self.spare).map(|c| c.cap).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_appends_merge() {
        let mut w = ChunkWriter::new();
        let mut a = w.append(b"hello ");
        let b = w.append(b"world");
        assert!(a.merge(&b));
        assert_eq!(a.as_bytes(), b"hello world");
    }

    #[test]
    fn written_bytes_never_change() {
        let mut w = ChunkWriter::new();
        let keep: Vec<Slice> = (0..10_000u32)
            .map(|i| w.append(format!("frame {i};").as_bytes()))
            .collect();
        for (i, s) in keep.iter().enumerate() {
            assert_eq!(s.as_bytes(), format!("frame {i};").as_bytes());
        }
        // more than one chunk was needed, and slices of different chunks
        // do not merge
        let mut first = keep[0].clone();
        assert!(!first.merge(keep.last().unwrap()));
    }

    #[test]
    fn unreferenced_chunk_is_rewound_and_reused() {
        let mut w = ChunkWriter::new();
        let s = w.append(&[1u8; 1000]);
        let p = s.as_bytes().as_ptr();
        drop(s);
        let t = w.append(&[2u8; 10]);
        assert_eq!(t.as_bytes().as_ptr(), p, "rewound to the front");
        assert_eq!(t.as_bytes(), &[2u8; 10]);
        assert_eq!(w.held_bytes(), CHUNK);
    }

    #[test]
    fn full_chunk_retires_and_spares_are_reused() {
        let mut w = ChunkWriter::new();
        let held = w.append(&[7u8; CHUNK - 10]);
        let first = held.as_bytes().as_ptr();
        // does not fit: a new chunk; the old one is retired, still valid
        let next = w.append(&[8u8; 100]);
        assert_eq!(held.as_bytes(), &[7u8; CHUNK - 10][..]);
        assert_eq!(w.held_bytes(), 2 * CHUNK);
        drop(held);
        // the current one is referenced and too full: the spare comes back
        let fill = w.append(&[9u8; CHUNK - 99]);
        assert_eq!(fill.as_bytes().as_ptr(), first);
        assert_eq!(next.as_bytes(), &[8u8; 100]);
        assert_eq!(w.held_bytes(), 2 * CHUNK);
    }

    #[test]
    fn large_frame_gets_its_own_chunk() {
        let mut w = ChunkWriter::new();
        let big = vec![5u8; 3 * CHUNK];
        let s = w.append(&big);
        assert_eq!(s.as_bytes(), &big[..]);
        let small = w.append(b"x");
        assert_eq!(small.as_bytes(), b"x");
        drop(s);
        // the one-off chunk is not kept as a spare
        assert_eq!(w.held_bytes(), CHUNK);
    }

    #[test]
    fn unreferenced_large_chunk_is_not_kept_for_small_frames() {
        let mut w = ChunkWriter::new();
        drop(w.append(&vec![1u8; 4 * CHUNK]));
        assert_eq!(w.held_bytes(), 4 * CHUNK);
        // unreferenced, but a small frame does not rewind it: it is freed
        assert_eq!(w.append(b"small").as_bytes(), b"small");
        assert_eq!(w.held_bytes(), CHUNK);
        // while a large frame that fits may reuse a large chunk
        drop(w.append(&vec![2u8; 2 * CHUNK]));
        let again = w.append(&vec![3u8; 2 * CHUNK]);
        assert_eq!(again.len(), 2 * CHUNK);
        // (the regular chunk went to the spares when the large frame came)
        assert_eq!(w.held_bytes(), CHUNK + 2 * CHUNK);
    }
}
