//! Rooms as the host sees them: joins, publishes and listings, handed to
//! the hub (`crate::hub::Hub`) with the sockets lent through `fanout::Wire`.

use super::*;

impl Server {
    /// Add a connection to a room; false when it is not open or already a member.
    pub fn join(&mut self, id: ConnId, room: &str) -> bool {
        let slot = slot_of(id);
        match self.conns.get(slot) {
            Some(c) if c.id == id && c.state == State::Open => self.hub.join(slot, room),
            _ => false,
        }
    }

    pub fn leave(&mut self, id: ConnId, room: &str) -> bool {
        let slot = slot_of(id);
        match self.conns.get(slot) {
            Some(c) if c.id == id => self.hub.leave(slot, room),
            _ => false,
        }
    }

    /// Frame `data` once and queue it to every open member of `room` but
    /// `exclude`. Returns (delivered, overflowed): members whose queue
    /// overflowed are being closed with 1008; nobody else is slowed.
    pub fn publish(
        &mut self,
        room: &str,
        binary: bool,
        data: &[u8],
        exclude: Option<ConnId>,
    ) -> (usize, usize) {
        let op = if binary { OP_BINARY } else { OP_TEXT };
        let exclude = exclude.and_then(|id| self.slot_of_live(id));
        let mut sink = no_events;
        self.hub
            .publish(room, op, data, exclude, &mut wire!(self, &mut sink))
    }

    /// Publish `["EVENT", {sender, room, message}]` from Python or HTTP to a
    /// room of a namespace; `message` must be one JSON value.
    pub fn publish_event(
        &mut self,
        ns: &str,
        room: &str,
        sender: &str,
        message: &str,
        exclude: Option<ConnId>,
    ) -> Result<(usize, usize), crate::hub::RoomError> {
        let exclude = exclude.and_then(|id| self.slot_of_live(id));
        let mut sink = no_events;
        let mut out = wire!(self, &mut sink);
        self.hub
            .publish_event(ns, room, sender, message, exclude, &mut out)
    }

    /// Answer a CLIENTS request Python resolved (backplane on) with `names`;
    /// false when the connection is gone.
    pub fn reply_clients(&mut self, id: ConnId, ns: &str, room: &str, names: &[&str]) -> bool {
        let Some(slot) = self.slot_of_live(id) else {
            return false;
        };
        let mut sink = no_events;
        self.hub
            .reply_clients(slot, ns, room, names, &mut wire!(self, &mut sink));
        true
    }

    pub(super) fn slot_of_live(&self, id: ConnId) -> Option<usize> {
        let slot = slot_of(id);
        self.conns.get(slot).filter(|c| c.id == id).map(|_| slot)
    }

    /// Rooms of a connection.
    pub fn rooms_of(&self, id: ConnId) -> Vec<String> {
        match self.slot_of_live(id) {
            Some(slot) => self.hub.rooms_of(slot),
            None => Vec::new(),
        }
    }

    /// Rooms of a namespace with their member names.
    pub fn namespace_rooms(&self, ns: &str) -> Vec<(String, Vec<String>)> {
        self.hub.namespace_rooms(ns)
    }

    /// Rooms span processes (a backplane): NOTIFYs, membership changes and
    /// CLIENTS requests are reported to Python.
    pub fn set_backplane(&mut self, on: bool) {
        self.hub.set_backplane(on);
    }

    /// Member names of a room of a namespace.
    pub fn room_member_names(&self, ns: &str, room: &str) -> Vec<String> {
        self.hub.member_names(ns, room)
    }

    /// Every room with its member count.
    pub fn room_list(&self) -> Vec<(String, usize)> {
        self.hub.room_list()
    }
}
