//! Room keys: a room of a namespace in the one room table (local rooms and
//! the backplane's shared table use the same form).

/// Separates the namespace from the room in a key; a namespace never holds it.
pub const KEY_SEP: char = '\u{1}';

/// The key of `room` in `namespace`.
pub fn room_key(namespace: &str, room: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + 1 + room.len());
    k.push_str(namespace);
    k.push(KEY_SEP);
    k.push_str(room);
    k
}

/// `(namespace, room)` of a key made by [`room_key`]; `None` for a plain
/// room name (the rooms Python makes, such as `streams`).
pub fn split_room_key(key: &str) -> Option<(&str, &str)> {
    key.split_once(KEY_SEP)
}

/// The namespace of a key ("" for a plain room name).
pub fn namespace_of(key: &str) -> &str {
    split_room_key(key).map_or("", |(ns, _)| ns)
}

/// The backplane's field for a member of a room: the room's key, the
/// separator and the member's connection id. Another process reads the
/// room back with [`member_field_room_key`].
pub fn member_field(namespace: &str, room: &str, conn: u64) -> String {
    let mut f = room_key(namespace, room);
    f.push(KEY_SEP);
    f.push_str(&conn.to_string());
    f
}

/// The room key of a field made by [`member_field`]: all but the last part
/// (the room itself may hold the separator, the connection id never does).
/// `None` for a field of another form.
pub fn member_field_room_key(field: &str) -> Option<&str> {
    let (key, conn) = field.rsplit_once(KEY_SEP)?;
    let ok = !conn.is_empty() && conn.bytes().all(|b| b.is_ascii_digit());
    (ok && split_room_key(key).is_some()).then_some(key)
}

/// A random (v4) UUID for a lobby or Socket.IO socket.
pub fn new_socket_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_splits_back_at_the_first_separator() {
        // The room may hold the separator itself; the namespace never does.
        let k = room_key("layout", "a\u{1}b");
        assert_eq!(split_room_key(&k), Some(("layout", "a\u{1}b")));
        assert_eq!(namespace_of(&k), "layout");
        assert_eq!(split_room_key("streams"), None);
        assert_eq!(namespace_of("streams"), "");
    }

    #[test]
    fn a_member_field_gives_back_exactly_its_room() {
        let f = member_field("layout", "a\u{1}1", 7);
        assert_eq!(
            member_field_room_key(&f),
            Some(room_key("layout", "a\u{1}1").as_str())
        );
        // A room is matched whole, never as the prefix of a longer name.
        assert_ne!(
            member_field_room_key(&f),
            Some(room_key("layout", "a").as_str())
        );
        assert_eq!(member_field_room_key("layout\u{1}r\u{1}x"), None);
        assert_eq!(member_field_room_key("nosep"), None);
        assert_eq!(member_field_room_key("r\u{1}7"), None);
    }

    #[test]
    fn keys_of_different_rooms_differ() {
        assert_ne!(room_key("layout", "r"), room_key("bus", "r"));
    }
}
