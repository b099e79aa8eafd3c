//! Command-line arguments and the subcommands of `opto`.

mod endpoint;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use agents::{RunReport, StopReason, Trainer, TrainerConfig};
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use trace_core::ParameterState;

use self::endpoint::EndpointArgs;
use self::setup::{OptimizerSettings, Session, TaskArgs};

/// Optimize AI workflows end to end: run an agent on a task, send feedback on its answers
/// back through the traced graph, and let an LLM optimizer rewrite its prompt and code.
#[derive(Debug, Parser)]
#[command(name = "opto", version, about)]
pub(crate) struct Cli {
    /// Log more: once for info, twice for debug (the RUST_LOG variable overrides this).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Optimize an agent on a task and write a report: the question-answering agent, or the
    /// Battleship agent for the task `battleship`.
    Run(RunArgs),
    /// Evaluate saved parameters on one split of a task.
    Eval(EvalArgs),
    /// Run the agent on one example and write the traced graph as Graphviz DOT.
    Graph(GraphArgs),
    /// Print a saved run report.
    Report(ReportArgs),
    /// Print the examples of each split and the minibatch of each step as JSON, exactly as
    /// `opto run` with the same arguments uses them.
    Split(SplitArgs),
}

/// The LLM optimizer to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OptimizerKind {
    /// OptoPrime: the whole traced graph and the feedback in one prompt.
    Optoprime,
    /// OptoPrimeMulti: several OptoPrime candidates at different temperatures.
    OptoprimeMulti,
    /// OPRO: past values and their scores, without the graph.
    Opro,
    /// TextGrad: textual gradients along the graph, then a descent step.
    Textgrad,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    task: TaskArgs,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// The optimizer that rewrites the agent's parameters.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Optoprime)]
    optimizer: OptimizerKind,

    #[command(flatten)]
    optimizer_settings: OptimizerSettings,

    /// Number of optimizer steps.
    #[arg(long, default_value_t = 3)]
    steps: usize,

    /// Training examples per step (the minibatch size), at least 1.
    #[arg(long, default_value_t = 3, value_parser = parse_positive)]
    batch_size: usize,

    /// Examples evaluated at the same time.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,

    /// Folder for the checkpoint and the report (report.json, report.txt).
    #[arg(long, default_value = "runs/latest")]
    output: PathBuf,

    /// Continue from the checkpoint in the output folder instead of starting over.
    #[arg(long)]
    resume: bool,

    /// Start from the parameters of a report.json or a saved parameter file instead of the
    /// agent's defaults (ignored with --resume when a checkpoint exists).
    #[arg(long)]
    parameters: Option<PathBuf>,

    /// Stop after this many LLM requests (cache hits do not count).
    #[arg(long)]
    max_calls: Option<u64>,

    /// Stop after this many prompt plus completion tokens.
    #[arg(long)]
    max_tokens: Option<u64>,

    /// Stop after spending this many US dollars, priced with the client's price table.
    #[arg(long)]
    max_dollars: Option<f64>,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    task: TaskArgs,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// A report.json, or a parameter file saved by a run, whose parameters are evaluated.
    #[arg(long)]
    parameters: PathBuf,

    /// The split to evaluate.
    #[arg(long, value_enum, default_value_t = SplitName::Test)]
    split: SplitName,

    /// Examples evaluated at the same time.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
}

#[derive(Debug, Args)]
struct GraphArgs {
    #[command(flatten)]
    task: TaskArgs,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Position of the training example to run, from 0.
    #[arg(long, default_value_t = 0)]
    example: usize,

    /// The DOT file to write.
    #[arg(long, default_value = "graph.dot")]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// A report.json file, or the output folder of a run.
    path: PathBuf,

    /// Print the JSON instead of the readable summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SplitArgs {
    #[command(flatten)]
    task: TaskArgs,

    /// Number of optimizer steps whose minibatches are listed, at most 100,000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    steps: u64,

    /// Training examples per step (the minibatch size), at least 1.
    #[arg(long, default_value_t = 3, value_parser = parse_positive)]
    batch_size: usize,
}

/// Parses a count that must be at least 1.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(count) => Ok(count),
        Err(error) => Err(error.to_string()),
    }
}

/// A split of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SplitName {
    /// The training split.
    Train,
    /// The validation split.
    Validation,
    /// The test split.
    Test,
}

/// Exit status of `opto run` when the LLM budget ran out.
const EXIT_BUDGET: u8 = 2;
/// Exit status of `opto run` when the LLM endpoint failed after its retries.
const EXIT_LLM_FAILED: u8 = 3;
/// Exit status after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// Installs the `tracing` subscriber that writes logs to standard error.
pub(crate) fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Runs the subcommand.
pub(crate) async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Eval(args) => eval(args).await,
        Command::Graph(args) => graph(args).await,
        Command::Report(args) => report(args),
        Command::Split(args) => split(args),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let budget = optimizers::llm::usage::Budget {
        max_calls: args.max_calls,
        max_tokens: args.max_tokens,
        max_dollars: args.max_dollars,
    };
    if args.steps > 0 && args.task.train == 0 {
        anyhow::bail!("--train 0 leaves no examples for the {} optimizer steps; use --train 1 or more", args.steps);
    }
    let start = args.parameters.as_deref().map(read_parameters).transpose()?;
    let session = Session::start(&args.task, &args.endpoint, budget).await?;
    if let (Some(state), Some(path)) = (&start, &args.parameters) {
        session.load_parameters(state, path)?;
    }
    let mut optimizer = session.optimizer(args.optimizer, &args.optimizer_settings)?;

    let config = TrainerConfig {
        steps: args.steps,
        batch_size: args.batch_size,
        concurrency: args.concurrency,
        seed: args.task.seed,
        output_dir: args.output.clone(),
        resume: args.resume,
        model: session.model.clone(),
        progress: true,
    };
    let mut trainer = Trainer {
        agent: session.agent.as_ref(),
        optimizer: optimizer.as_mut(),
        task: &session.task,
        splits: &session.splits,
        usage: Some(session.usage.clone()),
        config,
    };

    let report = tokio::select! {
        report = trainer.run() => report?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; the checkpoint in {} keeps the last completed step, continue with --resume", args.output.display());
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    println!("{}", report.render());
    println!("Report written to {}", args.output.join("report.json").display());
    Ok(exit_code(&report))
}

fn exit_code(report: &RunReport) -> ExitCode {
    match report.stop {
        StopReason::Completed => ExitCode::SUCCESS,
        StopReason::BudgetExhausted { .. } => ExitCode::from(EXIT_BUDGET),
        StopReason::LlmFailed { .. } => ExitCode::from(EXIT_LLM_FAILED),
    }
}

async fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let state = read_parameters(&args.parameters)?;
    let session = Session::start(&args.task, &args.endpoint, Default::default()).await?;
    session.load_parameters(&state, &args.parameters)?;

    let examples = match args.split {
        SplitName::Train => &session.splits.train,
        SplitName::Validation => &session.splits.validation,
        SplitName::Test => &session.splits.test,
    };
    let evaluations =
        agents::evaluate(session.agent.as_ref(), &session.task, examples, args.concurrency, &|| {}).await?;
    let score = agents::evaluate::mean_score(&evaluations);
    println!(
        "{} {:?} accuracy: {:.1}% over {} examples",
        session.task.name,
        args.split,
        score * 100.0,
        evaluations.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn graph(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let session = Session::start(&args.task, &args.endpoint, Default::default()).await?;
    let example = session.splits.train.get(args.example).with_context(|| {
        format!(
            "--example {} is out of range: the training split has {} examples",
            args.example,
            session.splits.train.len()
        )
    })?;

    let output = session.agent.forward(example).await?;
    let dot = trace_core::dot::to_dot(std::slice::from_ref(&output));
    std::fs::write(&args.output, dot).with_context(|| format!("cannot write {}", args.output.display()))?;
    println!("Wrote the graph of example {} to {}", example.id, args.output.display());
    Ok(ExitCode::SUCCESS)
}

fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let path = if args.path.is_dir() { args.path.join("report.json") } else { args.path.clone() };
    let report = RunReport::load(&path)?;
    if args.json {
        print_stdout(&serde_json::to_string_pretty(&report)?)?;
    } else {
        print_stdout(&report.render())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The examples that a run with the same task arguments, steps and batch size works on.
#[derive(Debug, serde::Serialize)]
struct SplitListing<'a> {
    task: &'a str,
    metric: agents::task::Metric,
    seed: u64,
    train: &'a [agents::task::Example],
    validation: &'a [agents::task::Example],
    test: &'a [agents::task::Example],
    /// The identifiers of the training examples of each step, from step 0.
    minibatches: Vec<Vec<String>>,
}

fn split(args: SplitArgs) -> anyhow::Result<ExitCode> {
    let (task, splits) = args.task.load_splits()?;
    let minibatches = (0..usize::try_from(args.steps)?)
        .map(|step| {
            let batch = agents::trainer::minibatch(&splits.train, args.batch_size, args.task.seed, step);
            batch.into_iter().map(|example| example.id).collect()
        })
        .collect();
    let listing = SplitListing {
        task: &task.name,
        metric: task.metric,
        seed: args.task.seed,
        train: &splits.train,
        validation: &splits.validation,
        test: &splits.test,
        minibatches,
    };
    print_stdout(&serde_json::to_string_pretty(&listing)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `text` and a newline to standard output. A reader that closed the pipe early
/// (`opto split ... | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// Reads parameters from a run report or a saved parameter state.
fn read_parameters(path: &std::path::Path) -> anyhow::Result<ParameterState> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(report) = serde_json::from_str::<RunReport>(&text) {
        return Ok(report.parameters);
    }
    if serde_json::from_str::<agents::Checkpoint>(&text).is_ok() {
        anyhow::bail!(
            "{} is a checkpoint, not parameters; continue its run with --resume and --output set to its folder, or pass the run's report.json",
            path.display()
        );
    }
    serde_json::from_str::<ParameterState>(&text).with_context(|| {
        format!("{} is neither a run report nor a parameter file; pass the report.json of a run", path.display())
    })
}
