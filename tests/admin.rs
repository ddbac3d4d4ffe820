//! The management center against a live cluster: three providers in a
//! `MemoryRegistry`, an admin watching and managing them, real HTTP
//! requests to its page and API, and the page loaded in a real headless
//! browser (Debian's `chromium`).
//!
//! No timing is asserted: the tests wait (bounded) for the admin's next
//! overview to reflect what they did.

mod common;

use common::PATIENCE;
use minirpc::admin::{AdminBuilder, AdminHandle, Overview};
use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use minirpc::json::Json;
use minirpc::{Client, Server, ServerHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "let-me-in";

struct Cluster {
    registry: MemoryRegistry,
    servers: Vec<ServerHandle>,
    admin: AdminHandle,
}

fn cluster(token: Option<&str>) -> Cluster {
    let registry = MemoryRegistry::new();
    let mut servers = Vec::new();
    let mut admin = AdminBuilder::new()
        .watch("Arith", "default", "*")
        .interval(Duration::from_millis(50))
        .refresh_secs(1);
    for _ in 0..3 {
        let mut s = Server::new();
        s.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
        let mut h = s.serve("127.0.0.1:0").unwrap();
        let inst = Instance::new("Arith", h.local_addr());
        h.publish(&registry, &inst, Duration::from_secs(30))
            .unwrap();
        admin = admin.manage(h.control());
        servers.push(h);
    }
    if let Some(t) = token {
        admin = admin.token(t);
    }
    let admin = admin.serve(&registry, "127.0.0.1:0").unwrap();
    Cluster {
        registry,
        servers,
        admin,
    }
}

/// Wait (bounded) for an overview that satisfies `ok`.
fn await_overview(admin: &AdminHandle, what: &str, ok: impl Fn(&Overview) -> bool) -> Overview {
    let end = Instant::now() + PATIENCE * 2;
    loop {
        if let Some(o) = admin.overview() {
            if ok(&o) {
                return o;
            }
        }
        assert!(Instant::now() < end, "the admin never showed {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn calls_seen(o: &Overview) -> u64 {
    o.metrics.method("Multiply").map_or(0, |m| m.calls)
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn make_calls(c: &Cluster, n: usize) {
    for s in &c.servers {
        let client = Client::connect(s.local_addr()).unwrap();
        for i in 0..n {
            let y: i32 = client.call("Multiply", &(i as i32, 2)).unwrap();
            assert_eq!(y, 2 * i as i32);
        }
    }
}

#[test]
fn the_page_and_the_api_show_the_live_cluster() {
    let c = cluster(Some(TOKEN));
    make_calls(&c, 5);
    let o = await_overview(&c.admin, "15 calls, 3 healthy instances", |o| {
        calls_seen(o) == 15
            && o.services[0].instances.len() == 3
            && o.services[0]
                .instances
                .iter()
                .all(|i| i.health == "healthy")
    });
    assert_eq!(o.metrics.method("Multiply").unwrap().errors(), 0);

    let addr = c.admin.local_addr();
    let (status, page) = http(addr, "GET", "/", "", "");
    assert_eq!(status, 200);
    assert!(page.contains("<h3 class=\"service\">Arith"), "{page}");
    for s in &c.servers {
        assert!(page.contains(&s.local_addr().to_string()), "{page}");
    }
    assert!(page.contains("class=\"healthy\">healthy"), "{page}");
    assert!(page.contains("data-call-id=\"Multiply\""), "{page}");
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");

    let (status, services) = http(addr, "GET", "/api/services", "", "");
    assert_eq!(status, 200);
    let json = minirpc::json::parse(services.as_bytes(), 32).unwrap();
    let Json::Array(list) = &json else {
        panic!("not a list: {services}")
    };
    assert_eq!(list.len(), 1);
    let Some(Json::Array(instances)) = list[0].get("instances") else {
        panic!("no instances: {services}")
    };
    assert_eq!(instances.len(), 3);
    for i in instances {
        assert_eq!(
            i.get("health"),
            Some(&Json::String("healthy".into())),
            "{services}"
        );
        let Some(Json::Number(w)) = i.get("weight") else {
            panic!("no weight: {services}")
        };
        assert_eq!(w.as_str(), "100");
    }

    assert!(
        page.contains("<td>Multiply</td><td>(i32, i32)</td><td>i32</td>"),
        "the call table, from $minirpc.describe: {page}"
    );
    let (status, calls) = http(addr, "GET", "/api/calls", "", "");
    assert_eq!(status, 200);
    assert!(
        calls.contains("{\"call_id\":\"Multiply\",\"args\":\"(i32, i32)\",\"result\":\"i32\""),
        "{calls}"
    );

    let (status, metrics) = http(addr, "GET", "/api/metrics", "", "");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("\"call_id\":\"Multiply\",\"calls\":15"),
        "{metrics}"
    );
}

#[test]
fn a_provider_that_dies_is_shown_dead() {
    let mut c = cluster(None);
    await_overview(&c.admin, "3 healthy instances", |o| {
        o.services[0]
            .instances
            .iter()
            .filter(|i| i.health == "healthy")
            .count()
            == 3
    });
    // Crash one: it stops answering but its lease still stands.
    let victim = c.servers.remove(0);
    let addr = victim.local_addr();
    drop(victim);
    let stays = c
        .registry
        .register(&Instance::new("Arith", addr), Duration::from_secs(30));
    let o = await_overview(&c.admin, "the dead provider", |o| {
        o.services[0]
            .instances
            .iter()
            .any(|i| i.addr == addr && i.health != "healthy")
    });
    let others = o.services[0].instances.iter().filter(|i| i.addr != addr);
    assert!(others.clone().all(|i| i.health == "healthy"), "{o:?}");
    drop(stays);
}

#[test]
fn the_weight_action_needs_the_token_and_changes_the_registry() {
    let c = cluster(Some(TOKEN));
    let admin = c.admin.local_addr();
    let target = c.servers[1].local_addr();
    let form = |token: &str, w: u32| format!("addr={target}&weight={w}&token={token}");
    let urlenc = "Content-Type: application/x-www-form-urlencoded\r\n";

    let (status, body) = http(
        admin,
        "POST",
        "/api/weight",
        urlenc,
        &format!("addr={target}&weight=0"),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = http(admin, "POST", "/api/weight", urlenc, &form("wrong", 0));
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains(TOKEN), "never echo the token: {body}");
    let (status, _) = http(
        admin,
        "GET",
        &format!("/api/weight?{}", form(TOKEN, 0)),
        "",
        "",
    );
    assert_eq!(status, 405, "a change is never a GET");
    let weights = || -> Vec<u32> {
        let mut l = c.registry.lookup("Arith", "default", "*").unwrap();
        l.sort_by_key(|i| i.addr);
        l.iter()
            .filter(|i| i.addr == target)
            .map(|i| i.weight)
            .collect()
    };
    assert_eq!(weights(), vec![100], "refused actions change nothing");

    // A browser's form: done, and back to the page.
    let (status, _) = http(admin, "POST", "/api/weight", urlenc, &form(TOKEN, 0));
    assert_eq!(status, 303);
    assert_eq!(weights(), vec![0]);
    await_overview(&c.admin, "weight 0", |o| {
        o.services[0]
            .instances
            .iter()
            .any(|i| i.addr == target && i.weight == 0)
    });
    let (_, page) = http(admin, "GET", "/", "", "");
    assert!(page.contains("put back"), "{page}");

    // A script: the token as a bearer header, JSON back.
    let bearer = format!("{urlenc}Authorization: Bearer {TOKEN}\r\n");
    let (status, body) = http(
        admin,
        "POST",
        "/api/weight",
        &bearer,
        &format!("addr={target}&weight=100"),
    );
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            format!("{{\"addr\":\"{target}\",\"weight\":100}}").as_str()
        )
    );
    assert_eq!(weights(), vec![100]);

    let stranger = SocketAddr::from(([127, 0, 0, 1], 9));
    let (status, body) = http(
        admin,
        "POST",
        "/api/weight",
        &bearer,
        &format!("addr={stranger}&weight=0"),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("AdminBuilder::manage"), "{body}");
}

#[test]
fn without_a_token_the_admin_is_read_only() {
    let c = cluster(None);
    let target = c.servers[0].local_addr();
    let (status, body) = http(
        c.admin.local_addr(),
        "POST",
        "/api/weight",
        "Authorization: Bearer anything\r\n",
        &format!("addr={target}&weight=0"),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AdminBuilder::token"), "{body}");
}

#[test]
fn bad_http_on_the_admin_port_gets_400_and_leaves_the_rpc_port_serving() {
    let c = cluster(None);
    let mut s = TcpStream::connect_timeout(&c.admin.local_addr(), PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    common::assert_serves(c.servers[0].local_addr());
    let (status, _) = http(c.admin.local_addr(), "GET", "/nothing-here", "", "");
    assert_eq!(status, 404);
}

// ---- a real browser ---------------------------------------------------------

/// `chromium --headless --dump-dom url`: the page as the browser built it.
/// `None` when chromium is not installed and this is not CI.
fn browser_dom(url: &str) -> Option<String> {
    let bin = ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(bin) = bin else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed and CI is set: install Debian's chromium (apt-get install -y chromium), as .ci/run does"
        );
        eprintln!(
            "skipping the browser check: chromium is not installed (apt-get install chromium)"
        );
        return None;
    };
    let profile = std::env::temp_dir().join(format!("minirpc-chromium-{}", std::process::id()));
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    // Bounded: a browser that hangs is killed, and the test says so.
    let end = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish loading {url} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut dom = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut dom)
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    Some(dom)
}

/// The Multiply row's call count as the browser shows it.
fn calls_in_dom(dom: &str) -> u64 {
    let row = dom
        .split("data-call-id=\"Multiply\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no Multiply row in the page: {dom}"));
    let cell = row
        .split("class=\"n calls\">")
        .nth(1)
        .expect("a calls cell");
    cell.split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("a number of calls")
}

#[test]
fn a_headless_browser_shows_services_instances_and_a_metric_that_changes() {
    let c = cluster(Some(TOKEN));
    make_calls(&c, 2);
    await_overview(&c.admin, "6 calls", |o| calls_seen(o) == 6);
    let Some(before) = browser_dom(&c.admin.url()) else {
        return;
    };
    assert!(before.contains("Arith"), "{before}");
    for s in &c.servers {
        assert!(before.contains(&s.local_addr().to_string()), "{before}");
    }
    assert!(
        before.contains("<svg id=\"rate-chart\""),
        "the chart is drawn: {before}"
    );
    assert_eq!(calls_in_dom(&before), 6);

    make_calls(&c, 3);
    await_overview(&c.admin, "15 calls", |o| calls_seen(o) == 15);
    let after = browser_dom(&c.admin.url()).unwrap();
    assert_eq!(
        calls_in_dom(&after),
        15,
        "the reloaded page shows the new calls"
    );
}

#[test]
fn rate_limit_rules_and_their_rejections_are_shown() {
    let registry = MemoryRegistry::new();
    let rule = minirpc::flow::Rule::token_bucket("Multiply", 0.001, 2);
    let mut s = Server::builder().rate_limit(rule).build();
    s.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let h = s.serve("127.0.0.1:0").unwrap();
    let admin = AdminBuilder::new()
        .manage(h.control())
        .interval(Duration::from_millis(50))
        .serve(&registry, "127.0.0.1:0")
        .unwrap();
    let client = Client::connect(h.local_addr()).unwrap();
    let refused = (0..5)
        .filter(|_| client.call::<_, i32>("Multiply", &(1, 2)).is_err())
        .count();
    assert_eq!(refused, 3, "a burst of 2 lets 2 of 5 through");
    let o = await_overview(&admin, "3 rejections", |o| {
        o.limits.first().is_some_and(|l| l.rejected == 3)
    });
    assert_eq!(o.limits[0].server, h.local_addr());
    let m = o.metrics.method("Multiply").unwrap();
    assert_eq!(
        (m.ok(), m.status(minirpc::Status::ResourceExhausted)),
        (2, 3),
        "refused calls count as the method's errors"
    );
    assert!(o.limits[0].rule.starts_with("Multiply"), "{:?}", o.limits);
    let (_, page) = http(admin.local_addr(), "GET", "/", "", "");
    assert!(
        page.contains(&minirpc::admin::escape(&o.limits[0].rule)),
        "{page}"
    );
    let (_, limits) = http(admin.local_addr(), "GET", "/api/limits", "", "");
    assert!(limits.contains("\"rejected\":3"), "{limits}");
}
