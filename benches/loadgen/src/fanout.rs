//! B2: one publisher, many subscribers; S1: the same with some subscribers
//! that never read.
//!
//! `subscribers` connections and one publisher JOIN one room (the publisher
//! too: the server sends its NOTIFYs to every *other* member). Then bursts,
//! back to back: the publisher queues `messages` NOTIFYs at once (they leave
//! in as few writes as the socket takes) and the burst ends when every
//! healthy subscriber has received all of them; the next burst starts at
//! once. Bursts run until `warmup` has passed (not counted), then until
//! `duration` has passed (at least one); the figure is the healthy
//! subscribers' deliveries / the measured bursts' total time.
//!
//! S1 (`--slow-pct P`): P % of the subscribers (spread evenly) get a small
//! SO_RCVBUF before connecting, JOIN, read until they have seen the sync
//! probe, then stop reading for the rest of the run. The server must go on
//! serving the others (and bound what it holds for the slow ones: the runner
//! samples its RSS). At the end the slow ones read again for up to 1 s to
//! see how the server treated them (close code 1008, EOF, frames).

use std::time::{Duration, Instant};

use crate::connect_phase::Connector;
use crate::engine::{End, Engine, Event, Id, Scenario};
use crate::rooms::{self, Kind, Layout};
use crate::sys;
use crate::util::{Args, Json};
use crate::ws;

pub const OPTIONS: &[&str] = &[
    "url",
    "subscribers",
    "messages",
    "size",
    "duration",
    "warmup",
    "slow-pct",
    "slow-rcvbuf",
    "burst-timeout",
    "connect-timeout",
    "connect-batch",
    "sync-timeout",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    Publisher,
    Healthy,
    Slow,
}

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Connecting,
    Sync { until: Instant, next_probe: Instant },
    /// bursts; measuring once `measuring` is set
    Bursts,
    /// the slow subscribers read again, briefly
    SlowCheck(Instant),
    Done,
}

struct Fanout {
    s1: bool,
    conn: Connector,
    /// by issue index: a slow subscriber
    slow_index: Vec<bool>,
    layout: Layout,
    messages: u32,
    warmup: Duration,
    duration: Duration,
    sync_timeout: Duration,
    burst_timeout: Duration,
    phase: Phase,
    opened: Vec<Id>,
    role: Vec<Role>,
    publisher: Option<Id>,
    healthy: usize,
    slow: usize,
    alive_healthy: usize,
    // sync
    got_probe: Vec<bool>,
    probes_seen: usize,
    probes_sent: u32,
    // bursts
    burst_base: u32,
    burst_t0: Instant,
    count: Vec<u32>,
    complete: usize,
    warmup_until: Instant,
    measure_until: Option<Instant>,
    measuring: bool,
    bursts: u64,
    burst_secs: Vec<f64>,
    deliveries: u64,
    incomplete: bool,
    incomplete_got: u64,
    // frames
    bad_len: u64,
    bad_seq: u64,
    other: u64,
    healthy_lost: u64,
    healthy_1008: u64,
    healthy_closes: u64,
    slow_frames: u64,
    /// frames the slow ones read before the end (should be 0: paused)
    slow_frames_early: u64,
    slow_1008: u64,
    slow_closes: u64,
    slow_eof: u64,
    slow_reset: u64,
    slow_alive_at_end: u64,
    sync_failed: bool,
    t_start: Option<Instant>,
    t_end: Option<Instant>,
    cpu_start: f64,
    cpu_end: f64,
    frame: Vec<u8>,
}

impl Fanout {
    fn role(&self, id: Id) -> Role {
        self.role.get(id).copied().unwrap_or(Role::None)
    }

    /// The publisher queues the burst's messages (numbered from burst_base).
    fn start_burst(&mut self, eng: &mut Engine, now: Instant) {
        let Some(p) = self.publisher else { return };
        self.count.iter_mut().for_each(|c| *c = 0);
        self.complete = 0;
        self.frame.clear();
        for k in 0..self.messages {
            self.layout.put_notify(&mut self.frame, self.burst_base + k, false);
        }
        eng.send_raw(p, &self.frame);
        self.burst_t0 = now;
    }

    fn burst_done(&mut self, eng: &mut Engine, now: Instant) {
        let secs = (now - self.burst_t0).as_secs_f64();
        if self.measuring {
            self.bursts += 1;
            self.burst_secs.push(secs);
            self.deliveries += self.messages as u64 * self.alive_healthy as u64;
            if now >= self.measure_until.unwrap() {
                self.end_measure(eng, now);
                return;
            }
        } else if now >= self.warmup_until {
            self.measuring = true;
            self.t_start = Some(now);
            self.cpu_start = sys::cpu_seconds();
            self.measure_until = Some(now + self.duration);
            crate::marker("measure start");
        }
        self.burst_base += self.messages;
        self.start_burst(eng, now);
    }

    fn end_measure(&mut self, eng: &mut Engine, now: Instant) {
        self.t_end = Some(now);
        self.cpu_end = sys::cpu_seconds();
        crate::marker("measure end");
        if self.slow > 0 {
            for &id in &self.opened {
                if self.role.get(id) == Some(&Role::Slow) {
                    eng.resume(id);
                }
            }
            self.phase = Phase::SlowCheck(now + Duration::from_secs(1));
        } else {
            self.phase = Phase::Done;
        }
    }

    fn slow_live(&self, eng: &Engine) -> u64 {
        self.opened.iter().filter(|&&id| self.role(id) == Role::Slow && eng.is_open(id)).count() as u64
    }
}

impl Scenario for Fanout {
    fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool {
        match self.phase {
            Phase::Connecting => {
                if self.conn.step(eng, now) {
                    self.opened.retain(|&id| eng.is_open(id));
                    // issue index 0 is the publisher; the others subscribers
                    for &id in &self.opened {
                        let index = self.conn.index_of[id];
                        if id >= self.role.len() {
                            self.role.resize(id + 1, Role::None);
                        }
                        let r = if index == 0 {
                            self.publisher = Some(id);
                            Role::Publisher
                        } else if self.slow_index.get(index).copied().unwrap_or(false) {
                            self.slow += 1;
                            Role::Slow
                        } else {
                            self.healthy += 1;
                            Role::Healthy
                        };
                        self.role[id] = r;
                        let name = if index == 0 { rooms::name('p', 0) } else { rooms::name('c', index) };
                        eng.send_raw(id, &rooms::join_frame(&name));
                    }
                    self.alive_healthy = self.healthy;
                    if self.publisher.is_none() || self.healthy == 0 {
                        self.phase = Phase::Done;
                        return false;
                    }
                    let n = self.role.len();
                    self.got_probe = vec![false; n];
                    self.count = vec![0; n];
                    self.phase = Phase::Sync { until: now + self.sync_timeout, next_probe: now };
                }
                true
            }
            Phase::Sync { until, next_probe } => {
                if self.probes_seen >= self.healthy + self.slow {
                    for &id in &self.opened {
                        if self.role(id) == Role::Slow {
                            eng.pause(id);
                        }
                    }
                    self.warmup_until = now + self.warmup;
                    self.phase = Phase::Bursts;
                    self.start_burst(eng, now);
                } else if now >= until {
                    self.sync_failed = true;
                    self.phase = Phase::Done;
                    return false;
                } else if now >= next_probe {
                    self.frame.clear();
                    self.layout.put_notify(&mut self.frame, self.probes_sent, true);
                    self.probes_sent += 1;
                    eng.send_raw(self.publisher.unwrap(), &self.frame);
                    self.phase = Phase::Sync { until, next_probe: now + Duration::from_millis(20) };
                }
                true
            }
            Phase::Bursts => {
                if now - self.burst_t0 > self.burst_timeout || self.alive_healthy == 0 {
                    self.incomplete = true;
                    self.incomplete_got = self.count.iter().map(|&c| c as u64).sum();
                    if self.measuring {
                        self.end_measure(eng, now);
                    } else {
                        self.phase = Phase::Done;
                        return false;
                    }
                }
                true
            }
            Phase::SlowCheck(until) => {
                if now >= until || self.slow_live(eng) == 0 {
                    self.slow_alive_at_end = self.slow_live(eng);
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
                self.opened.push(id);
            }
            Event::Message(id, m) => {
                let role = self.role(id);
                let kind = self.layout.classify(&m);
                match role {
                    Role::Healthy => match kind {
                        Kind::Data { seq, ok } => {
                            if !ok {
                                self.bad_len += 1;
                            }
                            if self.phase != Phase::Bursts
                                || seq < self.burst_base
                                || seq >= self.burst_base + self.messages
                            {
                                self.bad_seq += 1;
                                return;
                            }
                            let c = &mut self.count[id];
                            *c += 1;
                            if *c == self.messages {
                                self.complete += 1;
                                if self.complete >= self.alive_healthy {
                                    self.burst_done(eng, Instant::now());
                                }
                            }
                        }
                        Kind::Probe => {
                            if !self.got_probe[id] {
                                self.got_probe[id] = true;
                                self.probes_seen += 1;
                            }
                        }
                        Kind::Other => self.other += 1,
                    },
                    Role::Slow => match kind {
                        Kind::Probe => {
                            if !self.got_probe[id] {
                                self.got_probe[id] = true;
                                self.probes_seen += 1;
                            }
                        }
                        _ => {
                            if matches!(self.phase, Phase::SlowCheck(_) | Phase::Done) {
                                self.slow_frames += 1;
                            } else {
                                self.slow_frames_early += 1;
                            }
                        }
                    },
                    Role::Publisher => self.other += 1,
                    Role::None => {}
                }
            }
            Event::Close(id, code) => {
                match self.role(id) {
                    Role::Slow => {
                        self.slow_closes += 1;
                        if code == 1008 {
                            self.slow_1008 += 1;
                        }
                    }
                    _ => {
                        self.healthy_closes += 1;
                        if code == 1008 {
                            self.healthy_1008 += 1;
                        }
                    }
                }
                eng.close(id);
            }
            Event::Ended(id, end) => {
                self.conn.on_ended(id, end);
                match self.role(id) {
                    Role::Healthy | Role::Publisher if !matches!(self.phase, Phase::SlowCheck(_) | Phase::Done) => {
                        self.healthy_lost += 1;
                        if self.role(id) == Role::Healthy {
                            if self.count.get(id).copied().unwrap_or(0) >= self.messages {
                                self.complete = self.complete.saturating_sub(1);
                            }
                            self.alive_healthy = self.alive_healthy.saturating_sub(1);
                        } else {
                            self.publisher = None;
                            self.alive_healthy = 0;
                        }
                    }
                    Role::Slow => match end {
                        End::Eof => self.slow_eof += 1,
                        End::IoError => self.slow_reset += 1,
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
}

pub fn run(args: &Args, s1: bool) -> Result<i32, String> {
    args.check_known(OPTIONS)?;
    let url = ws::parse_url(args.str("url").unwrap_or("ws://127.0.0.1:8765/layout"))?;
    let subscribers: usize = args.num("subscribers", 1000)?;
    let messages: u32 = args.num("messages", 300)?;
    let size: usize = args.num("size", 64)?;
    let duration = args.secs("duration", 5.0)?;
    let warmup = args.secs("warmup", 1.0)?;
    let slow_pct: f64 = args.num("slow-pct", if s1 { 1.0 } else { 0.0 })?;
    let slow_rcvbuf: i32 = args.num("slow-rcvbuf", 4096)?;
    let burst_timeout = args.secs("burst-timeout", 10.0)?;
    let connect_timeout = args.secs("connect-timeout", 5.0)?;
    let sync_timeout = args.secs("sync-timeout", 5.0)?;
    let connect_batch: usize = args.num("connect-batch", 100)?;
    if subscribers == 0 || messages == 0 || !(0.0..100.0).contains(&slow_pct) {
        return Err("--subscribers and --messages must be > 0, --slow-pct in [0, 100)".into());
    }
    let layout = Layout::new(size)?;
    // issue index 0 = publisher, 1..=subscribers = subscribers; slow ones
    // spread evenly among them
    let n_slow = ((subscribers as f64 * slow_pct / 100.0).round() as usize).min(subscribers - 1);
    let mut slow_index = vec![false; subscribers + 1];
    for j in 0..n_slow {
        slow_index[1 + j * subscribers / n_slow] = true;
    }
    let mut eng = Engine::new(&url).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut sc = Fanout {
        s1,
        conn: Connector::new(subscribers + 1, connect_batch, t0 + connect_timeout)
            .with_small_rcvbuf(slow_index.clone(), slow_rcvbuf),
        slow_index,
        layout,
        messages,
        warmup,
        duration,
        sync_timeout,
        burst_timeout,
        phase: Phase::Connecting,
        opened: Vec::new(),
        role: Vec::new(),
        publisher: None,
        healthy: 0,
        slow: 0,
        alive_healthy: 0,
        got_probe: Vec::new(),
        probes_seen: 0,
        probes_sent: 0,
        burst_base: 0,
        burst_t0: t0,
        count: Vec::new(),
        complete: 0,
        warmup_until: t0,
        measure_until: None,
        measuring: false,
        bursts: 0,
        burst_secs: Vec::new(),
        deliveries: 0,
        incomplete: false,
        incomplete_got: 0,
        bad_len: 0,
        bad_seq: 0,
        other: 0,
        healthy_lost: 0,
        healthy_1008: 0,
        healthy_closes: 0,
        slow_frames: 0,
        slow_frames_early: 0,
        slow_1008: 0,
        slow_closes: 0,
        slow_eof: 0,
        slow_reset: 0,
        slow_alive_at_end: 0,
        sync_failed: false,
        t_start: None,
        t_end: None,
        cpu_start: 0.0,
        cpu_end: 0.0,
        frame: Vec::new(),
    };
    let hard = t0 + connect_timeout + sync_timeout + warmup + duration + burst_timeout + Duration::from_secs(3);
    let finished = eng.run(&mut sc, hard);
    let t_end = sc.t_end.unwrap_or_else(Instant::now);
    let cpu_end = if sc.t_end.is_some() { sc.cpu_end } else { sys::cpu_seconds() };
    eng.shutdown(Duration::from_millis(500));

    // the figure: measured bursts only (their total time is the window)
    let secs: f64 = sc.burst_secs.iter().sum();
    let window = sc.t_start.map_or(0.0, |t| (t_end - t).as_secs_f64());
    let rate = if secs > 0.0 { sc.deliveries as f64 / secs } else { 0.0 };
    let cpu = if window > 0.0 { 100.0 * (cpu_end - sc.cpu_start) / window } else { 0.0 };
    let mut bs = sc.burst_secs.clone();
    bs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let ms = |v: Option<&f64>| v.map(|x| x * 1000.0);
    let st = &eng.stats;
    let mut error = String::new();
    if sc.conn.open == 0 {
        error = format!("no connection could be opened ({})", st.last_error);
    } else if sc.publisher.is_none() && sc.healthy == 0 {
        error = "no publisher or no healthy subscriber connected".into();
    } else if sc.sync_failed {
        error = format!(
            "JOIN not confirmed: {} of {} subscribers saw a probe NOTIFY within {:?} (does the server speak the rooms protocol at this path?)",
            sc.probes_seen,
            sc.healthy + sc.slow,
            sc.sync_timeout
        );
    } else if sc.incomplete && sc.bursts == 0 {
        error = format!(
            "first burst incomplete after {:?}: {} of {} deliveries ({} healthy subscribers lost)",
            sc.burst_timeout,
            sc.incomplete_got,
            sc.messages as u64 * sc.healthy as u64,
            sc.healthy_lost
        );
    } else if !finished {
        error = "hard time limit reached".into();
    }
    let all_received = sc.bursts > 0 && !sc.incomplete && sc.healthy_lost == 0 && sc.bad_seq == 0;
    let scenario = if s1 { "S1" } else { "B2" };
    let _ = sc.s1;
    let mut j = Json::new()
        .str("scenario", scenario)
        .int("subscribers", subscribers as u64)
        .int("open", sc.conn.open as u64)
        .int("healthy", sc.healthy as u64)
        .int("slow", sc.slow as u64)
        .int("messages", messages as u64)
        .int("size", size as u64)
        .int("event_bytes", sc.layout.event_len)
        .int("bursts", sc.bursts)
        .int("deliveries", sc.deliveries)
        .float("seconds", secs, 3)
        .float("deliveries_per_s", rate, 1)
        .float("burst_ms_min", ms(bs.first()).unwrap_or(f64::NAN), 2)
        .float("burst_ms_median", ms(bs.get(bs.len() / 2)).unwrap_or(f64::NAN), 2)
        .float("burst_ms_max", ms(bs.last()).unwrap_or(f64::NAN), 2)
        .bool("all_received", all_received)
        .bool("incomplete_burst", sc.incomplete)
        .int("healthy_lost", sc.healthy_lost)
        .int("healthy_closes", sc.healthy_closes)
        .int("healthy_1008", sc.healthy_1008)
        .int("bad_frames", sc.bad_len + sc.bad_seq + sc.other);
    if sc.slow > 0 || s1 {
        j = j
            .int("slow_1008", sc.slow_1008)
            .int("slow_closes", sc.slow_closes)
            .int("slow_eof", sc.slow_eof)
            .int("slow_reset", sc.slow_reset)
            .int("slow_frames_read_at_end", sc.slow_frames)
            .int("slow_frames_read_before", sc.slow_frames_early)
            .int("slow_open_at_end", sc.slow_alive_at_end);
    }
    let j = j
        .int(
            "errors",
            st.connect_errors
                + st.handshake_errors
                + sc.conn.timeouts
                + sc.conn.not_tried
                + sc.bad_len
                + sc.bad_seq
                + sc.other
                + sc.healthy_lost
                + sc.incomplete as u64,
        )
        .int("connect_errors", st.connect_errors + st.handshake_errors + sc.conn.timeouts + sc.conn.not_tried)
        .float("client_cpu_pct", cpu, 1)
        .str("last_error", &st.last_error)
        .str("error", &error)
        .finish();
    println!("{j}");
    Ok(if sc.conn.open == 0 {
        2
    } else if !finished {
        3
    } else if !error.is_empty() {
        1
    } else {
        0
    })
}
