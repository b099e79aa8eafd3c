//! OPRO (optimization by prompting): the LLM is shown the history of variable values and
//! the feedback each received, with an objective, but not the graph.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tera::Context;
use trace_core::{BoxFuture, Node, Optimizer, ParameterSet, Projection, Proposal, StepError, StepReport, Summary};

use crate::error::{Error, Result};
use crate::llm::{ChatRequest, LlmClient, Message, ResponseFormat};
use crate::optoprime::to_proposal;
use crate::reply::{self, KeyResolver, Variable};
use crate::step_log;
use crate::templates::Templates;

/// Settings of [`Opro`].
#[derive(Clone, Debug, PartialEq)]
pub struct OproConfig {
    /// The goal of the variables; `None` uses the template `opro/objective.tera`.
    pub objective: Option<String>,
    /// How many past (variables, feedback) pairs the prompt shows, the current one included.
    pub history_size: usize,
    /// The reply size limit in tokens, sent as `max_tokens`; `None` leaves the server's.
    pub max_reply_tokens: Option<u32>,
    /// The sampling temperature; `None` leaves the server's.
    pub temperature: Option<f32>,
    /// How many times an unusable reply is sent back to the model with the reason.
    pub max_retries: usize,
    /// Whether to ask for a JSON object reply.
    pub json_mode: bool,
    /// The model; `None` uses the client's default.
    pub model: Option<String>,
}

impl Default for OproConfig {
    fn default() -> OproConfig {
        OproConfig {
            objective: None,
            history_size: 20,
            max_reply_tokens: Some(4096),
            temperature: None,
            max_retries: 2,
            json_mode: true,
            model: None,
        }
    }
}

/// The variables of one step and the feedback they received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The variables as `(type) key=value` lines.
    pub variables: Vec<String>,
    /// The feedback text.
    pub feedback: String,
}

/// The name in logs and step reports.
const NAME: &str = "OPRO";

/// The OPRO optimizer.
///
/// Each step adds the current values of the trainable parameters and the feedback they
/// received (from [`Summary::feedback_text`]) to the history, and requests values that do
/// better than every entry of it. Replies are read and repaired like OptoPrime's.
#[derive(Debug)]
pub struct Opro {
    client: Arc<dyn LlmClient>,
    config: OproConfig,
    templates: Templates,
    parameters: ParameterSet,
    history: VecDeque<HistoryEntry>,
    log: Vec<StepReport>,
}

impl Opro {
    /// Creates an optimizer of `parameters` with the default settings and templates.
    pub fn new(parameters: Vec<Node>, client: Arc<dyn LlmClient>) -> Opro {
        Opro {
            client,
            config: OproConfig::default(),
            templates: Templates::defaults(),
            parameters: ParameterSet::new(parameters),
            history: VecDeque::new(),
            log: Vec::new(),
        }
    }

    /// Replaces the settings.
    #[must_use]
    pub fn with_config(mut self, config: OproConfig) -> Opro {
        self.config = config;
        self.trim_history();
        self
    }

    /// Replaces the prompt templates.
    #[must_use]
    pub fn with_templates(mut self, templates: Templates) -> Opro {
        self.templates = templates;
        self
    }

    /// Adds a projection that every new value of `parameter` passes through.
    pub fn add_projection(&mut self, parameter: &Node, projection: Arc<dyn Projection>) {
        self.parameters.add_projection(parameter, projection);
    }

    /// Returns the history that the next prompt shows besides the new entry, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.history.iter().cloned().collect()
    }

    fn trim_history(&mut self) {
        while self.history.len() > self.config.history_size {
            self.history.pop_front();
        }
    }

    async fn propose_inner(&mut self) -> Result<Proposal> {
        let trainable: Vec<Node> = self.parameters.nodes().iter().filter(|node| node.is_trainable()).cloned().collect();
        let feedback = Summary::of(&trainable).feedback_text();
        if feedback.is_empty() || trainable.is_empty() {
            return Err(Error::NoFeedback { optimizer: NAME.to_string() });
        }

        let resolver = KeyResolver::new(trainable.iter().map(Variable::of).collect());
        let variables: Vec<String> = resolver.variables().iter().map(|v| v.current.render_tagged(&v.key)).collect();
        self.history.push_back(HistoryEntry { variables: variables.clone(), feedback });
        self.trim_history();

        let request = self.build_request(&resolver, &variables)?;
        let reply = reply::ask_for_suggestion(
            self.client.as_ref(),
            NAME,
            request,
            &resolver,
            self.config.max_retries,
            &self.templates,
            "opro/retry.tera",
        )
        .await?;
        Ok(to_proposal(reply.value, reply.calls, Vec::new()))
    }

    fn build_request(&self, resolver: &KeyResolver, variables: &[String]) -> Result<ChatRequest> {
        let objective = match &self.config.objective {
            Some(objective) => objective.clone(),
            None => self.templates.render_plain("opro/objective.tera")?.trim_end().to_string(),
        };
        let constraints: Vec<String> = resolver
            .variables()
            .iter()
            .filter_map(|v| Some(format!("({}) {}: {}", v.current.type_tag(), v.key, v.node.constraint()?)))
            .collect();

        let mut context = Context::new();
        context.insert("objective", &objective);
        context.insert("history", &self.history);
        context.insert("variables", variables);
        context.insert("constraints", &constraints);
        context.insert("keys", &resolver.keys());
        let user = self.templates.render("opro/user.tera", &context)?;
        let system = self.templates.render_plain("opro/system.tera")?;

        let mut request = ChatRequest::new(vec![Message::system(system), Message::user(user)]);
        if let Some(temperature) = self.config.temperature {
            request = request.temperature(temperature);
        }
        if let Some(max_tokens) = self.config.max_reply_tokens {
            request = request.max_tokens(max_tokens);
        }
        if self.config.json_mode {
            request = request.response_format(ResponseFormat::JsonObject);
        }
        if let Some(model) = &self.config.model {
            request = request.model(model.clone());
        }
        Ok(request)
    }
}

impl Optimizer for Opro {
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

    /// Proposes and applies new values; a failed step is recorded in the step log and
    /// returned as an [`Error`].
    fn step(&mut self) -> BoxFuture<'_, Result<StepReport, StepError>> {
        Box::pin(async move {
            match self.propose_inner().await {
                Ok(proposal) => Ok(self.apply(&proposal)),
                Err(error) => {
                    step_log::record_failure(&mut self.log, NAME, &error);
                    Err(StepError::from(error))
                }
            }
        })
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        serde_json::json!({ "history": self.history })
    }

    fn restore_checkpoint_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            self.history.clear();
            return Ok(());
        }
        let entries = state.get("history").ok_or("the state has no `history` member")?;
        let entries: Vec<HistoryEntry> =
            serde_json::from_value(entries.clone()).map_err(|error| format!("invalid `history` member: {error}"))?;
        self.history = entries.into();
        self.trim_history();
        Ok(())
    }
}
