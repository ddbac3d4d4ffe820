//! Conformance checks for minirpc's extension traits.
//!
//! Article: none directly; this is the coursework side of the project.
//! Each chapter ends with exercises that ask you to implement one of
//! minirpc's traits yourself (a [`Registry`](crate::discovery::Registry)
//! first). The one idea to take away: **a trait is a promise, and a
//! promise can be tested**. The functions here state what every
//! implementation must do, as code, and minirpc's own implementations pass
//! the very same checks: if yours passes too, it can stand in for ours.
//!
//! ```text
//!  your test ── check_registry(|| Box::new(YourRegistry::new()), time) ──►
//!     for each property: a fresh registry, the property run against it
//!     ◄── a panic naming every property that broke, and on what input
//! ```
//!
//! | check | trait | chapter |
//! |---|---|---|
//! | [`check_registry`] | [`Registry`](crate::discovery::Registry) | `docs/07-discovery.md` |
//! | [`check_balancer`] | [`Balancer`](crate::balance::Balancer) | `docs/08-load-balancing.md` |

pub mod balancer;
pub mod registry;

pub use balancer::{balancer_failures, check_balancer, BalancerKind};
pub use registry::{check_registry, registry_failures, Failure, Time};
