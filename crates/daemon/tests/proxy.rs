//! Proxy plugins: gantryd's Content API served by another process (here a second gantryd)
//! through `[proxy_plugins.NAME] type = "content"`, driven with the real `ctr`.

mod common;

use common::{is_containerd, sha256, Daemon};

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
