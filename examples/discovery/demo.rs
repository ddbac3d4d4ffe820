//! The script of the `discovery` example: its steps, each event timed from
//! the moment it happened to the moment the consumer saw it, and the
//! summary table that puts each time beside what bounds it.
//!
//! ```text
//!  0. a Consumer subscribes to SERVICE in its group
//!  1. the FLEET starts and registers, one by one     ── timed: each "in the list"
//!  2. a few heartbeats; the consumer calls each instance it believes in
//!  3. A stops cleanly                                ── timed: "gone from the list"
//!  4. B crashes                                      ── timed: suspect, dead, gone
//!  5. the rest stop; the summary
//! ```
//!
//! An event in another group than the consumer's is not waited for: its
//! row says it was never sent (业务分组: a call never crosses groups).

use super::consumer::Consumer;
use super::fleet::{Fate, Provider, FLEET};
use super::timeline::{Seen, Timeline};
use super::{health_config, out, HEARTBEAT, PATIENCE, PING_TIMEOUT, SERVICE, TTL};
use minirpc::discovery::{Health, Instance, Registry};
use minirpc::RpcError;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The registry in use, for the words of the summary.
#[derive(Clone, Copy)]
pub enum Backend {
    /// A `MemoryRegistry`, in this process.
    Memory,
    /// An etcd, over HTTP.
    Etcd,
}

impl Backend {
    /// The registry, in the summary's title.
    fn name(self) -> &'static str {
        match self {
            Backend::Memory => "MemoryRegistry, in this process",
            Backend::Etcd => "etcd",
        }
    }

    /// How a change travels to the consumer.
    fn push(self) -> &'static str {
        match self {
            Backend::Memory => "push (published inside the call)",
            Backend::Etcd => "push (etcd's watch)",
        }
    }

    /// What bounds the time until an abandoned registration leaves the
    /// consumer's list.
    fn expiry(self) -> String {
        let push = self.push();
        match self {
            Backend::Memory => format!("TTL {TTL:?} after renewal stopped, then {push}"),
            Backend::Etcd => format!(
                "lease TTL {TTL:?} after the last keepalive (sent every TTL/3), then {push}"
            ),
        }
    }
}

/// What the consumer should see after an event.
struct Expected {
    /// What it sees, as the timeline notes it.
    seen: Seen,
    /// The same, in the words of the summary (after the provider's name).
    saw: &'static str,
    /// The longest to wait for it.
    within: Duration,
    /// What bounds the time it takes, in the words of the summary.
    bound: String,
}

/// One row of the summary: an event, what the consumer saw, how long after,
/// and what bounds that time.
struct Row {
    event: String,
    seen: String,
    after: Measured,
    bound: String,
}

enum Measured {
    After(Duration),
    /// Expected and not seen in time: the demonstration failed.
    Missing(Duration),
    /// Not expected: the instance is in another group.
    OtherGroup,
}

/// The demonstration's state: where it runs, and the rows measured so far.
struct Demo<'a> {
    registry: &'a dyn Registry,
    backend: Backend,
    group: String,
    tl: Arc<Timeline>,
    rows: Vec<Row>,
}

/// Run the whole demonstration against `registry` with a consumer in
/// `group`. `Ok(true)` if everything expected was seen in time.
pub fn demonstrate(
    registry: &dyn Registry,
    backend: Backend,
    group: &str,
) -> Result<bool, RpcError> {
    let mut demo = Demo {
        registry,
        backend,
        group: group.to_owned(),
        tl: Timeline::new(true),
        rows: Vec::new(),
    };
    let cfg = health_config();
    demo.tl.say(
        "setup",
        format!(
            "TTL {TTL:?}; heartbeat every {HEARTBEAT:?} (ping timeout {PING_TIMEOUT:?}); \
             suspect after {} miss, dead after {}",
            cfg.misses_to_suspect, cfg.misses_to_dead
        ),
    );
    demo.tl.say(
        "consumer",
        format!("subscribes to {SERVICE}/{group}/* (its group comes from configuration)"),
    );
    let consumer = Consumer::start(registry, group, Arc::clone(&demo.tl))?;
    if demo.tl.wait_for(Seen::FirstList, PATIENCE).is_none() {
        demo.tl
            .say("consumer", "no first list yet: is the registry answering?");
    }
    // 1. The providers start and register, one by one.
    let mut fleet = demo.start_fleet()?;
    // 2. A few heartbeats, all answered; the consumer calls whom it believes in.
    thread::sleep(2 * HEARTBEAT);
    consumer.call_each();
    // 3. One provider stops cleanly, 4. another crashes.
    let (Some(a), Some(b)) = (
        take(&mut fleet, Fate::StopsCleanly),
        take(&mut fleet, Fate::Crashes),
    ) else {
        return Err(RpcError::internal("FLEET needs a provider of each fate"));
    };
    demo.stop_cleanly(a);
    demo.crash(b);
    // 5. The end.
    demo.tl
        .say("step", "── the end: the other providers stop cleanly ──");
    for p in fleet {
        p.stop();
    }
    let listed = consumer.ever_listed();
    consumer.stop();
    Ok(demo.summary(&listed))
}

/// The provider of `fleet` with this fate, taken out of it.
fn take(fleet: &mut Vec<Provider>, fate: Fate) -> Option<Provider> {
    let i = fleet.iter().position(|p| p.fate == fate)?;
    Some(fleet.remove(i))
}

impl Demo<'_> {
    /// Add a row for each of `expected`, timed from `at`, when `who`
    /// `what` (registers, crashes, ...), to the moment the consumer saw it.
    /// If `who` is not in the consumer's group, nothing is expected and
    /// nothing is waited for.
    fn expect(
        &mut self,
        who: &Instance,
        what: &str,
        at: Instant,
        expected: impl IntoIterator<Item = Expected>,
    ) {
        let name = self.tl.name(who.addr);
        for e in expected {
            let after = if who.group != self.group {
                Measured::OtherGroup
            } else {
                match self.tl.wait_for(e.seen, e.within) {
                    Some(t) => Measured::After(t.saturating_duration_since(at)),
                    None => Measured::Missing(e.within),
                }
            };
            self.rows.push(Row {
                event: format!("{name} {what}"),
                seen: format!("{name} {}", e.saw),
                after,
                bound: e.bound,
            });
        }
    }

    /// Step 1: serve and register each provider of [`FLEET`], timing how
    /// soon the consumer lists it; then show the registry's two groups.
    fn start_fleet(&mut self) -> Result<Vec<Provider>, RpcError> {
        let mut fleet = Vec::new();
        for spec in &FLEET {
            let mut p = Provider::serve(spec)?;
            self.tl.name_address(p.addr(), spec.name);
            self.tl.say(
                "provider",
                format!(
                    "{} {SERVICE}/{}/{} up on {}; registers by {}",
                    spec.name,
                    spec.group,
                    spec.version,
                    p.addr(),
                    spec.fate.registers_by()
                ),
            );
            p.register(self.registry, TTL)?;
            let listed = Expected {
                seen: Seen::Listed(p.addr()),
                saw: "in the list",
                within: PATIENCE,
                bound: self.backend.push().to_owned(),
            };
            self.expect(&p.instance, "registers", p.registering_at, [listed]);
            fleet.push(p);
        }
        for g in ["stable", "canary"] {
            let names: Vec<String> = self
                .registry
                .lookup(SERVICE, g, "*")?
                .iter()
                .map(|i| format!("{} {}", self.tl.name(i.addr), i.version))
                .collect();
            self.tl
                .say("registry", format!("group {g}: [{}]", names.join(", ")));
        }
        Ok(fleet)
    }

    /// Step 3: `a` stops cleanly; time until its consumers no longer list it.
    fn stop_cleanly(&mut self, a: Provider) {
        let (name, instance) = (self.tl.name(a.addr()), a.instance.clone());
        self.tl.say(
            "step",
            format!("── {name} stops cleanly: shutdown() deregisters it first ──"),
        );
        let at = Instant::now();
        a.stop();
        let gone = Expected {
            seen: Seen::Unlisted(instance.addr),
            saw: "gone from the list",
            within: PATIENCE,
            bound: format!("{}; it deregisters before it stops", self.backend.push()),
        };
        self.expect(&instance, "stops cleanly", at, [gone]);
    }

    /// Step 4: `b` crashes; time until the consumer suspects it, finds it
    /// dead, and hears from the registry that it is gone.
    fn crash(&mut self, b: Provider) {
        let (name, instance) = (self.tl.name(b.addr()), b.instance.clone());
        self.tl.say(
            "step",
            format!(
                "── {name} crashes: its registration is abandoned (not deregistered), \
                 its server stops ──"
            ),
        );
        let at = Instant::now();
        b.crash();
        let cfg = health_config();
        let (to_suspect, to_dead) = (cfg.misses_to_suspect, cfg.misses_to_dead);
        // Found by its own heartbeats: suspect, then dead.
        let found = HEARTBEAT * to_dead + PING_TIMEOUT + PATIENCE;
        let suspect = Expected {
            seen: Seen::Became(instance.addr, Health::Suspect),
            saw: "suspect",
            within: found,
            bound: format!(
                "{to_suspect} heartbeat ({HEARTBEAT:?}) + a ping timeout ({PING_TIMEOUT:?})"
            ),
        };
        let dead = Expected {
            seen: Seen::Became(instance.addr, Health::Dead),
            saw: "dead",
            within: found,
            bound: format!("{to_dead} heartbeats ({to_dead} × {HEARTBEAT:?}) + a ping timeout"),
        };
        // Told by the registry, once the lease has run out.
        let gone = Expected {
            seen: Seen::Unlisted(instance.addr),
            saw: "gone from the list",
            within: TTL + PATIENCE,
            bound: self.backend.expiry(),
        };
        self.expect(&instance, "crashes", at, [suspect, dead, gone]);
        if instance.group != self.group {
            self.watch_the_registry_drop(&instance, at + TTL + PATIENCE);
        }
    }

    /// For a consumer of another group: wait (until `until` at most) for
    /// the registry itself to drop `instance`, to show that the change
    /// never reached the consumer.
    fn watch_the_registry_drop(&self, instance: &Instance, until: Instant) {
        while Instant::now() < until
            && self
                .registry
                .lookup(SERVICE, &instance.group, "*")
                .is_ok_and(|l| l.contains(instance))
        {
            thread::sleep(Duration::from_millis(50));
        }
        self.tl.say(
            "registry",
            format!(
                "{}'s TTL ran out: group {} no longer lists it; this consumer (group {}) \
                 was never told",
                self.tl.name(instance.addr),
                instance.group,
                self.group
            ),
        );
    }

    /// Print the table; `true` if everything expected was seen and the
    /// consumer never listed an instance of another group.
    fn summary(&self, listed: &[Instance]) -> bool {
        out(String::new());
        out(format!(
            "summary (registry: {}; consumer in group {}; one run)",
            self.backend.name(),
            self.group
        ));
        out(format!(
            "  {:<18} {:<22} {:>10}   bounded by",
            "event", "the consumer saw", "after"
        ));
        let mut ok = true;
        for r in &self.rows {
            let (after, bound) = match r.after {
                Measured::After(d) => (
                    format!("{:.1} ms", d.as_secs_f64() * 1000.0),
                    r.bound.as_str(),
                ),
                Measured::Missing(w) => {
                    ok = false;
                    (format!("not in {w:?}!"), r.bound.as_str())
                }
                Measured::OtherGroup => {
                    ("—".to_owned(), "another group: never sent to this consumer")
                }
            };
            out(format!(
                "  {:<18} {:<22} {after:>10}   {bound}",
                r.event, r.seen
            ));
        }
        let names: Vec<String> = listed.iter().map(|i| self.tl.name(i.addr)).collect();
        let foreign = listed.iter().filter(|i| i.group != self.group).count();
        ok &= foreign == 0;
        out(format!(
            "  every instance this consumer ever listed: [{}], {}",
            names.join(", "),
            if foreign == 0 {
                format!("all in group {}", self.group)
            } else {
                format!("BUT {foreign} from another group!")
            }
        ));
        ok
    }
}
