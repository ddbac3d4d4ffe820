//! Cluster (集群): many providers of one service, called as one.
//!
//! Article: 原理 › 负载均衡 (and its 集群策略), and the 负载均衡 and 通知 rows
//! of 对比 › RPC与HTTP. The one idea to take away: **a cluster client is
//! discovery + health + balancing + a strategy, joined at one call**: the
//! registry says who exists, the tracker who works, the balancer who gets
//! this call, and the strategy what a failure means.
//!
//! ```text
//!  Registry ─► Snapshot ─► HealthTracker ─► healthy ─► Balancer ─► Client ─► provider
//!                                 ▲                                  │
//!                                 └──── outcome of every try ────────┘
//! ```
//!
//! - `client.rs`: [`ClusterClient`], its builder and its watcher thread;
//! - `members.rs`: the list, its health, one connection per instance,
//!   the watcher, and one reported try;
//! - `pending.rs`: [`ClusterPending`], a future that reports how it ended;
//! - `strategy.rs`: [`Strategy`] (FailFast, Failover, Fixed, Forking,
//!   Broadcast) and how each runs, when a retry is allowed, and the
//!   [`RetryBudget`].

pub mod client;
mod members;
pub mod pending;
pub mod strategy;

pub use client::{CallOptions, ClusterBuilder, ClusterClient};
pub use pending::ClusterPending;
pub use strategy::{retryable, RetryBudget, Strategy};
