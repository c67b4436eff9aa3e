//! What the host (Python) does to one connection: send, close, accept or
//! refuse an upgrade, answer HTTP, report input consumed.

use super::*;

impl Server {
    /// Python has finished with `msgs` messages (`bytes` bytes) of this
    /// connection's input (`Event::Text` / `Binary`). A connection that
    /// waited for that (`max_pending_bytes` / `max_pending_messages`) is
    /// read again once below half of both.
    pub fn consumed(&mut self, id: ConnId, bytes: usize, msgs: u32) {
        let slot = slot_of(id);
        let Some(conn) = self.conns.get_mut(slot).filter(|c| c.id == id) else {
            return;
        };
        if conn.consumed(bytes, msgs, &self.cfg) {
            // Edge-triggered: what arrived meanwhile gives no new event.
            self.ready.push(slot);
            let _ = self.waker.wake();
        }
    }

    /// Queue a text (`binary == false`) or binary message to one connection.
    pub fn send(&mut self, id: ConnId, binary: bool, data: &[u8]) -> Result<(), SendError> {
        self.guard(slot_of(id), |s| s.send_guarded(id, binary, data))
            .unwrap_or(Err(SendError::NotOpen))
    }

    pub(super) fn send_guarded(
        &mut self,
        id: ConnId,
        binary: bool,
        data: &[u8],
    ) -> Result<(), SendError> {
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot_of(id)).filter(|c| c.id == id) else {
            return Err(SendError::NotOpen);
        };
        let r = conn.send(if binary { OP_BINARY } else { OP_TEXT }, data, &ctx);
        if conn.dirty {
            self.dirty.push(slot_of(id));
        }
        if r == Err(SendError::Overflow) {
            self.stats.overflow_closes += 1;
        }
        r
    }

    /// Start the closing handshake with `code`.
    pub fn close(&mut self, id: ConnId, code: u16, reason: &str) -> bool {
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot_of(id)).filter(|c| c.id == id) else {
            return false;
        };
        conn.close(code, reason, &ctx);
        if conn.state == State::Dead {
            self.dead.push(slot_of(id));
            let _ = self.waker.wake();
        } else {
            self.dirty.push(slot_of(id));
        }
        true
    }

    /// Accept an upgrade that was reported as `Event::Upgrade`.
    pub fn accept(
        &mut self,
        id: ConnId,
        extra_headers: &[(String, String)],
        sink: &mut dyn FnMut(Event<'_>),
    ) -> bool {
        self.guard(slot_of(id), |s| s.accept_guarded(id, extra_headers, sink))
            .unwrap_or(false)
    }

    pub(super) fn accept_guarded(
        &mut self,
        id: ConnId,
        extra_headers: &[(String, String)],
        sink: &mut dyn FnMut(Event<'_>),
    ) -> bool {
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot_of(id)).filter(|c| c.id == id) else {
            return false;
        };
        let Some(p) = conn.pending.take() else {
            return false;
        };
        if conn.state != State::AwaitUpgrade {
            return false;
        }
        conn.complete_upgrade(*p, extra_headers, &ctx, sink);
        let inbox = std::mem::take(&mut conn.inbox);
        let slot = slot_of(id);
        if !inbox.is_empty() {
            self.hub.handle(slot, inbox, &mut wire!(self, sink));
        }
        self.dirty.push(slot);
        self.ready.push(slot);
        let _ = self.waker.wake();
        true
    }

    /// Answer an HTTP request or refuse an upgrade; the connection then closes.
    pub fn respond(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> bool {
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot_of(id)).filter(|c| c.id == id) else {
            return false;
        };
        if !matches!(conn.state, State::AwaitResponse | State::AwaitUpgrade) {
            return false;
        }
        conn.respond(status, headers, body, &ctx);
        self.dirty.push(slot_of(id));
        true
    }
}
