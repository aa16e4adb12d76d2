//! A bounded load generator: a few client threads send `GET PATH` to an
//! address at a steady total rate, each request on its own connection,
//! until told to stop or until a time limit, whichever comes first. Every
//! request is kept: when it was sent, how long it took, and whether it
//! failed (a connection error, a timeout or a status outside 2xx).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was sent, from the start of the load.
    pub at: Duration,
    /// How long it took to answer (or to fail).
    pub latency: Duration,
    /// What went wrong, if it failed.
    pub failure: Option<String>,
}

/// Load being sent; [`Load::stop`] ends it and returns every request.
pub struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// Starts `clients` threads sending `rate` requests a second in all to
    /// `addr` for `path`, for `limit` at most.
    pub fn start(addr: SocketAddr, path: &str, rate: u32, clients: u32, limit: Duration) -> Load {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let interval = Duration::from_secs_f64(f64::from(clients) / f64::from(rate.max(1)));
        let clients = (0..clients)
            .map(|n| {
                let stop = stop.clone();
                let path = path.to_owned();
                // Spread the clients over one interval.
                let offset = interval.mul_f64(f64::from(n) / f64::from(clients.max(1)));
                std::thread::spawn(move || {
                    let mut samples = Vec::new();
                    let mut next = started + offset;
                    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += interval;
                        let sent = Instant::now();
                        let failure = get(addr, &path).err();
                        samples.push(Sample {
                            at: sent - started,
                            latency: sent.elapsed(),
                            failure,
                        });
                    }
                    samples
                })
            })
            .collect();
        Load {
            started,
            stop,
            clients,
        }
    }

    /// How long the load has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the clients and returns every request, in the order sent.
    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples: Vec<Sample> = self
            .clients
            .into_iter()
            .flat_map(|c| c.join().expect("a load client panicked"))
            .collect();
        samples.sort_by_key(|s| s.at);
        samples
    }
}

/// One `GET`, answered 2xx, or what went wrong.
fn get(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("no HTTP status in {:?}", text.lines().next()))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// Counts and latencies of some requests.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests sent.
    pub sent: usize,
    /// Requests that failed.
    pub failed: usize,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// The first few failures, as said.
    pub failures: Vec<String>,
}

impl Stats {
    /// Of the requests sent in `from..to`.
    pub fn of(samples: &[Sample], from: Duration, to: Duration) -> Stats {
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .collect();
        let mut latencies: Vec<Duration> = window.iter().map(|s| s.latency).collect();
        latencies.sort();
        let percentile = |p: f64| {
            if latencies.is_empty() {
                Duration::ZERO
            } else {
                let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
                latencies[rank.clamp(1, latencies.len()) - 1]
            }
        };
        let failures: Vec<String> = window
            .iter()
            .filter_map(|s| {
                s.failure
                    .as_ref()
                    .map(|f| format!("{:.1}s: {f}", s.at.as_secs_f64()))
            })
            .collect();
        Stats {
            sent: window.len(),
            failed: failures.len(),
            p50: percentile(50.0),
            p99: percentile(99.0),
            failures: failures.into_iter().take(10).collect(),
        }
    }
}
