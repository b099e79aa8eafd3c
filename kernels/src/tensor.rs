//! Tensors as graph values: [`TensorValue`] and the nodes that hold one.

use std::sync::Arc;

use parking_lot::Mutex;
use tch::{Device, Kind, Tensor};
use trace_core::{BinaryOp, ExtValue, Node, Parameter, Value};

use crate::summary::{describe, dtype_name, summarize};
use crate::{Error, Result};

/// The type tag of tensor values in prompts: `(tensor) weight0=tensor[3] f32 cpu [1, 2, 3]`.
pub const TENSOR_TAG: &str = "tensor";

/// A tensor held as a value of the traced graph.
///
/// `tch::Tensor` may move between threads but not be shared, so the handle sits behind a
/// mutex and every reader takes a shallow clone, which is the same libtorch tensor: same
/// storage, same gradient, same autograd history.
#[derive(Debug)]
pub struct TensorValue {
    tensor: Mutex<Tensor>,
}

impl TensorValue {
    /// Wraps `tensor` without copying its data.
    pub fn new(tensor: Tensor) -> Self {
        Self { tensor: Mutex::new(tensor) }
    }

    /// Returns a shallow handle to the tensor.
    pub fn tensor(&self) -> Tensor {
        self.tensor.lock().shallow_clone()
    }

    /// Returns the shape.
    pub fn shape(&self) -> Vec<i64> {
        self.tensor.lock().size()
    }

    /// Returns the element type.
    pub fn kind(&self) -> Kind {
        self.tensor.lock().kind()
    }

    /// Returns the device of the data.
    pub fn device(&self) -> Device {
        self.tensor.lock().device()
    }

    /// Renders the tensor for a prompt, as [`summarize`] does.
    pub fn summary(&self) -> String {
        summarize(&self.tensor.lock())
    }
}

impl From<TensorValue> for Value {
    fn from(tensor: TensorValue) -> Value {
        Value::Ext(Arc::new(tensor))
    }
}

/// Wraps `tensor` as a graph value.
pub fn tensor_value(tensor: Tensor) -> Value {
    TensorValue::new(tensor).into()
}

/// Creates a trainable parameter node holding `tensor`, which is switched to record
/// gradients.
///
/// The node shares `tensor` with the caller, as `requires_grad_()` does in PyTorch: updates
/// by an optimizer and gradients from backward show in both. Pass `tensor.detach_copy()` for
/// an independent parameter.
///
/// # Errors
///
/// [`Error::NotTrainable`] when `tensor` is not floating-point, since only those have
/// gradients.
pub fn tensor_parameter(name: &str, tensor: &Tensor) -> Result<Node> {
    if !tensor.is_floating_point() {
        return Err(Error::NotTrainable {
            parameter: name.to_owned(),
            dtype: dtype_name(tensor.kind()).to_owned(),
            requires_grad: false,
        });
    }
    let trainable = tensor
        .f_set_requires_grad(true)
        .map_err(|source| Error::torch("set_requires_grad", describe(tensor), source))?;
    Ok(Parameter::new(name, tensor_value(trainable))
        .description(format!("a trainable tensor of shape {:?}", tensor.size()))
        .build())
}

/// Creates a non-trainable input node holding `tensor`, such as a batch of features.
pub fn tensor_input(name: &str, tensor: &Tensor) -> Node {
    Node::input(name, tensor_value(tensor.shallow_clone()))
}

/// Returns the tensor in `value`, or `None` when `value` is not a tensor.
pub fn tensor_of_value(value: &Value) -> Option<Tensor> {
    value.downcast_ext::<TensorValue>().map(TensorValue::tensor)
}

/// Returns the tensor in `node`.
///
/// # Errors
///
/// [`Error::NotATensor`] when the node contains another type, such as an exception message.
pub fn tensor_of(node: &Node) -> Result<Tensor> {
    node.with_value(|value| {
        tensor_of_value(value).ok_or_else(|| Error::NotATensor {
            node: node.key().to_owned(),
            found: value.type_tag().to_owned(),
            error: node.error().map(str::to_owned),
        })
    })
}

impl ExtValue for TensorValue {
    fn type_tag(&self) -> &str {
        TENSOR_TAG
    }

    fn render(&self) -> String {
        self.summary()
    }

    fn to_json(&self) -> Option<serde_json::Value> {
        crate::json::tensor_to_json(&self.tensor.lock()).ok()
    }

    fn load_json(&self, json: &serde_json::Value) -> Option<std::result::Result<Value, String>> {
        let current = self.tensor();
        Some(crate::json::tensor_from_json(json, Some(&current)).map(tensor_value).map_err(|error| error.to_string()))
    }

    fn equals(&self, other: &dyn ExtValue) -> bool {
        let Some(other) = (other as &dyn std::any::Any).downcast_ref::<TensorValue>() else {
            return false;
        };
        let (left, right) = (self.tensor(), other.tensor());
        left.size() == right.size()
            && left.kind() == right.kind()
            && left.device() == right.device()
            && left.f_equal(&right).unwrap_or(false)
    }

    fn binary(&self, op: BinaryOp, other: &Value, self_on_left: bool) -> Option<std::result::Result<Value, String>> {
        if let Value::Text(text) = other {
            // Most likely an exception message from upstream, kept whole as in the other ops.
            return Some(Err(format!("{}: an operand is not a tensor: {text}", op.name())));
        }
        crate::ops::binary(op, &self.tensor(), other, self_on_left)
            .map(|result| result.map(tensor_value).map_err(|error| error.to_string()))
    }

    fn detached(&self) -> Option<Arc<dyn ExtValue>> {
        let tensor = self.tensor();
        let detached = tensor.f_detach().unwrap_or(tensor);
        Some(Arc::new(TensorValue::new(detached)))
    }

    fn backward_as_feedback(&self, graph: &[Node]) -> std::result::Result<Option<String>, String> {
        crate::loss::run_backward(&self.tensor(), graph).map(Some).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_shares_storage_and_history() -> anyhow::Result<()> {
        let weight = Tensor::from_slice(&[3.0f64]).set_requires_grad(true);
        let value = TensorValue::new(weight.shallow_clone());

        (value.tensor() * 2.0).sum(Kind::Double).backward();

        assert_eq!(Vec::<f64>::try_from(weight.grad())?, vec![2.0]);
        assert_eq!(value.shape(), vec![1]);
        assert_eq!(value.kind(), Kind::Double);
        Ok(())
    }

    #[test]
    fn value_renders_with_tensor_tag() {
        let value = tensor_value(Tensor::from_slice(&[1.0f32, 2.0]));

        assert_eq!(value.render_tagged("x0"), "(tensor) x0=tensor[2] f32 cpu [1, 2]");
    }

    #[test]
    fn integer_parameter_is_rejected() {
        let labels = Tensor::from_slice(&[1i64, 2]);

        let result = tensor_parameter("labels", &labels);

        assert!(matches!(result, Err(Error::NotTrainable { .. })), "{result:?}");
    }

    #[test]
    fn tensor_of_text_node_is_error() {
        let node = Node::input("text", "hello");

        let result = tensor_of(&node);

        assert!(matches!(&result, Err(Error::NotATensor { found, .. }) if found == "str"), "{result:?}");
    }

    #[test]
    fn equal_values_compare_equal() {
        let a = tensor_value(Tensor::from_slice(&[1.0f32, 2.0]));
        let b = tensor_value(Tensor::from_slice(&[1.0f32, 2.0]));
        let c = tensor_value(Tensor::from_slice(&[1.0f32, 3.0]));

        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn detached_value_has_no_history() {
        let weight = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let node = Node::input("w", tensor_value(&weight * 2.0));

        let detached = node.detach();

        assert!(tensor_of(&node).is_ok_and(|t| t.requires_grad()));
        assert!(tensor_of(&detached).is_ok_and(|t| !t.requires_grad()));
    }
}
