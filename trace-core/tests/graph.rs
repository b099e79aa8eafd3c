//! Behaviour of whole graphs: property tests of levels and backward, concurrent runs that
//! share parameters, and DOT snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use rustc_hash::FxHashMap;
use trace_core::{
    BackwardOptions, Bundle, Feedback, FeedbackItem, GraphPropagator, Node, Propagator, Summary, Value, backward, dot,
    ops,
};

/// A recipe for a random graph: `roots` parameters, then one operator per step whose
/// operands are earlier nodes picked by index.
#[derive(Debug, Clone)]
struct Recipe {
    roots: usize,
    steps: Vec<(u8, usize, usize)>,
}

fn recipe() -> impl Strategy<Value = Recipe> {
    (1usize..6).prop_flat_map(|roots| {
        let steps = prop::collection::vec((0u8..4, any::<usize>(), any::<usize>()), 1..60);
        steps.prop_map(move |steps| Recipe { roots, steps })
    })
}

fn build(recipe: &Recipe) -> Vec<Node> {
    let mut nodes: Vec<Node> = (0..recipe.roots).map(|i| Node::parameter("p", i as i64)).collect();
    for &(op, a, b) in &recipe.steps {
        let x = nodes[a % nodes.len()].clone();
        let y = nodes[b % nodes.len()].clone();
        let out = match op {
            0 => &x + &y,
            1 => &x * &y,
            2 => x.less_than(&y),
            _ => ops::list(&[&x, &y]),
        };
        nodes.push(out);
    }
    nodes
}

/// Counts how often each node is handed to the propagator.
#[derive(Default)]
struct CountingPropagator {
    visits: parking_lot::Mutex<FxHashMap<String, usize>>,
    calls: AtomicUsize,
}

impl Propagator for CountingPropagator {
    fn propagate(&self, node: &Node, feedback: &[Arc<FeedbackItem>]) -> Result<Vec<Vec<Arc<FeedbackItem>>>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        *self.visits.lock().entry(node.key().to_string()).or_default() += 1;
        GraphPropagator::new().propagate(node, feedback)
    }
}

proptest! {
    #[test]
    fn levels_increase_along_every_edge(recipe in recipe()) {
        let nodes = build(&recipe);

        for node in &nodes {
            for parent in node.parents() {
                prop_assert!(parent.level() < node.level(), "{} -> {}", parent.key(), node.key());
            }
            let expected = node.parents().iter().map(|p| p.level() + 1).max().unwrap_or(0);
            prop_assert_eq!(node.level(), expected);
        }
    }

    #[test]
    fn backward_visits_each_node_once(recipe in recipe()) {
        let nodes = build(&recipe);
        let output = nodes.last().cloned().expect("at least one node");
        let counting = Arc::new(CountingPropagator::default());
        let options = BackwardOptions { retain_graph: false, propagator: counting.clone() };

        let pass = backward(&[(output, Feedback::from("check"))], &options).expect("backward");

        let operators = pass.nodes().iter().filter(|node| !node.is_root()).count();
        prop_assert_eq!(counting.calls.load(Ordering::Relaxed), operators);
        prop_assert!(counting.visits.lock().values().all(|&count| count == 1));
        let levels: Vec<usize> = pass.nodes().iter().map(Node::level).collect();
        prop_assert!(levels.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn summary_lines_follow_levels(recipe in recipe()) {
        let nodes = build(&recipe);
        let output = nodes.last().cloned().expect("at least one node");
        let parameters: Vec<Node> = nodes[..recipe.roots].to_vec();

        output.backward("check").expect("backward");
        let summary = Summary::of(&parameters);

        let level_of: FxHashMap<&str, usize> = nodes.iter().map(|n| (n.key(), n.level())).collect();
        let levels: Vec<usize> = summary.code.iter().map(|line| level_of[line.output()]).collect();
        prop_assert!(levels.windows(2).all(|pair| pair[0] <= pair[1]));
        for line in &summary.code {
            for (_, key) in line.args() {
                prop_assert!(level_of[key] < level_of[line.output()]);
            }
        }
    }
}

#[test]
fn concurrent_runs_share_only_parameters() {
    let prompt = Node::parameter("prompt", "Answer: ");
    let runs: Vec<Node> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let prompt = prompt.clone();
                scope.spawn(move || {
                    let question = Node::input("question", format!("q{i}"));
                    &prompt + &question
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("thread")).collect()
    });
    let outputs: Vec<(Node, Feedback)> =
        runs.iter().enumerate().map(|(i, out)| (out.clone(), Feedback::from(format!("example {i} failed")))).collect();

    backward(&outputs, &BackwardOptions::default()).expect("backward");
    let summary = Summary::of(std::slice::from_ref(&prompt));

    assert_eq!(summary.code.len(), 8);
    assert_eq!(summary.variables.len(), 1);
    assert_eq!(summary.inputs.len(), 8);
    assert_eq!(summary.feedback.len(), 8);
    let keys: std::collections::HashSet<&str> = runs.iter().map(Node::key).collect();
    assert_eq!(keys.len(), 8, "keys must be unique across threads");
}

#[test]
fn panicking_bundle_feedback_reaches_its_inputs() {
    let divisor = Node::parameter("divisor", 0);
    let checked = Bundle::new("checked_divide", "Divides 10 by the divisor.", &["divisor"]);

    let out = checked
        .call(&[&divisor], |values| match &values[0] {
            Value::Int(0) => panic!("divisor must not be zero"),
            Value::Int(d) => Value::Int(10 / d),
            _ => Value::Null,
        })
        .expect("bundle call");
    out.backward(out.error().unwrap_or_default()).expect("backward");
    let summary = Summary::of(std::slice::from_ref(&divisor));

    assert!(out.is_exception());
    assert_eq!(summary.code_lines(), [format!("{} = checked_divide(divisor={})", out.key(), divisor.key())]);
    assert_eq!(summary.feedback_text(), "panicked: divisor must not be zero");
}

/// Replaces the generated key counters in DOT text with stable placeholders.
fn normalize_keys(text: &str, nodes: &[&Node]) -> String {
    let mut normalized = text.to_string();
    for (i, node) in nodes.iter().enumerate() {
        normalized = normalized.replace(&format!("\"{}\"", node.key()), &format!("\"n{i}\""));
        normalized = normalized.replace(&format!("\"{}\\n", node.key()), &format!("\"n{i}\\n"));
    }
    normalized
}

#[test]
fn dot_of_a_run_styles_kinds_apart() {
    let prompt = Node::parameter("prompt", "Say \"hi\"");
    let name = Node::input("name", "Ada");
    let greeting = ops::format(&prompt, &[]);
    let joined = &greeting + &name;
    let failed = &joined / 2;

    let text = dot::to_dot(std::slice::from_ref(&failed));

    let constant = &failed.parents()[1];
    insta::assert_snapshot!(normalize_keys(&text, &[&prompt, &name, &greeting, &joined, &failed, constant]));
}

#[test]
fn dot_of_a_summary_shows_only_the_summary() {
    let w = Node::parameter("w", 2);
    let unrelated = Node::input("u", 1);
    let scaled = &w * 3;
    let shifted = &unrelated + 1;
    let out = &scaled + &shifted;
    out.backward("too big").expect("backward");

    let text = dot::summary_to_dot(&Summary::of(std::slice::from_ref(&w)));

    let constant = &scaled.parents()[1];
    insta::assert_snapshot!(normalize_keys(&text, &[&w, &scaled, &shifted, &out, constant]));
}
