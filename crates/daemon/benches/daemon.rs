//! gantryd against containerd 1.6 on the same work (a benchmark program, not a timed test):
//!
//! - RSS idle, and with 1,000 images and 10,000 blobs of metadata (each blob a small
//!   unique one labelled `containerd.io/gc.root`, each image pointing at one of them);
//! - content write throughput of one 200 MB blob over the Write stream (1 MiB messages,
//!   commit with expected digest and size), best and median of a few rounds.
//!
//! Each daemon runs on a private root, state and socket under a temp dir, with the config
//! the integration tests use. Run it (as root, containerd at /usr/bin/containerd) with
//! `CARGO_TARGET_DIR=/work/target-daemon cargo bench -p gantryd --bench daemon`; options
//! after `--`: `--rounds N` (write rounds, default 5), `--only gantryd|containerd`.
//! It prints a Markdown section for bench/RESULTS.md.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry_api::client::{connect, with_namespace};
use gantry_api::containerd::types::Descriptor;
use gantry_api::services::content::v1::content_client::ContentClient;
use gantry_api::services::content::v1::{WriteAction, WriteContentRequest};
use gantry_api::services::images::v1::images_client::ImagesClient;
use gantry_api::services::images::v1::{CreateImageRequest, Image, ListImagesRequest};
use gantry_api::tonic::transport::Channel;
use sha2::Digest;
use tokio_stream::StreamExt;

const NS: &str = "bench";
const BLOBS: usize = 10_000;
const IMAGES: usize = 1_000;
const BIG: usize = 200 * 1000 * 1000;
const CHUNK: usize = 1 << 20;

fn sha256(data: &[u8]) -> String {
    let h = sha2::Sha256::digest(data);
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

struct Daemon {
    name: &'static str,
    /// Removed (with the daemon's root and state) when the daemon is dropped.
    _dir: tempfile::TempDir,
    sock: PathBuf,
    child: Child,
}

impl Daemon {
    fn start(name: &'static str, bin: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("gantryd-bench")
            .tempdir()
            .expect("temp dir");
        let p = dir.path();
        let sock = p.join("d.sock");
        let cfg = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  level = "warn"
"#,
            root = p.join("root").display(),
            state = p.join("state").display(),
            sock = sock.display(),
        );
        std::fs::write(p.join("config.toml"), cfg).expect("config.toml");
        let log = std::fs::File::create(p.join("daemon.log")).expect("log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(p.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let d = Daemon {
            name,
            _dir: dir,
            sock,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.sock.exists() {
            assert!(Instant::now() < deadline, "{name} did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// Resident set size of the daemon process, in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("daemon status");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kb / 1024.0
    }

    /// RSS once the daemon has been quiet for a while (median of five samples).
    fn settled_rss(&self) -> f64 {
        std::thread::sleep(Duration::from_secs(2));
        let mut v: Vec<f64> = (0..5)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(200));
                self.rss_mib()
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[2]
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `data` under `r` in one Write stream of `CHUNK`-sized messages and commits it.
async fn write_blob(
    c: &mut ContentClient<Channel>,
    r: &str,
    data: &[u8],
    labels: &[(&str, &str)],
) -> String {
    let dgst = sha256(data);
    let mut reqs = Vec::new();
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(CHUNK).collect()
    };
    let n = chunks.len();
    let mut offset = 0i64;
    for (i, ch) in chunks.into_iter().enumerate() {
        let last = i + 1 == n;
        reqs.push(WriteContentRequest {
            action: if last {
                WriteAction::Commit as i32
            } else {
                WriteAction::Write as i32
            },
            r#ref: r.to_string(),
            offset,
            total: data.len() as i64,
            expected: if last { dgst.clone() } else { String::new() },
            data: ch.to_vec(),
            labels: if last {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            } else {
                Default::default()
            },
        });
        offset += ch.len() as i64;
    }
    let mut resp = c
        .write(with_namespace(NS, tokio_stream::iter(reqs)))
        .await
        .unwrap_or_else(|e| panic!("write {r}: {e}"))
        .into_inner();
    let mut got = String::new();
    while let Some(m) = resp.next().await {
        let m = m.unwrap_or_else(|e| panic!("write {r}: {e}"));
        if m.action == WriteAction::Commit as i32 {
            got = m.digest;
        }
    }
    assert_eq!(got, dgst, "commit of {r}");
    got
}

/// 10,000 small rooted blobs and 1,000 images, written by 8 concurrent clients.
async fn populate(ch: Channel, tag: &str) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8usize {
        let ch = ch.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = ContentClient::new(ch.clone());
            let mut im = ImagesClient::new(ch);
            for i in (w..BLOBS).step_by(8) {
                let data = format!("{{\"bench\":\"{tag}\",\"blob\":{i},\"pad\":\"{:064}\"}}", i);
                let dgst = write_blob(
                    &mut c,
                    &format!("blob-{i}"),
                    data.as_bytes(),
                    &[("containerd.io/gc.root", "bench")],
                )
                .await;
                if i < IMAGES {
                    im.create(with_namespace(
                        NS,
                        CreateImageRequest {
                            image: Some(Image {
                                name: format!("bench.local/library/img-{i}:latest"),
                                labels: [("bench".to_string(), "yes".to_string())].into(),
                                target: Some(Descriptor {
                                    media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                                    digest: dgst,
                                    size: data.len() as i64,
                                    annotations: Default::default(),
                                }),
                                created_at: None,
                                updated_at: None,
                            }),
                            source_date_epoch: None,
                        },
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("image {i}: {e}"));
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("populate task");
    }
    start.elapsed()
}

struct Row {
    name: &'static str,
    idle: f64,
    loaded: f64,
    populate_s: f64,
    write_best: f64,
    write_median: f64,
}

async fn measure(name: &'static str, bin: &str, big: &[u8], rounds: usize) -> Row {
    let d = Daemon::start(name, bin);
    let idle = d.settled_rss();
    let ch = connect(&d.sock).await.expect("connect");
    let populate_s = populate(ch.clone(), name).await.as_secs_f64();
    // A listing touches all the metadata, as a client looking at it would.
    let mut im = ImagesClient::new(ch.clone());
    let n = im
        .list(with_namespace(NS, ListImagesRequest { filters: vec![] }))
        .await
        .expect("list images")
        .into_inner()
        .images
        .len();
    assert_eq!(n, IMAGES, "{name} lists all images");
    let loaded = d.settled_rss();
    let mut c = ContentClient::new(ch)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);
    let mut mbps = Vec::new();
    let mut data = big.to_vec();
    for r in 0..rounds {
        // A new blob each round: a stored digest would be refused as AlreadyExists.
        data[0] = r as u8;
        let t = Instant::now();
        write_blob(
            &mut c,
            &format!("big-{r}"),
            &data,
            &[("containerd.io/gc.root", "bench")],
        )
        .await;
        mbps.push(data.len() as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    mbps.sort_by(f64::total_cmp);
    let row = Row {
        name: d.name,
        idle,
        loaded,
        populate_s,
        write_best: *mbps.last().expect("rounds > 0"),
        write_median: mbps[mbps.len() / 2],
    };
    drop(d);
    row
}

fn main() {
    let mut rounds = 5usize;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--only" => only = args.next(),
            // cargo bench passes --bench.
            _ => {}
        }
    }
    let rounds = rounds.max(1);
    let gantryd = env!("CARGO_BIN_EXE_gantryd");
    let daemons: Vec<(&'static str, &str)> = vec![
        ("gantryd", gantryd),
        ("containerd 1.6.20", "/usr/bin/containerd"),
    ]
    .into_iter()
    .filter(|(n, _)| match only.as_deref() {
        Some(o) => n.starts_with(o),
        None => true,
    })
    .collect();
    let mut big = vec![0u8; BIG];
    // Incompressible-looking data (xorshift), the same for both daemons.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in big.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        b.copy_from_slice(&bytes[..b.len()]);
    }
    // The ceiling for a single Write stream: sha256 on one core, with the sha2 crate as
    // this build compiles it (gantryd uses the same crate and profile).
    let t = Instant::now();
    let _ = sha256(&big);
    let sha_mbps = BIG as f64 / 1e6 / t.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows: Vec<Row> = daemons
        .iter()
        .map(|(n, bin)| {
            eprintln!("measuring {n} ...");
            rt.block_on(measure(n, bin, &big, rounds))
        })
        .collect();
    let uname = Command::new("uname")
        .arg("-r")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("| daemon | RSS idle MiB | RSS with {IMAGES} images + {BLOBS} blobs MiB | populate s | write 200 MB MB/s best | median |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
            r.name, r.idle, r.loaded, r.populate_s, r.write_best, r.write_median
        );
    }
    if let [g, c] = rows.as_slice() {
        println!();
        println!(
            "gantryd / containerd: RSS idle {:.2}×, RSS loaded {:.2}×, write throughput (median) {:.2}×",
            g.idle / c.idle,
            g.loaded / c.loaded,
            g.write_median / c.write_median
        );
    }
    println!();
    println!("sha2 crate sha256 on one core in this build: {sha_mbps:.0} MB/s.");
    println!(
        "Kernel {uname}, {} CPUs; {rounds} write rounds of {BIG} bytes in {CHUNK}-byte messages.",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
}
