//! Graph construction, backward with the graph propagator, and summaries, on chains and
//! balanced trees of 1k, 10k and 100k operators.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use trace_core::{Node, Summary};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// A chain `x + 1 + 1 + ...` of `operators` additions; returns the parameter and the output.
fn chain(operators: usize) -> (Vec<Node>, Node) {
    let x = Node::parameter("x", 0);
    let one = Node::constant(1);
    let mut out = x.clone();
    for _ in 0..operators {
        out = &out + &one;
    }
    (vec![x], out)
}

/// A balanced binary tree of additions over `operators + 1` parameters.
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

fn bench_shape(c: &mut Criterion, name: &str, build: fn(usize) -> (Vec<Node>, Node)) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for size in SIZES {
        group.throughput(Throughput::Elements(size as u64));

        group.bench_with_input(BenchmarkId::new("construct", size), &size, |b, &size| {
            b.iter_with_large_drop(|| black_box(build(size)));
        });

        group.bench_with_input(BenchmarkId::new("backward", size), &size, |b, &size| {
            b.iter_batched(
                || build(size),
                |(parameters, out)| {
                    out.backward("feedback").expect("backward");
                    parameters.iter().for_each(Node::zero_feedback);
                    (parameters, out)
                },
                criterion::BatchSize::LargeInput,
            );
        });

        group.bench_with_input(BenchmarkId::new("backward_and_summary", size), &size, |b, &size| {
            b.iter_batched(
                || build(size),
                |(parameters, out)| {
                    out.backward("feedback").expect("backward");
                    let summary = Summary::of(&parameters);
                    assert_eq!(summary.code.len(), size);
                    parameters.iter().for_each(Node::zero_feedback);
                    (parameters, out)
                },
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn graph(c: &mut Criterion) {
    bench_shape(c, "chain", chain);
    bench_shape(c, "tree", tree);
}

criterion_group!(benches, graph);
criterion_main!(benches);
