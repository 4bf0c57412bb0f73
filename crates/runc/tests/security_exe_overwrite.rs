//! CVE-2019-5736: a container must never be able to overwrite the runtime's binary through
//! `/proc/PID/exe` of a runtime process (the init before `start`, an `exec` child, or the
//! runtime binary itself executed inside the container through a `#!/proc/self/exe`
//! interpreter). The attacker in the container takes a descriptor of the binary, waits until
//! no process runs it any more (no ETXTBSY) and reopens it for writing through
//! `/proc/self/fd/3`. Each test runs a private copy of the runtime, so a vulnerable runtime
//! only corrupts that copy; the verdict is whether the copy changed.

#[macro_use]
mod common;
mod security_common;

use common::*;
use security_common::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::Stdio;

/// In the container: take a descriptor of `/proc/$T/exe` (T in the environment), then try
/// for 5 s to append one byte to it through `/proc/self/fd/3`. Reports to /attack.
const ATTACK: &str = r#"
if ! (: </proc/$T/exe) 2>/attack.err; then echo "FAILED: no handle: $(cat /attack.err)" > /attack; exit 0; fi
exec 3</proc/$T/exe
echo "handle on $(readlink /proc/$T/exe)" > /handle
i=0
while [ $i -lt 250 ]; do
  if printf X 2>/attack.err >> /proc/self/fd/3; then echo WROTE > /attack; exit 0; fi
  i=$((i+1)); usleep 20000
done
echo "FAILED: $(cat /attack.err)" > /attack
"#;

fn bundle_for(id: &str, cg: &str, mark: &str) -> Bundle {
    let b = Bundle::new();
    b.writable()
        .args(&["sleep", "1000"])
        .cgroups_path(cg)
        .env(mark)
        .config(|c| {
            c["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!(format!("ID={id}")))
        });
    b
}

#[track_caller]
fn verdict(bin: &PrivateBinary, b: &Bundle) {
    let result = wait_for_content(&b.in_rootfs("attack"), T);
    let handle = read_trim(&b.in_rootfs("handle"));
    eprintln!("attacker: {handle:?} -> {result}");
    assert!(
        bin.intact(),
        "CVE-2019-5736: the container rewrote the runtime binary ({result})"
    );
    assert!(result.starts_with("FAILED"), "attack result: {result}");
}

/// The init between `create` and `start` is a runtime process inside the container.
#[test]
fn init_exe_cannot_be_rewritten_from_the_container() {
    need_root!();
    let rt = rt();
    let bin = PrivateBinary::of(&rt);
    let id = unique_id("sec-exe-init");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    let b = bundle_for(&id, &cg, &mark);
    bin.ok(&["create", "--bundle", b.path_str(), &id]);
    bin.ok(&["exec", "-d", "--env", "T=1", &id, "sh", "-c", ATTACK]);
    // The attacker holds its handle before the init stops being the runtime.
    wait_for_handle(&b);
    bin.ok(&["start", &id]);
    verdict(&bin, &b);
}

/// `exec` of a program whose interpreter is `/proc/self/exe` runs the runtime binary inside
/// the container. Its stderr is a full pipe, so it stays blocked (still the runtime binary)
/// while the attacker takes its handle.
#[test]
fn interpreter_proc_self_exe_cannot_rewrite_the_runtime() {
    need_root!();
    let rt = rt();
    let bin = PrivateBinary::of(&rt);
    let id = unique_id("sec-exe-shebang");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    let b = bundle_for(&id, &cg, &mark);
    install_libs_for(&bin.path, &b.rootfs());
    let evil = b.in_rootfs("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bin.ok(&["run", "-d", "--bundle", b.path_str(), &id]);

    let (rd, wr) = full_pipe();
    let mut victim = bin
        .command(&["exec", &id, "/evil"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(wr))
        .spawn()
        .expect("spawning exec /evil");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut ns_target = None;
    while ns_target.is_none() && std::time::Instant::now() < deadline {
        // Its pid inside the container (it may already be gone under other runtimes).
        ns_target = find_process(b"/proc/self/exe\0/evil\0").and_then(ns_pid);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let Some(target) = ns_target else {
        let _ = victim.kill();
        let _ = victim.wait();
        // runc 1.1 reports the in-container runc's usage error through its log pipe, not
        // stderr, so the full pipe does not hold it and the window cannot be observed.
        assert!(
            !rt.is_gantry(),
            "the runtime binary never showed up running /evil in the container"
        );
        eprintln!(
            "skipped under {}: the runtime binary run as /evil exits at once",
            rt.name()
        );
        return;
    };
    let t = format!("T={target}");
    bin.ok(&["exec", "-d", "--env", &t, &id, "sh", "-c", ATTACK]);
    wait_for_handle(&b);
    // Let the blocked runtime finish: from now on nothing runs the binary.
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::fs::File::from(rd).read_to_end(&mut sink);
    });
    let _ = victim.wait();
    verdict(&bin, &b);
    bin.run(&["delete", "--force", &id]);
    let _ = drain.join();
}

/// Waits until the attacker holds its descriptor (or reported that it could not get one).
fn wait_for_handle(b: &Bundle) {
    wait_until(T, "the attacker's handle on the binary", || {
        b.in_rootfs("handle").exists() || b.in_rootfs("attack").exists()
    });
}

/// A pipe whose buffer is already full, so the next write to it blocks.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let fl = nix::fcntl::fcntl(&wr, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    let nonblock = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&wr, nix::fcntl::FcntlArg::F_SETFL(nonblock)).unwrap();
    let chunk = [b'.'; 4096];
    while nix::unistd::write(&wr, &chunk).is_ok() {}
    // Fill the last partial page byte by byte.
    while nix::unistd::write(&wr, b".").is_ok() {}
    let blocking = nonblock - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&wr, nix::fcntl::FcntlArg::F_SETFL(blocking)).unwrap();
    (rd, wr)
}
