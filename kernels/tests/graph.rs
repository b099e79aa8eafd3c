//! Tensors inside the traced graph: mixed backward, exception nodes, prompts, save and load.
#![cfg(feature = "torch")]

use kernels::module::TracedModule;
use kernels::ops::TensorOps;
use kernels::tch::nn::{self, VarStore};
use kernels::tch::{Device, Kind, Tensor};
use kernels::tensor::{tensor_input, tensor_of, tensor_parameter};
use trace_core::{Bundle, Module, Node, NodeKind, Summary, Value};

#[test]
fn loss_feedback_reaches_symbolic_parameter() -> anyhow::Result<()> {
    // A symbolic setting (the scale, chosen by an LLM in a real run) feeds a numeric model.
    let scale = Node::parameter("scale", 2.0);
    let weight = tensor_parameter("weight", &Tensor::from_slice(&[0.5f64, -1.0]))?;
    let x = tensor_input("x", &Tensor::from_slice(&[1.0f64, 3.0]));
    let scaled =
        Bundle::new("scale_input", "Multiplies x by the scale.", &["x", "scale"]).call(&[&x, &scale], |values| {
            let factor = values[1].render().parse::<f64>().map_err(|error| error.to_string())?;
            let tensor = kernels::tensor::tensor_of_value(&values[0]).ok_or("x is not a tensor")?;
            Ok::<Value, String>(kernels::tensor::tensor_value(tensor * factor))
        })?;
    let loss = (&scaled * &weight).sum();

    kernels::backward_loss(&loss)?;

    // loss = sum(2x * w) = 2 * (0.5 - 3) = -5, and d(loss)/dw = 2x = (2, 6).
    let text = &scale.feedback()[0].items[0].text;
    assert_eq!(Vec::<f64>::try_from(tensor_of(&weight)?.grad())?, vec![2.0, 6.0]);
    assert!(text.starts_with("loss = -5; gradient norms: "), "{text}");
    assert!(text.contains(&format!("{} = 6.325", weight.key())), "{text}");
    assert_eq!(weight.feedback()[0].items[0].text, *text);
    Ok(())
}

#[test]
fn summary_shows_tensors_briefly() -> anyhow::Result<()> {
    let weight = tensor_parameter("weight", &Tensor::ones([64, 64], (Kind::Float, Device::Cpu)))?;
    let x = tensor_input("x", &Tensor::ones([1, 64], (Kind::Float, Device::Cpu)));
    let loss = x.matmul(&weight).relu().mean();

    kernels::backward_loss(&loss)?;
    let summary = Summary::of(std::slice::from_ref(&weight));

    let variable = summary.variables[0].render();
    assert_eq!(variable, format!("(tensor) {}=tensor[64, 64] f32 cpu min=1 mean=1 max=1", weight.key()));
    assert_eq!(summary.code.len(), 3);
    assert!(summary.feedback_text().starts_with("loss = 64"), "{}", summary.feedback_text());
    Ok(())
}

#[test]
fn shape_mismatch_becomes_exception_node() {
    let a = tensor_input("a", &Tensor::ones([2, 3], (Kind::Float, Device::Cpu)));
    let b = tensor_input("b", &Tensor::ones([4, 5], (Kind::Float, Device::Cpu)));

    let product = a.matmul(&b);

    assert_eq!(product.kind(), NodeKind::Exception);
    let message = product.error().unwrap_or_default();
    assert!(message.starts_with("matmul failed on tensor[2, 3] f32 cpu and tensor[4, 5] f32 cpu: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn dtype_and_broadcast_mismatches_name_the_operands() {
    let floats = tensor_input("floats", &Tensor::ones([3], (Kind::Float, Device::Cpu)));
    let doubles = tensor_input("doubles", &Tensor::ones([3], (Kind::Double, Device::Cpu)));
    let longer = tensor_input("longer", &Tensor::ones([4], (Kind::Float, Device::Cpu)));

    let mixed = &floats + &doubles;
    let unbroadcastable = &floats * &longer;

    assert_eq!(
        mixed.error(),
        Some(
            "add needs operands of one dtype, got tensor[3] f32 cpu and tensor[3] f64 cpu; convert one with to_kind first"
        )
    );
    assert!(
        unbroadcastable
            .error()
            .is_some_and(|message| message.starts_with("mul failed on tensor[3] f32 cpu and tensor[4] f32 cpu: "))
    );
}

#[test]
fn exception_upstream_is_named_downstream() {
    let a = tensor_input("a", &Tensor::ones([2, 3], (Kind::Float, Device::Cpu)));
    let bad = a.matmul(&a);

    let next = bad.relu();

    assert!(next.is_exception());
    assert!(
        next.error().is_some_and(|message| message.starts_with("relu: argument x is not a tensor")),
        "{:?}",
        next.error()
    );
}

#[test]
fn root_cause_reaches_the_loss() {
    let x = tensor_input("x", &Tensor::ones([2, 3], (Kind::Float, Device::Cpu)));
    let bias = tensor_input("bias", &Tensor::ones([3], (Kind::Float, Device::Cpu)));
    let targets = tensor_input("targets", &Tensor::from_slice(&[0i64, 1]));

    let loss = (&x.matmul(&x) + &bias).cross_entropy(&targets);

    let message = loss.error().unwrap_or_default();
    assert!(message.starts_with("cross_entropy: argument logits is not a tensor: add: an operand is not a tensor: matmul failed on tensor[2, 3] f32 cpu and tensor[2, 3] f32 cpu: "), "{message}");
}

#[test]
fn invalid_losses_are_errors() -> anyhow::Result<()> {
    let weight = tensor_parameter("weight", &Tensor::from_slice(&[1.0f64, 2.0]))?;
    let vector_loss = &weight * 2.0;
    let nan_loss = (&weight * f64::NAN).sum();
    let text = Node::parameter("text", "hello");

    let vector_error = kernels::backward_loss(&vector_loss).err().map(|e| e.to_string()).unwrap_or_default();
    let nan_error = kernels::backward_loss(&nan_loss).err().map(|e| e.to_string()).unwrap_or_default();
    let text_error = kernels::backward_loss(&text).err();

    assert!(
        vector_error.contains("the loss must be a floating-point tensor with one element, got tensor[2] f64 cpu"),
        "{vector_error}"
    );
    assert!(nan_error.contains("the loss is NaN, not a finite number"), "{nan_error}");
    assert!(matches!(text_error, Some(kernels::Error::NotATensor { .. })), "{text_error:?}");
    assert!(!tensor_of(&weight)?.grad().defined());
    Ok(())
}

#[test]
fn second_backward_is_error() -> anyhow::Result<()> {
    let weight = tensor_parameter("weight", &Tensor::from_slice(&[1.0f64]))?;
    let loss = (&weight * 3.0).sum();
    kernels::backward_loss(&loss)?;

    let second = kernels::backward_loss(&loss);

    assert!(matches!(second, Err(kernels::Error::Graph(trace_core::Error::AlreadyBackwarded { .. }))), "{second:?}");
    assert_eq!(tensor_of(&weight)?.grad().double_value(&[0]), 3.0);
    Ok(())
}

#[test]
fn fused_module_is_one_node() -> anyhow::Result<()> {
    let store = VarStore::new(Device::Cpu);
    let root = store.root();
    let mlp = nn::seq()
        .add(nn::linear(&root / "hidden", 4, 8, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&root / "out", 8, 3, Default::default()));
    let model = TracedModule::new("mlp", "A two-layer perceptron.", mlp, &store);
    let x = tensor_input("x", &Tensor::ones([5, 4], (Kind::Float, Device::Cpu)));

    let logits = model.forward(&x);
    let loss = logits.cross_entropy(&tensor_input("y", &Tensor::from_slice(&[0i64, 1, 2, 0, 1])));
    kernels::backward_loss(&loss)?;

    let names: Vec<&str> = logits.inputs().map(|(name, _)| name).collect();
    assert_eq!(names, ["input", "hidden.bias", "hidden.weight", "out.bias", "out.weight"]);
    assert_eq!(loss.level(), 2);
    for parameter in model.parameters() {
        assert!(tensor_of(parameter)?.grad().defined(), "{}", parameter.key());
        assert_eq!(parameter.feedback().len(), 1);
    }
    Ok(())
}

#[test]
fn fused_module_failure_is_exception_node() {
    let store = VarStore::new(Device::Cpu);
    let linear = nn::linear(store.root() / "layer", 4, 2, Default::default());
    let model = TracedModule::new("model", "A linear layer.", linear, &store);
    let x = tensor_input("x", &Tensor::ones([5, 3], (Kind::Float, Device::Cpu)));

    let output = model.forward(&x);

    assert!(output.is_exception());
    let message = output.error().unwrap_or_default();
    assert!(message.starts_with("model failed on input tensor[5, 3] f32 cpu: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn module_state_saves_and_loads_into_variables() -> anyhow::Result<()> {
    let store = VarStore::new(Device::Cpu);
    let linear = nn::linear(store.root() / "layer", 2, 1, Default::default());
    let model = TracedModule::new("model", "A linear layer.", linear, &store);
    let x = tensor_input("x", &Tensor::from_slice(&[1.0f32, 2.0]).reshape([1, 2]));
    let before = tensor_of(&model.forward(&x))?.double_value(&[0, 0]);
    let saved = model.save_json()?;

    kernels::tch::no_grad(|| {
        store.variables().values_mut().for_each(|variable| {
            let _ = variable.fill_(0.0);
        })
    });
    let zeroed = tensor_of(&model.forward(&x))?.double_value(&[0, 0]);
    model.load_json(&saved)?;
    let restored = tensor_of(&model.forward(&x))?.double_value(&[0, 0]);

    assert!(saved.contains("\"type\": \"tensor\""), "{saved}");
    assert_eq!(zeroed, 0.0);
    assert_eq!(restored, before);
    let weight = &model.parameters()[1];
    assert_eq!(tensor_of(weight)?.data_ptr(), store.variables()["layer.weight"].data_ptr());
    Ok(())
}

#[test]
fn loss_without_history_is_only_reported() -> anyhow::Result<()> {
    let prompt = Node::parameter("prompt", "predict 3");
    let loss = Bundle::new("evaluate", "Scores the prompt.", &["prompt"])
        .call(&[&prompt], |_| kernels::tensor::tensor_value(Tensor::from(0.25f32)))?;

    kernels::backward_loss(&loss)?;

    assert_eq!(
        prompt.feedback()[0].items[0].text,
        "loss = 0.25; the loss records no gradients, so no tensor parameter was updated"
    );
    Ok(())
}
