//! Engine settings: the sandbox limits and the number of worker threads.

use std::time::Duration;

/// The limits and size of an [`Engine`](super::Engine).
///
/// The defaults are 64 MiB of memory, 1 s of wall time per call, 1 MiB of stack and one
/// worker thread.
///
/// ```
/// use std::time::Duration;
/// use trace_core::EngineConfig;
///
/// let config = EngineConfig::default()
///     .with_memory_limit(16 << 20)
///     .with_time_limit(Duration::from_millis(200))
///     .with_workers(2);
///
/// assert_eq!(config.memory_limit(), 16 << 20);
/// assert_eq!(config.stack_size(), 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    memory_limit: usize,
    time_limit: Duration,
    stack_size: usize,
    workers: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig { memory_limit: 64 << 20, time_limit: Duration::from_secs(1), stack_size: 1 << 20, workers: 1 }
    }
}

impl EngineConfig {
    /// Sets the most memory, in bytes, that the scripts of one worker may allocate
    /// together, compiled code and globals included. At least 1 MiB.
    pub fn with_memory_limit(mut self, bytes: usize) -> EngineConfig {
        self.memory_limit = bytes.max(1 << 20);
        self
    }

    /// Sets the most wall time one call may run, loading its source included. Time spent
    /// inside a host function counts but cannot be interrupted: the limit is checked again
    /// when the host function returns to JavaScript.
    pub fn with_time_limit(mut self, limit: Duration) -> EngineConfig {
        self.time_limit = limit;
        self
    }

    /// Sets the most stack, in bytes, that JavaScript may use; this bounds recursion. At
    /// least 64 KiB.
    pub fn with_stack_size(mut self, bytes: usize) -> EngineConfig {
        self.stack_size = bytes.max(64 << 10);
        self
    }

    /// Sets the number of worker threads, each with its own QuickJS runtime, that serve
    /// calls in parallel. At least 1.
    pub fn with_workers(mut self, workers: usize) -> EngineConfig {
        self.workers = workers.max(1);
        self
    }

    /// The memory limit per worker, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// The wall-time limit per call.
    pub fn time_limit(&self) -> Duration {
        self.time_limit
    }

    /// The JavaScript stack limit, in bytes.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }
}
