//! Task.Checkpoint's request turned into what the backends need: the image path from
//! the request, criu's options from `containerd.runc.v1.CheckpointOptions` when the
//! caller sent them (as the stock runc shim reads them), and the Create options' criu
//! settings (CriuPath, CriuImagePath, CriuWorkPath) as defaults; and the same for a
//! restore at Start.

use crate::backend::CheckpointSpec;
use crate::proto::{CheckpointOptions, CheckpointTaskRequest, RuncOptions};
use prost::Message;
use std::path::{Path, PathBuf};

/// criu's work directory: the one asked for, else the Create options', else
/// `<bundle>/criu-work` (as the stock shim does), so that criu's log and scratch files
/// stay out of the images containerd imports.
fn work_path(asked: &str, create: &RuncOptions, bundle: &Path) -> PathBuf {
    [asked, create.criu_work_path.as_str()]
        .into_iter()
        .find(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| bundle.join("criu-work"))
}

fn criu(create: &RuncOptions) -> Option<PathBuf> {
    (!create.criu_path.is_empty()).then(|| PathBuf::from(&create.criu_path))
}

/// What Start restores for a Create with `checkpoint` (the unpacked images).
pub fn restore_spec(images: &str, create: &RuncOptions, bundle: &Path) -> CheckpointSpec {
    CheckpointSpec {
        image_path: PathBuf::from(images),
        work_path: Some(work_path("", create, bundle)),
        criu: criu(create),
        ..Default::default()
    }
}

/// The spec for `req` on a container created with `create` in `bundle`.
pub fn spec(
    req: &CheckpointTaskRequest,
    create: &RuncOptions,
    bundle: &Path,
) -> Result<CheckpointSpec, String> {
    let mut opts = CheckpointOptions::default();
    if let Some(any) = &req.options {
        if any
            .type_url
            .ends_with("containerd.runc.v1.CheckpointOptions")
        {
            opts = CheckpointOptions::decode(any.value.as_slice())
                .map_err(|e| format!("decoding checkpoint options: {e}"))?;
        } else if !any.type_url.is_empty() {
            return Err(format!(
                "checkpoint options of type {:?} are not understood (want containerd.runc.v1.CheckpointOptions)",
                any.type_url
            ));
        }
    }
    let image = [&req.path, &opts.image_path, &create.criu_image_path]
        .into_iter()
        .find(|p| !p.is_empty())
        .cloned()
        .unwrap_or_default();
    if image.is_empty() {
        return Err(format!(
            "checkpoint of container {}: no image path in the request",
            req.id
        ));
    }
    Ok(CheckpointSpec {
        image_path: PathBuf::from(image),
        work_path: Some(work_path(&opts.work_path, create, bundle)),
        exit: opts.exit,
        tcp_established: opts.open_tcp,
        ext_unix_sk: opts.external_unix_sockets,
        shell_job: opts.terminal,
        file_locks: opts.file_locks,
        empty_namespaces: opts.empty_namespaces,
        cgroups_mode: (!opts.cgroups_mode.is_empty()).then_some(opts.cgroups_mode),
        criu: criu(create),
    })
}

#[cfg(test)]
mod tests {
    use super::{restore_spec, spec};
    use crate::proto::{Any, CheckpointOptions, CheckpointTaskRequest, RuncOptions};
    use prost::Message;
    use std::path::Path;

    fn request(options: Option<Any>) -> CheckpointTaskRequest {
        CheckpointTaskRequest {
            id: "c1".into(),
            path: "/img".into(),
            options,
        }
    }

    #[test]
    fn runc_options_are_read() {
        let o = CheckpointOptions {
            exit: true,
            open_tcp: true,
            file_locks: true,
            cgroups_mode: "soft".into(),
            work_path: "/work".into(),
            ..CheckpointOptions::default()
        };
        let any = Any {
            type_url: "containerd.runc.v1.CheckpointOptions".into(),
            value: o.encode_to_vec(),
        };
        let s = spec(
            &request(Some(any)),
            &RuncOptions::default(),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(s.image_path, Path::new("/img"));
        assert_eq!(s.work_path.as_deref(), Some(Path::new("/work")));
        assert!(s.exit && s.tcp_established && s.file_locks);
        assert!(!s.ext_unix_sk && !s.shell_job);
        assert_eq!(s.cgroups_mode.as_deref(), Some("soft"));
    }

    #[test]
    fn defaults_leave_running_and_work_in_the_bundle() {
        let s = spec(&request(None), &RuncOptions::default(), Path::new("/b")).unwrap();
        assert!(!s.exit);
        assert_eq!(s.work_path.as_deref(), Some(Path::new("/b/criu-work")));
        assert_eq!(s.cgroups_mode, None);
    }

    #[test]
    fn unknown_option_types_and_missing_paths_are_refused() {
        let any = Any {
            type_url: "example.Other".into(),
            value: Vec::new(),
        };
        let e = spec(
            &request(Some(any)),
            &RuncOptions::default(),
            Path::new("/b"),
        )
        .unwrap_err();
        assert!(e.contains("example.Other"), "{e}");
        let mut r = request(None);
        r.path.clear();
        let e = spec(&r, &RuncOptions::default(), Path::new("/b")).unwrap_err();
        assert!(e.contains("no image path"), "{e}");
    }

    #[test]
    fn create_options_are_the_defaults() {
        let create = RuncOptions {
            criu_path: "/opt/criu".into(),
            criu_image_path: "/images".into(),
            criu_work_path: "/work".into(),
            ..RuncOptions::default()
        };
        let mut r = request(None);
        r.path.clear();
        let s = spec(&r, &create, Path::new("/b")).unwrap();
        assert_eq!(s.image_path, Path::new("/images"));
        assert_eq!(s.work_path.as_deref(), Some(Path::new("/work")));
        assert_eq!(s.criu.as_deref(), Some(Path::new("/opt/criu")));
        let s = spec(&request(None), &create, Path::new("/b")).unwrap();
        assert_eq!(s.image_path, Path::new("/img"));
        let s = restore_spec("/ck", &create, Path::new("/b"));
        assert_eq!(s.image_path, Path::new("/ck"));
        assert_eq!(s.work_path.as_deref(), Some(Path::new("/work")));
    }
}
