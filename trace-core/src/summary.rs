//! The summary an optimizer prompt needs: for a set of parameters, the operators between
//! them and the outputs, the values around those operators, and the feedback.
//!
//! For each backward pass that reached the parameters, the summary covers the nodes that
//! depend on them (their descendants within the pass). Each such operator node gives one
//! line `out = op(arg=in, ...)`. Parents outside that set are roots: trainable parameters
//! become variables, everything else inputs. Non-output operator values are "others".
//!
//! # Complexity
//!
//! Linear in the size of the backward passes involved, whatever the number of parameters.

use std::fmt;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::backward::BackwardPass;
use crate::node::{Node, NodeKind};
use crate::value::Value;

/// One operator line, `out = op(arg=in, ...)`: a view of an operator node.
///
/// It reads keys and names from the node instead of copying them, because building and
/// dropping those strings took most of the time of a large OptoPrime prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct OpLine {
    node: Node,
}

impl OpLine {
    /// Creates the line of an operator node.
    pub fn new(node: Node) -> OpLine {
        OpLine { node }
    }

    /// The operator node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The key of the output node.
    pub fn output(&self) -> &str {
        self.node.key()
    }

    /// The operator name.
    pub fn op(&self) -> &str {
        self.node.op_name().unwrap_or_default()
    }

    /// The argument names with the keys of the nodes passed, in parameter order.
    pub fn args(&self) -> impl Iterator<Item = (&str, &str)> {
        self.node.inputs().map(|(arg, parent)| (arg, parent.key()))
    }

    /// Whether the operator raised an error.
    pub fn is_exception(&self) -> bool {
        self.node.kind() == NodeKind::Exception
    }

    /// Renders the line as `out = op(arg=in, ...)`, into one buffer of the right size.
    pub fn render(&self) -> String {
        let args: usize = self.args().map(|(arg, key)| arg.len() + key.len() + 3).sum();
        let mut text = String::with_capacity(self.output().len() + self.op().len() + args + 4);
        for part in [self.output(), " = ", self.op(), "("] {
            text.push_str(part);
        }
        for (i, (arg, key)) in self.args().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            for part in [arg, "=", key] {
                text.push_str(part);
            }
        }
        text.push(')');
        text
    }
}

impl fmt::Display for OpLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// A node shown in a summary section with its value at the time of the summary.
#[derive(Clone, Debug)]
pub struct SummaryEntry {
    /// The node's key.
    pub key: String,
    /// The value when the summary was made.
    pub value: Value,
    /// The node's constraint, for parameters.
    pub constraint: Option<String>,
    /// The node itself, for optimizers that update it.
    pub node: Node,
}

impl SummaryEntry {
    fn of(node: &Node) -> SummaryEntry {
        SummaryEntry {
            key: node.key().to_string(),
            value: node.value_untracked(),
            constraint: node.constraint(),
            node: node.clone(),
        }
    }

    /// The node's description.
    pub fn description(&self) -> &str {
        self.node.description()
    }

    /// The entry as `(type) key=value`.
    pub fn render(&self) -> String {
        self.value.render_tagged(&self.key)
    }
}

/// The feedback of one output in a summary.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputFeedback {
    /// The key of the output.
    pub output: String,
    /// The feedback as text.
    pub text: String,
}

/// The graph and feedback between a set of parameters and the outputs they influenced.
///
/// Build it with [`Summary::of`] after one or more backward passes.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Operator lines in level order.
    pub code: Vec<OpLine>,
    /// Operator names with their descriptions, in order of first use.
    pub documentation: Vec<(String, String)>,
    /// Trainable parameters.
    pub variables: Vec<SummaryEntry>,
    /// Roots that are not trainable: inputs, constants, and values computed outside the
    /// summarized part of the graph.
    pub inputs: Vec<SummaryEntry>,
    /// Intermediate values.
    pub others: Vec<SummaryEntry>,
    /// Outputs that received feedback.
    pub outputs: Vec<SummaryEntry>,
    /// The feedback of each output.
    pub feedback: Vec<OutputFeedback>,
}

impl Summary {
    /// Summarizes the feedback that backward passes left on `parameters`. Parameters that
    /// received no feedback add nothing.
    pub fn of(parameters: &[Node]) -> Summary {
        let mut passes: Vec<(Arc<BackwardPass>, Vec<Node>)> = Vec::new();
        for parameter in parameters {
            for feedback in parameter.feedback() {
                match passes.iter_mut().find(|(pass, _)| Arc::ptr_eq(pass, &feedback.pass)) {
                    Some((_, members)) => members.push(parameter.clone()),
                    None => passes.push((feedback.pass, vec![parameter.clone()])),
                }
            }
        }

        let mut builder = Builder::default();
        for (pass, members) in &passes {
            builder.add_pass(pass, members);
        }
        builder.summary
    }

    /// The operator lines as text.
    pub fn code_lines(&self) -> Vec<String> {
        self.code.iter().map(OpLine::render).collect()
    }

    /// The feedback as one text: the feedback itself when every output got the same, or
    /// one line per output otherwise.
    pub fn feedback_text(&self) -> String {
        let first = match self.feedback.first() {
            Some(first) => first,
            None => return String::new(),
        };
        if self.feedback.iter().all(|item| item.text == first.text) {
            return first.text.clone();
        }
        self.feedback.iter().map(|item| format!("{}: {}", item.output, item.text)).collect::<Vec<_>>().join("\n")
    }

    /// Whether the summary has no operators and no feedback.
    pub fn is_empty(&self) -> bool {
        self.code.is_empty() && self.feedback.is_empty() && self.variables.is_empty()
    }
}

#[derive(Default)]
struct Builder {
    summary: Summary,
    /// Addresses of the nodes already in a section.
    seen_entries: FxHashSet<usize>,
    seen_ops: FxHashSet<String>,
    seen_feedback: FxHashMap<String, usize>,
}

impl Builder {
    fn add_pass(&mut self, pass: &BackwardPass, members: &[Node]) {
        let descendants = descendants(pass, members);
        let outputs: FxHashMap<usize, &str> =
            pass.output_positions().map(|(position, item)| (position, item.text.as_str())).collect();

        for (position, node) in pass.nodes().iter().enumerate() {
            if !descendants[position] {
                continue;
            }
            if node.is_root() {
                self.add_root(node);
                continue;
            }

            self.add_line(node);
            for parent in node.parents() {
                let inside = pass.position(parent).is_some_and(|p| descendants[p]);
                if !inside {
                    self.add_root(parent);
                }
            }

            if outputs.contains_key(&position) {
                self.add_entry(node, Section::Outputs);
            } else {
                self.add_entry(node, Section::Others);
            }
        }

        for (position, item) in pass.output_positions() {
            if descendants[position] {
                self.add_feedback(item.output.key(), &item.text);
            }
        }
    }

    fn add_line(&mut self, node: &Node) {
        let op = node.op_name().unwrap_or_default();
        if !self.seen_ops.contains(op) {
            self.seen_ops.insert(op.to_string());
            self.summary.documentation.push((op.to_string(), node.description().to_string()));
        }
        self.summary.code.push(OpLine::new(node.clone()));
    }

    fn add_root(&mut self, node: &Node) {
        let section = if node.is_trainable() { Section::Variables } else { Section::Inputs };
        self.add_entry(node, section);
    }

    fn add_entry(&mut self, node: &Node, section: Section) {
        if !self.seen_entries.insert(node.address()) {
            return;
        }
        let entry = SummaryEntry::of(node);
        match section {
            Section::Variables => self.summary.variables.push(entry),
            Section::Inputs => self.summary.inputs.push(entry),
            Section::Others => self.summary.others.push(entry),
            Section::Outputs => self.summary.outputs.push(entry),
        }
    }

    fn add_feedback(&mut self, output: &str, text: &str) {
        let key = format!("{output}\u{0}{text}");
        if self.seen_feedback.insert(key, self.summary.feedback.len()).is_none() {
            self.summary.feedback.push(OutputFeedback { output: output.to_string(), text: text.to_string() });
        }
    }
}

#[derive(Clone, Copy)]
enum Section {
    Variables,
    Inputs,
    Others,
    Outputs,
}

/// Marks the positions of `members` and of every node of the pass that depends on them.
fn descendants(pass: &BackwardPass, members: &[Node]) -> Vec<bool> {
    let mut found = vec![false; pass.nodes().len()];
    let mut stack: Vec<usize> = members.iter().filter_map(|member| pass.position(member)).collect();
    for &position in &stack {
        found[position] = true;
    }

    while let Some(position) = stack.pop() {
        for &child in pass.children_of(position) {
            let child = child as usize;
            if !found[child] {
                found[child] = true;
                stack.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backward::{BackwardOptions, backward};
    use crate::ops;

    #[test]
    fn three_operator_graph_lists_lines_in_order() {
        let x = Node::parameter("x", 2);
        let b = Node::input("b", 3);
        let sum = &x + &b;
        let product = &sum * &x;
        let out = product.to_text();

        out.backward("should be 11").unwrap();
        let summary = Summary::of(std::slice::from_ref(&x));

        let expected = [
            format!("{} = add(x={}, y={})", sum.key(), x.key(), b.key()),
            format!("{} = mul(x={}, y={})", product.key(), sum.key(), x.key()),
            format!("{} = str(x={})", out.key(), product.key()),
        ];
        assert_eq!(summary.code_lines(), expected);
        assert_eq!(summary.variables.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), [x.key()]);
        assert_eq!(summary.inputs.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), [b.key()]);
        assert_eq!(
            summary.others.iter().map(|e| e.render()).collect::<Vec<_>>(),
            [format!("(int) {}=5", sum.key()), format!("(int) {}=10", product.key())]
        );
        assert_eq!(summary.outputs[0].render(), format!("(str) {}=10", out.key()));
        assert_eq!(summary.feedback_text(), "should be 11");
        let documented: Vec<&str> = summary.documentation.iter().map(|(op, _)| op.as_str()).collect();
        assert_eq!(documented, ["add", "mul", "str"]);
    }

    #[test]
    fn nodes_not_depending_on_parameters_become_inputs() {
        let prompt = Node::parameter("prompt", "Q: {q}");
        let question = Node::input("question", "What?");
        let cleaned = question.strip();
        let filled = ops::format(&prompt, &[("q", &cleaned)]);

        filled.backward("fine").unwrap();
        let summary = Summary::of(std::slice::from_ref(&prompt));

        assert_eq!(summary.code.len(), 1);
        assert_eq!(
            summary.code[0].to_string(),
            format!("{} = format(template={}, q={})", filled.key(), prompt.key(), cleaned.key())
        );
        assert_eq!(summary.inputs.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), [cleaned.key()]);
    }

    #[test]
    fn two_outputs_sharing_a_parameter_combine_feedback() {
        let w = Node::parameter("w", 2);
        let first = &w * 3;
        let second = &w + 10;

        backward(
            &[(first.clone(), "first should be 9".into()), (second.clone(), "second is right".into())],
            &BackwardOptions::default(),
        )
        .unwrap();
        let summary = Summary::of(std::slice::from_ref(&w));

        assert_eq!(summary.code.len(), 2);
        assert_eq!(summary.outputs.len(), 2);
        assert_eq!(
            summary.feedback_text(),
            format!("{}: first should be 9\n{}: second is right", first.key(), second.key())
        );
    }

    #[test]
    fn separate_passes_merge_into_one_summary() {
        let w = Node::parameter("w", 1);
        let first = &w + 1;
        let second = &w + 2;

        first.backward("too low").unwrap();
        second.backward("too low").unwrap();
        let summary = Summary::of(std::slice::from_ref(&w));

        assert_eq!(summary.code.len(), 2);
        assert_eq!(summary.variables.len(), 1);
        assert_eq!(summary.feedback.len(), 2);
        assert_eq!(summary.feedback_text(), "too low");
    }

    #[test]
    fn exception_output_is_summarized_with_its_inputs() {
        let x = Node::parameter("x", "text");
        let failed = &x / 2;

        failed.backward(failed.error().unwrap_or_default()).unwrap();
        let summary = Summary::of(std::slice::from_ref(&x));

        assert!(summary.code[0].is_exception());
        assert!(summary.code[0].output().starts_with("exception_div"));
        assert_eq!(summary.feedback_text(), "unsupported operand types for /: 'str' and 'int'");
    }

    #[test]
    fn parameter_without_feedback_gives_empty_summary() {
        let x = Node::parameter("x", 1);

        assert!(Summary::of(&[x]).is_empty());
    }
}
