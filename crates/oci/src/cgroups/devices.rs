//! Device access rules: the spec's list turned into one policy (a default
//! plus exceptions), the way the v1 devices controller folds rules, so that
//! v1 and the v2 eBPF filter enforce exactly the same thing.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

/// Access bits, numbered as the kernel's BPF_DEVCG_ACC_* flags.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;
pub const ALL_ACCESS: u8 = MKNOD | READ | WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevType {
    All,
    Block,
    Char,
}

/// One rule; `None` major/minor is the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: DevType,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl Rule {
    const fn chr(major: u32, minor: Option<u32>, access: u8) -> Rule {
        Rule {
            allow: true,
            typ: DevType::Char,
            major: Some(major),
            minor,
            access,
        }
    }

    /// The spec's rule, or None for kinds the kernel does not filter (fifos).
    pub fn from_spec(d: &LinuxDeviceCgroup) -> Result<Option<Rule>> {
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DevType::All,
            LinuxDeviceType::B => DevType::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => DevType::Char,
            LinuxDeviceType::P => return Ok(None),
        };
        let num = |v: Option<i64>, what: &str| -> Result<Option<u32>> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= i32::MAX as u32)
                    .map(Some)
                    .ok_or_else(|| {
                        Error::Cgroup(format!("device rule: invalid {what} number {n}"))
                    }),
            }
        };
        Ok(Some(Rule {
            allow: d.allow(),
            typ,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access: parse_access(d.access().as_deref().unwrap_or(""))?,
        }))
    }

    /// The v1 devices.allow/deny line: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let t = match self.typ {
            DevType::All => 'a',
            DevType::Block => 'b',
            DevType::Char => 'c',
        };
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        format!(
            "{t} {}:{} {}",
            n(self.major),
            n(self.minor),
            access_str(self.access)
        )
    }

    fn same_device(&self, o: &Rule) -> bool {
        self.typ == o.typ && self.major == o.major && self.minor == o.minor
    }
}

/// An empty access string means everything, as runc reads it.
fn parse_access(s: &str) -> Result<u8> {
    if s.is_empty() {
        return Ok(ALL_ACCESS);
    }
    let mut a = 0;
    for c in s.chars() {
        a |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => {
                return Err(Error::Cgroup(format!(
                    "device rule: invalid access {s:?} (only r, w, m)"
                )))
            }
        };
    }
    Ok(a)
}

pub fn access_str(a: u8) -> String {
    let mut s = String::with_capacity(3);
    for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
        if a & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// The devices every container may use, whatever its spec says (runc's
/// default list): mknod of anything, the standard character devices, ptys
/// and tun.
pub const DEFAULT_ALLOWED: &[Rule] = &[
    Rule {
        allow: true,
        typ: DevType::Char,
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule {
        allow: true,
        typ: DevType::Block,
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule::chr(1, Some(3), ALL_ACCESS),    // null
    Rule::chr(1, Some(8), ALL_ACCESS),    // random
    Rule::chr(1, Some(7), ALL_ACCESS),    // full
    Rule::chr(5, Some(0), ALL_ACCESS),    // tty
    Rule::chr(1, Some(5), ALL_ACCESS),    // zero
    Rule::chr(1, Some(9), ALL_ACCESS),    // urandom
    Rule::chr(136, None, ALL_ACCESS),     // pts/*
    Rule::chr(5, Some(2), ALL_ACCESS),    // ptmx
    Rule::chr(10, Some(200), ALL_ACCESS), // net/tun
];

/// The full list for a container as runc builds it: the spec's rules, then
/// the defaults, then an allow for each device the spec creates.
pub fn container_rules(
    spec: Option<&[LinuxDeviceCgroup]>,
    created: &[LinuxDevice],
) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for d in spec.unwrap_or_default() {
        rules.extend(Rule::from_spec(d)?);
    }
    rules.extend_from_slice(DEFAULT_ALLOWED);
    for d in created {
        let typ = match d.typ() {
            LinuxDeviceType::B => DevType::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => DevType::Char,
            _ => continue,
        };
        let n = |v: i64| u32::try_from(v).ok();
        rules.push(Rule {
            allow: true,
            typ,
            major: n(d.major()),
            minor: n(d.minor()),
            access: ALL_ACCESS,
        });
    }
    Ok(rules)
}

/// What a list of rules amounts to: a default and exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_allow: bool,
    /// All of the opposite kind to the default, one per device.
    pub exceptions: Vec<Rule>,
}

impl Policy {
    /// Folds `rules` in order, as the v1 kernel does: a type-'a' rule resets
    /// the default, later rules override earlier ones for the same device.
    /// Starts from deny-all.
    pub fn from_rules(rules: &[Rule]) -> Policy {
        let mut p = Policy {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for r in rules {
            if r.typ == DevType::All {
                p.default_allow = r.allow;
                p.exceptions.clear();
            } else if r.allow == p.default_allow {
                for e in p.exceptions.iter_mut().filter(|e| e.same_device(r)) {
                    e.access &= !r.access;
                }
                p.exceptions.retain(|e| e.access != 0);
            } else if let Some(e) = p.exceptions.iter_mut().find(|e| e.same_device(r)) {
                e.access |= r.access;
            } else {
                p.exceptions.push(*r);
            }
        }
        p
    }

    /// Whether an access of kind `access` to (typ, major, minor) is allowed.
    #[cfg(test)]
    pub fn allows(&self, typ: DevType, major: u32, minor: u32, access: u8) -> bool {
        let matching = |e: &&Rule| {
            e.typ == typ && e.major.is_none_or(|m| m == major) && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(matching)
                .any(|e| e.access & access != 0)
        } else {
            self.exceptions
                .iter()
                .filter(matching)
                .any(|e| access & !e.access == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn spec(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn parses_spec_rules() {
        let r = Rule::from_spec(&spec(false, None, None, None, "rwm"))
            .unwrap()
            .unwrap();
        assert_eq!(r.v1_line(), "a *:* rwm");
        let r = Rule::from_spec(&spec(
            true,
            Some(LinuxDeviceType::C),
            Some(1),
            Some(3),
            "rw",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(r.v1_line(), "c 1:3 rw");
        let r = Rule::from_spec(&spec(true, Some(LinuxDeviceType::B), Some(8), Some(-1), ""))
            .unwrap()
            .unwrap();
        assert_eq!(r.v1_line(), "b 8:* rwm");
        assert!(
            Rule::from_spec(&spec(true, Some(LinuxDeviceType::P), None, None, "r"))
                .unwrap()
                .is_none()
        );
        assert!(Rule::from_spec(&spec(true, None, None, None, "rx")).is_err());
    }

    #[test]
    fn deny_all_then_defaults() {
        let rules = container_rules(Some(&[spec(false, None, None, None, "rwm")]), &[]).unwrap();
        let p = Policy::from_rules(&rules);
        assert!(!p.default_allow);
        assert_eq!(p.exceptions.len(), DEFAULT_ALLOWED.len());
        assert!(p.allows(DevType::Char, 1, 3, READ | WRITE));
        assert!(p.allows(DevType::Char, 136, 7, READ));
        assert!(p.allows(DevType::Block, 8, 0, MKNOD));
        assert!(!p.allows(DevType::Block, 8, 0, READ));
        assert!(!p.allows(DevType::Char, 4, 1, READ));
    }

    #[test]
    fn later_rules_override() {
        let rules = [
            Rule {
                allow: false,
                typ: DevType::All,
                major: None,
                minor: None,
                access: ALL_ACCESS,
            },
            Rule::chr(1, Some(3), ALL_ACCESS),
            Rule {
                allow: false,
                ..Rule::chr(1, Some(3), WRITE)
            },
        ];
        let p = Policy::from_rules(&rules);
        assert!(p.allows(DevType::Char, 1, 3, READ));
        assert!(!p.allows(DevType::Char, 1, 3, WRITE));
        // An allow-all reset wipes the exceptions.
        let p = Policy::from_rules(&[
            rules[1],
            Rule {
                allow: true,
                typ: DevType::All,
                major: None,
                minor: None,
                access: 7,
            },
        ]);
        assert!(p.default_allow && p.exceptions.is_empty());
    }

    #[test]
    fn default_allow_with_denials() {
        let rules = [
            Rule {
                allow: true,
                typ: DevType::All,
                major: None,
                minor: None,
                access: ALL_ACCESS,
            },
            Rule {
                allow: false,
                ..Rule::chr(1, Some(3), WRITE)
            },
        ];
        let p = Policy::from_rules(&rules);
        assert!(p.allows(DevType::Char, 1, 3, READ));
        assert!(!p.allows(DevType::Char, 1, 3, READ | WRITE));
        assert!(p.allows(DevType::Block, 7, 0, READ | WRITE));
    }

    #[test]
    fn created_devices_allowed() {
        use oci_spec::runtime::LinuxDeviceBuilder;
        let dev = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let rules = container_rules(None, &[dev]).unwrap();
        let p = Policy::from_rules(&rules);
        assert!(p.allows(DevType::Char, 10, 229, READ | WRITE));
    }
}
