//! Operator specifications: the name, description and argument names that every message
//! node of one operator shares.

use std::sync::Arc;

use crate::key::KeyCounter;
use crate::node::Node;
use crate::value::Value;

/// The static part of a traced operator, shared by all its output nodes.
#[derive(Debug)]
pub struct OpSpec {
    name: Box<str>,
    description: Box<str>,
    arg_names: Box<[Box<str>]>,
    keys: KeyCounter,
    exception_keys: KeyCounter,
}

impl OpSpec {
    /// A specification for operator `name` with the given argument names. The description is
    /// prefixed with `[name]` unless it already starts with it.
    pub fn new(name: &str, description: &str, arg_names: &[&str]) -> Arc<OpSpec> {
        let prefix = format!("[{name}]");
        let description =
            if description.starts_with(&prefix) { description.to_string() } else { format!("{prefix} {description}") };
        Arc::new(OpSpec {
            name: name.into(),
            description: description.into_boxed_str(),
            arg_names: arg_names.iter().map(|&arg| Box::from(arg)).collect(),
            keys: KeyCounter::new(name),
            exception_keys: KeyCounter::new(&format!("exception_{name}")),
        })
    }

    /// The operator name, such as `add` or `format`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, starting with `[name]`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The argument names, in the order of the parents of its nodes.
    pub fn arg_names(&self) -> &[Box<str>] {
        &self.arg_names
    }

    pub(crate) fn next_key(&self) -> Box<str> {
        self.keys.next_key()
    }

    pub(crate) fn next_exception_key(&self) -> Box<str> {
        self.exception_keys.next_key()
    }

    /// Runs `f` on the values of `parents` and records the output node: a message node, or
    /// an exception node when `f` fails. Crates that define their own operators (tensor
    /// arithmetic, for example) record their nodes through this.
    pub fn apply(self: &Arc<Self>, parents: Vec<Node>, f: impl FnOnce(&[Value]) -> Result<Value, String>) -> Node {
        let values: Vec<Value> = parents.iter().map(Node::value).collect();
        let result = f(&values);
        Node::from_operator(self, parents, result)
    }
}

/// Declares a lazily built, shared [`OpSpec`] for a built-in operator.
macro_rules! builtin_op {
    ($static_name:ident, $name:literal, $description:literal, [$($arg:literal),*]) => {
        static $static_name: std::sync::LazyLock<std::sync::Arc<$crate::op::OpSpec>> =
            std::sync::LazyLock::new(|| $crate::op::OpSpec::new($name, $description, &[$($arg),*]));
    };
}
pub(crate) use builtin_op;
