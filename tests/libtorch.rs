//! Checks that the facade's test binaries load libtorch without `LD_LIBRARY_PATH`.
#![cfg(feature = "torch")]

use opto::kernels::tch::{Kind, Tensor};

#[test]
fn facade_reaches_libtorch() -> anyhow::Result<()> {
    // y = sum(w * x), so dy/dw = x.
    let x = Tensor::from_slice(&[2.0f64, -1.0]);
    let w = Tensor::from_slice(&[0.5f64, 4.0]).set_requires_grad(true);

    (&w * &x).sum(Kind::Double).backward();

    assert_eq!(Vec::<f64>::try_from(w.grad())?, vec![2.0, -1.0]);
    Ok(())
}
