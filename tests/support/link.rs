//! A user-space link emulator for tests and benches (the test machines have
//! no `netem`): a UDP proxy on loopback that applies delay, jitter, loss,
//! duplication, reordering, a rate limit and scheduled outages, each way.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// How a link behaves (each direction alike).
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// One-way delay (half the round-trip time).
    pub delay: Duration,
    /// Uniform extra delay in `0..jitter`.
    pub jitter: Duration,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is sent twice.
    pub duplicate: f64,
    /// Probability a datagram is held back to arrive after later ones.
    pub reorder: f64,
    /// Bits per second (0 = unlimited).
    pub rate_bps: u64,
    /// Outages: every `period`, the link is down for `down`.
    pub outage: Option<(Duration, Duration)>,
    /// The sender's buffer in front of a rate-limited link, as time to
    /// drain it: a datagram that would wait longer is dropped (tail drop,
    /// as in a modem). `ZERO` = unbounded.
    pub queue: Duration,
}

impl Profile {
    /// The profile called `name` (`satellite`, `rural-2g`, `flaky-wifi`,
    /// `hostile`).
    pub fn named(name: &str) -> Option<Profile> {
        Some(match name {
            "satellite" => Profile::SATELLITE,
            "rural-2g" => Profile::RURAL_2G,
            "flaky-wifi" => Profile::FLAKY_WIFI,
            "hostile" => Profile::HOSTILE,
            _ => return None,
        })
    }

    /// 600 ms RTT, 512 kbit/s, 1 % loss.
    pub const SATELLITE: Profile = Profile {
        delay: Duration::from_millis(300),
        jitter: Duration::ZERO,
        loss: 0.01,
        duplicate: 0.0,
        reorder: 0.0,
        rate_bps: 512_000,
        outage: None,
        queue: Duration::from_millis(1_000),
    };
    /// 300 ms RTT, 64 kbit/s, 3 % loss, 50 ms jitter.
    pub const RURAL_2G: Profile = Profile {
        delay: Duration::from_millis(150),
        jitter: Duration::from_millis(50),
        loss: 0.03,
        duplicate: 0.0,
        reorder: 0.0,
        rate_bps: 64_000,
        outage: None,
        queue: Duration::from_millis(2_000),
    };
    /// 20 ms RTT, 10 Mbit/s, 10 % loss, 2 s outages every 10 s.
    pub const FLAKY_WIFI: Profile = Profile {
        delay: Duration::from_millis(10),
        jitter: Duration::ZERO,
        loss: 0.10,
        duplicate: 0.0,
        reorder: 0.0,
        rate_bps: 10_000_000,
        outage: Some((Duration::from_secs(10), Duration::from_secs(2))),
        queue: Duration::from_millis(100),
    };
    /// 30 % loss, reordering, duplication.
    pub const HOSTILE: Profile = Profile {
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(10),
        loss: 0.30,
        duplicate: 0.10,
        reorder: 0.20,
        rate_bps: 0,
        outage: None,
        queue: Duration::ZERO,
    };
}

/// A deterministic generator (xorshift), seeded per proxy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counters of what the link did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams forwarded (each copy).
    pub forwarded: std::sync::atomic::AtomicU64,
    /// Datagrams dropped (loss, outage or a full queue).
    pub dropped: std::sync::atomic::AtomicU64,
    /// Of those, dropped because the queue was full.
    pub queue_drops: std::sync::atomic::AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct Link {
    /// Where clients send: `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    /// What happened so far.
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy in front of `target` on the current tokio runtime. One
/// client at a time (the first address that sends).
pub async fn start(target: SocketAddr, profile: Profile, seed: u64) -> Link {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind proxy"));
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind proxy upstream"));
    back.connect(target).await.expect("connect upstream");
    let addr = front.local_addr().expect("proxy address");
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let mut rng = Rng(seed | 1);
        let mut client: Option<SocketAddr> = None;
        // each direction: when its link becomes free again (rate limit)
        let mut free_at = [Instant::now(), Instant::now()];
        let (mut a, mut b) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        loop {
            let (dir, data) = tokio::select! {
                r = front.recv_from(&mut a) => match r {
                    Ok((n, from)) => { client = Some(from); (0usize, a[..n].to_vec()) }
                    Err(_) => continue,
                },
                r = back.recv(&mut b) => match r {
                    Ok(n) => (1usize, b[..n].to_vec()),
                    Err(_) => continue,
                },
            };
            let now = Instant::now();
            let down = profile.outage.is_some_and(|(period, down)| {
                let t = now.duration_since(started).as_millis() % period.as_millis();
                t >= (period - down).as_millis()
            });
            if down || rng.next() < profile.loss {
                c.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let copies = if rng.next() < profile.duplicate { 2 } else { 1 };
            let mut delay = profile.delay + profile.jitter.mul_f64(rng.next());
            if rng.next() < profile.reorder {
                delay += Duration::from_millis(20);
            }
            if profile.rate_bps > 0 {
                let backlog = free_at[dir].saturating_duration_since(now);
                if profile.queue > Duration::ZERO && backlog > profile.queue {
                    c.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    c.queue_drops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                let tx = Duration::from_secs_f64((data.len() * 8) as f64 / profile.rate_bps as f64);
                free_at[dir] = free_at[dir].max(now) + tx;
                delay += free_at[dir] - now;
            }
            for _ in 0..copies {
                c.forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (front, back, data) = (front.clone(), back.clone(), data.clone());
                let to = client;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = match (dir, to) {
                        (0, _) => back.send(&data).await,
                        (_, Some(to)) => front.send_to(&data, to).await,
                        _ => Ok(0),
                    };
                });
            }
        }
    });
    Link { addr, counters, task }
}
