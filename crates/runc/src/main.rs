//! gantry-runc: runc's command line over the gantry-oci library. This file
//! only parses flags, dispatches and prints errors the way runc does.

mod cli;
mod commands;
mod log;
mod output;

use clap::Parser;
use cli::{Cli, Command};
use commands::{lifecycle, query, spec};

fn main() {
    let cli = match Cli::try_parse_from(cli::go_style_args(std::env::args_os())) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(), // --help
        Err(e) => {
            // One line, as runc's usage errors are.
            let text = e.render().to_string();
            let msg: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty())
                .collect();
            let msg = msg.join(" ");
            eprintln!("gantry-runc: {}", msg.trim_start_matches("error: "));
            std::process::exit(1);
        }
    };
    let logger = log::Logger {
        file: cli.log.clone(),
        format: cli.log_format,
        debug: cli.debug,
    };
    // CVE-2019-5736: commands that fork into a container first make sure
    // our binary cannot be rewritten from inside it (may re-exec us).
    if matches!(
        cli.command,
        Some(Command::Create(_) | Command::Run { .. } | Command::Exec(_))
    ) {
        if let Err(e) = gantry_oci::process::exe_guard::ensure_protected() {
            logger.error(&e.to_string());
            std::process::exit(1);
        }
    }
    logger.debug(&format!(
        "command line: {:?}",
        std::env::args().collect::<Vec<_>>()
    ));
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = format!("{e:#}");
            logger.error(&msg);
            std::process::exit(1);
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if cli.version {
        crate::output::line(&format!(
            "gantry-runc version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            gantry_oci::state::OCI_VERSION
        ));
        return Ok(0);
    }
    if cli.systemd_cgroup {
        anyhow::bail!("--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver (omit the flag)");
    }
    match cli.rootless.as_str() {
        "auto" | "false" => {}
        "true" => anyhow::bail!("--rootless=true: rootless mode is not supported yet"),
        other => anyhow::bail!("--rootless: invalid value {other:?} (true, false or auto)"),
    }
    let root = cli.root.as_path();
    let Some(cmd) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(0);
    };
    match cmd {
        Command::Spec { bundle, rootless } => spec::run(&bundle, rootless)?,
        Command::Create(a) => lifecycle::create(root, &a)?,
        Command::Start { id } => lifecycle::start(root, &id)?,
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => return lifecycle::run(root, &create, detach, keep),
        Command::State { id } => query::state(root, &id)?,
        Command::Kill { id, signal, all } => lifecycle::kill(root, &id, &signal, all)?,
        Command::Delete { ids, force } => lifecycle::delete(root, &ids, force)?,
        Command::List { format, quiet } => query::list(root, &format, quiet)?,
        Command::Exec(a) => return commands::exec::run(root, &a),
        Command::Ps {
            id,
            format,
            ps_args,
        } => query::ps(root, &id, &format, &ps_args)?,
        Command::Update(a) => commands::update::run(root, &a)?,
        Command::Events {
            id,
            stats,
            interval,
        } => commands::update::events(root, &id, stats, &interval)?,
        Command::Features => crate::output::line(&serde_json::to_string_pretty(
            &gantry_oci::features::features(),
        )?),
        Command::Pause { id } => lifecycle::pause(root, &id)?,
        Command::Resume { id } => lifecycle::resume(root, &id)?,
        Command::Checkpoint(a) => commands::checkpoint::checkpoint(root, &cli.criu, &a)?,
        Command::Restore(a) => return commands::checkpoint::restore(root, &cli.criu, &a),
    }
    Ok(0)
}
