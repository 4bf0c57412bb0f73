//! Prometheus metrics at /v1/metrics on `metrics.address`, read with a plain HTTP GET on
//! loopback after driving the daemon with `ctr`. `GANTRY_TEST_DAEMON=containerd` checks the
//! gRPC series against containerd (which names them the same way).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{is_containerd, sha256, Daemon};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` over HTTP/1.1; returns the status code and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to metrics");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

/// The value of the first sample of `name` whose labels include every `labels` pair.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_grpc_content_and_gc() {
    let port = free_port();
    let d = Daemon::start_with(
        &format!("[metrics]\n  address = \"127.0.0.1:{port}\"\n"),
        false,
    );
    d.ctr(&["version"]);
    let data = vec![7u8; 150_000];
    let f = d.dir.path().join("blob");
    std::fs::write(&f, &data).unwrap();
    let out = d.ctr_stdin(&["content", "ingest", "m-ref"], &f);
    assert!(out.status.success());
    let dgst = sha256(&data);
    // Read it back, if the collector has not taken it yet (ctr's lease is gone).
    let _ = d.ctr_raw(&["content", "get", &dgst]);
    d.ctr_fail(&["content", "get", &sha256(b"absent")]);
    d.ctr(&["leases", "create", "--id", "m-lease"]);
    d.ctr(&["leases", "rm", "--sync", "m-lease"]);

    let (status, body) = get(port, "/v1/metrics");
    assert_eq!(status, 200, "{body}");
    let version = [
        ("grpc_service", "containerd.services.version.v1.Version"),
        ("grpc_method", "Version"),
    ];
    let mut handled = version.to_vec();
    handled.push(("grpc_code", "OK"));
    assert!(
        sample(&body, "grpc_server_handled_total", &handled).unwrap_or(0.0) >= 2.0,
        "{body}"
    );
    assert!(sample(&body, "grpc_server_started_total", &version).unwrap_or(0.0) >= 2.0);
    let info_missing = [
        ("grpc_service", "containerd.services.content.v1.Content"),
        ("grpc_method", "Info"),
        ("grpc_code", "NotFound"),
    ];
    assert!(
        sample(&body, "grpc_server_handled_total", &info_missing).unwrap_or(0.0) >= 1.0,
        "{body}"
    );
    if !is_containerd() {
        // containerd exports the latency histogram only with `metrics.grpc_histogram`.
        assert!(
            sample(&body, "grpc_server_handling_seconds_count", &version).unwrap_or(0.0) >= 2.0,
            "{body}"
        );
        assert!(
            sample(&body, "gantryd_content_ingested_bytes_total", &[]).unwrap() >= 150_000.0,
            "{body}"
        );
        // The synchronous lease delete ran a collection.
        assert!(sample(&body, "gantryd_gc_runs_total", &[]).unwrap() >= 1.0);
        assert!(sample(&body, "gantryd_gc_seconds_count", &[]).unwrap() >= 1.0);
        assert!(sample(&body, "gantryd_content_read_bytes_total", &[]).is_some());
        let (status, _) = get(port, "/nothing");
        assert_eq!(status, 404);
    }
}
