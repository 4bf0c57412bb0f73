//! The plugin registry: every service and backend registers a type, an id, the plugin types
//! it requires and an init function; plugins are initialised in dependency order and the
//! outcome of each (instance or error) is kept for Introspection.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::config::Config;

pub type Instance = Arc<dyn Any + Send + Sync>;

/// How a plugin is made.
pub struct Registration {
    pub r#type: &'static str,
    pub id: &'static str,
    /// Plugin types that must be initialised first; `"*"` means every other type.
    pub requires: &'static [&'static str],
    pub init: fn(&mut InitContext) -> Result<Instance, String>,
}

impl Registration {
    pub fn uri(&self) -> String {
        format!("{}.{}", self.r#type, self.id)
    }
}

/// What Introspection reports about one plugin.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub r#type: String,
    pub id: String,
    pub requires: Vec<String>,
    pub exports: BTreeMap<String, String>,
    pub init_err: Option<String>,
}

/// The final list, shared with Introspection (filled once all plugins were initialised).
pub type PluginList = Arc<OnceLock<Vec<PluginInfo>>>;

/// A registration with its instance, or `None` if its init failed.
pub type Loaded = (Registration, Option<Instance>);

/// What an init function gets: its directories, config section and earlier plugins.
pub struct InitContext<'a> {
    pub root: PathBuf,
    pub plugin_config: Option<&'a toml::Value>,
    /// The `[proxy_plugins.ID]` section, for proxy plugins.
    pub proxy_config: Option<&'a toml::Value>,
    pub exports: BTreeMap<String, String>,
    pub plugin_list: PluginList,
    /// grpc.max_recv_message_size and grpc.max_send_message_size.
    pub grpc_limits: (usize, usize),
    done: &'a [Loaded],
}

impl InitContext<'_> {
    /// The first successfully initialised plugin of `ty`, as its concrete type.
    pub fn get<T: Any + Send + Sync>(&self, ty: &str) -> Result<Arc<T>, String> {
        self.done
            .iter()
            .filter(|(r, _)| r.r#type == ty)
            .find_map(|(_, i)| i.clone().and_then(|i| i.downcast::<T>().ok()))
            .ok_or_else(|| format!("no plugin of type {ty} is available"))
    }
}

/// Orders registrations so that each comes after every type it requires.
pub fn sort(regs: Vec<Registration>) -> Result<Vec<Registration>, String> {
    let mut pending = regs;
    let mut out: Vec<Registration> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|p| {
            p.requires.iter().all(|req| {
                pending.iter().all(|q| {
                    std::ptr::eq(p, q)
                        || if *req == "*" {
                            q.requires.contains(&"*")
                        } else {
                            q.r#type != *req
                        }
                })
            })
        });
        match ready {
            Some(i) => out.push(pending.remove(i)),
            None => {
                let names: Vec<String> = pending.iter().map(Registration::uri).collect();
                return Err(format!(
                    "plugin dependency cycle among {}",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// Initialises all registrations not disabled in the config, in dependency order. A plugin
/// whose init fails is kept with its error; a failing `required_plugins` entry is fatal.
pub fn init_all(
    cfg: &Config,
    regs: Vec<Registration>,
) -> Result<(Vec<Loaded>, PluginList), String> {
    let list: PluginList = Arc::default();
    let mut done: Vec<Loaded> = Vec::new();
    let mut infos = Vec::new();
    for reg in sort(regs)? {
        let uri = reg.uri();
        if cfg.disabled_plugins.contains(&uri) {
            tracing::info!(plugin = %uri, "plugin disabled");
            continue;
        }
        let mut ctx = InitContext {
            root: cfg.root.join(&uri),
            plugin_config: cfg.plugins.get(&uri),
            proxy_config: cfg.proxy_plugins.get(reg.id),
            exports: BTreeMap::new(),
            plugin_list: list.clone(),
            grpc_limits: (
                cfg.grpc.max_recv_message_size,
                cfg.grpc.max_send_message_size,
            ),
            done: &done,
        };
        let result = (reg.init)(&mut ctx);
        let exports = std::mem::take(&mut ctx.exports);
        let (instance, init_err) = match result {
            Ok(i) => {
                tracing::debug!(plugin = %uri, "plugin initialised");
                (Some(i), None)
            }
            Err(e) => {
                tracing::warn!(plugin = %uri, error = %e, "failed to load plugin");
                if cfg.required_plugins.contains(&uri) {
                    return Err(format!("required plugin {uri} failed: {e}"));
                }
                (None, Some(e))
            }
        };
        infos.push(PluginInfo {
            r#type: reg.r#type.to_string(),
            id: reg.id.to_string(),
            requires: reg.requires.iter().map(|s| s.to_string()).collect(),
            exports,
            init_err,
        });
        done.push((reg, instance));
    }
    for req in &cfg.required_plugins {
        if !done.iter().any(|(r, i)| &r.uri() == req && i.is_some()) {
            return Err(format!("required plugin {req} is not available"));
        }
    }
    list.set(infos)
        .map_err(|_| "plugin list set twice".to_string())?;
    Ok((done, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(t: &'static str, id: &'static str, requires: &'static [&'static str]) -> Registration {
        Registration {
            r#type: t,
            id,
            requires,
            init: |_| Ok(Arc::new(())),
        }
    }

    #[test]
    fn dependency_order() {
        let sorted = sort(vec![
            reg("grpc", "introspection", &["*"]),
            reg("grpc", "content", &["service"]),
            reg("service", "content", &["metadata"]),
            reg("metadata", "db", &["content"]),
            reg("content", "content", &[]),
        ])
        .unwrap();
        let order: Vec<String> = sorted.iter().map(Registration::uri).collect();
        assert_eq!(
            order,
            [
                "content.content",
                "metadata.db",
                "service.content",
                "grpc.content",
                "grpc.introspection"
            ]
        );
        assert!(sort(vec![reg("a", "a", &["b"]), reg("b", "b", &["a"])]).is_err());
    }
}
