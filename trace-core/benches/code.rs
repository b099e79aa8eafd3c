//! Trainable JavaScript code: calls per second of a small function through the traced
//! call, awaited, and untraced. The raw QuickJS call on the calling thread, with no worker
//! channel, is the floor that the worker design adds to. Then the throughput of several
//! threads sharing one engine, and the cost of starting an engine.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rquickjs::{Function, Runtime};
use trace_core::{Engine, EngineConfig, JsFunction, Node, Value, code_parameter};

const SOURCE: &str = "function f(x) { return x * 2 + 1; }";

fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

fn bench_calls(c: &mut Criterion) {
    let engine = Engine::new().expect("engine starts");
    let code = code_parameter(SOURCE).expect("source parses");
    let function = JsFunction::new(&engine, &code).expect("code binds");
    let x = Node::input("x", 20);

    let mut group = c.benchmark_group("js_call");
    group.throughput(Throughput::Elements(1));

    group.bench_function("traced", |b| {
        b.iter(|| black_box(function.call(&[&x]).expect("inputs match")));
    });
    group.bench_function("traced_async", |b| {
        b.iter(|| black_box(block_on(function.call_async(&[&x])).expect("inputs match")));
    });
    group.bench_function("untraced", |b| {
        b.iter(|| black_box(engine.run(SOURCE, vec![Value::Int(20)])));
    });

    let runtime = Runtime::new().expect("runtime starts");
    let context = rquickjs::Context::full(&runtime).expect("context starts");
    context.with(|ctx| ctx.eval::<(), _>(SOURCE).expect("source loads"));
    group.bench_function("raw_quickjs_same_thread", |b| {
        b.iter(|| {
            context.with(|ctx| {
                let f: Function<'_> = ctx.globals().get("f").expect("f is defined");
                black_box(f.call::<_, i64>((20,)).expect("call succeeds"))
            })
        });
    });
    group.finish();
}

/// Throughput of 4 threads making 100 traced calls each, with one and with two workers.
fn bench_threads(c: &mut Criterion) {
    const THREADS: usize = 4;
    const CALLS_PER_THREAD: usize = 100;
    let mut group = c.benchmark_group("js_threads");
    group.sample_size(20);
    group.throughput(Throughput::Elements((THREADS * CALLS_PER_THREAD) as u64));

    for workers in [1, 2] {
        let engine = Engine::with_config(EngineConfig::default().with_workers(workers)).expect("engine starts");
        let code = code_parameter(SOURCE).expect("source parses");
        let function = JsFunction::new(&engine, &code).expect("code binds");
        group.bench_function(format!("4_threads_{workers}_workers"), |b| {
            b.iter(|| {
                thread::scope(|scope| {
                    for _ in 0..THREADS {
                        scope.spawn(|| {
                            let x = Node::input("x", 20);
                            for _ in 0..CALLS_PER_THREAD {
                                black_box(function.call(&[&x]).expect("inputs match"));
                            }
                        });
                    }
                });
            });
        });
    }
    group.finish();
}

fn bench_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("js_engine");
    group.bench_function("start_one_worker", |b| {
        b.iter(|| black_box(Engine::with_config(EngineConfig::default()).expect("engine starts")));
    });
    group.bench_function("start_and_first_call", |b| {
        b.iter(|| {
            let engine = Engine::new().expect("engine starts");
            black_box(engine.run(SOURCE, vec![Value::Int(1)]))
        });
    });
    group.finish();
}

criterion_group!(benches, bench_calls, bench_threads, bench_start);
criterion_main!(benches);
