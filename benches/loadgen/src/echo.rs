//! E2: closed-loop echo. Each connection keeps `inflight` messages
//! outstanding and sends the next one when an echo arrives.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::{Engine, Event, Id, Scenario};
use crate::util::{Args, Hist, Json};
use crate::ws;
use crate::{connect_phase::Connector, sys};

pub const OPTIONS: &[&str] =
    &["url", "conns", "size", "duration", "warmup", "binary", "text", "inflight", "connect-timeout", "connect-batch", "deflate", "tls", "json"];

/// A JSON text of exactly `size` bytes (scan-event-like records, numbers
/// varying per record, then a padding field), for C1.
fn json_payload(size: usize) -> Vec<u8> {
    let mut recs: Vec<String> = Vec::new();
    let mut used = "{\"events\":[],\"pad\":\"\"}".len();
    for i in 0u64.. {
        let r = format!(
            "{{\"sender\":\"c{:05}\",\"room\":\"lobby\",\"code\":\"{:013}\",\"symbology\":\"EAN13\",\"ts\":{}}}",
            (i * 37) % 100000,
            4006381333931u64 + i * 7919,
            1700000000123u64 + i * 13
        );
        let add = r.len() + if recs.is_empty() { 0 } else { 1 };
        if used + add > size {
            break;
        }
        used += add;
        recs.push(r);
    }
    let pad = size.saturating_sub(used);
    let mut s = format!("{{\"events\":[{}],\"pad\":\"{}\"}}", recs.join(","), "x".repeat(pad));
    s.truncate(size.max(0));
    s.into_bytes()
}

pub struct Echo {
    conn: Connector,
    inflight: usize,
    frame: Vec<u8>,
    /// the same message compressed (RSV1), for connections with deflate
    zframe: Vec<u8>,
    compressed_replies: u64,
    size: usize,
    warmup: Duration,
    duration: Duration,
    phase: Phase,
    t_start: Option<Instant>,
    t_end: Option<Instant>,
    cpu_start: f64,
    cpu_end: f64,
    messages: u64,
    bad_len: u64,
    sent_at: Vec<VecDeque<Instant>>,
    outstanding: u64,
    opened: Vec<Id>,
    per_conn: Vec<u64>,
    hist: Hist,
    bytes_start: (u64, u64),
    bytes_end: (u64, u64),
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Connecting,
    Warmup(Instant),
    Measure(Instant),
    /// no new messages; wait (briefly) for the outstanding echoes so the
    /// close handshake does not cross a message in flight
    Drain(Instant),
    Done,
}

impl Echo {
    fn send_one(&mut self, eng: &mut Engine, id: Id, now: Instant) {
        if eng.deflate(id) {
            eng.send_raw(id, &self.zframe);
        } else {
            eng.send_raw(id, &self.frame);
        }
        self.outstanding += 1;
        if id >= self.sent_at.len() {
            self.sent_at.resize_with(id + 1, VecDeque::new);
        }
        self.sent_at[id].push_back(now);
    }
}

impl Scenario for Echo {
    fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool {
        match self.phase {
            Phase::Connecting => {
                if self.conn.step(eng, now) {
                    if self.conn.open == 0 {
                        self.phase = Phase::Done;
                        return false;
                    }
                    // Load starts once every connection is open (or the
                    // connect phase timed out), so that handshakes do not
                    // compete with echo traffic.
                    for id in std::mem::take(&mut self.opened) {
                        if eng.is_open(id) {
                            for _ in 0..self.inflight {
                                self.send_one(eng, id, now);
                            }
                        }
                    }
                    self.phase = Phase::Warmup(now + self.warmup);
                }
                true
            }
            Phase::Warmup(until) => {
                if now >= until {
                    self.messages = 0;
                    self.compressed_replies = 0;
                    self.bytes_start = (eng.stats.bytes_in, eng.stats.bytes_out);
                    self.hist.clear();
                    self.t_start = Some(now);
                    self.cpu_start = sys::cpu_seconds();
                    self.phase = Phase::Measure(now + self.duration);
                    crate::marker("measure start");
                }
                true
            }
            Phase::Measure(until) => {
                if now >= until || eng.live() == 0 {
                    self.t_end = Some(now);
                    self.bytes_end = (eng.stats.bytes_in, eng.stats.bytes_out);
                    self.cpu_end = sys::cpu_seconds();
                    crate::marker("measure end");
                    self.phase = Phase::Drain(now + Duration::from_millis(500));
                }
                true
            }
            Phase::Drain(until) => {
                if now >= until || self.outstanding == 0 {
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
                let now = Instant::now();
                // A compressed echo's length is the compressed length (the
                // server's own compressor): not checked.
                if m.compressed {
                    if let Phase::Measure(_) = self.phase {
                        self.compressed_replies += 1;
                    }
                } else if m.len != self.size as u64 {
                    self.bad_len += 1;
                }
                if let Some(t) = self.sent_at.get_mut(id).and_then(|q| q.pop_front()) {
                    self.outstanding -= 1;
                    if let Phase::Measure(_) = self.phase {
                        self.messages += 1;
                        if id >= self.per_conn.len() { self.per_conn.resize(id + 1, 0); }
                        self.per_conn[id] += 1;
                        self.hist.add(now - t);
                    }
                }
                if matches!(self.phase, Phase::Connecting | Phase::Warmup(_) | Phase::Measure(_)) {
                    self.send_one(eng, id, now);
                }
            }
            Event::Close(id, _) => eng.close(id),
            Event::Ended(id, end) => {
                self.conn.on_ended(id, end);
                if let Some(q) = self.sent_at.get_mut(id) {
                    self.outstanding -= q.len() as u64;
                    q.clear();
                }
            }
        }
    }
}

pub fn run(args: &Args) -> Result<i32, String> {
    args.check_known(OPTIONS)?;
    let mut url_s = args.str("url").unwrap_or("ws://127.0.0.1:8765/echo").to_string();
    let tls = args.flag("tls");
    if tls {
        if let Some(rest) = url_s.strip_prefix("ws://") {
            url_s = format!("wss://{rest}");
        }
    }
    let url = ws::parse_url(&url_s)?;
    let deflate = args.flag("deflate");
    let json = args.flag("json") || deflate;
    let conns: usize = args.num("conns", 100)?;
    let size: usize = args.num("size", 256)?;
    let inflight: usize = args.num("inflight", 1)?;
    let duration = args.secs("duration", 5.0)?;
    let warmup = args.secs("warmup", 1.0)?;
    let connect_timeout = args.secs("connect-timeout", 3.0)?;
    let connect_batch: usize = args.num("connect-batch", 100)?;
    let text = args.flag("text") || json;
    if conns == 0 || inflight == 0 {
        return Err("--conns and --inflight must be > 0".into());
    }
    let payload: Vec<u8> =
        if json { json_payload(size) } else { (0..size).map(|i| b'a' + (i % 26) as u8).collect() };
    let mut frame = Vec::new();
    ws::encode_frame(&mut frame, if text { ws::OP_TEXT } else { ws::OP_BINARY }, &payload);
    let mut zframe = Vec::new();
    if deflate {
        ws::encode_frame_rsv1(&mut zframe, ws::OP_TEXT, &ws::deflate_message(&payload));
    }

    let mut eng = Engine::new(&url).map_err(|e| e.to_string())?;
    if deflate {
        eng.offer_deflate(&url);
    }
    let t0 = Instant::now();
    let mut sc = Echo {
        conn: Connector::new(conns, connect_batch, t0 + connect_timeout),
        inflight,
        frame,
        zframe,
        compressed_replies: 0,
        size,
        warmup,
        duration,
        phase: Phase::Connecting,
        t_start: None,
        t_end: None,
        cpu_start: 0.0,
        cpu_end: 0.0,
        messages: 0,
        bad_len: 0,
        sent_at: Vec::new(),
        outstanding: 0,
        opened: Vec::new(),
        per_conn: Vec::new(),
        hist: Hist::new(),
        bytes_start: (0, 0),
        bytes_end: (0, 0),
    };
    let hard = t0 + connect_timeout + warmup + duration + Duration::from_secs(2);
    let finished = eng.run(&mut sc, hard);
    let now = Instant::now();
    let t_end = sc.t_end.unwrap_or(now);
    let cpu_end = if sc.t_end.is_some() { sc.cpu_end } else { sys::cpu_seconds() };
    eng.shutdown(Duration::from_millis(500));

    let secs = sc.t_start.map_or(0.0, |t| (t_end - t).as_secs_f64());
    let rate = if secs > 0.0 { sc.messages as f64 / secs } else { 0.0 };
    let cpu = if secs > 0.0 { 100.0 * (cpu_end - sc.cpu_start) / secs } else { 0.0 };
    let st = &eng.stats;
    if std::env::var_os("LOADGEN_DEBUG").is_some() {
        let mut pc = sc.per_conn.clone();
        pc.sort();
        eprintln!("debug: per-conn messages min {:?} median {:?} max {:?}; {:?}", pc.first(), pc.get(pc.len() / 2), pc.last(), st);
    }
    let mut error = String::new();
    if sc.conn.open == 0 {
        error = format!("no connection could be opened ({})", st.last_error);
    } else if !finished {
        error = "hard time limit reached".into();
    }
    let per_msg = |a: u64, b: u64| if sc.messages > 0 { b.saturating_sub(a) as f64 / sc.messages as f64 } else { 0.0 };
    let scen = match (deflate, url.tls) {
        (true, _) => "C1",
        (false, true) => "T1",
        _ => "E2",
    };
    let j = Json::new()
        .str("scenario", scen)
        .int("conns", conns as u64)
        .int("open", sc.conn.open as u64)
        .int("size", size as u64)
        .int("inflight", inflight as u64)
        .bool("binary", !text)
        .int("messages", sc.messages)
        .float("seconds", secs, 3)
        .float("msgs_per_s", rate, 1)
        .bool("tls", url.tls)
        .bool("json", json)
        .bool("deflate_offered", deflate)
        .int("deflate_accepted", st.deflate_accepted)
        .int("compressed_replies", sc.compressed_replies)
        .int("frame_bytes", if deflate && st.deflate_accepted > 0 { sc.zframe.len() } else { sc.frame.len() } as u64)
        .float("wire_out_per_msg", per_msg(sc.bytes_start.1, sc.bytes_end.1), 1)
        .float("wire_in_per_msg", per_msg(sc.bytes_start.0, sc.bytes_end.0), 1)
        .int("errors", st.errors() + sc.conn.timeouts + sc.conn.not_tried + sc.bad_len)
        .int("connect_errors", st.connect_errors + st.handshake_errors + sc.conn.timeouts + sc.conn.not_tried)
        .opt_int("p50_us", sc.hist.pct(50.0))
        .opt_int("p99_us", sc.hist.pct(99.0))
        .opt_int("p999_us", sc.hist.pct(99.9))
        .opt_int("mean_us", sc.hist.mean())
        .int("max_us", sc.hist.max_us)
        .float("client_cpu_pct", cpu, 1)
        .str("last_error", &st.last_error)
        .str("error", &error)
        .finish();
    println!("{j}");
    Ok(if sc.conn.open == 0 { 2 } else if !finished { 3 } else { 0 })
}
