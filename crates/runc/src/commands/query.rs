//! `state` and `list`.

use anyhow::Result;
use gantry_oci::container::{self, Container};
use std::path::Path;

pub fn state(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    crate::output::line(&serde_json::to_string_pretty(&c.oci_state())?);
    Ok(())
}

pub fn list(root: &Path, format: &str, quiet: bool) -> Result<()> {
    let all = container::list(root)?;
    if quiet {
        for (s, _) in &all {
            crate::output::line(&s.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<_> = all.iter().map(|(s, st)| s.to_oci_json(*st)).collect();
            crate::output::line(&serde_json::to_string(&v)?);
        }
        "table" => {
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|(s, st)| {
                    let pid = if *st == gantry_oci::state::Status::Stopped {
                        0
                    } else {
                        s.init_pid
                    };
                    [
                        s.id.clone(),
                        pid.to_string(),
                        st.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            print_table(
                &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
                &rows,
            );
        }
        other => anyhow::bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(())
}

/// Columns padded like Go's tabwriter (minwidth 12, padding 1), as runc prints.
fn print_table(header: &[&str; 6], rows: &[[String; 6]]) {
    let mut width = [12usize; 6];
    for (i, h) in header.iter().enumerate() {
        width[i] = width[i].max(h.len() + 1);
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.len() + 1);
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}", w = width[i]));
            }
        }
        crate::output::line(&s);
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// `ps`: the container's pids as JSON, or ps(1)'s table filtered to them.
pub fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let c = Container::load(root, id)?;
    let pids = c.pids()?;
    match format {
        "json" => crate::output::line(&serde_json::to_string(&pids)?),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps").args(&args).output()?;
            if !out.status.success() {
                anyhow::bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
            crate::output::line(header);
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    crate::output::line(line);
                }
            }
        }
        other => anyhow::bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(())
}
