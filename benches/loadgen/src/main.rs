//! loadgen: a single-threaded epoll WebSocket load client for scanbridge's
//! side-by-side benchmarks (see benches/README.md).
//!
//! Every subcommand writes `loadgen: measure start` and `loadgen: measure
//! end` on stderr at the edges of its measurement window, and prints one JSON line on stdout and exits 0, or 2 when
//! no connection/upgrade succeeded at all, 3 when the hard time limit cut
//! the run short, 64 on a usage error.
//!
//! Adding a scenario: a module with a `Scenario` impl (tick + on_event,
//! see engine.rs) and a `run(&Args)`, plus a line in `main` below.

mod connect_phase;
mod echo;
mod engine;
mod handshake;
mod sys;
mod util;
mod ws;

const USAGE: &str = "\
usage: loadgen SCENARIO [options]

  echo       E2 closed-loop echo: each connection sends one message and the
             next when its echo arrives
             --url ws://127.0.0.1:PORT/echo --conns 100 --size 256
             --duration 5 --warmup 1 [--binary|--text] --inflight 1
             --connect-timeout 3 --connect-batch 100
  handshake  H1 connect + upgrade + close, `concurrency` at a time
             --url ws://127.0.0.1:PORT/echo --concurrency 100
             --duration 5 --warmup 1
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
