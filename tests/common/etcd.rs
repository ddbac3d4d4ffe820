//! [`Etcd`]: a private etcd for one test, on free loopback ports, with a
//! temporary data dir, stopped by its process id when the test ends.
//!
//! ```text
//!  Etcd::start("test name")   find two free ports (bind 127.0.0.1:0, note, close)
//!      │                      spawn `etcd` from PATH: client URL, peer URL, data dir
//!      ▼                      wait (bounded) until a range answers
//!  etcd.url()                 http://127.0.0.1:<client port>
//!  etcd.kill()                SIGKILL the process (a crash: no goodbye on any connection)
//!  etcd.restart()             the same ports and data dir, so the data survives
//!  drop                       kill, reap, remove the temporary dir
//! ```
//!
//! No etcd on PATH: with `CI` set the test fails, saying to install
//! `etcd-server` (`.ci/run` does), so CI never skips silently; without it,
//! one line says the test is skipped and how to install etcd.

use minirpc::http::{HttpClient, HttpSettings};
use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long etcd may take to start answering (a loaded CI machine is slow
/// to fsync its first write-ahead log).
const STARTUP: Duration = Duration::from_secs(30);

/// A running (or killed) private etcd.
pub struct Etcd {
    bin: PathBuf,
    child: Option<Child>,
    client_port: u16,
    peer_port: u16,
    /// Holds `data/` and `etcd.log`; removed on drop.
    dir: PathBuf,
}

impl Etcd {
    /// Start an etcd for `test`, or `None` (after printing why) when etcd is
    /// not installed and this is not CI. Panics in CI without etcd, and if
    /// etcd does not come up.
    pub fn start(test: &str) -> Option<Etcd> {
        let Some(bin) = find_on_path("etcd") else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{test}: `etcd` is not on PATH and CI is set; install Debian's etcd-server \
                     (apt-get install -y etcd-server), which .ci/run does when etcd is missing"
                );
            }
            eprintln!(
                "skipping {test}: `etcd` is not on PATH (install it: apt-get install etcd-server)"
            );
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "minirpc-etcd-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("create the etcd test dir");
        let mut etcd = Etcd {
            bin,
            child: None,
            client_port: 0,
            peer_port: 0,
            dir,
        };
        // Another process may take a port between our probe and etcd's bind;
        // then etcd exits at once, and we try again on new ports.
        let mut last = String::new();
        for _ in 0..3 {
            (etcd.client_port, etcd.peer_port) = two_free_ports();
            match etcd.spawn_and_wait() {
                Ok(()) => return Some(etcd),
                Err(e) => {
                    etcd.kill();
                    let _ = std::fs::remove_dir_all(etcd.dir.join("data"));
                    last = e;
                }
            }
        }
        panic!("{test}: etcd did not start: {last}");
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The client address (for a proxy in front of it).
    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.client_port).into()
    }

    /// A raw HTTP client for the gateway, to write what the registry would not.
    pub fn http(&self) -> HttpClient {
        HttpClient::new(&self.url()).expect("the etcd URL parses")
    }

    /// Kill etcd abruptly (SIGKILL by its process id) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start etcd again on the same ports and data dir (killing it first if
    /// it runs), and wait until it answers.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(e) = self.spawn_and_wait() {
            panic!("etcd did not restart: {e}");
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .map_err(|e| format!("open etcd.log: {e}"))?;
        let child = Command::new(&self.bin)
            .args(["--name", "default", "--data-dir"])
            .arg(self.dir.join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("default={peer}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Until a range answers (which needs an elected leader, unlike status).
    fn wait_ready(&mut self) -> Result<(), String> {
        let http = HttpClient::with_settings(
            &self.url(),
            HttpSettings {
                request_timeout: Duration::from_secs(1),
                ..HttpSettings::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let start = Instant::now();
        while start.elapsed() < STARTUP {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "etcd exited ({status}); its log:\n{}",
                    self.log_tail()
                ));
            }
            if let Ok(r) = http.post_json("/v3/kv/range", "{\"key\":\"AA==\"}") {
                if r.status == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no answer within {STARTUP:?}; its log:\n{}",
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Two ports that were free a moment ago (both held at once, so distinct).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}
