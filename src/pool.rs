//! A thread pool with a bounded queue: the server's Processor.
//!
//! Article: 原理 › 组件, "RPC Processor": the part of the server that runs
//! calls, owning the worker threads and the limits on them. The one idea to
//! take away: **a queue must have a bound**. When calls arrive faster than
//! they are served, an unbounded queue grows until the process runs out of
//! memory, and every call in it waits longer than its caller will. A bounded
//! queue answers "too busy" (`ResourceExhausted`) at once, and the caller can
//! retry elsewhere.
//!
//! ```text
//!   execute(job) ──► [ job | job | job | ... up to capacity ] ──► worker 1
//!        │                                                   ──► worker 2
//!        └── queue full? Err(job back): the caller answers        ...
//!            ResourceExhausted instead of waiting
//! ```
//!
//! # Why one worker spins before it sleeps
//!
//! Handing a job to a sleeping thread means a `futex` wake-up, and on a
//! virtual machine the woken thread may take tens of microseconds to run: as
//! long as a whole small RPC. So after finishing a job, *one* idle worker
//! keeps checking the queue for a short while ([`DEFAULT_SPIN`]) before it
//! sleeps. A job that arrives in that window is picked up in well under a
//! microsecond, with no wake-up at all. Only one worker spins at a time, and
//! a worker spins at most once per idle stretch (it must run a job before it
//! may spin again), so an idle pool burns one core for at most the spin time
//! and then sleeps. Go's scheduler does the same ("spinning Ms") and it is
//! much of why Go's `net/rpc` has low latency.
//!
//! The trade-off is real on a small machine: while a worker spins it holds
//! a CPU that a woken thread may be waiting for. `ServerBuilder::spin` sets
//! the window (zero turns spinning off); `cargo run --release --example
//! bench_report` measures both. A process allowed only one CPU (`taskset
//! -c 0`, a container with one CPU) never spins: the thread that will bring
//! the next job, or read the answer this worker just sent, needs the very
//! CPU the spinner holds. Measured pinned to one CPU, one caller, calls run
//! on the pool: 74 to 77 µs a call with the spin, 22 µs without it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker checks the queue before it goes to sleep, unless
/// told otherwise ([`ThreadPool::with_spin`]).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How many CPUs this process may run on, read once. Spinning is for two
/// threads on two CPUs; with one, a spinner only delays the thread it waits
/// for (the pool's workers here, and `read_spin` in `src/transport/spin.rs`).
pub(crate) fn allowed_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A unit of work.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads fed by a bounded queue.
pub struct ThreadPool {
    shared: Arc<Shared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    state: Mutex<State>,
    /// Workers sleep here when there is nothing to do.
    work: Condvar,
    /// Signalled when the last worker exits (for shutdown).
    exited: Condvar,
    capacity: usize,
    /// Jobs in the queue, readable without the lock (for the spinner).
    queued: AtomicUsize,
    /// Whether a worker is spinning right now.
    spinning: AtomicBool,
    /// How long a worker spins before it sleeps.
    spin: Duration,
}

struct State {
    /// Waiting jobs, each with its owner's tag (0: none; see
    /// [`ThreadPool::drop_tagged`]).
    jobs: VecDeque<(u64, Job)>,
    shutting_down: bool,
    live_workers: usize,
    busy_workers: usize,
}

impl ThreadPool {
    /// Start `workers` threads (at least 1) sharing a queue of at most
    /// `capacity` waiting jobs. Threads are named `{name}-{i}`.
    pub fn new(name: &str, workers: usize, capacity: usize) -> std::io::Result<ThreadPool> {
        ThreadPool::with_spin(name, workers, capacity, DEFAULT_SPIN)
    }

    /// Like [`new`](ThreadPool::new), with the idle workers' spin time
    /// (zero: sleep at once; ignored in a process allowed one CPU; see the
    /// module docs).
    pub fn with_spin(
        name: &str,
        workers: usize,
        capacity: usize,
        spin: Duration,
    ) -> std::io::Result<ThreadPool> {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::with_capacity(capacity.min(1024)),
                shutting_down: false,
                live_workers: workers,
                busy_workers: 0,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            capacity,
            queued: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
            spin: if allowed_cpus() > 1 {
                spin
            } else {
                Duration::ZERO
            },
        });
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let s = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker_loop(&s));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Stop the ones we started before reporting.
                    let mut st = shared.lock();
                    st.shutting_down = true;
                    st.live_workers -= workers - i;
                    drop(st);
                    shared.work.notify_all();
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(ThreadPool {
            shared,
            handles: Mutex::new(handles),
        })
    }

    /// Queue a job. If the queue is full (or the pool is shutting down) the
    /// job is handed back, so the caller can answer "busy" with it.
    pub fn try_execute(&self, job: Job) -> Result<(), Job> {
        self.try_execute_tagged(0, job)
    }

    /// Like [`try_execute`](Self::try_execute), with a tag naming who the
    /// job is for (the server tags calls with their connection), so that
    /// [`drop_tagged`](Self::drop_tagged) can take back work nobody will
    /// ever receive.
    pub fn try_execute_tagged(&self, tag: u64, job: Job) -> Result<(), Job> {
        let mut st = self.shared.lock();
        // Room for `capacity` waiting jobs plus one per idle worker: an
        // idle worker takes a job at once, so even a pool with no waiting
        // room (capacity 0, a pure hand-off) accepts work while a worker is
        // free.
        let idle = st.live_workers.saturating_sub(st.busy_workers);
        if st.shutting_down || st.jobs.len() >= self.shared.capacity + idle {
            return Err(job);
        }
        st.jobs.push_back((tag, job));
        let queued = self.shared.queued.fetch_add(1, Ordering::SeqCst) + 1;
        drop(st);
        // A spinning worker will see a lone job without being woken. (It
        // re-checks the queue under the lock before it sleeps, so a job
        // pushed just as it stops spinning is not missed: see worker_loop.)
        // But one spinner takes one job: if more are waiting, wake a
        // sleeper too, or a burst would run one at a time.
        if queued > 1 || !self.shared.spinning.load(Ordering::SeqCst) {
            self.shared.work.notify_one();
        }
        Ok(())
    }

    /// Remove every waiting job tagged `tag` (0 removes nothing) and drop
    /// it unrun; returns how many. The server calls this when a peer has
    /// been cut off, so its queued calls stop taking places in the queue
    /// that other clients need.
    pub fn drop_tagged(&self, tag: u64) -> usize {
        if tag == 0 {
            return 0;
        }
        let mut st = self.shared.lock();
        let mut dropped = Vec::new();
        let mut kept = VecDeque::with_capacity(st.jobs.len());
        for (t, job) in st.jobs.drain(..) {
            if t == tag {
                dropped.push(job);
            } else {
                kept.push_back((t, job));
            }
        }
        st.jobs = kept;
        self.shared
            .queued
            .fetch_sub(dropped.len(), Ordering::SeqCst);
        drop(st);
        // Dropped outside the lock: a job's captured values (the server's
        // charge guards) run their own code when they go.
        let n = dropped.len();
        drop(dropped);
        n
    }

    /// Jobs waiting in the queue right now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Whether some worker is idle (not running a job).
    pub fn has_idle_worker(&self) -> bool {
        let st = self.shared.lock();
        st.busy_workers + st.jobs.len() < st.live_workers
    }

    /// Stop taking jobs, let the workers finish the queue and the jobs in
    /// flight, and join them. Waits at most `grace`; returns `true` if every
    /// worker finished in time. Workers still busy after `grace` are left to
    /// finish on their own (a thread cannot be killed safely) and are not
    /// joined. Calling it twice is harmless.
    pub fn shutdown(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut st = self.shared.lock();
        st.shutting_down = true;
        self.shared.work.notify_all();
        if self.is_worker_thread() {
            // Called from one of our own jobs (e.g. the job held the last
            // reference to the pool's owner): waiting for every worker to
            // exit would wait for ourselves. The others exit on their own.
            return false;
        }
        while st.live_workers > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .exited
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(st);
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            let _ = h.join();
        }
        true
    }
}

impl ThreadPool {
    fn is_worker_thread(&self) -> bool {
        let me = std::thread::current().id();
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|h| h.thread().id() == me)
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock, so a poisoned lock can only come from
        // a bug in this file; the state is still consistent, carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn worker_loop(shared: &Shared) {
    let mut st = shared.lock();
    // May this worker spin when it next finds the queue empty? Only once per
    // idle stretch: it must run a job before it may spin again. (Without
    // this, the worker that just stopped spinning would win the spinner
    // flag straight back and spin forever, burning a core on an idle
    // server.)
    let mut may_spin = !shared.spin.is_zero();
    loop {
        if let Some((_, job)) = st.jobs.pop_front() {
            shared.queued.fetch_sub(1, Ordering::SeqCst);
            st.busy_workers += 1;
            let more = !st.jobs.is_empty();
            drop(st);
            if more {
                // Pass the baton: someone else should start on the rest
                // while we run this one.
                shared.work.notify_one();
            }
            // Jobs are expected to catch their own panics (the server's do);
            // this is the backstop so a bug cannot shrink the pool.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            st = shared.lock();
            st.busy_workers -= 1;
            may_spin = !shared.spin.is_zero();
            continue;
        }
        if st.shutting_down {
            st.live_workers -= 1;
            if st.live_workers == 0 {
                shared.exited.notify_all();
            }
            return;
        }
        // Nothing to do. Spin for a while if allowed and no one else is.
        if may_spin && !shared.spinning.swap(true, Ordering::SeqCst) {
            may_spin = false;
            drop(st);
            let until = Instant::now() + shared.spin;
            while shared.queued.load(Ordering::SeqCst) == 0 && Instant::now() < until {
                std::hint::spin_loop();
            }
            shared.spinning.store(false, Ordering::SeqCst);
            // Re-check under the lock before sleeping: a job pushed after we
            // stopped looking is in the queue now, or its pusher saw
            // `spinning == false` and will notify us.
            st = shared.lock();
            continue;
        }
        st = shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_pool_with_no_waiting_room_still_takes_a_job_while_a_worker_is_free() {
        let pool = ThreadPool::with_spin("t", 1, 0, Duration::ZERO).unwrap();
        let (tx, rx) = mpsc::channel();
        assert!(pool
            .try_execute(Box::new(move || tx.send(1).unwrap()))
            .is_ok());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
    }

    #[test]
    fn dropped_tagged_jobs_never_run_and_others_do() {
        let pool = ThreadPool::with_spin("t", 1, 10, Duration::ZERO).unwrap();
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        pool.try_execute(Box::new(move || {
            started_tx.send(()).unwrap();
            let _ = hold_rx.recv_timeout(Duration::from_secs(10));
        }))
        .ok()
        .unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let (tx, rx) = mpsc::channel();
        for (tag, v) in [(7, 1), (8, 2), (7, 3)] {
            let tx = tx.clone();
            pool.try_execute_tagged(tag, Box::new(move || tx.send(v).unwrap()))
                .ok()
                .unwrap();
        }
        assert_eq!(pool.drop_tagged(7), 2);
        assert_eq!(pool.queued(), 1);
        hold_tx.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(2));
        drop(tx);
        assert!(
            rx.recv_timeout(Duration::from_secs(1)).is_err(),
            "a dropped job ran"
        );
    }

    #[test]
    fn runs_every_job() {
        let pool = ThreadPool::new("t", 3, 1000).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..500 {
            let tx = tx.clone();
            pool.try_execute(Box::new(move || tx.send(i).unwrap()))
                .unwrap_or_else(|_| panic!("queue full"));
        }
        let mut got: Vec<i32> = (0..500)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..500).collect::<Vec<_>>());
        assert!(pool.shutdown(Duration::from_secs(10)));
    }

    #[test]
    fn a_burst_runs_in_parallel_even_while_a_worker_spins() {
        // Each round: a quick job first, so its worker is spinning when the
        // burst arrives (the case where submitters skip the wake-up). Then
        // four jobs that each say "started" and hold their worker until
        // released: all four can only start if four workers take them.
        let pool = ThreadPool::new("t", 4, 100).unwrap();
        for round in 0..20 {
            let (warm_tx, warm_rx) = mpsc::channel();
            pool.try_execute(Box::new(move || warm_tx.send(()).unwrap()))
                .ok()
                .unwrap();
            warm_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            let (started_tx, started_rx) = mpsc::channel();
            let mut releases = Vec::new();
            for _ in 0..4 {
                let (release_tx, release_rx) = mpsc::channel::<()>();
                releases.push(release_tx);
                let started = started_tx.clone();
                pool.try_execute(Box::new(move || {
                    started.send(()).unwrap();
                    let _ = release_rx.recv_timeout(Duration::from_secs(10));
                }))
                .ok()
                .unwrap();
            }
            for i in 0..4 {
                assert!(
                    started_rx.recv_timeout(Duration::from_secs(5)).is_ok(),
                    "round {round}: only {i} of 4 jobs started; the burst ran one by one"
                );
            }
            drop(releases);
        }
        assert!(pool.shutdown(Duration::from_secs(10)));
    }

    #[test]
    fn an_idle_pool_stops_spinning_and_sleeps() {
        // After one job, the spinner must give up within its window and
        // sleep: `spinning` goes false and stays false while nothing arrives.
        let pool = ThreadPool::with_spin("t", 2, 10, Duration::from_millis(2)).unwrap();
        run_one_job(&pool);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut quiet_since = None;
        while Instant::now() < deadline {
            if pool.shared.spinning.load(Ordering::SeqCst) {
                quiet_since = None;
            } else if quiet_since.get_or_insert_with(Instant::now).elapsed()
                > Duration::from_millis(50)
            {
                break;
            }
            std::thread::yield_now();
        }
        let quiet = quiet_since.map_or(Duration::ZERO, |t| t.elapsed());
        assert!(
            quiet > Duration::from_millis(50),
            "a worker was still spinning {:?} after the pool went idle",
            Duration::from_secs(5)
        );
    }

    /// Run one quick job on `pool` and wait (bounded) until it has run.
    fn run_one_job(pool: &ThreadPool) {
        let (tx, rx) = mpsc::channel();
        pool.try_execute(Box::new(move || tx.send(()).unwrap()))
            .ok()
            .unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    /// Run `jobs` quick jobs one after another, and after each watch for a
    /// spinning worker for 150 ms. Whether one was ever seen. (The pools
    /// below spin for 100 ms, longer than a scheduler slice, so that even
    /// on one CPU the watcher gets to run while the worker spins.)
    fn seen_spinning(pool: &ThreadPool, jobs: usize) -> bool {
        for _ in 0..jobs {
            run_one_job(pool);
            let until = Instant::now() + Duration::from_millis(150);
            while Instant::now() < until {
                if pool.shared.spinning.load(Ordering::SeqCst) {
                    return true;
                }
                std::thread::yield_now();
            }
        }
        false
    }

    /// The half of `a_pool_on_one_cpu_never_spins` that runs under
    /// `taskset -c 0`, in a process of its own.
    #[test]
    #[ignore = "run by a_pool_on_one_cpu_never_spins, under taskset"]
    fn on_one_cpu() {
        assert_eq!(allowed_cpus(), 1, "run under taskset -c 0");
        let pool = ThreadPool::with_spin("t", 2, 10, Duration::from_millis(100)).unwrap();
        assert!(
            !seen_spinning(&pool, 3),
            "a worker spun in a process allowed one CPU"
        );
    }

    #[test]
    fn a_pool_on_one_cpu_never_spins() {
        // The check can fail: with two CPUs the same pool is seen spinning.
        if allowed_cpus() > 1 {
            let pool = ThreadPool::with_spin("t", 2, 10, Duration::from_millis(100)).unwrap();
            assert!(
                seen_spinning(&pool, 3),
                "no worker spun on {} CPUs",
                allowed_cpus()
            );
        }
        let child = std::process::Command::new("taskset")
            .args(["-c", "0"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "pool::tests::on_one_cpu", "--ignored"])
            .output();
        let out = match child {
            Ok(out) => out,
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "taskset (util-linux) is missing ({e}); CI must install it"
                );
                eprintln!("skipped: taskset (util-linux) is not installed");
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the one-CPU half failed or did not run:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn a_full_queue_hands_the_job_back() {
        let pool = ThreadPool::new("t", 1, 2).unwrap();
        let (block_tx, block_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        // Occupy the only worker until we say so.
        pool.try_execute(Box::new(move || {
            started_tx.send(()).unwrap();
            let _ = block_rx.recv_timeout(Duration::from_secs(10));
        }))
        .ok()
        .unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(pool.try_execute(Box::new(|| {})).is_ok());
        assert!(pool.try_execute(Box::new(|| {})).is_ok());
        assert!(
            pool.try_execute(Box::new(|| {})).is_err(),
            "third job must not fit"
        );
        block_tx.send(()).unwrap();
        assert!(pool.shutdown(Duration::from_secs(10)));
    }

    #[test]
    fn shutdown_finishes_queued_jobs_then_refuses_new_ones() {
        let pool = ThreadPool::new("t", 2, 100).unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let d = Arc::clone(&done);
            pool.try_execute(Box::new(move || {
                d.fetch_add(1, Ordering::SeqCst);
            }))
            .ok()
            .unwrap();
        }
        assert!(pool.shutdown(Duration::from_secs(10)));
        assert_eq!(done.load(Ordering::SeqCst), 50);
        assert!(pool.try_execute(Box::new(|| {})).is_err());
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_worker() {
        let pool = ThreadPool::new("t", 1, 10).unwrap();
        pool.try_execute(Box::new(|| panic!("job panics on purpose")))
            .ok()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        pool.try_execute(Box::new(move || tx.send(()).unwrap()))
            .ok()
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}
