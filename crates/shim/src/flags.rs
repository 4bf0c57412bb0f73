//! The shim's command line, parsed the way Go's `flag` package does it (containerd
//! passes `-namespace NS -address A -publish-binary B -id ID [-bundle P] [-debug] ACTION`).

/// Parsed command line.
#[derive(Debug, Default)]
pub struct Flags {
    pub namespace: String,
    pub address: String,
    pub publish_binary: String,
    pub id: String,
    pub bundle: String,
    pub socket: String,
    pub debug: bool,
    pub version: bool,
    /// `-info`: print a RuntimeInfo (containerd 2.x asks before Create).
    pub info: bool,
    pub action: String,
}

impl Flags {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
        let mut f = Flags {
            publish_binary: "containerd".into(),
            ..Flags::default()
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix('-') else {
                // Like Go's flag package, flags stop at the first positional argument.
                f.action = arg;
                break;
            };
            let flag = flag.strip_prefix('-').unwrap_or(flag);
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            match name {
                "debug" | "v" | "info" => {
                    let on = !matches!(inline.as_deref(), Some("false") | Some("0"));
                    match name {
                        "debug" => f.debug = on,
                        "v" => f.version = on,
                        _ => f.info = on,
                    }
                    continue;
                }
                _ => {}
            }
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("flag -{name} needs a value"))?,
            };
            match name {
                "namespace" => f.namespace = value,
                "address" => f.address = value,
                "publish-binary" => f.publish_binary = value,
                "id" => f.id = value,
                "bundle" => f.bundle = value,
                "socket" => f.socket = value,
                other => return Err(format!("unknown flag -{other}")),
            }
        }
        Ok(f)
    }

    /// The bundle: `-bundle`, else the working directory containerd started us in.
    pub fn bundle_dir(&self) -> Result<std::path::PathBuf, String> {
        if !self.bundle.is_empty() {
            return Ok(self.bundle.clone().into());
        }
        std::env::current_dir().map_err(|e| format!("reading the working directory: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    fn parse(s: &str) -> Flags {
        Flags::parse(s.split_whitespace().map(String::from)).unwrap()
    }

    #[test]
    fn containerd_start_line() {
        let f = parse("-namespace default -address /run/c.sock -publish-binary /usr/bin/containerd -id abc -debug start");
        assert_eq!(f.namespace, "default");
        assert_eq!(f.address, "/run/c.sock");
        assert_eq!(f.publish_binary, "/usr/bin/containerd");
        assert_eq!(f.id, "abc");
        assert!(f.debug);
        assert_eq!(f.action, "start");
    }

    #[test]
    fn inline_values_and_double_dash() {
        let f = parse("--id=x -bundle=/b delete");
        assert_eq!(f.id, "x");
        assert_eq!(f.bundle, "/b");
        assert_eq!(f.action, "delete");
        assert!(!f.debug);
    }

    #[test]
    fn info_is_a_switch() {
        let f = parse("-info");
        assert!(f.info);
        assert_eq!(f.action, "");
    }

    #[test]
    fn missing_value_is_an_error() {
        let e = Flags::parse(["-id".to_string()]).unwrap_err();
        assert!(e.contains("-id"), "{e}");
    }
}
