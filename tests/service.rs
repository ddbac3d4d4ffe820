//! The `service!` macro: one declaration gives the server trait, its
//! registration, and a typed client stub, and the stub works over both
//! codecs.
//!
//! The service is a small shop: `place` returns a domain `Result` (so the
//! caller sees two layers: `RpcError` for "could not ask", `ShopError` for
//! "the shop said no"), `total` takes one argument, `ping` takes none.
//!
//! Every server binds `127.0.0.1:0`, every client waits at most
//! [`PATIENCE`] for anything, and no test sleeps.

mod common;

use common::PATIENCE;
use minirpc::codec::CodecId;
use minirpc::{record, service, Client, Server, ServerHandle, Status};
use std::net::SocketAddr;

// ---- the service ------------------------------------------------------------------

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item { pub sku: String, pub qty: u32, pub price_cents: u64 }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order { pub id: u64, pub items: Vec<Item>, pub note: Option<String> }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Receipt { pub order_id: u64, pub total_cents: u64, pub message: String }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub enum ShopError {
        EmptyOrder,
        OutOfStock { sku: String },
    }
}

service! {
    /// A toy shop, over the network.
    pub trait Shop, client ShopClient {
        /// Place an order: a receipt, or why not.
        fn place(order: Order) -> Result<Receipt, ShopError>, async place_async;
        /// The price of some items, in cents.
        fn total(items: Vec<Item>) -> u64, async total_async;
        /// Is the shop open?
        fn ping() -> String, async ping_async;
    }
}

/// The sku the store never has.
const SOLD_OUT: &str = "SOLD-OUT";

struct Store;

fn cents(items: &[Item]) -> u64 {
    items.iter().map(|i| u64::from(i.qty) * i.price_cents).sum()
}

impl Shop for Store {
    fn place(&self, order: Order) -> Result<Receipt, ShopError> {
        if order.items.is_empty() {
            return Err(ShopError::EmptyOrder);
        }
        if let Some(gone) = order.items.iter().find(|i| i.sku == SOLD_OUT) {
            return Err(ShopError::OutOfStock {
                sku: gone.sku.clone(),
            });
        }
        Ok(Receipt {
            order_id: order.id,
            total_cents: cents(&order.items),
            message: format!("thanks ({})", order.note.as_deref().unwrap_or("no note")),
        })
    }

    fn total(&self, items: Vec<Item>) -> u64 {
        cents(&items)
    }

    fn ping(&self) -> String {
        "open".to_string()
    }
}

// ---- helpers --------------------------------------------------------------------------

/// The server: `Shop` registered with `register_service`, plus `Multiply`.
fn shop_server() -> Server {
    let mut server = Server::new();
    Store.register_service(&mut server);
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server
}

fn serve(server: Server) -> ServerHandle {
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn client(addr: SocketAddr, codec: CodecId) -> Client {
    Client::builder()
        .codec(codec)
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .connect(addr)
        .expect("connect to the test server")
}

fn stub(addr: SocketAddr, codec: CodecId) -> ShopClient {
    ShopClient::new(client(addr, codec))
}

fn item(sku: &str, qty: u32, price_cents: u64) -> Item {
    Item {
        sku: sku.into(),
        qty,
        price_cents,
    }
}

fn good_order() -> Order {
    Order {
        id: 42,
        items: vec![item("A-1", 2, 150), item("B-2", 1, 1000)],
        note: Some("gift wrap".into()),
    }
}

fn good_receipt() -> Receipt {
    Receipt {
        order_id: 42,
        total_cents: 1300,
        message: "thanks (gift wrap)".into(),
    }
}

// ---- registration ----------------------------------------------------------------------

#[test]
fn register_service_registers_each_method_as_service_dot_method() {
    assert_eq!(
        shop_server().call_ids(),
        ["Multiply", "Shop.ping", "Shop.place", "Shop.total"]
    );
}

#[test]
fn register_service_declares_the_records_in_its_argument_types() {
    let server = shop_server();
    let mut declared = server.declared_types().to_vec();
    declared.sort_unstable();
    // Receipt and ShopError are only ever results: nothing decodes them on
    // the server, so they are not on its whitelist.
    assert_eq!(declared, ["Item", "Order"]);
}

#[test]
fn the_wire_call_ids_are_service_dot_method_with_tuple_arguments() {
    let handle = serve(shop_server());
    let raw = client(handle.local_addr(), CodecId::Binary);
    let placed: Result<Receipt, ShopError> = raw.call("Shop.place", &(good_order(),)).unwrap();
    assert_eq!(placed, Ok(good_receipt()));
    let total: u64 = raw.call("Shop.total", &(vec![item("A-1", 3, 5)],)).unwrap();
    assert_eq!(total, 15);
    let pong: String = raw.call("Shop.ping", &()).unwrap();
    assert_eq!(pong, "open");
}

// ---- the stub, request-response and future ---------------------------------------------

#[test]
fn a_stub_call_returns_the_methods_result() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    assert_eq!(shop.place(good_order()).unwrap(), Ok(good_receipt()));
}

#[test]
fn a_future_stub_call_returns_the_same_result_when_waited_on() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    let pending = shop.place_async(good_order());
    assert_eq!(pending.wait().unwrap(), Ok(good_receipt()));
}

#[test]
fn several_future_stub_calls_can_be_in_flight_at_once() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    let ping = shop.ping_async();
    let total = shop.total_async(vec![item("A-1", 2, 7)]);
    let placed = shop.place_async(Order {
        id: 1,
        items: vec![],
        note: None,
    });
    assert_eq!(placed.wait().unwrap(), Err(ShopError::EmptyOrder));
    assert_eq!(total.wait().unwrap(), 14);
    assert_eq!(ping.wait().unwrap(), "open");
}

#[test]
fn a_zero_argument_method_is_called_with_no_arguments() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    assert_eq!(shop.ping().unwrap(), "open");
    assert_eq!(shop.ping_async().wait().unwrap(), "open");
}

#[test]
fn a_one_argument_method_takes_a_vec_of_records() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    let items = vec![item("A-1", 2, 150), item("B-2", 1, 1000)];
    assert_eq!(shop.total(items.clone()).unwrap(), 1300);
    assert_eq!(shop.total_async(items).wait().unwrap(), 1300);
    assert_eq!(shop.total(vec![]).unwrap(), 0);
}

// ---- two layers of errors -------------------------------------------------------------------

#[test]
fn a_domain_error_arrives_as_ok_err() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    let empty = Order {
        id: 1,
        items: vec![],
        note: None,
    };
    assert_eq!(shop.place(empty), Ok(Err(ShopError::EmptyOrder)));
    let sold_out = Order {
        id: 2,
        items: vec![item(SOLD_OUT, 1, 1)],
        note: None,
    };
    assert_eq!(
        shop.place_async(sold_out).wait(),
        Ok(Err(ShopError::OutOfStock {
            sku: SOLD_OUT.into()
        }))
    );
}

#[test]
fn an_unregistered_method_called_through_the_raw_client_is_unimplemented() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Binary);
    let e = shop
        .client()
        .call::<_, String>("Shop.refund", &(42u64,))
        .unwrap_err();
    assert_eq!(e.status, Status::Unimplemented, "{e}");
    assert!(e.message.contains("\"Shop.refund\""), "{e}");
}

#[test]
fn a_stub_for_a_service_the_server_lacks_gets_an_rpc_error() {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let handle = serve(server);
    let shop = stub(handle.local_addr(), CodecId::Binary);
    let e = shop.ping().unwrap_err();
    assert_eq!(e.status, Status::Unimplemented, "{e}");
    assert!(e.message.contains("\"Shop.ping\""), "{e}");
    let e = shop.place_async(good_order()).wait().unwrap_err();
    assert_eq!(e.status, Status::Unimplemented, "{e}");
    assert!(e.message.contains("\"Shop.place\""), "{e}");
}

// ---- both codecs, one server -------------------------------------------------------------------

#[test]
fn a_json_stub_works_in_both_call_modes() {
    let handle = serve(shop_server());
    let shop = stub(handle.local_addr(), CodecId::Json);
    assert_eq!(shop.place(good_order()).unwrap(), Ok(good_receipt()));
    assert_eq!(
        shop.place_async(good_order()).wait().unwrap(),
        Ok(good_receipt())
    );
    assert_eq!(shop.ping().unwrap(), "open");
    assert_eq!(
        shop.total_async(vec![item("A-1", 3, 5)]).wait().unwrap(),
        15
    );
    assert_eq!(
        shop.place(Order {
            id: 9,
            items: vec![],
            note: None
        })
        .unwrap(),
        Err(ShopError::EmptyOrder)
    );
}

#[test]
fn binary_and_json_clients_of_one_server_get_equal_answers() {
    let handle = serve(shop_server());
    let addr = handle.local_addr();
    let (binary, json) = (stub(addr, CodecId::Binary), stub(addr, CodecId::Json));

    let by_binary = binary.place(good_order()).unwrap();
    let by_json = json.place(good_order()).unwrap();
    assert_eq!(by_binary, by_json);
    assert_eq!(by_json, Ok(good_receipt()));

    let sold_out = Order {
        id: 3,
        items: vec![item(SOLD_OUT, 1, 1)],
        note: None,
    };
    assert_eq!(
        binary.place(sold_out.clone()).unwrap(),
        json.place(sold_out).unwrap()
    );

    let product = |c: &ShopClient| -> i32 { c.client().call("Multiply", &(10i32, 20i32)).unwrap() };
    assert_eq!(product(&binary), product(&json));
    assert_eq!(product(&json), 200);
}
