//! containerd.services.namespaces.v1.Namespaces.

use gantry_api::containerd::events::{NamespaceCreate, NamespaceDelete, NamespaceUpdate};
use gantry_api::services::namespaces::v1::namespaces_server::Namespaces;
use gantry_api::services::namespaces::v1::*;
use gantry_store::namespaces::Namespace as StoreNs;
use tonic::{Request, Response, Status};

use super::Deps;
use crate::convert::{btree, hash, paths};
use crate::errors::blocking;
use crate::exchange::any;

pub struct NamespacesService(pub Deps);

fn to_proto(n: StoreNs) -> Namespace {
    Namespace {
        name: n.name,
        labels: hash(n.labels),
    }
}

fn from_proto(n: Option<Namespace>) -> Result<StoreNs, Status> {
    let n = n.ok_or_else(|| Status::invalid_argument("namespace must be set"))?;
    Ok(StoreNs {
        name: n.name,
        labels: btree(n.labels),
    })
}

#[tonic::async_trait]
impl Namespaces for NamespacesService {
    async fn get(
        &self,
        req: Request<GetNamespaceRequest>,
    ) -> Result<Response<GetNamespaceResponse>, Status> {
        let s = self.0.store.clone();
        let name = req.into_inner().name;
        // containerd answers an unknown namespace with that name and no labels, not NotFound.
        let n = blocking(move || match s.namespace_get(&name) {
            Err(gantry_store::Error::NotFound(_)) => Ok(StoreNs {
                name,
                labels: Default::default(),
            }),
            other => other,
        })
        .await?;
        Ok(Response::new(GetNamespaceResponse {
            namespace: Some(to_proto(n)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListNamespacesRequest>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        let filter = super::filters(
            &[req.into_inner().filter]
                .into_iter()
                .filter(|f| !f.is_empty())
                .collect::<Vec<_>>(),
        )?;
        let s = self.0.store.clone();
        let all = blocking(move || s.namespace_list()).await?;
        let namespaces = all
            .into_iter()
            .filter(|n| filter.matches(&NsAdaptor(n)))
            .map(to_proto)
            .collect();
        Ok(Response::new(ListNamespacesResponse { namespaces }))
    }

    async fn create(
        &self,
        req: Request<CreateNamespaceRequest>,
    ) -> Result<Response<CreateNamespaceResponse>, Status> {
        let n = from_proto(req.into_inner().namespace)?;
        let s = self.0.store.clone();
        let n = blocking(move || s.namespace_create(&n)).await?;
        self.0.exchange.publish(
            &n.name,
            "/namespaces/create",
            any(&NamespaceCreate {
                name: n.name.clone(),
                labels: hash(n.labels.clone()),
            }),
        );
        Ok(Response::new(CreateNamespaceResponse {
            namespace: Some(to_proto(n)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateNamespaceRequest>,
    ) -> Result<Response<UpdateNamespaceResponse>, Status> {
        let r = req.into_inner();
        let n = from_proto(r.namespace)?;
        let p = paths(r.update_mask);
        let s = self.0.store.clone();
        let n = blocking(move || s.namespace_update(&n, &p)).await?;
        self.0.exchange.publish(
            &n.name,
            "/namespaces/update",
            any(&NamespaceUpdate {
                name: n.name.clone(),
                labels: hash(n.labels.clone()),
            }),
        );
        Ok(Response::new(UpdateNamespaceResponse {
            namespace: Some(to_proto(n)),
        }))
    }

    async fn delete(&self, req: Request<DeleteNamespaceRequest>) -> Result<Response<()>, Status> {
        let name = req.into_inner().name;
        let s = self.0.store.clone();
        let n = name.clone();
        blocking(move || s.namespace_delete(&n)).await?;
        self.0.exchange.publish(
            &name,
            "/namespaces/delete",
            any(&NamespaceDelete { name: name.clone() }),
        );
        Ok(Response::new(()))
    }
}

struct NsAdaptor<'a>(&'a StoreNs);

impl gantry_store::filters::Adaptor for NsAdaptor<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("name") => Some(self.0.name.clone()),
            Some("labels") => gantry_store::filters::label_field(&self.0.labels, &path[1..]),
            _ => None,
        }
    }
}
