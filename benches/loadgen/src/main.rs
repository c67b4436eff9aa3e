//! loadgen: a single-threaded epoll WebSocket load client for scanbridge's
//! side-by-side benchmarks (see benches/README.md).
//!
//! Every subcommand writes `loadgen: measure start` and `loadgen: measure
//! end` on stderr at the edges of its measurement window, and prints one JSON line on stdout and exits 0, or 2 when
//! no connection/upgrade succeeded at all, 3 when the hard time limit cut
//! the run short, 1 when a rooms scenario could not run (JOIN never
//! confirmed, stalled, first burst incomplete), 64 on a usage error.
//!
//! Adding a scenario: a module with a `Scenario` impl (tick + on_event,
//! see engine.rs) and a `run(&Args)`, plus a line in `main` below.

mod b1;
mod connect_phase;
mod echo;
mod engine;
mod fanout;
mod handshake;
mod idle;
mod rooms;
mod sys;
mod tls;
mod util;
mod ws;

const USAGE: &str = "\
usage: loadgen SCENARIO [options]

  echo       E2 closed-loop echo: each connection sends one message and the
             next when its echo arrives
             --url ws://127.0.0.1:PORT/echo --conns 100 --size 256
             --duration 5 --warmup 1 [--binary|--text] --inflight 1
             --connect-timeout 3 --connect-batch 100
             [--json] JSON text of --size bytes; [--deflate] C1: offer
             permessage-deflate (no context takeover), send compressed
             when accepted (implies --json); [--tls] or a wss:// URL: T1
             (rustls, any certificate accepted)
  handshake  H1 connect + upgrade + close, `concurrency` at a time
             --url ws://127.0.0.1:PORT/echo --concurrency 100
             --duration 5 --warmup 1
  b1         B1 chat room: all clients JOIN one room and NOTIFY in rounds
             (a client sends round r once it has every other client's
             rounds < r - window + 1); counts EVENTs received
             --url ws://127.0.0.1:PORT/layout --clients 100 --size 64
             --duration 5 --warmup 1 --window 4 --connect-timeout 5
             --sync-timeout 5 --connect-batch 100
  b2         B2 fan-out: subscribers + 1 publisher JOIN; bursts of
             `messages` NOTIFYs, each until every subscriber has all
             --url ws://127.0.0.1:PORT/layout --subscribers 1000
             --messages 300 --size 64 --duration 5 --warmup 1
             --burst-timeout 10 --connect-timeout 5 --sync-timeout 5
  s1         S1 slow consumers: b2 where --slow-pct 1 % of the subscribers
             (SO_RCVBUF --slow-rcvbuf 4096) stop reading after the JOIN
  m1         M1 idle memory: open --conns 5000 upgraded connections, wait
             --settle 1 s, mark, hold --hold 0.5 s, close
             --url ws://127.0.0.1:PORT/echo --connect-timeout 20
";

/// Tells a supervising runner (benches/compare.py) where the measurement
/// window starts and ends, so it can sample the server's CPU over exactly
/// that window.
pub fn marker(what: &str) {
    eprintln!("loadgen: {what}");
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first() else {
        eprint!("{USAGE}");
        std::process::exit(64);
    };
    let args = match util::Args::parse(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}\n\n{USAGE}");
            std::process::exit(64);
        }
    };
    let res = match cmd.as_str() {
        "echo" => echo::run(&args),
        "handshake" => handshake::run(&args),
        "b1" => b1::run(&args),
        "b2" => fanout::run(&args, false),
        "s1" => fanout::run(&args, true),
        "m1" => idle::run(&args),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown scenario {other}")),
    };
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("loadgen: {e}\n\n{USAGE}");
            std::process::exit(64);
        }
    }
}
