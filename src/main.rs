//! `sluice`: the single binary. `-target=all` (the default) runs every
//! module in one process: distributor, ingester, querier and the Loki HTTP
//! API on one port.

mod config;
mod modules;
mod server;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let flags = config::parse_flags(std::env::args().skip(1))?;
    let cfg = config::Config::load(&flags)?;
    cfg.targets()?;
    if flags.print_config {
        print!("{}", serde_yaml::to_string(&cfg)?);
        return Ok(());
    }
    init_tracing(&cfg.server.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(server::run(cfg))
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},h2=warn,hyper=warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
