//! The engine: a small pool of worker threads, each with its own QuickJS runtime, shared
//! by every caller through a cheap, cloneable, `Send + Sync` handle.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::config::EngineConfig;
use super::host::HostFunction;
use super::reply::{self, Reply, Responder};
use super::signature::FunctionSignature;
use super::worker::{self, CallRequest, Job};
use crate::bundle::TypedOperator;
use crate::error::{Error, Result};
use crate::value::Value;

/// Native stack that a worker thread has beyond the JavaScript stack limit, for the
/// interpreter's own frames and the Rust code around it.
const THREAD_STACK_MARGIN: usize = 4 << 20;

/// A sandboxed JavaScript engine: QuickJS runtimes on worker threads, with memory, time
/// and stack limits, and no access to files, network or processes.
///
/// Clones share the workers, and the workers stop when the last clone is dropped. Calls
/// from any thread or task go to the worker with the fewest calls in flight; one worker
/// runs one call at a time.
///
/// ```
/// use trace_core::{Engine, Value};
///
/// let engine = Engine::new()?;
/// engine.register("double", |x: i64| x * 2)?;
///
/// let result = engine.run("function f(x) { return double(x) + 1; }", vec![Value::Int(20)]);
///
/// assert_eq!(result, Ok(Value::Int(41)));
/// # Ok::<(), trace_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    config: EngineConfig,
    workers: Vec<WorkerHandle>,
}

struct WorkerHandle {
    jobs: mpsc::Sender<Job>,
    in_flight: Arc<AtomicUsize>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts an engine with the default [`EngineConfig`].
    ///
    /// # Errors
    ///
    /// [`Error::EngineStart`] when a worker thread or runtime cannot be created.
    pub fn new() -> Result<Engine> {
        Engine::with_config(EngineConfig::default())
    }

    /// Starts an engine with `config`.
    ///
    /// # Errors
    ///
    /// [`Error::EngineStart`] when a worker thread or runtime cannot be created.
    pub fn with_config(config: EngineConfig) -> Result<Engine> {
        let mut workers = Vec::with_capacity(config.workers());
        for index in 0..config.workers() {
            workers.push(start_worker(index, &config)?);
        }
        tracing::debug!(workers = config.workers(), memory_limit = config.memory_limit(), "started JavaScript engine");
        Ok(Engine { inner: Arc::new(EngineInner { config, workers }) })
    }

    /// The configuration the engine was started with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Exposes a Rust function to scripts as the global `name`. Its arguments convert from
    /// the JavaScript arguments with [`FromValue`](crate::FromValue), as for
    /// [`Bundle::wrap`](crate::Bundle::wrap). It may return a value or a `Result`. An `Err`
    /// is thrown in JavaScript as an `Error` whose message starts with `name`. A function
    /// registered under an existing name replaces it.
    ///
    /// Calls queued after this one get the new function. A host function that blocks
    /// (on an LLM call, say) blocks only its worker thread, and the time limit interrupts
    /// the script only after the host function returns. A host function must not call
    /// the engine it is registered on: when every worker runs a script that calls it, it
    /// waits for a worker forever. Give such a callback an engine of its own.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHostFunction`] when `name` is not a JavaScript identifier.
    pub fn register<F, Args>(&self, name: &str, function: F) -> Result<()>
    where
        F: TypedOperator<Args> + Send + Sync + 'static,
    {
        self.register_host(HostFunction::typed(check_host_name(name)?, function))
    }

    /// Exposes a Rust function that takes any number of arguments as one slice of values.
    /// See [`Engine::register`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHostFunction`] when `name` is not a JavaScript identifier.
    pub fn register_variadic<F>(&self, name: &str, function: F) -> Result<()>
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.register_host(HostFunction::variadic(check_host_name(name)?, function))
    }

    fn register_host(&self, host: HostFunction) -> Result<()> {
        for worker in &self.inner.workers {
            worker.jobs.send(Job::Register(host.clone())).map_err(|_| Error::EngineStopped)?;
        }
        Ok(())
    }

    /// Calls the one function declared in `source` with `arguments`, untraced, and blocks
    /// until it returns. Stack frames name the source `code`.
    ///
    /// # Errors
    ///
    /// The feedback text of the failure: the source with the failing line marked and the
    /// error message, or the limit that was exceeded.
    pub fn run(&self, source: &str, arguments: Vec<Value>) -> Result<Value, String> {
        let request = untraced_request(source, arguments)?;
        self.submit(request).wait()
    }

    /// Like [`Engine::run`], but awaits the result without blocking the caller's thread.
    ///
    /// # Errors
    ///
    /// As for [`Engine::run`].
    pub async fn run_async(&self, source: &str, arguments: Vec<Value>) -> Result<Value, String> {
        let request = untraced_request(source, arguments)?;
        self.submit(request).await
    }

    /// Loads `source` into a sandbox context without calling its function, which reports
    /// syntax errors the way a call would. Stack frames name the source `filename`. The
    /// loaded context is kept for the next calls of the same source.
    ///
    /// # Errors
    ///
    /// The feedback text of the failure, as for [`Engine::run`].
    pub fn check(&self, filename: &str, source: &str) -> Result<(), String> {
        let signature = FunctionSignature::parse(source)?;
        let request = CallRequest {
            filename: filename.to_string(),
            source: source.to_string(),
            function: signature.name().to_string(),
            arguments: Vec::new(),
        };
        self.dispatch(|responder| Job::Load(request, responder)).wait().map(|_| ())
    }

    /// Sends a call to the least busy worker.
    pub(crate) fn submit(&self, request: CallRequest) -> Reply {
        self.dispatch(|responder| Job::Call(request, responder))
    }

    fn dispatch(&self, job: impl FnOnce(Responder) -> Job) -> Reply {
        let (responder, reply) = reply::channel();
        let least_busy = self.inner.workers.iter().min_by_key(|worker| worker.in_flight.load(Ordering::Relaxed));
        // A responder that is dropped unsent fills the reply with an error, so a stopped
        // worker cannot leave the caller waiting.
        if let Some(worker) = least_busy {
            worker.in_flight.fetch_add(1, Ordering::Relaxed);
            if worker.jobs.send(job(responder)).is_err() {
                worker.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        }
        reply
    }
}

fn untraced_request(source: &str, arguments: Vec<Value>) -> Result<CallRequest, String> {
    let signature = FunctionSignature::parse(source)?;
    Ok(CallRequest {
        filename: "code".to_string(),
        source: source.to_string(),
        function: signature.name().to_string(),
        arguments,
    })
}

fn start_worker(index: usize, config: &EngineConfig) -> Result<WorkerHandle> {
    let (jobs, receiver) = mpsc::channel();
    let (ready_sender, ready) = mpsc::sync_channel(1);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let worker_config = config.clone();
    let worker_in_flight = in_flight.clone();

    std::thread::Builder::new()
        .name(format!("quickjs-{index}"))
        .stack_size(config.stack_size() + THREAD_STACK_MARGIN)
        .spawn(move || worker::run(worker_config, receiver, worker_in_flight, ready_sender))
        .map_err(|error| Error::EngineStart { reason: format!("failed to spawn worker thread {index}: {error}") })?;

    match ready.recv() {
        Ok(Ok(())) => Ok(WorkerHandle { jobs, in_flight }),
        Ok(Err(reason)) => Err(Error::EngineStart { reason }),
        Err(_) => Err(Error::EngineStart { reason: format!("worker thread {index} stopped while starting") }),
    }
}

fn check_host_name(name: &str) -> Result<&str> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c == '_' || c == '$' || c.is_alphabetic());
    if starts_well && chars.all(|c| c == '_' || c == '$' || c.is_alphanumeric()) {
        return Ok(name);
    }
    Err(Error::InvalidHostFunction {
        name: name.to_string(),
        reason: "the name must be a JavaScript identifier, such as `shoot` or `ask_llm`".to_string(),
    })
}
