//! Exercise ex02_methods (chapter 02): a server that says what it has.
//!
//! Register `"$methods"`: it takes `()` and returns the sorted list of the
//! server's call ids, itself included, as a `Vec<String>` (a tiny version
//! of gRPC's server reflection). `add_listing` is called after every other
//! method is registered; `Server::call_ids` tells you what is there. So
//! far it answers an empty list.
//! Check it with `cargo test --features exercises --test exercises -- ex02_methods`.

use minirpc::Server;

/// Register `"$methods"` on `server`.
pub fn add_listing(server: &mut Server) {
    server.register("$methods", |(): ()| Ok(Vec::<String>::new()));
}
