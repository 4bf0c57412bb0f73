//! Checks the raw `linux.seccomp` JSON before the typed parse, so that an
//! unknown action, architecture, operator or flag is reported with the path
//! of the field that holds it (the typed parse would only name the value).

use crate::error::{Error, Result};
use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Checks `config["linux"]["seccomp"]` if present.
pub fn check_json(config: &Value) -> Result<()> {
    let Some(s) = config.pointer("/linux/seccomp").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    one::<LinuxSeccompAction>(s.get("defaultAction"), "defaultAction")?;
    each::<Arch>(s.get("architectures"), "architectures")?;
    each::<LinuxSeccompFilterFlag>(s.get("flags"), "flags")?;
    for (i, call) in items(s.get("syscalls")).enumerate() {
        one::<LinuxSeccompAction>(call.get("action"), &format!("syscalls[{i}].action"))?;
        for (j, arg) in items(call.get("args")).enumerate() {
            one::<LinuxSeccompOperator>(arg.get("op"), &format!("syscalls[{i}].args[{j}].op"))?;
        }
    }
    Ok(())
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn one<T: DeserializeOwned>(v: Option<&Value>, field: &str) -> Result<()> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    serde_json::from_value::<T>(v.clone())
        .map(|_| ())
        .map_err(|e| Error::Spec(format!("linux.seccomp.{field}: {e}")))
}

fn each<T: DeserializeOwned>(v: Option<&Value>, field: &str) -> Result<()> {
    for (i, item) in items(v).enumerate() {
        one::<T>(Some(item), &format!("{field}[{i}]"))?;
    }
    Ok(())
}
