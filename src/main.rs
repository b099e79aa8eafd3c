//! The `opto` command-line tool.

use clap::Parser;

/// Optimize AI workflows end to end with traced graphs and LLM optimizers.
#[derive(Debug, Parser)]
#[command(name = "opto", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
