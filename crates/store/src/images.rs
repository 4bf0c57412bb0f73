//! Images: a name pointing at a target descriptor, with labels, per namespace.

use std::collections::BTreeMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::db::{self, encode, Store, IMAGES};
use crate::error::{Error, Result};
use crate::filters::{label_field, Adaptor, Filter};
use crate::{digest, labels, namespaces, time};

/// An OCI descriptor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    #[serde(skip)]
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub target: Descriptor,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Adaptor for Image {
    fn field(&self, path: &[String]) -> Option<String> {
        let rest = &path[1.min(path.len())..];
        match path.first().map(String::as_str) {
            Some("name") => Some(self.name.clone()),
            Some("target") => match rest.first().map(String::as_str) {
                Some("digest") => Some(self.target.digest.clone()),
                Some("mediatype") => Some(self.target.media_type.clone()),
                _ => None,
            },
            Some("labels") => label_field(&self.labels, rest),
            Some("annotations") => label_field(&self.target.annotations, rest),
            _ => None,
        }
    }
}

fn validate(img: &Image) -> Result<()> {
    if img.name.is_empty() {
        return Err(Error::InvalidArgument(
            "image name must not be empty".into(),
        ));
    }
    labels::validate(&img.labels)?;
    let t = &img.target;
    if t.media_type.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "image {}: target mediatype must be set",
            img.name
        )));
    }
    if t.digest.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "image {}: target digest must be set",
            img.name
        )));
    }
    digest::validate(&t.digest)
        .map_err(|e| Error::InvalidArgument(format!("image {}: target: {e}", img.name)))?;
    if t.size <= 0 {
        return Err(Error::InvalidArgument(format!(
            "image {}: target size must be greater than zero",
            img.name
        )));
    }
    Ok(())
}

impl Store {
    pub fn image_get(&self, ns: &str, name: &str) -> Result<Image> {
        let txn = self.read_txn()?;
        let t = txn.open_table(IMAGES)?;
        let mut img: Image =
            db::get(&t, ns, name)?.ok_or_else(|| Error::NotFound(format!("image {name:?}")))?;
        img.name = name.to_string();
        Ok(img)
    }

    pub fn image_list(&self, ns: &str, filter: &Filter) -> Result<Vec<Image>> {
        let txn = self.read_txn()?;
        let t = txn.open_table(IMAGES)?;
        Ok(db::list::<Image>(&t, ns)?
            .into_iter()
            .map(|(n, mut i)| {
                i.name = n;
                i
            })
            .filter(|i| filter.matches(i))
            .collect())
    }

    pub fn image_create(&self, ns: &str, img: &Image) -> Result<Image> {
        validate(img)?;
        let txn = self.db.begin_write()?;
        let out = {
            namespaces::ensure(&txn, ns)?;
            let mut t = txn.open_table(IMAGES)?;
            if t.get((ns, img.name.as_str()))?.is_some() {
                return Err(Error::AlreadyExists(format!("image {:?}", img.name)));
            }
            let now = time::now();
            let mut out = img.clone();
            out.created_at = now;
            out.updated_at = now;
            t.insert((ns, img.name.as_str()), encode(&out).as_slice())?;
            out
        };
        txn.commit()?;
        self.mutated(false);
        Ok(out)
    }

    /// Updates by field paths (`labels`, `labels.KEY`, `target`, `annotations`); none means
    /// replace labels and target.
    pub fn image_update(&self, ns: &str, img: &Image, paths: &[String]) -> Result<Image> {
        if img.name.is_empty() {
            return Err(Error::InvalidArgument(
                "image name must not be empty".into(),
            ));
        }
        let txn = self.db.begin_write()?;
        let out = {
            let mut t = txn.open_table(IMAGES)?;
            let mut cur: Image = db::get(&t, ns, &img.name)?
                .ok_or_else(|| Error::NotFound(format!("image {:?}", img.name)))?;
            cur.name = img.name.clone();
            if paths.is_empty() {
                cur.labels = img.labels.clone();
                cur.target = img.target.clone();
            }
            for p in paths {
                if labels::apply_path(p, &mut cur.labels, &img.labels) {
                    continue;
                }
                match p.as_str() {
                    "target" => cur.target = img.target.clone(),
                    "annotations" => cur.target.annotations = img.target.annotations.clone(),
                    _ => match p.strip_prefix("annotations.") {
                        Some(k) => match img.target.annotations.get(k) {
                            Some(v) => {
                                cur.target.annotations.insert(k.into(), v.clone());
                            }
                            None => {
                                cur.target.annotations.remove(k);
                            }
                        },
                        None => {
                            return Err(Error::InvalidArgument(format!(
                                "cannot update {p:?} field on image {:?}",
                                img.name
                            )))
                        }
                    },
                }
            }
            validate(&cur)?;
            cur.updated_at = time::now();
            t.insert((ns, img.name.as_str()), encode(&cur).as_slice())?;
            cur
        };
        txn.commit()?;
        self.mutated(true);
        Ok(out)
    }

    pub fn image_delete(&self, ns: &str, name: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(IMAGES)?;
            if t.remove((ns, name))?.is_none() {
                return Err(Error::NotFound(format!("image {name:?}")));
            }
        }
        txn.commit()?;
        self.mutated(true);
        Ok(())
    }
}
