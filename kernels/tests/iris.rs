//! Training through the traced graph on the iris data set (150 flowers, 4 measurements,
//! 3 species) shipped by `linfa-datasets`.
//!
//! Every fifth flower is held out for testing; the species come in blocks of 50, so the
//! test set has 10 of each. Features are standardized with the training mean and deviation.
#![cfg(feature = "torch")]

use futures::executor::block_on;
use kernels::module::TracedModule;
use kernels::ops::TensorOps;
use kernels::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use kernels::tch::nn::{self, VarStore};
use kernels::tch::{Device, Kind, Tensor};
use kernels::tensor::{tensor_input, tensor_of, tensor_parameter};
use trace_core::{Node, Optimizer};

struct Split {
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
}

/// Loads iris as f32 features `[N, 4]` and i64 species `[N]`, split 120/30.
fn iris() -> Split {
    let dataset = linfa_datasets::iris();
    let rows = dataset.records.nrows();
    let values: Vec<f32> = dataset.records.iter().map(|x| *x as f32).collect();
    let features = Tensor::from_slice(&values).reshape([rows as i64, 4]);
    let labels = Tensor::from_slice(&dataset.targets.iter().map(|y| *y as i64).collect::<Vec<_>>());

    let test_rows: Vec<i64> = (0..rows as i64).filter(|row| row % 5 == 0).collect();
    let train_rows: Vec<i64> = (0..rows as i64).filter(|row| row % 5 != 0).collect();
    let (test_rows, train_rows) = (Tensor::from_slice(&test_rows), Tensor::from_slice(&train_rows));
    let train_features = features.index_select(0, &train_rows);
    let mean = train_features.mean_dim(0, false, Kind::Float);
    let deviation = train_features.std_dim(0, true, false);
    let standardize = |x: &Tensor| (x - &mean) / &deviation;

    Split {
        train_features: standardize(&train_features),
        train_labels: labels.index_select(0, &train_rows),
        test_features: standardize(&features.index_select(0, &test_rows)),
        test_labels: labels.index_select(0, &test_rows),
    }
}

fn accuracy(logits: &Node, labels: &Tensor) -> anyhow::Result<f64> {
    let predicted = tensor_of(logits)?.argmax(1, false);
    Ok(predicted.eq_tensor(labels).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]))
}

/// Runs `steps` full-batch steps: zero the feedback, build the loss, one backward, one step.
fn train(optimizer: &mut dyn Optimizer, steps: usize, loss: impl Fn() -> Node) -> anyhow::Result<f64> {
    let mut last = f64::NAN;
    for _ in 0..steps {
        optimizer.zero_feedback();
        let loss = loss().into_result()?;
        kernels::backward_loss(&loss)?;
        block_on(optimizer.step()).map_err(|error| anyhow::anyhow!(error))?;
        last = tensor_of(&loss)?.double_value(&[]);
    }
    Ok(last)
}

#[test]
fn linear_regression_predicts_petal_width() -> anyhow::Result<()> {
    // Petal width from the other three measurements, through traced matmul, add and mse.
    let data = iris();
    let column = |x: &Tensor, range: std::ops::Range<i64>| x.narrow(1, range.start, range.end - range.start);
    let train_x = tensor_input("x", &column(&data.train_features, 0..3));
    let train_y = tensor_input("y", &column(&data.train_features, 3..4));
    let weight = tensor_parameter("weight", &Tensor::zeros([3, 1], (Kind::Float, Device::Cpu)))?;
    let bias = tensor_parameter("bias", &Tensor::zeros([1], (Kind::Float, Device::Cpu)))?;
    let mut sgd = Sgd::new(vec![weight.clone(), bias.clone()], SgdConfig::new(0.05, 0.9))?;

    let final_loss = train(&mut sgd, 200, || (&train_x.matmul(&weight) + &bias).mse(&train_y))?;

    // R² on held-out flowers: 1 - residual / total sum of squares of standardized widths.
    let test_y = column(&data.test_features, 3..4);
    let prediction = tensor_of(&(&tensor_input("x", &column(&data.test_features, 0..3)).matmul(&weight) + &bias))?;
    let residual = (&prediction - &test_y).square().sum(Kind::Double).double_value(&[]);
    let total = (&test_y - test_y.mean(Kind::Float)).square().sum(Kind::Double).double_value(&[]);
    let r_squared = 1.0 - residual / total;
    assert!(final_loss < 0.1, "training mse {final_loss}");
    assert!(r_squared > 0.9, "test R² {r_squared}");
    Ok(())
}

#[test]
fn fused_mlp_classifies_species() -> anyhow::Result<()> {
    let data = iris();
    kernels::tch::manual_seed(7);
    let store = VarStore::new(Device::Cpu);
    let root = store.root();
    let layers = nn::seq()
        .add(nn::linear(&root / "hidden", 4, 16, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&root / "out", 16, 3, Default::default()));
    let model = TracedModule::new("mlp", "A perceptron with 16 hidden units.", layers, &store);
    let mut adam = Adam::new(model.parameters().to_vec(), AdamConfig::new(0.02))?;
    let x = tensor_input("x", &data.train_features);
    let y = tensor_input("y", &data.train_labels);

    let final_loss = train(&mut adam, 150, || model.forward(&x).cross_entropy(&y))?;

    model.set_train(false);
    let test_accuracy = accuracy(&model.forward(&tensor_input("x", &data.test_features)), &data.test_labels)?;
    assert!(final_loss < 0.15, "training cross-entropy {final_loss}");
    assert!(test_accuracy >= 0.9, "test accuracy {test_accuracy}");
    Ok(())
}

#[test]
fn per_op_mlp_classifies_species() -> anyhow::Result<()> {
    let data = iris();
    // A fixed, non-random start: small weights of varied sign.
    let init = |rows: i64, columns: i64, phase: f64| {
        Tensor::arange(rows * columns, (Kind::Float, Device::Cpu))
            .f_mul_scalar(1.7)
            .and_then(|t| t.f_add_scalar(phase))
            .map(|t| t.sin() * 0.5)
            .map(|t| t.reshape([rows, columns]))
    };
    let w1 = tensor_parameter("w1", &init(4, 16, 0.3)?)?;
    let b1 = tensor_parameter("b1", &Tensor::zeros([16], (Kind::Float, Device::Cpu)))?;
    let w2 = tensor_parameter("w2", &init(16, 3, 1.1)?)?;
    let b2 = tensor_parameter("b2", &Tensor::zeros([3], (Kind::Float, Device::Cpu)))?;
    let mut adam = Adam::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], AdamConfig::new(0.02))?;
    let forward = |x: &Node| &(&x.matmul(&w1) + &b1).relu().matmul(&w2) + &b2;
    let x = tensor_input("x", &data.train_features);
    let y = tensor_input("y", &data.train_labels);

    let final_loss = train(&mut adam, 150, || forward(&x).cross_entropy(&y))?;

    let test_accuracy = accuracy(&forward(&tensor_input("x", &data.test_features)), &data.test_labels)?;
    assert!(final_loss < 0.15, "training cross-entropy {final_loss}");
    assert!(test_accuracy >= 0.9, "test accuracy {test_accuracy}");
    Ok(())
}
