//! Traced numeric operators on tensor nodes.
//!
//! Each operator records one message node, as the operators of `trace_core` do, while
//! libtorch records its own autograd history on the result, so a loss at the end can run
//! libtorch's backward through all of them. A failure becomes an exception node whose
//! message names the operator and the operands, and nothing panics. Failures are shapes that
//! do not fit, a dtype or device mismatch, or an operand that is not a tensor.
//!
//! `+`, `-`, `*`, `/` and `%` on nodes work on tensors through [`TensorValue`]'s arithmetic, with
//! another tensor or a number as the other operand. The other operators are the methods of
//! [`TensorOps`].

use std::sync::{Arc, LazyLock};

use tch::{Kind, Reduction, Tensor};
use trace_core::{BinaryOp, IntoNode, Node, OpSpec, Value};

use crate::summary::describe;
use crate::tensor::{TensorValue, tensor_of_value, tensor_value};
use crate::{Error, Result};

macro_rules! tensor_op {
    ($static_name:ident, $name:literal, $description:literal, [$($arg:literal),*]) => {
        static $static_name: LazyLock<Arc<OpSpec>> = LazyLock::new(|| OpSpec::new($name, $description, &[$($arg),*]));
    };
}

tensor_op!(MATMUL, "matmul", "[matmul] The matrix product of tensors x and y.", ["x", "y"]);
tensor_op!(RELU, "relu", "[relu] max(x, 0) elementwise.", ["x"]);
tensor_op!(TANH, "tanh", "[tanh] The hyperbolic tangent of x elementwise.", ["x"]);
tensor_op!(SIGMOID, "sigmoid", "[sigmoid] 1 / (1 + exp(-x)) elementwise.", ["x"]);
tensor_op!(SUM, "sum", "[sum] The sum of all elements of x.", ["x"]);
tensor_op!(MEAN, "mean", "[mean] The mean of all elements of x.", ["x"]);
tensor_op!(SOFTMAX, "softmax", "[softmax] exp(x) normalized to sum to 1 along dimension dim.", ["x", "dim"]);
tensor_op!(
    CROSS_ENTROPY,
    "cross_entropy",
    "[cross_entropy] The mean cross-entropy loss of logits [N, C] against class indices [N].",
    ["logits", "targets"]
);
tensor_op!(MSE, "mse", "[mse] The mean squared error between prediction and target.", ["prediction", "target"]);
tensor_op!(
    SELECT,
    "select",
    "[select] The slice of x at index along dimension dim, which is removed.",
    ["x", "dim", "index"]
);
tensor_op!(
    INDEX_SELECT,
    "index_select",
    "[index_select] The entries of x along dimension dim at the positions in indices.",
    ["x", "indices", "dim"]
);
tensor_op!(
    NARROW,
    "narrow",
    "[narrow] length entries of x along dimension dim, from start.",
    ["x", "dim", "start", "length"]
);
tensor_op!(RESHAPE, "reshape", "[reshape] x with a new shape of the same number of elements.", ["x", "shape"]);

/// Traced numeric operators on nodes that hold tensors.
///
/// ```
/// use kernels::ops::TensorOps;
/// use kernels::tch::Tensor;
/// use kernels::tensor::{tensor_input, tensor_of, tensor_parameter};
///
/// let x = tensor_input("x", &Tensor::from_slice(&[1.0f32, -2.0]).reshape([1, 2]));
/// let w = tensor_parameter("w", &Tensor::from_slice(&[0.5f32, 0.25]).reshape([2, 1]))?;
///
/// let y = x.matmul(&w).relu();
///
/// assert_eq!(y.op_name(), Some("relu"));
/// assert_eq!(tensor_of(&y)?.double_value(&[0, 0]), 0.0);
/// # Ok::<(), kernels::Error>(())
/// ```
pub trait TensorOps {
    /// Returns the matrix product, with libtorch's `matmul` broadcasting.
    fn matmul(&self, other: &Node) -> Node;
    /// Returns `max(x, 0)` elementwise.
    fn relu(&self) -> Node;
    /// Returns the hyperbolic tangent elementwise.
    fn tanh(&self) -> Node;
    /// Returns the logistic sigmoid elementwise.
    fn sigmoid(&self) -> Node;
    /// Returns the sum of all elements as a scalar tensor.
    fn sum(&self) -> Node;
    /// Returns the mean of all elements as a scalar tensor; the dtype must be floating-point.
    fn mean(&self) -> Node;
    /// Returns the softmax along `dim`; a negative `dim` counts from the end.
    fn softmax(&self, dim: i64) -> Node;
    /// Returns the mean cross-entropy of these logits `[N, C]` against class indices `[N]` (`i64`).
    fn cross_entropy(&self, targets: &Node) -> Node;
    /// Returns the mean squared error against `target`, which must have the same shape and dtype.
    fn mse(&self, target: &Node) -> Node;
    /// Returns the slice at `index` along `dim`, which is removed from the shape.
    fn select(&self, dim: i64, index: i64) -> Node;
    /// Returns the entries along `dim` at the positions in `indices`, an `i64` tensor node.
    fn index_select(&self, dim: i64, indices: &Node) -> Node;
    /// Returns `length` entries along `dim` from `start`, for example a minibatch of rows.
    fn narrow(&self, dim: i64, start: i64, length: i64) -> Node;
    /// Returns the same elements with a new shape, in which one dimension may be `-1`.
    fn reshape(&self, shape: &[i64]) -> Node;
}

impl TensorOps for Node {
    fn matmul(&self, other: &Node) -> Node {
        record(&MATMUL, vec![self.clone(), other.clone()], |tensors| {
            check_operands("matmul", &tensors[0], &tensors[1])?;
            tensors[0]
                .f_matmul(&tensors[1])
                .map_err(|source| Error::torch("matmul", pair(&tensors[0], &tensors[1]), source))
        })
    }

    fn relu(&self) -> Node {
        unary(&RELU, self, Tensor::f_relu)
    }

    fn tanh(&self) -> Node {
        unary(&TANH, self, Tensor::f_tanh)
    }

    fn sigmoid(&self) -> Node {
        unary(&SIGMOID, self, Tensor::f_sigmoid)
    }

    fn sum(&self) -> Node {
        unary(&SUM, self, |x| x.f_sum(None::<Kind>))
    }

    fn mean(&self) -> Node {
        unary(&MEAN, self, |x| x.f_mean(None::<Kind>))
    }

    fn softmax(&self, dim: i64) -> Node {
        record_with(&SOFTMAX, vec![self.clone(), dim.into_node()], 1, |tensors, _| {
            tensors[0]
                .f_softmax(dim, None::<Kind>)
                .map_err(|source| Error::torch("softmax", format!("{} with dim {dim}", describe(&tensors[0])), source))
        })
    }

    fn cross_entropy(&self, targets: &Node) -> Node {
        record(&CROSS_ENTROPY, vec![self.clone(), targets.clone()], |tensors| {
            let (logits, targets) = (&tensors[0], &tensors[1]);
            check_device("cross_entropy", logits, targets)?;
            if logits.dim() != 2 {
                return Err(Error::InvalidShape {
                    op: "cross_entropy",
                    shape: logits.size(),
                    expected: "logits of shape [N, C]",
                });
            }
            if targets.kind() != Kind::Int64 || targets.size() != [logits.size()[0]] {
                return Err(Error::InvalidShape {
                    op: "cross_entropy",
                    shape: targets.size(),
                    expected: "i64 class indices of shape [N], one per row of the logits",
                });
            }
            logits
                .f_cross_entropy_loss(targets, None::<Tensor>, Reduction::Mean, -100, 0.0)
                .map_err(|source| Error::torch("cross_entropy", pair(logits, targets), source))
        })
    }

    fn mse(&self, target: &Node) -> Node {
        record(&MSE, vec![self.clone(), target.clone()], |tensors| {
            let (prediction, target) = (&tensors[0], &tensors[1]);
            check_operands("mse", prediction, target)?;
            if prediction.size() != target.size() {
                return Err(Error::ShapeMismatch { op: "mse", operands: pair(prediction, target) });
            }
            prediction
                .f_mse_loss(target, Reduction::Mean)
                .map_err(|source| Error::torch("mse", pair(prediction, target), source))
        })
    }

    fn select(&self, dim: i64, index: i64) -> Node {
        record_with(&SELECT, vec![self.clone(), dim.into_node(), index.into_node()], 1, |tensors, _| {
            tensors[0].f_select(dim, index).map_err(|source| {
                Error::torch("select", format!("{} at index {index} of dim {dim}", describe(&tensors[0])), source)
            })
        })
    }

    fn index_select(&self, dim: i64, indices: &Node) -> Node {
        let inputs = vec![self.clone(), indices.clone(), dim.into_node()];
        record_with(&INDEX_SELECT, inputs, 2, |tensors, _| {
            let (x, indices) = (&tensors[0], &tensors[1]);
            check_device("index_select", x, indices)?;
            x.f_index_select(dim, indices)
                .map_err(|source| Error::torch("index_select", format!("{} along dim {dim}", pair(x, indices)), source))
        })
    }

    fn narrow(&self, dim: i64, start: i64, length: i64) -> Node {
        let inputs = vec![self.clone(), dim.into_node(), start.into_node(), length.into_node()];
        record_with(&NARROW, inputs, 1, |tensors, _| {
            tensors[0].f_narrow(dim, start, length).map_err(|source| {
                Error::torch(
                    "narrow",
                    format!("{} from {start} for {length} along dim {dim}", describe(&tensors[0])),
                    source,
                )
            })
        })
    }

    fn reshape(&self, shape: &[i64]) -> Node {
        let shape_value = Value::List(shape.iter().map(|dim| Value::Int(*dim)).collect());
        record_with(&RESHAPE, vec![self.clone(), shape_value.into_node()], 1, |tensors, _| {
            tensors[0]
                .f_reshape(shape)
                .map_err(|source| Error::torch("reshape", format!("{} to {shape:?}", describe(&tensors[0])), source))
        })
    }
}

/// Records a node of `spec` whose inputs are all tensors.
fn record(spec: &'static Arc<OpSpec>, inputs: Vec<Node>, f: impl FnOnce(&[Tensor]) -> Result<Tensor>) -> Node {
    let count = inputs.len();
    record_with(spec, inputs, count, |tensors, _| f(tensors))
}

/// Records a node of `spec` whose first `tensor_count` inputs are tensors; `f` gets those
/// tensors and all the input values.
fn record_with(
    spec: &'static Arc<OpSpec>,
    inputs: Vec<Node>,
    tensor_count: usize,
    f: impl FnOnce(&[Tensor], &[Value]) -> Result<Tensor>,
) -> Node {
    let op = spec.name();
    spec.apply(inputs, |values| {
        let names = spec.arg_names();
        let tensors = values[..tensor_count]
            .iter()
            .zip(names)
            .map(|(value, name)| tensor_argument(op, name, value))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        f(&tensors, values).map(tensor_value).map_err(|error| error.to_string())
    })
}

fn unary(
    spec: &'static Arc<OpSpec>,
    x: &Node,
    f: impl FnOnce(&Tensor) -> std::result::Result<Tensor, tch::TchError>,
) -> Node {
    let op = spec.name();
    record(spec, vec![x.clone()], |tensors| {
        f(&tensors[0]).map_err(|source| Error::torch(op, describe(&tensors[0]), source))
    })
}

fn tensor_argument(op: &str, name: &str, value: &Value) -> std::result::Result<Tensor, String> {
    tensor_of_value(value).ok_or_else(|| match value {
        // Text in place of a tensor is usually the message of an exception upstream, so it is
        // kept whole, and the root cause then ends the message of every operator downstream.
        Value::Text(text) => format!("{op}: argument {name} is not a tensor: {text}"),
        other => format!("{op}: argument {name} is a {}, not a tensor", other.type_tag()),
    })
}

fn pair(a: &Tensor, b: &Tensor) -> String {
    format!("{} and {}", describe(a), describe(b))
}

/// Checks that two operands have one dtype and one device, since silent promotion or a
/// transfer would hide a bug in the model.
fn check_operands(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    check_device(op, a, b)?;
    if a.kind() != b.kind() {
        return Err(Error::DtypeMismatch { op, operands: pair(a, b) });
    }
    Ok(())
}

fn check_device(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    check_devices(op, a.device(), b.device(), || pair(a, b))
}

/// Checks that two devices are the same, describing the operands only on failure.
pub(crate) fn check_devices(
    op: &'static str,
    a: tch::Device,
    b: tch::Device,
    operands: impl FnOnce() -> String,
) -> Result<()> {
    if a == b { Ok(()) } else { Err(Error::DeviceMismatch { op, operands: operands() }) }
}

/// Applies a binary operator where one operand is `tensor`. Returns `None` when the other
/// operand is neither a tensor nor a number, which the caller reports as a type error.
pub(crate) fn binary(op: BinaryOp, tensor: &Tensor, other: &Value, tensor_on_left: bool) -> Option<Result<Tensor>> {
    let op_name = op.name();

    if let Some(other) = other.downcast_ext::<TensorValue>() {
        let other = other.tensor();
        let (left, right) = if tensor_on_left { (tensor, &other) } else { (&other, tensor) };
        return Some(tensor_with_tensor(op, op_name, left, right));
    }
    let scalar = match other {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => return None,
    };
    Some(tensor_with_scalar(op, op_name, tensor, scalar, tensor_on_left))
}

fn tensor_with_tensor(op: BinaryOp, name: &'static str, left: &Tensor, right: &Tensor) -> Result<Tensor> {
    check_operands(name, left, right)?;
    let result = match op {
        BinaryOp::Add => left.f_add(right),
        BinaryOp::Sub => left.f_sub(right),
        BinaryOp::Mul => left.f_mul(right),
        BinaryOp::Div => left.f_div(right),
        BinaryOp::Pow => left.f_pow(right),
        BinaryOp::Rem => left.f_remainder_tensor(right),
    };
    result.map_err(|source| Error::torch(name, pair(left, right), source))
}

fn tensor_with_scalar(
    op: BinaryOp,
    name: &'static str,
    tensor: &Tensor,
    scalar: f64,
    tensor_on_left: bool,
) -> Result<Tensor> {
    let result = match (op, tensor_on_left) {
        (BinaryOp::Add, _) => tensor.f_add_scalar(scalar),
        (BinaryOp::Mul, _) => tensor.f_mul_scalar(scalar),
        (BinaryOp::Sub, true) => tensor.f_sub_scalar(scalar),
        (BinaryOp::Sub, false) => tensor.f_rsub_scalar(scalar),
        (BinaryOp::Div, true) => tensor.f_div_scalar(scalar),
        (BinaryOp::Div, false) => tensor.f_reciprocal().and_then(|inverse| inverse.f_mul_scalar(scalar)),
        (BinaryOp::Pow, true) => tensor.f_pow_tensor_scalar(scalar),
        (BinaryOp::Pow, false) => Tensor::f_pow_scalar(scalar, tensor),
        (BinaryOp::Rem, true) => tensor.f_remainder(scalar),
        (BinaryOp::Rem, false) => Tensor::f_remainder_scalar_tensor(scalar, tensor),
    };
    let operands = if tensor_on_left {
        format!("{} and {scalar}", describe(tensor))
    } else {
        format!("{scalar} and {}", describe(tensor))
    };
    result.map_err(|source| Error::torch(name, operands, source))
}
