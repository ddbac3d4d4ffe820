//! `$minirpc.describe`: the call table describing itself, in both codecs,
//! and off when the server says so.

mod common;

use minirpc::codec::CodecId;
use minirpc::server::{MethodDescription, DESCRIBE_CALL_ID};
use minirpc::{CallContext, Client, RpcError, Server, ServerBuilder, ServerHandle, Status};
use std::sync::Arc;
use std::time::Duration;

minirpc::record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order { pub sku: String, pub qty: u32 }
}

fn server(builder: ServerBuilder) -> ServerHandle {
    let mut server = builder.build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Shop.order", |o: Order| Ok(vec![o.sku; o.qty as usize]));
    server.register("Lookup", |key: String| -> Result<Option<u64>, RpcError> {
        Ok(key.parse().ok())
    });
    server.register_handler(
        "Raw",
        Arc::new(|_: &CallContext, _: &[u8], _: &mut Vec<u8>| Ok(())),
    );
    server.idempotent(&["Multiply", "Lookup"]);
    server.serve("127.0.0.1:0").unwrap()
}

fn expected() -> Vec<MethodDescription> {
    let m = |id: &str, args: &str, result: &str, idempotent| MethodDescription {
        call_id: id.into(),
        args: args.into(),
        result: result.into(),
        idempotent,
        inline: false,
        max_frame_bytes: minirpc::protocol::DEFAULT_MAX_FRAME_BYTES as u64,
    };
    vec![
        m("Lookup", "String", "Option<u64>", true),
        m("Multiply", "(i32, i32)", "i32", true),
        m("Raw", "bytes", "bytes", false),
        m("Shop.order", "Order", "Vec<String>", false),
    ]
}

#[test]
fn describe_lists_every_method_with_its_types_in_binary() {
    let handle = server(Server::builder());
    let client = Client::connect(handle.local_addr()).unwrap();
    let table: Vec<MethodDescription> = client.call(DESCRIBE_CALL_ID, &()).unwrap();
    assert_eq!(table, expected());
}

#[test]
fn describe_answers_in_json_to_a_json_caller() {
    let handle = server(Server::builder());
    let client = Client::builder()
        .codec(CodecId::Json)
        .connect(handle.local_addr())
        .unwrap();
    let table: Vec<MethodDescription> = client.call(DESCRIBE_CALL_ID, &()).unwrap();
    assert_eq!(table, expected());
    // The text itself, as a client in another language sees it.
    let addr = handle.local_addr().to_string();
    let text = minirpc::cli::call_json(
        &addr,
        DESCRIBE_CALL_ID,
        "null",
        common::PATIENCE,
        &mut |_| {},
    )
    .unwrap();
    assert!(
        text.starts_with(r#"[{"@type":"MethodDescription","call_id":"Lookup","args":"String","result":"Option<u64>","idempotent":true,"inline":false,"max_frame_bytes":4194304}"#),
        "{text}"
    );
}

#[test]
fn a_method_that_runs_inline_is_described_so() {
    // With a generous inline_max every call counts as fast, so eight calls
    // prove Multiply short (see Method in table.rs) on any machine.
    let handle = server(Server::builder().inline_max(Duration::from_secs(60)));
    let client = Client::connect(handle.local_addr()).unwrap();
    let mut inline = false;
    for _ in 0..10 {
        for _ in 0..10 {
            let _: i32 = client.call("Multiply", &(2, 3)).unwrap();
        }
        let table: Vec<MethodDescription> = client.call(DESCRIBE_CALL_ID, &()).unwrap();
        inline = table.iter().any(|m| m.call_id == "Multiply" && m.inline);
        if inline {
            break;
        }
    }
    assert!(inline, "Multiply never ran inline after 100 fast calls");
}

#[test]
fn describe_turned_off_is_unimplemented_like_any_unknown_call_id() {
    let handle = server(Server::builder().describe(false));
    let client = Client::connect(handle.local_addr()).unwrap();
    let e = client
        .call::<_, Vec<MethodDescription>>(DESCRIBE_CALL_ID, &())
        .unwrap_err();
    assert_eq!(e.status, Status::Unimplemented, "{e}");
    assert!(e.message.contains(DESCRIBE_CALL_ID), "{e}");
    // Its owner can still ask, in the process.
    assert_eq!(handle.describe(), expected());
    // The server goes on serving.
    assert_eq!(client.call::<_, i32>("Multiply", &(10, 20)), Ok(200));
}

#[test]
#[should_panic(expected = "reserved")]
fn the_describe_call_id_cannot_be_registered() {
    let mut server = Server::new();
    server.register(DESCRIBE_CALL_ID, |(): ()| Ok(()));
}

#[test]
fn protocol_md_shows_the_json_table_of_the_multiply_server() {
    // docs/protocol.md §7: the Multiply server of §11, asked by a JSON caller.
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let handle = server.serve("127.0.0.1:0").unwrap();
    let text = minirpc::cli::call_json(
        &handle.local_addr().to_string(),
        DESCRIBE_CALL_ID,
        "null",
        common::PATIENCE,
        &mut |_| {},
    )
    .unwrap();
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md"))
        .expect("read docs/protocol.md");
    let intro = "answering a JSON caller";
    let shown = page
        .find(intro)
        .and_then(|at| page[at..].split("```text\n").nth(1))
        .and_then(|b| b.split("\n```").next())
        .expect("docs/protocol.md §7 shows the Multiply server's table after a ```text fence");
    assert_eq!(
        shown, text,
        "docs/protocol.md §7 should show what the server answers"
    );
}
