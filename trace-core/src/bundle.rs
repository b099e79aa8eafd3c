//! Bundles: any Rust function, sync or async, traced as one operator with named inputs.
//!
//! A bundle records one message node whose parents are its inputs. The function receives
//! the input *values*; if it reads any other node (one it captured, say), the call fails
//! with [`Error::ExternalDependency`] unless the bundle allows external dependencies. An
//! `Err` returned by the function, or a panic inside it, becomes an exception node that
//! keeps the inputs as parents, so the failure can be sent back as feedback.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::Poll;

use crate::error::{Error, Result};
use crate::node::Node;
use crate::op::OpSpec;
use crate::scope;
use crate::value::{FromValue, Value};

/// A traced operator made from a Rust function.
///
/// ```
/// use trace_core::{Bundle, Node, Value};
///
/// let shout = Bundle::new("shout", "Upper-cases the text and adds an exclamation mark.", &["text"]);
/// let text = Node::input("text", "hello");
///
/// let out = shout.call(&[&text], |values| match &values[0] {
///     Value::Text(s) => Ok(Value::from(format!("{}!", s.to_uppercase()))),
///     other => Err(format!("expected text, found {}", other.type_tag())),
/// })?;
///
/// assert_eq!(out.value(), "HELLO!".into());
/// assert_eq!(out.description(), "[shout] Upper-cases the text and adds an exclamation mark.");
/// # Ok::<(), trace_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Bundle {
    spec: Arc<OpSpec>,
    allow_external_dependencies: bool,
}

impl Bundle {
    /// A bundle for operator `name` with a description (prefixed with `[name]` when it does
    /// not start with it) and the names of its inputs.
    pub fn new(name: &str, description: &str, inputs: &[&str]) -> Bundle {
        Bundle { spec: OpSpec::new(name, description, inputs), allow_external_dependencies: false }
    }

    /// Lets the function read nodes that are not inputs. Such reads are not part of the graph,
    /// so feedback does not reach those nodes.
    pub fn allow_external_dependencies(mut self, allow: bool) -> Bundle {
        self.allow_external_dependencies = allow;
        self
    }

    /// The operator specification.
    pub fn spec(&self) -> &Arc<OpSpec> {
        &self.spec
    }

    /// Calls `f` on the values of `inputs` and records the output node.
    ///
    /// # Errors
    ///
    /// [`Error::InputCount`] when `inputs` does not match the declared inputs, and
    /// [`Error::ExternalDependency`] when `f` read a node that is not an input. A failure of
    /// `f` itself is not an error: it is the returned exception node.
    pub fn call<F, R>(&self, inputs: &[&Node], f: F) -> Result<Node>
    where
        F: FnOnce(&[Value]) -> R,
        R: IntoOutput,
    {
        self.check_input_count(inputs.len())?;
        let values: Vec<Value> = inputs.iter().map(|node| node.value_untracked()).collect();

        scope::begin_reads();
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&values)));
        let reads = scope::end_reads();

        self.check_reads(inputs, &reads)?;
        Ok(self.record(inputs, outcome.map_or_else(|panic| Err(panic_message(&panic)), IntoOutput::into_output)))
    }

    /// Awaits `f` on the values of `inputs` and records the output node. Reads of other nodes
    /// are watched during every poll, on whichever thread the poll runs.
    ///
    /// # Errors
    ///
    /// As for [`Bundle::call`].
    pub async fn call_async<F, Fut, R>(&self, inputs: &[&Node], f: F) -> Result<Node>
    where
        F: FnOnce(Vec<Value>) -> Fut,
        Fut: Future<Output = R>,
        R: IntoOutput,
    {
        self.check_input_count(inputs.len())?;
        let values: Vec<Value> = inputs.iter().map(|node| node.value_untracked()).collect();
        let inputs: Vec<Node> = inputs.iter().map(|&node| node.clone()).collect();

        let mut reads = Vec::new();
        let mut future = match catch_unwind(AssertUnwindSafe(|| Box::pin(f(values)))) {
            Ok(future) => future,
            Err(panic) => return Ok(self.record_owned(&inputs, Err(panic_message(&panic)))),
        };
        let outcome = std::future::poll_fn(|cx| {
            scope::begin_reads();
            let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
            reads.extend(scope::end_reads());
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(output)) => Poll::Ready(output.into_output()),
                Err(panic) => Poll::Ready(Err(panic_message(&panic))),
            }
        })
        .await;

        let input_refs: Vec<&Node> = inputs.iter().collect();
        self.check_reads(&input_refs, &reads)?;
        Ok(self.record_owned(&inputs, outcome))
    }

    fn check_input_count(&self, found: usize) -> Result<()> {
        let names = self.spec.arg_names();
        if names.len() == found {
            return Ok(());
        }
        Err(Error::InputCount {
            op: self.spec.name().to_string(),
            expected: names.len(),
            names: names.join(", "),
            found,
        })
    }

    fn check_reads(&self, inputs: &[&Node], reads: &[Node]) -> Result<()> {
        if self.allow_external_dependencies {
            return Ok(());
        }
        match reads.iter().find(|read| !inputs.contains(read)) {
            Some(external) => {
                Err(Error::ExternalDependency { op: self.spec.name().to_string(), node: external.key().to_string() })
            }
            None => Ok(()),
        }
    }

    fn record(&self, inputs: &[&Node], result: Result<Value, String>) -> Node {
        let parents = inputs.iter().map(|&node| node.clone()).collect();
        Node::from_operator(&self.spec, parents, result)
    }

    fn record_owned(&self, inputs: &[Node], result: Result<Value, String>) -> Node {
        Node::from_operator(&self.spec, inputs.to_vec(), result)
    }

    /// A typed function traced through this bundle: its arguments are converted from the
    /// input values with [`FromValue`], in the order of the declared inputs.
    ///
    /// ```
    /// use trace_core::{Bundle, Node};
    ///
    /// let area = Bundle::new("area", "Width times height.", &["width", "height"])
    ///     .wrap(|width: f64, height: f64| width * height);
    ///
    /// let out = area.call(&[&Node::input("w", 2.0), &Node::input("h", 3)])?;
    ///
    /// assert_eq!(out.value(), 6.0.into());
    /// # Ok::<(), trace_core::Error>(())
    /// ```
    pub fn wrap<F, Args>(self, function: F) -> TracedFn<F, Args>
    where
        F: TypedOperator<Args>,
    {
        TracedFn { bundle: self, function, _args: std::marker::PhantomData }
    }
}

/// A typed Rust function bound to a [`Bundle`]. See [`Bundle::wrap`].
pub struct TracedFn<F, Args> {
    bundle: Bundle,
    function: F,
    _args: std::marker::PhantomData<fn(Args)>,
}

impl<F, Args> fmt::Debug for TracedFn<F, Args> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedFn").field("bundle", &self.bundle).finish_non_exhaustive()
    }
}

impl<F: TypedOperator<Args>, Args> TracedFn<F, Args> {
    /// Calls the function on the values of `inputs` and records the output node.
    ///
    /// # Errors
    ///
    /// As for [`Bundle::call`]. An argument of the wrong type makes an exception node.
    pub fn call(&self, inputs: &[&Node]) -> Result<Node> {
        let names = self.bundle.spec.arg_names();
        self.bundle.call(inputs, |values| self.function.invoke(names, values))
    }

    /// The bundle the function is bound to.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }
}

/// A Rust function whose arguments convert from values and whose result converts into one.
/// Implemented for `Fn` closures and functions of up to six arguments.
pub trait TypedOperator<Args> {
    /// Converts the arguments, calls the function and converts its result.
    fn invoke(&self, names: &[Box<str>], values: &[Value]) -> Result<Value, String>;
}

macro_rules! typed_operator {
    ($($arg:ident),*) => {
        impl<F, R, $($arg),*> TypedOperator<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> R,
            R: IntoOutput,
            $($arg: FromValue,)*
        {
            // The type parameters double as argument names, and the zero-argument case
            // never reads `positions`.
            #[allow(non_snake_case, unused_variables, unused_mut)]
            fn invoke(&self, names: &[Box<str>], values: &[Value]) -> Result<Value, String> {
                let mut positions = 0..;
                $(
                    let $arg = convert_argument::<$arg>(names, values, positions.next().unwrap_or_default())?;
                )*
                self($($arg),*).into_output()
            }
        }
    };
}
typed_operator!();
typed_operator!(A);
typed_operator!(A, B);
typed_operator!(A, B, C);
typed_operator!(A, B, C, D);
typed_operator!(A, B, C, D, E);
typed_operator!(A, B, C, D, E, G);

fn convert_argument<T: FromValue>(names: &[Box<str>], values: &[Value], position: usize) -> Result<T, String> {
    let name = names.get(position).map_or("?", |name| &**name);
    let value = values.get(position).ok_or_else(|| format!("argument `{name}` is missing"))?;
    T::from_value(value).map_err(|error| format!("argument `{name}`: {error}"))
}

/// What a bundled function may return: a value, anything convertible into one, or a
/// `Result` whose error becomes the message of an exception node.
pub trait IntoOutput {
    /// The value, or the error message.
    fn into_output(self) -> Result<Value, String>;
}

impl<T: Into<Value>> IntoOutput for T {
    fn into_output(self) -> Result<Value, String> {
        Ok(self.into())
    }
}

impl<T: Into<Value>, E: fmt::Display> IntoOutput for std::result::Result<T, E> {
    fn into_output(self) -> Result<Value, String> {
        self.map(Into::into).map_err(|error| error.to_string())
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use std::future::ready;

    use super::*;
    use crate::node::NodeKind;

    #[test]
    fn bundle_records_one_node_with_inputs() {
        let add = Bundle::new("add_numbers", "Adds a and b.", &["a", "b"]);
        let a = Node::parameter("a", 1);
        let b = Node::input("b", 2);

        let out = add.call(&[&a, &b], |v| i64::from_value(&v[0]).map(|x| x + 2)).unwrap();

        assert_eq!(out.value(), Value::from(3));
        assert_eq!(out.parents(), [a, b]);
        assert_eq!(out.inputs().map(|(n, _)| n).collect::<Vec<_>>(), ["a", "b"]);
        assert!(out.key().starts_with("add_numbers"));
    }

    #[test]
    fn err_becomes_exception_node() {
        let parse = Bundle::new("parse", "Parses an integer.", &["text"]);
        let text = Node::input("text", "x");

        let out = parse.call(&[&text], |v| v[0].as_str().unwrap_or("").parse::<i64>()).unwrap();

        assert_eq!(out.kind(), NodeKind::Exception);
        assert_eq!(out.error(), Some("invalid digit found in string"));
        assert_eq!(out.parents(), [text]);
    }

    #[test]
    fn panic_becomes_exception_node() {
        let explode = Bundle::new("explode", "Always panics.", &["x"]);
        let x = Node::parameter("x", 1);

        let out = explode.call(&[&x], |_| -> Value { panic!("boom at {}", 42) }).unwrap();

        assert!(out.is_exception());
        assert_eq!(out.error(), Some("panicked: boom at 42"));
        assert_eq!(out.parents(), [x]);
        assert!(out.key().starts_with("exception_explode"));
    }

    #[test]
    fn reading_a_captured_node_is_an_error() {
        let hidden = Node::parameter("hidden", 5);
        let op = Bundle::new("leaky", "Reads a node it was not given.", &["x"]);
        let x = Node::input("x", 1);

        let error = op.call(&[&x], |v| (i64::from_value(&v[0]), hidden.value()).0.map(|n| n + 1)).unwrap_err();

        assert!(matches!(&error, Error::ExternalDependency { node, .. } if node == hidden.key()), "{error}");
    }

    #[test]
    fn external_dependencies_can_be_allowed() {
        let hidden = Node::parameter("hidden", 5);
        let op = Bundle::new("reader", "Reads a node it was not given.", &["x"]).allow_external_dependencies(true);
        let x = Node::input("x", 1);

        let out = op.call(&[&x], |_| hidden.value()).unwrap();

        assert_eq!(out.value(), Value::from(5));
        assert_eq!(out.parents(), [x]);
    }

    #[test]
    fn wrong_input_count_is_an_error() {
        let op = Bundle::new("pair", "Takes two.", &["a", "b"]);

        let error = op.call(&[&Node::input("a", 1)], |_| 0).unwrap_err();

        assert_eq!(error.to_string(), "operator `pair` takes 2 inputs (a, b) but was called with 1");
    }

    #[test]
    fn typed_function_converts_arguments() {
        let greet = Bundle::new("greet", "Greets a person.", &["name", "times"])
            .wrap(|name: String, times: i64| "hi ".repeat(times as usize) + &name);

        let ok = greet.call(&[&Node::input("name", "Ada"), &Node::input("n", 2)]).unwrap();
        let bad = greet.call(&[&Node::input("name", 3), &Node::input("n", 2)]).unwrap();

        assert_eq!(ok.value(), Value::from("hi hi Ada"));
        assert_eq!(bad.error(), Some("argument `name`: expected a value of type `str`, found `int` (3)"));
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        use std::task::{Context, Waker};
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    #[test]
    fn async_bundle_records_output_and_errors() {
        let op = Bundle::new("fetch", "Pretends to call a model.", &["prompt"]);
        let prompt = Node::parameter("prompt", "hi");

        let ok = block_on(op.call_async(&[&prompt], |v| ready(Ok::<_, String>(v[0].render() + "!")))).unwrap();
        let failed = block_on(op.call_async(&[&prompt], |_| ready(Err::<Value, _>("timed out")))).unwrap();

        assert_eq!(ok.value(), Value::from("hi!"));
        assert_eq!(failed.error(), Some("timed out"));
        assert_eq!(failed.parents(), [prompt]);
    }

    #[test]
    fn async_bundle_catches_panics_and_external_reads() {
        let op = Bundle::new("fetch", "Pretends to call a model.", &["prompt"]);
        let prompt = Node::parameter("prompt", "hi");
        let hidden = Node::parameter("hidden", 1);

        let panicked = block_on(op.call_async(&[&prompt], |_| async {
            panic!("lost connection");
            #[allow(unreachable_code)]
            Value::Null
        }))
        .unwrap();
        let leaked = block_on(op.call_async(&[&prompt], |_| async { hidden.value() }));

        assert_eq!(panicked.error(), Some("panicked: lost connection"));
        assert!(matches!(leaked, Err(Error::ExternalDependency { .. })));
    }
}
