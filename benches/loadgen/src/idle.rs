//! M1: idle memory. Opens `conns` upgraded connections (nothing else is
//! sent), waits `settle` seconds with all of them open, writes the
//! `measure end` marker (the runner reads the server's RSS then), holds them
//! `hold` more seconds, and closes them. `measure start` is written before
//! the first connect (the runner also reads the RSS before starting the
//! client). RLIMIT_NOFILE is raised to its hard limit.

use std::time::{Duration, Instant};

use crate::connect_phase::Connector;
use crate::engine::{Engine, Event, Scenario};
use crate::sys;
use crate::util::{Args, Json};
use crate::ws;

pub const OPTIONS: &[&str] = &["url", "conns", "settle", "hold", "connect-timeout", "connect-batch"];

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Connecting,
    Settle(Instant),
    Hold(Instant),
    Done,
}

struct Idle {
    conn: Connector,
    settle: Duration,
    hold: Duration,
    phase: Phase,
    t_open: Option<Instant>,
    lost: u64,
    closes: u64,
    messages: u64,
    open_at_mark: u64,
    /// CPU seconds and time at the end mark
    mark: Option<(f64, Instant)>,
}

impl Scenario for Idle {
    fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool {
        match self.phase {
            Phase::Connecting => {
                if self.conn.step(eng, now) {
                    self.t_open = Some(now);
                    if self.conn.open == 0 {
                        self.phase = Phase::Done;
                        return false;
                    }
                    self.phase = Phase::Settle(now + self.settle);
                }
                true
            }
            Phase::Settle(until) => {
                if now >= until {
                    self.open_at_mark = eng.live() as u64;
                    self.mark = Some((sys::cpu_seconds(), now));
                    crate::marker("measure end");
                    self.phase = Phase::Hold(now + self.hold);
                }
                true
            }
            Phase::Hold(until) => {
                if now >= until {
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
            Event::Open(id) => self.conn.on_open(id),
            Event::Message(..) => self.messages += 1,
            Event::Close(id, _) => {
                self.closes += 1;
                eng.close(id);
            }
            Event::Ended(id, end) => {
                self.conn.on_ended(id, end);
                if self.phase != Phase::Connecting && self.phase != Phase::Done {
                    self.lost += 1;
                }
            }
        }
    }
}

pub fn run(args: &Args) -> Result<i32, String> {
    args.check_known(OPTIONS)?;
    let url = ws::parse_url(args.str("url").unwrap_or("ws://127.0.0.1:8765/echo"))?;
    let conns: usize = args.num("conns", 5000)?;
    let settle = args.secs("settle", 1.0)?;
    let hold = args.secs("hold", 0.5)?;
    let connect_timeout = args.secs("connect-timeout", 20.0)?;
    let connect_batch: usize = args.num("connect-batch", 100)?;
    if conns == 0 {
        return Err("--conns must be > 0".into());
    }
    let nofile = sys::raise_nofile();
    if nofile > 0 && (conns as u64) + 64 > nofile {
        return Err(format!("--conns {conns} needs more file descriptors than RLIMIT_NOFILE allows ({nofile})"));
    }
    let mut eng = Engine::new(&url).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    crate::marker("measure start");
    let cpu0 = sys::cpu_seconds();
    let mut sc = Idle {
        conn: Connector::new(conns, connect_batch, t0 + connect_timeout),
        settle,
        hold,
        phase: Phase::Connecting,
        t_open: None,
        lost: 0,
        closes: 0,
        messages: 0,
        open_at_mark: 0,
        mark: None,
    };
    let hard = t0 + connect_timeout + settle + hold + Duration::from_secs(2);
    let finished = eng.run(&mut sc, hard);
    // client CPU over the runner's window (start mark .. end mark)
    let (cpu1, t1) = sc.mark.unwrap_or_else(|| (sys::cpu_seconds(), Instant::now()));
    let secs_open = sc.t_open.map_or(0.0, |t| (t - t0).as_secs_f64());
    let window = (t1 - t0).as_secs_f64();
    eng.shutdown(Duration::from_millis(1000));
    let st = &eng.stats;
    let mut error = String::new();
    if sc.conn.open == 0 {
        error = format!("no connection could be opened ({})", st.last_error);
    } else if !finished {
        error = "hard time limit reached".into();
    }
    let j = Json::new()
        .str("scenario", "M1")
        .int("conns", conns as u64)
        .int("open", sc.conn.open as u64)
        .int("open_at_mark", sc.open_at_mark)
        .float("seconds_to_open", secs_open, 3)
        .int("lost", sc.lost)
        .int("messages", sc.messages)
        .int("errors", st.errors() + sc.conn.timeouts + sc.conn.not_tried + sc.lost)
        .int("connect_errors", st.connect_errors + st.handshake_errors + sc.conn.timeouts + sc.conn.not_tried)
        .float("client_cpu_pct", if window > 0.0 { 100.0 * (cpu1 - cpu0) / window } else { 0.0 }, 1)
        .str("last_error", &st.last_error)
        .str("error", &error)
        .finish();
    println!("{j}");
    Ok(if sc.conn.open == 0 { 2 } else if !finished { 3 } else { 0 })
}
