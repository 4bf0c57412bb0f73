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

#[test]
fn content_through_a_proxy_lands_in_the_proxy() {
    if is_containerd() {
        // containerd forwards its own lease with proxied writes, which a full daemon as
        // the target rejects; this test needs gantryd as the front.
        eprintln!("skipped: the front daemon must be gantryd");
        return;
    }
    let target = Daemon::start_with("", true);
    let front = Daemon::start_with(&proxy_config(&target), false);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let f = front.dir.path().join("blob");
    std::fs::write(&f, &data).unwrap();
    let dgst = sha256(&data);

    let out = front.ctr_stdin(
        &[
            "-n",
            "px",
            "content",
            "ingest",
            "--expected-digest",
            &dgst,
            "proxied-ref",
        ],
        &f,
    );
    assert!(
        out.status.success(),
        "ingest through the proxy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The blob is in the target, under the caller's namespace, and not in the front.
    assert!(target
        .ctr(&["-n", "px", "content", "ls", "-q"])
        .contains(&dgst));
    assert!(front
        .ctr(&["-n", "px", "content", "ls", "-q"])
        .contains(&dgst));
    assert_eq!(blob_files(&front.dir.path().join("root")), 0);
    assert_eq!(blob_files(&target.dir.path().join("root")), 1);
    // Reads and labels go through too.
    let got = front.ctr_raw(&["-n", "px", "content", "get", &dgst]);
    assert!(got.status.success());
    assert_eq!(got.stdout, data);
    front.ctr(&["-n", "px", "content", "label", &dgst, "proxied=yes"]);
    assert!(target
        .ctr(&["-n", "px", "content", "ls"])
        .contains("proxied=yes"));
    // A partial upload is listed as active on both sides.
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
    assert!(target
        .ctr(&["-n", "px", "content", "active"])
        .contains("half-ref"));
    assert!(front
        .ctr(&["-n", "px", "content", "active"])
        .contains("half-ref"));
    // Errors come back with the proxy's codes.
    let missing = sha256(b"missing");
    let err = front.ctr_fail(&["-n", "px", "content", "get", &missing]);
    assert!(err.contains("not found"), "{err}");
    front.ctr(&["-n", "px", "content", "rm", &dgst]);
    assert!(!target
        .ctr(&["-n", "px", "content", "ls", "-q"])
        .contains(&dgst));

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
    let err = front.ctr_fail(&["-n", "px", "content", "ls"]);
    assert!(
        err.contains("Unavailable") || err.contains("unavailable"),
        "{err}"
    );
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
    // ctr ingests under a temporary lease; once it is gone containerd may collect the blob
    // (and delete it from gantryd) before the root label lands, so retry the pair.
    let mut rooted = false;
    for _ in 0..10 {
        let out = front.ctr_stdin(
            &[
                "-n",
                "px",
                "content",
                "ingest",
                "--expected-digest",
                &dgst,
                "front-ref",
            ],
            &f,
        );
        assert!(
            out.status.success(),
            "ingest through containerd: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            front.log()
        );
        let label = [
            "-n",
            "px",
            "content",
            "label",
            &dgst,
            "containerd.io/gc.root=test",
        ];
        if front.ctr_raw(&label).status.success() {
            rooted = true;
            break;
        }
    }
    assert!(
        rooted,
        "the ingested blob never stayed long enough to label"
    );
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

/// A gantryd front forwards the namespace, so a target in plain mode still keeps the
/// namespaces of a gantryd front apart.
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
    let out = front.ctr_stdin(&["-n", "a", "content", "ingest", "r"], &f);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(front
        .ctr(&["-n", "a", "content", "ls", "-q"])
        .contains(&dgst));
    assert!(target
        .ctr(&["-n", "a", "content", "ls", "-q"])
        .contains(&dgst));
    assert!(front.ctr(&["-n", "b", "content", "ls", "-q"]).is_empty());
}
