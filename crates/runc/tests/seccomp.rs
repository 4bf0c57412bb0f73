//! Until seccomp lands (next issue), a config with a `seccomp` section must fail clearly and
//! never run unfiltered. Gantry-specific: skipped when GANTRY_TEST_RUNTIME names another runtime.

#[macro_use]
mod common;
use common::*;

#[test]
fn seccomp_section_is_refused_not_ignored() {
    need_root!();
    let rt = rt();
    if !rt.is_gantry() {
        eprintln!(
            "skipped: {} supports seccomp; this checks gantry's refusal",
            rt.name()
        );
        return;
    }
    let id = unique_id("seccomp");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    let b = Bundle::new();
    b.writable()
        .sh("touch /ran; exec sleep 1000")
        .cgroups_path(&cg)
        .env(&mark)
        .config(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
            })
        });
    for out in [rt.create(&id, &b), rt.run(&id, &b)] {
        assert_clear_error(&rt, &out, &["seccomp"]);
        check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
    }
    assert!(
        !b.in_rootfs("ran").exists(),
        "the process ran without its seccomp filter"
    );
}
