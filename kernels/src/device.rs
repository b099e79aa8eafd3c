//! The choice of the device that tensors live on.

use crate::{Error, Result};
use tch::{Cuda, Device};

/// The device choice for new tensors: the CPU unless a GPU is requested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DevicePreference {
    /// The CPU, always available.
    #[default]
    Cpu,
    /// The first CUDA device when libtorch reports one, else the CPU.
    CudaIfAvailable,
    /// The CUDA device with this index, or an error when libtorch does not report it.
    Cuda(usize),
}

impl DevicePreference {
    /// Resolves the preference to a `tch` device.
    ///
    /// # Errors
    ///
    /// [`Error::CudaUnavailable`] for [`DevicePreference::Cuda`] when libtorch reports no CUDA
    /// device with that index, which is always the case with a CPU-only libtorch.
    ///
    /// # Example
    ///
    /// ```
    /// use kernels::device::DevicePreference;
    /// use kernels::tch::{Kind, Tensor};
    ///
    /// let device = DevicePreference::Cpu.resolve()?;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).to_device(device);
    /// assert_eq!(x.sum(Kind::Float).double_value(&[]), 6.0);
    /// # Ok::<(), kernels::Error>(())
    /// ```
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::CudaIfAvailable => Ok(Device::cuda_if_available()),
            Self::Cuda(index) => {
                let available = usize::try_from(Cuda::device_count()).unwrap_or(0);
                if index < available {
                    Ok(Device::Cuda(index))
                } else {
                    Err(Error::CudaUnavailable { index, available })
                }
            }
        }
    }
}

impl std::str::FromStr for DevicePreference {
    type Err = Error;

    /// Parses `cpu`, `auto` (CUDA when available), `cuda` (device 0) or `cuda:N`, the
    /// spellings of a command-line option or an environment variable.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "cpu" => Ok(Self::Cpu),
            "auto" => Ok(Self::CudaIfAvailable),
            "cuda" => Ok(Self::Cuda(0)),
            _ => text.strip_prefix("cuda:").and_then(|index| index.parse().ok()).map(Self::Cuda).ok_or(
                Error::InvalidSetting { name: "device", value: text.clone(), expected: "cpu, auto, cuda or cuda:N" },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_parse() {
        let cases = [
            ("cpu", DevicePreference::Cpu),
            ("auto", DevicePreference::CudaIfAvailable),
            ("CUDA", DevicePreference::Cuda(0)),
            ("cuda:3", DevicePreference::Cuda(3)),
        ];

        for (text, expected) in cases {
            assert_eq!(text.parse::<DevicePreference>().ok(), Some(expected), "{text}");
        }
        assert!(matches!("gpu".parse::<DevicePreference>(), Err(Error::InvalidSetting { name: "device", .. })));
    }

    #[test]
    fn cpu_resolves_to_cpu() {
        assert_eq!(DevicePreference::Cpu.resolve().ok(), Some(Device::Cpu));
    }

    #[test]
    fn missing_cuda_index_is_error() {
        let index = usize::try_from(Cuda::device_count()).unwrap_or(0);

        let result = DevicePreference::Cuda(index).resolve();

        assert!(matches!(result, Err(Error::CudaUnavailable { index: i, .. }) if i == index));
    }

    #[test]
    fn cuda_if_available_matches_libtorch() {
        let expected = if Cuda::is_available() { Device::Cuda(0) } else { Device::Cpu };

        assert_eq!(DevicePreference::CudaIfAvailable.resolve().ok(), Some(expected));
    }
}
