//! One engine worker: a thread that owns a QuickJS runtime and runs the calls sent to it.
//!
//! A QuickJS runtime must stay on one thread (`rquickjs::Runtime` is not `Send` without
//! the crate's `parallel` feature), so each worker creates its runtime on its own thread
//! and receives jobs through a channel.
//!
//! Each distinct source gets its own context (its own global object), created when the
//! source is first called and kept for the next calls of that source, up to
//! [`MAX_CACHED_CONTEXTS`]. A context in which a limit was exceeded is dropped (all of
//! them, for the memory limit), so that memory a script kept in its globals is released.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

use rquickjs::context::{EvalOptions, intrinsic};
use rquickjs::function::Args;
use rquickjs::promise::PromiseState;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Runtime, Value as JsValue};

use super::annotate::{ScriptError, annotate, render_source};
use super::config::EngineConfig;
use super::convert::{from_js, to_js};
use super::host::HostFunction;
use super::reply::Responder;
use crate::value::Value;

/// Contexts kept per worker; the least recently used one is dropped first.
const MAX_CACHED_CONTEXTS: usize = 16;

/// The built-in objects of a script's global scope: the ECMAScript standard library
/// without `performance`, and no host objects at all (no `console`, `std`, `os`,
/// `require`, `fetch` or module loader). `Eval` is needed to load any source.
type Intrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::Proxy,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
    intrinsic::WeakRef,
);

/// A call of one function of one source.
#[derive(Debug)]
pub(crate) struct CallRequest {
    /// The name under which the source appears in stack frames: the code parameter's key.
    pub(crate) filename: String,
    pub(crate) source: String,
    pub(crate) function: String,
    pub(crate) arguments: Vec<Value>,
}

/// Work for a worker.
pub(crate) enum Job {
    Call(CallRequest, Responder),
    /// Loads the source of the request into a context without calling its function.
    Load(CallRequest, Responder),
    Register(HostFunction),
}

/// A limit that a call exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Time,
    Memory,
    /// The script threw `null` or `undefined`, which is also what QuickJS reports when it
    /// runs out of memory while creating the error object of an allocation failure.
    MemoryOrNullThrown,
    Stack,
}

/// The reason a call failed, before it is rendered as text.
enum Failure {
    Script(ScriptError),
    Limit(Limit, Option<ScriptError>),
    /// A failure that the source's text does not explain, such as a bad argument.
    Call(String),
    /// A failure about the source as a whole, shown with the source.
    Source(String),
}

/// Runs the worker loop on the current thread until every sender is dropped. `ready`
/// receives whether the runtime started; `in_flight` counts the calls sent to this worker
/// that have no reply yet.
pub(crate) fn run(
    config: EngineConfig,
    jobs: Receiver<Job>,
    in_flight: Arc<AtomicUsize>,
    ready: SyncSender<Result<(), String>>,
) {
    let mut worker = match Worker::new(config) {
        Ok(worker) => {
            let _ = ready.send(Ok(()));
            worker
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    drop(ready);

    while let Ok(job) = jobs.recv() {
        match job {
            Job::Call(request, responder) => {
                let outcome = catch_unwind(AssertUnwindSafe(|| worker.call(&request)))
                    .unwrap_or_else(|_| Err("the JavaScript engine panicked while running the call".to_string()));
                in_flight.fetch_sub(1, Ordering::Relaxed);
                responder.send(outcome);
            }
            Job::Load(request, responder) => {
                let outcome = catch_unwind(AssertUnwindSafe(|| worker.load(&request)))
                    .unwrap_or_else(|_| Err("the JavaScript engine panicked while loading the source".to_string()));
                in_flight.fetch_sub(1, Ordering::Relaxed);
                responder.send(outcome);
            }
            Job::Register(host) => worker.register(host),
        }
    }
}

struct CachedContext {
    filename: String,
    source: String,
    context: Context,
}

struct Worker {
    runtime: Runtime,
    config: EngineConfig,
    hosts: Vec<HostFunction>,
    /// Most recently used last.
    contexts: Vec<CachedContext>,
    deadline: Rc<Cell<Option<Instant>>>,
    interrupted: Rc<Cell<bool>>,
}

impl Worker {
    fn new(config: EngineConfig) -> Result<Worker, String> {
        let runtime = Runtime::new().map_err(|error| format!("failed to create a QuickJS runtime: {error}"))?;
        runtime.set_memory_limit(config.memory_limit());
        runtime.set_max_stack_size(config.stack_size());

        let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let interrupted = Rc::new(Cell::new(false));
        let handler_deadline = deadline.clone();
        let handler_interrupted = interrupted.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let expired = handler_deadline.get().is_some_and(|deadline| Instant::now() >= deadline);
            if expired {
                handler_interrupted.set(true);
            }
            expired
        })));

        Ok(Worker { runtime, config, hosts: Vec::new(), contexts: Vec::new(), deadline, interrupted })
    }

    /// Adds or replaces a host function. Cached contexts are dropped, so that every later
    /// call gets the same globals.
    fn register(&mut self, host: HostFunction) {
        self.hosts.retain(|existing| existing.name() != host.name());
        self.hosts.push(host);
        self.contexts.clear();
    }

    fn call(&mut self, request: &CallRequest) -> Result<Value, String> {
        self.with_limits(request, Worker::call_in_context)
    }

    fn load(&mut self, request: &CallRequest) -> Result<Value, String> {
        self.with_limits(request, |worker, request| worker.context_for(request).map(|_| Value::Null))
    }

    /// Runs `action` under the time limit and renders its failure. After an exceeded limit
    /// the request's context (every context, for the memory limit) is dropped and garbage
    /// is collected, so that the memory those contexts kept is released for the next call.
    fn with_limits(
        &mut self,
        request: &CallRequest,
        action: impl FnOnce(&mut Worker, &CallRequest) -> Result<Value, Failure>,
    ) -> Result<Value, String> {
        self.interrupted.set(false);
        self.deadline.set(Some(Instant::now() + self.config.time_limit()));
        let outcome = action(self, request);
        self.deadline.set(None);

        outcome.map_err(|failure| {
            if let Failure::Limit(limit, _) = &failure {
                tracing::debug!(filename = %request.filename, limit = ?limit, "script exceeded a limit");
                match limit {
                    // Other sources' globals may be what fills the memory, so all go.
                    Limit::Memory | Limit::MemoryOrNullThrown => self.contexts.clear(),
                    Limit::Time | Limit::Stack => self
                        .contexts
                        .retain(|cached| cached.filename != request.filename || cached.source != request.source),
                }
                self.runtime.run_gc();
            }
            self.render_failure(request, failure)
        })
    }

    fn call_in_context(&mut self, request: &CallRequest) -> Result<Value, Failure> {
        let context = self.context_for(request)?;
        context.with(|ctx| {
            let function: JsValue<'_> = ctx.globals().get(request.function.as_str()).map_err(|error| {
                Failure::Source(format!("failed to read the global `{}`: {error}", request.function))
            })?;
            let Some(function) = function.into_function() else {
                return Err(Failure::Source(format!(
                    "the source does not define a function named `{}`",
                    request.function
                )));
            };

            let mut arguments = Args::new(ctx.clone(), request.arguments.len());
            for (index, value) in request.arguments.iter().enumerate() {
                let argument =
                    to_js(&ctx, value).map_err(|error| Failure::Call(format!("argument {}: {error}", index + 1)))?;
                arguments
                    .push_arg(argument)
                    .map_err(|error| Failure::Call(format!("argument {}: {error}", index + 1)))?;
            }

            let result = arguments.apply::<JsValue<'_>>(&function).catch(&ctx).map_err(|error| self.classify(error))?;
            let result = self.settle(&ctx, &request.function, result)?;
            from_js(&result).map_err(Failure::Call)
        })
    }

    /// Returns the context for the request's source, loading the source into a new one
    /// when no cached context has it.
    fn context_for(&mut self, request: &CallRequest) -> Result<Context, Failure> {
        let cached = self
            .contexts
            .iter()
            .position(|cached| cached.filename == request.filename && cached.source == request.source);
        if let Some(position) = cached {
            let entry = self.contexts.remove(position);
            let context = entry.context.clone();
            self.contexts.push(entry);
            return Ok(context);
        }

        let context = Context::custom::<Intrinsics>(&self.runtime)
            .map_err(|error| Failure::Call(format!("failed to create a JavaScript context: {error}")))?;
        context.with(|ctx| {
            for host in &self.hosts {
                host.install(&ctx).map_err(|error| {
                    Failure::Call(format!("failed to define the host function `{}`: {error}", host.name()))
                })?;
            }
            let mut options = EvalOptions::default();
            options.filename = Some(request.filename.clone());
            ctx.eval_with_options::<(), _>(request.source.as_str(), options)
                .catch(&ctx)
                .map_err(|error| self.classify(error))
        })?;

        if self.contexts.len() >= MAX_CACHED_CONTEXTS {
            self.contexts.remove(0);
        }
        self.contexts.push(CachedContext {
            filename: request.filename.clone(),
            source: request.source.clone(),
            context: context.clone(),
        });
        Ok(context)
    }

    /// Waits for a returned Promise by running pending jobs; other values pass through.
    fn settle<'js>(&self, ctx: &Ctx<'js>, function: &str, result: JsValue<'js>) -> Result<JsValue<'js>, Failure> {
        let Some(promise) = result.as_promise().cloned() else { return Ok(result) };
        loop {
            match promise.state() {
                PromiseState::Pending => {
                    if !ctx.execute_pending_job() {
                        if self.interrupted.get() {
                            return Err(Failure::Limit(Limit::Time, None));
                        }
                        return Err(Failure::Call(format!(
                            "the Promise returned by `{function}` never settled: nothing is left that could resolve it"
                        )));
                    }
                }
                PromiseState::Resolved | PromiseState::Rejected => {
                    return promise
                        .result::<JsValue<'js>>()
                        .unwrap_or_else(|| Ok(JsValue::new_undefined(ctx.clone())))
                        .catch(ctx)
                        .map_err(|error| self.classify(error));
                }
            }
        }
    }

    /// Tells a limit that was exceeded apart from an ordinary script error.
    fn classify(&self, error: CaughtError<'_>) -> Failure {
        let script_error = script_error(error);
        if self.interrupted.get() {
            return Failure::Limit(Limit::Time, script_error);
        }
        let Some(script_error) = script_error else {
            return Failure::Limit(Limit::MemoryOrNullThrown, None);
        };
        // NOTE: these are the messages of QuickJS-ng as bundled with rquickjs 0.14; another
        // QuickJS version may word them differently and make a limit read as a plain error.
        let limit = match (script_error.name.as_str(), script_error.message.as_str()) {
            ("InternalError", "out of memory") => Some(Limit::Memory),
            ("RangeError", "Maximum call stack size exceeded") | ("InternalError", "stack overflow") => {
                Some(Limit::Stack)
            }
            _ => None,
        };
        match limit {
            Some(limit) => Failure::Limit(limit, Some(script_error)),
            None => Failure::Script(script_error),
        }
    }

    fn render_failure(&self, request: &CallRequest, failure: Failure) -> String {
        let (filename, source) = (request.filename.as_str(), request.source.as_str());
        match failure {
            Failure::Script(error) => annotate(source, filename, &error),
            Failure::Limit(limit, error) => {
                let mut text = self.limit_message(limit);
                text.push('\n');
                match (limit, error) {
                    // The innermost frame of an interrupted call points at the start of the
                    // running function, not at the statement that was running, so no line
                    // is marked.
                    (Limit::Time, Some(ScriptError { stack: Some(stack), .. })) => {
                        text.push_str(&render_source(source, None));
                        text.push_str("JavaScript stack when the call was stopped (the first frame is the start of the running function):\n");
                        text.push_str(stack.trim_end());
                        text.push('\n');
                    }
                    (_, Some(error)) => text.push_str(&annotate(source, filename, &error)),
                    (_, None) => text.push_str(&render_source(source, None)),
                }
                text
            }
            Failure::Call(message) => message,
            Failure::Source(message) => format!("{message}\n{}", render_source(source, None)),
        }
    }

    fn limit_message(&self, limit: Limit) -> String {
        match limit {
            Limit::Time => format!(
                "time limit exceeded: the call ran longer than the limit of {} ms and was stopped; make the code finish sooner, for example by bounding its loops",
                self.config.time_limit().as_millis()
            ),
            Limit::Memory => format!(
                "memory limit exceeded: the script needed more than the limit of {} of memory; allocate less, for example by not growing arrays or strings without bound",
                format_bytes(self.config.memory_limit())
            ),
            Limit::MemoryOrNullThrown => format!(
                "memory limit exceeded, or `null` thrown: the script threw no error object, which is what happens when it needs more than the limit of {} of memory (unless it throws `null` or `undefined` itself); allocate less, for example by not growing arrays or strings without bound",
                format_bytes(self.config.memory_limit())
            ),
            Limit::Stack => format!(
                "stack size limit exceeded: the script used more than the limit of {} of stack; make the recursion shallower or use a loop",
                format_bytes(self.config.stack_size())
            ),
        }
    }
}

/// Splits a caught error into name, message and stack. Returns `None` for a thrown `null`
/// or `undefined`.
fn script_error(error: CaughtError<'_>) -> Option<ScriptError> {
    match error {
        CaughtError::Exception(exception) => {
            let name = exception.get::<_, String>("name").unwrap_or_else(|_| "Error".to_string());
            let message = exception.message().unwrap_or_default();
            Some(ScriptError { name, message, stack: exception.stack() })
        }
        CaughtError::Value(value) if value.is_null() || value.is_undefined() => None,
        CaughtError::Value(value) => {
            let message = match value.as_string().map(rquickjs::String::to_string) {
                Some(Ok(text)) => text,
                _ => from_js(&value)
                    .map_or_else(|_| format!("a value of type {}", value.type_name()), |value| value.render()),
            };
            Some(ScriptError { name: "Uncaught exception".to_string(), message, stack: None })
        }
        CaughtError::Error(error) => {
            Some(ScriptError { name: "InternalError".to_string(), message: error.to_string(), stack: None })
        }
    }
}

fn format_bytes(bytes: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}
