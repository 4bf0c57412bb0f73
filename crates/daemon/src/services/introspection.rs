//! containerd.services.introspection.v1.Introspection: the real plugin registry and a server
//! uuid that persists across restarts.

use gantry_api::google::rpc::Status as RpcStatus;
use gantry_api::services::introspection::v1::introspection_server::Introspection;
use gantry_api::services::introspection::v1::{
    Plugin, PluginInfoRequest, PluginInfoResponse, PluginsRequest, PluginsResponse, ServerResponse,
};
use gantry_store::filters::{Adaptor, Filter};
use tonic::{Request, Response, Status};

use crate::plugin::{PluginInfo, PluginList};

pub struct IntrospectionService {
    pub plugins: PluginList,
    pub uuid: String,
}

impl Adaptor for PluginInfo {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("type") => Some(self.r#type.clone()),
            Some("id") => Some(self.id.clone()),
            Some("status") => Some(
                if self.init_err.is_some() {
                    "error"
                } else {
                    "ok"
                }
                .into(),
            ),
            _ => None,
        }
    }
}

/// Reads the uuid stored in `dir`, creating it on first start.
pub fn load_uuid(dir: &std::path::Path) -> Result<String, String> {
    gantry_store::db::mkdir_private(dir).map_err(|e| e.to_string())?;
    let path = dir.join("uuid");
    if let Ok(s) = std::fs::read_to_string(&path) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    let u = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map_err(|e| format!("generating a uuid: {e}"))?
        .trim()
        .to_string();
    let tmp = dir.join("uuid.tmp");
    std::fs::write(&tmp, &u).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(u)
}

#[tonic::async_trait]
impl Introspection for IntrospectionService {
    async fn plugins(
        &self,
        req: Request<PluginsRequest>,
    ) -> Result<Response<PluginsResponse>, Status> {
        let filter: Filter = super::filters(&req.into_inner().filters)?;
        let plugins = self
            .plugins
            .get()
            .map(|l| l.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|p| filter.matches(*p))
            .map(|p| Plugin {
                r#type: p.r#type.clone(),
                id: p.id.clone(),
                requires: p.requires.clone(),
                platforms: Vec::new(),
                exports: p.exports.clone().into_iter().collect(),
                capabilities: Vec::new(),
                init_err: p.init_err.as_ref().map(|e| RpcStatus {
                    code: tonic::Code::Unknown as i32,
                    message: e.clone(),
                    details: Vec::new(),
                }),
            })
            .collect();
        Ok(Response::new(PluginsResponse { plugins }))
    }

    async fn server(&self, _: Request<()>) -> Result<Response<ServerResponse>, Status> {
        Ok(Response::new(ServerResponse {
            uuid: self.uuid.clone(),
            pid: std::process::id() as u64,
            pidns: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .and_then(|l| {
                    let s = l.to_string_lossy().to_string();
                    s.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
                })
                .unwrap_or(0),
            deprecations: Vec::new(),
        }))
    }

    async fn plugin_info(
        &self,
        req: Request<PluginInfoRequest>,
    ) -> Result<Response<PluginInfoResponse>, Status> {
        let r = req.into_inner();
        Err(Status::unimplemented(format!(
            "plugin {}.{} offers no plugin info",
            r.r#type, r.id
        )))
    }
}
