//! Backward propagation: feedback seeded at outputs flows to every node they depend on, in
//! decreasing level order, and each parameter keeps what reached it.
//!
//! One pass collects the nodes reachable from the outputs, orders them by level, and hands
//! each message node's feedback to a [`Propagator`], which splits it among the parents. The
//! pass itself is kept, shared, by every parameter it reached ([`ParameterFeedback`]), so
//! that a [`Summary`](crate::Summary) of any set of parameters is computed from one shared
//! structure rather than from a copy of the subgraph per node.
//!
//! # Complexity
//!
//! Time and memory are linear in the number of reachable nodes and edges, times the number
//! of distinct feedback items that reach a node (one per output that depends on it).

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::node::{Node, NodeKind};
use crate::value::Value;

/// Feedback given at an output: a sentence from a judge, a score, or a value such as an
/// error message or a loss tensor.
#[derive(Clone, Debug)]
pub enum Feedback {
    /// Text feedback.
    Text(String),
    /// A numeric score.
    Score(f64),
    /// Any value. An extension value may run its own backward (see
    /// [`ExtValue::backward_as_feedback`](crate::ExtValue::backward_as_feedback)).
    Value(Value),
}

impl Feedback {
    /// The feedback as text for a prompt.
    pub fn render(&self) -> String {
        match self {
            Feedback::Text(text) => text.clone(),
            Feedback::Score(score) => Value::Float(*score).render(),
            Feedback::Value(value) => value.render(),
        }
    }
}

impl From<&str> for Feedback {
    fn from(text: &str) -> Feedback {
        Feedback::Text(text.to_string())
    }
}

impl From<String> for Feedback {
    fn from(text: String) -> Feedback {
        Feedback::Text(text)
    }
}

impl From<f64> for Feedback {
    fn from(score: f64) -> Feedback {
        Feedback::Score(score)
    }
}

impl From<Value> for Feedback {
    fn from(value: Value) -> Feedback {
        Feedback::Value(value)
    }
}

/// One output's feedback as it travels backward.
#[derive(Debug)]
pub struct FeedbackItem {
    /// The output where the feedback was given.
    pub output: Node,
    /// The feedback as given.
    pub feedback: Feedback,
    /// The feedback as text, after any backward the feedback value ran itself.
    pub text: String,
}

/// Splits the feedback that reached a message node among its parents.
///
/// Feedback items are shared (`Arc`), so passing an item on unchanged is cheap; a
/// propagator that rewrites feedback creates new items.
pub trait Propagator: Send + Sync {
    /// Returns one list of feedback items per parent of `node`, in parent order.
    ///
    /// # Errors
    ///
    /// A message that backward reports as [`Error::Propagator`] with the node and operator.
    fn propagate(&self, node: &Node, feedback: &[Arc<FeedbackItem>]) -> Result<Vec<Vec<Arc<FeedbackItem>>>, String>;
}

/// The default propagator: every parent receives all the feedback of its child, so each
/// parameter learns every output it influenced. Rules for single operators replace it for
/// their nodes.
#[derive(Clone, Default)]
pub struct GraphPropagator {
    rules: FxHashMap<String, Arc<dyn Propagator>>,
}

impl GraphPropagator {
    /// A propagator without per-operator rules.
    pub fn new() -> GraphPropagator {
        GraphPropagator::default()
    }

    /// Uses `rule` for the nodes of operator `op` instead of passing feedback on unchanged.
    pub fn with_rule(mut self, op: &str, rule: Arc<dyn Propagator>) -> GraphPropagator {
        self.rules.insert(op.to_string(), rule);
        self
    }
}

impl std::fmt::Debug for GraphPropagator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ops: Vec<&String> = self.rules.keys().collect();
        ops.sort();
        f.debug_struct("GraphPropagator").field("rules", &ops).finish()
    }
}

impl Propagator for GraphPropagator {
    fn propagate(&self, node: &Node, feedback: &[Arc<FeedbackItem>]) -> Result<Vec<Vec<Arc<FeedbackItem>>>, String> {
        if let Some(rule) = node.op_name().and_then(|op| self.rules.get(op)) {
            return rule.propagate(node, feedback);
        }
        Ok(vec![feedback.to_vec(); node.parents().len()])
    }
}

/// Options of a backward pass.
#[derive(Clone)]
pub struct BackwardOptions {
    /// Keep the graph usable for another backward pass. Without it, a second pass through
    /// the same message nodes is an error.
    pub retain_graph: bool,
    /// The rule that splits feedback among parents.
    pub propagator: Arc<dyn Propagator>,
}

impl Default for BackwardOptions {
    fn default() -> BackwardOptions {
        BackwardOptions { retain_graph: false, propagator: Arc::new(GraphPropagator::new()) }
    }
}

impl std::fmt::Debug for BackwardOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackwardOptions").field("retain_graph", &self.retain_graph).finish_non_exhaustive()
    }
}

/// The result of one backward pass: the reachable nodes in level order, the edges between
/// them, and the feedback at each output. Parameters keep it alive through their feedback
/// until [`Node::zero_feedback`].
#[derive(Debug)]
pub struct BackwardPass {
    /// Reachable nodes sorted by level, then creation order.
    nodes: Vec<Node>,
    /// Node address to position in `nodes`.
    positions: FxHashMap<usize, u32>,
    /// Children of node `i` are `children[child_starts[i]..child_starts[i + 1]]`.
    child_starts: Vec<u32>,
    children: Vec<u32>,
    /// The seeded outputs and their feedback.
    outputs: Vec<(u32, Arc<FeedbackItem>)>,
}

impl BackwardPass {
    /// The reachable nodes, sorted by level and then creation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The outputs with the feedback given at each.
    pub fn outputs(&self) -> impl Iterator<Item = &Arc<FeedbackItem>> {
        self.outputs.iter().map(|(_, item)| item)
    }

    pub(crate) fn position(&self, node: &Node) -> Option<usize> {
        self.positions.get(&node.address()).map(|&p| p as usize)
    }

    pub(crate) fn children_of(&self, position: usize) -> &[u32] {
        let start = self.child_starts[position] as usize;
        let end = self.child_starts[position + 1] as usize;
        &self.children[start..end]
    }

    pub(crate) fn output_positions(&self) -> impl Iterator<Item = (usize, &Arc<FeedbackItem>)> {
        self.outputs.iter().map(|(p, item)| (*p as usize, item))
    }
}

/// The feedback one backward pass left on one parameter.
#[derive(Clone, Debug)]
pub struct ParameterFeedback {
    /// The pass, shared by all the parameters it reached.
    pub pass: Arc<BackwardPass>,
    /// The feedback items that reached the parameter.
    pub items: Vec<Arc<FeedbackItem>>,
}

impl Node {
    /// Runs backward from this node with `feedback` and the default options.
    ///
    /// ```
    /// use trace_core::{Node, Summary};
    ///
    /// let x = Node::parameter("x", 3);
    /// let y = &x * 2;
    /// y.backward("the output should be 10")?;
    ///
    /// let summary = Summary::of(&[x]);
    /// assert_eq!(summary.code_lines(), [format!("{} = mul(x={}, y={})", y.key(), summary.variables[0].key, summary.inputs[0].key)]);
    /// assert_eq!(summary.feedback_text(), "the output should be 10");
    /// # Ok::<(), trace_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`backward`].
    pub fn backward(&self, feedback: impl Into<Feedback>) -> Result<Arc<BackwardPass>> {
        backward(&[(self.clone(), feedback.into())], &BackwardOptions::default())
    }
}

/// Sends feedback backward from one or more outputs, each with its own feedback.
///
/// Outputs that share parameters are processed in one pass, so a parameter used by several
/// outputs (the examples of a minibatch) receives all their feedback together.
///
/// # Errors
///
/// [`Error::NoOutputs`] without outputs; [`Error::AlreadyBackwarded`] when an earlier pass
/// without `retain_graph` went through a reachable node; [`Error::FeedbackBackward`] when a
/// feedback value fails to run its own backward; [`Error::Propagator`] and
/// [`Error::PropagatorArity`] when the propagator fails. On error, no node or parameter has
/// been changed.
pub fn backward(outputs: &[(Node, Feedback)], options: &BackwardOptions) -> Result<Arc<BackwardPass>> {
    if outputs.is_empty() {
        return Err(Error::NoOutputs);
    }

    let reachable = collect_reachable(outputs)?;
    let (child_starts, children) = child_lists(&reachable);
    let seeds = seed_feedback(outputs, &reachable.nodes, &reachable.positions)?;

    let nodes = &reachable.nodes;
    let mut incoming: Vec<Vec<Arc<FeedbackItem>>> = vec![Vec::new(); nodes.len()];
    for (position, item) in &seeds {
        incoming[*position as usize].push(item.clone());
    }

    let mut reached_parameters = Vec::new();
    for position in (0..nodes.len()).rev() {
        let node = &nodes[position];
        let items = deduplicate(std::mem::take(&mut incoming[position]));
        if items.is_empty() {
            continue;
        }
        if node.is_root() {
            if node.kind() == NodeKind::Parameter {
                reached_parameters.push((position, items));
            }
            continue;
        }

        let per_parent = options.propagator.propagate(node, &items).map_err(|message| Error::Propagator {
            node: node.key().to_string(),
            op: node.op_name().unwrap_or_default().to_string(),
            message,
        })?;
        if per_parent.len() != node.parents().len() {
            return Err(Error::PropagatorArity {
                node: node.key().to_string(),
                expected: node.parents().len(),
                found: per_parent.len(),
            });
        }
        for (&parent, items) in reachable.parents_of(position).iter().zip(per_parent) {
            incoming[parent as usize].extend(items);
        }
    }

    if !options.retain_graph {
        nodes.iter().for_each(Node::mark_backwarded);
    }
    let Reachable { nodes, positions, .. } = reachable;
    let pass = Arc::new(BackwardPass { nodes, positions, child_starts, children, outputs: seeds });
    for (position, items) in reached_parameters {
        pass.nodes[position].push_feedback(ParameterFeedback { pass: pass.clone(), items });
    }
    tracing::debug!(nodes = pass.nodes.len(), outputs = outputs.len(), "backward pass done");
    Ok(pass)
}

/// The nodes reachable from the outputs, sorted by level and creation order, with the
/// edges between them as positions into that order.
struct Reachable {
    nodes: Vec<Node>,
    positions: FxHashMap<usize, u32>,
    /// Parents of node `i` are `parents[parent_starts[i]..parent_starts[i + 1]]`.
    parent_starts: Vec<u32>,
    parents: Vec<u32>,
}

impl Reachable {
    fn parents_of(&self, position: usize) -> &[u32] {
        &self.parents[self.parent_starts[position] as usize..self.parent_starts[position + 1] as usize]
    }
}

/// Collects the nodes reachable from `outputs` with one hash probe per edge: nodes are
/// numbered as they are discovered, then renumbered in level order.
fn collect_reachable(outputs: &[(Node, Feedback)]) -> Result<Reachable> {
    let mut discovered: FxHashMap<usize, u32> = FxHashMap::default();
    let mut nodes: Vec<Node> = Vec::new();
    let mut parent_spans: Vec<(u32, u32)> = Vec::new();
    let mut discovered_parents: Vec<u32> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();

    let mut discover = |node: &Node, nodes: &mut Vec<Node>, stack: &mut Vec<u32>| -> u32 {
        *discovered.entry(node.address()).or_insert_with(|| {
            let index = nodes.len() as u32;
            nodes.push(node.clone());
            stack.push(index);
            index
        })
    };
    for (output, _) in outputs {
        discover(output, &mut nodes, &mut stack);
    }
    while let Some(index) = stack.pop() {
        let node = nodes[index as usize].clone();
        if node.is_backwarded() {
            return Err(Error::AlreadyBackwarded { node: node.key().to_string() });
        }
        let start = discovered_parents.len() as u32;
        for parent in node.parents() {
            let parent_index = discover(parent, &mut nodes, &mut stack);
            discovered_parents.push(parent_index);
        }
        if parent_spans.len() <= index as usize {
            parent_spans.resize(index as usize + 1, (0, 0));
        }
        parent_spans[index as usize] = (start, discovered_parents.len() as u32);
    }
    parent_spans.resize(nodes.len(), (0, 0));

    let mut order: Vec<u32> = (0..nodes.len() as u32).collect();
    order.sort_unstable_by_key(|&index| (nodes[index as usize].level(), nodes[index as usize].id()));
    let mut rank = vec![0u32; nodes.len()];
    for (position, &index) in order.iter().enumerate() {
        rank[index as usize] = position as u32;
    }

    let mut parent_starts = Vec::with_capacity(nodes.len() + 1);
    let mut parents = Vec::with_capacity(discovered_parents.len());
    parent_starts.push(0);
    for &index in &order {
        let (start, end) = parent_spans[index as usize];
        parents.extend(discovered_parents[start as usize..end as usize].iter().map(|&parent| rank[parent as usize]));
        parent_starts.push(parents.len() as u32);
    }

    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let nodes: Vec<Node> = order.iter().filter_map(|&index| slots[index as usize].take()).collect();
    let mut positions = discovered;
    for position in positions.values_mut() {
        *position = rank[*position as usize];
    }
    Ok(Reachable { nodes, positions, parent_starts, parents })
}

/// The children of every node, as compressed lists indexed by position.
fn child_lists(reachable: &Reachable) -> (Vec<u32>, Vec<u32>) {
    let count = reachable.nodes.len();
    let mut starts = vec![0u32; count + 1];
    for &parent in &reachable.parents {
        starts[parent as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }

    let mut next = starts.clone();
    let mut children = vec![0u32; reachable.parents.len()];
    for child in 0..count {
        for &parent in reachable.parents_of(child) {
            let slot = &mut next[parent as usize];
            children[*slot as usize] = child as u32;
            *slot += 1;
        }
    }
    (starts, children)
}

/// Turns each output's feedback into an item, running the backward of feedback values that
/// have their own (a loss tensor, for example).
fn seed_feedback(
    outputs: &[(Node, Feedback)],
    nodes: &[Node],
    positions: &FxHashMap<usize, u32>,
) -> Result<Vec<(u32, Arc<FeedbackItem>)>> {
    outputs
        .iter()
        .map(|(output, feedback)| {
            let text = match feedback {
                Feedback::Value(Value::Ext(ext)) => ext
                    .backward_as_feedback(nodes)
                    .map_err(|message| Error::FeedbackBackward { node: output.key().to_string(), message })?
                    .unwrap_or_else(|| feedback.render()),
                other => other.render(),
            };
            let item = FeedbackItem { output: output.clone(), feedback: feedback.clone(), text };
            Ok((positions[&output.address()], Arc::new(item)))
        })
        .collect()
}

/// Removes repeated items (the same item arriving along two paths), keeping first arrivals.
fn deduplicate(items: Vec<Arc<FeedbackItem>>) -> Vec<Arc<FeedbackItem>> {
    if items.len() < 2 {
        return items;
    }
    let mut seen = FxHashSet::default();
    items.into_iter().filter(|item| seen.insert(Arc::as_ptr(item) as usize)).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn parameter_receives_feedback_of_its_output() {
        let x = Node::parameter("x", 1);
        let y = &(&x + 1) * 2;

        y.backward("too small").unwrap();

        let feedback = x.feedback();
        assert_eq!(feedback.len(), 1);
        assert_eq!(feedback[0].items.len(), 1);
        assert_eq!(feedback[0].items[0].text, "too small");
        assert_eq!(feedback[0].items[0].output, y);
    }

    #[test]
    fn diamond_delivers_each_item_once() {
        let x = Node::parameter("x", 1);
        let left = &x + 1;
        let right = &x * 2;
        let out = &left + &right;

        out.backward("ok").unwrap();

        assert_eq!(x.feedback()[0].items.len(), 1);
    }

    #[test]
    fn second_backward_without_retain_is_an_error() {
        let x = Node::parameter("x", 1);
        let y = &x + 1;
        y.backward("first").unwrap();

        let error = y.backward("second").unwrap_err();

        assert!(matches!(&error, Error::AlreadyBackwarded { node } if node == y.key()), "{error}");
        assert_eq!(x.feedback().len(), 1);
    }

    #[test]
    fn retain_graph_allows_a_second_backward() {
        let x = Node::parameter("x", 1);
        let y = &x + 1;
        let options = BackwardOptions { retain_graph: true, ..BackwardOptions::default() };

        backward(&[(y.clone(), "first".into())], &options).unwrap();
        backward(&[(y.clone(), "second".into())], &options).unwrap();

        let texts: Vec<String> = x.feedback().iter().map(|f| f.items[0].text.clone()).collect();
        assert_eq!(texts, ["first", "second"]);
    }

    #[test]
    fn outputs_with_different_feedback_combine() {
        let w = Node::parameter("w", 2);
        let a = &w * 3;
        let b = &w + 1;

        backward(&[(a.clone(), "a is wrong".into()), (b.clone(), "b is right".into())], &BackwardOptions::default())
            .unwrap();

        let items = &w.feedback()[0].items;
        let texts: Vec<&str> = items.iter().map(|item| item.text.as_str()).collect();
        assert_eq!(texts.len(), 2);
        assert!(texts.contains(&"a is wrong"), "{texts:?}");
        assert!(texts.contains(&"b is right"), "{texts:?}");
    }

    #[test]
    fn no_outputs_is_an_error() {
        assert!(matches!(backward(&[], &BackwardOptions::default()), Err(Error::NoOutputs)));
    }

    struct Counting(AtomicUsize);

    impl Propagator for Counting {
        fn propagate(
            &self,
            node: &Node,
            feedback: &[Arc<FeedbackItem>],
        ) -> Result<Vec<Vec<Arc<FeedbackItem>>>, String> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(vec![feedback.to_vec(); node.parents().len()])
        }
    }

    #[test]
    fn rule_overrides_one_operator() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let x = Node::parameter("x", 1);
        let out = &(&x + 1) * 3;
        let options = BackwardOptions {
            retain_graph: false,
            propagator: Arc::new(GraphPropagator::new().with_rule("mul", counting.clone())),
        };

        backward(&[(out, "ok".into())], &options).unwrap();

        assert_eq!(counting.0.load(Ordering::Relaxed), 1);
        assert_eq!(x.feedback().len(), 1);
    }

    struct Failing;

    impl Propagator for Failing {
        fn propagate(&self, _: &Node, _: &[Arc<FeedbackItem>]) -> Result<Vec<Vec<Arc<FeedbackItem>>>, String> {
            Err("cannot split".to_string())
        }
    }

    #[test]
    fn failing_propagator_changes_nothing() {
        let x = Node::parameter("x", 1);
        let y = &x + 1;
        let options = BackwardOptions { retain_graph: false, propagator: Arc::new(Failing) };

        let error = backward(&[(y.clone(), "ok".into())], &options).unwrap_err();

        assert!(matches!(error, Error::Propagator { .. }), "{error}");
        assert!(x.feedback().is_empty());
        y.backward("again").unwrap();
    }
}
