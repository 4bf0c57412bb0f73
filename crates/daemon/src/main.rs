//! gantryd: serves containerd's gRPC API on a unix socket.
//!
//! The command line is containerd's (`-c`, `-a`, `--root`, `--state`, `-l`, `config default`)
//! so that a private instance starts exactly as containerd would.

mod config;
mod convert;
mod errors;
mod exchange;
mod gc;
mod memory;
mod metrics;
mod plugin;
mod plugins;
mod proxy;
mod server;
mod services;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gantryd", about = "containerd-compatible daemon", version)]
struct Cli {
    /// Path to the configuration file.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Address for gantryd's gRPC server.
    #[arg(short = 'a', long = "address")]
    address: Option<String>,
    /// gantryd root directory.
    #[arg(long)]
    root: Option<PathBuf>,
    /// gantryd state directory.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Set the logging level [trace, debug, info, warn, error, fatal, panic].
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Information on the gantryd config.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the default config to stdout.
    Default,
    /// Print the effective config (defaults, file, flags) to stdout.
    Dump,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Config {
        what: ConfigCommand::Default,
    }) = cli.command
    {
        print!("{}", config::DEFAULT_CONFIG);
        return ExitCode::SUCCESS;
    }
    let mut cfg = match config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gantryd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(a) = cli.address {
        cfg.grpc.address = a;
    }
    if let Some(r) = cli.root {
        cfg.root = r;
    }
    if let Some(s) = cli.state {
        cfg.state = s;
    }
    if let Some(l) = cli.log_level {
        cfg.debug.level = l;
    }
    if let Some(Command::Config {
        what: ConfigCommand::Dump,
    }) = cli.command
    {
        match toml::to_string(&cfg) {
            Ok(s) => {
                print!("{s}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("gantryd: serialising config: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    init_logging(&cfg.debug.level);
    memory::limit_arenas();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantryd: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(server::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("gantryd: {e}");
            eprintln!("gantryd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match level {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "warn" | "warning" => tracing::Level::WARN,
        "error" | "fatal" | "panic" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    // Debug output of the HTTP/2 stack would drown gantryd's own.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level.min(tracing::Level::INFO))
        .with_target("gantryd", level);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .init();
}
