//! A connection's outbound queue, in order: bytes it owns (handshake
//! replies, echoes, control frames, frames compressed for it alone) and
//! shared slices of fan-out chunks ([`super::chunk`]). Owned bytes are
//! written into `tail`; a shared slice closes the tail into a segment and
//! merges with the previous slice when it continues it. One flush writes
//! the segments with `writev`.
//!
//! A connection that cannot take everything (its socket is full) must not
//! pin shared chunks: [`OutQueue::spill`] copies its shared slices into
//! owned bytes, so chunks are only held from a fan-out to the flush at the
//! end of the same loop iteration.

use std::collections::VecDeque;
use std::io::IoSlice;

use super::chunk::Slice;

/// Owned buffers larger than this are freed once written.
pub const KEEP_OUT: usize = 16 * 1024;
/// Segment queues with more capacity than this are freed once written.
const KEEP_SEGS: usize = 16;
/// iovecs per `writev`.
pub const MAX_IOV: usize = 64;

enum Seg {
    Own(Vec<u8>),
    Shared(Slice),
}

impl Seg {
    fn bytes(&self) -> &[u8] {
        match self {
            Seg::Own(v) => v,
            Seg::Shared(s) => s.as_bytes(),
        }
    }
}

#[derive(Default)]
pub struct OutQueue {
    segs: VecDeque<Seg>,
    /// Owned bytes after every segment; where new owned bytes go.
    tail: Vec<u8>,
    /// Bytes of the front (the first segment, or `tail` without one) written.
    pos: usize,
    /// Total length of `segs`.
    seg_bytes: usize,
}

impl OutQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffer to append owned bytes (frames, responses) to.
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.tail
    }

    /// Bytes queued and not yet written.
    #[inline]
    pub fn len(&self) -> usize {
        self.seg_bytes + self.tail.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queue a shared slice after everything queued so far.
    pub fn push_shared(&mut self, s: &Slice) {
        if s.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            // (without segments `pos` counted into the tail; it now counts
            // into the same bytes as the front segment)
            let t = std::mem::take(&mut self.tail);
            self.seg_bytes += t.len();
            self.segs.push_back(Seg::Own(t));
        }
        self.seg_bytes += s.len();
        if let Some(Seg::Shared(last)) = self.segs.back_mut() {
            if last.merge(s) {
                return;
            }
        }
        self.segs.push_back(Seg::Shared(s.clone()));
    }

    /// Fill `iov` with the unwritten bytes, front first; returns how many.
    pub fn iovecs<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> usize {
        let mut k = 0;
        let mut skip = self.pos;
        let segs = self.segs.iter().map(Seg::bytes);
        for b in segs.chain(std::iter::once(&self.tail[..])) {
            if k == iov.len() {
                break;
            }
            let b = &b[skip..];
            skip = 0;
            if !b.is_empty() {
                iov[k] = IoSlice::new(b);
                k += 1;
            }
        }
        k
    }

    /// `n` bytes from the front were written.
    pub fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.segs.front() else {
                self.pos += n;
                debug_assert!(self.pos <= self.tail.len());
                break;
            };
            let left = front.bytes().len() - self.pos;
            if n < left {
                self.pos += n;
                break;
            }
            n -= left;
            self.seg_bytes -= front.bytes().len();
            self.segs.pop_front();
            self.pos = 0;
        }
        if self.is_empty() {
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.pos = 0;
        self.seg_bytes = 0;
        self.segs.clear();
        if self.segs.capacity() > KEEP_SEGS {
            self.segs = VecDeque::new();
        }
        if self.tail.capacity() > KEEP_OUT {
            self.tail = Vec::new();
        } else {
            self.tail.clear();
        }
    }

    /// Copy every shared slice into owned bytes (the connection is backed
    /// up: it must not keep fan-out chunks alive).
    pub fn spill(&mut self) {
        if !self.segs.iter().any(|s| matches!(s, Seg::Shared(_))) {
            return;
        }
        let old = std::mem::take(&mut self.segs);
        for seg in old {
            match (seg, self.segs.back_mut()) {
                (Seg::Shared(s), Some(Seg::Own(prev))) => prev.extend_from_slice(s.as_bytes()),
                (Seg::Shared(s), _) => self.segs.push_back(Seg::Own(s.as_bytes().to_vec())),
                (own, _) => self.segs.push_back(own),
            }
        }
    }

    /// Shared slices queued.
    #[cfg(test)]
    pub fn shared_segments(&self) -> usize {
        self.segs
            .iter()
            .filter(|s| matches!(s, Seg::Shared(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::chunk::ChunkWriter;
    use super::*;

    fn drain(q: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while !q.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let k = q.iovecs(&mut iov);
            assert!(k > 0);
            // a short write: at most `step` bytes
            let mut n = 0;
            for s in &iov[..k] {
                let take = (step - n).min(s.len());
                got.extend_from_slice(&s[..take]);
                n += take;
                if n == step {
                    break;
                }
            }
            q.consume(n);
        }
        got
    }

    #[test]
    fn order_is_kept_and_bursts_merge() {
        let mut w = ChunkWriter::new();
        let mut q = OutQueue::new();
        q.buf().extend_from_slice(b"<own1>");
        for i in 0..300 {
            q.push_shared(&w.append(format!("[{i}]").as_bytes()));
        }
        assert_eq!(q.shared_segments(), 1, "one burst, one slice");
        q.buf().extend_from_slice(b"<own2>");
        q.push_shared(&w.append(b"[last]"));
        let mut want = b"<own1>".to_vec();
        for i in 0..300 {
            want.extend_from_slice(format!("[{i}]").as_bytes());
        }
        want.extend_from_slice(b"<own2>[last]");
        assert_eq!(q.len(), want.len());
        for step in [1, 3, 7, 1000, 1 << 20] {
            let mut q2 = OutQueue::new();
            q2.buf().extend_from_slice(b"<own1>");
            let mut w2 = ChunkWriter::new();
            for i in 0..300 {
                q2.push_shared(&w2.append(format!("[{i}]").as_bytes()));
            }
            q2.buf().extend_from_slice(b"<own2>");
            q2.push_shared(&w2.append(b"[last]"));
            assert_eq!(drain(&mut q2, step), want, "step {step}");
            assert_eq!(q2.len(), 0);
        }
        assert_eq!(drain(&mut q, 5), want);
    }

    #[test]
    fn partial_tail_write_then_shared() {
        let mut w = ChunkWriter::new();
        let mut q = OutQueue::new();
        q.buf().extend_from_slice(b"abcdef");
        q.consume(2);
        assert_eq!(q.len(), 4);
        q.push_shared(&w.append(b"XYZ"));
        assert_eq!(q.len(), 7);
        assert_eq!(drain(&mut q, 2), b"cdefXYZ");
    }

    #[test]
    fn spill_copies_and_releases_chunks() {
        let mut w = ChunkWriter::new();
        let mut q = OutQueue::new();
        let first = w.append(b"one ");
        let front = first.as_bytes().as_ptr();
        q.push_shared(&first);
        drop(first);
        q.consume(2);
        q.buf().extend_from_slice(b"two ");
        q.push_shared(&w.append(b"three"));
        q.spill();
        assert_eq!(q.shared_segments(), 0);
        assert_eq!(q.len(), 11);
        // the writer's chunk is unreferenced again: rewound to the front
        assert_eq!(w.append(b"!").as_bytes().as_ptr(), front);
        assert_eq!(drain(&mut q, 4), b"e two three");
    }

    #[test]
    fn empty_after_writes_frees_big_buffers() {
        let mut q = OutQueue::new();
        q.buf().extend_from_slice(&vec![0u8; 4 * KEEP_OUT]);
        let n = q.len();
        q.consume(n);
        assert!(q.is_empty());
        assert_eq!(q.buf().capacity(), 0);
    }
}
