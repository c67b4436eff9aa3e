//! Room membership: room names to member connection slots and back.

use std::collections::HashMap;
use std::fmt;

pub type RoomId = u32;

/// Why a room operation from the host (Python, HTTP) was refused.
#[derive(Debug)]
pub enum RoomError {
    /// A message to publish is not one JSON value.
    NotJson(serde_json::Error),
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomError::NotJson(e) => write!(f, "message is not one JSON value: {e}"),
        }
    }
}

impl std::error::Error for RoomError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RoomError::NotJson(e) => Some(e),
        }
    }
}

#[derive(Debug, Default)]
struct Room {
    name: Box<str>,
    /// Connection slots (swap-removed on leave), and the name each joined under.
    members: Vec<usize>,
    names: Vec<Box<str>>,
}

/// Rooms by name; a room exists while it has members.
#[derive(Debug, Default)]
pub struct Rooms {
    by_name: HashMap<Box<str>, RoomId>,
    rooms: slab::Slab<Room>,
    /// Rooms of each connection slot.
    of_conn: HashMap<usize, Vec<RoomId>>,
}

impl Rooms {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn id(&self, name: &str) -> Option<RoomId> {
        self.by_name.get(name).copied()
    }

    /// Add `slot` to room `name`; false when it was already a member.
    pub fn join(&mut self, slot: usize, name: &str) -> bool {
        self.join_as(slot, name, "")
    }

    /// Add `slot` to room `name` under the member name `as_name` (a member
    /// that joins again keeps its place and takes the new name).
    pub fn join_as(&mut self, slot: usize, name: &str, as_name: &str) -> bool {
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => {
                let room = Room {
                    name: name.into(),
                    members: Vec::new(),
                    names: Vec::new(),
                };
                let id = self.rooms.insert(room) as RoomId;
                self.by_name.insert(name.into(), id);
                id
            }
        };
        let mine = self.of_conn.entry(slot).or_default();
        let room = &mut self.rooms[id as usize];
        if mine.contains(&id) {
            if let Some(i) = room.members.iter().position(|&s| s == slot) {
                room.names[i] = as_name.into();
            }
            return false;
        }
        mine.push(id);
        room.members.push(slot);
        room.names.push(as_name.into());
        true
    }

    /// Member names of a room, in member order.
    pub fn member_names(&self, name: &str) -> Vec<&str> {
        match self.id(name) {
            Some(id) => self.rooms[id as usize].names.iter().map(|n| &**n).collect(),
            None => Vec::new(),
        }
    }

    /// The name `slot` joined room `name` under, if it is a member.
    pub fn name_of(&self, slot: usize, name: &str) -> Option<&str> {
        let room = &self.rooms[self.id(name)? as usize];
        room.members
            .iter()
            .position(|&s| s == slot)
            .map(|i| &*room.names[i])
    }

    pub fn is_member(&self, slot: usize, name: &str) -> bool {
        match (self.id(name), self.of_conn.get(&slot)) {
            (Some(id), Some(mine)) => mine.contains(&id),
            _ => false,
        }
    }

    /// Remove `slot` from room `name`; false when it was not a member.
    pub fn leave(&mut self, slot: usize, name: &str) -> bool {
        let Some(id) = self.id(name) else {
            return false;
        };
        let Some(mine) = self.of_conn.get_mut(&slot) else {
            return false;
        };
        let Some(i) = mine.iter().position(|&r| r == id) else {
            return false;
        };
        mine.swap_remove(i);
        if mine.is_empty() {
            self.of_conn.remove(&slot);
        }
        self.remove_member(id, slot);
        true
    }

    /// Remove `slot` from every room (the connection closed); returns the room names it left.
    pub fn leave_all(&mut self, slot: usize) -> Vec<Box<str>> {
        let Some(ids) = self.of_conn.remove(&slot) else {
            return Vec::new();
        };
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            names.push(self.rooms[id as usize].name.clone());
            self.remove_member(id, slot);
        }
        names
    }

    fn remove_member(&mut self, id: RoomId, slot: usize) {
        let room = &mut self.rooms[id as usize];
        if let Some(i) = room.members.iter().position(|&s| s == slot) {
            room.members.swap_remove(i);
            room.names.swap_remove(i);
        }
        if room.members.is_empty() {
            let room = self.rooms.remove(id as usize);
            self.by_name.remove(&room.name);
        }
    }

    /// Member slots of a room (empty when there is no such room).
    pub fn members(&self, name: &str) -> &[usize] {
        match self.id(name) {
            Some(id) => &self.rooms[id as usize].members,
            None => &[],
        }
    }

    /// How many rooms `slot` is in.
    pub fn room_count(&self, slot: usize) -> usize {
        self.of_conn.get(&slot).map_or(0, Vec::len)
    }

    /// Names of the rooms `slot` is in.
    pub fn rooms_of(&self, slot: usize) -> Vec<&str> {
        self.of_conn
            .get(&slot)
            .map(|ids| {
                ids.iter()
                    .map(|&id| &*self.rooms[id as usize].name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every room and its member count.
    pub fn list(&self) -> Vec<(&str, usize)> {
        self.rooms
            .iter()
            .map(|(_, r)| (&*r.name, r.members.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_error_says_why() {
        let e = serde_json::from_str::<&serde_json::value::RawValue>("{x").unwrap_err();
        let err = RoomError::NotJson(e);
        assert!(err
            .to_string()
            .starts_with("message is not one JSON value: "));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn join_leave() {
        let mut r = Rooms::new();
        assert!(r.join(1, "a"));
        assert!(!r.join(1, "a"));
        assert!(r.join(2, "a"));
        assert!(r.join(2, "b"));
        assert_eq!(r.members("a"), &[1, 2]);
        assert_eq!(r.rooms_of(2), vec!["a", "b"]);
        assert!(r.leave(1, "a"));
        assert!(!r.leave(1, "a"));
        assert_eq!(r.members("a"), &[2]);
        let mut left = r.leave_all(2);
        left.sort();
        assert_eq!(left, vec!["a".into(), "b".into()]);
        assert!(r.list().is_empty());
        assert_eq!(r.members("a"), &[] as &[usize]);
    }

    #[test]
    fn member_names() {
        let mut r = Rooms::new();
        r.join_as(1, "a", "ann");
        r.join_as(2, "a", "bob");
        r.join_as(1, "a", "anna");
        assert_eq!(r.member_names("a"), vec!["anna", "bob"]);
        r.leave(1, "a");
        assert_eq!(r.member_names("a"), vec!["bob"]);
        assert!(r.is_member(2, "a") && !r.is_member(1, "a"));
        assert_eq!(r.name_of(2, "a"), Some("bob"));
        assert_eq!(r.name_of(1, "a"), None);
    }

    #[test]
    fn room_ids_are_reused_safely() {
        let mut r = Rooms::new();
        r.join(1, "x");
        r.leave(1, "x");
        r.join(2, "y");
        r.join(3, "x");
        assert_eq!(r.members("y"), &[2]);
        assert_eq!(r.members("x"), &[3]);
    }
}
