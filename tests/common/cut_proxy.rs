//! A loopback TCP proxy a test can cut and restore: the services are pointed
//! at it instead of at a shared backing service, so that an outage of that
//! service is simulated without stopping it for the other tests.
//!
//! While cut, the proxy behaves like a network partition, the harder case for
//! a client: established connections are shut down, and new ones are accepted
//! but never answered (a client that waits for an answer without its own bound
//! hangs). Restoring shuts those silent connections down too and forwards new
//! ones again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Connections {
    cut: bool,
    /// Both ends of every forwarded connection, and the silent ones.
    open: Vec<TcpStream>,
}

pub struct CutProxy {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Connections>>,
}

impl CutProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let connections = Arc::new(Mutex::new(Connections::default()));
        let shared = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mut state = shared.lock().expect("proxy state");
                if state.cut {
                    // Held open, never read: the client waits for an answer.
                    state.open.push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for stream in [&client, &server] {
                    if let Ok(copy) = stream.try_clone() {
                        state.open.push(copy);
                    }
                }
                drop(state);
                pump(&client, &server);
                pump(&server, &client);
            }
        });
        CutProxy { addr, connections }
    }

    /// The URL of the proxy for an HTTP client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cut(&self) {
        let mut state = self.connections.lock().expect("proxy state");
        state.cut = true;
        for stream in state.open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        let mut state = self.connections.lock().expect("proxy state");
        state.cut = false;
        for stream in state.open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies `from` to `to` on a thread of its own until either side closes.
fn pump(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    });
}
