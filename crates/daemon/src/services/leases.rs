//! containerd.services.leases.v1.Leases: holds on resources against garbage collection.

use gantry_api::services::leases::v1::leases_server::Leases;
use gantry_api::services::leases::v1::*;
use gantry_store::leases::{Lease as StoreLease, Resource as StoreRes};
use tonic::{Request, Response, Status};

use super::Deps;
use crate::convert::{btree, hash, ts};
use crate::errors::{blocking, namespace};

pub struct LeasesService(pub Deps);

fn to_proto(l: StoreLease) -> Lease {
    Lease {
        id: l.id,
        created_at: ts(l.created_at),
        labels: hash(l.labels),
    }
}

fn res(r: Option<Resource>) -> Result<StoreRes, Status> {
    let r = r.ok_or_else(|| Status::invalid_argument("resource must be set"))?;
    Ok(StoreRes {
        id: r.id,
        r#type: r.r#type,
    })
}

/// A lease id in the form containerd generates: `<nanoseconds>-<4 random characters>`.
fn generate_id() -> Result<String, Status> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Status::internal(format!("reading /dev/urandom for a lease id: {e}")))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let suffix: String = b
        .iter()
        .map(|x| ALPHABET[(*x & 63) as usize] as char)
        .collect();
    Ok(format!("{nanos}-{suffix}"))
}

#[tonic::async_trait]
impl Leases for LeasesService {
    async fn create(
        &self,
        req: Request<CreateRequest>,
    ) -> Result<Response<CreateResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let id = if r.id.is_empty() {
            generate_id()?
        } else {
            r.id
        };
        let s = self.0.store.clone();
        let l = blocking(move || s.lease_create(&ns, &id, &btree(r.labels))).await?;
        Ok(Response::new(CreateResponse {
            lease: Some(to_proto(l)),
        }))
    }

    async fn delete(&self, req: Request<DeleteRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let s = self.0.store.clone();
        blocking(move || s.lease_delete(&ns, &r.id)).await?;
        if r.sync {
            self.0.gc.collect_now().await?;
        }
        Ok(Response::new(()))
    }

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = super::filters(&req.into_inner().filters)?;
        let s = self.0.store.clone();
        let all = blocking(move || s.lease_list(&ns, &filter)).await?;
        Ok(Response::new(ListResponse {
            leases: all.into_iter().map(to_proto).collect(),
        }))
    }

    async fn add_resource(&self, req: Request<AddResourceRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let rs = res(r.resource)?;
        let s = self.0.store.clone();
        blocking(move || s.lease_add_resource(&ns, &r.id, &rs)).await?;
        Ok(Response::new(()))
    }

    async fn delete_resource(
        &self,
        req: Request<DeleteResourceRequest>,
    ) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let rs = res(r.resource)?;
        let s = self.0.store.clone();
        blocking(move || s.lease_delete_resource(&ns, &r.id, &rs)).await?;
        Ok(Response::new(()))
    }

    async fn list_resources(
        &self,
        req: Request<ListResourcesRequest>,
    ) -> Result<Response<ListResourcesResponse>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().id;
        let s = self.0.store.clone();
        let all = blocking(move || s.lease_list_resources(&ns, &id)).await?;
        Ok(Response::new(ListResourcesResponse {
            resources: all
                .into_iter()
                .map(|r| Resource {
                    id: r.id,
                    r#type: r.r#type,
                })
                .collect(),
        }))
    }
}
