//! Tensors as plain JSON, so that tensor parameters save and load like any other parameter.
//!
//! The form is `{"shape": [2, 3], "dtype": "f32", "data": [...]}` with the elements in
//! row-major order as JSON numbers.

use serde_json::{Value as Json, json};
use tch::{Device, Kind, Tensor};

use crate::summary::dtype_name;
use crate::{Error, Result};

/// The dtypes that round-trip through JSON numbers without loss of meaning.
const JSON_DTYPES: [Kind; 7] =
    [Kind::Float, Kind::Double, Kind::Half, Kind::BFloat16, Kind::Int, Kind::Int64, Kind::Uint8];

/// Writes `tensor` as `{"shape", "dtype", "data"}`.
///
/// # Errors
///
/// [`Error::InvalidJson`] for a dtype without a JSON form (bool, complex) and
/// [`Error::Torch`] when the data cannot be copied to the CPU.
pub fn tensor_to_json(tensor: &Tensor) -> Result<Json> {
    let kind = tensor.kind();
    if !JSON_DTYPES.contains(&kind) {
        return Err(Error::InvalidJson { message: format!("dtype {} has no JSON form", dtype_name(kind)) });
    }
    let flat = tch::no_grad(|| {
        tensor.f_to_device(Device::Cpu).and_then(|t| t.f_to_kind(Kind::Double)).and_then(|t| t.f_reshape([-1]))
    })
    .map_err(|source| Error::torch("to_json", crate::summary::describe(tensor), source))?;
    let data = Vec::<f64>::try_from(&flat)
        .map_err(|source| Error::torch("to_json", crate::summary::describe(tensor), source))?;
    let data: Vec<Json> =
        data.into_iter().map(|x| serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)).collect();
    Ok(json!({ "shape": tensor.size(), "dtype": dtype_name(kind), "data": data }))
}

/// Reads a tensor written by [`tensor_to_json`].
///
/// With `like`, the JSON must have the same shape and dtype, and the new tensor gets its
/// device and its `requires_grad` flag. Non-finite elements are written as `null` and read
/// back as NaN.
///
/// # Errors
///
/// [`Error::InvalidJson`] for a missing field, a shape that does not match the data or
/// `like`, or an unknown dtype.
pub fn tensor_from_json(json: &Json, like: Option<&Tensor>) -> Result<Tensor> {
    let invalid = |message: String| Error::InvalidJson { message };
    let shape: Vec<i64> = json
        .get("shape")
        .and_then(Json::as_array)
        .and_then(|dims| dims.iter().map(Json::as_i64).collect())
        .ok_or_else(|| invalid("`shape` must be a list of integers".to_owned()))?;
    let dtype = json
        .get("dtype")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("`dtype` must be a string such as \"f32\"".to_owned()))?;
    let kind = JSON_DTYPES
        .into_iter()
        .find(|kind| dtype_name(*kind) == dtype)
        .ok_or_else(|| invalid(format!("unknown dtype {dtype:?}")))?;
    let data: Vec<f64> = json
        .get("data")
        .and_then(Json::as_array)
        .map(|items| items.iter().map(|item| item.as_f64().unwrap_or(f64::NAN)).collect())
        .ok_or_else(|| invalid("`data` must be a list of numbers".to_owned()))?;

    let expected: i64 = shape.iter().product();
    if shape.iter().any(|dim| *dim < 0) || usize::try_from(expected).ok() != Some(data.len()) {
        return Err(invalid(format!("shape {shape:?} needs {expected} elements, found {}", data.len())));
    }
    if let Some(like) = like
        && (like.size() != shape || like.kind() != kind)
    {
        return Err(invalid(format!(
            "expected shape {:?} and dtype {}, found shape {shape:?} and dtype {dtype}",
            like.size(),
            dtype_name(like.kind())
        )));
    }

    let device = like.map_or(Device::Cpu, Tensor::device);
    let requires_grad = like.is_some_and(Tensor::requires_grad);
    Tensor::from_slice(&data)
        .f_reshape(&shape)
        .and_then(|t| t.f_to_kind(kind))
        .and_then(|t| t.f_to_device(device))
        .and_then(|t| t.f_set_requires_grad(requires_grad))
        .map_err(|source| Error::torch("from_json", format!("shape {shape:?} dtype {dtype}"), source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_shape_dtype_and_data() -> anyhow::Result<()> {
        let tensor = Tensor::from_slice(&[1.5f32, -2.0, 0.25, 4.0, 5.0, 6.0]).reshape([2, 3]);

        let json = tensor_to_json(&tensor)?;
        let back = tensor_from_json(&json, Some(&tensor))?;

        assert_eq!(json["shape"], json!([2, 3]));
        assert_eq!(json["dtype"], "f32");
        assert_eq!(back.size(), vec![2, 3]);
        assert_eq!(back.kind(), Kind::Float);
        assert!(back.equal(&tensor));
        Ok(())
    }

    #[test]
    fn mismatched_json_is_rejected() {
        let like = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let cases = [
            ("wrong shape", json!({"shape": [3], "dtype": "f32", "data": [1, 2, 3]})),
            ("wrong dtype", json!({"shape": [2], "dtype": "f64", "data": [1, 2]})),
            ("short data", json!({"shape": [2], "dtype": "f32", "data": [1]})),
            ("unknown dtype", json!({"shape": [2], "dtype": "q8", "data": [1, 2]})),
            ("no shape", json!({"dtype": "f32", "data": [1, 2]})),
        ];

        for (case, json) in cases {
            let result = tensor_from_json(&json, Some(&like));
            assert!(matches!(result, Err(Error::InvalidJson { .. })), "{case}: {result:?}");
        }
    }
}
