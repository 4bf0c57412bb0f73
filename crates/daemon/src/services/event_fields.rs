//! Field paths into event payloads (`event.name`, `event.labels."a.b"`, `event.digest`), so
//! that Subscribe filters on `event.*` match as containerd's generated field adaptors do.
//! Only the event types gantryd itself knows are decoded; other payloads have no fields.

use std::collections::{BTreeMap, HashMap};

use gantry_api::containerd::events as ev;
use gantry_api::prost::{Message, Name};
use gantry_api::prost_types::Any;
use gantry_api::services::images::v1 as images;
use gantry_store::filters::label_field;

fn labels(l: &HashMap<String, String>, rest: &[String]) -> Option<String> {
    let b: BTreeMap<String, String> = l.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    label_field(&b, rest)
}

fn decode<M: Message + Name + Default>(a: &Any) -> Option<M> {
    let url = a.type_url.trim_start_matches('/');
    // containerd's typeurl uses the bare full name; a "type.googleapis.com/" prefix too.
    let name = url.rsplit('/').next().unwrap_or(url);
    (name == M::full_name())
        .then(|| M::decode(a.value.as_slice()).ok())
        .flatten()
}

/// The value at `path` (below `event`) of the payload `a`, if it has that field.
pub fn field(a: &Any, path: &[String]) -> Option<String> {
    let first = path.first()?.as_str();
    let rest = &path[1..];
    macro_rules! try_type {
        ($t:ty, |$m:ident| { $($name:literal => $val:expr),* $(,)? }) => {
            if let Some($m) = decode::<$t>(a) {
                return match first {
                    $($name => $val,)*
                    _ => None,
                };
            }
        };
    }
    try_type!(ev::NamespaceCreate, |m| { "name" => Some(m.name), "labels" => labels(&m.labels, rest) });
    try_type!(ev::NamespaceUpdate, |m| { "name" => Some(m.name), "labels" => labels(&m.labels, rest) });
    try_type!(ev::NamespaceDelete, |m| { "name" => Some(m.name) });
    try_type!(ev::ContentCreate, |m| { "digest" => Some(m.digest), "size" => Some(m.size.to_string()) });
    try_type!(ev::ContentDelete, |m| { "digest" => Some(m.digest) });
    try_type!(ev::ContainerCreate, |m| {
        "id" => Some(m.id),
        "image" => Some(m.image),
        "runtime" => match rest.first().map(String::as_str) {
            Some("name") => m.runtime.map(|r| r.name),
            _ => None,
        },
    });
    try_type!(ev::ContainerUpdate, |m| {
        "id" => Some(m.id),
        "image" => Some(m.image),
        "labels" => labels(&m.labels, rest),
        "snapshot_key" => Some(m.snapshot_key),
    });
    try_type!(ev::ContainerDelete, |m| { "id" => Some(m.id) });
    try_type!(images::ImageCreate, |m| { "name" => Some(m.name), "labels" => labels(&m.labels, rest) });
    try_type!(images::ImageUpdate, |m| { "name" => Some(m.name), "labels" => labels(&m.labels, rest) });
    try_type!(images::ImageDelete, |m| { "name" => Some(m.name) });
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::any;

    fn p(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn fields_of_known_events() {
        let img = any(&images::ImageCreate {
            name: "docker.io/x:1".into(),
            labels: [("a.b".to_string(), "c".to_string())].into(),
        });
        assert_eq!(field(&img, &p(&["name"])).as_deref(), Some("docker.io/x:1"));
        assert_eq!(field(&img, &p(&["labels", "a.b"])).as_deref(), Some("c"));
        assert_eq!(field(&img, &p(&["digest"])), None);
        let del = any(&ev::ContentDelete {
            digest: "sha256:00".into(),
        });
        assert_eq!(field(&del, &p(&["digest"])).as_deref(), Some("sha256:00"));
        let unknown = Any {
            type_url: "example.Other".into(),
            value: vec![],
        };
        assert_eq!(field(&unknown, &p(&["name"])), None);
    }
}
