//! Small helpers for the standard library's locks.
//!
//! The one idea to take away: **a poisoned lock is not a reason to stop
//! serving**. A `Mutex` is "poisoned" when a thread panicked while holding
//! it. The standard library then makes every later `lock()` return an error,
//! on the theory that the data may be half-updated. In minirpc every
//! critical section leaves its data consistent at each step (user code,
//! which is what panics, never runs under our locks), so the data is fine:
//! refusing it would turn one panicking handler or callback into a dead
//! connection or server. So every lock in the crate is taken through
//! [`lock`], which takes the guard either way.

use std::sync::{Mutex, MutexGuard};

/// Lock `m`, ignoring poisoning (see the module docs for why that is safe
/// here).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
