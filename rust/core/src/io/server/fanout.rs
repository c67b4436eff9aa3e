//! The hub's outlet: what `hub::Hub` decides, done to the sockets. A
//! message fanned out is framed once, copied once into a shared chunk
//! (`io::chunk`) and queued by reference to every member (`io::outq`; one
//! `writev` per member per loop iteration).

use std::borrow::Cow;
use std::time::Instant;

use slab::Slab;

use super::{SendError, ServerStats};
use crate::hub::{HubEvent, Outlet};
use crate::io::chunk::{ChunkWriter, Slice};
use crate::io::conn::{lock, Conn, Ctx, Framing, State};
use crate::io::endpoint::Kind;
use crate::io::event::Event;
use crate::wire::frame::{encode_frame, OP_TEXT};

/// The server's sockets lent to the hub for one call, field by field (so
/// that the hub, another field of the server, can be borrowed mutably at
/// the same time). Made by `wire!`.
pub(super) struct Wire<'a> {
    pub conns: &'a mut Slab<Conn>,
    pub dirty: &'a mut Vec<usize>,
    pub stats: &'a mut ServerStats,
    /// The frame being fanned out (reused).
    pub frame: &'a mut Vec<u8>,
    pub shared: &'a mut [ChunkWriter; 4],
    pub ctx: Ctx<'a>,
    pub sink: &'a mut dyn FnMut(Event<'_>),
}

impl Wire<'_> {
    fn mark_dirty(&mut self, slot: usize, was_dirty: bool) {
        if !was_dirty {
            self.dirty.push(slot);
        }
    }
}

impl Outlet for Wire<'_> {
    fn now(&self) -> Instant {
        self.ctx.now
    }

    fn is_open(&self, slot: usize) -> bool {
        self.conns.get(slot).is_some_and(|c| c.state == State::Open)
    }

    fn send(&mut self, slot: usize, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let was_dirty = conn.dirty;
        if conn.send(OP_TEXT, data, &self.ctx) == Err(SendError::Overflow) {
            self.stats.overflow_closes += 1;
        }
        self.mark_dirty(slot, was_dirty);
    }

    fn close(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            c.close(1000, "", &self.ctx);
            self.dirty.push(slot);
        }
    }

    fn report(&mut self, event: HubEvent<'_>) {
        let id = |slot: usize| self.conns.get(slot).map(|c| c.id);
        let ev = match event {
            HubEvent::Notify {
                slot,
                namespace,
                room,
                sender,
                message,
            } => id(slot).map(|conn| Event::RoomNotify {
                conn,
                namespace,
                room,
                sender,
                message,
            }),
            HubEvent::Forward {
                namespace,
                room,
                sender,
                message,
            } => Some(Event::RoomForward {
                namespace,
                room,
                sender,
                message,
            }),
            HubEvent::Membership {
                slot,
                namespace,
                room,
                name,
                joined,
            } => id(slot).map(|conn| Event::RoomMembership {
                conn,
                namespace,
                room,
                name,
                joined,
            }),
            HubEvent::Clients {
                slot,
                namespace,
                room,
            } => id(slot).map(|conn| Event::RoomClients {
                conn,
                namespace,
                room,
            }),
        };
        if let Some(ev) = ev {
            (self.sink)(ev);
        }
    }

    fn fan_out(
        &mut self,
        members: &[usize],
        namespace: &str,
        op: u8,
        data: &[u8],
        exclude: Option<usize>,
    ) -> (usize, usize) {
        // Framed once, copied once into a shared chunk; members queue slices.
        // Socket.IO members get the event in a Socket.IO packet; members that
        // agreed deflate without context takeover share one compressed frame
        // per window size; only members compressing with their own context
        // get a frame of their own.
        let mut plain = Frames::new(op, Cow::Borrowed(data), 0);
        let mut sio: Option<Frames> = None;
        let (mut sent, mut over) = (0, 0);
        for &slot in members {
            if Some(slot) == exclude {
                continue;
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            let was_dirty = conn.dirty;
            let frames = if conn.kind == Kind::SocketIo {
                sio.get_or_insert_with(|| {
                    let mut p = Vec::with_capacity(namespace.len() + data.len() + 16);
                    crate::hub::socketio_event_prefix(&mut p, namespace);
                    p.extend_from_slice(data);
                    Frames::new(OP_TEXT, Cow::Owned(p), 2)
                })
            } else {
                &mut plain
            };
            let r = match conn.framing(frames.data.len()) {
                Framing::Plain => {
                    let f = frames.plain(self.frame, self.shared);
                    conn.send_slice(f, &self.ctx)
                }
                Framing::Deflated(bits) => {
                    let f = frames.deflated(bits, self.frame, self.shared, &self.ctx);
                    conn.send_slice(f, &self.ctx)
                }
                Framing::Own => conn.send(frames.op, &frames.data, &self.ctx),
            };
            match r {
                Ok(()) => sent += 1,
                Err(SendError::Overflow) => over += 1,
                Err(SendError::NotOpen) => continue,
            }
            self.mark_dirty(slot, was_dirty);
        }
        self.stats.overflow_closes += over as u64;
        self.stats.fanout_deliveries += sent as u64;
        (sent, over)
    }
}

/// One fan-out message's frames, each made on first use: plain, and
/// compressed per window size (8..=15).
struct Frames<'a> {
    op: u8,
    /// The chunk writer of the plain frame; deflated frames use the next.
    writer: usize,
    data: Cow<'a, [u8]>,
    plain: Option<Slice>,
    deflated: [Option<Slice>; 8],
}

impl<'a> Frames<'a> {
    fn new(op: u8, data: Cow<'a, [u8]>, writer: usize) -> Self {
        Frames {
            op,
            writer,
            data,
            plain: None,
            deflated: Default::default(),
        }
    }

    fn plain(&mut self, scratch: &mut Vec<u8>, chunks: &mut [ChunkWriter; 4]) -> &Slice {
        let (op, data, w) = (self.op, &self.data, self.writer);
        self.plain.get_or_insert_with(|| {
            scratch.clear();
            encode_frame(scratch, op, data, false);
            chunks[w].append(scratch)
        })
    }

    fn deflated(
        &mut self,
        bits: u8,
        scratch: &mut Vec<u8>,
        chunks: &mut [ChunkWriter; 4],
        ctx: &Ctx<'_>,
    ) -> &Slice {
        let i = usize::from(bits.clamp(8, 15) - 8);
        if self.deflated[i].is_none() {
            let mut z = Vec::with_capacity(self.data.len() / 2 + 64);
            let f = if lock(ctx.deflaters)
                .compress(bits, &self.data, &mut z)
                .is_ok()
            {
                scratch.clear();
                encode_frame(scratch, self.op, &z, true);
                chunks[self.writer + 1].append(scratch)
            } else {
                // uncompressed is always allowed (RSV1 clear)
                self.plain(scratch, chunks).clone()
            };
            self.deflated[i] = Some(f);
        }
        self.deflated[i].as_ref().expect("just set")
    }
}
