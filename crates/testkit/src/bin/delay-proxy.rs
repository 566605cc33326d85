//! `delay-proxy LISTEN UPSTREAM MS`: the test kit's latency-injecting
//! proxy ([`minikms_testkit::delay`]) on its own, for bench/replicas.sh:
//! adds MS milliseconds to every round trip from LISTEN to UPSTREAM. It
//! prints `listening on ADDR`, then the round trips counted so far each
//! time a line arrives on its standard input.

use std::io::BufRead;
use std::time::Duration;

use minikms_testkit::delay::Delay;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, ms] = args.as_slice() else {
        eprintln!("usage: delay-proxy LISTEN_ADDR UPSTREAM_ADDR ROUND_TRIP_MS");
        std::process::exit(2);
    };
    let upstream = upstream.parse().unwrap_or_else(|e| {
        eprintln!("delay-proxy: UPSTREAM_ADDR {upstream:?} is not HOST:PORT: {e}");
        std::process::exit(2);
    });
    let ms: f64 = ms.parse().unwrap_or_else(|e| {
        eprintln!("delay-proxy: ROUND_TRIP_MS {ms:?} is not a number: {e}");
        std::process::exit(2);
    });
    let proxy = Delay::start_on(listen, upstream, Duration::from_secs_f64(ms / 1000.0));
    println!("listening on {}", proxy.addr);
    for _ in std::io::stdin().lock().lines() {
        println!("{}", proxy.turns());
    }
    // Standard input closed: keep forwarding until killed.
    loop {
        std::thread::park();
    }
}
