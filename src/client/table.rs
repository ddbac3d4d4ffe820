//! The pending table: one entry per call that expects an answer, keyed by
//! its request id.
//!
//! Article: 模式 (RR, Future and Callback all leave an entry here; Oneway
//! leaves none). The one idea to take away: **whoever reads a response
//! looks its request id up here and delivers it as the entry says**, and
//! the table keeps indexes so that every question a reader asks per frame
//! (whose is this? who reads next? which deadline comes first?) costs a
//! lookup, never a walk over every call in flight.
//!
//! ```text
//!   Waiter::Thread(condvar)   request-response: a thread is blocked; notify it
//!   Waiter::Future(waker)     future: store the result; wake the executor, if any
//!   Waiter::Callback(f)       callback: hand f(result) to the callback pool
//!   (no entry at all)         oneway: nothing will come back
//! ```
//!
//! The indexes cover the entries still *waiting* (no result yet):
//!
//! | index | holds | answers |
//! |---|---|---|
//! | `waiting` | `(deadline, id)` of every waiting entry | how long a read may take (the earliest deadline) |
//! | `background` | `(deadline, id)` of those no thread waits for | what the background thread must expire, and when |
//! | `threads` | ids a blocked thread waits for | how many threads wait |
//!
//! Apart from these, `asleep` holds the ids whose thread is asleep in
//! `Connection::wait` right now: the only threads the reading can be
//! handed to. A thread that has registered its call but is still sending
//! it is not listening; a hand-off to it would be lost, and with it the
//! reading, until someone's deadline.
//!
//! Every change to an entry goes through [`Index::remove`] before and
//! [`Index::add`] after, so the three can never disagree with the entries.

use super::callbacks::{contain, CallbackPool, RawCallback};
use crate::error::RpcError;
use crate::hash::FnvMap;
use crate::protocol::Frame;
use crate::time::Deadline;
use std::collections::BTreeSet;
use std::ops::{Bound, RangeToInclusive};
use std::sync::{Arc, Condvar};
use std::task::Waker;
use std::time::Instant;

/// How a pending call is told its response arrived.
pub(crate) enum Waiter {
    /// A thread is blocked on this condvar (with the `state` lock).
    Thread(Arc<Condvar>),
    /// A [`super::Pending`] holds the id; poll it or wait on it.
    Future(Option<Waker>),
    /// Run this with the result, once, on the callback pool.
    Callback(Option<RawCallback>),
}

/// One call in the table.
pub(crate) struct Entry {
    result: Option<Result<Frame, RpcError>>,
    deadline: Deadline,
    waiter: Waiter,
}

impl Entry {
    /// Whether its answer (or error) has arrived.
    pub(crate) fn has_result(&self) -> bool {
        self.result.is_some()
    }
}

/// Work to do after the state lock is released: waking an executor or
/// running a callback must never happen while we hold the lock.
pub(crate) enum Deferred {
    /// Wake a blocked caller. Done after the lock is released, so the
    /// woken thread does not run straight into the lock we still hold.
    Notify(Arc<Condvar>),
    Wake(Waker),
    Run(RawCallback, Result<Frame, RpcError>),
}

impl Deferred {
    /// Do it. A waker is someone else's code: if it panics, the panic stays
    /// here instead of unwinding through the thread that reads the socket.
    pub(crate) fn run(self, callbacks: &CallbackPool) {
        match self {
            Deferred::Notify(cv) => cv.notify_one(),
            Deferred::Wake(w) => contain(|| w.wake()),
            Deferred::Run(f, r) => callbacks.run(f, r),
        }
    }
}

/// The indexes over the waiting entries (see the module docs).
#[derive(Default)]
struct Index {
    waiting: BTreeSet<(Deadline, u64)>,
    background: BTreeSet<(Deadline, u64)>,
    threads: BTreeSet<u64>,
}

impl Index {
    fn add(&mut self, id: u64, e: &Entry) {
        if e.result.is_some() {
            return;
        }
        self.waiting.insert((e.deadline, id));
        if matches!(e.waiter, Waiter::Thread(_)) {
            self.threads.insert(id);
        } else {
            self.background.insert((e.deadline, id));
        }
    }

    /// Undo [`Index::add`]: `e` must be as it was when it was added.
    fn remove(&mut self, id: u64, e: &Entry) {
        if e.result.is_some() {
            return;
        }
        self.waiting.remove(&(e.deadline, id));
        if matches!(e.waiter, Waiter::Thread(_)) {
            self.threads.remove(&id);
        } else {
            self.background.remove(&(e.deadline, id));
        }
    }
}

/// Every `(deadline, id)` at or before `now`.
fn up_to(now: Instant) -> RangeToInclusive<(Deadline, u64)> {
    ..=(Deadline::at(now), u64::MAX)
}

/// The pending table and its indexes.
#[derive(Default)]
pub(crate) struct Table {
    /// By request id. The ids are this client's own, counted up, so a
    /// plain hash is safe and about a fifth of SipHash's cost (`src/hash.rs`).
    entries: FnvMap<u64, Entry>,
    index: Index,
    /// Condvars of finished waits, for the next blocking calls (at most
    /// [`SPARE_CONDVARS`]): an allocation and a free fewer per call.
    spare: Vec<Arc<Condvar>>,
    /// Calls whose thread is asleep on its condvar (see the module docs).
    asleep: BTreeSet<u64>,
}

/// How many spare condvars a connection keeps.
const SPARE_CONDVARS: usize = 16;

impl Table {
    pub(crate) fn insert(&mut self, id: u64, deadline: Deadline, waiter: Waiter) {
        let e = Entry {
            result: None,
            deadline,
            waiter,
        };
        self.index.add(id, &e);
        self.entries.insert(id, e);
    }

    /// A condvar for a thread about to wait: a spare one, or a new one.
    pub(crate) fn condvar(&mut self) -> Arc<Condvar> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keep a waiting thread's condvar when its wait is over, if no one
    /// else holds it: a leader about to notify it still has a clone, and
    /// a condvar shared like that is not reused (its notification would
    /// wake the next call's thread for nothing). Call with the state lock
    /// held, as every clone is made under it.
    pub(crate) fn recycle(&mut self, cv: Arc<Condvar>) {
        if Arc::strong_count(&cv) == 1 && self.spare.len() < SPARE_CONDVARS {
            self.spare.push(cv);
        }
    }

    /// Remove an entry, whatever its state. The caller drops it after
    /// releasing the lock (a waker's drop is someone else's code).
    pub(crate) fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.index.remove(id, &e);
        Some(e)
    }

    /// Entries in the table, waiting or holding an uncollected result.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every id in the table (for failing them all).
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.entries.keys().copied().collect()
    }

    /// `id`'s deadline, if it is in the table.
    pub(crate) fn deadline(&self, id: u64) -> Option<Deadline> {
        self.entries.get(&id).map(|e| e.deadline)
    }

    /// Whether `id`'s result has arrived (or the entry is gone).
    pub(crate) fn is_ready(&self, id: u64) -> bool {
        self.entries.get(&id).is_none_or(|e| e.result.is_some())
    }

    /// If `id`'s result has arrived, remove the entry and return it.
    pub(crate) fn take_result(&mut self, id: u64) -> Option<Result<Frame, RpcError>> {
        self.entries.get(&id)?.result.as_ref()?;
        self.remove(id)?.result
    }

    /// The condvar of the thread waiting for `id`, if one is.
    pub(crate) fn thread_condvar(&self, id: u64) -> Option<Arc<Condvar>> {
        match &self.entries.get(&id)?.waiter {
            Waiter::Thread(cv) => Some(Arc::clone(cv)),
            _ => None,
        }
    }

    /// Change who waits for `id` (a future being waited on becomes a thread
    /// waiter, and back). Returns the old waiter, to drop after the lock.
    pub(crate) fn set_waiter(&mut self, id: u64, waiter: Waiter) -> Option<Waiter> {
        let e = self.entries.get_mut(&id)?;
        self.index.remove(id, e);
        let old = std::mem::replace(&mut e.waiter, waiter);
        self.index.add(id, e);
        Some(old)
    }

    /// Make `waker` the one to wake when `id`'s result arrives. Skips the
    /// clone when the executor polls again with the same waker (the common
    /// case). Returns the replaced waiter, to drop after the lock.
    pub(crate) fn set_waker(&mut self, id: u64, waker: &Waker) -> Option<Waiter> {
        let e = self.entries.get(&id)?;
        if let Waiter::Future(Some(old)) = &e.waiter {
            if old.will_wake(waker) {
                return None;
            }
        }
        self.set_waiter(id, Waiter::Future(Some(waker.clone())))
    }

    /// Deliver a result to `id`'s waiter. Returns what must be done once the
    /// lock is released. Completing twice keeps the first result.
    pub(crate) fn complete(
        &mut self,
        id: u64,
        result: Result<Frame, RpcError>,
    ) -> Option<Deferred> {
        let e = self.entries.get_mut(&id)?;
        if e.result.is_some() {
            return None;
        }
        self.index.remove(id, e);
        match &mut e.waiter {
            Waiter::Thread(cv) => {
                e.result = Some(result);
                Some(Deferred::Notify(Arc::clone(cv)))
            }
            Waiter::Future(waker) => {
                e.result = Some(result);
                waker.take().map(Deferred::Wake)
            }
            Waiter::Callback(f) => {
                let f = f.take();
                self.entries.remove(&id);
                f.map(|f| Deferred::Run(f, result))
            }
        }
    }

    /// A blocked thread to hand the reading to, if any: the oldest call
    /// whose thread is asleep waiting for it (see [`Table::asleep`]).
    pub(crate) fn thread_to_wake(&self) -> Option<&Arc<Condvar>> {
        self.asleep
            .iter()
            .find_map(|id| match &self.entries.get(id)?.waiter {
                Waiter::Thread(cv) if self.index.threads.contains(id) => Some(cv),
                _ => None,
            })
    }

    /// The thread waiting for `id` goes to sleep on its condvar (`true`), or
    /// has woken (`false`). Only a sleeping thread can be handed the reading.
    pub(crate) fn asleep(&mut self, id: u64, yes: bool) {
        if yes {
            self.asleep.insert(id);
        } else {
            self.asleep.remove(&id);
        }
    }

    /// How many threads are blocked waiting for a result.
    pub(crate) fn threads_waiting(&self) -> usize {
        self.index.threads.len()
    }

    /// Whether some call waits with no thread to read for it (a future or a
    /// callback): then the background thread must read.
    pub(crate) fn needs_background(&self) -> bool {
        !self.index.background.is_empty()
    }

    /// The earliest deadline, after `now`, of a call still waiting: how long
    /// a read may go on without making someone late.
    pub(crate) fn next_deadline_after(&self, now: Instant) -> Deadline {
        // Usually none is overdue, and the first is the answer: a walk
        // down one edge of the tree instead of a range search.
        match self.index.waiting.first() {
            None => return Deadline::NEVER,
            Some(&(d, _)) if d > Deadline::at(now) => return d,
            Some(_) => {}
        }
        let after_now = (
            Bound::Excluded((Deadline::at(now), u64::MAX)),
            Bound::Unbounded,
        );
        self.index
            .waiting
            .range(after_now)
            .next()
            .map_or(Deadline::NEVER, |(d, _)| *d)
    }

    /// Waiting calls whose deadline is at or before `now`.
    pub(crate) fn overdue(&self, now: Instant) -> Vec<u64> {
        let ids = self.index.waiting.range(up_to(now));
        ids.map(|(_, id)| *id).collect()
    }

    /// Futures and callbacks whose deadline is at or before `now`: the
    /// background thread expires these (a blocked thread expires its own).
    pub(crate) fn overdue_background(&self, now: Instant) -> Vec<u64> {
        let ids = self.index.background.range(up_to(now));
        ids.map(|(_, id)| *id).collect()
    }

    /// When the background thread must next expire something.
    pub(crate) fn next_background_deadline(&self) -> Deadline {
        self.index
            .background
            .first()
            .map_or(Deadline::NEVER, |(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn thread_waiter() -> Waiter {
        Waiter::Thread(Arc::new(Condvar::new()))
    }

    fn ok() -> Result<Frame, RpcError> {
        Err(RpcError::internal("a stand-in result"))
    }

    #[test]
    fn a_condvar_is_reused_only_once_no_one_else_holds_it() {
        let mut t = Table::default();
        let cv = t.condvar();
        t.insert(1, Deadline::NEVER, Waiter::Thread(Arc::clone(&cv)));
        // The leader routes the result and keeps a clone to notify with.
        let notify = t.complete(1, ok());
        assert!(t.take_result(1).is_some());
        t.recycle(Arc::clone(&cv));
        assert!(
            !Arc::ptr_eq(&t.condvar(), &cv),
            "a condvar still to be notified was handed to the next call"
        );
        drop(notify);
        t.recycle(Arc::clone(&cv));
        assert!(t.spare.is_empty(), "kept while the caller still held it");
        let ptr = Arc::as_ptr(&cv);
        t.recycle(cv);
        assert_eq!(Arc::as_ptr(&t.condvar()), ptr);
        for _ in 0..SPARE_CONDVARS + 5 {
            t.recycle(Arc::new(Condvar::new()));
        }
        assert_eq!(t.spare.len(), SPARE_CONDVARS);
    }

    #[test]
    fn a_future_needs_the_background_reader_until_a_thread_waits_for_it() {
        let mut t = Table::default();
        t.insert(1, Deadline::NEVER, Waiter::Future(None));
        assert!(t.needs_background());
        assert_eq!(t.threads_waiting(), 0);
        t.set_waiter(1, thread_waiter());
        assert!(!t.needs_background());
        assert_eq!(t.threads_waiting(), 1);
        assert!(t.thread_to_wake().is_none(), "its thread is not asleep yet");
        t.asleep(1, true);
        assert!(t.thread_to_wake().is_some());
    }

    #[test]
    fn a_completed_entry_leaves_every_index_and_taking_it_empties_the_table() {
        let mut t = Table::default();
        let now = Instant::now();
        t.insert(1, Deadline::at(now), Waiter::Future(None));
        assert!(t.complete(1, ok()).is_none(), "no waker to wake yet");
        assert!(!t.needs_background());
        assert!(t.overdue(now).is_empty());
        assert!(t.is_ready(1));
        assert!(t.take_result(1).is_some());
        assert!(t.is_empty());
    }

    #[test]
    fn completing_twice_keeps_the_first_result() {
        let mut t = Table::default();
        t.insert(1, Deadline::NEVER, thread_waiter());
        assert!(t.complete(1, ok()).is_some());
        assert!(t.complete(1, ok()).is_none());
        assert_eq!(t.threads_waiting(), 0);
    }

    #[test]
    fn deadlines_come_out_earliest_first_and_never_last() {
        let mut t = Table::default();
        let now = Instant::now();
        let soon = now + Duration::from_millis(10);
        let later = now + Duration::from_secs(10);
        t.insert(1, Deadline::NEVER, Waiter::Future(None));
        t.insert(2, Deadline::at(later), thread_waiter());
        t.insert(3, Deadline::at(soon), Waiter::Future(None));
        assert_eq!(t.next_deadline_after(now), Deadline::at(soon));
        assert_eq!(t.next_deadline_after(soon), Deadline::at(later));
        assert_eq!(t.next_deadline_after(later), Deadline::NEVER);
        assert_eq!(t.overdue(soon), vec![3]);
        assert_eq!(t.overdue_background(later), vec![3]);
        assert_eq!(t.next_background_deadline(), Deadline::at(soon));
    }

    #[test]
    fn a_callback_entry_is_gone_once_completed() {
        let mut t = Table::default();
        t.insert(1, Deadline::NEVER, Waiter::Callback(Some(Box::new(|_| {}))));
        assert!(matches!(t.complete(1, ok()), Some(Deferred::Run(..))));
        assert!(t.is_empty());
        assert!(!t.needs_background());
    }
}
