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

/// mimalloc: its thread-local free lists make the many small, short-lived
/// allocations of a push (entries, metadata, encoder buffers) cheaper than
/// glibc's malloc, whose arenas and bins took ~9% of the server's CPU in the
/// ingest benchmark. Push CPU there fell ~15% (four alternating runs each:
/// 1.56–1.68 → 1.27–1.48 server CPU-seconds), page zeroing by the kernel
/// mostly went away (`clear_page` 6% → 1%), peak RSS stayed under 200 MB.
/// Built without transparent huge pages (`no_thp`): with them the heap's
/// resident size grew by ~50 MB for no CPU gain.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its place in `mi_option_e` of the mimalloc
/// bundled by the pinned `libmimalloc-sys` (which names no constant for
/// it); `purge_delay_option_is_the_one_set` checks it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the kernel after 100 ms instead of mimalloc's
/// default second: the memory of a push's request is mostly reused by the
/// next one within that time, and what is not stops counting in the
/// resident size sooner (ingest benchmark peak RSS 175–180 MB instead of
/// 188–205 MB, CPU within noise). `MIMALLOC_PURGE_DELAY` in the environment
/// takes precedence.
#[allow(unsafe_code)]
fn tune_malloc() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores an option value (an atomic store
    // in mimalloc); any value of this option is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
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

#[cfg(test)]
mod malloc_tests {
    /// The option index points at the purge delay: the only option whose
    /// default is 1000 (ms), and it takes the value set.
    #[test]
    #[allow(unsafe_code)]
    fn purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reading and storing an option value.
        unsafe {
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                1000
            );
            super::tune_malloc();
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                100
            );
        }
    }
}
