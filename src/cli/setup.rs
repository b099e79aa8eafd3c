//! The set-up shared by every subcommand: the task and its splits, the LLM client, the
//! agent and the optimizer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agents::Agent;
use agents::battleship_agent::{BattleshipAgent, BattleshipSettings, battleship_task};
use agents::qa::{QaAgent, QaSettings};
use agents::task::{Example, GeneratedTaskKind, SplitSizes, Splits, Task, generate_task, load_task_file};
use anyhow::Context;
use clap::Args;
use optimizers::llm::usage::{Budget, UsageTracker};
use optimizers::{
    ClientBuilder, LlmClient, Opro, OproConfig, OptoPrime, OptoPrimeConfig, OptoPrimeMulti, TextGrad, TextGradConfig,
};
use trace_core::{Engine, Node, Optimizer, ParameterState, Projection, Value};

use super::OptimizerKind;
use super::endpoint::{Endpoint, EndpointArgs};

/// Names of the BIG-bench tasks whose files ship in the data folder.
const BIGBENCH_TASKS: [&str; 3] = ["object_counting", "word_sorting", "date_understanding"];

/// Examples generated for a `generated:KIND` task, and games of the `battleship` task.
const GENERATED_EXAMPLES: usize = 200;

/// The task name that plays Battleship with the Battleship agent instead of answering
/// questions with the question-answering agent.
const BATTLESHIP_TASK: &str = "battleship";

/// The task and how it is split.
#[derive(Debug, Args)]
pub(crate) struct TaskArgs {
    /// The task: a BIG-bench task shipped in the data folder (object_counting,
    /// word_sorting, date_understanding), gsm8k, generated:KIND (object_counting,
    /// word_sorting, boolean_expressions, multistep_arithmetic, dyck_languages), the path
    /// of a task file (BIG-bench task.json, BIG-Bench-Hard JSON, or GSM8K JSON Lines), or
    /// battleship. The battleship task trains the JavaScript `reason` and `act` functions
    /// of a Battleship player on 5x5 boards instead of a question-answering agent.
    pub(crate) task: String,

    /// Folder with the shipped task data.
    #[arg(long, default_value = "data")]
    pub(crate) data_dir: PathBuf,

    /// Seed of the splits and minibatches.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,

    /// Training examples, from which minibatches are drawn.
    #[arg(long, default_value_t = 20)]
    pub(crate) train: usize,

    /// Validation examples, which decide whether an update is kept.
    #[arg(long, default_value_t = 10)]
    pub(crate) validation: usize,

    /// Test examples, scored before and after optimization.
    #[arg(long, default_value_t = 20)]
    pub(crate) test: usize,
}

impl TaskArgs {
    /// Loads the task and cuts it into the splits that the seed and sizes select.
    pub(crate) fn load_splits(&self) -> anyhow::Result<(Task, Splits<Example>)> {
        let task = self.load()?;
        let sizes = SplitSizes { train: self.train, validation: self.validation, test: Some(self.test) };
        let splits = task.split(self.seed, sizes)?;
        Ok((task, splits))
    }

    fn load(&self) -> anyhow::Result<Task> {
        if self.is_battleship() {
            return Ok(battleship_task(BattleshipSettings::default().board, GENERATED_EXAMPLES, self.seed));
        }
        if let Some(kind) = self.task.strip_prefix("generated:") {
            let kind: GeneratedTaskKind = kind.parse().map_err(|error| anyhow::anyhow!("{error}"))?;
            return Ok(generate_task(kind, GENERATED_EXAMPLES, self.seed));
        }
        let path = self.task_path();
        let is_named = BIGBENCH_TASKS.contains(&self.task.as_str()) || self.task == "gsm8k";
        if !is_named && !path.exists() {
            anyhow::bail!(
                "unknown task {:?}: it is not {}, gsm8k, generated:KIND or battleship, and no such file exists",
                self.task,
                BIGBENCH_TASKS.join(", ")
            );
        }
        load_task_file(&path).with_context(|| {
            if is_named {
                format!("cannot load task {:?} from --data-dir {}", self.task, self.data_dir.display())
            } else {
                format!("cannot load task {:?}", self.task)
            }
        })
    }

    fn is_battleship(&self) -> bool {
        self.task == BATTLESHIP_TASK
    }

    fn task_path(&self) -> PathBuf {
        if BIGBENCH_TASKS.contains(&self.task.as_str()) {
            return self.data_dir.join("bigbench").join(&self.task).join("task.json");
        }
        if self.task == "gsm8k" {
            return self.data_dir.join("gsm8k").join("test.jsonl");
        }
        Path::new(&self.task).to_path_buf()
    }
}

/// Settings shared by the LLM optimizers.
#[derive(Debug, Args)]
pub(crate) struct OptimizerSettings {
    /// Maximum number of tokens of one optimizer reply.
    #[arg(long, default_value_t = 1024)]
    pub(crate) reply_tokens: u32,

    /// Times an unusable optimizer reply is sent back to the model with the error.
    #[arg(long, default_value_t = 2)]
    pub(crate) optimizer_retries: usize,

    /// Past steps (values and feedback) that OptoPrime shows in its next prompt.
    #[arg(long, default_value_t = 0)]
    pub(crate) memory: usize,

    /// Sampling temperature of the optimizer's model; higher values propose more varied
    /// changes.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) optimizer_temperature: f32,

    /// Upper bound on the size of one OptoPrime prompt, in tokens estimated as characters
    /// / 4; a longer problem is shortened. Default: 32,000, or what fits the local model's
    /// context beside the reply.
    #[arg(long)]
    pub(crate) max_prompt_tokens: Option<usize>,
}

impl OptimizerSettings {
    /// Returns the prompt size limit for a model with a context of `context_tokens` (`None`
    /// when unknown). A quarter of the room stays free, because text with rare words can
    /// take about 3 characters per token rather than 4 (an estimate, not measured).
    fn prompt_limit(&self, context_tokens: Option<usize>) -> usize {
        let fitting = context_tokens.map(|context| {
            let reply = usize::try_from(self.reply_tokens).unwrap_or(usize::MAX);
            context.saturating_sub(reply) / 4 * 3
        });
        self.max_prompt_tokens.or(fitting).unwrap_or(OptoPrimeConfig::default().max_prompt_tokens)
    }
}

/// Everything a subcommand works with. The local model server, if any, stops on drop.
pub(crate) struct Session {
    pub(crate) task: Task,
    pub(crate) splits: Splits<Example>,
    pub(crate) agent: Box<dyn Agent>,
    /// The projections an optimizer must apply to the agent's parameters.
    projections: Vec<(Node, Arc<dyn Projection>)>,
    pub(crate) client: Arc<dyn LlmClient>,
    pub(crate) usage: Arc<UsageTracker>,
    pub(crate) model: String,
    endpoint: Endpoint,
}

impl Session {
    /// Loads the task, connects to the endpoint and builds the agent.
    pub(crate) async fn start(
        task_args: &TaskArgs,
        endpoint_args: &EndpointArgs,
        budget: Budget,
    ) -> anyhow::Result<Session> {
        let (task, splits) = task_args.load_splits()?;

        let endpoint = endpoint_args.connect().await?;
        let mut builder =
            ClientBuilder::from_config(&endpoint.config)?.budget(budget).retry(endpoint_args.retry_policy());
        if !endpoint_args.no_cache {
            builder = builder.cache_dir(endpoint_args.cache_dir.clone());
        }
        let stack = builder.build()?;
        let usage = stack.usage().clone();
        let client: Arc<dyn LlmClient> = Arc::new(stack);

        let engine = Engine::new()?;
        let (agent, projections): (Box<dyn Agent>, _) = if task_args.is_battleship() {
            let agent = BattleshipAgent::new(&engine, BattleshipSettings::default())?;
            let projections = agent.projections();
            (Box::new(agent), projections)
        } else {
            let agent = QaAgent::new(client.clone(), &engine, QaSettings::default())?;
            let projections = agent.projections();
            (Box::new(agent), projections)
        };
        let model = endpoint.config.model.clone();
        Ok(Session { task, splits, agent, projections, client, usage, model, endpoint })
    }

    /// Loads saved parameters into the agent and checks each value as the optimizer checks
    /// a proposal: code must parse and keep its signature, and a template without its
    /// placeholder gets one. `source` names the file in errors.
    pub(crate) fn load_parameters(&self, state: &ParameterState, source: &Path) -> anyhow::Result<()> {
        // Projections compare a value with the node's current one (a function must keep its
        // name and parameters), so each loaded value is checked against the default.
        let defaults: Vec<Value> = self.projections.iter().map(|(node, _)| node.value()).collect();
        self.agent.load_state(state).with_context(|| format!("cannot load the parameters of {}", source.display()))?;
        let names = self.agent.named_parameters();
        for ((node, projection), default) in self.projections.iter().zip(defaults) {
            let loaded = node.value();
            node.set_value(default)?;
            let value = projection.project(node, loaded).map_err(|reason| {
                let name = names.iter().find(|(_, named)| named == node).map_or(node.key(), |(name, _)| name.as_str());
                anyhow::anyhow!(
                    "parameter {name} in {} is invalid: {reason}; fix it or start without --parameters",
                    source.display()
                )
            })?;
            node.set_value(value)?;
        }
        Ok(())
    }

    /// The optimizer of the agent's trainable parameters, with the agent's projections.
    pub(crate) fn optimizer(
        &self,
        kind: OptimizerKind,
        settings: &OptimizerSettings,
    ) -> anyhow::Result<Box<dyn Optimizer>> {
        let parameters = self.agent.trainable_parameters();
        let client = self.client.clone();
        let optoprime_config = OptoPrimeConfig {
            max_reply_tokens: Some(settings.reply_tokens),
            max_retries: settings.optimizer_retries,
            memory_size: settings.memory,
            temperature: Some(settings.optimizer_temperature),
            max_prompt_tokens: settings.prompt_limit(self.endpoint.context_tokens),
            ..OptoPrimeConfig::default()
        };

        // The optimizers share no trait for `add_projection`, so a macro applies the
        // agent's projections to whichever one was built.
        macro_rules! with_projections {
            ($optimizer:expr) => {{
                let mut optimizer = $optimizer;
                for (node, projection) in &self.projections {
                    optimizer.add_projection(node, projection.clone());
                }
                Box::new(optimizer) as Box<dyn Optimizer>
            }};
        }
        let optimizer = match kind {
            OptimizerKind::Optoprime => {
                with_projections!(OptoPrime::new(parameters, client).with_config(optoprime_config))
            }
            OptimizerKind::OptoprimeMulti => {
                with_projections!(OptoPrimeMulti::new(parameters, client).with_config(optoprime_config))
            }
            OptimizerKind::Opro => with_projections!(Opro::new(parameters, client).with_config(OproConfig {
                max_reply_tokens: Some(settings.reply_tokens),
                max_retries: settings.optimizer_retries,
                temperature: Some(settings.optimizer_temperature),
                ..OproConfig::default()
            })),
            OptimizerKind::Textgrad => {
                with_projections!(TextGrad::new(parameters, client).with_config(TextGradConfig {
                    max_reply_tokens: Some(settings.reply_tokens),
                    max_retries: settings.optimizer_retries,
                    temperature: Some(settings.optimizer_temperature),
                    ..TextGradConfig::default()
                }))
            }
        };
        Ok(optimizer)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::OptimizerSettings;

    #[derive(Debug, Parser)]
    struct Arguments {
        #[command(flatten)]
        settings: OptimizerSettings,
    }

    fn settings(arguments: &[&str]) -> OptimizerSettings {
        Arguments::parse_from(std::iter::once("opto").chain(arguments.iter().copied())).settings
    }

    #[test]
    fn prompt_limit_fits_local_context() {
        assert_eq!(settings(&[]).prompt_limit(Some(4096)), (4096 - 1024) / 4 * 3);
        assert_eq!(settings(&["--reply-tokens", "512"]).prompt_limit(Some(4096)), (4096 - 512) / 4 * 3);
    }

    #[test]
    fn prompt_limit_defaults_and_overrides() {
        assert_eq!(settings(&[]).prompt_limit(None), 32_000);
        assert_eq!(settings(&["--max-prompt-tokens", "900"]).prompt_limit(Some(4096)), 900);
        assert_eq!(settings(&["--reply-tokens", "9000"]).prompt_limit(Some(4096)), 0);
    }
}
