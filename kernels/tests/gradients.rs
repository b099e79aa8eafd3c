//! Gradients through every traced operator, checked against central finite differences.
//!
//! Each case builds a scalar loss from parameter tensors through traced operators, runs one
//! traced backward with the loss as feedback, and compares the gradient libtorch left on each
//! parameter with `(f(x + h) - f(x - h)) / 2h` element by element, in f64.
#![cfg(feature = "torch")]

use kernels::module::TracedModule;
use kernels::ops::TensorOps;
use kernels::tch::nn::{self, VarStore};
use kernels::tch::{Device, Kind, Tensor};
use kernels::tensor::{tensor_input, tensor_of, tensor_parameter};
use trace_core::Node;

const STEP: f64 = 1e-6;
const TOLERANCE: f64 = 1e-6;

fn tensor(values: &[f64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values).reshape(shape)
}

/// Fixed weights that make a non-scalar output into a scalar loss with distinct
/// sensitivities per element: `loss = sum(output * weights)`.
fn weighted_sum(output: &Node) -> Node {
    let shape = tensor_of(output).map(|t| t.size()).unwrap_or_default();
    let count: i64 = shape.iter().product();
    let weights =
        Tensor::arange(count, (Kind::Double, Device::Cpu)).f_mul_scalar(0.37).and_then(|t| t.f_add_scalar(-0.5));
    let weights = weights.and_then(|t| t.f_reshape(&shape)).unwrap_or_else(|_| Tensor::from(1.0f64));
    (output * &tensor_input("weights", &weights)).sum()
}

fn evaluate(build: &dyn Fn(&[Node]) -> Node, values: &[Tensor]) -> anyhow::Result<f64> {
    let nodes: Vec<Node> = values.iter().map(|value| tensor_input("x", value)).collect();
    let loss = build(&nodes).into_result()?;
    Ok(tensor_of(&loss)?.double_value(&[]))
}

/// Compares the traced gradient of `build` at `inputs` with finite differences.
fn check_gradient(case: &str, inputs: &[Tensor], build: impl Fn(&[Node]) -> Node) -> anyhow::Result<()> {
    // Fresh copies, because a parameter shares its tensor and gradients accumulate on it.
    let parameters: Vec<Node> =
        inputs.iter().map(|input| tensor_parameter("p", &input.detach_copy())).collect::<Result<_, _>>()?;
    let loss = build(&parameters).into_result()?;
    kernels::backward_loss(&loss)?;

    for (index, (parameter, input)) in parameters.iter().zip(inputs).enumerate() {
        let analytic = Vec::<f64>::try_from(tensor_of(parameter)?.grad().reshape([-1]))?;
        let flat = Vec::<f64>::try_from(input.reshape([-1]))?;
        for element in 0..flat.len() {
            let shifted = |delta: f64| -> anyhow::Result<f64> {
                let mut values = flat.clone();
                values[element] += delta;
                let mut shifted_inputs: Vec<Tensor> = inputs.iter().map(Tensor::shallow_clone).collect();
                shifted_inputs[index] = Tensor::from_slice(&values).reshape(input.size());
                evaluate(&build, &shifted_inputs)
            };
            let numeric = (shifted(STEP)? - shifted(-STEP)?) / (2.0 * STEP);
            let difference = (analytic[element] - numeric).abs();
            assert!(
                difference <= TOLERANCE * numeric.abs().max(1.0),
                "{case}: input {index} element {element}: traced {} vs finite difference {numeric}",
                analytic[element]
            );
        }
    }
    Ok(())
}

#[test]
fn elementwise_arithmetic() -> anyhow::Result<()> {
    let a = tensor(&[0.5, -1.2, 2.0, 0.7], &[2, 2]);
    let b = tensor(&[1.5, 0.8, -0.6, 1.1], &[2, 2]);

    // d(sum(w * (a + b)))/da = w, and likewise for the other operators.
    check_gradient("add", &[a.shallow_clone(), b.shallow_clone()], |x| weighted_sum(&(&x[0] + &x[1])))?;
    check_gradient("sub", &[a.shallow_clone(), b.shallow_clone()], |x| weighted_sum(&(&x[0] - &x[1])))?;
    check_gradient("mul", &[a.shallow_clone(), b.shallow_clone()], |x| weighted_sum(&(&x[0] * &x[1])))?;
    check_gradient("div", &[a.shallow_clone(), b.shallow_clone()], |x| weighted_sum(&(&x[0] / &x[1])))?;
    Ok(())
}

#[test]
fn arithmetic_with_numbers() -> anyhow::Result<()> {
    let a = tensor(&[0.5, -1.2, 2.0], &[3]);

    check_gradient("add number", &[a.shallow_clone()], |x| weighted_sum(&(&x[0] + 3.0)))?;
    check_gradient("number minus", &[a.shallow_clone()], |x| weighted_sum(&(&x[0] * -1.5 - 2)))?;
    check_gradient("divide by number", &[a.shallow_clone()], |x| weighted_sum(&(&x[0] / 4.0)))?;
    Ok(())
}

#[test]
fn broadcasting_add() -> anyhow::Result<()> {
    let matrix = tensor(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 3]);
    let row = tensor(&[1.0, -1.0, 0.5], &[3]);

    check_gradient("add row", &[matrix, row], |x| weighted_sum(&(&x[0] + &x[1])))
}

#[test]
fn matmul() -> anyhow::Result<()> {
    let a = tensor(&[0.5, -1.2, 2.0, 0.7, 0.1, -0.3], &[2, 3]);
    let b = tensor(&[1.5, 0.8, -0.6, 1.1, 0.2, -0.4], &[3, 2]);

    check_gradient("matmul", &[a, b], |x| weighted_sum(&x[0].matmul(&x[1])))
}

#[test]
fn activations() -> anyhow::Result<()> {
    // No element sits at relu's kink at 0, where finite differences are undefined.
    let a = tensor(&[0.5, -1.2, 2.0, -0.7, 0.3, -0.05], &[2, 3]);

    check_gradient("relu", &[a.shallow_clone()], |x| weighted_sum(&x[0].relu()))?;
    check_gradient("tanh", &[a.shallow_clone()], |x| weighted_sum(&x[0].tanh()))?;
    check_gradient("sigmoid", &[a.shallow_clone()], |x| weighted_sum(&x[0].sigmoid()))?;
    check_gradient("softmax", &[a.shallow_clone()], |x| weighted_sum(&x[0].softmax(1)))?;
    check_gradient("softmax last dim", &[a.shallow_clone()], |x| weighted_sum(&x[0].softmax(-1)))?;
    Ok(())
}

#[test]
fn reductions() -> anyhow::Result<()> {
    let a = tensor(&[0.5, -1.2, 2.0, -0.7], &[2, 2]);

    check_gradient("sum", &[a.shallow_clone()], |x| (&x[0] * &x[0]).sum())?;
    check_gradient("mean", &[a.shallow_clone()], |x| (&x[0] * &x[0]).mean())?;
    Ok(())
}

#[test]
fn losses() -> anyhow::Result<()> {
    let logits = tensor(&[0.5, -1.2, 2.0, 0.7, 0.1, -0.3], &[2, 3]);
    let classes = tensor_input("classes", &Tensor::from_slice(&[2i64, 0]));
    let prediction = tensor(&[0.5, -1.2, 2.0], &[3]);
    let target = tensor_input("target", &tensor(&[0.0, 1.0, 1.5], &[3]));

    check_gradient("cross_entropy", &[logits], |x| x[0].cross_entropy(&classes))?;
    check_gradient("mse", &[prediction], |x| x[0].mse(&target))?;
    Ok(())
}

#[test]
fn indexing() -> anyhow::Result<()> {
    let a = tensor(&[0.5, -1.2, 2.0, 0.7, 0.1, -0.3], &[3, 2]);
    let rows = tensor_input("rows", &Tensor::from_slice(&[2i64, 0, 2]));

    check_gradient("select", &[a.shallow_clone()], |x| weighted_sum(&x[0].select(0, 1)))?;
    check_gradient("index_select", &[a.shallow_clone()], |x| weighted_sum(&x[0].index_select(0, &rows)))?;
    check_gradient("narrow", &[a.shallow_clone()], |x| weighted_sum(&x[0].narrow(0, 1, 2)))?;
    check_gradient("reshape", &[a.shallow_clone()], |x| weighted_sum(&x[0].reshape(&[2, 3])))?;
    Ok(())
}

#[test]
fn composed_network() -> anyhow::Result<()> {
    let x = tensor_input("x", &tensor(&[0.2, -0.4, 1.0, 0.3, 0.9, -0.8], &[3, 2]));
    let w1 = tensor(&[0.5, -1.2, 0.4, 0.7, 0.1, -0.3], &[2, 3]);
    let b1 = tensor(&[0.05, -0.1, 0.2], &[3]);
    let w2 = tensor(&[0.3, -0.6, 0.9], &[3, 1]);
    let target = tensor_input("target", &tensor(&[1.0, 0.0, -1.0], &[3, 1]));

    check_gradient("two layers", &[w1, b1, w2], |p| (&x.matmul(&p[0]) + &p[1]).tanh().matmul(&p[2]).mse(&target))
}

#[test]
fn fused_module() -> anyhow::Result<()> {
    let mut store = VarStore::new(Device::Cpu);
    let linear = nn::linear(store.root() / "layer", 3, 2, Default::default());
    store.double();
    let model = TracedModule::new("model", "A linear layer.", linear, &store);
    let x = tensor_input("x", &tensor(&[0.2, -0.4, 1.0, 0.3, 0.9, -0.8], &[2, 3]));
    let loss_at = |model: &TracedModule<nn::Linear>| -> anyhow::Result<f64> {
        let loss = weighted_sum(&model.forward(&x).tanh()).into_result()?;
        Ok(tensor_of(&loss)?.double_value(&[]))
    };

    kernels::backward_loss(&weighted_sum(&model.forward(&x).tanh()))?;

    for parameter in model.parameters() {
        let mut variable = tensor_of(parameter)?;
        let analytic = Vec::<f64>::try_from(variable.grad().reshape([-1]))?;
        for (element, traced) in analytic.iter().enumerate() {
            let mut shift = |delta: f64| {
                let bump = Tensor::zeros([variable.numel() as i64], (Kind::Double, Device::Cpu));
                let _ = bump.get(element as i64).fill_(delta);
                let _ = kernels::tch::no_grad(|| variable.f_add_(&bump.reshape(variable.size())));
            };
            shift(STEP);
            let plus = loss_at(&model)?;
            shift(-2.0 * STEP);
            let minus = loss_at(&model)?;
            shift(STEP);
            let numeric = (plus - minus) / (2.0 * STEP);
            assert!(
                (traced - numeric).abs() <= TOLERANCE,
                "{} element {element}: traced {traced} vs {numeric}",
                parameter.key()
            );
        }
    }
    Ok(())
}
