//! The management center (管理中心): a small web page and JSON API that
//! show a cluster as the registry and the servers see it, and let an
//! operator take an instance out of rotation and back.
//!
//! Article: the 管理中心 row of 框架 › 对比 (what Dubbo Admin is to
//! Dubbo), and 特点 › 优点 (a registry plus "rich monitoring and
//! management"). The one idea to take away: **a management center adds no
//! new mechanism**. Everything it shows is something the framework already
//! has — registry subscriptions (chapter 07), the health state machine and
//! the ping probe (chapter 07), per-method metrics (chapter 13), rate-limit
//! rules (chapter 10) — and its one action is a registry write
//! ([`ServerControl::set_weight`]) that consumers already obey (weight 0
//! means "never", chapter 08).
//!
//! ```text
//!   registry ──subscribe──┐
//!   instances ──ping──────┤ watcher thread ──► Overview ──► routes ──► HTTP
//!   ServerControl ─metrics┘  (every interval)   (latest)     GET /, /api/…
//!        ▲                                                     │
//!        └──────────── set_weight ◄── POST /api/weight + token ┘
//! ```
//!
//! - `history.rs`: calls per second from running totals;
//! - `view.rs`: the [`Overview`] and its JSON;
//! - `watch.rs`: the watcher thread;
//! - `page.rs`: the HTML and its SVG chart, everything escaped;
//! - `routes.rs`: the routes and the token check.
//!
//! It is served by [`crate::http::HttpServer`], whose limits (request line,
//! header size, timeouts, a connection cap) protect it from bad clients.

mod history;
mod page;
mod routes;
mod view;
mod watch;

pub use history::History;
pub use page::escape;
pub use view::{InstanceView, LimitView, Overview, ServiceView};

use crate::discovery::Registry;
use crate::error::RpcError;
use crate::http::{HttpServer, HttpServerHandle};
use crate::server::ServerControl;
use crate::sync::lock;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use watch::{Board, Watcher};

/// How to build an admin: what to watch, what to manage, and its settings.
/// Every setting has a default; `watch` and `manage` say what to show.
#[derive(Clone)]
pub struct AdminBuilder {
    services: Vec<(String, String, String)>,
    servers: Vec<ServerControl>,
    token: Option<String>,
    interval: Duration,
    history: usize,
    ping_timeout: Duration,
    refresh_secs: u64,
    http: HttpServer,
}

impl Default for AdminBuilder {
    fn default() -> AdminBuilder {
        AdminBuilder {
            services: Vec::new(),
            servers: Vec::new(),
            token: None,
            interval: Duration::from_secs(1),
            history: 300,
            ping_timeout: Duration::from_millis(300),
            refresh_secs: 2,
            http: HttpServer::default(),
        }
    }
}

impl AdminBuilder {
    /// An admin that watches nothing yet.
    pub fn new() -> AdminBuilder {
        AdminBuilder::default()
    }

    /// Show `service` in `group` at `version` (`"*"` for any version): its
    /// instances from the registry, each pinged every interval.
    pub fn watch(mut self, service: &str, group: &str, version: &str) -> Self {
        self.services
            .push((service.to_owned(), group.to_owned(), version.to_owned()));
        self
    }

    /// Show this server's metrics and rate-limit rules, and allow its
    /// weight to be changed from the page (see [`crate::ServerHandle::control`]).
    pub fn manage(mut self, server: ServerControl) -> Self {
        self.servers.push(server);
        self
    }

    /// The token an operator must give to change anything. Without one (or
    /// with an empty one) the page is read-only: every change is refused
    /// with 403.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// How often the watcher reads the registry, pings and samples the
    /// metrics. Default 1 s (one point of the chart per interval).
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every.max(Duration::from_millis(10));
        self
    }

    /// How many samples of calls per second to keep. Default 300 (five
    /// minutes at the default interval).
    pub fn history(mut self, samples: usize) -> Self {
        self.history = samples;
        self
    }

    /// How long a ping may take before it counts as missed. Default 300 ms.
    pub fn ping_timeout(mut self, t: Duration) -> Self {
        self.ping_timeout = t;
        self
    }

    /// How often the page reloads itself, in seconds. Default 2.
    pub fn refresh_secs(mut self, secs: u64) -> Self {
        self.refresh_secs = secs.max(1);
        self
    }

    /// The HTTP server's limits and timeouts (see [`HttpServer`]).
    pub fn http(mut self, settings: HttpServer) -> Self {
        self.http = settings;
        self
    }

    /// Subscribe to the watched services in `registry`, start the watcher
    /// and serve the page on `addr`.
    pub fn serve(
        self,
        registry: &dyn Registry,
        addr: impl ToSocketAddrs,
    ) -> Result<AdminHandle, RpcError> {
        let watcher = Watcher::new(
            registry,
            &self.services,
            self.servers.clone(),
            self.history,
            self.ping_timeout,
        )?;
        let listener = TcpListener::bind(addr)
            .map_err(|e| RpcError::unavailable(format!("the admin page cannot listen: {e}")))?;
        let board = Arc::new(Board::default());
        let thread = {
            let board = Arc::clone(&board);
            let interval = self.interval;
            std::thread::Builder::new()
                .name("minirpc-admin-watcher".into())
                .spawn(move || watcher.run(&board, interval))
                .map_err(|e| {
                    RpcError::unavailable(format!("cannot start the admin watcher: {e}"))
                })?
        };
        let routes = routes::Routes {
            board: Arc::clone(&board),
            servers: self.servers,
            token: self.token,
            refresh_secs: self.refresh_secs,
        };
        let http = self
            .http
            .serve_listener(listener, Arc::new(routes))
            .map_err(|e| RpcError::unavailable(format!("the admin page cannot start: {e}")))?;
        Ok(AdminHandle {
            http: Some(http),
            board,
            watcher: Some(thread),
        })
    }
}

/// A running admin. Dropping it stops the page and the watcher.
pub struct AdminHandle {
    http: Option<HttpServerHandle>,
    board: Arc<Board>,
    watcher: Option<JoinHandle<()>>,
}

impl AdminHandle {
    /// Where the page is served.
    pub fn local_addr(&self) -> SocketAddr {
        self.http.as_ref().map_or_else(
            || SocketAddr::from(([0, 0, 0, 0], 0)),
            HttpServerHandle::local_addr,
        )
    }

    /// The page's address as a URL, to print or open.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }

    /// The overview the page shows now (`None` before the first round).
    pub fn overview(&self) -> Option<Overview> {
        lock(&self.board.overview).clone()
    }

    /// Stop serving the page, stop the watcher, and join both.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(http) = self.http.take() {
            http.shutdown();
        }
        *lock(&self.board.stop) = true;
        self.board.wake.notify_all();
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
