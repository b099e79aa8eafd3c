//! Node values: a JSON-like enum plus code and values defined in other crates.

mod convert;
mod ops;

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use convert::{FromValue, TypeError};
pub use ops::{BinaryOp, CompareOp};

use crate::node::Node;

/// The value held by a node.
///
/// Besides the JSON types it has [`Value::Code`], the source of a trainable function, and
/// [`Value::Ext`], the extension point through which other crates put their own values
/// (tensors, for example) into the graph.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// No value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Text(String),
    /// An ordered list.
    List(Vec<Value>),
    /// A map with string keys, kept in key order so that renders are deterministic.
    Map(BTreeMap<String, Value>),
    /// The source code of a trainable function.
    Code(String),
    /// A value defined in another crate.
    Ext(Arc<dyn ExtValue>),
}

/// A value type defined outside this crate, such as a tensor.
///
/// Implementors decide how the value looks in a prompt and may take part in arithmetic and in
/// backward. Downcast with [`Value::downcast_ext`].
pub trait ExtValue: Any + fmt::Debug + Send + Sync {
    /// The type tag shown in prompts, for example `tensor`.
    fn type_tag(&self) -> &str;

    /// A short rendering for prompts; it should summarize large data rather than print it.
    fn render(&self) -> String;

    /// The value as JSON, if it has a JSON form. Parameters without one cannot be saved.
    fn to_json(&self) -> Option<serde_json::Value> {
        None
    }

    /// A value of this type rebuilt from `json`, as written by [`ExtValue::to_json`], so
    /// that saved parameters of this type can be loaded. `None` means loading is not
    /// supported; an `Err` explains why `json` does not fit.
    fn load_json(&self, _json: &serde_json::Value) -> Option<Result<Value, String>> {
        None
    }

    /// Equality with another extension value; by default two values are equal only when
    /// they are the same allocation.
    fn equals(&self, _other: &dyn ExtValue) -> bool {
        false
    }

    /// Applies a binary operator where this value is an operand. `self_on_left` is true
    /// when `self` is the left operand. Returns `None` when the operator is not
    /// supported, which the caller reports as a type error.
    fn binary(&self, _op: BinaryOp, _other: &Value, _self_on_left: bool) -> Option<Result<Value, String>> {
        None
    }

    /// A copy of this value cut off from any history it records (a tensor's autograd tape,
    /// for example). `None` means the value has no history and can be shared as it is.
    fn detached(&self) -> Option<Arc<dyn ExtValue>> {
        None
    }

    /// Runs this value's own backward when it is the feedback at an output, and returns text
    /// feedback for the symbolic parameters upstream.
    ///
    /// A scalar loss tensor, for example, runs autograd and reports the loss and the gradient
    /// norms of the tensor parameters among `graph`, the nodes that backward reaches. The
    /// default returns `Ok(None)`: the value is then rendered as plain feedback.
    fn backward_as_feedback(&self, _graph: &[Node]) -> Result<Option<String>, String> {
        Ok(None)
    }
}

impl Value {
    /// The type tag shown in prompts: `null`, `bool`, `int`, `float`, `str`, `list`, `dict`,
    /// `code`, or the extension value's own tag.
    pub fn type_tag(&self) -> &str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "str",
            Value::List(_) => "list",
            Value::Map(_) => "dict",
            Value::Code(_) => "code",
            Value::Ext(ext) => ext.type_tag(),
        }
    }

    /// Renders the value for a prompt: strings and code as they are, containers as JSON.
    ///
    /// ```
    /// use trace_core::Value;
    ///
    /// assert_eq!(Value::from("hello").render(), "hello");
    /// assert_eq!(Value::from(2.0).render(), "2.0");
    /// assert_eq!(Value::from(vec![Value::from(1), Value::from("a")]).render(), r#"[1, "a"]"#);
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        match self {
            Value::Text(text) | Value::Code(text) => out.push_str(text),
            other => render_nested(other, &mut out),
        }
        out
    }

    /// Renders the value with its type tag and key, the form optimizer prompts use:
    /// `(str) prompt0=Answer briefly.`
    pub fn render_tagged(&self, key: &str) -> String {
        let (tag, value) = (self.type_tag(), self.render());
        let mut text = String::with_capacity(tag.len() + key.len() + value.len() + 4);
        for part in ["(", tag, ") ", key, "=", &value] {
            text.push_str(part);
        }
        text
    }

    /// Converts to JSON. Code becomes a string; an extension value without a JSON form
    /// becomes its rendering as a string.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Text(s) | Value::Code(s) => Json::String(s.clone()),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Ext(ext) => ext.to_json().unwrap_or_else(|| Json::String(ext.render())),
        }
    }

    /// Converts from JSON. Integers that fit in `i64` become [`Value::Int`], other numbers
    /// [`Value::Float`].
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as Json;
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::Text(s.clone()),
            Json::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            Json::Object(map) => Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect()),
        }
    }

    /// Truthiness as in Python: `null`, `false`, zero, and empty strings and containers are
    /// false; extension values are true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Text(s) | Value::Code(s) => !s.is_empty(),
            Value::List(items) => !items.is_empty(),
            Value::Map(map) => !map.is_empty(),
            Value::Ext(_) => true,
        }
    }

    /// The string inside a text or code value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Code(s) => Some(s),
            _ => None,
        }
    }

    /// The extension value as `T`, if it is one.
    pub fn downcast_ext<T: ExtValue>(&self) -> Option<&T> {
        match self {
            Value::Ext(ext) => {
                let any: &dyn Any = ext.as_ref();
                any.downcast_ref::<T>()
            }
            _ => None,
        }
    }

    /// Whether a parameter of this value's type can take `other` as its new value: the
    /// same type tag, or an integer where a float is expected.
    pub fn accepts(&self, other: &Value) -> bool {
        matches!((self, other), (Value::Float(_), Value::Int(_))) || self.type_tag() == other.type_tag()
    }

    /// A short, single-line rendering for error messages.
    pub(crate) fn preview(&self) -> String {
        const MAX_CHARS: usize = 80;
        let rendered = self.render().replace('\n', "\\n");
        if rendered.chars().count() <= MAX_CHARS {
            return rendered;
        }
        let cut: String = rendered.chars().take(MAX_CHARS).collect();
        format!("{cut}...")
    }
}

/// Renders a value inside a container: strings quoted and escaped as JSON.
fn render_nested(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&render_float(*f)),
        Value::Text(s) | Value::Code(s) => {
            out.push_str(&serde_json::Value::String(s.clone()).to_string());
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_nested(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push_str(": ");
                render_nested(item, out);
            }
            out.push('}');
        }
        Value::Ext(ext) => out.push_str(&ext.render()),
    }
}

/// Renders a float so that it never reads as an integer: `2.0`, not `2`.
fn render_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { f.to_string() }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => (*a as f64) == *b,
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Code(a), Value::Code(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Ext(a), Value::Ext(b)) => Arc::ptr_eq(a, b) || a.equals(b.as_ref()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_render(value: Value, expected: &str) {
        assert_eq!(value.render(), expected, "render of {value:?}");
    }

    #[test]
    fn render_scalars() {
        check_render(Value::Null, "null");
        check_render(Value::Bool(true), "true");
        check_render(Value::Int(-3), "-3");
        check_render(Value::Float(2.0), "2.0");
        check_render(Value::Float(0.25), "0.25");
        check_render(Value::Float(f64::NAN), "NaN");
        check_render(Value::Text("say \"hi\"".into()), "say \"hi\"");
        check_render(Value::Code("function f(x) { return x; }".into()), "function f(x) { return x; }");
    }

    #[test]
    fn render_containers_as_json() {
        let map: BTreeMap<String, Value> =
            [("b".to_string(), Value::from("x\ny")), ("a".to_string(), Value::from(1.5))].into_iter().collect();

        check_render(Value::List(vec![Value::Int(1), Value::from("a"), Value::Null]), r#"[1, "a", null]"#);
        check_render(Value::Map(map), r#"{"a": 1.5, "b": "x\ny"}"#);
    }

    #[test]
    fn render_tagged_shows_type_and_key() {
        assert_eq!(Value::from("Be brief.").render_tagged("prompt0"), "(str) prompt0=Be brief.");
        assert_eq!(Value::from(3).render_tagged("x1"), "(int) x1=3");
        assert_eq!(Value::Code("function f() {}".into()).render_tagged("__code0"), "(code) __code0=function f() {}");
    }

    #[test]
    fn json_round_trip_keeps_types() {
        let json = serde_json::json!({"a": [1, 2.5, "s", null, true], "b": {"c": -7}});

        let value = Value::from_json(&json);

        assert_eq!(value.to_json(), json);
        assert_eq!(value.type_tag(), "dict");
    }

    #[test]
    fn int_equals_float_of_same_number() {
        assert_eq!(Value::Int(2), Value::Float(2.0));
        assert_ne!(Value::Int(2), Value::Text("2".into()));
    }

    #[test]
    fn accepts_same_type_and_int_for_float() {
        assert!(Value::Float(1.0).accepts(&Value::Int(3)));
        assert!(Value::Text(String::new()).accepts(&Value::Text("x".into())));
        assert!(!Value::Int(1).accepts(&Value::Float(1.5)));
        assert!(!Value::Code(String::new()).accepts(&Value::Text("x".into())));
    }

    #[test]
    fn truthiness_follows_python() {
        assert!(!Value::Null.is_truthy());
        assert!(!Value::Int(0).is_truthy());
        assert!(!Value::Text(String::new()).is_truthy());
        assert!(Value::List(vec![Value::Null]).is_truthy());
    }
}
