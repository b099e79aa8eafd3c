//! The fused fast path: a whole `tch::nn` module call traced as one node.
//!
//! Tracing every tensor operation of a large network would make the graph as large as the
//! network. A [`TracedModule`] records one node per call instead, whose parents are the input
//! and one parameter node per variable of the module, so the optimizers and the prompts see
//! every tensor parameter while the graph stays small. libtorch still records the whole
//! autograd history inside the call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tch::Tensor;
use tch::nn::{ModuleT, VarStore};
use trace_core::{Node, OpSpec, Parameter, Value};

use crate::summary::describe;
use crate::tensor::{tensor_of_value, tensor_value};
use crate::{Error, Result};

/// A `tch::nn` module whose calls are traced as single nodes.
///
/// ```
/// use kernels::module::TracedModule;
/// use kernels::tch::nn::{self, VarStore};
/// use kernels::tch::{Device, Kind, Tensor};
/// use kernels::tensor::{tensor_input, tensor_of};
///
/// let store = VarStore::new(Device::Cpu);
/// let linear = nn::linear(store.root() / "linear", 3, 2, Default::default());
/// let model = TracedModule::new("model", "A linear layer from 3 to 2 features.", linear, &store);
///
/// let x = tensor_input("x", &Tensor::ones([4, 3], (Kind::Float, Device::Cpu)));
/// let y = model.forward(&x);
///
/// assert_eq!(y.op_name(), Some("model"));
/// assert_eq!(y.parents().len(), 3);
/// assert_eq!(tensor_of(&y)?.size(), [4, 2]);
/// # Ok::<(), kernels::Error>(())
/// ```
#[derive(Debug)]
pub struct TracedModule<M> {
    module: Mutex<M>,
    spec: Arc<OpSpec>,
    /// The module's variables in name order: the tensors the module computes with.
    variables: Mutex<Vec<Tensor>>,
    names: Vec<String>,
    parameters: Vec<Node>,
    train: AtomicBool,
}

impl<M: ModuleT> TracedModule<M> {
    /// Wraps `module`, whose variables live in `store`, as operator `name`.
    ///
    /// Every variable of `store` becomes a parameter node named after the variable's path
    /// (`layer1.weight`), trainable when the variable records gradients. The module starts in
    /// training mode.
    pub fn new(name: &str, description: &str, module: M, store: &VarStore) -> Self {
        let mut variables: Vec<(String, Tensor)> = store.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));

        let parameters = variables
            .iter()
            .map(|(path, tensor)| {
                Parameter::new(path.as_str(), tensor_value(tensor.shallow_clone()))
                    .trainable(tensor.requires_grad())
                    .description(format!("the {path} tensor of {name}, shape {:?}", tensor.size()))
                    .build()
            })
            .collect();
        let names: Vec<String> = variables.iter().map(|(path, _)| path.clone()).collect();
        let mut arg_names = vec!["input"];
        arg_names.extend(names.iter().map(String::as_str));

        Self {
            module: Mutex::new(module),
            spec: OpSpec::new(name, description, &arg_names),
            variables: Mutex::new(variables.into_iter().map(|(_, tensor)| tensor).collect()),
            names,
            parameters,
            train: AtomicBool::new(true),
        }
    }

    /// Calls the module on the tensor held by `input` and records one node whose parents
    /// are `input` and every parameter node.
    ///
    /// A failure inside the module (an input of the wrong shape, say) becomes an exception
    /// node naming the module and the input. A parameter node whose value was replaced (by
    /// [`Node::set_value`] or by loading a saved state) is first copied into the module's
    /// variable, and the node then refers to that variable again.
    pub fn forward(&self, input: &Node) -> Node {
        let mut inputs = Vec::with_capacity(self.parameters.len() + 1);
        inputs.push(input.clone());
        inputs.extend(self.parameters.iter().cloned());

        self.spec.apply(inputs, |values| {
            let name = self.spec.name();
            let x = tensor_of_value(&values[0])
                .ok_or_else(|| format!("{name}: the input is a {}, not a tensor", values[0].type_tag()))?;
            self.sync_parameters(&values[1..]).map_err(|error| format!("{name}: {error}"))?;

            let train = self.train.load(Ordering::Relaxed);
            let module = self.module.lock();
            catch_unwind(AssertUnwindSafe(|| module.forward_t(&x, train)))
                .map(tensor_value)
                .map_err(|panic| format!("{name} failed on input {}: {}", describe(&x), panic_message(panic.as_ref())))
        })
    }

    /// Sets training mode (dropout and batch-norm updates on) or evaluation mode.
    pub fn set_train(&self, train: bool) {
        self.train.store(train, Ordering::Relaxed);
    }

    /// Returns the parameter nodes, one per variable of the module, in name order.
    pub fn parameters(&self) -> &[Node] {
        &self.parameters
    }

    /// Returns the operator specification shared by the nodes of this module's calls.
    pub fn spec(&self) -> &Arc<OpSpec> {
        &self.spec
    }

    /// Copies the value of every parameter node whose tensor is no longer the module's
    /// variable into that variable, and points the node at the variable again.
    fn sync_parameters(&self, values: &[Value]) -> Result<()> {
        let mut variables = self.variables.lock();
        for ((variable, value), (node, name)) in
            variables.iter_mut().zip(values).zip(self.parameters.iter().zip(&self.names))
        {
            let Some(tensor) = tensor_of_value(value) else {
                return Err(Error::NotATensor {
                    node: node.key().to_owned(),
                    found: value.type_tag().to_owned(),
                    error: None,
                });
            };
            if tensor.data_ptr() == variable.data_ptr() {
                continue;
            }
            if tensor.size() != variable.size() {
                return Err(Error::ShapeMismatch {
                    op: "load parameter",
                    operands: format!("{name}: {} and {}", describe(variable), describe(&tensor)),
                });
            }
            tch::no_grad(|| variable.f_copy_(&tensor))
                .map_err(|source| Error::torch("copy_", format!("{name}: {}", describe(&tensor)), source))?;
            node.set_value(tensor_value(variable.shallow_clone()))?;
        }
        Ok(())
    }
}

impl<M: ModuleT> trace_core::Module for TracedModule<M> {
    fn named_parameters(&self) -> Vec<(String, Node)> {
        self.names.iter().cloned().zip(self.parameters.iter().cloned()).collect()
    }
}

/// Returns the first line of a panic message; tch appends libtorch's C++ backtrace.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    let text = text.strip_prefix("called `Result::unwrap()` on an `Err` value: ").unwrap_or(&text);
    text.lines().next().unwrap_or_default().trim().to_owned()
}
