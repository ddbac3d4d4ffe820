//! A typed service: the RPC Proxy, declared once with `service!`.
//!
//! ```text
//! cargo run --example typed_service
//! ```
//!
//! Article: 原理 › 组件. The RPC Server exports an interface, the RPC Client
//! imports it, and the RPC Proxy is "the remote interface's proxy
//! implementation": a local-looking object whose methods make remote calls.
//! Here one `service!` declaration writes the server trait (`Shop`), its
//! registration (`register_service`, call ids `"Shop.place"`, ...) and the
//! proxy (`ShopClient`); `src/service.rs` and chapter 06 of the docs show
//! what it expands to.
//!
//! The example runs a small shop in one process and prints each step:
//! records as arguments and results, a domain error (`ShopError`) that comes
//! back as a value, `Ok(Err(..))`, next to a transport error that comes back
//! as `Err(RpcError)`, a future (`place_async`), and one call in JSON to the
//! same server. Every wait is bounded by the client's call timeout.

use minirpc::codec::CodecId;
use minirpc::trace::{Side, TraceEvent, Tracer};
use minirpc::{record, service, Client, RpcError, Server};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

// ---- the interface: records and the service ---------------------------------------

record! {
    /// One line of an order.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item { pub sku: String, pub qty: u32, pub price_cents: u64 }
}

record! {
    /// An order. The client sends `id: 0`; the shop assigns the real id.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub user: String,
        pub items: Vec<Item>,
        pub note: Option<String>,
    }
}

record! {
    /// What a placed order gets back.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Receipt { pub order_id: u64, pub total_cents: u64 }
}

record! {
    /// The shop's own reasons to say no: values of the method's result, not
    /// failures of the call. A unit variant and two struct variants.
    #[derive(Debug, Clone, PartialEq)]
    pub enum ShopError {
        EmptyOrder,
        OutOfStock { sku: String, wanted: u32, left: u32 },
        NoSuchOrder { id: u64 },
    }
}

service! {
    /// A small shop, over the network.
    pub trait Shop, client ShopClient {
        /// Place an order: a receipt, or why not.
        fn place(order: Order) -> Result<Receipt, ShopError>, async place_async;
        /// How many of `sku` are left (0 for an unknown sku).
        fn stock(sku: String) -> u32, async stock_async;
        /// Cancel an order and put its items back on the shelf.
        fn cancel(id: u64) -> Result<(), ShopError>, async cancel_async;
        /// Every order placed and not cancelled, by id.
        fn list() -> Vec<Order>, async list_async;
    }
}

// ---- the server side: an implementation with state -----------------------------------

/// What the shop remembers between calls.
struct State {
    stock: BTreeMap<String, u32>,
    orders: BTreeMap<u64, Order>,
    next_id: u64,
}

/// The implementation. Worker threads call its methods concurrently (the
/// trait requires `Send + Sync`), so its state sits behind a `Mutex`.
struct Store {
    state: Mutex<State>,
}

impl Store {
    fn new(stock: &[(&str, u32)]) -> Store {
        Store {
            state: Mutex::new(State {
                stock: stock.iter().map(|&(s, n)| (s.to_owned(), n)).collect(),
                orders: BTreeMap::new(),
                next_id: 1,
            }),
        }
    }

    /// The state, even if a handler panicked while holding the lock: every
    /// method below leaves the state consistent before it can panic.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Shop for Store {
    fn place(&self, mut order: Order) -> Result<Receipt, ShopError> {
        if order.items.is_empty() {
            return Err(ShopError::EmptyOrder);
        }
        let mut st = self.state();
        // Check every line before taking anything, so a refused order
        // changes nothing. (Two lines may name the same sku.)
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &order.items {
            let w = wanted.entry(&item.sku).or_insert(0);
            *w = w.saturating_add(item.qty);
        }
        for (&sku, &w) in &wanted {
            let left = st.stock.get(sku).copied().unwrap_or(0);
            if w > left {
                return Err(ShopError::OutOfStock {
                    sku: sku.to_owned(),
                    wanted: w,
                    left,
                });
            }
        }
        for (&sku, &w) in &wanted {
            if let Some(left) = st.stock.get_mut(sku) {
                *left -= w;
            }
        }
        // Saturating: a hostile price must not panic the handler.
        let total_cents = order.items.iter().fold(0u64, |sum, i| {
            sum.saturating_add(u64::from(i.qty).saturating_mul(i.price_cents))
        });
        order.id = st.next_id;
        st.next_id += 1;
        let receipt = Receipt {
            order_id: order.id,
            total_cents,
        };
        st.orders.insert(order.id, order);
        Ok(receipt)
    }

    fn stock(&self, sku: String) -> u32 {
        self.state().stock.get(&sku).copied().unwrap_or(0)
    }

    fn cancel(&self, id: u64) -> Result<(), ShopError> {
        let mut st = self.state();
        let order = st.orders.remove(&id).ok_or(ShopError::NoSuchOrder { id })?;
        for item in order.items {
            let left = st.stock.entry(item.sku).or_insert(0);
            *left = left.saturating_add(item.qty);
        }
        Ok(())
    }

    fn list(&self) -> Vec<Order> {
        self.state().orders.values().cloned().collect()
    }
}

// ---- the client side ------------------------------------------------------------------

fn item(sku: &str, qty: u32, price_cents: u64) -> Item {
    Item {
        sku: sku.to_owned(),
        qty,
        price_cents,
    }
}

fn order(user: &str, items: Vec<Item>, note: Option<&str>) -> Order {
    Order {
        id: 0,
        user: user.to_owned(),
        items,
        note: note.map(str::to_owned),
    }
}

/// Print a call that returns a domain `Result`, naming which layer answered.
fn show<T: Debug, E: Debug>(call: &str, r: &Result<Result<T, E>, RpcError>) {
    println!("    {call}");
    match r {
        Ok(Ok(v)) => println!("    -> Ok(Ok({v:?}))\n       the call worked and the shop said yes"),
        Ok(Err(e)) => println!(
            "    -> Ok(Err({e:?}))\n       the call worked; the shop said no (a domain error, sent as an ordinary value)"
        ),
        Err(e) => println!(
            "    -> Err(RpcError {{ status: {:?}, .. }})\n       the call itself failed: {e}",
            e.status
        ),
    }
}

/// Bytes seen by a tracer, each with the client step that reported them.
type Seen = Arc<Mutex<Vec<(u8, Vec<u8>)>>>;

/// A tracer that keeps the bytes of client steps 2 (the encoded arguments)
/// and 5 (the response frame), to show what the JSON call really sent.
fn capture() -> (Tracer, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let tracer: Tracer = Arc::new(move |e: &TraceEvent<'_>| {
        if let (Side::Client, 2 | 5, Some(b)) = (e.side, e.step, e.bytes) {
            keep.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((e.step, b.to_vec()));
        }
    });
    (tracer, seen)
}

/// The result bytes of a response frame (docs/protocol.md §3 and §5): after
/// the 18-byte header come the status byte and the message (a u32 length,
/// then UTF-8); the rest is the result.
fn result_bytes(frame: &[u8]) -> &[u8] {
    let body = frame.get(18..).unwrap_or_default();
    let msg_len = match body.get(1..5) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
        None => return &[],
    };
    body.get(5 + msg_len..).unwrap_or_default()
}

fn main() -> Result<(), RpcError> {
    let timeout = Duration::from_secs(5);

    println!("1. The server: a Store behind the Shop trait, registered with register_service");
    let mut server = Server::new();
    Store::new(&[("SKU-0001", 10), ("SKU-0002", 3), ("SKU-0003", 0)]).register_service(&mut server);
    println!("    call ids: {:?}", server.call_ids());
    println!(
        "    records its argument types declare (whitelist layer 1): {:?}",
        server.declared_types()
    );
    let handle = server
        .serve("127.0.0.1:0")
        .map_err(|e| RpcError::unavailable(format!("cannot bind 127.0.0.1:0: {e}")))?;
    println!("    listening on {}", handle.local_addr());

    println!("\n2. The client: a ShopClient (the proxy) around an ordinary Client, binary codec");
    let shop = ShopClient::new(
        Client::builder()
            .call_timeout(timeout)
            .connect(handle.local_addr())?,
    );
    println!("    shop.stock(\"SKU-0002\")");
    println!("    -> {}", shop.stock("SKU-0002".into())?);

    println!("\n3. place: a record goes in, a Result<Receipt, ShopError> comes out");
    let first = order(
        "ada.lovelace",
        vec![item("SKU-0001", 2, 1999), item("SKU-0002", 1, 4500)],
        Some("leave at the door"),
    );
    show("shop.place(2 x SKU-0001, 1 x SKU-0002)", &shop.place(first));
    show(
        "shop.place(5 x SKU-0002), only 2 left",
        &shop.place(order("alan.turing", vec![item("SKU-0002", 5, 4500)], None)),
    );
    show(
        "shop.place(no items)",
        &shop.place(order("alan.turing", vec![], None)),
    );

    println!("\n4. A future: place_async returns at once; other calls go on meanwhile");
    let pending = shop.place_async(order("grace.hopper", vec![item("SKU-0001", 1, 1999)], None));
    println!(
        "    shop.place_async(1 x SKU-0001) returned a Pending at once; before waiting on it:"
    );
    println!(
        "    shop.stock(\"SKU-0003\") -> {}",
        shop.stock("SKU-0003".into())?
    );
    show("pending.wait()", &pending.wait());

    println!("\n5. cancel: Result<(), ShopError>");
    show("shop.cancel(1)", &shop.cancel(1));
    println!(
        "    shop.stock(\"SKU-0001\") -> {} (the 2 in order 1 are back; order 2 still holds 1)",
        shop.stock("SKU-0001".into())?
    );
    show("shop.cancel(1) again", &shop.cancel(1));

    println!("\n6. The same server, called in JSON (ClientBuilder::codec(CodecId::Json))");
    let (tracer, seen) = capture();
    let json_shop = ShopClient::new(
        Client::builder()
            .codec(CodecId::Json)
            .call_timeout(timeout)
            .trace(tracer)
            .connect(handle.local_addr())?,
    );
    show(
        "json_shop.place(3 x SKU-0002)",
        &json_shop.place(order(
            "edsger.dijkstra",
            vec![item("SKU-0002", 3, 4500)],
            Some("no rush"),
        )),
    );
    for (step, bytes) in seen.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let (what, text) = match step {
            2 => ("arguments sent", bytes.as_slice()),
            _ => ("result received", result_bytes(bytes)),
        };
        println!("    {what}: {}", String::from_utf8_lossy(text));
    }
    println!(
        "    (the server answered in the codec it was asked in; the binary client is unaffected)"
    );

    println!("\n7. list: Vec<Order>, orders placed over both codecs");
    for o in shop.list()? {
        println!(
            "    #{} {} {:?} note={:?}",
            o.id,
            o.user,
            o.items
                .iter()
                .map(|i| format!("{} x {}", i.qty, i.sku))
                .collect::<Vec<_>>(),
            o.note
        );
    }

    println!("\n8. A transport error: the server shuts down, then we call again");
    handle.shutdown();
    println!("    server shut down");
    show("shop.cancel(2)", &shop.cancel(2));
    println!("\nA domain error is Ok(Err(..)): the shop answered. A transport error is Err(RpcError): we could not ask.");
    Ok(())
}
