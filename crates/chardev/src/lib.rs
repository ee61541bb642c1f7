//! `chardev`: the byte streams behind consoles and similar devices (QEMU's `-chardev`). A device
//! writes with [`Chardev::write`] and reads what arrived with [`Chardev::read`]; a backend thread
//! fills a bounded input buffer (it stops reading from its source while the buffer is full, so a
//! fast sender cannot grow host memory) and calls the device's wake-up when input arrives.
//!
//! Backends: `null`, `file,path=` (output only), `socket,path=` (unix) and `socket,host=,port=`
//! (TCP), as a server (`server=on`, one client at a time, the next one accepted when it leaves) or
//! a client.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

/// Input bytes buffered before the backend stops reading its source.
pub const INPUT_CAP: usize = 64 << 10;

/// Where the stream goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Null,
    File(PathBuf),
    Unix {
        path: PathBuf,
        server: bool,
    },
    Tcp {
        host: String,
        port: u16,
        server: bool,
    },
}

/// A `-chardev` as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub id: String,
    pub backend: Backend,
}

type Waker = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Input {
    buf: VecDeque<u8>,
}

/// An open character device.
pub struct Chardev {
    id: String,
    out: Mutex<Option<Box<dyn Write + Send>>>,
    /// A clone of the connected peer for output (sockets), replaced as clients come and go.
    peer: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    /// The input buffer, and where the backend's reader waits while it is full.
    input: Arc<(Mutex<Input>, Condvar)>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Chardev {
    /// Opens the backend (a server socket starts listening now; errors name the chardev).
    pub fn open(c: &Config) -> Result<Arc<Chardev>, String> {
        let dev = Arc::new(Chardev {
            id: c.id.clone(),
            out: Mutex::new(None),
            peer: Arc::new(Mutex::new(None)),
            input: Arc::new((Mutex::new(Input::default()), Condvar::new())),
            waker: Arc::new(Mutex::new(None)),
        });
        let err = |e: std::io::Error| format!("-chardev id={}: {e}", c.id);
        match &c.backend {
            Backend::Null => {}
            Backend::File(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("-chardev id={}: {}: {e}", c.id, p.display()))?;
                *dev.out.lock().map_err(|_| "chardev lock")? = Some(Box::new(f));
            }
            Backend::Unix { path, server: true } => {
                // A stale socket file from an earlier run would make bind fail.
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    let _ = std::fs::remove_file(path);
                }
                let l = std::os::unix::net::UnixListener::bind(path).map_err(err)?;
                dev.serve(move || l.accept().map(|(s, _)| s));
            }
            Backend::Unix {
                path,
                server: false,
            } => {
                let s = std::os::unix::net::UnixStream::connect(path).map_err(err)?;
                dev.attach(s);
            }
            Backend::Tcp {
                host,
                port,
                server: true,
            } => {
                let l = std::net::TcpListener::bind((host.as_str(), *port)).map_err(err)?;
                dev.serve(move || l.accept().map(|(s, _)| s));
            }
            Backend::Tcp {
                host,
                port,
                server: false,
            } => {
                let s = std::net::TcpStream::connect((host.as_str(), *port)).map_err(err)?;
                dev.attach(s);
            }
        }
        Ok(dev)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Called (from the backend's thread) whenever input arrives; replaces any earlier one.
    pub fn set_waker(&self, w: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut g) = self.waker.lock() {
            *g = Some(Box::new(w));
        }
    }

    /// Sends output; dropped when nobody is connected (as QEMU does with a server socket
    /// without a client) or the peer went away.
    pub fn write(&self, data: &[u8]) {
        if let Ok(mut o) = self.out.lock() {
            if let Some(w) = o.as_mut() {
                let _ = w.write_all(data);
                let _ = w.flush();
                return;
            }
        }
        if let Ok(mut p) = self.peer.lock() {
            if let Some(w) = p.as_mut() {
                if w.write_all(data).and_then(|_| w.flush()).is_err() {
                    *p = None;
                }
            }
        }
    }

    /// Takes up to `buf.len()` bytes of input; 0 if none is waiting.
    pub fn read(&self, buf: &mut [u8]) -> usize {
        let (lock, room) = &*self.input;
        let Ok(mut i) = lock.lock() else {
            return 0;
        };
        let n = buf.len().min(i.buf.len());
        for (d, s) in buf.iter_mut().zip(i.buf.drain(..n)) {
            *d = s;
        }
        if n > 0 {
            room.notify_all();
        }
        n
    }

    /// Whether input is waiting.
    pub fn has_input(&self) -> bool {
        self.input.0.lock().is_ok_and(|i| !i.buf.is_empty())
    }

    /// Accepts clients one after the other on a thread of its own.
    fn serve<S: Read + Write + Send + TryCloneStream + 'static>(
        self: &Arc<Self>,
        mut accept: impl FnMut() -> std::io::Result<S> + Send + 'static,
    ) {
        let me = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("chardev".into())
            .spawn(move || loop {
                let Ok(s) = accept() else {
                    return;
                };
                let Some(dev) = me.upgrade() else {
                    return;
                };
                dev.pump(s);
            });
    }

    /// Reads a connected stream on a thread of its own.
    fn attach<S: Read + Write + Send + TryCloneStream + 'static>(self: &Arc<Self>, s: S) {
        let dev = self.clone();
        let _ = std::thread::Builder::new()
            .name("chardev".into())
            .spawn(move || dev.pump(s));
    }

    /// Until the peer leaves: its output side becomes ours, its bytes fill the input buffer.
    fn pump<S: Read + Write + Send + TryCloneStream + 'static>(&self, mut s: S) {
        if let (Ok(w), Ok(mut p)) = (s.try_clone_stream(), self.peer.lock()) {
            *p = Some(w);
        }
        let mut chunk = [0u8; 4096];
        loop {
            let n = match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (lock, room) = &*self.input;
            let Ok(mut i) = lock.lock() else {
                break;
            };
            // Bounded: wait for the device to drain before taking more.
            while i.buf.len() + n > INPUT_CAP {
                let Ok(g) = room.wait(i) else {
                    return;
                };
                i = g;
            }
            i.buf.extend(&chunk[..n]);
            drop(i);
            if let Ok(w) = self.waker.lock() {
                if let Some(w) = w.as_ref() {
                    w();
                }
            }
        }
        if let Ok(mut p) = self.peer.lock() {
            *p = None;
        }
    }
}

/// A second handle on a stream for writing while a thread reads.
pub trait TryCloneStream {
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Write + Send>>;
}

impl TryCloneStream for std::os::unix::net::UnixStream {
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl TryCloneStream for std::net::TcpStream {
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
}

/// Parses a `-chardev` list (QEMU's spellings): `null,id=`, `file,id=,path=`,
/// `socket,id=,path=|host=,port=[,server=on|off][,wait=off]`.
pub fn parse(opt: &str, items: &[(String, String)]) -> Result<Config, String> {
    let whole = items
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let ty = items.first().map(|(_, t)| t.as_str()).unwrap_or("");
    let (mut id, mut path, mut host, mut port, mut server) = (None, None, None, None, false);
    for (k, v) in &items[1..] {
        let on = || match v.as_str() {
            "on" | "yes" | "true" => Ok(true),
            "off" | "no" | "false" => Ok(false),
            _ => Err(format!("{opt} {whole}: {k}={v}: expected on or off")),
        };
        match k.as_str() {
            "id" => id = Some(v.clone()),
            "path" if matches!(ty, "file" | "socket") => path = Some(PathBuf::from(v)),
            "host" if ty == "socket" => host = Some(v.clone()),
            "port" if ty == "socket" => {
                port = Some(
                    v.parse::<u16>()
                        .map_err(|_| format!("{opt} {whole}: port={v}: not a port number"))?,
                )
            }
            "server" if ty == "socket" => server = on()?,
            // lpar never waits for a client before starting the guest.
            "wait" if ty == "socket" => {
                if on()? {
                    return Err(format!(
                        "{opt} {whole}: wait=on is not supported (use wait=off)"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "{opt} {whole}: unknown or unsupported property '{k}'"
                ))
            }
        }
    }
    let id = id.ok_or_else(|| format!("{opt} {whole}: missing id="))?;
    let backend = match ty {
        "null" => Backend::Null,
        "file" => Backend::File(path.ok_or_else(|| format!("{opt} {whole}: missing path="))?),
        "socket" => match (path, host, port) {
            (Some(path), None, None) => Backend::Unix { path, server },
            (None, host, Some(port)) => Backend::Tcp {
                host: host.unwrap_or_else(|| "0.0.0.0".into()),
                port,
                server,
            },
            _ => return Err(format!("{opt} {whole}: give path= or port=")),
        },
        _ => {
            return Err(format!(
                "{opt} {whole}: backend '{ty}' is not supported yet (null, file, socket)"
            ))
        }
    };
    Ok(Config { id, backend })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> Vec<(String, String)> {
        s.split(',')
            .enumerate()
            .map(|(i, it)| match it.split_once('=') {
                Some((k, v)) => (k.into(), v.into()),
                None if i == 0 => ("backend".into(), it.into()),
                None => (it.into(), "on".into()),
            })
            .collect()
    }

    #[test]
    fn parses_qemu_spellings_and_names_the_culprit() {
        let c = parse(
            "-chardev",
            &kv("socket,id=c0,path=/tmp/x.sock,server=on,wait=off"),
        )
        .unwrap();
        assert_eq!(
            c.backend,
            Backend::Unix {
                path: "/tmp/x.sock".into(),
                server: true
            }
        );
        let c = parse("-chardev", &kv("socket,id=t,port=4444,server=on,wait=off")).unwrap();
        assert!(matches!(
            c.backend,
            Backend::Tcp {
                port: 4444,
                server: true,
                ..
            }
        ));
        assert!(parse("-chardev", &kv("null"))
            .unwrap_err()
            .contains("missing id="));
        assert!(parse("-chardev", &kv("pty,id=p"))
            .unwrap_err()
            .contains("'pty'"));
        assert!(parse("-chardev", &kv("socket,id=s,port=x"))
            .unwrap_err()
            .contains("port=x"));
        assert!(parse("-chardev", &kv("file,id=f,bogus=1"))
            .unwrap_err()
            .contains("'bogus'"));
    }

    #[test]
    fn a_unix_server_carries_bytes_both_ways_and_bounds_input() {
        let path = std::env::temp_dir().join(format!("lpar-chardev-{}.sock", std::process::id()));
        let c = Chardev::open(&Config {
            id: "c0".into(),
            backend: Backend::Unix {
                path: path.clone(),
                server: true,
            },
        })
        .unwrap();
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = woken.clone();
        c.set_waker(move || {
            w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        // Nobody connected: output goes nowhere, and nothing breaks.
        c.write(b"lost");
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        // More than the input buffer holds: the reader waits instead of buffering it all.
        let big = vec![7u8; INPUT_CAP * 2];
        let mut cl = client.try_clone().unwrap();
        let sender = std::thread::spawn(move || cl.write_all(&big).is_ok());
        let t = std::time::Instant::now();
        let mut got = 0;
        let mut buf = [0u8; 1000];
        while got < INPUT_CAP * 2 && t.elapsed() < std::time::Duration::from_secs(10) {
            assert!(c.input.0.lock().unwrap().buf.len() <= INPUT_CAP);
            got += c.read(&mut buf);
        }
        assert_eq!(got, INPUT_CAP * 2);
        assert!(sender.join().unwrap());
        assert!(woken.load(std::sync::atomic::Ordering::SeqCst) > 0);
        // Output reaches the client.
        c.write(b"hello");
        let mut b = [0u8; 5];
        client.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hello");
        let _ = std::fs::remove_file(path);
    }
}
