//! One training step of a two-layer perceptron: plain tch against the traced paths.
//!
//! Every case runs forward, cross-entropy, backward and an Adam step on the same model and
//! batch. `plain_libtorch_adam` is tch with libtorch's C++ Adam; `plain_kernels_adam` is tch
//! with this crate's Adam, so that the traced cases differ from it only by the graph:
//! `fused_traced` records the model call as one node, `per_op_traced` records every matmul,
//! add and relu.

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use kernels::module::TracedModule;
use kernels::ops::TensorOps;
use kernels::optim::{Adam, AdamConfig};
use kernels::tch::nn::{self, Module, VarStore};
use kernels::tch::{COptimizer, Device, Kind, Tensor};
use kernels::tensor::{tensor_input, tensor_parameter};
use std::hint::black_box;
use std::time::Duration;
use trace_core::{Node, Optimizer};

/// Model and batch sizes: (name, batch, inputs, hidden, classes).
const SHAPES: [(&str, i64, i64, i64, i64); 2] =
    [("iris 120x4-64-3", 120, 4, 64, 3), ("mnist-like 128x784-256-10", 128, 784, 256, 10)];

fn batch(size: i64, inputs: i64, classes: i64) -> (Tensor, Tensor) {
    kernels::tch::manual_seed(1);
    let x = Tensor::randn([size, inputs], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(classes, [size], (Kind::Int64, Device::Cpu));
    (x, y)
}

fn mlp(store: &VarStore, inputs: i64, hidden: i64, classes: i64) -> nn::Sequential {
    let root = store.root();
    nn::seq()
        .add(nn::linear(&root / "hidden", inputs, hidden, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&root / "out", hidden, classes, Default::default()))
}

/// CPU time of the benchmark thread. With libtorch on one thread, every case does all its
/// work on this thread, so the figure counts the work itself and not the time the thread
/// waited for a core on a shared machine, which made wall-clock medians vary twofold between
/// runs.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }

    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Formats nanosecond values in ns, µs or ms.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical_value: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical_value {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            _ => (1e-6, "ms"),
        };
        values.iter_mut().for_each(|value| *value *= factor);
        unit
    }

    fn scale_throughputs(&self, _typical_value: f64, _throughput: &Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|value| *value = 1e9 / *value);
        "elem/s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn training_step(criterion: &mut Criterion<ThreadCpuTime>) {
    // One libtorch thread keeps the figures comparable on a shared machine, where OpenMP
    // threads that spin while waiting for a busy core make every case slower and noisier.
    kernels::tch::set_num_threads(1);
    let mut group = criterion.benchmark_group("mlp_training_step");
    group.sample_size(40).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));

    for (name, size, inputs, hidden, classes) in SHAPES {
        let (x, y) = batch(size, inputs, classes);

        let store = VarStore::new(Device::Cpu);
        let model = mlp(&store, inputs, hidden, classes);
        let mut libtorch_adam = COptimizer::adam(1e-3, 0.9, 0.999, 0.0, 1e-8, false).expect("libtorch adam");
        for variable in store.trainable_variables() {
            libtorch_adam.add_parameters(&variable, 0).expect("add parameter");
        }
        group.bench_function(BenchmarkId::new("plain_libtorch_adam", name), |bench| {
            bench.iter(|| {
                libtorch_adam.zero_grad().expect("zero_grad");
                let loss = model.forward(&x).cross_entropy_for_logits(&y);
                loss.backward();
                libtorch_adam.step().expect("step");
                black_box(loss)
            })
        });

        let store = VarStore::new(Device::Cpu);
        let model = mlp(&store, inputs, hidden, classes);
        let nodes: Vec<Node> = store
            .trainable_variables()
            .iter()
            .map(|variable| tensor_parameter("w", variable).expect("parameter"))
            .collect();
        let mut adam = Adam::new(nodes, AdamConfig::new(1e-3)).expect("adam");
        group.bench_function(BenchmarkId::new("plain_kernels_adam", name), |bench| {
            bench.iter(|| {
                adam.zero_feedback();
                let loss = model.forward(&x).cross_entropy_for_logits(&y);
                loss.backward();
                black_box(block_on(adam.step()).expect("step"))
            })
        });

        let store = VarStore::new(Device::Cpu);
        let traced = TracedModule::new("mlp", "A two-layer perceptron.", mlp(&store, inputs, hidden, classes), &store);
        let mut adam = Adam::new(traced.parameters().to_vec(), AdamConfig::new(1e-3)).expect("adam");
        let (x_node, y_node) = (tensor_input("x", &x), tensor_input("y", &y));
        group.bench_function(BenchmarkId::new("fused_traced", name), |bench| {
            bench.iter(|| {
                adam.zero_feedback();
                let loss = traced.forward(&x_node).cross_entropy(&y_node);
                kernels::backward_loss(&loss).expect("backward");
                black_box(block_on(adam.step()).expect("step"))
            })
        });

        kernels::tch::manual_seed(2);
        let w1 =
            tensor_parameter("w1", &(Tensor::randn([inputs, hidden], (Kind::Float, Device::Cpu)) * 0.05)).expect("w1");
        let b1 = tensor_parameter("b1", &Tensor::zeros([hidden], (Kind::Float, Device::Cpu))).expect("b1");
        let w2 =
            tensor_parameter("w2", &(Tensor::randn([hidden, classes], (Kind::Float, Device::Cpu)) * 0.05)).expect("w2");
        let b2 = tensor_parameter("b2", &Tensor::zeros([classes], (Kind::Float, Device::Cpu))).expect("b2");
        let mut adam =
            Adam::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], AdamConfig::new(1e-3)).expect("adam");
        group.bench_function(BenchmarkId::new("per_op_traced", name), |bench| {
            bench.iter(|| {
                adam.zero_feedback();
                let logits = &(&x_node.matmul(&w1) + &b1).relu().matmul(&w2) + &b2;
                let loss = logits.cross_entropy(&y_node);
                kernels::backward_loss(&loss).expect("backward");
                black_box(block_on(adam.step()).expect("step"))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = training_step
}
criterion_main!(benches);
