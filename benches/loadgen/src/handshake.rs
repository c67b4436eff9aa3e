//! H1: handshake rate. `concurrency` connections in flight, each one:
//! connect, upgrade, send a close frame, wait for the server's close frame
//! (or EOF), close the socket; then a new one takes its place.

use std::time::{Duration, Instant};

use crate::engine::{End, Engine, Event, Scenario};
use crate::sys;
use crate::util::{Args, Json};
use crate::ws;

pub const OPTIONS: &[&str] = &["url", "concurrency", "duration", "warmup", "wait-eof"];

struct Handshake {
    concurrency: usize,
    wait_eof: bool,
    warmup: Duration,
    duration: Duration,
    phase: Phase,
    upgraded: Vec<bool>,
    upgrades: u64,
    cycles: u64,
    upgrades_total: u64,
    t_start: Option<Instant>,
    t_end: Option<Instant>,
    cpu_start: f64,
    cpu_end: f64,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Start,
    Warmup(Instant),
    Measure(Instant),
    /// no new connections; let the cycles in flight finish (not counted)
    Drain(Instant),
    Done,
}

impl Scenario for Handshake {
    fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool {
        match self.phase {
            Phase::Start => self.phase = Phase::Warmup(now + self.warmup),
            Phase::Warmup(until) if now >= until => {
                self.t_start = Some(now);
                self.cpu_start = sys::cpu_seconds();
                self.upgrades = 0;
                self.cycles = 0;
                self.phase = Phase::Measure(now + self.duration);
                crate::marker("measure start");
            }
            Phase::Measure(until) if now >= until => {
                self.t_end = Some(now);
                self.cpu_end = sys::cpu_seconds();
                crate::marker("measure end");
                self.phase = Phase::Drain(now + Duration::from_millis(500));
                return true;
            }
            Phase::Drain(until) => {
                if now >= until || eng.live() == 0 {
                    self.phase = Phase::Done;
                    return false;
                }
                return true;
            }
            Phase::Done => return false,
            _ => {}
        }
        while eng.live() < self.concurrency {
            if eng.open().is_none() {
                break; // counted in stats.connect_errors; retried next tick
            }
        }
        true
    }

    fn on_event(&mut self, eng: &mut Engine, ev: Event) {
        let measuring = matches!(self.phase, Phase::Measure(_));
        match ev {
            Event::Open(id) => {
                if id >= self.upgraded.len() {
                    self.upgraded.resize(id + 1, false);
                }
                self.upgraded[id] = true;
                self.upgrades_total += 1;
                if measuring {
                    self.upgrades += 1;
                }
                eng.send_close(id);
            }
            Event::Close(id, _) => {
                if !self.wait_eof {
                    eng.close(id);
                }
            }
            Event::Message(..) => {}
            Event::Ended(id, end) => {
                if self.upgraded.get(id).copied().unwrap_or(false) {
                    self.upgraded[id] = false;
                    if measuring && matches!(end, End::Closed | End::Eof) {
                        self.cycles += 1;
                    }
                }
            }
        }
    }
}

pub fn run(args: &Args) -> Result<i32, String> {
    args.check_known(OPTIONS)?;
    let url = ws::parse_url(args.str("url").unwrap_or("ws://127.0.0.1:8765/echo"))?;
    let concurrency: usize = args.num("concurrency", 100)?;
    let duration = args.secs("duration", 5.0)?;
    let warmup = args.secs("warmup", 1.0)?;
    if concurrency == 0 {
        return Err("--concurrency must be > 0".into());
    }
    let mut eng = Engine::new(&url).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut sc = Handshake {
        concurrency,
        wait_eof: args.flag("wait-eof"),
        warmup,
        duration,
        phase: Phase::Start,
        upgraded: Vec::new(),
        upgrades: 0,
        cycles: 0,
        upgrades_total: 0,
        t_start: None,
        t_end: None,
        cpu_start: 0.0,
        cpu_end: 0.0,
    };
    let hard = t0 + warmup + duration + Duration::from_secs(2);
    let finished = eng.run(&mut sc, hard);
    let t_end = sc.t_end.unwrap_or_else(Instant::now);
    let cpu_end = if sc.t_end.is_some() { sc.cpu_end } else { sys::cpu_seconds() };
    eng.shutdown(Duration::from_millis(500));

    let secs = sc.t_start.map_or(0.0, |t| (t_end - t).as_secs_f64());
    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let cpu = if secs > 0.0 { 100.0 * (cpu_end - sc.cpu_start) / secs } else { 0.0 };
    let st = &eng.stats;
    let mut error = String::new();
    if sc.upgrades_total == 0 {
        error = format!("no upgrade succeeded ({})", st.last_error);
    } else if !finished {
        error = "hard time limit reached".into();
    }
    let j = Json::new()
        .str("scenario", "H1")
        .int("concurrency", concurrency as u64)
        .int("upgrades", sc.upgrades)
        .int("cycles", sc.cycles)
        .float("seconds", secs, 3)
        .float("upgrades_per_s", per_s(sc.upgrades), 1)
        .float("cycles_per_s", per_s(sc.cycles), 1)
        .int("errors", st.errors())
        .int("connect_errors", st.connect_errors + st.handshake_errors)
        .float("client_cpu_pct", cpu, 1)
        .str("last_error", &st.last_error)
        .str("error", &error)
        .finish();
    println!("{j}");
    Ok(if sc.upgrades_total == 0 { 2 } else if !finished { 3 } else { 0 })
}
