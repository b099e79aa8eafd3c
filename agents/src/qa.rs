//! A question-answering agent with two trainable parameters: the prompt template sent to
//! the model, and the JavaScript function that extracts the final answer from its reply.

use std::sync::Arc;

use optimizers::llm::LlmClient;
use trace_core::{
    BoxFuture, CodeProjection, Engine, JsFunction, Module, Node, Parameter, Projection, Value, code_parameter, ops,
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
    /// Maximum number of tokens the model may generate per answer.
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
    /// Creates an agent that sends prompts to `client` and runs its extraction code on `engine`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Graph`] when the extraction source is not one JavaScript function.
    pub fn new(client: Arc<dyn LlmClient>, engine: &Engine, settings: QaSettings) -> Result<QaAgent> {
        let template = Parameter::new("prompt_template", settings.template)
            .description("The prompt sent to the model; {question} is replaced by the question")
            .constraint("Contains the placeholder {question} once; it is replaced by the question. Without it, the question is appended at the end.")
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

/// Keeps a proposed template usable: every brace other than the `{question}` placeholder
/// is escaped, so that text such as JSON examples is sent as written, and a template that
/// lost its placeholder gets the question appended at the end.
#[derive(Debug)]
struct PlaceholderProjection;

/// The text appended to a proposed template that lacks `{question}`.
const QUESTION_SUFFIX: &str = include_str!("../../prompts/agents/qa_question_suffix.txt");

impl Projection for PlaceholderProjection {
    fn project(&self, _node: &Node, value: Value) -> std::result::Result<Value, String> {
        let Some(text) = value.as_str() else {
            return Err(format!("the template must be a string, not `{}`", value.type_tag()));
        };
        let escaped = text.replace('{', "{{").replace('}', "}}").replace("{{question}}", "{question}");
        if escaped.contains("{question}") {
            return Ok(Value::Text(escaped));
        }
        Ok(Value::Text(format!("{}{QUESTION_SUFFIX}", escaped.trim_end())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Result<Value, String> {
        PlaceholderProjection.project(&Node::input("t", ""), Value::from(text))
    }

    #[test]
    fn template_keeps_its_placeholder() {
        assert_eq!(project("Q: {question}"), Ok(Value::from("Q: {question}")));
    }

    #[test]
    fn template_escapes_other_braces() {
        assert_eq!(project(r#"Reply as {"n": 1}. {question}"#), Ok(Value::from(r#"Reply as {{"n": 1}}. {question}"#)));
    }

    #[test]
    fn template_without_placeholder_gets_the_question() {
        assert_eq!(project("Count the objects.  "), Ok(Value::from(format!("Count the objects.{QUESTION_SUFFIX}"))));
    }

    #[test]
    fn template_must_be_text() {
        assert!(project_value(Value::Int(3)).is_err());
    }

    fn project_value(value: Value) -> Result<Value, String> {
        PlaceholderProjection.project(&Node::input("t", ""), value)
    }
}
