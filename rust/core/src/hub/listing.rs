//! What the host (Python, HTTP, the backplane, the admin page) asks of and
//! does to the rooms.

use serde_json::value::RawValue;

use super::outlet::Outlet;
use super::protocol::encode_clients;
use super::{namespace_of, room_key, Hub, RoomError};

impl Hub {
    /// Add connection `slot` to room `key`; false when already a member.
    pub fn join(&mut self, slot: usize, key: &str) -> bool {
        self.rooms.join(slot, key)
    }

    pub fn leave(&mut self, slot: usize, key: &str) -> bool {
        self.rooms.leave(slot, key)
    }

    /// Queue `data` to every member of room `key` but `exclude`, framed once.
    pub fn publish(
        &mut self,
        key: &str,
        op: u8,
        data: &[u8],
        exclude: Option<usize>,
        out: &mut dyn Outlet,
    ) -> (usize, usize) {
        out.fan_out(
            self.rooms.members(key),
            namespace_of(key),
            op,
            data,
            exclude,
        )
    }

    /// Publish `["EVENT", {sender, room, message}]` to a room of a
    /// namespace; `message` must be one JSON value.
    pub fn publish_event(
        &mut self,
        ns: &str,
        room: &str,
        sender: &str,
        message: &str,
        exclude: Option<usize>,
        out: &mut dyn Outlet,
    ) -> Result<(usize, usize), RoomError> {
        let raw: &RawValue = serde_json::from_str(message).map_err(RoomError::NotJson)?;
        Ok(self.publish_event_raw(ns, room, sender, raw, exclude, out))
    }

    /// Answer a CLIENTS request the host resolved (backplane on: the names
    /// span processes): `["CLIENTS", {room, clients}]`, as a Socket.IO event
    /// of `ns` to a Socket.IO connection.
    pub fn reply_clients(
        &mut self,
        slot: usize,
        ns: &str,
        room: &str,
        names: &[&str],
        out: &mut dyn Outlet,
    ) {
        let mut b = Vec::new();
        encode_clients(&mut b, room, names);
        self.reply(slot, ns, &b, out);
    }

    /// Room keys connection `slot` is in.
    pub fn rooms_of(&self, slot: usize) -> Vec<String> {
        self.rooms
            .rooms_of(slot)
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Rooms of a namespace with their member names.
    pub fn namespace_rooms(&self, ns: &str) -> Vec<(String, Vec<String>)> {
        let prefix = room_key(ns, "");
        self.rooms
            .list()
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(|room| (key, room)))
            .map(|(key, room)| {
                let names = self.rooms.member_names(key);
                (
                    room.to_string(),
                    names.into_iter().map(String::from).collect(),
                )
            })
            .collect()
    }

    /// Member names of a room of a namespace.
    pub fn member_names(&self, ns: &str, room: &str) -> Vec<String> {
        self.rooms
            .member_names(&room_key(ns, room))
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Every room key with its member count.
    pub fn room_list(&self) -> Vec<(String, usize)> {
        self.rooms
            .list()
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect()
    }
}
