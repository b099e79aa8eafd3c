//! Graphviz DOT export of a run or of a summary. Trainable parameters, other roots,
//! operators and exceptions are styled apart.

use std::fmt::Write;

use rustc_hash::FxHashSet;

use crate::node::{Node, NodeKind};
use crate::summary::Summary;

const MAX_LABEL_CHARS: usize = 60;

/// The DOT of everything reachable from `outputs`, roots first.
///
/// ```
/// use trace_core::{Node, dot};
///
/// let x = Node::parameter("x", 1);
/// let y = &x + 2;
///
/// let text = dot::to_dot(&[y]);
///
/// assert!(text.starts_with("digraph trace {"));
/// assert!(text.contains("label=\"x\""));
/// ```
pub fn to_dot(outputs: &[Node]) -> String {
    let mut seen: FxHashSet<usize> = FxHashSet::default();
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack: Vec<Node> = outputs.iter().filter(|node| seen.insert(node.address())).cloned().collect();
    while let Some(node) = stack.pop() {
        for parent in node.parents() {
            if seen.insert(parent.address()) {
                stack.push(parent.clone());
            }
        }
        nodes.push(node);
    }
    nodes.sort_unstable_by_key(|node| (node.level(), node.id()));

    let mut out = String::from("digraph trace {\n  rankdir=TB;\n");
    for node in &nodes {
        write_node(&mut out, node);
    }
    for node in &nodes {
        write_edges(&mut out, node);
    }
    out.push_str("}\n");
    out
}

/// The DOT of a summary: its roots, its operator nodes and the edges between them.
pub fn summary_to_dot(summary: &Summary) -> String {
    let mut out = String::from("digraph summary {\n  rankdir=TB;\n");
    let sections = [&summary.variables, &summary.inputs, &summary.others, &summary.outputs];
    for entry in sections.into_iter().flatten() {
        write_node(&mut out, &entry.node);
    }
    for line in &summary.code {
        for (arg, key) in line.args() {
            let _ =
                writeln!(out, "  \"{}\" -> \"{}\" [label=\"{}\"];", escape(key), escape(line.output()), escape(arg));
        }
    }
    out.push_str("}\n");
    out
}

fn write_node(out: &mut String, node: &Node) {
    let (shape, style) = match node.kind() {
        NodeKind::Parameter if node.is_trainable() => ("box", "filled\", fillcolor=\"#DEEBF6\", color=\"#5C9BD5"),
        NodeKind::Parameter => ("box", "rounded"),
        NodeKind::Message => ("ellipse", "solid"),
        NodeKind::Exception => ("octagon", "filled\", fillcolor=\"#FFE5E2\", color=\"#FF7E79"),
    };
    let caption = node.op_name().map_or_else(|| node.key().to_string(), |op| format!("{}\\n[{op}]", node.key()));
    let value = shorten(&node.value_untracked().render());
    let _ = writeln!(
        out,
        "  \"{}\" [label=\"{}\\n{}\", shape={shape}, style=\"{style}\"];",
        escape(node.key()),
        caption,
        escape(&value)
    );
}

fn write_edges(out: &mut String, node: &Node) {
    for (arg, parent) in node.inputs() {
        let _ =
            writeln!(out, "  \"{}\" -> \"{}\" [label=\"{}\"];", escape(parent.key()), escape(node.key()), escape(arg));
    }
}

fn shorten(text: &str) -> String {
    let single_line = text.replace('\n', " ");
    if single_line.chars().count() <= MAX_LABEL_CHARS {
        return single_line;
    }
    let cut: String = single_line.chars().take(MAX_LABEL_CHARS).collect();
    format!("{cut}...")
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
