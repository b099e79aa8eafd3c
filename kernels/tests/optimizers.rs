//! Checks SGD and Adam against libtorch's own implementations of the same updates.
#![cfg(feature = "torch")]

use kernels::optim::{Adam, AdamConfig, Sgd, SgdConfig, TensorOptimizer};
use kernels::tch::{COptimizer, Device, Kind, Tensor};

/// A quadratic bowl with a fixed minimum, so that every step has a different gradient.
fn loss(weight: &Tensor, bias: &Tensor) -> Tensor {
    let target = Tensor::from_slice(&[0.5f64, -1.5, 2.0]);
    let prediction = weight * Tensor::from_slice(&[1.0f64, 2.0, -1.0]) + bias;
    (prediction - target).square().sum(Kind::Double)
}

fn initial_parameters() -> (Tensor, Tensor) {
    let weight = Tensor::from_slice(&[0.3f64, -0.2, 0.9]).set_requires_grad(true);
    let bias = Tensor::from_slice(&[0.1f64]).set_requires_grad(true);
    (weight, bias)
}

/// Runs `steps` steps of `ours` and of libtorch's `reference` from the same start and
/// returns the largest difference between the resulting parameters.
fn max_difference(
    steps: usize,
    ours: impl FnOnce(&[Tensor]) -> anyhow::Result<Box<dyn TensorOptimizer>>,
    reference: COptimizer,
) -> anyhow::Result<f64> {
    let (weight, bias) = initial_parameters();
    let mut optimizer = ours(&[weight.shallow_clone(), bias.shallow_clone()])?;
    for _ in 0..steps {
        optimizer.zero_feedback()?;
        loss(&weight, &bias).backward();
        optimizer.step()?;
    }

    let (reference_weight, reference_bias) = initial_parameters();
    let mut reference = reference;
    reference.add_parameters(&reference_weight, 0)?;
    reference.add_parameters(&reference_bias, 0)?;
    for _ in 0..steps {
        reference.zero_grad()?;
        loss(&reference_weight, &reference_bias).backward();
        reference.step()?;
    }

    let weight_difference = (&weight - &reference_weight).abs().max().double_value(&[]);
    let bias_difference = (&bias - &reference_bias).abs().max().double_value(&[]);
    Ok(weight_difference.max(bias_difference))
}

#[test]
fn sgd_with_momentum_matches_libtorch() -> anyhow::Result<()> {
    let config = SgdConfig {
        learning_rate: 0.05,
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 0.01,
        nesterov: false,
    };

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
    let config = SgdConfig {
        learning_rate: 0.02,
        momentum: 0.8,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: true,
    };

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
    let config = AdamConfig {
        learning_rate: 0.1,
        beta1: 0.8,
        beta2: 0.99,
        epsilon: 1e-6,
        weight_decay: 0.02,
    };

    let difference = max_difference(
        30,
        |parameters| Ok(Box::new(Adam::new(parameters, config)?)),
        COptimizer::adam(0.1, 0.8, 0.99, 0.02, 1e-6, false)?,
    )?;

    assert!(difference < 1e-12, "difference {difference}");
    Ok(())
}

#[test]
fn adam_minimizes_quadratic() -> anyhow::Result<()> {
    let (weight, bias) = initial_parameters();
    let mut adam = Adam::new(
        &[weight.shallow_clone(), bias.shallow_clone()],
        AdamConfig::new(0.05),
    )?;
    let start = loss(&weight, &bias).double_value(&[]);

    for _ in 0..300 {
        adam.zero_feedback()?;
        loss(&weight, &bias).backward();
        adam.step()?;
    }

    let end = loss(&weight, &bias).double_value(&[]);
    assert!(start > 1.0, "start loss {start}");
    assert!(end < 1e-3, "end loss {end}");
    Ok(())
}

#[test]
fn step_reports_gradient_norm_and_skips() -> anyhow::Result<()> {
    let (weight, bias) = initial_parameters();
    let unused = Tensor::zeros([2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let mut sgd = Sgd::new(
        &[
            weight.shallow_clone(),
            bias.shallow_clone(),
            unused.shallow_clone(),
        ],
        SgdConfig::new(0.1, 0.0),
    )?;
    loss(&weight, &bias).backward();
    let expected_norm = (weight.grad().square().sum(Kind::Double)
        + bias.grad().square().sum(Kind::Double))
    .sqrt()
    .double_value(&[]);

    let report = sgd.step()?;

    assert_eq!(report.step, 1);
    assert_eq!(report.updated, 2);
    assert_eq!(report.skipped, 1);
    assert!((report.gradient_norm - expected_norm).abs() < 1e-12);
    assert_eq!(Vec::<f64>::try_from(&unused)?, vec![0.0, 0.0]);
    Ok(())
}

#[test]
fn nan_gradient_leaves_parameters_unchanged() -> anyhow::Result<()> {
    let (weight, bias) = initial_parameters();
    let mut adam = Adam::new(
        &[weight.shallow_clone(), bias.shallow_clone()],
        AdamConfig::new(0.1),
    )?;
    let before = Vec::<f64>::try_from(&weight)?;

    (&bias * f64::NAN + &weight).sum(Kind::Double).backward();
    let result = adam.step();

    assert!(
        matches!(
            result,
            Err(kernels::Error::NonFiniteGradient { parameter: 1, .. })
        ),
        "{result:?}"
    );
    assert_eq!(Vec::<f64>::try_from(&weight)?, before);
    Ok(())
}

#[test]
fn invalid_settings_are_rejected() {
    let weight = Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let parameters = [weight];

    let cases: Vec<(&str, Option<kernels::Error>)> = vec![
        (
            "zero learning rate",
            Sgd::new(&parameters, SgdConfig::new(0.0, 0.0)).err(),
        ),
        (
            "nan learning rate",
            Adam::new(&parameters, AdamConfig::new(f64::NAN)).err(),
        ),
        (
            "beta1 of one",
            Adam::new(
                &parameters,
                AdamConfig {
                    beta1: 1.0,
                    ..AdamConfig::new(0.1)
                },
            )
            .err(),
        ),
        (
            "negative momentum",
            Sgd::new(&parameters, SgdConfig::new(0.1, -0.5)).err(),
        ),
        (
            "nesterov without momentum",
            Sgd::new(
                &parameters,
                SgdConfig {
                    nesterov: true,
                    ..SgdConfig::new(0.1, 0.0)
                },
            )
            .err(),
        ),
    ];

    for (case, error) in cases {
        assert!(
            matches!(error, Some(kernels::Error::InvalidSetting { .. })),
            "{case}: {error:?}"
        );
    }
}

#[test]
fn untrainable_tensors_are_rejected() {
    let frozen = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let labels = Tensor::from_slice(&[1i64, 2]);

    let frozen_error = Sgd::new(&[frozen], SgdConfig::new(0.1, 0.0)).err();
    let labels_error = Adam::new(&[labels], AdamConfig::new(0.1)).err();

    assert!(matches!(
        frozen_error,
        Some(kernels::Error::NotTrainable {
            requires_grad: false,
            ..
        })
    ));
    assert!(matches!(
        labels_error,
        Some(kernels::Error::NotTrainable { .. })
    ));
}

#[test]
fn zero_feedback_clears_gradients() -> anyhow::Result<()> {
    let (weight, bias) = initial_parameters();
    let mut sgd = Sgd::new(
        &[weight.shallow_clone(), bias.shallow_clone()],
        SgdConfig::new(0.1, 0.0),
    )?;
    loss(&weight, &bias).backward();

    sgd.zero_feedback()?;

    assert_eq!(Vec::<f64>::try_from(weight.grad())?, vec![0.0; 3]);
    assert_eq!(Vec::<f64>::try_from(bias.grad())?, vec![0.0]);
    Ok(())
}
