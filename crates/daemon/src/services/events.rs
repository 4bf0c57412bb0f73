//! containerd.services.events.v1.Events: publish, forward and filtered subscription.

use std::pin::Pin;
use std::sync::Arc;

use gantry_api::containerd::types::Envelope;
use gantry_api::services::events::v1::events_server::Events;
use gantry_api::services::events::v1::*;
use gantry_store::filters::{Adaptor, Filter};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::errors::namespace;
use crate::exchange::{validate_topic, Exchange};

pub struct EventsService(pub Arc<Exchange>);

struct Env<'a>(&'a Envelope);

impl Adaptor for Env<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("namespace") => Some(self.0.namespace.clone()),
            Some("topic") => Some(self.0.topic.clone()),
            Some("event") => self
                .0
                .event
                .as_ref()
                .and_then(|e| super::event_fields::field(e, &path[1..])),
            _ => None,
        }
    }
}

#[tonic::async_trait]
impl Events for EventsService {
    async fn publish(&self, req: Request<PublishRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        validate_topic(&r.topic).map_err(Status::invalid_argument)?;
        let ev = r
            .event
            .ok_or_else(|| Status::invalid_argument("event must be set"))?;
        self.0.publish(&ns, &r.topic, ev);
        Ok(Response::new(()))
    }

    async fn forward(&self, req: Request<ForwardRequest>) -> Result<Response<()>, Status> {
        let env = req
            .into_inner()
            .envelope
            .ok_or_else(|| Status::invalid_argument("envelope must be set"))?;
        validate_topic(&env.topic).map_err(Status::invalid_argument)?;
        gantry_store::namespaces::validate_identifier("namespace", &env.namespace)
            .map_err(crate::errors::to_status)?;
        self.0.publish_envelope(env);
        Ok(Response::new(()))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<Envelope, Status>> + Send>>;

    async fn subscribe(
        &self,
        req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let filter: Filter = super::filters(&req.into_inner().filters)?;
        let mut rx = self.0.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(env) => {
                        if filter.matches(&Env(&env)) && tx.send(Ok(env)).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::data_loss(format!(
                                "subscriber lagged, {n} events dropped"
                            ))))
                            .await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}
