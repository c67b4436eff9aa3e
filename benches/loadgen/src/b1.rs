//! B1: chat room. `clients` connections JOIN one room; each sends NOTIFYs
//! numbered in rounds 0, 1, 2, ...; every NOTIFY reaches the other
//! clients - 1 members as an EVENT. Counted: data EVENTs received by all
//! clients in the measurement window (deliveries/s).
//!
//! Pacing (closed loop with a window of W rounds): a client sends round r
//! once it has received every other member's messages of all rounds below
//! r - W + 1, i.e. it keeps at most W of its own rounds not yet completed.
//! No client can get more than W rounds ahead of the slowest one, so the
//! server never holds more than about W x clients x (clients - 1) EVENTs
//! (bounded queues), while W >= 2 keeps work queued in the server at every
//! moment (the next round is already in flight while the last EVENTs of
//! the previous one are delivered), so the server stays saturated.
//!
//! Before the load starts, client 0 sends a probe NOTIFY every 20 ms until
//! every other client has received one: JOIN has no reply, and a probe's
//! arrival proves the receiver's JOIN (and client 0's) was processed.

use std::time::{Duration, Instant};

use crate::connect_phase::Connector;
use crate::engine::{Engine, Event, Id, Scenario};
use crate::rooms::{self, Kind, Layout};
use crate::sys;
use crate::util::{Args, Json};
use crate::ws;

pub const OPTIONS: &[&str] =
    &["url", "clients", "size", "duration", "warmup", "window", "connect-timeout", "connect-batch", "sync-timeout"];

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Connecting,
    /// JOINs sent; probing until every member has seen a probe
    Sync { until: Instant, next_probe: Instant },
    Warmup(Instant),
    Measure(Instant),
    /// no new rounds; wait briefly for what is in flight
    Drain(Instant),
    Done,
}

struct B1 {
    conn: Connector,
    layout: Layout,
    window: u32,
    warmup: Duration,
    duration: Duration,
    sync_timeout: Duration,
    phase: Phase,
    /// member index -> connection id, and back
    members: Vec<Id>,
    index: Vec<usize>,
    n: usize,
    /// per member: next round to send, rounds completed
    next: Vec<u32>,
    done: Vec<u32>,
    /// per member, a ring of 2 x window per-round counters
    cnt: Vec<u32>,
    ring: usize,
    got_probe: Vec<bool>,
    probes_seen: usize,
    probes_sent: u32,
    /// all phases
    sent: u64,
    received: u64,
    /// measurement window
    deliveries: u64,
    bad_len: u64,
    bad_seq: u64,
    other: u64,
    closes: u64,
    close_1008: u64,
    lost: u64,
    last_progress: Instant,
    stalled: bool,
    sync_failed: bool,
    t_start: Option<Instant>,
    t_end: Option<Instant>,
    cpu_start: f64,
    cpu_end: f64,
    frame: Vec<u8>,
}

const STALL: Duration = Duration::from_secs(3);

impl B1 {
    fn send_rounds(&mut self, eng: &mut Engine, i: usize) {
        while self.next[i] < self.done[i] + self.window {
            let r = self.next[i];
            self.frame.clear();
            self.layout.put_notify(&mut self.frame, r, false);
            eng.send_raw(self.members[i], &self.frame);
            self.next[i] += 1;
            self.sent += 1;
        }
    }

    fn sending(&self) -> bool {
        matches!(self.phase, Phase::Warmup(_) | Phase::Measure(_))
    }

    fn end_measure(&mut self, now: Instant) {
        self.t_end = Some(now);
        self.cpu_end = sys::cpu_seconds();
        crate::marker("measure end");
        self.phase = Phase::Drain(now + Duration::from_millis(1000));
    }
}

impl Scenario for B1 {
    fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool {
        match self.phase {
            Phase::Connecting => {
                if self.conn.step(eng, now) {
                    self.members.retain(|&id| eng.is_open(id));
                    self.n = self.members.len();
                    if self.n < 2 {
                        self.phase = Phase::Done;
                        return false;
                    }
                    for (i, &id) in self.members.iter().enumerate() {
                        if id >= self.index.len() {
                            self.index.resize(id + 1, usize::MAX);
                        }
                        self.index[id] = i;
                        eng.send_raw(id, &rooms::join_frame(&rooms::name('c', i)));
                    }
                    self.next = vec![0; self.n];
                    self.done = vec![0; self.n];
                    self.cnt = vec![0; self.n * self.ring];
                    self.got_probe = vec![false; self.n];
                    self.phase = Phase::Sync { until: now + self.sync_timeout, next_probe: now };
                }
                true
            }
            Phase::Sync { until, next_probe } => {
                if self.probes_seen >= self.n - 1 {
                    for i in 0..self.n {
                        self.send_rounds(eng, i);
                    }
                    self.last_progress = now;
                    self.phase = Phase::Warmup(now + self.warmup);
                } else if now >= until {
                    self.sync_failed = true;
                    self.phase = Phase::Done;
                    return false;
                } else if now >= next_probe {
                    self.frame.clear();
                    self.layout.put_notify(&mut self.frame, self.probes_sent, true);
                    self.probes_sent += 1;
                    eng.send_raw(self.members[0], &self.frame);
                    self.phase = Phase::Sync { until, next_probe: now + Duration::from_millis(20) };
                }
                true
            }
            Phase::Warmup(until) => {
                if now >= until {
                    self.deliveries = 0;
                    self.t_start = Some(now);
                    self.cpu_start = sys::cpu_seconds();
                    self.phase = Phase::Measure(now + self.duration);
                    crate::marker("measure start");
                } else if now - self.last_progress > STALL {
                    self.stalled = true;
                    self.phase = Phase::Done;
                    return false;
                }
                true
            }
            Phase::Measure(until) => {
                if now - self.last_progress > STALL {
                    self.stalled = true;
                    self.end_measure(now);
                } else if now >= until || eng.live() == 0 {
                    self.end_measure(now);
                }
                true
            }
            Phase::Drain(until) => {
                if now >= until || self.received >= self.sent * (self.n as u64 - 1) || self.stalled {
                    self.phase = Phase::Done;
                    return false;
                }
                true
            }
            Phase::Done => false,
        }
    }

    fn on_event(&mut self, eng: &mut Engine, ev: Event) {
        match ev {
            Event::Open(id) => {
                self.conn.on_open(id);
                self.members.push(id);
            }
            Event::Message(id, m) => {
                let i = self.index.get(id).copied().unwrap_or(usize::MAX);
                if i == usize::MAX {
                    self.other += 1;
                    return;
                }
                match self.layout.classify(&m) {
                    Kind::Data { seq, ok } => {
                        if !ok {
                            self.bad_len += 1;
                        }
                        let d = self.done[i];
                        if seq < d || seq >= d + self.ring as u32 {
                            self.bad_seq += 1;
                            return;
                        }
                        self.received += 1;
                        if matches!(self.phase, Phase::Measure(_)) {
                            self.deliveries += 1;
                        }
                        let base = i * self.ring;
                        self.cnt[base + seq as usize % self.ring] += 1;
                        let full = (self.n - 1) as u32;
                        let mut advanced = false;
                        while self.cnt[base + self.done[i] as usize % self.ring] >= full {
                            self.cnt[base + self.done[i] as usize % self.ring] = 0;
                            self.done[i] += 1;
                            advanced = true;
                        }
                        if advanced {
                            self.last_progress = Instant::now();
                            if self.sending() {
                                self.send_rounds(eng, i);
                            }
                        }
                    }
                    Kind::Probe => {
                        if i != 0 && !self.got_probe[i] {
                            self.got_probe[i] = true;
                            self.probes_seen += 1;
                        }
                    }
                    Kind::Other => self.other += 1,
                }
            }
            Event::Close(id, code) => {
                self.closes += 1;
                if code == 1008 {
                    self.close_1008 += 1;
                }
                eng.close(id);
            }
            Event::Ended(id, end) => {
                self.conn.on_ended(id, end);
                if self.index.get(id).copied().unwrap_or(usize::MAX) != usize::MAX
                    && !matches!(self.phase, Phase::Drain(_) | Phase::Done)
                {
                    self.lost += 1;
                }
            }
        }
    }
}

pub fn run(args: &Args) -> Result<i32, String> {
    args.check_known(OPTIONS)?;
    let url = ws::parse_url(args.str("url").unwrap_or("ws://127.0.0.1:8765/layout"))?;
    let clients: usize = args.num("clients", 100)?;
    let size: usize = args.num("size", 64)?;
    let window: u32 = args.num("window", 4)?;
    let duration = args.secs("duration", 5.0)?;
    let warmup = args.secs("warmup", 1.0)?;
    let connect_timeout = args.secs("connect-timeout", 5.0)?;
    let sync_timeout = args.secs("sync-timeout", 5.0)?;
    let connect_batch: usize = args.num("connect-batch", 100)?;
    if clients < 2 || window == 0 {
        return Err("--clients must be >= 2 and --window > 0".into());
    }
    let layout = Layout::new(size)?;
    let mut eng = Engine::new(&url).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut sc = B1 {
        conn: Connector::new(clients, connect_batch, t0 + connect_timeout),
        layout,
        window,
        warmup,
        duration,
        sync_timeout,
        phase: Phase::Connecting,
        members: Vec::new(),
        index: Vec::new(),
        n: 0,
        next: Vec::new(),
        done: Vec::new(),
        cnt: Vec::new(),
        ring: 2 * window as usize,
        got_probe: Vec::new(),
        probes_seen: 0,
        probes_sent: 0,
        sent: 0,
        received: 0,
        deliveries: 0,
        bad_len: 0,
        bad_seq: 0,
        other: 0,
        closes: 0,
        close_1008: 0,
        lost: 0,
        last_progress: t0,
        stalled: false,
        sync_failed: false,
        t_start: None,
        t_end: None,
        cpu_start: 0.0,
        cpu_end: 0.0,
        frame: Vec::new(),
    };
    let hard = t0 + connect_timeout + sync_timeout + warmup + duration + Duration::from_secs(3);
    let finished = eng.run(&mut sc, hard);
    let t_end = sc.t_end.unwrap_or_else(Instant::now);
    let cpu_end = if sc.t_end.is_some() { sc.cpu_end } else { sys::cpu_seconds() };
    eng.shutdown(Duration::from_millis(500));

    let secs = sc.t_start.map_or(0.0, |t| (t_end - t).as_secs_f64());
    let per_s = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
    let cpu = if secs > 0.0 { 100.0 * (cpu_end - sc.cpu_start) / secs } else { 0.0 };
    let st = &eng.stats;
    let mut error = String::new();
    if sc.conn.open == 0 {
        error = format!("no connection could be opened ({})", st.last_error);
    } else if sc.n < 2 {
        error = "fewer than 2 members".into();
    } else if sc.sync_failed {
        error = format!(
            "JOIN not confirmed: {} of {} members saw a probe NOTIFY within {:?} (does the server speak the rooms protocol at this path?)",
            sc.probes_seen,
            sc.n - 1,
            sc.sync_timeout
        );
    } else if sc.stalled {
        error = format!("stalled: no round completed for {STALL:?} ({} members lost)", sc.lost);
    } else if !finished {
        error = "hard time limit reached".into();
    }
    let rounds = sc.deliveries as f64 / (sc.n.max(2) * (sc.n.max(2) - 1)) as f64;
    let j = Json::new()
        .str("scenario", "B1")
        .int("clients", clients as u64)
        .int("open", sc.n as u64)
        .int("size", size as u64)
        .int("event_bytes", sc.layout.event_len)
        .int("window", window as u64)
        .int("deliveries", sc.deliveries)
        .float("seconds", secs, 3)
        .float("deliveries_per_s", per_s(sc.deliveries as f64), 1)
        .float("rounds_per_s", per_s(rounds), 1)
        .int("bad_frames", sc.bad_len + sc.bad_seq + sc.other)
        .int("closes", sc.closes)
        .int("close_1008", sc.close_1008)
        .int("lost", sc.lost)
        .int(
            "errors",
            st.errors() + sc.conn.timeouts + sc.conn.not_tried + sc.bad_len + sc.bad_seq + sc.other + sc.lost,
        )
        .int("connect_errors", st.connect_errors + st.handshake_errors + sc.conn.timeouts + sc.conn.not_tried)
        .float("client_cpu_pct", cpu, 1)
        .str("last_error", &st.last_error)
        .str("error", &error)
        .finish();
    println!("{j}");
    let ok = error.is_empty() || (finished && !sc.stalled && !sc.sync_failed && sc.n >= 2);
    Ok(if sc.conn.open == 0 { 2 } else if !finished { 3 } else if ok { 0 } else { 1 })
}
