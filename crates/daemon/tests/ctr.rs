//! gantryd driven by Debian's unmodified `ctr` 1.6.20, exactly as it drives containerd.
//! `GANTRY_TEST_DAEMON=containerd` runs the same tests against the real containerd.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{busybox_oci_archive, is_containerd, sha256, Daemon, Registry};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Ingests `file` with ctr and labels it `containerd.io/gc.root`. ctr ingests under a
/// temporary lease, so until the label lands the blob is unreferenced and containerd's
/// collector may take it at any moment: retry the pair until the label sticks.
fn ingest_rooted(
    d: &Daemon,
    global: &[&str],
    r: &str,
    file: &std::path::Path,
    dgst: &str,
    flags: &[&str],
) {
    for _ in 0..10 {
        let mut args: Vec<&str> = global.to_vec();
        args.extend(["content", "ingest"]);
        args.extend(flags);
        args.push(r);
        let out = d.ctr_stdin(&args, file);
        assert!(
            out.status.success(),
            "ingest: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut label: Vec<&str> = global.to_vec();
        label.extend(["content", "label", dgst, "containerd.io/gc.root=test"]);
        let out = d.ctr_raw(&label);
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not found"), "label: {err}");
    }
    panic!("{dgst} was collected before it could be labelled, ten times");
}

#[test]
fn version_uuid_plugins_and_permissions() {
    let mut d = Daemon::start();
    let out = d.ctr(&["version"]);
    let uuid = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("UUID: "))
        .unwrap_or_else(|| panic!("no server UUID in: {out}"))
        .to_string();
    assert_eq!(uuid.len(), 36, "uuid {uuid}");
    let plugins = d.ctr(&["plugins", "ls"]);
    for (ty, id) in [
        ("io.containerd.content.v1", "content"),
        ("io.containerd.grpc.v1", "content"),
        ("io.containerd.grpc.v1", "images"),
        ("io.containerd.grpc.v1", "namespaces"),
        ("io.containerd.grpc.v1", "introspection"),
    ] {
        assert!(
            plugins.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 4 && f[0] == ty && f[1] == id && f[3] == "ok"
            }),
            "plugin {ty} {id} not ok in:\n{plugins}"
        );
    }
    let filtered = d.ctr(&["plugins", "ls", "type==io.containerd.grpc.v1,id==images"]);
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    // containerd 1.6 makes its socket 0660; gantryd 0600 (CVE-2024-25621).
    let want = if is_containerd() { 0o660 } else { 0o600 };
    assert_eq!(mode(&d.sock), want, "socket mode");
    assert_eq!(mode(&d.dir.path().join("root")), 0o700);
    // containerd 1.6.20 still makes its state dir 0711; gantryd 0700.
    if !is_containerd() {
        assert_eq!(mode(&d.dir.path().join("state")), 0o700);
    }
    d.restart();
    let out = d.ctr(&["version"]);
    assert!(out.contains(&uuid), "uuid changed across restart: {out}");
    let status = d.stop().expect("daemon was running");
    assert!(status.success(), "daemon exit on SIGTERM: {status}");
}

#[test]
fn namespaces_create_label_list_remove() {
    let d = Daemon::start();
    d.ctr(&["namespaces", "create", "ns1", "team=a"]);
    let err = d.ctr_fail(&["namespaces", "create", "ns1"]);
    assert!(err.contains("already exists"), "{err}");
    d.ctr(&["namespaces", "label", "ns1", "team=b", "env=test"]);
    let ls = d.ctr(&["namespaces", "ls"]);
    let line = ls
        .lines()
        .find(|l| l.starts_with("ns1 "))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(
        line.contains("team=b") && line.contains("env=test"),
        "{line}"
    );
    d.ctr(&["namespaces", "label", "ns1", "env="]);
    let ls = d.ctr(&["namespaces", "ls", "-q"]);
    assert!(ls.lines().any(|l| l == "ns1"), "{ls}");
    let ls = d.ctr(&["namespaces", "ls"]);
    assert!(!ls.contains("env=test"), "label not removed: {ls}");
    let err = d.ctr_fail(&["namespaces", "create", "bad/name"]);
    assert!(err.contains("invalid argument"), "{err}");

    // A namespace holding content cannot be removed.
    let f = d.dir.path().join("blob");
    std::fs::write(&f, b"namespace content").unwrap();
    let dgst = sha256(b"namespace content");
    ingest_rooted(&d, &["-n", "ns1"], "ref1", &f, &dgst, &[]);
    let err = d.ctr_fail(&["namespaces", "rm", "ns1"]);
    assert!(
        err.contains("must be empty") && err.contains("failed precondition"),
        "{err}"
    );
    d.ctr(&["-n", "ns1", "content", "rm", &dgst]);
    d.ctr(&["namespaces", "rm", "ns1"]);
    let ls = d.ctr(&["namespaces", "ls", "-q"]);
    assert!(!ls.lines().any(|l| l == "ns1"), "{ls}");
}

#[test]
fn content_ingest_list_get_label_remove() {
    let d = Daemon::start();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let f = d.dir.path().join("blob");
    std::fs::write(&f, &data).unwrap();
    let dgst = sha256(&data);
    let size = data.len().to_string();

    // Wrong expected digest: the commit fails and nothing becomes visible.
    let wrong = sha256(b"something else");
    let out = d.ctr_stdin(
        &["content", "ingest", "--expected-digest", &wrong, "bad-ref"],
        &f,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed precondition"), "{err}");
    assert!(!d.ctr(&["content", "ls", "-q"]).contains(&dgst));
    // Wrong expected size likewise.
    let out = d.ctr_stdin(
        &["content", "ingest", "--expected-size", "12", "bad-size"],
        &f,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed precondition"));

    // A commit that failed on size leaves the ingest resumable, listed as active.
    let active = d.ctr(&["content", "active"]);
    assert!(
        active.lines().any(|l| l.starts_with("bad-size\t")),
        "{active}"
    );

    ingest_rooted(
        &d,
        &[],
        "good-ref",
        &f,
        &dgst,
        &["--expected-digest", &dgst, "--expected-size", &size],
    );
    d.ctr(&[
        "content",
        "label",
        &dgst,
        "containerd.io/gc.root=test",
        "owner=me",
    ]);
    let ls = d.ctr(&["content", "ls"]);
    let line = ls
        .lines()
        .find(|l| l.starts_with(&dgst))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(line.contains("owner=me"), "{line}");
    assert!(
        line.contains("293kB") || line.contains("300kB") || line.contains(&size),
        "{line}"
    );
    let got = d.ctr_raw(&["content", "get", &dgst]);
    assert!(got.status.success());
    assert_eq!(got.stdout, data, "content get returned other bytes");

    // Ingesting the same content again: the server answers AlreadyExists, which ctr's
    // WriteBlob treats as done; nothing is duplicated.
    let out = d.ctr_stdin(
        &["content", "ingest", "--expected-digest", &dgst, "again"],
        &f,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.ctr(&["content", "ls", "-q"])
            .lines()
            .filter(|l| *l == dgst)
            .count(),
        1
    );

    let filtered = d.ctr(&["content", "ls", "-q", "labels.owner==me"]);
    assert_eq!(filtered.trim(), dgst);
    let filtered = d.ctr(&["content", "ls", "-q", "labels.owner==you"]);
    assert_eq!(filtered.trim(), "");

    d.ctr(&["content", "rm", &dgst]);
    let err = d.ctr_fail(&["content", "get", &dgst]);
    assert!(err.contains("not found"), "{err}");
    let err = d.ctr_fail(&["content", "ls", "labels.owner=="]);
    assert!(
        err.contains("invalid argument") || err.contains("parse error"),
        "{err}"
    );
}

#[test]
fn images_import_list_label_export_remove() {
    let mut d = Daemon::start();
    let name = "docker.io/library/gantry-busybox:test";
    let (archive, manifest) = busybox_oci_archive(d.dir.path(), name);
    d.ctr(&["images", "import", "--no-unpack", archive.to_str().unwrap()]);
    let ls = d.ctr(&["images", "ls"]);
    let line = ls
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(line.contains(&manifest), "{line}");
    assert!(line.contains("linux/amd64"), "{line}");

    // Metadata and blobs survive a restart.
    d.restart();
    assert!(d.ctr(&["images", "ls", "-q"]).lines().any(|l| l == name));

    d.ctr(&["images", "label", name, "purpose=test"]);
    let ls = d.ctr(&["images", "ls", "labels.purpose==test"]);
    assert!(ls.contains(name), "{ls}");
    let ls = d.ctr(&["images", "ls", "-q", "name~=gantry-busy"]);
    assert_eq!(ls.trim(), name);
    let ls = d.ctr(&["images", "ls", "-q", "labels.purpose==other"]);
    assert_eq!(ls.trim(), "");

    // Export reads every blob back through the Content service.
    let export = d.dir.path().join("export.tar");
    d.ctr(&["images", "export", export.to_str().unwrap(), name]);
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&export)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("index.json"), "{listing}");
    assert!(listing.contains(&manifest[7..]), "{listing}");

    // Manifest, config and layer (containerd may still hold the imported index blob
    // until its collector runs).
    let blobs_before = d.ctr(&["content", "ls", "-q"]);
    assert!(blobs_before.lines().count() >= 3, "{blobs_before}");
    assert!(blobs_before.contains(&manifest), "{blobs_before}");
    d.ctr(&["images", "rm", "--sync", name]);
    assert_eq!(d.ctr(&["images", "ls", "-q"]).trim(), "");
    // The synchronous delete collected the image's blobs.
    assert_eq!(
        d.ctr(&["content", "ls", "-q"]).trim(),
        "",
        "blobs left after rm --sync"
    );
    // ctr reports a missing image as a warning and exits 0.
    let out = d.ctr_raw(&["images", "rm", name]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn leases_create_list_remove() {
    let d = Daemon::start();
    d.ctr(&["leases", "create", "--id", "l1", "--expires", "1h", "k=v"]);
    let ls = d.ctr(&["leases", "ls"]);
    let line = ls
        .lines()
        .find(|l| l.starts_with("l1 "))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(
        line.contains("k=v") && line.contains("containerd.io/gc.expire="),
        "{line}"
    );
    let err = d.ctr_fail(&["leases", "create", "--id", "l1"]);
    assert!(err.contains("already exists"), "{err}");
    let ls = d.ctr(&["leases", "ls", "-q", "id==l1"]);
    assert_eq!(ls.trim(), "l1");
    d.ctr(&["leases", "rm", "l1"]);
    assert_eq!(d.ctr(&["leases", "ls", "-q"]).trim(), "");
    let err = d.ctr_fail(&["leases", "rm", "l1"]);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn events_while_working() {
    let d = Daemon::start();
    let mut ev = std::process::Command::new(common::CTR)
        .arg("--address")
        .arg(&d.sock)
        .arg("events")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let the subscription reach the daemon before the first event.
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.ctr(&["namespaces", "create", "evns"]);
    d.ctr(&["namespaces", "label", "evns", "a=b"]);
    d.ctr(&["namespaces", "rm", "evns"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = ev.kill();
    let out = ev.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let topics: Vec<&str> = [
        "/namespaces/create",
        "/namespaces/update",
        "/namespaces/delete",
    ]
    .into_iter()
    .filter(|t| out.contains(t))
    .collect();
    assert_eq!(topics.len(), 3, "events seen:\n{out}");
    let c = out.find("/namespaces/create").unwrap();
    let r = out.find("/namespaces/delete").unwrap();
    assert!(c < r, "events out of order:\n{out}");
    if !is_containerd() {
        assert!(out.contains("evns"), "{out}");
    }
}

/// gantryd alone: containerd's flags instead of a config file, and `config default`.
#[test]
fn gantryd_flags_and_default_config() {
    if is_containerd() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_gantryd");
    let out = std::process::Command::new(bin)
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "root = \"/var/lib/gantry\"",
        "state = \"/run/gantry\"",
        "address = \"/run/gantry/gantryd.sock\"",
        "[plugins.\"io.containerd.gc.v1.scheduler\"]",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("flags.sock");
    let mut child = std::process::Command::new(bin)
        .arg("--root")
        .arg(dir.path().join("r"))
        .arg("--state")
        .arg(dir.path().join("s"))
        .arg("-a")
        .arg(&sock)
        .args(["-l", "debug"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut ok = false;
    while std::time::Instant::now() < deadline {
        let out = std::process::Command::new(common::CTR)
            .arg("-a")
            .arg(&sock)
            .arg("version")
            .output()
            .unwrap();
        if out.status.success() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(ok, "gantryd did not serve on {}", sock.display());
    assert!(status.success(), "exit on SIGINT: {status}");
    assert!(!sock.exists(), "socket left behind after shutdown");
    assert!(dir
        .path()
        .join("r/io.containerd.metadata.v1.redb/meta.redb")
        .exists());
}

/// ctr 1.6 has no `fetch-blob`: `content fetch REMOTE@DIGEST` is how it fetches one blob
/// (the resolver finds it under /blobs/, it has no children) into the content store, over
/// the Write API under a temporary lease. `fetch-object` only prints it.
#[test]
fn content_fetch_blob_from_a_local_registry() {
    let reg = Registry::start();
    let d = Daemon::start();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let dgst = reg.push_blob("gantry/blobs", &data);
    let remote = reg.reference("gantry/blobs", &dgst);

    let printed = d.ctr_raw(&["content", "fetch-object", "--plain-http", &remote]);
    assert!(printed.status.success(), "{}", reg.log());
    assert_eq!(printed.stdout, data);

    let out = d.ctr(&["-n", "fetch", "content", "fetch", "--plain-http", &remote]);
    assert!(out.contains("done"), "{out}");
    let ls = d.ctr(&["-n", "fetch", "content", "ls"]);
    let line = ls
        .lines()
        .find(|l| l.starts_with(&dgst))
        .unwrap_or_else(|| panic!("{dgst} not listed after fetch:\n{ls}"));
    assert!(line.contains("300kB"), "{line}");
    // The distribution source label the fetch handler sets.
    assert!(
        line.contains("containerd.io/distribution.source.127.0.0.1"),
        "{line}"
    );
    let got = d.ctr_raw(&["-n", "fetch", "content", "get", &dgst]);
    assert!(got.status.success());
    assert_eq!(got.stdout, data);
    // The ingest is gone and so is ctr's temporary lease.
    assert!(!d
        .ctr(&["-n", "fetch", "content", "active"])
        .contains(&dgst[7..19]));
    assert_eq!(d.ctr(&["-n", "fetch", "leases", "ls", "-q"]).trim(), "");
    // Fetching it again finds it present.
    d.ctr(&["-n", "fetch", "content", "fetch", "--plain-http", &remote]);
    // A blob the registry lacks fails cleanly and leaves nothing behind.
    let missing = reg.reference("gantry/blobs", &sha256(b"not pushed"));
    let err = d.ctr_fail(&["-n", "fetch", "content", "fetch", "--plain-http", &missing]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(
        d.ctr(&["-n", "fetch", "content", "ls", "-q"]).trim(),
        dgst.as_str()
    );
}
