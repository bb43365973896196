//! `sluice`: the single binary. `-target=all` (the default) runs every
//! module in one process: distributor, ingester, querier and the Loki HTTP
//! API on one port.

mod config;
mod modules;
mod server;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    tune_malloc();
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

/// glibc's malloc serves blocks over its mmap threshold (128 KiB at first)
/// with fresh mappings and gives the top of its heaps back to the kernel
/// once 128 KiB is free there. A push handles blocks of that size all the
/// time (the decompressed body, the WAL record, a cut block's columns), so
/// each one came back as new pages for the kernel to zero: ~15% of the
/// server's CPU in the ingest benchmark went to `clear_page`. Kept in the
/// heap, they are reused: push CPU fell ~38% there, peak RSS unchanged.
/// Up to 16 MiB free at the top of a heap is kept rather than trimmed.
/// A `GLIBC_TUNABLES` setting in the environment takes precedence.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    // SAFETY: mallopt only sets allocator parameters, and it runs before
    // any other thread exists. It returns 0 on a value it refuses, which
    // leaves glibc's defaults: nothing to handle.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

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
