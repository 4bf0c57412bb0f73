//! Proxy plugins: gantryd's Content API served by another process (here a second gantryd)
//! through `[proxy_plugins.NAME] type = "content"`, and gantryd as the content store behind
//! the real containerd 1.6 (`serve_without_namespace`), driven with the real `ctr`.

mod common;

use common::{is_containerd, sha256, Daemon, Registry};

fn proxy_config(target: &Daemon) -> String {
    format!(
        r#"
[proxy_plugins]
  [proxy_plugins.remote]
    type = "content"
    address = "{}"
  [proxy_plugins.snaps]
    type = "snapshot"
    address = "{}.none"
"#,
        target.sock.display(),
        target.sock.display()
    )
}

fn blob_files(root: &std::path::Path) -> usize {
    std::fs::read_dir(root.join("io.containerd.content.v1.content/blobs/sha256"))
        .map(|r| r.count())
        .unwrap_or(0)
}

/// Ingests `file` into `ns` under `r` and labels it `containerd.io/gc.root`. ctr ingests
/// under a temporary lease; once it is gone the front may collect the blob (and delete it
/// from the proxy) before the label lands, so retry the pair.
fn ingest_rooted(d: &Daemon, ns: &str, r: &str, file: &std::path::Path, dgst: &str) {
    for _ in 0..10 {
        let out = d.ctr_stdin(
            &["-n", ns, "content", "ingest", "--expected-digest", dgst, r],
            file,
        );
        assert!(
            out.status.success(),
            "ingest through the proxy: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        let label = [
            "-n",
            ns,
            "content",
            "label",
            dgst,
            "containerd.io/gc.root=test",
        ];
        if d.ctr_raw(&label).status.success() {
            return;
        }
    }
    panic!("{dgst} never stayed long enough to label");
}

/// A gantryd front keeps the namespaced metadata (records, labels, leases, ingests) and
/// hands committed blobs to the proxy, a plain content store (gantryd in plain mode).
#[test]
fn content_through_a_proxy_lands_in_the_proxy() {
    if is_containerd() {
        eprintln!("skipped: the front daemon must be gantryd");
        return;
    }
    let target = Daemon::start_with(PLAIN_TARGET, true);
    let front = Daemon::start_with(&proxy_config(&target), false);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let f = front.dir.path().join("blob");
    std::fs::write(&f, &data).unwrap();
    let dgst = sha256(&data);

    ingest_rooted(&front, "px", "proxied-ref", &f, &dgst);
    // The blob file is in the target only; the record is the front's, in its namespace.
    assert!(front
        .ctr(&["-n", "px", "content", "ls", "-q"])
        .contains(&dgst));
    assert!(front
        .ctr(&["-n", "other", "content", "ls", "-q"])
        .is_empty());
    assert!(target.ctr(&["-n", "px", "content", "ls", "-q"]).is_empty());
    assert_eq!(blob_files(&front.dir.path().join("root")), 0);
    assert_eq!(blob_files(&target.dir.path().join("root")), 1);
    // Reads come from the proxy, from any offset; labels are the front's.
    let got = front.ctr_raw(&["-n", "px", "content", "get", &dgst]);
    assert!(got.status.success());
    assert_eq!(got.stdout, data);
    front.ctr(&["-n", "px", "content", "label", &dgst, "proxied=yes"]);
    assert!(front
        .ctr(&["-n", "px", "content", "ls"])
        .contains("proxied=yes"));
    // A partial upload is an ingest of the front.
    let out = front.ctr_stdin(
        &[
            "-n",
            "px",
            "content",
            "ingest",
            "--expected-size",
            "5",
            "half-ref",
        ],
        &f,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed precondition"));
    assert!(front
        .ctr(&["-n", "px", "content", "active"])
        .contains("half-ref"));
    let missing = sha256(b"missing");
    let err = front.ctr_fail(&["-n", "px", "content", "get", &missing]);
    assert!(err.contains("not found"), "{err}");
    // Deleting the record lets the front's collector remove the blob from the proxy
    // (`content rm` collects synchronously).
    front.ctr(&["-n", "px", "content", "rm", &dgst]);
    assert!(!front
        .ctr(&["-n", "px", "content", "ls", "-q"])
        .contains(&dgst));
    target.ctr(&["-n", "x", "content", "prune", "references"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while blob_files(&target.dir.path().join("root")) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy kept the deleted blob"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Introspection shows the proxy plugins; the snapshot one failed with a clear reason.
    let plugins = front.ctr(&["plugins", "ls"]);
    let line = |id: &str| {
        plugins
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("no plugin {id} in {plugins}"))
            .trim_end()
            .to_string()
    };
    assert!(line("remote").contains("io.containerd.content.v1"));
    assert!(line("remote").ends_with("ok"), "{plugins}");
    assert!(line("snaps").contains("io.containerd.snapshotter.v1"));
    assert!(line("snaps").ends_with("error"), "{plugins}");
    let detail = front.ctr(&["plugins", "ls", "-d", "id==snaps"]);
    assert!(detail.contains("no snapshotters"), "{detail}");
}

#[test]
fn unreachable_proxy_is_unavailable() {
    if is_containerd() {
        eprintln!("skipped: the front daemon must be gantryd");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[proxy_plugins.gone]\n  type = \"content\"\n  address = \"{}\"\n",
        dir.path().join("nothing.sock").display()
    );
    let front = Daemon::start_with(&cfg, false);
    // The metadata is the front's own; committing a blob needs the proxy.
    assert!(front.ctr(&["-n", "px", "content", "ls", "-q"]).is_empty());
    let f = front.dir.path().join("blob");
    std::fs::write(&f, b"nowhere to go").unwrap();
    let out = front.ctr_stdin(&["-n", "px", "content", "ingest", "r"], &f);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unavailable") || err.contains("unavailable"),
        "{err}"
    );
    assert!(front.ctr(&["-n", "px", "content", "ls", "-q"]).is_empty());
}

const PLAIN_TARGET: &str = r#"
[plugins."io.containerd.grpc.v1.content"]
  serve_without_namespace = true
"#;

fn front_config(target: &Daemon) -> String {
    format!(
        "[proxy_plugins.gantry]\n  type = \"content\"\n  address = \"{}\"\n",
        target.sock.display()
    )
}

/// containerd 1.6 in front keeps the namespaced metadata and sends its proxied calls with
/// no namespace (and with its own leases): gantryd stores the blobs as a plain store.
#[test]
fn containerd_front_with_gantryd_as_content_store() {
    let target = Daemon::start_with(PLAIN_TARGET, true);
    let front = Daemon::start_containerd_front(&front_config(&target));
    let plugins = front.ctr(&["plugins", "ls"]);
    assert!(
        plugins
            .lines()
            .any(|l| l.contains("io.containerd.content.v1") && l.contains("gantry")),
        "{plugins}"
    );
    let data: Vec<u8> = (0..150_000u32).map(|i| (i * 31 % 241) as u8).collect();
    let f = front.dir.path().join("blob");
    std::fs::write(&f, &data).unwrap();
    let dgst = sha256(&data);
    ingest_rooted(&front, "px", "front-ref", &f, &dgst);
    assert!(front
        .ctr(&["-n", "px", "content", "ls", "-q"])
        .contains(&dgst));
    let got = front.ctr_raw(&["-n", "px", "content", "get", &dgst]);
    assert!(got.status.success());
    assert_eq!(got.stdout, data);
    // Labels are containerd's metadata; the blob file is in gantryd, not in containerd.
    front.ctr(&[
        "-n",
        "px",
        "content",
        "label",
        &dgst,
        "containerd.io/gc.root=test",
        "front=yes",
    ]);
    assert!(front
        .ctr(&["-n", "px", "content", "ls"])
        .contains("front=yes"));
    assert_eq!(blob_files(&target.dir.path().join("root")), 1);
    assert_eq!(blob_files(&front.dir.path().join("root")), 0);
    // The plain store is no namespace of gantryd's and its blobs outlive gantryd's own GC.
    assert!(!target.ctr(&["namespaces", "ls", "-q"]).contains("plain"));
    assert!(target.ctr(&["-n", "px", "content", "ls", "-q"]).is_empty());
    target.ctr(&["-n", "other", "content", "prune", "references"]);
    let got = front.ctr_raw(&["-n", "px", "content", "get", &dgst]);
    assert_eq!(got.stdout, data);
    // Another namespace in containerd does not see the blob, even though it is stored once.
    assert!(front
        .ctr(&["-n", "other", "content", "ls", "-q"])
        .is_empty());
    // A partial write is an active ingest through the front.
    let out = front.ctr_stdin(
        &[
            "-n",
            "px",
            "content",
            "ingest",
            "--expected-size",
            "5",
            "half-ref",
        ],
        &f,
    );
    assert!(!out.status.success());
    assert!(front
        .ctr(&["-n", "px", "content", "active"])
        .contains("half-ref"));
}

/// ctr's blob fetch (Write API under a lease) through containerd into gantryd.
#[test]
fn containerd_front_fetches_a_blob_into_gantryd() {
    let reg = Registry::start();
    let target = Daemon::start_with(PLAIN_TARGET, true);
    let front = Daemon::start_containerd_front(&front_config(&target));
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 199) as u8).collect();
    let dgst = reg.push_blob("proxy/blobs", &data);
    let remote = reg.reference("proxy/blobs", &dgst);
    let out = front.ctr_raw(&["content", "fetch", "--plain-http", &remote]);
    assert!(
        out.status.success(),
        "fetch through containerd: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        front.log()
    );
    assert!(front.ctr(&["content", "ls", "-q"]).contains(&dgst));
    assert_eq!(front.ctr_raw(&["content", "get", &dgst]).stdout, data);
    assert_eq!(blob_files(&target.dir.path().join("root")), 1);
}

/// Namespaces are the front's: a blob in one is not in another, though the proxy holds it.
#[test]
fn gantryd_front_with_a_plain_mode_target_keeps_namespaces() {
    if is_containerd() {
        eprintln!("skipped: the front daemon must be gantryd");
        return;
    }
    let target = Daemon::start_with(PLAIN_TARGET, true);
    let front = Daemon::start_with(&proxy_config(&target), true);
    let f = front.dir.path().join("blob");
    std::fs::write(&f, b"namespaced through a proxy").unwrap();
    let dgst = sha256(b"namespaced through a proxy");
    ingest_rooted(&front, "a", "r", &f, &dgst);
    assert!(front
        .ctr(&["-n", "a", "content", "ls", "-q"])
        .contains(&dgst));
    assert!(front.ctr(&["-n", "b", "content", "ls", "-q"]).is_empty());
    assert!(target.ctr(&["-n", "a", "content", "ls", "-q"]).is_empty());
    assert_eq!(blob_files(&target.dir.path().join("root")), 1);
}

/// ctr's blob fetch into a gantryd front whose blobs live in another gantryd.
#[test]
fn gantryd_front_fetches_a_blob_into_the_proxy() {
    if is_containerd() {
        eprintln!("skipped: the front daemon must be gantryd");
        return;
    }
    let reg = Registry::start();
    let target = Daemon::start_with(PLAIN_TARGET, true);
    let front = Daemon::start_with(&proxy_config(&target), true);
    let data: Vec<u8> = (0..90_000u32).map(|i| (i % 211) as u8).collect();
    let dgst = reg.push_blob("proxy/blobs", &data);
    let remote = reg.reference("proxy/blobs", &dgst);
    let out = front.ctr_raw(&["content", "fetch", "--plain-http", &remote]);
    assert!(
        out.status.success(),
        "fetch through the proxy: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        front.log()
    );
    assert!(front.ctr(&["content", "ls", "-q"]).contains(&dgst));
    assert_eq!(front.ctr_raw(&["content", "get", &dgst]).stdout, data);
    assert_eq!(blob_files(&target.dir.path().join("root")), 1);
    assert_eq!(blob_files(&front.dir.path().join("root")), 0);
}
