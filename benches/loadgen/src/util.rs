//! Command-line options, a latency histogram, JSON output.

use std::collections::HashMap;
use std::time::Duration;

pub struct Args {
    vals: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    /// Parses `--key value` and `--flag` (a flag is an option not followed
    /// by a value; values never start with `--`). `--key=value` works too.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut vals = HashMap::new();
        let mut flags = Vec::new();
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            let Some(key) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument: {a}"));
            };
            if let Some((k, v)) = key.split_once('=') {
                vals.insert(k.to_string(), v.to_string());
            } else if i + 1 < argv.len() && !argv[i + 1].starts_with("--") {
                vals.insert(key.to_string(), argv[i + 1].clone());
                i += 1;
            } else {
                flags.push(key.to_string());
            }
            i += 1;
        }
        Ok(Args { vals, flags })
    }

    /// Fails if an option not in `known` was given.
    pub fn check_known(&self, known: &[&str]) -> Result<(), String> {
        for k in self.vals.keys().chain(self.flags.iter()) {
            if !known.contains(&k.as_str()) {
                return Err(format!("unknown option --{k} (known: --{})", known.join(", --")));
            }
        }
        Ok(())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.vals.get(name).map(|s| s.as_str())
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.vals.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<T>().map_err(|_| format!("--{name}: not a number: {v}")),
        }
    }

    pub fn secs(&self, name: &str, default: f64) -> Result<Duration, String> {
        let v: f64 = self.num(name, default)?;
        if !(v >= 0.0 && v < 1e6) {
            return Err(format!("--{name}: bad duration {v}"));
        }
        Ok(Duration::from_secs_f64(v))
    }
}

/// Round-trip times at 1 us resolution up to 100 ms.
pub struct Hist {
    buckets: Vec<u32>,
    over: u64,
    n: u64,
    pub max_us: u64,
    sum_us: u64,
}

const HIST_MAX_US: usize = 100_000;

impl Hist {
    pub fn new() -> Hist {
        Hist { buckets: vec![0; HIST_MAX_US], over: 0, n: 0, max_us: 0, sum_us: 0 }
    }

    #[inline]
    pub fn add(&mut self, d: Duration) {
        let us = d.as_micros() as usize;
        self.max_us = self.max_us.max(us as u64);
        self.sum_us += us as u64;
        if us < HIST_MAX_US {
            self.buckets[us] += 1;
        } else {
            self.over += 1;
        }
        self.n += 1;
    }

    pub fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = 0);
        self.over = 0;
        self.n = 0;
        self.max_us = 0;
        self.sum_us = 0;
    }

    pub fn mean(&self) -> Option<u64> {
        if self.n == 0 { None } else { Some(self.sum_us / self.n) }
    }

    /// Percentile in microseconds (None if empty; HIST_MAX_US if beyond).
    pub fn pct(&self, p: f64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.n as f64).ceil().max(1.0) as u64;
        let mut acc = 0u64;
        for (us, &c) in self.buckets.iter().enumerate() {
            acc += c as u64;
            if acc >= rank {
                return Some(us as u64);
            }
        }
        Some(HIST_MAX_US as u64)
    }
}

/// A JSON object written field by field, on one line.
pub struct Json {
    s: String,
}

impl Json {
    pub fn new() -> Json {
        Json { s: String::from("{") }
    }

    fn key(&mut self, k: &str) {
        if self.s.len() > 1 {
            self.s.push(',');
        }
        self.s.push('"');
        self.s.push_str(k);
        self.s.push_str("\":");
    }

    pub fn str(mut self, k: &str, v: &str) -> Json {
        self.key(k);
        self.s.push('"');
        for ch in v.chars() {
            match ch {
                '"' => self.s.push_str("\\\""),
                '\\' => self.s.push_str("\\\\"),
                c if (c as u32) < 0x20 => self.s.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.s.push(c),
            }
        }
        self.s.push('"');
        self
    }

    pub fn int(mut self, k: &str, v: u64) -> Json {
        self.key(k);
        self.s.push_str(&v.to_string());
        self
    }

    pub fn float(mut self, k: &str, v: f64, decimals: usize) -> Json {
        self.key(k);
        if v.is_finite() {
            self.s.push_str(&format!("{:.*}", decimals, v));
        } else {
            self.s.push_str("null");
        }
        self
    }

    pub fn opt_int(self, k: &str, v: Option<u64>) -> Json {
        match v {
            Some(x) => self.int(k, x),
            None => self.raw(k, "null"),
        }
    }

    pub fn bool(self, k: &str, v: bool) -> Json {
        self.raw(k, if v { "true" } else { "false" })
    }

    fn raw(mut self, k: &str, v: &str) -> Json {
        self.key(k);
        self.s.push_str(v);
        self
    }

    pub fn finish(mut self) -> String {
        self.s.push('}');
        self.s
    }
}
