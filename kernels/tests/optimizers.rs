//! SGD and Adam through the `trace_core::Optimizer` trait, checked against libtorch's own
//! implementations of the same updates.
#![cfg(feature = "torch")]

use futures::executor::block_on;
use kernels::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use kernels::tch::{COptimizer, Device, Kind, Tensor};
use kernels::tensor::{tensor_of, tensor_parameter, tensor_value};
use trace_core::{Node, Optimizer, Proposal};

/// Computes a quadratic bowl with a fixed minimum, so that every step has a different gradient.
fn loss(weight: &Tensor, bias: &Tensor) -> Tensor {
    let target = Tensor::from_slice(&[0.5f64, -1.5, 2.0]);
    let prediction = weight * Tensor::from_slice(&[1.0f64, 2.0, -1.0]) + bias;
    (prediction - target).square().sum(Kind::Double)
}

fn initial_tensors() -> (Tensor, Tensor) {
    let weight = Tensor::from_slice(&[0.3f64, -0.2, 0.9]).set_requires_grad(true);
    let bias = Tensor::from_slice(&[0.1f64]).set_requires_grad(true);
    (weight, bias)
}

fn parameters() -> anyhow::Result<(Node, Node)> {
    let (weight, bias) = initial_tensors();
    Ok((tensor_parameter("weight", &weight)?, tensor_parameter("bias", &bias)?))
}

/// Runs `steps` steps of `ours` and of libtorch's `reference` from the same start and
/// returns the largest difference between the resulting parameters.
fn max_difference(
    steps: usize,
    ours: impl FnOnce(Vec<Node>) -> anyhow::Result<Box<dyn Optimizer>>,
    reference: COptimizer,
) -> anyhow::Result<f64> {
    let (weight, bias) = parameters()?;
    let mut optimizer = ours(vec![weight.clone(), bias.clone()])?;
    for _ in 0..steps {
        optimizer.zero_feedback();
        loss(&tensor_of(&weight)?, &tensor_of(&bias)?).backward();
        let report = block_on(optimizer.step()).map_err(|error| anyhow::anyhow!(error))?;
        anyhow::ensure!(report.updates.len() == 2, "{report:?}");
    }

    let (reference_weight, reference_bias) = initial_tensors();
    let mut reference = reference;
    reference.add_parameters(&reference_weight, 0)?;
    reference.add_parameters(&reference_bias, 0)?;
    for _ in 0..steps {
        reference.zero_grad()?;
        loss(&reference_weight, &reference_bias).backward();
        reference.step()?;
    }

    let weight_difference = (tensor_of(&weight)? - &reference_weight).abs().max().double_value(&[]);
    let bias_difference = (tensor_of(&bias)? - &reference_bias).abs().max().double_value(&[]);
    Ok(weight_difference.max(bias_difference))
}

#[test]
fn sgd_with_momentum_matches_libtorch() -> anyhow::Result<()> {
    let config = SgdConfig { learning_rate: 0.05, momentum: 0.9, dampening: 0.1, weight_decay: 0.01, nesterov: false };

    let difference = max_difference(
        20,
        |parameters| Ok(Box::new(Sgd::new(parameters, config)?)),
        COptimizer::sgd(0.05, 0.9, 0.1, 0.01, false)?,
    )?;

    assert!(difference < 1e-12, "difference {difference}");
    Ok(())
}

#[test]
fn sgd_with_nesterov_matches_libtorch() -> anyhow::Result<()> {
    let config = SgdConfig { learning_rate: 0.02, momentum: 0.8, dampening: 0.0, weight_decay: 0.0, nesterov: true };

    let difference = max_difference(
        20,
        |parameters| Ok(Box::new(Sgd::new(parameters, config)?)),
        COptimizer::sgd(0.02, 0.8, 0.0, 0.0, true)?,
    )?;

    assert!(difference < 1e-12, "difference {difference}");
    Ok(())
}

#[test]
fn adam_matches_libtorch() -> anyhow::Result<()> {
    let config = AdamConfig { learning_rate: 0.1, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weight_decay: 0.02 };

    let difference = max_difference(
        30,
        |parameters| Ok(Box::new(Adam::new(parameters, config)?)),
        COptimizer::adam(0.1, 0.8, 0.99, 0.02, 1e-6, false)?,
    )?;

    assert!(difference < 1e-12, "difference {difference}");
    Ok(())
}

#[test]
fn propose_changes_nothing_until_apply() -> anyhow::Result<()> {
    let (weight, bias) = parameters()?;
    let mut adam = Adam::new(vec![weight.clone(), bias.clone()], AdamConfig::new(0.1))?;
    loss(&tensor_of(&weight)?, &tensor_of(&bias)?).backward();
    let before = Vec::<f64>::try_from(tensor_of(&weight)?)?;

    let proposal = block_on(adam.propose()).map_err(|error| anyhow::anyhow!(error))?;
    let after_propose = Vec::<f64>::try_from(tensor_of(&weight)?)?;
    let report = adam.apply(&proposal);
    let after_apply = Vec::<f64>::try_from(tensor_of(&weight)?)?;

    assert_eq!(after_propose, before);
    assert_ne!(after_apply, before);
    assert_eq!(report.updates.len(), 2);
    assert_eq!(report.optimizer, "Adam");
    assert_eq!(adam.step_log().len(), 1);
    Ok(())
}

#[test]
fn update_reaches_shared_tensor() -> anyhow::Result<()> {
    let shared = Tensor::from_slice(&[1.0f32, 2.0]);
    let node = tensor_parameter("w", &shared)?;
    let mut sgd = Sgd::new(vec![node.clone()], SgdConfig::new(0.5, 0.0))?;

    (tensor_of(&node)? * 2.0).sum(Kind::Float).backward();
    block_on(sgd.step()).map_err(|error| anyhow::anyhow!(error))?;

    assert_eq!(Vec::<f32>::try_from(&shared)?, vec![0.0, 1.0]);
    Ok(())
}

#[test]
fn foreign_and_mistyped_updates_are_rejected() -> anyhow::Result<()> {
    let (weight, bias) = parameters()?;
    let stranger = tensor_parameter("stranger", &Tensor::zeros([3], (Kind::Double, Device::Cpu)))?;
    let mut sgd = Sgd::new(vec![weight.clone(), bias.clone()], SgdConfig::new(0.1, 0.0))?;
    let proposal = Proposal {
        updates: vec![
            (stranger, tensor_value(Tensor::ones([3], (Kind::Double, Device::Cpu)))),
            (weight.clone(), tensor_value(Tensor::ones([5], (Kind::Double, Device::Cpu)))),
            (bias.clone(), "not a tensor".into()),
        ],
        ..Proposal::default()
    };

    let report = sgd.apply(&proposal);

    let reasons: Vec<&str> = report.rejected.iter().map(|rejected| rejected.reason.as_str()).collect();
    assert!(report.updates.is_empty());
    assert_eq!(reasons.len(), 3);
    assert_eq!(reasons[0], "not a parameter of this optimizer");
    assert!(reasons[1].contains("one shape"), "{}", reasons[1]);
    assert!(reasons[2].contains("not a tensor"), "{}", reasons[2]);
    assert_eq!(Vec::<f64>::try_from(tensor_of(&weight)?)?, vec![0.3, -0.2, 0.9]);
    Ok(())
}

#[test]
fn nan_gradient_is_error_and_changes_nothing() -> anyhow::Result<()> {
    let (weight, bias) = parameters()?;
    let mut adam = Adam::new(vec![weight.clone(), bias.clone()], AdamConfig::new(0.1))?;
    (tensor_of(&bias)? * f64::NAN + tensor_of(&weight)?).sum(Kind::Double).backward();

    let error = block_on(adam.step()).err().map(|error| error.to_string()).unwrap_or_default();

    assert!(error.contains("is not finite"), "{error}");
    assert!(error.contains(bias.key()), "{error}");
    assert_eq!(Vec::<f64>::try_from(tensor_of(&weight)?)?, vec![0.3, -0.2, 0.9]);
    Ok(())
}

#[test]
fn zero_feedback_clears_gradients() -> anyhow::Result<()> {
    let (weight, bias) = parameters()?;
    let sgd = Sgd::new(vec![weight.clone(), bias.clone()], SgdConfig::new(0.1, 0.0))?;
    loss(&tensor_of(&weight)?, &tensor_of(&bias)?).backward();

    sgd.zero_feedback();

    assert_eq!(Vec::<f64>::try_from(tensor_of(&weight)?.grad())?, vec![0.0; 3]);
    assert_eq!(Vec::<f64>::try_from(tensor_of(&bias)?.grad())?, vec![0.0]);
    Ok(())
}

#[test]
fn invalid_settings_are_rejected() -> anyhow::Result<()> {
    let weight = tensor_parameter("w", &Tensor::zeros([1], (Kind::Float, Device::Cpu)))?;
    let parameters = || vec![weight.clone()];

    let cases: Vec<(&str, Option<kernels::Error>)> = vec![
        ("zero learning rate", Sgd::new(parameters(), SgdConfig::new(0.0, 0.0)).err()),
        ("nan learning rate", Adam::new(parameters(), AdamConfig::new(f64::NAN)).err()),
        ("beta1 of one", Adam::new(parameters(), AdamConfig { beta1: 1.0, ..AdamConfig::new(0.1) }).err()),
        ("negative momentum", Sgd::new(parameters(), SgdConfig::new(0.1, -0.5)).err()),
        (
            "nesterov without momentum",
            Sgd::new(parameters(), SgdConfig { nesterov: true, ..SgdConfig::new(0.1, 0.0) }).err(),
        ),
    ];

    for (case, error) in cases {
        assert!(matches!(error, Some(kernels::Error::InvalidSetting { .. })), "{case}: {error:?}");
    }
    Ok(())
}

#[test]
fn untrainable_parameters_are_rejected() {
    let frozen = Node::input("frozen", tensor_value(Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    let text = Node::parameter("prompt", "hello");

    let frozen_error = Sgd::new(vec![frozen], SgdConfig::new(0.1, 0.0)).err();
    let text_error = Adam::new(vec![text], AdamConfig::new(0.1)).err();

    assert!(
        matches!(frozen_error, Some(kernels::Error::NotTrainable { requires_grad: false, .. })),
        "{frozen_error:?}"
    );
    assert!(matches!(text_error, Some(kernels::Error::NotATensor { .. })), "{text_error:?}");
}

#[test]
fn adam_state_survives_checkpoint() -> anyhow::Result<()> {
    let run = |restore: bool| -> anyhow::Result<Vec<f64>> {
        let (weight, bias) = parameters()?;
        let mut adam = Adam::new(vec![weight.clone(), bias.clone()], AdamConfig::new(0.05))?;
        for step in 0..6 {
            if restore && step == 3 {
                let saved = adam.checkpoint_state();
                adam = Adam::new(vec![weight.clone(), bias.clone()], AdamConfig::new(0.05))?;
                adam.restore_checkpoint_state(&saved).map_err(|error| anyhow::anyhow!(error))?;
            }
            adam.zero_feedback();
            loss(&tensor_of(&weight)?, &tensor_of(&bias)?).backward();
            block_on(adam.step()).map_err(|error| anyhow::anyhow!(error))?;
        }
        Ok(Vec::<f64>::try_from(tensor_of(&weight)?)?)
    };

    let straight = run(false)?;
    let resumed = run(true)?;

    assert_eq!(straight, resumed);
    Ok(())
}

#[test]
fn adam_step_matches_propose_then_apply() -> anyhow::Result<()> {
    let run = |split: bool| -> anyhow::Result<Vec<f64>> {
        let (weight, bias) = parameters()?;
        let config = AdamConfig { weight_decay: 0.1, ..AdamConfig::new(0.05) };
        let mut adam = Adam::new(vec![weight.clone(), bias.clone()], config)?;
        for _ in 0..10 {
            adam.zero_feedback();
            loss(&tensor_of(&weight)?, &tensor_of(&bias)?).backward();
            if split {
                let proposal = block_on(adam.propose()).map_err(|error| anyhow::anyhow!(error))?;
                adam.apply(&proposal);
            } else {
                block_on(adam.step()).map_err(|error| anyhow::anyhow!(error))?;
            }
        }
        Ok(Vec::<f64>::try_from(tensor_of(&weight)?)?)
    };

    let stepped = run(false)?;
    let split = run(true)?;

    for (a, b) in stepped.iter().zip(&split) {
        assert!((a - b).abs() < 1e-12, "step {stepped:?} vs propose and apply {split:?}");
    }
    Ok(())
}
