//! Opening a fixed set of connections with a bounded number of connects
//! in progress, and a deadline after which the stragglers are dropped.

use std::time::Instant;

use crate::engine::{End, Engine, Id};

pub struct Connector {
    target: usize,
    batch: usize,
    deadline: Instant,
    issued: usize,
    pending: Vec<bool>,
    pending_n: usize,
    /// connections upgraded (ever)
    pub open: usize,
    /// connections that failed to connect or upgrade
    pub failed: u64,
    /// connections still pending at the deadline (closed then)
    pub timeouts: u64,
    /// connections not even started by the deadline
    pub not_tried: u64,
    /// SO_RCVBUF for the connections whose issue index is in `small_rcvbuf`
    rcvbuf: i32,
    small_rcvbuf: Vec<bool>,
    /// id -> the index (0, 1, ...) in which its connect was issued
    pub index_of: Vec<usize>,
}

impl Connector {
    pub fn new(target: usize, batch: usize, deadline: Instant) -> Connector {
        Connector {
            target,
            batch: batch.max(1),
            deadline,
            issued: 0,
            pending: Vec::new(),
            pending_n: 0,
            open: 0,
            failed: 0,
            timeouts: 0,
            not_tried: 0,
            rcvbuf: 0,
            small_rcvbuf: Vec::new(),
            index_of: Vec::new(),
        }
    }

    /// Connections whose issue index i has `small[i]` get SO_RCVBUF `bytes`.
    pub fn with_small_rcvbuf(mut self, small: Vec<bool>, bytes: i32) -> Connector {
        self.small_rcvbuf = small;
        self.rcvbuf = bytes;
        self
    }

    /// Opens more connections; true once every connection is open, failed
    /// or timed out.
    pub fn step(&mut self, eng: &mut Engine, now: Instant) -> bool {
        if now >= self.deadline {
            for id in 0..self.pending.len() {
                if self.pending[id] {
                    eng.close(id); // on_ended counts it as a timeout
                }
            }
            self.not_tried += (self.target - self.issued) as u64;
            self.issued = self.target;
            return true;
        }
        while self.issued < self.target && self.pending_n < self.batch {
            let index = self.issued;
            self.issued += 1;
            let rcvbuf = match self.small_rcvbuf.get(index) {
                Some(true) => Some(self.rcvbuf),
                _ => None,
            };
            match eng.open_with(rcvbuf) {
                Some(id) => {
                    if id >= self.pending.len() {
                        self.pending.resize(id + 1, false);
                    }
                    if id >= self.index_of.len() {
                        self.index_of.resize(id + 1, usize::MAX);
                    }
                    self.index_of[id] = index;
                    self.pending[id] = true;
                    self.pending_n += 1;
                }
                None => self.failed += 1,
            }
        }
        self.issued == self.target && self.pending_n == 0
    }

    pub fn on_open(&mut self, id: Id) {
        if self.pending.get(id).copied().unwrap_or(false) {
            self.pending[id] = false;
            self.pending_n -= 1;
            self.open += 1;
        }
    }

    pub fn on_ended(&mut self, id: Id, end: End) {
        if self.pending.get(id).copied().unwrap_or(false) {
            self.pending[id] = false;
            self.pending_n -= 1;
            if end == End::Closed {
                self.timeouts += 1;
            } else {
                self.failed += 1;
            }
        }
    }
}
