//! The `kinfold` binary: command-line interface and wiring.

mod backup;
mod bench;
mod cli;
mod commands;
mod config;
mod demo;
mod demo_records;
mod demo_tls;
mod email;
mod runtime;
mod serve;
mod verify;

use clap::Parser;

/// mimalloc: request handling allocates many small, short-lived buffers, which it serves
/// faster than glibc's malloc (see `kinfold bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // The bench's ceiling is the fastest plain axum hello-world we can build: on the one core
    // it is pinned to, that is a single-threaded runtime, with no work-stealing or wake-ups
    // between workers.
    let single = matches!(&cli.command, cli::Command::BenchServer { mode } if mode == "hello");
    let mut builder = if single {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each once ([`kinfold_core::error::joined`]: object storage's
/// errors quote their source at the end of their own text, so `{e:#}` printed a refused
/// credential's XML three times).
pub(crate) fn causes(e: &anyhow::Error) -> String {
    kinfold_core::error::joined(e.chain())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let inner = anyhow::anyhow!("403 Forbidden: InvalidAccessKeyId");
        let middle = inner.context("POST /bkt/db.kfb: 403 Forbidden: InvalidAccessKeyId");
        let outer = middle.context("uploading db.kfb");
        assert_eq!(
            super::causes(&outer),
            "uploading db.kfb: POST /bkt/db.kfb: 403 Forbidden: InvalidAccessKeyId"
        );
        let plain = anyhow::anyhow!("no such file").context("opening the key");
        assert_eq!(super::causes(&plain), "opening the key: no such file");
        // A short cause that only appears inside the text is still said.
        let inside = anyhow::anyhow!("EOF").context("reading past the EOF marker failed");
        assert_eq!(
            super::causes(&inside),
            "reading past the EOF marker failed: EOF"
        );
    }
}
