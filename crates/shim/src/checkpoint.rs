//! Task.Checkpoint's request turned into what the backends need: the image path from
//! the request, criu's options from `containerd.runc.v1.CheckpointOptions` when the
//! caller sent them (as the stock runc shim reads them).

use crate::backend::CheckpointSpec;
use crate::proto::{CheckpointOptions, CheckpointTaskRequest};
use prost::Message;
use std::path::{Path, PathBuf};

/// The spec for `req` on a container whose bundle is `bundle`. Without a work path,
/// criu's log and scratch files go to `<bundle>/criu-work` (as the stock shim does) so
/// that they stay out of the images containerd imports.
pub fn spec(req: &CheckpointTaskRequest, bundle: &Path) -> Result<CheckpointSpec, String> {
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
    let image = if req.path.is_empty() {
        opts.image_path.clone()
    } else {
        req.path.clone()
    };
    if image.is_empty() {
        return Err(format!(
            "checkpoint of container {}: no image path in the request",
            req.id
        ));
    }
    let work = if opts.work_path.is_empty() {
        bundle.join("criu-work")
    } else {
        PathBuf::from(&opts.work_path)
    };
    Ok(CheckpointSpec {
        image_path: PathBuf::from(image),
        work_path: Some(work),
        exit: opts.exit,
        tcp_established: opts.open_tcp,
        ext_unix_sk: opts.external_unix_sockets,
        shell_job: opts.terminal,
        file_locks: opts.file_locks,
        empty_namespaces: opts.empty_namespaces,
        cgroups_mode: (!opts.cgroups_mode.is_empty()).then_some(opts.cgroups_mode),
        criu: None,
    })
}

#[cfg(test)]
mod tests {
    use super::spec;
    use crate::proto::{Any, CheckpointOptions, CheckpointTaskRequest};
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
        let s = spec(&request(Some(any)), Path::new("/b")).unwrap();
        assert_eq!(s.image_path, Path::new("/img"));
        assert_eq!(s.work_path.as_deref(), Some(Path::new("/work")));
        assert!(s.exit && s.tcp_established && s.file_locks);
        assert!(!s.ext_unix_sk && !s.shell_job);
        assert_eq!(s.cgroups_mode.as_deref(), Some("soft"));
    }

    #[test]
    fn defaults_leave_running_and_work_in_the_bundle() {
        let s = spec(&request(None), Path::new("/b")).unwrap();
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
        let e = spec(&request(Some(any)), Path::new("/b")).unwrap_err();
        assert!(e.contains("example.Other"), "{e}");
        let mut r = request(None);
        r.path.clear();
        let e = spec(&r, Path::new("/b")).unwrap_err();
        assert!(e.contains("no image path"), "{e}");
    }
}
