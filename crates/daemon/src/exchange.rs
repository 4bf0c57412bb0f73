//! The events exchange: every event published in gantryd (or forwarded by a client) goes to
//! all subscribers in publication order.

use gantry_api::containerd::types::Envelope;
use gantry_api::prost::{Message, Name};
use gantry_api::prost_types::Any;
use tokio::sync::broadcast;

pub struct Exchange {
    tx: broadcast::Sender<Envelope>,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange {
            tx: broadcast::channel(1024).0,
        }
    }
}

/// Packs an event message as containerd's typeurl does (the bare protobuf full name).
pub fn any<M: Message + Name>(m: &M) -> Any {
    Any {
        type_url: M::full_name(),
        value: m.encode_to_vec(),
    }
}

impl Exchange {
    pub fn publish_envelope(&self, env: Envelope) {
        // No subscribers is not an error.
        let _ = self.tx.send(env);
    }

    pub fn publish(&self, namespace: &str, topic: &str, event: Any) {
        self.publish_envelope(Envelope {
            timestamp: crate::convert::ts(gantry_store::time::now()),
            namespace: namespace.to_string(),
            topic: topic.to_string(),
            event: Some(event),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.tx.subscribe()
    }
}

/// containerd's topic rule: `/`-separated identifiers, starting with `/`.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    let Some(rest) = topic.strip_prefix('/') else {
        return Err(format!("topic {topic:?} must start with '/'"));
    };
    if rest.is_empty() || rest.split('/').any(|p| p.is_empty()) {
        return Err(format!("topic {topic:?} has an empty component"));
    }
    Ok(())
}
