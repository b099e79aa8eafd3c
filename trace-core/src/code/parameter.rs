//! Code parameters: trainable nodes whose value is the source of one JavaScript function,
//! and the projection that keeps an update's name and signature.

use crate::error::{Error, Result};
use crate::node::{Node, Parameter};
use crate::optimizer::Projection;
use crate::value::Value;

use super::engine::Engine;
use super::signature::FunctionSignature;

/// The key base of code parameters: their keys are `__code0`, `__code1`, and so on.
pub const CODE_KEY_BASE: &str = "__code";

/// Creates a trainable code parameter from the source of one JavaScript function. Its
/// constraint records the function's name and signature, which updates must keep.
///
/// ```
/// use trace_core::code_parameter;
///
/// let code = code_parameter("function extract(answer, question) { return answer.trim(); }")?;
///
/// assert!(code.key().starts_with("__code"));
/// assert_eq!(
///     code.constraint().as_deref(),
///     Some("The function must keep the name and signature: function extract(answer, question)")
/// );
/// # Ok::<(), trace_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidCode`] when `source` is not exactly one top-level function declaration.
pub fn code_parameter(source: impl Into<String>) -> Result<Node> {
    let source = source.into();
    let signature = parse_for(&source, "source")?;
    let description = format!("The JavaScript function `{}`, run in a sandbox", signature.name());
    Ok(code_parameter_with(source, &signature, description))
}

/// Like [`code_parameter`], with a description shown to optimizers.
///
/// # Errors
///
/// [`Error::InvalidCode`] when `source` is not exactly one top-level function declaration.
pub fn code_parameter_with_description(source: impl Into<String>, description: impl Into<String>) -> Result<Node> {
    let source = source.into();
    let signature = parse_for(&source, "source")?;
    Ok(code_parameter_with(source, &signature, description.into()))
}

fn code_parameter_with(source: String, signature: &FunctionSignature, description: String) -> Node {
    Parameter::new(CODE_KEY_BASE, Value::Code(source))
        .description(description)
        .constraint(signature_constraint(signature))
        .build()
}

/// Formats the constraint text recorded on a code parameter.
pub fn signature_constraint(signature: &FunctionSignature) -> String {
    format!("The function must keep the name and signature: {signature}")
}

pub(crate) fn parse_for(source: &str, node: &str) -> Result<FunctionSignature> {
    FunctionSignature::parse(source).map_err(|reason| Error::InvalidCode { node: node.to_string(), reason })
}

/// A [`Projection`] for code parameters. It rejects new source that does not parse as one
/// function declaration, or whose function name, parameter list or `async` marker differs
/// from the current value's, with a reason that states what changed. See
/// [`CheckedCodeProjection`] for one that also rejects syntax errors.
///
/// ```
/// use std::sync::Arc;
/// use trace_core::{CodeProjection, ParameterSet, Proposal, Value, code_parameter};
///
/// let code = code_parameter("function f(x) { return x + 1; }")?;
/// let mut set = ParameterSet::new(vec![code.clone()]);
/// set.add_projection(&code, Arc::new(CodeProjection));
///
/// let renamed = Value::Code("function g(x) { return x * 2; }".into());
/// let report = set.apply(&Proposal { updates: vec![(code.clone(), renamed)], ..Proposal::default() });
///
/// assert!(report.rejected[0].reason.starts_with("the function was renamed from `f` to `g`"));
/// # Ok::<(), trace_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CodeProjection;

impl CodeProjection {
    /// Creates a projection that checks like this one and also loads each new source into
    /// `engine`, rejecting source with a syntax error.
    pub fn with_syntax_check(engine: &Engine) -> CheckedCodeProjection {
        CheckedCodeProjection { engine: engine.clone() }
    }
}

impl Projection for CodeProjection {
    fn project(&self, node: &Node, value: Value) -> Result<Value, String> {
        let Value::Code(source) = value else {
            return Err(format!("expected JavaScript source of type `code`, found `{}`", value.type_tag()));
        };
        let current = node.value_untracked();
        let kept = current.as_str().and_then(|current| FunctionSignature::parse(current).ok());
        let proposed = FunctionSignature::parse(&source);

        let Some(kept) = kept else {
            // With no valid current signature there is nothing to keep, but the new
            // source must still parse.
            return proposed
                .map(|_| Value::Code(source))
                .map_err(|reason| format!("the new source does not parse: {reason}"));
        };
        let proposed = proposed.map_err(|reason| {
            format!("the new source does not parse: {reason}; it must be one declaration of `{kept}` and nothing else")
        })?;

        if proposed.name() != kept.name() {
            return Err(format!(
                "the function was renamed from `{}` to `{}`; the name and signature must stay `{kept}`",
                kept.name(),
                proposed.name()
            ));
        }
        if proposed.parameters() != kept.parameters() {
            return Err(format!(
                "the parameters changed from `({})` to `({})`; the name and signature must stay `{kept}`",
                kept.parameters().join(", "),
                proposed.parameters().join(", ")
            ));
        }
        if proposed.is_async() != kept.is_async() {
            let change = if kept.is_async() { "is no longer `async`" } else { "became `async`" };
            return Err(format!("the function {change}; the name and signature must stay `{kept}`"));
        }
        Ok(Value::Code(source))
    }
}

/// A [`CodeProjection`] that also loads each new source into an engine and rejects it,
/// with the engine's annotated error, when it has a syntax error. Loading runs no code
/// besides the declaration, and the engine keeps the loaded source for the next call.
/// Build it with [`CodeProjection::with_syntax_check`].
#[derive(Clone, Debug)]
pub struct CheckedCodeProjection {
    engine: Engine,
}

impl Projection for CheckedCodeProjection {
    fn project(&self, node: &Node, value: Value) -> Result<Value, String> {
        let value = CodeProjection.project(node, value)?;
        let source = value.as_str().unwrap_or_default();
        self.engine.check(node.key(), source).map_err(|text| format!("the new source failed to load: {text}"))?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(current: &str, proposed: &str) -> Result<Value, String> {
        let code = code_parameter(current).unwrap();
        CodeProjection.project(&code, Value::Code(proposed.to_string()))
    }

    #[test]
    fn code_parameter_records_signature() {
        let code = code_parameter("function add(a, b) { return a + b; }").unwrap();

        assert!(code.key().starts_with("__code"), "{}", code.key());
        assert!(code.is_trainable());
        assert_eq!(code.value(), Value::Code("function add(a, b) { return a + b; }".to_string()));
        assert_eq!(
            code.constraint().as_deref(),
            Some("The function must keep the name and signature: function add(a, b)")
        );
        assert_eq!(code.description(), "[parameter] The JavaScript function `add`, run in a sandbox");
    }

    #[test]
    fn code_parameter_rejects_other_source() {
        let error = code_parameter("let x = 1;").unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid code for node `source`: line 1: expected the source to start with a function declaration `function name(...) { ... }`, found `let`"
        );
    }

    #[test]
    fn projection_accepts_same_signature() {
        let body_changed = project("function f(x) { return x + 1; }", "function f( x ) {\n  return x * 2;\n}");

        assert_eq!(body_changed, Ok(Value::Code("function f( x ) {\n  return x * 2;\n}".to_string())));
    }

    #[test]
    fn projection_rejects_changed_signatures() {
        let current = "function f(x) { return x + 1; }";

        assert_eq!(
            project(current, "function g(x) { return x; }"),
            Err("the function was renamed from `f` to `g`; the name and signature must stay `function f(x)`"
                .to_string())
        );
        assert_eq!(
            project(current, "function f(x, y) { return x; }"),
            Err("the parameters changed from `(x)` to `(x, y)`; the name and signature must stay `function f(x)`"
                .to_string())
        );
        assert_eq!(
            project(current, "async function f(x) { return x; }"),
            Err("the function became `async`; the name and signature must stay `function f(x)`".to_string())
        );
        assert_eq!(
            project(current, "function f(x) { return x; }\nf(2);"),
            Err("the new source does not parse: line 2: found `f` after the function `f`; the source must contain exactly one top-level function declaration, so move other code inside it; it must be one declaration of `function f(x)` and nothing else".to_string())
        );
        assert_eq!(
            project(current, "function f(x) { return x;"),
            Err("the new source does not parse: line 1: `{`, `(` or `[` opened here in the body of `f` is never closed; it must be one declaration of `function f(x)` and nothing else".to_string())
        );
    }

    #[test]
    fn syntax_check_rejects_syntax_errors() {
        let engine = Engine::new().unwrap();
        let code = code_parameter("function f(x) { return x + 1; }").unwrap();
        let projection = CodeProjection::with_syntax_check(&engine);

        let broken = projection.project(&code, Value::Code("function f(x) {\n  return x +;\n}".to_string()));
        let fine = projection.project(&code, Value::Code("function f(x) {\n  return x * 2;\n}".to_string()));

        let reason = broken.unwrap_err();
        assert!(
            reason.starts_with(
                "the new source failed to load: SyntaxError: unexpected token in expression: ';' (line 2,"
            ),
            "{reason}"
        );
        assert!(reason.contains(">> 2 |   return x +;"), "{reason}");
        assert!(fine.is_ok(), "{fine:?}");
    }

    #[test]
    fn projection_rejects_text() {
        let code = code_parameter("function f(x) { return x; }").unwrap();

        let error = CodeProjection.project(&code, Value::from("function f(x) { return 1; }")).unwrap_err();

        assert_eq!(error, "expected JavaScript source of type `code`, found `str`");
    }
}
