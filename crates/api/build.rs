//! Generates containerd's gRPC API from the protos that the crates.io package
//! `containerd-client` ships in its `vendor/` directory (located through `cargo metadata`,
//! so no .proto file is copied into this repository).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The containerd protos gantryd serves or sends, relative to `vendor/`.
const PROTOS: &[&str] = &[
    "types/descriptor.proto",
    "types/platform.proto",
    "types/mount.proto",
    "types/event.proto",
    "types/fieldpath.proto",
    "types/introspection.proto",
    "services/version/v1/version.proto",
    "services/namespaces/v1/namespace.proto",
    "services/introspection/v1/introspection.proto",
    "services/content/v1/content.proto",
    "services/images/v1/images.proto",
    "services/leases/v1/leases.proto",
    "services/events/v1/events.proto",
    "services/containers/v1/containers.proto",
    "events/namespace.proto",
    "events/image.proto",
    "events/content.proto",
    "events/container.proto",
];

const PROTO_PREFIX: &str = "github.com/containerd/containerd/api";

fn main() {
    let vendor = containerd_client_vendor_dir();
    let files: Vec<PathBuf> = PROTOS
        .iter()
        .map(|p| vendor.join(PROTO_PREFIX).join(p))
        .collect();
    let mut config = tonic_prost_build::Config::new();
    config.protoc_arg("--experimental_allow_proto3_optional");
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, &files, std::slice::from_ref(&vendor))
        .unwrap_or_else(|e| {
            panic!(
                "generating containerd protos from {}: {e}",
                vendor.display()
            )
        });
    println!("cargo:rerun-if-changed=build.rs");
}

/// Finds `vendor/` of the `containerd-client` package in this workspace's resolve.
fn containerd_client_vendor_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
        .join("Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("running cargo metadata to locate containerd-client");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("parsing cargo metadata output");
    let packages = meta["packages"]
        .as_array()
        .expect("cargo metadata packages");
    let pkg = packages
        .iter()
        .find(|p| p["name"] == "containerd-client")
        .expect("containerd-client is not in the dependency graph of gantry-api");
    let manifest_path = PathBuf::from(pkg["manifest_path"].as_str().expect("manifest_path"));
    let vendor = manifest_path.parent().expect("package dir").join("vendor");
    assert!(
        vendor.join(PROTO_PREFIX).is_dir(),
        "{} holds no containerd protos",
        vendor.display()
    );
    vendor
}
