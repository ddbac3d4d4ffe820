//! One check per exercise: `check()` and the message `UNFINISHED` its
//! starting point fails with.

pub mod ex01_arith;
pub mod ex01_checked_multiply;
pub mod ex02_aliases;
pub mod ex02_methods;
pub mod ex03_blob;
pub mod ex03_varint;
pub mod ex04_frame_splitter;
pub mod ex04_read_frame;
pub mod ex05_cancel_aware;
pub mod ex05_fan_out;
pub mod ex06_counting_caller;
pub mod ex06_stub_by_hand;
pub mod ex07_file_registry;
pub mod ex07_sticky_registry;
pub mod ex08_least_connections;
pub mod ex08_rendezvous;
pub mod ex09_failover;
pub mod ex09_retry_budget;
pub mod ex10_fixed_window;
pub mod ex10_gcra;
pub mod ex11_canary_split;
pub mod ex11_version_range;
pub mod ex12_key_rotation;
pub mod ex12_replay_cache;
pub mod ex12_sign_by_hand;
pub mod ex13_describe_diff;
pub mod ex13_rate_window;
pub mod ex14_chunked_body;
pub mod ex14_grpc_timeout;
