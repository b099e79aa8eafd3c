//! Checks that libtorch links, loads without `LD_LIBRARY_PATH` and computes gradients.
#![cfg(feature = "torch")]

use kernels::tch::{Kind, Tensor};

#[test]
fn autograd_gradient_of_sum_of_squares() -> anyhow::Result<()> {
    // y = sum(x_i^2) + 3 * x_0, so dy/dx = 2x + (3, 0, 0).
    let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).set_requires_grad(true);
    let y = (&x * &x).sum(Kind::Double) + x.get(0) * 3.0;

    y.backward();
    let gradient = Vec::<f64>::try_from(x.grad())?;

    assert_eq!(y.double_value(&[]), 1.0 + 4.0 + 0.25 + 3.0);
    assert_eq!(gradient, vec![5.0, -4.0, 1.0]);
    Ok(())
}

#[test]
fn matmul_runs_on_libtorch() -> anyhow::Result<()> {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
    let b = Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0]).reshape([2, 2]);

    let product = Vec::<f32>::try_from(a.f_matmul(&b)?.reshape([4]))?;

    assert_eq!(product, vec![19.0, 22.0, 43.0, 50.0]);
    Ok(())
}
