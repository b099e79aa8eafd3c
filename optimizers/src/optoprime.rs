//! OptoPrime: the optimizer of Microsoft Trace, which shows an LLM the traced graph of a run
//! and the feedback on it, and requests new values of the trainable parameters.
//!
//! The prompt is a problem in nine sections rendered from the parameters' [`Summary`]:
//! #Instruction (the objective), #Code (one `out = op(arg=in)` line per operator),
//! #Documentation, #Variables, #Constraints, #Inputs, #Others, #Outputs and #Feedback,
//! with values written as `(type) key=value`. It ends by listing the keys the model may
//! update. The reply is a JSON object with `reasoning`, `answer` and `suggestion`.
//!
//! A reply is read leniently: prose and code fences around the object, single quotes,
//! trailing commas, Python literals, a nested `suggestion`, key aliases (`x:0` or `x` for
//! `x0`, a function's name for its code parameter) and values of a convertible type are
//! repaired. A reply that still cannot be used (empty, no object, no `suggestion`, no known
//! key, a value of the wrong type) is sent back with the reason and the valid keys, at
//! most [`OptoPrimeConfig::max_retries`] times, and then fails the step with
//! [`Error::InvalidReply`]. A reply containing `TERMINATE` changes nothing.

mod memory;
mod problem;

use std::sync::Arc;

use tera::Context;
use trace_core::{
    BoxFuture, Node, Optimizer, ParameterSet, Projection, Proposal, RejectedUpdate, StepError, StepReport, Summary,
    Value,
};

pub use memory::MemoryEntry;

use crate::error::{Error, Result};
use crate::llm::{ChatRequest, LlmClient, Message, ResponseFormat};
use crate::reply::{self, KeyResolver, SuggestionReply, Variable};
use crate::step_log;
use crate::templates::Templates;
use memory::Memory;
use problem::Problem;

/// Settings of [`OptoPrime`].
#[derive(Clone, Debug, PartialEq)]
pub struct OptoPrimeConfig {
    /// The #Instruction of the problem; `None` uses the template `optoprime/objective.tera`.
    pub objective: Option<String>,
    /// How many past (variables, feedback) pairs the prompt shows; 0 shows none.
    pub memory_size: usize,
    /// The prompt size limit in tokens, estimated as one token per four characters of the
    /// system and user messages. A larger problem is shortened with notes saying what was
    /// left out.
    pub max_prompt_tokens: usize,
    /// The reply size limit in tokens, sent as `max_tokens`; `None` leaves the server's.
    pub max_reply_tokens: Option<u32>,
    /// The sampling temperature; `None` leaves the server's.
    pub temperature: Option<f32>,
    /// How many times an unusable reply is sent back to the model with the reason.
    pub max_retries: usize,
    /// Whether to ask for a JSON object reply (OpenAI's `json_object` format).
    pub json_mode: bool,
    /// The model; `None` uses the client's default.
    pub model: Option<String>,
}

impl Default for OptoPrimeConfig {
    fn default() -> OptoPrimeConfig {
        OptoPrimeConfig {
            objective: None,
            memory_size: 0,
            max_prompt_tokens: 32_000,
            max_reply_tokens: Some(4096),
            temperature: None,
            max_retries: 2,
            json_mode: true,
            model: None,
        }
    }
}

/// The prompt of one step and what is needed to read its reply.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    pub(crate) request: ChatRequest,
    pub(crate) resolver: KeyResolver,
    pub(crate) warnings: Vec<String>,
    memory_entry: MemoryEntry,
}

/// The OptoPrime optimizer.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use optimizers::OptoPrime;
/// use optimizers::llm::MockClient;
/// use trace_core::{Node, Optimizer};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let x = Node::parameter("x", 1);
/// let y = &x * 3;
/// y.backward("the output should be 12")?;
///
/// let reply = format!(r#"{{"reasoning": "3 * 4 = 12", "answer": "", "suggestion": {{"{}": 4}}}}"#, x.key());
/// let mut optimizer = OptoPrime::new(vec![x.clone()], Arc::new(MockClient::new("mock").reply(reply)));
/// let report = optimizer.step().await?;
///
/// assert_eq!(x.value(), trace_core::Value::Int(4));
/// assert_eq!(report.llm_calls, 1);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug)]
pub struct OptoPrime {
    client: Arc<dyn LlmClient>,
    config: OptoPrimeConfig,
    templates: Templates,
    parameters: ParameterSet,
    memory: Memory,
    log: Vec<StepReport>,
    /// Updates of the last attempt that projections rejected, shown in the next prompt.
    rejections: Vec<RejectedUpdate>,
}

/// The name in logs and step reports.
const NAME: &str = "OptoPrime";

impl OptoPrime {
    /// Creates an optimizer of `parameters` with the default settings and templates.
    pub fn new(parameters: Vec<Node>, client: Arc<dyn LlmClient>) -> OptoPrime {
        OptoPrime {
            client,
            config: OptoPrimeConfig::default(),
            templates: Templates::defaults(),
            parameters: ParameterSet::new(parameters),
            memory: Memory::new(0),
            log: Vec::new(),
            rejections: Vec::new(),
        }
    }

    /// Replaces the settings. A smaller memory drops its oldest entries.
    #[must_use]
    pub fn with_config(mut self, config: OptoPrimeConfig) -> OptoPrime {
        self.memory.set_capacity(config.memory_size);
        self.config = config;
        self
    }

    /// Replaces the prompt templates, for example by [`Templates::from_dir`].
    #[must_use]
    pub fn with_templates(mut self, templates: Templates) -> OptoPrime {
        self.templates = templates;
        self
    }

    /// Adds a projection that every new value of `parameter` passes through.
    pub fn add_projection(&mut self, parameter: &Node, projection: Arc<dyn Projection>) {
        self.parameters.add_projection(parameter, projection);
    }

    /// The settings.
    pub fn config(&self) -> &OptoPrimeConfig {
        &self.config
    }

    /// Returns the past (variables, feedback) pairs that the next prompt shows, oldest first.
    pub fn memory(&self) -> Vec<MemoryEntry> {
        self.memory.entries().cloned().collect()
    }

    /// Renders the system and user messages of the next step from the current feedback,
    /// without sending them.
    ///
    /// # Errors
    ///
    /// [`Error::NoFeedback`] when no trainable parameter received feedback, and
    /// [`Error::Template`] when a template fails to render.
    pub fn prompt(&self) -> Result<Vec<Message>> {
        Ok(self.build()?.request.messages)
    }

    pub(crate) fn client(&self) -> &Arc<dyn LlmClient> {
        &self.client
    }

    pub(crate) fn templates(&self) -> &Templates {
        &self.templates
    }

    pub(crate) fn parameter_set(&self) -> &ParameterSet {
        &self.parameters
    }

    /// Builds the request of the next step and remembers its variables and feedback for
    /// the prompts after it.
    pub(crate) fn prepare(&mut self) -> Result<Prepared> {
        let prepared = self.build()?;
        self.memory.push(prepared.memory_entry.clone());
        Ok(prepared)
    }

    fn build(&self) -> Result<Prepared> {
        let trainable: Vec<Node> = self.parameters.nodes().iter().filter(|node| node.is_trainable()).cloned().collect();
        let summary = Summary::of(&trainable);
        let objective = match &self.config.objective {
            Some(objective) => objective.clone(),
            None => self.templates.render_plain("optoprime/objective.tera")?.trim_end().to_string(),
        };
        let (mut problem, variables) = Problem::new(&summary, &trainable, objective);
        if summary.feedback.is_empty() || variables.is_empty() {
            return Err(Error::NoFeedback { optimizer: NAME.to_string() });
        }
        let resolver = KeyResolver::new(variables.iter().map(Variable::of).collect());
        let keys = resolver.keys();

        let system = self.templates.render_plain("optoprime/system.tera")?;
        let mut user = self.render_user(&problem, &keys)?;
        let mut warnings = Vec::new();
        let limit = self.config.max_prompt_tokens.saturating_mul(4);
        let size = system.chars().count() + user.chars().count();
        if size > limit {
            let left = problem.shrink(size - limit);
            user = self.render_user(&problem, &keys)?;
            warnings.push(format!(
                "the problem was shortened to fit the limit of {} prompt tokens",
                self.config.max_prompt_tokens
            ));
            if left > 0 {
                warnings.push(format!(
                    "the prompt still exceeds the limit by about {} tokens, because variables and feedback are never cut",
                    left.div_ceil(4)
                ));
            }
        }

        let mut request = ChatRequest::new(vec![Message::system(system), Message::user(user)]);
        request = apply_settings(request, &self.config);
        if self.config.json_mode {
            request = request.response_format(suggestion_format(&keys, &trainable));
        }
        let memory_entry = MemoryEntry { variables: problem.variables.clone(), feedback: problem.feedback.clone() };
        Ok(Prepared { request, resolver, warnings, memory_entry })
    }

    fn render_user(&self, problem: &Problem, keys: &[String]) -> Result<String> {
        // Each section goes in as one text, because a Tera loop over its lines took about a
        // fifth of the build time of a 1,000-operator prompt (`cargo bench --bench prompt`).
        let mut context = Context::new();
        context.insert("instruction", &problem.instruction);
        context.insert("code", &line_block(problem.code.lines()));
        context.insert("documentation", &line_block(problem.documentation.lines()));
        context.insert("variables", &line_block(&problem.variables));
        context.insert("constraints", &line_block(&problem.constraints));
        context.insert("inputs", &line_block(problem.inputs.lines()));
        context.insert("others", &line_block(problem.others.lines()));
        context.insert("outputs", &line_block(problem.outputs.lines()));
        context.insert("feedback", &problem.feedback);
        let problem_text = self.templates.render("optoprime/problem.tera", &context)?;

        let mut memory = Vec::new();
        for entry in self.memory.entries() {
            let mut context = Context::new();
            context.insert("variables", &entry.variables);
            context.insert("feedback", &entry.feedback);
            memory.push(self.templates.render("optoprime/memory_entry.tera", &context)?.trim_end().to_string());
        }

        let mut context = Context::new();
        context.insert("problem", problem_text.trim_end());
        context.insert("memory", &memory);
        context.insert("keys", keys);
        context.insert("rejected", &self.rejections);
        self.templates.render("optoprime/user.tera", &context)
    }

    async fn propose_inner(&mut self) -> Result<Proposal> {
        let prepared = self.prepare()?;
        let reply = reply::ask_for_suggestion(
            self.client.as_ref(),
            NAME,
            prepared.request,
            &prepared.resolver,
            self.config.max_retries,
            &self.templates,
            "optoprime/retry.tera",
        )
        .await?;
        Ok(to_proposal(reply.value, reply.calls, prepared.warnings))
    }
}

/// Joins the lines into one text, each line followed by a newline.
fn line_block(lines: &[String]) -> String {
    let mut text = String::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Sets temperature, reply size, format and model on `request`.
pub(crate) fn apply_settings(mut request: ChatRequest, config: &OptoPrimeConfig) -> ChatRequest {
    if let Some(temperature) = config.temperature {
        request = request.temperature(temperature);
    }
    if let Some(max_tokens) = config.max_reply_tokens {
        request = request.max_tokens(max_tokens);
    }
    if config.json_mode {
        request = request.response_format(ResponseFormat::JsonObject);
    }
    if let Some(model) = &config.model {
        request = request.model(model.clone());
    }
    request
}

/// The longest `reasoning` and `answer` a reply may have under the JSON Schema, in
/// characters, so that a small model cannot loop inside them until the token limit.
const MAX_EXPLANATION_CHARS: usize = 1500;

/// A JSON Schema for the reply: `reasoning`, `answer`, and a `suggestion` with one value
/// per variable key, typed after the variable's current value.
fn suggestion_format(keys: &[String], variables: &[Node]) -> ResponseFormat {
    let by_key: std::collections::HashMap<&str, &Node> = variables.iter().map(|node| (node.key(), node)).collect();
    let value_schema = |key: &str| {
        let value = by_key.get(key).map(|node| node.value());
        match value {
            Some(Value::Text(_) | Value::Code(_)) => serde_json::json!({"type": "string"}),
            Some(Value::Int(_)) => serde_json::json!({"type": "integer"}),
            Some(Value::Float(_)) => serde_json::json!({"type": "number"}),
            Some(Value::Bool(_)) => serde_json::json!({"type": "boolean"}),
            Some(Value::List(_)) => serde_json::json!({"type": "array"}),
            Some(Value::Map(_)) => serde_json::json!({"type": "object"}),
            _ => serde_json::json!({}),
        }
    };
    let properties: serde_json::Map<String, serde_json::Value> =
        keys.iter().map(|key| (key.clone(), value_schema(key))).collect();
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": MAX_EXPLANATION_CHARS},
            "answer": {"type": "string", "maxLength": MAX_EXPLANATION_CHARS},
            "suggestion": {"type": "object", "properties": properties, "required": keys},
        },
        "required": ["reasoning", "answer", "suggestion"],
    });
    ResponseFormat::JsonSchema { name: "optoprime_reply".to_string(), schema: schema.to_string() }
}

/// Builds the proposal of a parsed reply.
pub(crate) fn to_proposal(reply: SuggestionReply, llm_calls: usize, mut warnings: Vec<String>) -> Proposal {
    warnings.extend(reply.warnings);
    Proposal { updates: reply.updates, terminated: reply.terminated, reasoning: reply.reasoning, llm_calls, warnings }
}

impl Optimizer for OptoPrime {
    fn name(&self) -> &str {
        NAME
    }

    fn parameters(&self) -> &[Node] {
        self.parameters.nodes()
    }

    fn propose(&mut self) -> BoxFuture<'_, Result<Proposal, StepError>> {
        Box::pin(async move { self.propose_inner().await.map_err(StepError::from) })
    }

    fn apply(&mut self, proposal: &Proposal) -> StepReport {
        step_log::apply_and_record(&self.parameters, &mut self.log, NAME, proposal)
    }

    /// Proposes and applies new values. When every suggested value is rejected by a
    /// projection (a renamed function, a template without its placeholder), the reasons go
    /// back to the model in a new prompt, up to `max_retries` times; the step report then
    /// lists the rejections of every attempt and counts all their LLM calls. A step that
    /// fails, for example because the replies stayed unusable after every retry, is
    /// recorded in the step log with its error and returns the error, an [`Error`] that
    /// callers can downcast.
    fn step(&mut self) -> BoxFuture<'_, Result<StepReport, StepError>> {
        Box::pin(async move {
            let mut retries_left = self.config.max_retries;
            let mut earlier_rejections = Vec::new();
            let mut llm_calls = 0;
            loop {
                let proposal = match self.propose_inner().await {
                    Ok(proposal) => proposal,
                    Err(error) => {
                        self.rejections.clear();
                        step_log::record_failure(&mut self.log, NAME, &error);
                        return Err(StepError::from(error));
                    }
                };
                llm_calls += proposal.llm_calls;
                let report = self.apply(&proposal);

                let only_rejected = report.updates.is_empty() && !report.rejected.is_empty() && !report.terminated;
                if only_rejected && retries_left > 0 {
                    retries_left -= 1;
                    tracing::debug!(
                        rejected = report.rejected.len(),
                        "every suggested value was rejected; asking again"
                    );
                    self.log.pop();
                    self.rejections = report.rejected.clone();
                    earlier_rejections.extend(report.rejected);
                    continue;
                }

                self.rejections.clear();
                let mut report = report;
                earlier_rejections.append(&mut report.rejected);
                report.rejected = earlier_rejections;
                report.llm_calls = llm_calls;
                if let Some(logged) = self.log.last_mut() {
                    *logged = report.clone();
                }
                return Ok(report);
            }
        })
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        self.memory.to_json()
    }

    fn restore_checkpoint_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.memory.restore(state)
    }
}
