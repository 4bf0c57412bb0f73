//! containerd.services.images.v1.Images: named references to content, with synchronous
//! delete (garbage collection before the reply) on request.

use gantry_api::containerd::types::Descriptor;
use gantry_api::services::images::v1::images_server::Images;
use gantry_api::services::images::v1::*;
use gantry_store::images::{Descriptor as StoreDesc, Image as StoreImage};
use tonic::{Request, Response, Status};

use super::Deps;
use crate::convert::{btree, hash, paths, ts};
use crate::errors::{blocking, namespace};
use crate::exchange::any;

pub struct ImagesService(pub Deps);

fn to_proto(i: StoreImage) -> Image {
    Image {
        name: i.name,
        labels: hash(i.labels),
        target: Some(Descriptor {
            media_type: i.target.media_type,
            digest: i.target.digest,
            size: i.target.size,
            annotations: hash(i.target.annotations),
        }),
        created_at: ts(i.created_at),
        updated_at: ts(i.updated_at),
    }
}

fn from_proto(i: Option<Image>) -> Result<StoreImage, Status> {
    let i = i.ok_or_else(|| Status::invalid_argument("image must be set"))?;
    let t = i.target.unwrap_or_default();
    Ok(StoreImage {
        name: i.name,
        labels: btree(i.labels),
        target: StoreDesc {
            media_type: t.media_type,
            digest: t.digest,
            size: t.size,
            annotations: btree(t.annotations),
        },
        created_at: 0,
        updated_at: 0,
    })
}

#[tonic::async_trait]
impl Images for ImagesService {
    async fn get(
        &self,
        req: Request<GetImageRequest>,
    ) -> Result<Response<GetImageResponse>, Status> {
        let ns = namespace(&req)?;
        let name = req.into_inner().name;
        let s = self.0.store.clone();
        let i = blocking(move || s.image_get(&ns, &name)).await?;
        Ok(Response::new(GetImageResponse {
            image: Some(to_proto(i)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = super::filters(&req.into_inner().filters)?;
        let s = self.0.store.clone();
        let all = blocking(move || s.image_list(&ns, &filter)).await?;
        Ok(Response::new(ListImagesResponse {
            images: all.into_iter().map(to_proto).collect(),
        }))
    }

    async fn create(
        &self,
        req: Request<CreateImageRequest>,
    ) -> Result<Response<CreateImageResponse>, Status> {
        let ns = namespace(&req)?;
        let img = from_proto(req.into_inner().image)?;
        let s = self.0.store.clone();
        let n = ns.clone();
        let i = blocking(move || s.image_create(&n, &img)).await?;
        self.0.exchange.publish(
            &ns,
            "/images/create",
            any(&ImageCreate {
                name: i.name.clone(),
                labels: hash(i.labels.clone()),
            }),
        );
        Ok(Response::new(CreateImageResponse {
            image: Some(to_proto(i)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateImageRequest>,
    ) -> Result<Response<UpdateImageResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let img = from_proto(r.image)?;
        let p = paths(r.update_mask);
        let s = self.0.store.clone();
        let n = ns.clone();
        let i = blocking(move || s.image_update(&n, &img, &p)).await?;
        self.0.exchange.publish(
            &ns,
            "/images/update",
            any(&ImageUpdate {
                name: i.name.clone(),
                labels: hash(i.labels.clone()),
            }),
        );
        Ok(Response::new(UpdateImageResponse {
            image: Some(to_proto(i)),
        }))
    }

    async fn delete(&self, req: Request<DeleteImageRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let s = self.0.store.clone();
        let (n, name) = (ns.clone(), r.name.clone());
        blocking(move || s.image_delete(&n, &name)).await?;
        self.0
            .exchange
            .publish(&ns, "/images/delete", any(&ImageDelete { name: r.name }));
        if r.sync {
            self.0.gc.collect_now().await?;
        }
        Ok(Response::new(()))
    }
}
