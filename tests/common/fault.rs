//! The fault proxy the tests route connections through. It is public API
//! now, for coursework too: `minirpc::testkit::fault`.

#[allow(unused_imports)]
pub use minirpc::testkit::fault::*;
