//! Idle and slow clients cannot hold `sim serve`: a connection that sends nothing, or a handshake
//! that never finishes, is closed after the idle timeout, and the server goes on serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use esxnet_sim::{HostNames, InitOptions, Lab};
use esxnet_sim_server::{serve, ServeOptions};

/// Waits until the server closes `stream` (a read answers end of file or an error), at most
/// `limit`; answers how long after `started` that was.
fn closed_within(mut stream: TcpStream, started: Instant, limit: Duration) -> Option<Duration> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn idle_and_slow_connections_are_closed_and_the_server_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        hosts: HostNames::Count(1),
        ..InitOptions::default()
    };
    drop(Lab::init(dir.path(), &options).expect("lab init"));
    let mut options = ServeOptions::new(dir.path(), "root", "idle-test-secret");
    options.idle_timeout = Duration::from_secs(1);
    let server = serve(options).expect("server starts");

    let started = Instant::now();
    // Connected, and silent.
    let idle = TcpStream::connect(server.address()).unwrap();
    // A TLS handshake that starts and never ends: the first bytes of a handshake record.
    let mut slow = TcpStream::connect(server.address()).unwrap();
    slow.write_all(&[0x16, 0x03]).unwrap();
    for (name, stream) in [("idle", idle), ("slow", slow)] {
        let closed = closed_within(stream, started, Duration::from_secs(20));
        assert!(
            closed.is_some_and(|after| after >= Duration::from_millis(500)),
            "the {name} connection is closed after the idle timeout, not at once and not never: {closed:?}"
        );
    }
    // Still serving: a new connection is accepted and answered.
    let fresh = TcpStream::connect(server.address()).expect("the server still accepts");
    drop(fresh);
    server.stop().expect("server stops");
}
