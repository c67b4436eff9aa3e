//! `/lobby` (WebRTC signalling): JOIN, LEAVE, BROADCAST, RTCSIGNAL; members
//! hear JOINED and LEFT, a socket joining with `?lobbyId=` gets PEERS.

use super::outlet::Outlet;
use super::protocol::{
    encode_joined, encode_left, encode_message, encode_peers, encode_rtcsignal,
    parse_lobby_command, ErrorCode, LobbyCommand, ProtocolError,
};
use super::{room_key, Hub};
use crate::wire::frame::OP_TEXT;

impl Hub {
    pub(super) fn lobby_text(&mut self, slot: usize, ns: &str, text: &str, out: &mut dyn Outlet) {
        let cmd = match parse_lobby_command(text) {
            Ok(c) => c,
            Err(e) => return self.reply_error(slot, ns, &e, out),
        };
        match cmd {
            LobbyCommand::Join { lobby } => self.lobby_join(slot, ns, &lobby, false, out),
            LobbyCommand::Leave { lobby } => {
                let key = room_key(ns, &lobby);
                if self.member(slot).and_then(|m| m.lobby.as_deref()) == Some(&*key) {
                    self.lobby_leave(slot, out);
                } else {
                    let e = ProtocolError::new(
                        ErrorCode::InvalidField,
                        format!("LEAVE: not in lobby {lobby:?}"),
                    );
                    self.reply_error(slot, ns, &e, out);
                }
            }
            LobbyCommand::Broadcast { message } => {
                let Some(key) = self.member(slot).and_then(|m| m.lobby.clone()) else {
                    let e = ProtocolError::new(
                        ErrorCode::InvalidField,
                        "BROADCAST: JOIN a lobby first",
                    );
                    return self.reply_error(slot, ns, &e, out);
                };
                let id = self.socket_id(slot);
                let mut payload = Vec::new();
                encode_message(&mut payload, &id, &message);
                out.fan_out(self.rooms.members(&key), ns, OP_TEXT, &payload, None);
            }
            LobbyCommand::RtcSignal { to, signal } => match self.lobby_ids.get(&*to).copied() {
                Some(target) => {
                    let mut payload = Vec::new();
                    encode_rtcsignal(&mut payload, &signal);
                    self.reply(target, ns, &payload, out);
                }
                None => {
                    let e = ProtocolError::new(
                        ErrorCode::InvalidField,
                        format!("RTCSIGNAL: no socket {to:?}"),
                    );
                    self.reply_error(slot, ns, &e, out);
                }
            },
        }
    }

    pub(super) fn lobby_join(
        &mut self,
        slot: usize,
        ns: &str,
        lobby: &str,
        on_connect: bool,
        out: &mut dyn Outlet,
    ) {
        let key = room_key(ns, lobby);
        let current = self.member(slot).and_then(|m| m.lobby.clone());
        if current.as_deref() == Some(&*key) {
            return;
        }
        if current.is_some() {
            self.lobby_leave(slot, out);
        }
        let id = self.socket_id(slot);
        self.lobby_ids.insert(id.clone(), slot);
        if on_connect {
            let peers: Vec<Box<str>> = self
                .rooms
                .members(&key)
                .iter()
                .map(|&s| self.socket_id(s))
                .collect();
            let refs: Vec<&str> = peers.iter().map(|p| &**p).collect();
            let mut b = Vec::new();
            encode_peers(&mut b, &refs);
            self.reply(slot, ns, &b, out);
        }
        self.rooms.join(slot, &key);
        if let Some(m) = self.member_mut(slot) {
            m.lobby = Some(key.clone().into());
        }
        let mut b = Vec::new();
        encode_joined(&mut b, &id);
        let exclude = on_connect.then_some(slot);
        out.fan_out(self.rooms.members(&key), ns, OP_TEXT, &b, exclude);
    }

    /// Leave the current lobby; the remaining members get LEFT.
    pub(super) fn lobby_leave(&mut self, slot: usize, out: &mut dyn Outlet) {
        let Some(key) = self.member_mut(slot).and_then(|m| m.lobby.take()) else {
            return;
        };
        self.rooms.leave(slot, &key);
        let id = self.socket_id(slot);
        let mut b = Vec::new();
        encode_left(&mut b, &id);
        let ns = super::namespace_of(&key);
        out.fan_out(self.rooms.members(&key), ns, OP_TEXT, &b, None);
    }
}
