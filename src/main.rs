//! The `opto` command-line tool: optimize an agent on a task, evaluate saved parameters,
//! write the graph of one run, and print saved reports.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.verbose);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe_error(&error));
            ExitCode::FAILURE
        }
    }
}

/// Joins the error and its causes on one line. A cause that the message before it already
/// contains is left out, because many library errors include their source in their message.
fn describe_error(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
