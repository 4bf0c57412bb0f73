//! The GC scheduler (plugin io.containerd.gc.v1.scheduler), with containerd's policy:
//!
//! - the first collection runs `startup_delay` after start;
//! - after each collection the next check is an `interval` later, where the interval keeps
//!   collections to `pause_threshold` of real time (average collection time / threshold);
//!   a check collects only if something asked for it: a trigger, a deletion since the last
//!   collection, at least `mutation_threshold` changes, or an expired lease;
//! - a trigger (a synchronous delete), `deletion_threshold` deletions, or the first deletion
//!   or mutation threshold while nothing is scheduled, schedule a collection `schedule_delay`
//!   from now unless one is due sooner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_store::Store;
use tokio::sync::{mpsc, oneshot};

/// The scheduler's knobs, as containerd's `[plugins."io.containerd.gc.v1.scheduler"]` has them.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub pause_threshold: f64,
    pub deletion_threshold: u64,
    pub mutation_threshold: u64,
    pub schedule_delay: Duration,
    pub startup_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pause_threshold: 0.02,
            deletion_threshold: 0,
            mutation_threshold: 100,
            schedule_delay: Duration::ZERO,
            startup_delay: Duration::from_millis(100),
        }
    }
}

impl Policy {
    /// Reads the plugin's config section: containerd 1.x durations (`schedule_delay = "0s"`)
    /// or 2.x milliseconds (`schedule_delay_ms = 0`); out-of-range values are clamped as
    /// containerd clamps them.
    pub fn from_config(cfg: Option<&toml::Value>) -> Result<Policy, String> {
        let mut p = Policy::default();
        let Some(cfg) = cfg else {
            return Ok(p);
        };
        let num = |key: &str| -> Result<Option<f64>, String> {
            match cfg.get(key) {
                None => Ok(None),
                Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
                Some(toml::Value::Float(f)) => Ok(Some(*f)),
                Some(v) => Err(format!("gc scheduler: {key} = {v} is not a number")),
            }
        };
        let dur = |key: &str| -> Result<Option<Duration>, String> {
            if let Some(v) = cfg.get(key) {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("gc scheduler: {key} = {v} is not a duration"))?;
                return parse_duration(s)
                    .map(Some)
                    .ok_or_else(|| format!("gc scheduler: invalid duration {key} = {s:?}"));
            }
            Ok(num(&format!("{key}_ms"))?.map(|ms| Duration::from_millis(ms.max(0.0) as u64)))
        };
        if let Some(v) = num("pause_threshold")? {
            p.pause_threshold = v.clamp(0.0, 0.5);
        }
        if let Some(v) = num("deletion_threshold")? {
            p.deletion_threshold = v.max(0.0) as u64;
        }
        if let Some(v) = num("mutation_threshold")? {
            p.mutation_threshold = v.max(0.0) as u64;
        }
        if let Some(d) = dur("schedule_delay")? {
            p.schedule_delay = d;
        }
        if let Some(d) = dur("startup_delay")? {
            p.startup_delay = d;
        }
        Ok(p)
    }
}

/// Parses containerd's durations as used in its gc config ("0s", "100ms", "1m").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

type Waiter = oneshot::Sender<Result<(), String>>;

enum Event {
    /// A committed metadata change; `dirty` when it removed something.
    Mutation { at: Instant, dirty: bool },
    /// A request to collect soon, answered once a collection has run.
    Trigger { waiter: Waiter },
}

pub struct GcScheduler {
    tx: mpsc::UnboundedSender<Event>,
}

impl GcScheduler {
    /// Starts the scheduler on `store` (whose every change it is told of).
    pub fn start(store: Arc<Store>, policy: Policy) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let hook_tx = tx.clone();
        store.set_mutation_hook(Box::new(move |dirty| {
            let _ = hook_tx.send(Event::Mutation {
                at: Instant::now(),
                dirty,
            });
        }));
        tokio::spawn(run(store, policy, rx));
        Arc::new(GcScheduler { tx })
    }

    /// Schedules a collection and waits for it (containerd's `ScheduleAndWait`, used by
    /// synchronous deletes).
    pub async fn collect_now(&self) -> Result<(), tonic::Status> {
        let (waiter, done) = oneshot::channel();
        self.tx
            .send(Event::Trigger { waiter })
            .map_err(|_| tonic::Status::unavailable("gc scheduler stopped"))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(tonic::Status::internal(format!(
                "garbage collection failed: {e}"
            ))),
            Err(_) => Err(tonic::Status::unavailable("gc scheduler stopped")),
        }
    }
}

/// The scheduler's bookkeeping between collections.
struct State {
    policy: Policy,
    next: Option<Instant>,
    last: Option<Instant>,
    interval: Duration,
    gc_time: Duration,
    collections: u32,
    triggered: bool,
    deletions: u64,
    mutations: u64,
    waiters: Vec<Waiter>,
    /// Something happened since memory was last handed back to the system.
    busy_since_trim: bool,
}

impl State {
    fn schedule_soon(&mut self) {
        let at = Instant::now() + self.policy.schedule_delay;
        let sooner = match self.next {
            Some(n) => n > at,
            None => true,
        };
        if sooner {
            self.next = Some(at);
        }
    }

    fn on_event(&mut self, ev: Event) {
        self.busy_since_trim = true;
        match ev {
            Event::Mutation { at, dirty } => {
                // Already covered by a collection that ran after it.
                if self.last.is_some_and(|l| l > at) {
                    return;
                }
                if dirty {
                    self.deletions += 1;
                }
                self.mutations += 1;
            }
            Event::Trigger { waiter } => {
                self.waiters.push(waiter);
                self.triggered = true;
            }
        }
        let p = &self.policy;
        let now_due = self.triggered
            || (p.deletion_threshold > 0 && self.deletions >= p.deletion_threshold)
            || (self.next.is_none()
                && ((p.deletion_threshold == 0 && self.deletions > 0)
                    || (p.mutation_threshold > 0 && self.mutations >= p.mutation_threshold)));
        if now_due {
            self.schedule_soon();
        }
    }

    /// Whether a scheduled check should collect (rather than look again an interval later).
    fn wanted(&self, store: &Store) -> bool {
        self.triggered
            || self.last.is_none()
            || self.deletions > 0
            || (self.policy.mutation_threshold > 0
                && self.mutations >= self.policy.mutation_threshold)
            || store.lease_expiry_due(gantry_store::time::now())
    }

    fn collected(&mut self, took: Duration) {
        self.gc_time += took;
        self.collections += 1;
        self.triggered = false;
        self.deletions = 0;
        self.mutations = 0;
        if self.policy.pause_threshold > 0.0 {
            let avg = self.gc_time.as_secs_f64() / self.collections as f64;
            self.interval = Duration::from_secs_f64(avg / self.policy.pause_threshold - avg);
        }
        self.last = Some(Instant::now());
        self.next = Some(Instant::now() + self.interval);
    }
}

async fn run(store: Arc<Store>, policy: Policy, mut rx: mpsc::UnboundedReceiver<Event>) {
    let startup = policy.startup_delay;
    let mut st = State {
        policy,
        next: (!startup.is_zero()).then(|| Instant::now() + startup),
        last: None,
        interval: Duration::from_secs(1),
        gc_time: Duration::ZERO,
        collections: 0,
        triggered: false,
        deletions: 0,
        mutations: 0,
        waiters: Vec::new(),
        busy_since_trim: false,
    };
    let mut last_trim = Instant::now();
    loop {
        let due = st.next;
        tokio::select! {
            _ = async {
                match due {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                if !st.wanted(&store) {
                    st.next = Some(Instant::now() + st.interval);
                    // Quiet after a burst (no change asked for a collection): give the
                    // memory the burst freed back to the system.
                    // At most once a second: the walk over the heap is not free.
                    if st.busy_since_trim && last_trim.elapsed() >= Duration::from_secs(1) {
                        st.busy_since_trim = false;
                        last_trim = Instant::now();
                        tokio::task::spawn_blocking(crate::memory::trim);
                    }
                    continue;
                }
            }
            ev = rx.recv() => {
                match ev {
                    Some(ev) => st.on_event(ev),
                    None => return,
                }
                continue;
            }
        }
        let s = store.clone();
        let start = Instant::now();
        let result = tokio::task::spawn_blocking(move || s.garbage_collect()).await;
        let took = start.elapsed();
        crate::metrics::global().gc_ran(took);
        let outcome = match result {
            Ok(Ok(stats)) => {
                tracing::debug!(?stats, elapsed = ?took, "garbage collected");
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("collection task: {e}")),
        };
        match &outcome {
            Ok(()) => st.collected(took),
            Err(e) => {
                tracing::warn!(error = %e, "garbage collection failed");
                // containerd retries after the same interval plus a second.
                st.last = Some(Instant::now());
                st.next = Some(Instant::now() + st.interval + Duration::from_secs(1));
            }
        }
        for w in st.waiters.drain(..) {
            let _ = w.send(outcome.clone());
        }
        st.busy_since_trim = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn policy_from_config() {
        assert_eq!(Policy::from_config(None).unwrap(), Policy::default());
        let v: toml::Value = toml::from_str(
            "pause_threshold = 0.9\ndeletion_threshold = 3\nmutation_threshold = 0\nschedule_delay = \"2s\"\nstartup_delay_ms = 5",
        )
        .unwrap();
        let p = Policy::from_config(Some(&v)).unwrap();
        assert_eq!(p.pause_threshold, 0.5);
        assert_eq!(p.deletion_threshold, 3);
        assert_eq!(p.mutation_threshold, 0);
        assert_eq!(p.schedule_delay, Duration::from_secs(2));
        assert_eq!(p.startup_delay, Duration::from_millis(5));
        let bad: toml::Value = toml::from_str("schedule_delay = \"soon\"").unwrap();
        assert!(Policy::from_config(Some(&bad))
            .unwrap_err()
            .contains("schedule_delay"));
    }

    fn state(policy: Policy) -> State {
        State {
            policy,
            next: None,
            last: Some(Instant::now()),
            interval: Duration::from_secs(1),
            gc_time: Duration::ZERO,
            collections: 0,
            triggered: false,
            deletions: 0,
            mutations: 0,
            waiters: Vec::new(),
            busy_since_trim: false,
        }
    }

    #[test]
    fn thresholds_schedule_as_containerd() {
        let later = || Instant::now() + Duration::from_millis(5);
        // Deletion threshold 2: the first deletion waits for the scheduled interval, the
        // second schedules a collection after schedule_delay.
        let mut s = state(Policy {
            deletion_threshold: 2,
            schedule_delay: Duration::from_secs(30),
            ..Policy::default()
        });
        s.next = Some(Instant::now() + Duration::from_secs(60));
        s.on_event(Event::Mutation {
            at: later(),
            dirty: true,
        });
        assert!(s.next.unwrap() > Instant::now() + Duration::from_secs(50));
        s.on_event(Event::Mutation {
            at: later(),
            dirty: true,
        });
        assert!(s.next.unwrap() < Instant::now() + Duration::from_secs(31));
        // Mutation threshold with nothing scheduled: the 3rd change schedules.
        let mut s = state(Policy {
            mutation_threshold: 3,
            ..Policy::default()
        });
        for _ in 0..2 {
            s.on_event(Event::Mutation {
                at: later(),
                dirty: false,
            });
        }
        assert!(s.next.is_none());
        s.on_event(Event::Mutation {
            at: later(),
            dirty: false,
        });
        assert!(s.next.is_some());
        // A change older than the last collection is ignored.
        let mut s = state(Policy::default());
        let before = Instant::now() - Duration::from_secs(1);
        s.on_event(Event::Mutation {
            at: before,
            dirty: true,
        });
        assert_eq!(s.deletions, 0);
        // Pause threshold 0.02 and a 10 ms collection: the next check 490 ms later.
        s.collected(Duration::from_millis(10));
        assert_eq!(s.interval, Duration::from_millis(490));
    }
}
