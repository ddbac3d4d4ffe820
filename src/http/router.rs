//! [`Router`]: several handlers on one server, each under a path prefix.
//!
//! ```text
//!  "/call/Multiply" ──► longest matching prefix: "/call/" ──► the gateway
//!  "/api/services"  ──►                          "/api/"  ──► the admin API
//!  "/nothing"       ──► no prefix matches      ──► 404
//! ```
//!
//! The one idea to take away: **routing is the HTTP form of the call
//! table**: a map from a name (here a path prefix) to a function, looked
//! up before anything else of the request is trusted.

use super::reply::HttpResponse;
use super::request::HttpRequest;
use super::server::HttpHandler;
use std::sync::Arc;

/// Handlers mounted under path prefixes; itself an [`HttpHandler`].
///
/// ```
/// use minirpc::http::{HttpResponse, Router};
/// let router = Router::new()
///     .mount("/hello", |_: &minirpc::http::HttpRequest| HttpResponse::text(200, "hi"))
///     .mount("/", |_: &minirpc::http::HttpRequest| HttpResponse::text(200, "index"));
/// # let _ = router;
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<(String, Arc<dyn HttpHandler>)>,
}

impl Router {
    /// A router with no routes (every request gets 404).
    pub fn new() -> Router {
        Router::default()
    }

    /// Serve requests whose path starts with `prefix` with `handler`.
    /// The longest matching prefix wins, whatever the order of mounting.
    pub fn mount(self, prefix: &str, handler: impl HttpHandler) -> Router {
        self.mount_arc(prefix, Arc::new(handler))
    }

    /// The same, for a handler already shared.
    pub fn mount_arc(mut self, prefix: &str, handler: Arc<dyn HttpHandler>) -> Router {
        self.routes.push((prefix.to_owned(), handler));
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        self
    }

    /// The prefixes mounted, longest first.
    pub fn prefixes(&self) -> Vec<&str> {
        self.routes.iter().map(|(p, _)| p.as_str()).collect()
    }
}

impl HttpHandler for Router {
    fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let path = req.path();
        match self
            .routes
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
        {
            Some((_, h)) => h.handle(req),
            None => HttpResponse::text(
                404,
                format!(
                    "nothing is served at {path:?}; this server serves paths under {:?}",
                    self.prefixes()
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            target: path.into(),
            minor_version: 1,
            headers: Vec::new(),
            body: Vec::new(),
            peer: None,
        }
    }

    #[test]
    fn the_longest_prefix_wins_and_unknown_paths_get_404() {
        let r = Router::new()
            .mount("/", |_: &HttpRequest| HttpResponse::text(200, "root"))
            .mount("/api/", |_: &HttpRequest| HttpResponse::text(200, "api"));
        assert_eq!(r.handle(&get("/api/x")).body, b"api\n");
        assert_eq!(r.handle(&get("/other?q=/api/")).body, b"root\n");
        let only_api =
            Router::new().mount("/api/", |_: &HttpRequest| HttpResponse::text(200, "api"));
        assert_eq!(only_api.handle(&get("/x")).status, 404);
    }
}
