//! gantry-store without any RPC: content writes, images, leases and garbage collection.

use std::collections::BTreeMap;

use gantry_store::filters::Filter;
use gantry_store::images::{Descriptor, Image};
use gantry_store::leases::Resource;
use gantry_store::{Error, Store};

fn open(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("meta/meta.redb"), &dir.join("content")).unwrap()
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(data);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn put(s: &Store, ns: &str, data: &[u8], labels: &[(&str, &str)], lease: Option<&str>) -> String {
    let mut w = s
        .content_writer(ns, &format!("ref-{}", sha(data)), 0, "")
        .unwrap();
    w.write(data).unwrap();
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.content_commit(ns, w, data.len() as i64, &sha(data), &labels, lease)
        .unwrap()
}

fn blob_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("content/blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn resumable_write_survives_reopen_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"hello resumable world";
    {
        let s = open(dir.path());
        let mut w = s.content_writer("ns", "r1", data.len() as i64, "").unwrap();
        w.write(&data[..5]).unwrap();
        // One writer per ref.
        assert!(matches!(
            s.content_writer("ns", "r1", 0, ""),
            Err(Error::Unavailable(_))
        ));
        drop(w);
    }
    // A new process resumes where the last one stopped.
    let s = open(dir.path());
    assert_eq!(s.content_status("ns", "r1").unwrap().offset, 5);
    assert_eq!(
        s.content_status("ns", "r1").unwrap().total,
        data.len() as i64
    );
    assert!(matches!(
        s.content_status("other", "r1"),
        Err(Error::NotFound(_))
    ));
    let mut w = s.content_writer("ns", "r1", 0, "").unwrap();
    assert_eq!(w.status().offset, 5);
    w.write(&data[5..]).unwrap();
    let bad = s.content_commit("ns", w, 0, &sha(b"other"), &BTreeMap::new(), None);
    assert!(matches!(bad, Err(Error::FailedPrecondition(_))), "{bad:?}");
    let w = s.content_writer("ns", "r1", 0, "").unwrap();
    let bad = s.content_commit("ns", w, 3, "", &BTreeMap::new(), None);
    assert!(matches!(bad, Err(Error::FailedPrecondition(_))), "{bad:?}");
    let w = s.content_writer("ns", "r1", 0, "").unwrap();
    let d = s
        .content_commit(
            "ns",
            w,
            data.len() as i64,
            &sha(data),
            &BTreeMap::new(),
            None,
        )
        .unwrap();
    assert_eq!(d, sha(data));
    assert_eq!(s.content_info("ns", &d).unwrap().size, data.len() as i64);
    assert!(matches!(
        s.content_info("other", &d),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.content_writer("ns", "r2", 0, &d),
        Err(Error::AlreadyExists(_))
    ));
    // The same bytes in another namespace share the file.
    put(&s, "other", data, &[], None);
    assert_eq!(blob_files(dir.path()), 1);
}

#[test]
fn gc_follows_labels_images_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let layer = put(&s, "ns", b"layer", &[], None);
    let config = put(&s, "ns", b"config", &[], None);
    let manifest = put(
        &s,
        "ns",
        b"manifest",
        &[
            ("containerd.io/gc.ref.content.l.0", &layer),
            ("containerd.io/gc.ref.content.config", &config),
        ],
        None,
    );
    let rooted = put(&s, "ns", b"rooted", &[("containerd.io/gc.root", "x")], None);
    let loose = put(&s, "ns", b"loose", &[], None);
    s.lease_create("ns", "l1", &BTreeMap::new()).unwrap();
    let leased = put(&s, "ns", b"leased", &[], Some("l1"));
    let expired: BTreeMap<String, String> = [(
        "containerd.io/gc.expire".to_string(),
        "2000-01-01T00:00:00Z".to_string(),
    )]
    .into();
    s.lease_create("ns", "old", &expired).unwrap();
    let in_old = put(&s, "ns", b"in expired lease", &[], Some("old"));
    let img = Image {
        name: "img".into(),
        target: Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: manifest.clone(),
            size: 8,
            annotations: BTreeMap::new(),
        },
        ..Default::default()
    };
    s.image_create("ns", &img).unwrap();
    assert!(matches!(
        s.image_create("ns", &img),
        Err(Error::AlreadyExists(_))
    ));

    let stats = s.garbage_collect().unwrap();
    assert_eq!(stats.leases, 1);
    assert!(matches!(s.lease_get("ns", "old"), Err(Error::NotFound(_))));
    for d in [&layer, &config, &manifest, &rooted, &leased] {
        s.content_info("ns", d)
            .unwrap_or_else(|e| panic!("{d} collected: {e}"));
    }
    for d in [&loose, &in_old] {
        assert!(
            matches!(s.content_info("ns", d), Err(Error::NotFound(_))),
            "{d} kept"
        );
    }
    assert_eq!(blob_files(dir.path()), 5);

    s.image_delete("ns", "img").unwrap();
    s.lease_delete("ns", "l1").unwrap();
    s.garbage_collect().unwrap();
    assert_eq!(s.content_list("ns", &Filter::default()).unwrap().len(), 1);
    assert_eq!(blob_files(dir.path()), 1);
    let res = s.lease_add_resource(
        "ns",
        "none",
        &Resource {
            id: rooted.clone(),
            r#type: "content".into(),
        },
    );
    assert!(matches!(res, Err(Error::NotFound(_))));
}

#[test]
fn namespaces_must_be_empty_to_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let d = put(&s, "busy", b"x", &[("containerd.io/gc.root", "1")], None);
    match s.namespace_delete("busy") {
        Err(Error::FailedPrecondition(m)) => {
            assert!(m.contains("busy") && m.contains("blobs"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    s.content_delete("busy", &d).unwrap();
    s.namespace_delete("busy").unwrap();
}
