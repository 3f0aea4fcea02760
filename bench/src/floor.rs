//! The no-HTTP floor of row 3: the work the server cannot skip, without HTTP. N clients each keep
//! one loopback TCP connection and send parts on it one after another, like row 3's clients (the
//! same part pool, the same counter handing out part numbers); a receiving thread per connection
//! reads each part in 64 KiB reads, hashes it with a plain single-stream MD5 (`md5::Md5` of the
//! md-5 crate: one stream at a time, as md5sum does), writes it to a file of its own, fsyncs the
//! file and answers the digest, which the client checks. No framing beyond a 16-byte header
//! (part number, length), no multipart, no rename, no directory fsync, no upload records.
//! Blocking threads on both sides: no async runtime either.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use md5::{Digest, Md5};

use crate::load::PartPool;

const READ_CHUNK: usize = 64 << 10;

/// What one floor run measured.
pub struct FloorRun {
    pub bytes: u64,
    pub secs: f64,
    /// Each part's time from its first byte sent to its digest received, in milliseconds.
    pub latencies_ms: Vec<f64>,
}

/// `clients` connections send `parts_total` parts between them; the parts land in `dir` (emptied
/// afterwards, untimed). The clock starts when the first sender starts, once every connection is
/// accepted, and stops when the last digest is back. Each sender reads the clock itself: with 128
/// senders and as many receivers woken at once on 2 cores, a clock read by this thread after the
/// barrier came so late that 128 clients "ran" at 26 GB/s.
pub fn ingest(pool: Arc<PartPool>, clients: usize, parts_total: u32, dir: &Path) -> FloorRun {
    std::fs::create_dir_all(dir).expect("floor data dir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the floor's listener");
    let address = listener.local_addr().unwrap();
    let ready = Arc::new(Barrier::new(clients + 2));

    let acceptor = {
        let (ready, dir) = (ready.clone(), dir.to_owned());
        std::thread::spawn(move || {
            let receivers: Vec<_> = (0..clients)
                .map(|_| {
                    let (stream, _) = listener.accept().expect("accept a floor client");
                    let dir = dir.clone();
                    std::thread::spawn(move || receive(stream, &dir))
                })
                .collect();
            ready.wait();
            for receiver in receivers {
                receiver.join().expect("floor receiver");
            }
        })
    };
    let next = Arc::new(AtomicU32::new(0));
    let senders: Vec<_> = (0..clients)
        .map(|_| {
            let (pool, next, ready) = (pool.clone(), next.clone(), ready.clone());
            std::thread::spawn(move || send(address, &pool, &next, parts_total, &ready))
        })
        .collect();
    ready.wait();
    let mut latencies_ms = Vec::with_capacity(parts_total as usize);
    let mut bytes = 0;
    let (mut first_start, mut last_end): (Option<Instant>, Option<Instant>) = (None, None);
    for sender in senders {
        let sender = sender.join().expect("floor sender");
        bytes += sender.sent;
        latencies_ms.extend(sender.latencies_ms);
        first_start = Some(first_start.map_or(sender.started, |t| t.min(sender.started)));
        last_end = Some(last_end.map_or(sender.ended, |t| t.max(sender.ended)));
    }
    let secs = match (first_start, last_end) {
        (Some(start), Some(end)) => end.duration_since(start).as_secs_f64(),
        _ => 0.0,
    };
    acceptor.join().expect("floor acceptor");
    let _ = std::fs::remove_dir_all(dir);
    FloorRun {
        bytes,
        secs,
        latencies_ms,
    }
}

/// What one client did, and when it started and ended.
struct Sent {
    sent: u64,
    latencies_ms: Vec<f64>,
    started: Instant,
    ended: Instant,
}

/// One client: parts until the counter runs out.
fn send(
    address: std::net::SocketAddr,
    pool: &PartPool,
    next: &AtomicU32,
    parts_total: u32,
    ready: &Barrier,
) -> Sent {
    let mut stream = TcpStream::connect(address).expect("connect to the floor");
    stream.set_nodelay(true).unwrap();
    ready.wait();
    let started = Instant::now();
    let (mut sent, mut latencies) = (0, Vec::new());
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= parts_total {
            return Sent {
                sent,
                latencies_ms: latencies,
                started,
                ended: Instant::now(),
            };
        }
        let (bytes, md5) = pool.get(index as usize);
        let started = Instant::now();
        let mut header = [0u8; 16];
        header[..8].copy_from_slice(&u64::from(index + 1).to_le_bytes());
        header[8..].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        stream.write_all(&header).expect("send a part's header");
        stream.write_all(bytes).expect("send a part");
        let mut digest = [0u8; 16];
        stream.read_exact(&mut digest).expect("the part's digest");
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&hex, md5, "the floor stored other bytes");
        sent += bytes.len() as u64;
    }
}

/// One connection's receiving end: part after part until the client hangs up.
fn receive(mut stream: TcpStream, dir: &Path) {
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let mut header = [0u8; 16];
        match stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return,
            Err(e) => panic!("floor receiver: {e}"),
        }
        let number = u64::from_le_bytes(header[..8].try_into().unwrap());
        let mut left = u64::from_le_bytes(header[8..].try_into().unwrap()) as usize;
        let path: PathBuf = dir.join(format!("part-{number:05}"));
        let mut file = std::fs::File::create(&path).expect("create a floor part");
        let mut md5 = Md5::new();
        while left > 0 {
            let want = left.min(READ_CHUNK);
            let read = stream.read(&mut buffer[..want]).expect("read a part");
            assert!(read > 0, "the client hung up mid-part");
            md5.update(&buffer[..read]);
            file.write_all(&buffer[..read]).expect("write a floor part");
            left -= read;
        }
        file.sync_all().expect("fsync a floor part");
        let digest: [u8; 16] = md5.finalize().into();
        stream.write_all(&digest).expect("answer the digest");
    }
}
