//! TextGrad: textual gradients sent backward along the edges of the summarized graph, then
//! one descent prompt per variable.
//!
//! Starting from the feedback on each output, the operator lines of the [`Summary`] are
//! walked from the outputs back to the variables. For every edge from an operator to an
//! input that depends on a variable (another operator's output or a variable itself), one
//! LLM call turns the operator's feedback into feedback for that input. A node that
//! collects feedback from several edges gets one more call that reduces them to one text.
//! Finally each variable gets a descent call whose reply carries the new value between
//! `<IMPROVED_VARIABLE>` and `</IMPROVED_VARIABLE>`. Calls are made one after another, so a
//! graph with `e` such edges and `v` variables costs `e + v` calls plus the reductions.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;
use tera::Context;
use trace_core::{
    BoxFuture, Node, OpLine, Optimizer, ParameterSet, Projection, Proposal, StepError, StepReport, Summary,
};

use crate::error::{Error, Result};
use crate::llm::{ChatRequest, Completion, LlmClient, Message};
use crate::reply::{self, Variable, convert, strip_rendered_key};
use crate::step_log;
use crate::templates::Templates;

/// Settings of [`TextGrad`].
#[derive(Clone, Debug, PartialEq)]
pub struct TextGradConfig {
    /// The overall goal shown in gradient and descent prompts; `None` shows none.
    pub objective: Option<String>,
    /// The reply size limit in tokens, sent as `max_tokens`; `None` leaves the server's.
    pub max_reply_tokens: Option<u32>,
    /// The sampling temperature; `None` leaves the server's.
    pub temperature: Option<f32>,
    /// How many times an unusable reply is sent back to the model with the reason.
    pub max_retries: usize,
    /// Values longer than this many characters are shortened in gradient prompts.
    pub max_value_chars: usize,
    /// The model; `None` uses the client's default.
    pub model: Option<String>,
}

impl Default for TextGradConfig {
    fn default() -> TextGradConfig {
        TextGradConfig {
            objective: None,
            max_reply_tokens: Some(2048),
            temperature: None,
            max_retries: 2,
            max_value_chars: 4000,
            model: None,
        }
    }
}

/// The name in logs and step reports.
const NAME: &str = "TextGrad";

const OPEN_TAG: &str = "<IMPROVED_VARIABLE>";
const CLOSE_TAG: &str = "</IMPROVED_VARIABLE>";

/// The TextGrad optimizer.
#[derive(Debug)]
pub struct TextGrad {
    client: Arc<dyn LlmClient>,
    config: TextGradConfig,
    templates: Templates,
    parameters: ParameterSet,
    log: Vec<StepReport>,
}

impl TextGrad {
    /// Creates an optimizer of `parameters` with the default settings and templates.
    pub fn new(parameters: Vec<Node>, client: Arc<dyn LlmClient>) -> TextGrad {
        TextGrad {
            client,
            config: TextGradConfig::default(),
            templates: Templates::defaults(),
            parameters: ParameterSet::new(parameters),
            log: Vec::new(),
        }
    }

    /// Replaces the settings.
    #[must_use]
    pub fn with_config(mut self, config: TextGradConfig) -> TextGrad {
        self.config = config;
        self
    }

    /// Replaces the prompt templates.
    #[must_use]
    pub fn with_templates(mut self, templates: Templates) -> TextGrad {
        self.templates = templates;
        self
    }

    /// Adds a projection that every new value of `parameter` passes through.
    pub fn add_projection(&mut self, parameter: &Node, projection: Arc<dyn Projection>) {
        self.parameters.add_projection(parameter, projection);
    }

    async fn propose_inner(&self) -> Result<Proposal> {
        let members: Vec<Node> = self.parameters.nodes().iter().filter(|node| node.is_trainable()).cloned().collect();
        let summary = Summary::of(&members);
        let variables: Vec<Variable> = summary
            .variables
            .iter()
            .filter(|entry| members.contains(&entry.node))
            .map(|entry| Variable::of(&entry.node))
            .collect();
        if summary.feedback.is_empty() || variables.is_empty() {
            return Err(Error::NoFeedback { optimizer: NAME.to_string() });
        }

        let mut walk = Walk { optimizer: self, calls: 0, gradients: HashMap::new() };
        walk.backward(&summary, &variables).await?;

        let mut proposal = Proposal::default();
        let mut explanations = Vec::new();
        for variable in &variables {
            let Some(feedback) = walk.reduced(&variable.key).await? else {
                proposal.warnings.push(format!("no feedback reached `{}`", variable.key));
                continue;
            };
            let value = walk.descent(variable, &feedback).await?;
            explanations.push(format!("{}: {feedback}", variable.key));
            proposal.updates.push((variable.node.clone(), value));
        }
        proposal.llm_calls = walk.calls;
        proposal.reasoning = Some(explanations.join("\n\n"));
        Ok(proposal)
    }

    fn request(&self, user: String) -> Result<ChatRequest> {
        let system = self.templates.render_plain("textgrad/system.tera")?;
        let mut request = ChatRequest::new(vec![Message::system(system), Message::user(user)]);
        if let Some(temperature) = self.config.temperature {
            request = request.temperature(temperature);
        }
        if let Some(max_tokens) = self.config.max_reply_tokens {
            request = request.max_tokens(max_tokens);
        }
        if let Some(model) = &self.config.model {
            request = request.model(model.clone());
        }
        Ok(request)
    }

    fn shorten(&self, text: &str) -> String {
        let length = text.chars().count();
        if length <= self.config.max_value_chars {
            return text.to_string();
        }
        let kept: String = text.chars().take(self.config.max_value_chars).collect();
        format!("{kept} ... ({} more characters)", length - self.config.max_value_chars)
    }
}

/// The state of one backward walk: the feedback collected per node key.
struct Walk<'a> {
    optimizer: &'a TextGrad,
    calls: usize,
    gradients: HashMap<String, Vec<String>>,
}

impl Walk<'_> {
    async fn backward(&mut self, summary: &Summary, variables: &[Variable]) -> Result<()> {
        for item in &summary.feedback {
            self.gradients.entry(item.output.clone()).or_default().push(item.text.clone());
        }

        let mut values: HashMap<&str, String> = HashMap::new();
        for entry in summary.variables.iter().chain(&summary.inputs).chain(&summary.others).chain(&summary.outputs) {
            values.insert(&entry.key, self.optimizer.shorten(&entry.render()));
        }
        let documentation: HashMap<&str, &str> =
            summary.documentation.iter().map(|(op, text)| (op.as_str(), text.as_str())).collect();
        let mut depends_on_variable: Vec<&str> = variables.iter().map(|v| v.key.as_str()).collect();
        depends_on_variable.extend(summary.code.iter().map(OpLine::output));

        for line in summary.code.iter().rev() {
            let Some(feedback) = self.reduced(line.output()).await? else { continue };
            let inputs: Vec<String> = line
                .args()
                .map(|(arg, key)| format!("{arg} = {}", values.get(key).map_or(key, String::as_str)))
                .collect();

            for (_, input) in line.args() {
                if !depends_on_variable.contains(&input) {
                    continue;
                }
                let mut context = Context::new();
                context.insert("line", &line.render());
                context.insert("documentation", documentation.get(line.op()).copied().unwrap_or_default());
                context.insert("inputs", &inputs);
                context.insert("output", values.get(line.output()).map_or(line.output(), String::as_str));
                context.insert("feedback", &feedback);
                context.insert("objective", &self.optimizer.config.objective);
                context.insert("target", input);
                let prompt = self.optimizer.templates.render("textgrad/gradient.tera", &context)?;
                let gradient = self.ask_text(prompt).await?;
                self.gradients.entry(input.to_owned()).or_default().push(gradient);
            }
        }
        Ok(())
    }

    /// Returns the single feedback text of `key`, reducing several texts with one LLM call,
    /// or `None` when no feedback reached it.
    async fn reduced(&mut self, key: &str) -> Result<Option<String>> {
        let gradients = match self.gradients.get(key) {
            None => return Ok(None),
            Some(gradients) if gradients.len() == 1 => return Ok(Some(gradients[0].clone())),
            Some(gradients) => gradients.clone(),
        };
        let mut context = Context::new();
        context.insert("target", key);
        context.insert("gradients", &gradients);
        let prompt = self.optimizer.templates.render("textgrad/reduce.tera", &context)?;
        let reduced = self.ask_text(prompt).await?;
        self.gradients.insert(key.to_string(), vec![reduced.clone()]);
        Ok(Some(reduced))
    }

    /// Sends `prompt` and returns the non-empty reply text.
    async fn ask_text(&mut self, prompt: String) -> Result<String> {
        let optimizer = self.optimizer;
        let request = optimizer.request(prompt)?;
        let outcome = reply::complete_with_repair(
            optimizer.client.as_ref(),
            NAME,
            request,
            optimizer.config.max_retries,
            |completion| {
                let text = completion.text.trim();
                if text.is_empty() { Err("the reply is empty".to_string()) } else { Ok(text.to_string()) }
            },
            |error| retry_prompt(&optimizer.templates, "textgrad/empty_reply.tera", error),
        )
        .await;
        self.count(outcome)
    }

    async fn descent(&mut self, variable: &Variable, feedback: &str) -> Result<trace_core::Value> {
        let optimizer = self.optimizer;
        let mut context = Context::new();
        context.insert("key", &variable.key);
        context.insert("variable", &variable.current.render());
        let description = variable.node.description();
        context.insert("description", description.strip_prefix("[parameter] ").unwrap_or(description));
        context.insert("constraint", &variable.node.constraint());
        context.insert("feedback", feedback);
        context.insert("objective", &optimizer.config.objective);
        context.insert("type", variable.current.type_tag());
        let prompt = optimizer.templates.render("textgrad/descent.tera", &context)?;
        let request = optimizer.request(prompt)?;

        let outcome = reply::complete_with_repair(
            optimizer.client.as_ref(),
            NAME,
            request,
            optimizer.config.max_retries,
            |completion| parse_improved(completion, variable),
            |error| retry_prompt(&optimizer.templates, "textgrad/retry.tera", error),
        )
        .await;
        self.count(outcome)
    }

    fn count<T>(&mut self, outcome: Result<reply::Repaired<T>>) -> Result<T> {
        match outcome {
            Ok(repaired) => {
                self.calls += repaired.calls;
                Ok(repaired.value)
            }
            Err(Error::InvalidReply { optimizer, attempts, reason, raw }) => {
                Err(Error::InvalidReply { optimizer, attempts: attempts + self.calls, reason, raw })
            }
            Err(error) => Err(error),
        }
    }
}

fn retry_prompt(templates: &Templates, name: &str, error: &str) -> Result<String> {
    let mut context = Context::new();
    context.insert("error", error);
    templates.render(name, &context)
}

/// Extracts the value between the tags of a descent reply and converts it to the
/// variable's type.
fn parse_improved(completion: &Completion, variable: &Variable) -> Result<trace_core::Value, String> {
    let text = &completion.text;
    let lower = text.to_ascii_lowercase();
    let Some(open) = lower.find(&OPEN_TAG.to_ascii_lowercase()) else {
        return Err(format!("the reply has no {OPEN_TAG} tag"));
    };
    let body_start = open + OPEN_TAG.len();
    let Some(length) = lower[body_start..].find(&CLOSE_TAG.to_ascii_lowercase()) else {
        let cut = if reply::is_cut_off(completion) { " because the token limit cut the reply short" } else { "" };
        return Err(format!("the reply has no {CLOSE_TAG} tag after {OPEN_TAG}{cut}"));
    };
    let body = text[body_start..body_start + length].trim();
    if body.is_empty() {
        return Err(format!("the text between {OPEN_TAG} and {CLOSE_TAG} is empty"));
    }
    let value = strip_rendered_key(&Json::String(body.to_string()), &variable.key);
    convert(&value, &variable.current)
        .map_err(|reason| format!("the new value of `{}` is invalid: {reason}", variable.key))
}

impl Optimizer for TextGrad {
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
}

#[cfg(test)]
mod tests {
    use trace_core::Value;

    use super::*;

    fn parse(text: &str, current: Value) -> Result<Value, String> {
        let node = Node::parameter("v", current);
        parse_improved(&Completion::from_text("m", text), &Variable::of(&node))
    }

    #[test]
    fn reads_value_between_tags() {
        assert_eq!(
            parse("Sure.\n<IMPROVED_VARIABLE>\nBe brief.\n</IMPROVED_VARIABLE>", Value::from("x")),
            Ok(Value::from("Be brief."))
        );
        assert_eq!(parse("<improved_variable> 42 </improved_variable>", Value::Int(0)), Ok(Value::Int(42)));
    }

    #[test]
    fn strips_copied_key_from_value() {
        let node = Node::parameter("count", 0);
        let text = format!("<IMPROVED_VARIABLE>(int) {}=7</IMPROVED_VARIABLE>", node.key());

        let parsed = parse_improved(&Completion::from_text("m", text), &Variable::of(&node));

        assert_eq!(parsed, Ok(Value::Int(7)));
    }

    #[test]
    fn rejects_missing_or_empty_tags() {
        assert_eq!(parse("Be brief.", Value::from("x")), Err("the reply has no <IMPROVED_VARIABLE> tag".to_string()));
        assert_eq!(
            parse("<IMPROVED_VARIABLE>Be", Value::from("x")),
            Err("the reply has no </IMPROVED_VARIABLE> tag after <IMPROVED_VARIABLE>".to_string())
        );
        assert!(parse("<IMPROVED_VARIABLE> </IMPROVED_VARIABLE>", Value::from("x")).is_err());
        assert!(
            parse("<IMPROVED_VARIABLE>many</IMPROVED_VARIABLE>", Value::Int(1))
                .unwrap_err()
                .contains("expected a value of type (int)")
        );
    }
}
