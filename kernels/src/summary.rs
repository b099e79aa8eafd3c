//! The short text form of a tensor, shown in prompts in place of its data.

use std::fmt::Write as _;
use tch::{Device, Kind, Tensor};

/// The largest number of elements that a summary lists one by one.
const LISTED_ELEMENTS: usize = 8;

/// Renders `tensor` in one short line: shape, dtype, device, then its elements when there
/// are at most eight, else min, mean and max, plus the number of NaN and infinite elements
/// when there are any.
///
/// The line never grows with the number of elements, so a prompt stays small whatever the
/// tensor. For example `tensor[2, 3] f32 cpu min=-1 mean=0.5 max=2.25`.
pub fn summarize(tensor: &Tensor) -> String {
    let mut line = describe(tensor);
    if let Err(message) = tch::no_grad(|| append_values(&mut line, tensor)) {
        let _ = write!(line, " (values unavailable: {message})");
    }
    line
}

fn append_values(line: &mut String, tensor: &Tensor) -> Result<(), String> {
    let numel = tensor.numel();
    if numel == 0 {
        line.push_str(" empty");
        return Ok(());
    }
    let values = tensor
        .f_to_kind(Kind::Double)
        .and_then(|t| t.f_to_device(Device::Cpu))
        .and_then(|t| t.f_reshape([-1]))
        .map_err(|error| error.to_string())?;

    if numel <= LISTED_ELEMENTS {
        let elements = Vec::<f64>::try_from(&values).map_err(|error| error.to_string())?;
        let listed: Vec<String> = elements.iter().map(|value| format_number(*value)).collect();
        if tensor.dim() == 0 {
            let _ = write!(line, " {}", listed.join(""));
        } else {
            let _ = write!(line, " [{}]", listed.join(", "));
        }
        return Ok(());
    }

    let finite_mask = values.f_isfinite().map_err(|error| error.to_string())?;
    let finite = values.f_masked_select(&finite_mask).map_err(|error| error.to_string())?;
    let nan_count = count(&values.f_isnan().map_err(|error| error.to_string())?)?;
    let infinite_count = numel.saturating_sub(finite.numel()).saturating_sub(nan_count);
    if finite.numel() > 0 {
        let statistic = |result: Result<Tensor, tch::TchError>| {
            result.and_then(|t| t.f_double_value(&[])).map_err(|error| error.to_string())
        };
        let min = statistic(finite.f_min())?;
        let mean = statistic(finite.f_mean(Kind::Double))?;
        let max = statistic(finite.f_max())?;
        let _ = write!(line, " min={} mean={} max={}", format_number(min), format_number(mean), format_number(max));
    }
    if nan_count > 0 {
        let _ = write!(line, " nan={nan_count}");
    }
    if infinite_count > 0 {
        let _ = write!(line, " inf={infinite_count}");
    }
    Ok(())
}

fn count(mask: &Tensor) -> Result<usize, String> {
    let total = mask.f_sum(Kind::Int64).and_then(|t| t.f_int64_value(&[])).map_err(|error| error.to_string())?;
    Ok(usize::try_from(total).unwrap_or(0))
}

/// Formats a number with at most four significant digits, without trailing zeros.
pub(crate) fn format_number(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor();
    if !(-4.0..6.0).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// Returns the short dtype name used in summaries, as NumPy and PyTorch users write it.
pub fn dtype_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Uint8 => "u8",
        Kind::Int8 => "i8",
        Kind::Int16 => "i16",
        Kind::Int => "i32",
        Kind::Int64 => "i64",
        Kind::Half => "f16",
        Kind::Float => "f32",
        Kind::Double => "f64",
        Kind::BFloat16 => "bf16",
        Kind::Bool => "bool",
        Kind::ComplexHalf => "c32",
        Kind::ComplexFloat => "c64",
        Kind::ComplexDouble => "c128",
        _ => "other",
    }
}

/// Returns the device name used in summaries: `cpu`, `cuda:0`, `mps` or `vulkan`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(index) => format!("cuda:{index}"),
        Device::Mps => "mps".to_owned(),
        Device::Vulkan => "vulkan".to_owned(),
    }
}

/// Describes `tensor` without its values: `tensor[2, 3] f32 cpu`.
pub fn describe(tensor: &Tensor) -> String {
    format!("tensor{:?} {} {}", tensor.size(), dtype_name(tensor.kind()), device_name(tensor.device()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tensor_lists_elements() {
        let tensor = Tensor::from_slice(&[1.0f32, -2.5, 0.125]);

        assert_eq!(summarize(&tensor), "tensor[3] f32 cpu [1, -2.5, 0.125]");
    }

    #[test]
    fn scalar_shows_value() {
        let tensor = Tensor::from(0.25f64);

        assert_eq!(summarize(&tensor), "tensor[] f64 cpu 0.25");
    }

    #[test]
    fn large_tensor_shows_statistics() {
        let tensor = Tensor::arange(12, (Kind::Float, Device::Cpu)).reshape([3, 4]);

        assert_eq!(summarize(&tensor), "tensor[3, 4] f32 cpu min=0 mean=5.5 max=11");
    }

    #[test]
    fn large_tensor_counts_nan_and_inf() {
        let mut values = vec![1.0f64; 10];
        values[0] = f64::NAN;
        values[1] = f64::INFINITY;
        values[2] = f64::NEG_INFINITY;
        let tensor = Tensor::from_slice(&values);

        assert_eq!(summarize(&tensor), "tensor[10] f64 cpu min=1 mean=1 max=1 nan=1 inf=2");
    }

    #[test]
    fn empty_and_integer_tensors() {
        let empty = Tensor::zeros([0, 3], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[2i64, 0, 1]);

        assert_eq!(summarize(&empty), "tensor[0, 3] f32 cpu empty");
        assert_eq!(summarize(&labels), "tensor[3] i64 cpu [2, 0, 1]");
    }

    #[test]
    fn summary_of_million_elements_is_short() {
        let tensor = Tensor::ones([1000, 1000], (Kind::Float, Device::Cpu));

        assert!(summarize(&tensor).len() < 80);
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        let cases = [(1234.5678, "1235"), (0.012345, "0.01235"), (1e-7, "1.000e-7"), (2.0, "2"), (-0.5, "-0.5")];

        for (value, expected) in cases {
            assert_eq!(format_number(value), expected, "value {value}");
        }
    }
}
