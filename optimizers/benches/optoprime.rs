//! Overhead of OptoPrime apart from the LLM. The first group renders the prompt of a chain
//! of `n` additions: summary, nine sections, and truncation to the prompt size limit. The
//! second runs one whole step against the scripted mock, with a strict and a repaired reply.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use optimizers::llm::MockClient;
use optimizers::{OptoPrime, OptoPrimeConfig};
use trace_core::{Node, Optimizer};

/// Builds a parameter followed by `length` additions, with feedback on the last one.
fn chain(length: usize) -> Node {
    let x = Node::parameter("x", 0);
    let mut total = x.clone();
    for _ in 0..length {
        total = &total + 1;
    }
    total.backward("the result should be 0").expect("backward on a fresh output succeeds");
    x
}

fn prompt_rendering(c: &mut Criterion) {
    let mut group = c.benchmark_group("optoprime_prompt");
    group.sample_size(20);
    for length in [100, 1_000, 10_000] {
        let x = chain(length);
        let config = OptoPrimeConfig { max_prompt_tokens: 8_000, ..OptoPrimeConfig::default() };
        let optimizer = OptoPrime::new(vec![x], Arc::new(MockClient::new("bench"))).with_config(config);
        group.bench_with_input(BenchmarkId::from_parameter(length), &optimizer, |b, optimizer| {
            b.iter(|| optimizer.prompt().expect("the chain has feedback"));
        });
    }
    group.finish();
}

fn step_with_mock(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime starts");
    let x = chain(10);
    let key = x.key().to_string();
    let colon_key = format!("x:{}", &key[1..]);
    let replies = [
        ("strict", format!(r#"{{"reasoning": "r", "answer": "", "suggestion": {{"{key}": 3}}}}"#)),
        (
            "repaired",
            format!(
                "Sure:\n```json\n{{'reasoning': 'r', 'answer': None, 'suggestion': {{'{colon_key}': '3',}},}}\n```"
            ),
        ),
    ];

    let mut group = c.benchmark_group("optoprime_step");
    for (name, reply) in replies {
        let mock = Arc::new(MockClient::new("bench"));
        let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone());
        group.bench_function(name, |b| {
            b.iter(|| {
                mock.push_reply(reply.clone());
                runtime.block_on(optimizer.step()).expect("the reply is usable")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, prompt_rendering, step_with_mock);
criterion_main!(benches);
