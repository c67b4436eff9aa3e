//! `/layout` and `/bus` (the 2immerse websocket-service protocol): JOIN,
//! LEAVE, NOTIFY, CLIENTS; a NOTIFY is encoded once as an EVENT and fanned
//! out, and reaches the host only when the endpoint has a room hook.

use serde_json::value::RawValue;

use super::members::UNKNOWN_SENDER;
use super::outlet::{HubEvent, Outlet};
use super::protocol::{
    encode_clients, encode_event, parse_room_command, ErrorCode, ProtocolError, RoomCommand,
};
use super::{room_key, Hub};
use crate::wire::frame::OP_TEXT;

impl Hub {
    pub(super) fn room_text(
        &mut self,
        slot: usize,
        ns: &str,
        hook: bool,
        text: &str,
        out: &mut dyn Outlet,
    ) {
        let cmd = match parse_room_command(text) {
            Ok(c) => c,
            Err(e) => return self.reply_error(slot, ns, &e, out),
        };
        match cmd {
            RoomCommand::Join { room, name } => {
                let key = room_key(ns, &room);
                let max = self.max_rooms;
                if self.rooms.room_count(slot) >= max && !self.rooms.is_member(slot, &key) {
                    let e = ProtocolError::new(
                        ErrorCode::TooManyRooms,
                        format!("JOIN: this connection is in {max} rooms already (the most allowed): LEAVE one first"),
                    );
                    return self.reply_error(slot, ns, &e, out);
                }
                self.rooms.join_as(slot, &key, &name);
                if let Some(m) = self.member_mut(slot) {
                    m.nick = Some((*name).into());
                }
                if self.backplane {
                    out.report(HubEvent::Membership {
                        slot,
                        namespace: ns,
                        room: &room,
                        name: &name,
                        joined: true,
                    });
                }
            }
            RoomCommand::Leave { room } => {
                let left = self.rooms.leave(slot, &room_key(ns, &room));
                if left && self.backplane {
                    let name = self
                        .member(slot)
                        .and_then(|m| m.nick.as_deref())
                        .unwrap_or("");
                    out.report(HubEvent::Membership {
                        slot,
                        namespace: ns,
                        room: &room,
                        name,
                        joined: false,
                    });
                }
            }
            RoomCommand::Notify { room, message } => {
                let key = room_key(ns, &room);
                // The name it joined this room under; else its last JOIN's name.
                let sender: String = self
                    .rooms
                    .name_of(slot, &key)
                    .or_else(|| self.member(slot).and_then(|m| m.nick.as_deref()))
                    .unwrap_or(UNKNOWN_SENDER)
                    .to_string();
                if hook {
                    out.report(HubEvent::Notify {
                        slot,
                        namespace: ns,
                        room: &room,
                        sender: &sender,
                        message: message.get(),
                    });
                } else {
                    self.fan_out_event(&key, ns, &room, &sender, &message, Some(slot), out);
                    if self.backplane {
                        out.report(HubEvent::Forward {
                            namespace: ns,
                            room: &room,
                            sender: &sender,
                            message: message.get(),
                        });
                    }
                }
            }
            RoomCommand::Clients { room } if self.backplane => {
                out.report(HubEvent::Clients {
                    slot,
                    namespace: ns,
                    room: &room,
                });
            }
            RoomCommand::Clients { room } => {
                let names = self.rooms.member_names(&room_key(ns, &room));
                let mut b = Vec::new();
                encode_clients(&mut b, &room, &names);
                self.reply(slot, ns, &b, out);
            }
        }
    }

    /// Encode `["EVENT", {sender, room, message}]` once and fan it out to the
    /// room's members but `exclude`. Returns (delivered, overflowed).
    pub(super) fn publish_event_raw(
        &mut self,
        ns: &str,
        room: &str,
        sender: &str,
        message: &RawValue,
        exclude: Option<usize>,
        out: &mut dyn Outlet,
    ) -> (usize, usize) {
        let key = room_key(ns, room);
        self.fan_out_event(&key, ns, room, sender, message, exclude, out)
    }

    /// The same for a room whose key the caller has made already.
    #[allow(clippy::too_many_arguments)]
    fn fan_out_event(
        &mut self,
        key: &str,
        ns: &str,
        room: &str,
        sender: &str,
        message: &RawValue,
        exclude: Option<usize>,
        out: &mut dyn Outlet,
    ) -> (usize, usize) {
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        encode_event(&mut payload, sender, room, message);
        let r = out.fan_out(self.rooms.members(key), ns, OP_TEXT, &payload, exclude);
        self.payload = payload;
        r
    }
}
