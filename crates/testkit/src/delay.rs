//! A TCP proxy that delays each direction by half a round trip (order and
//! pipelining kept, no bandwidth limit), can cut all traffic (held, as in
//! a network partition, until healed), and counts round trips: turns where
//! the client speaks after the server did. Put between replicas and
//! PostgreSQL, it makes the database "milliseconds away" on one machine.
//! `cargo run -p minikms-testkit --bin delay-proxy` runs it alone (bench).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    turns: AtomicU64,
}

/// A running proxy; it runs until the process ends.
pub struct Delay {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Delay {
    /// Listens on a free loopback port and forwards to `upstream`, adding
    /// `round_trip` to every round trip.
    pub fn start(upstream: SocketAddr, round_trip: Duration) -> Self {
        Self::start_on("127.0.0.1:0", upstream, round_trip)
    }

    /// [`Self::start`] on a given address.
    pub fn start_on(listen: &str, upstream: SocketAddr, round_trip: Duration) -> Self {
        let listener = TcpListener::bind(listen).expect("the proxy's port");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (s, last) = (s.clone(), Arc::new(AtomicU8::new(0)));
                let one_way = round_trip / 2;
                pipe(&client, &server, one_way, s.clone(), last.clone(), true);
                pipe(&server, &client, one_way, s, last, false);
            }
        });
        Self { addr, shared }
    }

    /// `url` (`postgres://USER@HOST:PORT/DB`) through this proxy.
    pub fn url(&self, url: &str, port: u16) -> String {
        url.replace(&format!(":{port}/"), &format!(":{}/", self.addr.port()))
    }

    /// Holds all traffic (new connections too) until [`Self::heal`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Round trips so far, over all connections.
    pub fn turns(&self) -> u64 {
        self.shared.turns.load(Ordering::SeqCst)
    }
}

/// Forwards `from` to `to`, each chunk `delay` after it was read. `last`
/// is who of the connection spoke last (1 the client, 2 the server): a
/// turn is the client speaking after the server, or first.
fn pipe(
    from: &TcpStream,
    to: &TcpStream,
    delay: Duration,
    shared: Arc<Shared>,
    last: Arc<AtomicU8>,
    client: bool,
) {
    let (mut from, mut to) = match (from.try_clone(), to.try_clone()) {
        (Ok(f), Ok(t)) => (f, t),
        _ => return,
    };
    let _ = to.set_nodelay(true);
    let (chunks, queue) = mpsc::channel::<(Instant, Vec<u8>)>();
    let turns = shared.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !client {
                        last.store(2, Ordering::SeqCst);
                    } else if last.swap(1, Ordering::SeqCst) != 1 {
                        turns.turns.fetch_add(1, Ordering::SeqCst);
                    }
                    if chunks
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        for (due, chunk) in queue {
            thread::sleep(due.saturating_duration_since(Instant::now()));
            while shared.cut.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
