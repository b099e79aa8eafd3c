//! Traced calls of code parameters: one `eval` message node whose parents are the inputs
//! and the code parameter.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::value::Value;

use super::engine::Engine;
use super::parameter::{CODE_KEY_BASE, parse_for};
use super::signature::FunctionSignature;
use super::worker::CallRequest;

/// The operator name of a traced call, as it appears in summaries.
pub const EVAL_OP: &str = "eval";

/// A code parameter bound to an engine, callable on nodes.
///
/// Each call records one `eval` node whose inputs are named after the function's
/// parameters, followed by `__code`, the code parameter, so that a summary shows
/// `eval0 = eval(x=x0, __code=__code0)`. The current source of the code parameter is
/// used at every call, so an optimizer's update takes effect at the next call. A failure
/// (a syntax error, a thrown exception, a return value without a JSON form, an exceeded
/// limit) is an exception node whose value is the feedback text.
///
/// ```
/// use trace_core::{Engine, JsFunction, Node, Value, code_parameter};
///
/// let engine = Engine::new()?;
/// let code = code_parameter("function f(x) { return x + 1; }")?;
/// let f = JsFunction::new(&engine, &code)?;
///
/// let out = f.call(&[&Node::input("x", 1)])?;
/// assert_eq!(out.value(), Value::Int(2));
///
/// code.set_value(Value::Code("function f(x) { return x * 10; }".into()))?;
/// assert_eq!(f.call(&[&Node::input("x", 1)])?.value(), Value::Int(10));
/// # Ok::<(), trace_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct JsFunction {
    engine: Engine,
    code: Node,
    signature: FunctionSignature,
    bundle: Bundle,
}

impl JsFunction {
    /// Binds `code`, a parameter whose value is the source of one function, to `engine`.
    /// The inputs of its calls are named after the function's parameters as it declares
    /// them now (see [`FunctionSignature::argument_names`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCode`] when the value of `code` is not code or does not parse.
    pub fn new(engine: &Engine, code: &Node) -> Result<JsFunction> {
        let source = match code.value_untracked() {
            Value::Code(source) => source,
            other => {
                return Err(Error::InvalidCode {
                    node: code.key().to_string(),
                    reason: format!("expected a value of type `code`, found `{}`", other.type_tag()),
                });
            }
        };
        let signature = parse_for(&source, code.key())?;

        let mut inputs = signature.argument_names();
        inputs.push(CODE_KEY_BASE.to_string());
        let input_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let description = format!(
            "Calls the JavaScript function `{}` defined by the code in `{CODE_KEY_BASE}` with the other inputs as its arguments, in a sandbox, and returns its result.",
            signature.name()
        );
        let bundle = Bundle::new(EVAL_OP, &description, &input_refs);
        Ok(JsFunction { engine: engine.clone(), code: code.clone(), signature, bundle })
    }

    /// Calls the function on the values of `inputs` (one per parameter, in order) and
    /// blocks until it returns.
    ///
    /// # Errors
    ///
    /// [`Error::InputCount`] when the number of inputs differs from the number of
    /// parameters. A failure of the function itself is the returned exception node.
    pub fn call(&self, inputs: &[&Node]) -> Result<Node> {
        let inputs = self.with_code(inputs);
        self.bundle.call(&inputs, |values| match self.request(values) {
            Ok(request) => self.engine.submit(request).wait(),
            Err(message) => Err(message),
        })
    }

    /// Like [`JsFunction::call`], but awaits the result without blocking the thread, so
    /// it can run on any async executor.
    ///
    /// # Errors
    ///
    /// As for [`JsFunction::call`].
    pub async fn call_async(&self, inputs: &[&Node]) -> Result<Node> {
        let inputs = self.with_code(inputs);
        self.bundle
            .call_async(&inputs, |values| {
                let reply = self.request(&values).map(|request| self.engine.submit(request));
                async move {
                    match reply {
                        Ok(reply) => reply.await,
                        Err(message) => Err(message),
                    }
                }
            })
            .await
    }

    /// The code parameter.
    pub fn code(&self) -> &Node {
        &self.code
    }

    /// The signature the function had when it was bound.
    pub fn signature(&self) -> &FunctionSignature {
        &self.signature
    }

    /// The engine the function runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn with_code<'a>(&'a self, inputs: &[&'a Node]) -> Vec<&'a Node> {
        let mut all = Vec::with_capacity(inputs.len() + 1);
        all.extend_from_slice(inputs);
        all.push(&self.code);
        all
    }

    /// The request for the current source, whose function name is read again because the
    /// source may have changed since binding.
    fn request(&self, values: &[Value]) -> Result<CallRequest, String> {
        let Some((Value::Code(source), arguments)) = values.split_last() else {
            return Err(format!("the value of `{}` is not code", self.code.key()));
        };
        let signature = FunctionSignature::parse(source)
            .map_err(|reason| format!("the source of `{}` does not parse: {reason}", self.code.key()))?;
        Ok(CallRequest {
            filename: self.code.key().to_string(),
            source: source.clone(),
            function: signature.name().to_string(),
            arguments: arguments.to_vec(),
        })
    }
}
