//! containerd.services.containers.v1.Containers: container metadata (CRUD, field masks,
//! filters, labels, extensions, spec as Any).

use std::pin::Pin;

use gantry_api::containerd::events::{
    container_create, ContainerCreate, ContainerDelete, ContainerUpdate,
};
use gantry_api::prost_types::Any;
use gantry_api::services::containers::v1::containers_server::Containers;
use gantry_api::services::containers::v1::*;
use gantry_store::containers::{Container as StoreC, TypedBlob};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::Deps;
use crate::convert::{btree, hash, paths, ts};
use crate::errors::{blocking, namespace};
use crate::exchange::any;

pub struct ContainersService(pub Deps);

fn blob(a: Any) -> TypedBlob {
    TypedBlob {
        type_url: a.type_url,
        value: a.value,
    }
}

fn unblob(b: TypedBlob) -> Any {
    Any {
        type_url: b.type_url,
        value: b.value,
    }
}

fn to_proto(c: StoreC) -> Container {
    Container {
        id: c.id,
        labels: hash(c.labels),
        image: c.image,
        runtime: Some(container::Runtime {
            name: c.runtime_name,
            options: c.runtime_options.map(unblob),
        }),
        spec: c.spec.map(unblob),
        snapshotter: c.snapshotter,
        snapshot_key: c.snapshot_key,
        created_at: ts(c.created_at),
        updated_at: ts(c.updated_at),
        extensions: c
            .extensions
            .into_iter()
            .map(|(k, v)| (k, unblob(v)))
            .collect(),
        sandbox: c.sandbox,
    }
}

fn from_proto(c: Option<Container>) -> Result<StoreC, Status> {
    let c = c.ok_or_else(|| Status::invalid_argument("container must be set"))?;
    let rt = c.runtime.unwrap_or_default();
    Ok(StoreC {
        id: c.id,
        labels: btree(c.labels),
        image: c.image,
        runtime_name: rt.name,
        runtime_options: rt.options.map(blob),
        spec: c.spec.map(blob),
        snapshotter: c.snapshotter,
        snapshot_key: c.snapshot_key,
        created_at: 0,
        updated_at: 0,
        extensions: c
            .extensions
            .into_iter()
            .map(|(k, v)| (k, blob(v)))
            .collect(),
        sandbox: c.sandbox,
    })
}

#[tonic::async_trait]
impl Containers for ContainersService {
    async fn get(
        &self,
        req: Request<GetContainerRequest>,
    ) -> Result<Response<GetContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().id;
        let s = self.0.store.clone();
        let c = blocking(move || s.container_get(&ns, &id)).await?;
        Ok(Response::new(GetContainerResponse {
            container: Some(to_proto(c)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = super::filters(&req.into_inner().filters)?;
        let s = self.0.store.clone();
        let all = blocking(move || s.container_list(&ns, &filter)).await?;
        Ok(Response::new(ListContainersResponse {
            containers: all.into_iter().map(to_proto).collect(),
        }))
    }

    type ListStreamStream =
        Pin<Box<dyn Stream<Item = Result<ListContainerMessage, Status>> + Send>>;

    async fn list_stream(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<Self::ListStreamStream>, Status> {
        let ns = namespace(&req)?;
        let filter = super::filters(&req.into_inner().filters)?;
        let s = self.0.store.clone();
        let all = blocking(move || s.container_list(&ns, &filter)).await?;
        let msgs: Vec<Result<ListContainerMessage, Status>> = all
            .into_iter()
            .map(|c| {
                Ok(ListContainerMessage {
                    container: Some(to_proto(c)),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(msgs))))
    }

    async fn create(
        &self,
        req: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let c = from_proto(req.into_inner().container)?;
        let s = self.0.store.clone();
        let n = ns.clone();
        let c = blocking(move || s.container_create(&n, &c)).await?;
        self.0.exchange.publish(
            &ns,
            "/containers/create",
            any(&ContainerCreate {
                id: c.id.clone(),
                image: c.image.clone(),
                runtime: Some(container_create::Runtime {
                    name: c.runtime_name.clone(),
                    options: c.runtime_options.clone().map(unblob),
                }),
            }),
        );
        Ok(Response::new(CreateContainerResponse {
            container: Some(to_proto(c)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateContainerRequest>,
    ) -> Result<Response<UpdateContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let c = from_proto(r.container)?;
        let p = paths(r.update_mask);
        let s = self.0.store.clone();
        let n = ns.clone();
        let c = blocking(move || s.container_update(&n, &c, &p)).await?;
        self.0.exchange.publish(
            &ns,
            "/containers/update",
            any(&ContainerUpdate {
                id: c.id.clone(),
                image: c.image.clone(),
                labels: hash(c.labels.clone()),
                snapshot_key: c.snapshot_key.clone(),
            }),
        );
        Ok(Response::new(UpdateContainerResponse {
            container: Some(to_proto(c)),
        }))
    }

    async fn delete(&self, req: Request<DeleteContainerRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().id;
        let s = self.0.store.clone();
        let (n, i) = (ns.clone(), id.clone());
        blocking(move || s.container_delete(&n, &i)).await?;
        self.0
            .exchange
            .publish(&ns, "/containers/delete", any(&ContainerDelete { id }));
        Ok(Response::new(()))
    }
}
