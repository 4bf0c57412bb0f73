//! Compile-step tests: bad input gives one error naming the field, the
//! spec's knobs reach the program, and a compiled program really filters
//! (loaded in a forked child with no_new_privs, so no root is needed).

use super::kernel::{FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_TSYNC_ESRCH};
use super::*;
use crate::process::sync;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

fn parse(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid seccomp JSON")
}

fn compile_err(v: Value) -> String {
    compile(&parse(v), true).unwrap_err().to_string()
}

fn config(seccomp: Value) -> Value {
    json!({ "linux": { "seccomp": seccomp } })
}

#[test]
fn unknown_names_are_reported_with_their_field() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_BOGUS"}),
            "linux.seccomp.defaultAction",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]}),
            "linux.seccomp.architectures[1]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
            "linux.seccomp.flags[0]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir"], "action": "SCMP_ACT_EXPLODE"}
            ]}),
            "linux.seccomp.syscalls[1].action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}
            ]}),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
    ];
    for (s, field) in cases {
        let e = check_json(&config(s.clone())).unwrap_err().to_string();
        assert!(e.contains(field), "{e:?} should name {field}");
        assert_eq!(e.lines().count(), 1, "one line: {e:?}");
        // The bad value itself is named too.
        let bad = ["BOGUS", "VAX", "FAST", "EXPLODE", "ROUGHLY"];
        assert!(bad.iter().any(|b| e.contains(b)), "{e:?} names the value");
    }
    check_json(&config(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]})))
    .unwrap();
    check_json(&json!({"linux": {}})).unwrap();
}

#[test]
fn bad_values_are_reported_with_their_field() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
            "syscalls[0].action: errnoRet 70000",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "syscalls[0].args[0].index",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "listenerPath",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}),
            "defaultAction: SCMP_ACT_NOTIFY",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
                {"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
            "syscalls[0]: SCMP_ACT_NOTIFY cannot be used for write",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}]}),
            "syscalls[0].names: empty syscall name",
        ),
    ];
    for (s, want) in cases {
        let e = compile_err(s);
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        assert!(e.contains("linux.seccomp."), "{e:?} names the section");
    }
}

#[test]
fn unknown_syscall_names_are_skipped_like_runc() {
    let with = compile(
        &parse(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "no_such_syscall_2099"], "action": "SCMP_ACT_ERRNO"}]})),
        true,
    )
    .unwrap();
    let without = compile(
        &parse(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})),
        true,
    )
    .unwrap();
    assert_eq!(with.filter.len(), without.filter.len());
    assert!(!with.is_empty());
}

#[test]
fn rules_architectures_and_redundant_rules_shape_the_program() {
    let base = |extra: Value| {
        let mut v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        compile(&parse(v), true).unwrap().len()
    };
    let plain = base(json!({}));
    let more_arches = base(json!({"architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}));
    assert!(more_arches > plain, "{more_arches} > {plain}");
    let empty = compile(&parse(json!({"defaultAction": "SCMP_ACT_ALLOW"})), true).unwrap();
    let redundant = compile(
        &parse(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]})),
        true,
    )
    .unwrap();
    assert_eq!(
        empty.len(),
        redundant.len(),
        "a rule repeating the default adds nothing"
    );
    assert!(plain > empty.len());
}

#[test]
fn flags_follow_the_spec() {
    let flags = |v: Value| compile(&parse(v), true).unwrap().flags();
    let absent = flags(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    if kernel::flag_supported(FLAG_SPEC_ALLOW) {
        assert_eq!(
            absent, FLAG_SPEC_ALLOW,
            "runc's default when flags is absent"
        );
    }
    assert_eq!(
        flags(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": []})),
        0
    );
    assert_eq!(
        flags(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]})),
        FLAG_TSYNC
    );
    let notify = compile(
        &parse(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        ),
        true,
    )
    .unwrap();
    assert!(notify.notifies());
    assert_eq!(
        notify.flags(),
        FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH
    );
    if kernel::flag_supported(kernel::FLAG_WAIT_KILLABLE_RECV) {
        let no_listener = flags(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}));
        assert_eq!(no_listener, 0, "meaningless without a listener, so dropped");
    }
}

#[test]
fn features_list_what_this_host_supports() {
    let f = features();
    assert_eq!(f["enabled"], true);
    let has = |key: &str, v: &str| {
        f[key]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str() == Some(v))
    };
    for a in ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"] {
        assert!(has("actions", a), "{a}: {f}");
    }
    assert!(has("operators", "SCMP_CMP_MASKED_EQ"));
    assert!(has("knownFlags", "SECCOMP_FILTER_FLAG_LOG"));
    #[cfg(target_arch = "x86_64")]
    assert!(has("archs", "SCMP_ARCH_X86_64") && has("archs", "SCMP_ARCH_X86"));
    assert!(!has("archs", "SCMP_ARCH_NATIVE"));
}

/// Loads `seccomp` in a forked child (no_new_privs, so unprivileged), runs
/// `probe` there and returns its result, or -signal if the child was killed.
fn in_filtered_child(seccomp: Value, probe: fn() -> i32) -> i32 {
    let program = compile(&parse(seccomp), true).unwrap();
    let (_parent, child) = sync::pair().unwrap();
    // SAFETY: the child only makes raw syscalls and leaves with _exit; it
    // never touches locks another test thread could hold.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        let code = match program.load_at(Point::BeforeExec, &child) {
            Ok(()) => probe(),
            Err(_) => 200,
        };
        // SAFETY: leave the forked copy without running the test harness's
        // exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child into a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// personality(0xffffffff) only queries: returns 0 or the errno.
fn query_personality() -> i32 {
    // SAFETY: 0xffffffff asks for the current persona without changing it.
    let r = unsafe { libc::personality(0xffff_ffff) };
    if r < 0 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(255)
    } else {
        0
    }
}

#[test]
fn a_compiled_program_filters_for_real() {
    let errno = |ret: u32, op: &str, value: u64| {
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": ret,
            "args": [{"index": 0, "value": value, "op": op}]}]})
    };
    assert_eq!(
        in_filtered_child(errno(42, "SCMP_CMP_EQ", 0xffff_ffff), query_personality),
        42
    );
    assert_eq!(
        in_filtered_child(errno(42, "SCMP_CMP_EQ", 8), query_personality),
        0,
        "a different argument is allowed"
    );
    assert_eq!(
        in_filtered_child(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
                "names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
            query_personality
        ),
        -libc::SIGSYS
    );
    assert_eq!(
        in_filtered_child(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [{
                "names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"}]}),
            query_personality
        ),
        38,
        "defaultErrnoRet applies to everything not allowed"
    );
}

#[test]
fn the_state_dir_cache_round_trips_and_falls_back() {
    let s = parse(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
        "listenerMetadata": "m", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                     {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let p = compile(&s, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    p.save(dir.path()).unwrap();
    let back = for_exec(dir.path(), &s, true).unwrap();
    let insns = |p: &Program| -> Vec<(u16, u8, u8, u32)> {
        p.filter.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    };
    assert_eq!(insns(&back), insns(&p));
    assert_eq!(back.flags(), p.flags());
    assert!(
        back.no_new_privs,
        "the exec'd process's own noNewPrivileges"
    );
    let l = back.listener.as_ref().expect("listener");
    assert_eq!(l.path, std::path::Path::new("/run/agent.sock"));
    assert_eq!(l.metadata.as_deref(), Some("m"));
    // A torn or foreign file is not trusted: the program is compiled again.
    let file = dir.path().join("seccomp.bpf");
    let mut data = std::fs::read(&file).unwrap();
    data.truncate(data.len() - 3);
    std::fs::write(&file, &data).unwrap();
    assert_eq!(insns(&for_exec(dir.path(), &s, true).unwrap()), insns(&p));
    std::fs::write(&file, b"junk").unwrap();
    assert_eq!(insns(&for_exec(dir.path(), &s, true).unwrap()), insns(&p));
}

#[test]
fn feature_name_lists_are_runtime_specs_names() {
    for a in super::features::ARCH_NAMES {
        serde_json::from_value::<oci_spec::runtime::Arch>(json!(a)).expect(a);
    }
    for op in super::features::OPERATORS {
        serde_json::from_value::<oci_spec::runtime::LinuxSeccompOperator>(json!(op)).expect(op);
    }
    for (name, _) in kernel::ACTIONS {
        serde_json::from_value::<oci_spec::runtime::LinuxSeccompAction>(json!(name)).expect(name);
    }
    for (name, _) in kernel::FLAGS {
        serde_json::from_value::<oci_spec::runtime::LinuxSeccompFilterFlag>(json!(name))
            .expect(name);
    }
}
