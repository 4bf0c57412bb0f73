//! The GC scheduler (plugin io.containerd.gc.v1.scheduler): collects after deletions, once
//! the configured delay has passed and coalescing bursts, or at once for synchronous deletes.

use std::sync::Arc;
use std::time::Duration;

use gantry_store::Store;
use tokio::sync::Notify;

/// How often the collector runs when no deletion wakes it.
const IDLE_INTERVAL: Duration = Duration::from_secs(300);

pub struct GcScheduler {
    store: Arc<Store>,
    wake: Arc<Notify>,
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

impl GcScheduler {
    /// Starts the background collector; `startup_delay` before the first collection,
    /// `schedule_delay` between a deletion and the collection it triggers.
    pub fn start(
        store: Arc<Store>,
        startup_delay: Duration,
        schedule_delay: Duration,
    ) -> Arc<Self> {
        let wake = Arc::new(Notify::new());
        let gc = Arc::new(GcScheduler {
            store,
            wake: wake.clone(),
        });
        let store = gc.store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(startup_delay).await;
            loop {
                run(&store).await;
                // Expired leases need a collection even when nothing is deleted.
                tokio::select! {
                    _ = wake.notified() => tokio::time::sleep(schedule_delay).await,
                    _ = tokio::time::sleep(IDLE_INTERVAL) => {}
                }
            }
        });
        gc
    }

    /// Notes a deletion: a collection follows soon.
    pub fn deleted(&self) {
        self.wake.notify_one();
    }

    /// Collects now and returns when done (synchronous deletes).
    pub async fn collect_now(&self) -> Result<(), tonic::Status> {
        let s = self.store.clone();
        crate::errors::blocking(move || s.garbage_collect())
            .await
            .map(|_| ())
    }
}

async fn run(store: &Arc<Store>) {
    let s = store.clone();
    let start = std::time::Instant::now();
    match tokio::task::spawn_blocking(move || s.garbage_collect()).await {
        Ok(Ok(stats)) => tracing::debug!(?stats, elapsed = ?start.elapsed(), "garbage collected"),
        Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
        Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
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
}
