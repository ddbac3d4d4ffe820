//! Running `python3` from a test, bounded: a client written in another
//! language, or one that needs a socket option the standard library does
//! not offer (`SO_RCVBUF`).

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one run of python3 may take before it is killed.
pub const LIMIT: Duration = Duration::from_secs(30);

/// What a finished process printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` to completion, for at most `limit`. Returns `Ok(None)` if it
/// had to be killed, and `Err` if it could not be started.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> std::io::Result<Option<Finished>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes on their own threads, so a chatty child can never
    // block on a full pipe while we wait for it to exit. Each thread ends
    // when the child's end of its pipe closes (when the child exits).
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );

    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        // Polling, not ordering: nothing else happens while we wait.
        thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(status.map(|status| Finished {
        status,
        stdout,
        stderr,
    }))
}

/// Whether `python3` can be run at all.
pub fn have_python3() -> bool {
    match run_bounded(Command::new("python3").arg("--version"), LIMIT) {
        Ok(Some(f)) => f.status.success(),
        _ => false,
    }
}
