//! Building one OptoPrime prompt (summary included) from the graph of a chain or a balanced
//! tree of 10, 100 and 1000 additions after backward, the prompt-building workload of the
//! side-by-side comparison with the Python reference (`scripts/bench-reference`).

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use optimizers::llm::{ApiKey, ClientBuilder, LlmClient, LlmConfig};
use optimizers::{OptoPrime, OptoPrimeConfig};
use std::hint::black_box;
use trace_core::Node;

const SIZES: [usize; 3] = [10, 100, 1_000];

/// Builds a chain `x + 1 + 1 + ...` of `operators` additions and returns the parameters and the output.
fn chain(operators: usize) -> (Vec<Node>, Node) {
    let x = Node::parameter("x", 0);
    let one = Node::constant(1);
    let mut out = x.clone();
    for _ in 0..operators {
        out = &out + &one;
    }
    (vec![x], out)
}

/// Builds a balanced binary tree of additions over `operators + 1` parameters.
fn tree(operators: usize) -> (Vec<Node>, Node) {
    let leaves: Vec<Node> = (0..=operators).map(|i| Node::parameter("w", i as i64)).collect();
    let mut level = leaves.clone();
    while level.len() > 1 {
        level =
            level.chunks(2).map(|pair| if pair.len() == 2 { &pair[0] + &pair[1] } else { pair[0].clone() }).collect();
    }
    let out = level.pop().unwrap_or_else(|| Node::constant(0));
    (leaves, out)
}

/// Creates a client for a closed port on 127.0.0.1, because prompt building never sends a request.
fn unused_client() -> Arc<dyn LlmClient> {
    let config = LlmConfig {
        base_url: "http://127.0.0.1:9/v1".to_owned(),
        api_key: ApiKey::new("sk-unused"),
        model: "unused".to_owned(),
        timeout: Duration::from_secs(1),
    };
    Arc::new(ClientBuilder::from_config(&config).expect("valid config").build().expect("stack builds"))
}

fn prompt(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("optoprime_prompt");
    group.sample_size(20);
    for (shape, build) in [("chain", chain as fn(usize) -> (Vec<Node>, Node)), ("tree", tree)] {
        for size in SIZES {
            let (parameters, out) = build(size);
            out.backward("The output should be larger.").expect("backward");
            // A large limit, so that the whole problem is shown, as the reference does.
            let config = OptoPrimeConfig { max_prompt_tokens: 100_000_000, ..OptoPrimeConfig::default() };
            let optimizer = OptoPrime::new(parameters, unused_client()).with_config(config);
            group.bench_function(BenchmarkId::new(shape, size), |bencher| {
                bencher.iter(|| black_box(optimizer.prompt().expect("prompt")));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, prompt);
criterion_main!(benches);
