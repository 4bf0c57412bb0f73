//! Conversions between the store's records and containerd's protobuf messages.

use std::collections::{BTreeMap, HashMap};

use gantry_api::prost_types::Timestamp;

pub fn ts(nanos: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    })
}

pub fn btree(m: HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().collect()
}

pub fn hash(m: BTreeMap<String, String>) -> HashMap<String, String> {
    m.into_iter().collect()
}

/// The paths of an update mask (empty when absent).
pub fn paths(mask: Option<gantry_api::prost_types::FieldMask>) -> Vec<String> {
    mask.map(|m| m.paths).unwrap_or_default()
}
