//! A TCP proxy between a phone and the server: it counts the bytes each way (what really
//! crosses the wire: HTTP headers, gzip bodies) and, on demand, cuts a connection after a
//! given number of bytes of a request or of a response — a phone losing its signal in the
//! middle of a sync. Its address stays the same when the server behind it restarts elsewhere.
//!
//! Plain threads and blocking sockets: two pumps per connection, one per direction.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Phone to server (requests).
    Up,
    /// Server to phone (responses).
    Down,
}

#[derive(Default)]
struct Shared {
    target: Mutex<Option<SocketAddr>>,
    up: AtomicU64,
    down: AtomicU64,
    /// An armed cut: the direction and how many more bytes may pass in it.
    cut: Mutex<Option<(Direction, u64)>>,
    cuts: AtomicUsize,
    connections: AtomicUsize,
    closing: AtomicBool,
}

/// A running proxy on a loopback port; stops accepting when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let shared = Arc::new(Shared::default());
        *shared.target.lock().unwrap() = Some(target);
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.closing.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                thread::spawn(move || serve(client, s));
            }
        });
        Proxy { addr, shared }
    }

    /// `http://ADDR` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends new connections to another server address.
    pub fn retarget(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap() = Some(target);
    }

    /// Bytes forwarded in a direction so far.
    pub fn bytes(&self, d: Direction) -> u64 {
        match d {
            Direction::Up => self.shared.up.load(Ordering::SeqCst),
            Direction::Down => self.shared.down.load(Ordering::SeqCst),
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Arms one cut: after `after` more bytes in direction `d`, the connection carrying them
    /// is closed both ways (the bytes up to the cut are forwarded).
    pub fn cut_after(&self, d: Direction, after: u64) {
        *self.shared.cut.lock().unwrap() = Some((d, after));
    }

    /// How many armed cuts happened.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(client: TcpStream, s: Arc<Shared>) {
    let target = *s.target.lock().unwrap();
    let Some(upstream) = target.and_then(|t| TcpStream::connect(t).ok()) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (c2, u2) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(c), Ok(u)) => (c, u),
        _ => return,
    };
    let s2 = s.clone();
    let up = thread::spawn(move || pump(client, upstream, Direction::Up, &s2));
    pump(u2, c2, Direction::Down, &s);
    let _ = up.join();
}

/// Copies `from` to `to` until either side closes or an armed cut fires.
fn pump(mut from: TcpStream, mut to: TcpStream, d: Direction, s: &Shared) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut pass = n;
        let mut cut = false;
        {
            let mut armed = s.cut.lock().unwrap();
            if let Some((dir, left)) = armed.as_mut() {
                if *dir == d {
                    if (n as u64) >= *left {
                        pass = *left as usize;
                        cut = true;
                        *armed = None;
                    } else {
                        *left -= n as u64;
                    }
                }
            }
        }
        if to.write_all(&buf[..pass]).is_err() {
            break;
        }
        let counter = match d {
            Direction::Up => &s.up,
            Direction::Down => &s.down,
        };
        counter.fetch_add(pass as u64, Ordering::SeqCst);
        if cut {
            s.cuts.fetch_add(1, Ordering::SeqCst);
            let _ = to.flush();
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
