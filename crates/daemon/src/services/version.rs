//! containerd.services.version.v1.Version: the daemon's version.

use gantry_api::services::version::v1::version_server::Version;
use gantry_api::services::version::v1::VersionResponse;
use tonic::{Request, Response, Status};

pub struct VersionService;

#[tonic::async_trait]
impl Version for VersionService {
    async fn version(&self, _: Request<()>) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: concat!("v", env!("CARGO_PKG_VERSION"), "-gantry").to_string(),
            revision: "gantryd".to_string(),
        }))
    }
}
