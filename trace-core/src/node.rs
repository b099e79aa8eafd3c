//! Node handles: parameters, messages (operator outputs) and exceptions.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::backward::ParameterFeedback;
use crate::error::{Error, Result};
use crate::key::{KeyCounter, next_node_id};
use crate::op::OpSpec;
use crate::scope;
use crate::value::Value;

/// A node of a traced graph: a cheap, reference-counted handle that is `Send + Sync`.
///
/// Cloning a `Node` clones the handle, not the node: both handles see the same value and
/// feedback. `==` and `Hash` compare identity. The graph of a run is whatever is reachable
/// from its outputs through [`Node::parents`]; there is no global graph.
///
/// ```
/// use trace_core::{Node, NodeKind};
///
/// let x = Node::parameter("x", 3);
/// let y = &x * 2;
///
/// assert_eq!(y.value(), 6.into());
/// assert_eq!(y.kind(), NodeKind::Message);
/// assert_eq!(y.op_name(), Some("mul"));
/// assert_eq!(y.level(), 1);
/// assert!(y.description().starts_with("[mul]"));
/// ```
#[derive(Clone)]
pub struct Node(pub(crate) Arc<NodeInner>);

/// The three kinds of node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A root with a value of its own, trainable or not.
    Parameter,
    /// The output of a traced operator.
    Message,
    /// An error raised inside a traced operator, kept as a value.
    Exception,
}

pub(crate) struct NodeInner {
    id: u64,
    key: Box<str>,
    level: u32,
    value: RwLock<Value>,
    origin: Origin,
}

enum Origin {
    Parameter(ParameterInfo),
    Operator(OperatorInfo),
}

struct ParameterInfo {
    trainable: bool,
    description: String,
    constraint: RwLock<Option<String>>,
    feedback: Mutex<Vec<ParameterFeedback>>,
}

struct OperatorInfo {
    spec: Arc<OpSpec>,
    parents: Vec<Node>,
    error: Option<String>,
    backwarded: AtomicBool,
}

/// Builds a parameter node with a description, a constraint and a trainable flag.
///
/// ```
/// use trace_core::Parameter;
///
/// let prompt = Parameter::new("prompt", "Answer in one word.")
///     .description("The system prompt of the agent")
///     .constraint("At most 20 words.")
///     .build();
///
/// assert!(prompt.is_trainable());
/// assert!(prompt.key().starts_with("prompt"));
/// assert_eq!(prompt.constraint().as_deref(), Some("At most 20 words."));
/// ```
#[derive(Debug, Clone)]
pub struct Parameter {
    name: String,
    value: Value,
    trainable: bool,
    description: Option<String>,
    constraint: Option<String>,
}

impl Parameter {
    /// A trainable parameter named `name` (the base of its key) with an initial value.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Parameter {
        Parameter { name: name.into(), value: value.into(), trainable: true, description: None, constraint: None }
    }

    /// Sets whether optimizers may change the value.
    pub fn trainable(mut self, trainable: bool) -> Parameter {
        self.trainable = trainable;
        self
    }

    /// Sets the description shown to optimizers.
    pub fn description(mut self, description: impl Into<String>) -> Parameter {
        self.description = Some(description.into());
        self
    }

    /// Sets a constraint that every new value must keep, shown to optimizers.
    pub fn constraint(mut self, constraint: impl Into<String>) -> Parameter {
        self.constraint = Some(constraint.into());
        self
    }

    /// Creates the node.
    pub fn build(self) -> Node {
        let role = if self.trainable { "a trainable parameter" } else { "an input" };
        let description = match self.description {
            Some(text) => format!("[parameter] {text}"),
            None => format!("[parameter] {role} of the graph"),
        };
        let origin = Origin::Parameter(ParameterInfo {
            trainable: self.trainable,
            description,
            constraint: RwLock::new(self.constraint),
            feedback: Mutex::new(Vec::new()),
        });
        Node::from_parts(KeyCounter::new(&self.name).next_key(), 0, self.value, origin)
    }
}

impl Node {
    fn from_parts(key: Box<str>, level: u32, value: Value, origin: Origin) -> Node {
        Node(Arc::new(NodeInner { id: next_node_id(), key, level, value: RwLock::new(value), origin }))
    }

    /// A trainable parameter. See [`Parameter`] for descriptions and constraints.
    pub fn parameter(name: &str, value: impl Into<Value>) -> Node {
        Parameter::new(name, value).build()
    }

    /// A non-trainable root, such as an example's input.
    pub fn input(name: &str, value: impl Into<Value>) -> Node {
        Parameter::new(name, value).trainable(false).build()
    }

    /// A non-trainable root named after the value's type (`int0`, `str3`), as created for
    /// literals in expressions like `&x + 1`.
    pub fn constant(value: impl Into<Value>) -> Node {
        let value = value.into();
        let name = value.type_tag().to_string();
        Parameter::new(name, value).trainable(false).build()
    }

    /// A message or exception node, the output of an operator. With tracing stopped on this
    /// thread, the node gets no parents.
    pub(crate) fn from_operator(spec: &Arc<OpSpec>, parents: Vec<Node>, result: Result<Value, String>) -> Node {
        let parents = if scope::is_tracing() { parents } else { Vec::new() };
        let level = parents.iter().map(|p| p.0.level + 1).max().unwrap_or(0);
        let (key, value, error) = match result {
            Ok(value) => (spec.next_key(), value, None),
            Err(message) => (spec.next_exception_key(), Value::Text(message.clone()), Some(message)),
        };
        let origin =
            Origin::Operator(OperatorInfo { spec: spec.clone(), parents, error, backwarded: AtomicBool::new(false) });
        Node::from_parts(key, level, value, origin)
    }

    /// The unique key, such as `prompt0` or `add12`; stable for the node's lifetime.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// A process-wide creation number; it orders nodes of equal level.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The longest path from a root: 0 for roots, one more than the highest parent otherwise.
    pub fn level(&self) -> usize {
        self.0.level as usize
    }

    /// The kind of node.
    pub fn kind(&self) -> NodeKind {
        match &self.0.origin {
            Origin::Parameter(_) => NodeKind::Parameter,
            Origin::Operator(info) if info.error.is_some() => NodeKind::Exception,
            Origin::Operator(_) => NodeKind::Message,
        }
    }

    /// Whether the node is a parameter that optimizers may change.
    pub fn is_trainable(&self) -> bool {
        matches!(&self.0.origin, Origin::Parameter(info) if info.trainable)
    }

    /// Whether the node is an exception.
    pub fn is_exception(&self) -> bool {
        self.kind() == NodeKind::Exception
    }

    /// Whether the node has no parents.
    pub fn is_root(&self) -> bool {
        self.parents().is_empty()
    }

    /// A copy of the value. Inside a bundle, this read is checked against the bundle's inputs.
    pub fn value(&self) -> Value {
        scope::record_read(self);
        self.0.value.read().clone()
    }

    /// Calls `f` with a reference to the value, without copying it. Inside a bundle, this
    /// read is checked against the bundle's inputs.
    pub fn with_value<R>(&self, f: impl FnOnce(&Value) -> R) -> R {
        scope::record_read(self);
        f(&self.0.value.read())
    }

    /// The value, without recording a read: for the graph's own machinery.
    pub(crate) fn value_untracked(&self) -> Value {
        self.0.value.read().clone()
    }

    /// Replaces the value of a parameter.
    ///
    /// # Errors
    ///
    /// [`Error::NotAParameter`] for message and exception nodes, whose values are results.
    pub fn set_value(&self, value: impl Into<Value>) -> Result<()> {
        if !matches!(self.0.origin, Origin::Parameter(_)) {
            return Err(Error::NotAParameter { node: self.key().to_string() });
        }
        *self.0.value.write() = value.into();
        Ok(())
    }

    /// The description: it starts with `[op_name]` for operator outputs and with
    /// `[parameter]` for parameters.
    pub fn description(&self) -> &str {
        match &self.0.origin {
            Origin::Parameter(info) => &info.description,
            Origin::Operator(info) => info.spec.description(),
        }
    }

    /// The operator name of a message or exception node.
    pub fn op_name(&self) -> Option<&str> {
        match &self.0.origin {
            Origin::Parameter(_) => None,
            Origin::Operator(info) => Some(info.spec.name()),
        }
    }

    /// The parents in argument order; empty for roots.
    pub fn parents(&self) -> &[Node] {
        match &self.0.origin {
            Origin::Parameter(_) => &[],
            Origin::Operator(info) => &info.parents,
        }
    }

    /// The parents paired with the operator's argument names.
    pub fn inputs(&self) -> impl Iterator<Item = (&str, &Node)> {
        let names: &[Box<str>] = match &self.0.origin {
            Origin::Parameter(_) => &[],
            Origin::Operator(info) => info.spec.arg_names(),
        };
        names.iter().map(|name| &**name).zip(self.parents())
    }

    /// The constraint of a parameter.
    pub fn constraint(&self) -> Option<String> {
        match &self.0.origin {
            Origin::Parameter(info) => info.constraint.read().clone(),
            Origin::Operator(_) => None,
        }
    }

    /// Replaces the constraint of a parameter; does nothing on other nodes.
    pub fn set_constraint(&self, constraint: Option<String>) {
        if let Origin::Parameter(info) = &self.0.origin {
            *info.constraint.write() = constraint;
        }
    }

    /// The error message of an exception node.
    pub fn error(&self) -> Option<&str> {
        match &self.0.origin {
            Origin::Operator(info) => info.error.as_deref(),
            Origin::Parameter(_) => None,
        }
    }

    /// Turns an exception node into [`Error::Operator`], so that callers can use `?`.
    ///
    /// # Errors
    ///
    /// [`Error::Operator`] when the node is an exception.
    pub fn into_result(self) -> Result<Node> {
        match self.error() {
            Some(message) => Err(Error::Operator {
                node: self.key().to_string(),
                op: self.op_name().unwrap_or_default().to_string(),
                message: message.to_string(),
            }),
            None => Ok(self),
        }
    }

    /// The feedback that backward passes have left on this parameter since the last
    /// [`Node::zero_feedback`]; empty for other nodes.
    pub fn feedback(&self) -> Vec<ParameterFeedback> {
        match &self.0.origin {
            Origin::Parameter(info) => info.feedback.lock().clone(),
            Origin::Operator(_) => Vec::new(),
        }
    }

    /// Clears the feedback of a parameter, which also releases the backward runs it keeps
    /// alive.
    pub fn zero_feedback(&self) {
        if let Origin::Parameter(info) = &self.0.origin {
            info.feedback.lock().clear();
        }
    }

    pub(crate) fn push_feedback(&self, feedback: ParameterFeedback) {
        if let Origin::Parameter(info) = &self.0.origin {
            info.feedback.lock().push(feedback);
        }
    }

    /// Whether a backward pass without `retain_graph` has gone through this node.
    pub(crate) fn is_backwarded(&self) -> bool {
        match &self.0.origin {
            Origin::Operator(info) => info.backwarded.load(Ordering::Acquire),
            Origin::Parameter(_) => false,
        }
    }

    pub(crate) fn mark_backwarded(&self) {
        if let Origin::Operator(info) = &self.0.origin {
            info.backwarded.store(true, Ordering::Release);
        }
    }

    /// A new non-trainable root with the same value and no history: what comes out of it
    /// is not traced back to this node. Extension values that record history (tensors)
    /// are detached too.
    pub fn detach(&self) -> Node {
        let value = match self.value_untracked() {
            Value::Ext(ext) => Value::Ext(ext.detached().unwrap_or(ext)),
            other => other,
        };
        let name = self.op_name().map_or_else(|| value.type_tag().to_string(), |op| format!("{op}_detached"));
        Parameter::new(name, value).trainable(false).build()
    }

    /// The stable address of the node, for identity maps during graph traversals.
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Node {}

impl Hash for Node {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.address().hash(state);
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({} = {})", self.key(), self.0.value.read().preview())
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Drop for NodeInner {
    /// Drops long chains of parents iteratively, so that a graph of a million nodes does not
    /// overflow the stack.
    fn drop(&mut self) {
        let Origin::Operator(info) = &mut self.origin else { return };
        let mut pending = std::mem::take(&mut info.parents);
        while let Some(node) = pending.pop() {
            if let Some(mut inner) = Arc::into_inner(node.0)
                && let Origin::Operator(info) = &mut inner.origin
            {
                pending.append(&mut info.parents);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn node_is_send_and_sync() {
        assert_send_sync::<Node>();
    }

    #[test]
    fn keys_are_unique_and_stable() {
        let a = Node::parameter("prompt", "a");
        let b = Node::parameter("prompt", "b");

        assert_ne!(a.key(), b.key());
        assert!(a.key().starts_with("prompt"));
        a.set_value("c").unwrap();
        assert!(a.key().starts_with("prompt"));
        assert_eq!(a.value(), Value::from("c"));
    }

    #[test]
    fn set_value_rejects_messages() {
        let x = Node::parameter("x", 1);
        let y = &x + 1;

        let error = y.set_value(3).unwrap_err();

        assert!(matches!(error, Error::NotAParameter { .. }), "{error}");
    }

    #[test]
    fn levels_count_longest_path() {
        let x = Node::parameter("x", 1);
        let y = &x + 1;
        let z = &y + &x;

        assert_eq!(x.level(), 0);
        assert_eq!(y.level(), 1);
        assert_eq!(z.level(), 2);
    }

    #[test]
    fn dropping_a_long_chain_does_not_overflow() {
        let mut node = Node::parameter("x", 0);
        for _ in 0..200_000 {
            node = &node + 1;
        }

        assert_eq!(node.level(), 200_000);
        drop(node);
    }

    #[test]
    fn detach_copies_value_without_parents() {
        let x = Node::parameter("x", 2);
        let y = &x * 3;

        let detached = y.detach();

        assert_eq!(detached.value(), Value::from(6));
        assert!(detached.is_root());
        assert!(!detached.is_trainable());
        assert!(detached.key().starts_with("mul_detached"));
    }
}
