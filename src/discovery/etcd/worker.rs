//! [`Worker`]: a background thread with an owner, a stop signal, and a
//! bounded join.
//!
//! Both of the registry's threads (a registration's keepalive, a
//! subscription's watch) spend their lives waiting: for the next renewal,
//! for a backoff to pass, for etcd to say something. Stopping one must not
//! wait for those waits to run out. So the thread sleeps on [`Stop`], which
//! wakes it at once, and blocks only on a connection that `Stop` can close
//! ([`Stop::set_closer`]); what remains (an unary request in flight) is
//! bounded by its own deadline, and the owner's join is bounded too.

use crate::http::Closer;
use crate::sync::lock;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The stop signal a worker thread watches.
pub struct Stop {
    state: Mutex<StopState>,
    changed: Condvar,
}

struct StopState {
    stopping: bool,
    done: bool,
    /// The connection the thread is blocked on, if any.
    closer: Option<Closer>,
}

impl Stop {
    /// Whether the owner asked the thread to stop.
    pub fn is_stopping(&self) -> bool {
        lock(&self.state).stopping
    }

    /// Wait `d`, or less if asked to stop; returns whether to stop.
    pub fn sleep(&self, d: Duration) -> bool {
        let st = lock(&self.state);
        let (st, _) = self
            .changed
            .wait_timeout_while(st, d, |s| !s.stopping)
            .unwrap_or_else(|p| p.into_inner());
        st.stopping
    }

    /// Register the connection the thread is about to block on (`None`
    /// when it is done with it), so that stopping closes it. If the stop
    /// came first, it is closed at once.
    pub fn set_closer(&self, closer: Option<Closer>) {
        let mut st = lock(&self.state);
        if st.stopping {
            if let Some(c) = &closer {
                c.close();
            }
        }
        st.closer = closer;
    }

    fn request(&self) {
        let mut st = lock(&self.state);
        st.stopping = true;
        if let Some(c) = st.closer.take() {
            c.close();
        }
        self.changed.notify_all();
    }

    fn wait_done(&self, within: Duration) -> bool {
        let st = lock(&self.state);
        let (st, _) = self
            .changed
            .wait_timeout_while(st, within, |s| !s.done)
            .unwrap_or_else(|p| p.into_inner());
        st.done
    }
}

/// Marks the thread done on every exit, a panic included.
struct DoneGuard(Arc<Stop>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        lock(&self.0.state).done = true;
        self.0.changed.notify_all();
    }
}

/// A thread, owned: dropping the `Worker` stops it and joins it, waiting at
/// most the bound it was given.
pub struct Worker {
    stop: Arc<Stop>,
    handle: Option<JoinHandle<()>>,
    join_within: Duration,
}

impl Worker {
    /// Run `body` on a new thread named `name`. `join_within` bounds how
    /// long stopping waits for it (past that the thread is left to finish
    /// its current request alone, which its own deadline bounds).
    pub fn spawn<F>(name: &str, join_within: Duration, body: F) -> Worker
    where
        F: FnOnce(&Stop) + Send + 'static,
    {
        let stop = Arc::new(Stop {
            state: Mutex::new(StopState {
                stopping: false,
                done: false,
                closer: None,
            }),
            changed: Condvar::new(),
        });
        let guard = DoneGuard(Arc::clone(&stop));
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let guard = guard;
                body(&guard.0);
            })
            .ok();
        if handle.is_none() {
            // The closure (and its guard) was dropped unrun: already done.
            eprintln!("minirpc: could not start the {name} thread");
        }
        Worker {
            stop,
            handle,
            join_within,
        }
    }

    /// Stop the thread and join it, waiting at most the bound; returns
    /// whether it finished in time.
    pub fn stop_and_join(&mut self) -> bool {
        self.stop.request();
        let Some(handle) = self.handle.take() else {
            return true;
        };
        if self.stop.wait_done(self.join_within) {
            let _ = handle.join();
            true
        } else {
            false
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn stopping_wakes_a_sleeping_worker_at_once() {
        let mut w = Worker::spawn("test-sleeper", Duration::from_secs(5), |stop| {
            while !stop.sleep(Duration::from_secs(3600)) {}
        });
        let t = Instant::now();
        assert!(w.stop_and_join());
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_worker_that_will_not_stop_costs_only_the_bound() {
        let mut w = Worker::spawn("test-stubborn", Duration::from_millis(50), |_| {
            std::thread::sleep(Duration::from_millis(500));
        });
        assert!(!w.stop_and_join(), "left to finish alone");
    }
}
