//! A question-answering agent with two trainable parameters: the prompt template sent to
//! the model, and the JavaScript function that extracts the final answer from its reply.

use std::sync::Arc;

use optimizers::llm::LlmClient;
use trace_core::{
    BoxFuture, CodeProjection, Engine, JsFunction, Module, Node, Parameter, Projection, code_parameter, ops,
};

use crate::Result;
use crate::agent::Agent;
use crate::llm_call::LlmCall;
use crate::task::Example;

/// The template the agent starts from; `{question}` is replaced by the question.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../prompts/agents/qa_template.txt");

/// The answer extraction the agent starts from.
pub const DEFAULT_EXTRACTOR: &str = include_str!("../../prompts/agents/qa_extract.js");

/// Settings of a [`QaAgent`].
#[derive(Clone, Debug)]
pub struct QaSettings {
    /// The initial prompt template; it must contain `{question}`.
    pub template: String,
    /// The initial extraction function, `function extract_answer(reply) { ... }`.
    pub extractor: String,
    /// Sampling temperature of the answering model.
    pub temperature: f32,
    /// Most tokens the model may generate per answer.
    pub max_tokens: u32,
}

impl Default for QaSettings {
    fn default() -> QaSettings {
        QaSettings {
            template: DEFAULT_TEMPLATE.trim_end().to_string(),
            extractor: DEFAULT_EXTRACTOR.trim_end().to_string(),
            temperature: 0.0,
            max_tokens: 128,
        }
    }
}

/// Answers a question by filling a prompt template, asking a model, and running a sandboxed
/// JavaScript function on the reply. Both the template and the function are trainable.
///
/// The traced graph of one answer is
/// `format(template, question) -> call_llm(prompt) -> eval(reply, __code)`.
#[derive(Clone, Debug)]
pub struct QaAgent {
    template: Node,
    extractor: Node,
    extract: JsFunction,
    llm: LlmCall,
}

impl QaAgent {
    /// An agent that asks `client` and runs its extraction code on `engine`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Graph`] when the extraction source is not one JavaScript function.
    pub fn new(client: Arc<dyn LlmClient>, engine: &Engine, settings: QaSettings) -> Result<QaAgent> {
        let template = Parameter::new("prompt_template", settings.template)
            .description("The prompt sent to the model; {question} is replaced by the question")
            .constraint("Must contain the placeholder {question} exactly once.")
            .build();
        let extractor = code_parameter(settings.extractor)?;
        let extract = JsFunction::new(engine, &extractor)?;
        let llm = LlmCall::new(client, settings.temperature, settings.max_tokens);
        Ok(QaAgent { template, extractor, extract, llm })
    }

    /// The prompt template parameter.
    pub fn template(&self) -> &Node {
        &self.template
    }

    /// The extraction code parameter.
    pub fn extractor(&self) -> &Node {
        &self.extractor
    }

    /// The projections an optimizer must apply to this agent's parameters: the template
    /// keeps its placeholder, and the code parses and keeps its function name and signature.
    pub fn projections(&self) -> Vec<(Node, Arc<dyn Projection>)> {
        vec![
            (self.template.clone(), Arc::new(PlaceholderProjection) as Arc<dyn Projection>),
            (
                self.extractor.clone(),
                Arc::new(CodeProjection::with_syntax_check(self.extract.engine())) as Arc<dyn Projection>,
            ),
        ]
    }
}

impl Module for QaAgent {
    fn named_parameters(&self) -> Vec<(String, Node)> {
        vec![
            ("prompt_template".to_string(), self.template.clone()),
            ("extract_answer".to_string(), self.extractor.clone()),
        ]
    }
}

impl Agent for QaAgent {
    fn forward<'a>(&'a self, example: &'a Example) -> BoxFuture<'a, Result<Node>> {
        Box::pin(async move {
            let question = Node::input("question", example.input.as_str());
            let prompt = ops::format(&self.template, &[("question", &question)]);
            let reply = self.llm.call(&prompt).await?;
            Ok(self.extract.call_async(&[&reply]).await?)
        })
    }
}

/// Rejects a template that lost its `{question}` placeholder.
#[derive(Debug)]
struct PlaceholderProjection;

impl Projection for PlaceholderProjection {
    fn project(&self, _node: &Node, value: trace_core::Value) -> std::result::Result<trace_core::Value, String> {
        match value.as_str() {
            Some(text) if text.contains("{question}") => Ok(value),
            Some(_) => {
                Err("the template must contain the placeholder {question}, which is replaced by the question"
                    .to_string())
            }
            None => Err(format!("the template must be a string, not `{}`", value.type_tag())),
        }
    }
}
