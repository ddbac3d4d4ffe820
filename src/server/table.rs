//! The call table: the article's `call_id_map`, and what the server
//! learns about each method as it runs.
//!
//! Article: 本地调用VS远程调用 › Call ID映射. The one idea to take away:
//! **the call table is just a map from a name to a function**: the
//! `HashMap<String, Arc<Handler>>` in [`Server`], exactly the article's
//! `std::map<std::string, std::function<>>`. Registration wraps a typed
//! closure in a function of bytes: decode the arguments into the declared
//! types, call, encode the result.

use super::builder::ServerBuilder;
use super::context::CallContext;
use super::describe::Signature;
use crate::codec::{self, DeclaredTypes, Decode, Encode, JsonCx};
use crate::error::RpcError;
use crate::metrics::MethodMetrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A registered method: decode the arguments from `args`, run, and append
/// the encoded result to `out`. This is the value type of the call table.
/// [`Server::register`] builds one from a typed closure; write one by hand
/// only to do something the typed form cannot.
pub type Handler =
    dyn Fn(&CallContext, &[u8], &mut Vec<u8>) -> Result<(), RpcError> + Send + Sync + 'static;

/// A server being set up: settings plus the call table. Register methods,
/// then [`serve`](Server::serve).
///
/// ```
/// use minirpc::{Client, Server};
/// let mut server = Server::new();
/// server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
/// let handle = server.serve("127.0.0.1:0").unwrap();
/// let client = Client::connect(handle.local_addr()).unwrap();
/// let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
/// assert_eq!(y, 200);
/// ```
pub struct Server {
    pub(crate) config: ServerBuilder,
    /// The article's `call_id_map`: call id → function.
    pub(crate) table: HashMap<String, Arc<Handler>>,
    /// Record types named by registered methods' arguments.
    pub(crate) declared_types: DeclaredTypes,
    /// What `$minirpc.describe` reports of each method.
    pub(crate) signatures: HashMap<String, Signature>,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl Server {
    /// A server with default settings.
    pub fn new() -> Server {
        ServerBuilder::default().build()
    }

    /// Settings to change before building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Add `f` to the call table under `call_id`. Its argument type `A` is
    /// what the arguments are decoded into (a tuple for several arguments);
    /// its result is encoded back. An `Err` from `f` reaches the caller with
    /// its status and message unchanged.
    ///
    /// # Panics
    /// If `call_id` is already registered: two functions under one name is a
    /// bug in the program, better found at startup than at the first call.
    pub fn register<A, R, F>(&mut self, call_id: &str, f: F) -> &mut Server
    where
        A: Decode + 'static,
        R: Encode + 'static,
        F: Fn(A) -> Result<R, RpcError> + Send + Sync + 'static,
    {
        self.register_with_context(call_id, move |_ctx: &CallContext, a: A| f(a))
    }

    /// Like [`register`](Server::register), for a handler that wants the
    /// [`CallContext`] (its deadline, its caller).
    pub fn register_with_context<A, R, F>(&mut self, call_id: &str, f: F) -> &mut Server
    where
        A: Decode + 'static,
        R: Encode + 'static,
        F: Fn(&CallContext, A) -> Result<R, RpcError> + Send + Sync + 'static,
    {
        let handler = move |ctx: &CallContext, args: &[u8], out: &mut Vec<u8>| {
            // Server step 5: decode the arguments into the declared types...
            // In JSON, records are checked against the whitelist here.
            let cx = JsonCx::checked(&ctx.whitelist);
            // The decoder's status is kept: bad bytes are INVALID_ARGUMENT,
            // a message that would need too much memory RESOURCE_EXHAUSTED.
            let a: A = codec::decode_as(ctx.codec, args, ctx.limits, &cx).map_err(|e| {
                RpcError::new(
                    e.status,
                    format!(
                        "arguments for \"{}\" do not decode as {}: {}",
                        ctx.call_id,
                        std::any::type_name::<A>(),
                        e.message
                    ),
                )
            })?;
            ctx.trace(5, Some(args), || {
                format!(
                    "decoded {} argument bytes as {}; calling the handler",
                    args.len(),
                    std::any::type_name::<A>()
                )
            });
            // ...and make the local call.
            let r = f(ctx, a)?;
            // Server step 6: encode the result.
            let before = out.len();
            // Room for the whole result at once (`Encode::encoded_len`):
            // buys a large result one allocation, not one per doubling.
            out.reserve(codec::Encode::encoded_len(&r));
            codec::encode_as(ctx.codec, &r, out);
            ctx.trace(6, Some(&out[before..]), || {
                format!(
                    "handler returned; encoded the result ({}) into {} bytes",
                    std::any::type_name::<R>(),
                    out.len() - before
                )
            });
            Ok(())
        };
        // Layer 1 of the deserialization whitelist: the record types this
        // method's arguments declare.
        A::declared_types(&mut self.declared_types);
        self.register_handler(call_id, Arc::new(handler));
        let idempotent = self.signatures.get(call_id).is_some_and(|s| s.idempotent);
        let signature = Signature {
            idempotent,
            ..Signature::typed::<A, R>(call_id)
        };
        self.signatures.insert(call_id.to_owned(), signature);
        self
    }

    /// Declare these call ids idempotent: running one twice does no more
    /// than running it once, so a client may retry it after a failure.
    /// `$minirpc.describe` reports it (this server never retries anything
    /// itself). Ids not registered yet are remembered for when they are.
    pub fn idempotent(&mut self, call_ids: &[&str]) -> &mut Server {
        for id in call_ids {
            self.signatures
                .entry((*id).to_owned())
                .or_insert_with(|| Signature::untyped(id))
                .idempotent = true;
        }
        self
    }

    /// Add an untyped handler to the call table (see [`Handler`]).
    ///
    /// # Panics
    /// If `call_id` is already registered, or starts with `$minirpc.`
    /// (reserved for the built-in calls such as the health probe).
    pub fn register_handler(&mut self, call_id: &str, handler: Arc<Handler>) -> &mut Server {
        if call_id.starts_with("$minirpc.") {
            panic!(
                "call id \"{call_id}\" is reserved: ids starting with \"$minirpc.\" are built into every server (see protocol::PING_CALL_ID)"
            );
        }
        self.signatures
            .entry(call_id.to_owned())
            .or_insert_with(|| Signature::untyped(call_id));
        if self.table.insert(call_id.to_owned(), handler).is_some() {
            panic!("call id \"{call_id}\" is registered twice; each call id names one function");
        }
        self
    }

    /// The record types the registered methods declare so far (layer 1 of
    /// the deserialization whitelist).
    pub fn declared_types(&self) -> &[&'static str] {
        self.declared_types.names()
    }

    /// The call ids registered so far, sorted.
    pub fn call_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.table.keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// A served method: its handler, and whether it has proven short enough to
/// run on the connection's reader thread.
///
/// # Why run some calls on the reader?
///
/// Handing a call from the reader thread to a worker is a thread wake-up,
/// and on a small virtual machine a wake-up can cost more than the whole
/// round trip of a small call. A handler like Multiply takes nanoseconds;
/// waking a worker for it is most of the cost. So a method starts on the
/// pool (the safe default: a slow call there never holds up its
/// connection), and after [`PROVEN_FAST`] calls in a row that each finished
/// within `ServerBuilder::inline_max`, it runs inline on the reader. Any
/// call slower than that, inline or not, sends it back to the pool.
///
/// The price: a method that was fast and suddenly is not (a lock, a slow
/// disk) holds up everything behind it on that one connection. Worse, if
/// it waits for something only a *later* request on the same connection
/// provides (a semaphore released by the next call), that request is never
/// read: a deadlock. So the reading role is a value that can change hands:
/// before running a call inline the reader parks it, and if the call is
/// still running a moment later, the server's relief thread gives the role
/// to a fresh reader thread (see `src/server/relief.rs`), which goes on
/// reading while the slow call finishes on the old one. Then the method moves
/// back to the pool, and must prove itself over a streak 4× longer than
/// last time (8, 32, 128, ... up to 8192 fast calls) before it runs inline
/// again: a method that was merely preempted once comes back, one that is
/// slow again and again stays on the pool. Redis and Netty's event loops
/// make the same bet, without the way back.
pub(crate) struct Method {
    pub(crate) handler: Arc<Handler>,
    /// Its place in `Inner::methods` (so a connection can name the method
    /// it is running inline in one atomic word).
    pub(crate) index: usize,
    /// Run on the reader thread?
    pub(crate) inline: AtomicBool,
    /// Fast calls in a row so far (while on the pool).
    fast_streak: AtomicU32,
    /// How often it was sent back to the pool: each time, it must prove
    /// itself over a 4× longer streak before it may run inline again.
    demotions: AtomicU32,
    /// Its call id and types, for `$minirpc.describe` and the metrics.
    pub(crate) signature: Signature,
    /// Its counters (see [`crate::metrics`]): found with the method, so
    /// counting a call costs no lookup.
    pub(crate) metrics: MethodMetrics,
}

/// Fast calls in a row before a method runs inline.
pub(crate) const PROVEN_FAST: u32 = 8;

impl Method {
    pub(crate) fn new(handler: Arc<Handler>, index: usize) -> Method {
        Method {
            handler,
            index,
            inline: AtomicBool::new(false),
            fast_streak: AtomicU32::new(0),
            demotions: AtomicU32::new(0),
            signature: Signature::untyped(""),
            metrics: MethodMetrics::new(),
        }
    }

    /// This method, with what registration learned of it.
    pub(crate) fn described(self, signature: Signature) -> Method {
        Method { signature, ..self }
    }

    /// Learn from one call that took `took` and succeeded (`ok`) or not.
    /// Only a successful call proves a method fast: a call whose arguments
    /// did not decode is fast for the wrong reason, and counting it would
    /// let anyone promote any method with a few malformed calls. A slow
    /// call counts against it either way.
    pub(crate) fn observe(&self, took: Duration, inline_max: Duration, ok: bool) {
        if took <= inline_max && !inline_max.is_zero() {
            if !ok {
                return;
            }
            // 8, then 32, 128, ... 8192 fast calls in a row after each
            // demotion. Wall-clock time cannot tell a handler that blocked
            // from one the OS merely preempted, so a single slow call must
            // not banish a fast method for good; but one that is slow again
            // and again soon needs a streak it never reaches.
            let demotions = self.demotions.load(Ordering::Relaxed).min(5);
            let needed = PROVEN_FAST << (2 * demotions);
            if self.fast_streak.fetch_add(1, Ordering::Relaxed) + 1 >= needed {
                self.inline.store(true, Ordering::Relaxed);
            }
        } else {
            self.demote();
        }
    }

    /// Send the method back to the pool (a call was slow, or blocked the
    /// reader long enough for the relief to take over).
    pub(crate) fn demote(&self) {
        self.fast_streak.store(0, Ordering::Relaxed);
        if self.inline.swap(false, Ordering::Relaxed) {
            self.demotions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method() -> Method {
        Method::new(
            Arc::new(|_: &CallContext, _: &[u8], _: &mut Vec<u8>| Ok(())),
            0,
        )
    }

    const FAST: Duration = Duration::from_micros(1);
    const MAX: Duration = Duration::from_micros(20);

    #[test]
    fn a_method_runs_inline_only_after_proving_fast_and_leaves_after_one_slow_call() {
        let m = method();
        for _ in 0..PROVEN_FAST - 1 {
            m.observe(FAST, MAX, true);
            assert!(!m.inline.load(Ordering::Relaxed), "not proven yet");
        }
        m.observe(FAST, MAX, true);
        assert!(
            m.inline.load(Ordering::Relaxed),
            "proven after {PROVEN_FAST} fast calls"
        );
        m.observe(Duration::from_millis(5), MAX, true);
        assert!(
            !m.inline.load(Ordering::Relaxed),
            "one slow call sends it back"
        );
        // ...and must now prove itself over a 4x longer streak.
        for _ in 0..4 * PROVEN_FAST - 1 {
            m.observe(FAST, MAX, true);
        }
        assert!(!m.inline.load(Ordering::Relaxed), "32 needed, 31 seen");
        m.observe(FAST, MAX, true);
        assert!(m.inline.load(Ordering::Relaxed), "back after 32");
    }

    #[test]
    fn failed_calls_never_prove_a_method_fast() {
        // Calls whose arguments do not decode end in microseconds: counting
        // them let anyone promote any method onto the readers.
        let m = method();
        for _ in 0..100 {
            m.observe(FAST, MAX, false);
        }
        assert!(!m.inline.load(Ordering::Relaxed));
    }

    #[test]
    fn a_method_that_is_slow_again_and_again_stays_on_the_pool() {
        // Slow once every 50 calls: after a few demotions the streak it
        // needs (128, then 512, ...) is longer than it ever runs fast.
        let m = method();
        let mut inline_calls = 0;
        for round in 0..40 {
            for _ in 0..49 {
                if m.inline.load(Ordering::Relaxed) {
                    inline_calls += 1;
                }
                m.observe(FAST, MAX, true);
            }
            m.observe(Duration::from_millis(5), MAX, true);
            if round >= 3 {
                assert!(!m.inline.load(Ordering::Relaxed), "round {round}");
            }
        }
        // Only the first few rounds ran any calls inline.
        assert!(inline_calls < 3 * 49, "{inline_calls} calls ran inline");
    }

    #[test]
    fn inline_max_zero_never_runs_inline() {
        let m = method();
        for _ in 0..100 {
            m.observe(Duration::ZERO, Duration::ZERO, true);
        }
        assert!(!m.inline.load(Ordering::Relaxed));
    }
}
