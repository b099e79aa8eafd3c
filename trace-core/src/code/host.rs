//! Host functions: Rust functions that scripts can call as globals, registered explicitly
//! on an engine. Nothing else of the host is reachable from a script.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rquickjs::function::Rest;
use rquickjs::{Ctx, Exception, Function, Value as JsValue};

use super::convert::{from_js_argument, to_js};
use crate::bundle::TypedOperator;
use crate::value::Value;

/// The maximum number of arguments that a typed host function names in its error messages.
const MAX_NAMED_ARGUMENTS: usize = 16;

type HostCallback = dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync;

/// A named Rust function exposed to scripts.
#[derive(Clone)]
pub(crate) struct HostFunction {
    name: Arc<str>,
    callback: Arc<HostCallback>,
}

impl fmt::Debug for HostFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostFunction").field("name", &self.name).finish_non_exhaustive()
    }
}

impl HostFunction {
    /// A host function whose arguments convert from values with
    /// [`FromValue`](crate::FromValue): the same typed closures that
    /// [`Bundle::wrap`](crate::Bundle::wrap) takes.
    pub(crate) fn typed<F, Args>(name: &str, function: F) -> HostFunction
    where
        F: TypedOperator<Args> + Send + Sync + 'static,
    {
        let names: Vec<Box<str>> = (1..=MAX_NAMED_ARGUMENTS).map(|position| format!("#{position}").into()).collect();
        HostFunction { name: name.into(), callback: Arc::new(move |values: &[Value]| function.invoke(&names, values)) }
    }

    /// A host function that takes all arguments as one slice of values.
    pub(crate) fn variadic<F>(name: &str, function: F) -> HostFunction
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        HostFunction { name: name.into(), callback: Arc::new(function) }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Defines the function as a global of `ctx`. A failure or panic of the Rust function
    /// becomes a JavaScript `Error` whose message starts with the function name.
    pub(crate) fn install<'js>(&self, ctx: &Ctx<'js>) -> rquickjs::Result<()> {
        let name = self.name.clone();
        let callback = self.callback.clone();
        let function = Function::new(ctx.clone(), move |ctx: Ctx<'js>, arguments: Rest<JsValue<'js>>| {
            let mut values = Vec::with_capacity(arguments.len());
            for (index, argument) in arguments.iter().enumerate() {
                let value = from_js_argument(argument).map_err(|error| {
                    Exception::throw_type(&ctx, &format!("{name}: argument #{}: {error}", index + 1))
                })?;
                values.push(value);
            }

            let outcome = catch_unwind(AssertUnwindSafe(|| callback(&values)))
                .unwrap_or_else(|_| Err("the host function panicked".to_string()));
            match outcome {
                Ok(value) => {
                    to_js(&ctx, &value).map_err(|error| Exception::throw_message(&ctx, &format!("{name}: {error}")))
                }
                Err(message) => Err(Exception::throw_message(&ctx, &format!("{name}: {message}"))),
            }
        })?
        .with_name(&*self.name)?;
        ctx.globals().set(&*self.name, function)
    }
}
