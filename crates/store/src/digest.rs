//! OCI digests (`algorithm:hex`): validation and the sha256 this store computes.

use crate::error::{Error, Result};

/// A digest checked to be `sha256:` followed by 64 lowercase hex digits.
pub fn validate(d: &str) -> Result<()> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(Error::InvalidArgument(format!(
            "invalid digest {d:?}: missing algorithm"
        )));
    };
    match alg {
        "sha256" => {
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(Error::InvalidArgument(format!(
                    "invalid digest {d:?}: sha256 needs 64 lowercase hex digits"
                )));
            }
            Ok(())
        }
        _ => Err(Error::InvalidArgument(format!(
            "invalid digest {d:?}: unsupported digest algorithm {alg:?}"
        ))),
    }
}

/// `sha256:<hex>` of a finished hasher.
pub fn format_sha256(h: sha2::Sha256) -> String {
    use sha2::Digest;
    let out = h.finalize();
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in out {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(validate(&good).is_ok());
        assert!(matches!(
            validate("sha256:abc"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            validate("nocolon"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            validate(&format!("md5:{}", "a".repeat(32))),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            validate(&format!("sha256:{}", "A".repeat(64))),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn sha256_of_empty() {
        use sha2::Digest;
        let h = sha2::Sha256::new();
        assert_eq!(
            format_sha256(h),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
